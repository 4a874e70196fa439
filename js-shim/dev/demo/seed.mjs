// Seeds a demo population straight into the local runtime's state.
//
// Going through the friend commands would take one Function execution per friendship (about
// 200,000 for 2,000 users with ~200 friends each), so the state is written directly, laid out
// exactly as the Functions leave it:
// - App Context user: name, and `custom` {online, lastSeen, lastOnline|lastOffline, shardId,
//   friendCount} (src/core/presence.rs `status_custom`; friendCount is the number of members of
//   `friends.{id}`, as the recount worker counts it);
// - memberships of `friends.{id}`: one member per friend with `custom` {status: "accepted",
//   addedAt, group, peerGroup, requestId} (src/core/friends.rs `AcceptPlan::membership`);
// - channel groups `cg-friends-{id}` then `cg-friends{g}-{id}` holding `status.{friend}`, each
//   friend in the group its position falls in (src/core/friends.rs `group_for_count`);
// Presence itself is not state: online users are made present by the churn simulator.

export const CHANNELS_PER_GROUP = 2000;
export const GROUPS_PER_USER = 10;
export const SEED_REQUEST_ID = 'seed';

const FIRST = ['Ada', 'Ben', 'Cleo', 'Dev', 'Eli', 'Fay', 'Gus', 'Hana', 'Ivo', 'Jun', 'Kira', 'Leo', 'Mira', 'Nico', 'Omar',
  'Pia', 'Quinn', 'Rosa', 'Sami', 'Tara', 'Uma', 'Vik', 'Wren', 'Xena', 'Yuki', 'Zane', 'Amir', 'Bea', 'Cato', 'Dara', 'Emil',
  'Fern', 'Gia', 'Hugo', 'Iris', 'Jade', 'Kai', 'Lena', 'Milo', 'Nora'];
const LAST = ['Alvarez', 'Brandt', 'Costa', 'Dahl', 'Eze', 'Fischer', 'Garcia', 'Holm', 'Ito', 'Jensen', 'Kowalski', 'Lund',
  'Moreau', 'Nakamura', 'Okafor', 'Petrov', 'Quist', 'Rossi', 'Sato', 'Tanaka', 'Ueda', 'Varga', 'Weber', 'Xu', 'Yilmaz',
  'Zeller', 'Berg', 'Cruz', 'Duarte', 'Engel'];

/** The seed's JS hashCode (UTF-16 units, 32-bit wrap): the same shard as the Rust core. */
export function shardOf(id, shards = 100) {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = ((h << 5) - h + id.charCodeAt(i)) | 0;
  return Math.abs(h) % shards;
}

/** Small deterministic PRNG (xorshift32), so a seed with the same parameters is the same world. */
export function rng(seed) {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

export function userIds(n) {
  const width = Math.max(4, String(n).length);
  return Array.from({ length: n }, (_, i) => `user-${String(i + 1).padStart(width, '0')}`);
}

/** Undirected friend graph with about `degree` friends per user. */
export function friendGraph(n, degree, rand) {
  const adj = Array.from({ length: n }, () => new Set());
  const d = Math.min(degree, n - 1, GROUPS_PER_USER * CHANNELS_PER_GROUP);
  if (d <= 0) return adj;
  if (d >= n - 1) {
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) adj[i].add(j);
    return adj;
  }
  // Each user asks d/2 random others; the union gives a degree of about d.
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d / 2; k++) {
      const j = Math.floor(rand() * n);
      if (j !== i && adj[i].size < d * 1.5 && adj[j].size < d * 1.5) (adj[i].add(j), adj[j].add(i));
    }
  }
  return adj;
}

const iso = (ms) => new Date(ms).toISOString();

/**
 * Write the population into `rt` (a started LocalPubNub) and snapshot it to disk.
 * @param {{users:number, friends:number, online:number, seed?:number, shards?:number, now?:number,
 *          progress?:(phase:string, done:number, total:number)=>void}} o
 * @returns {{ids:string[], friendships:number, online:number}}
 */
export async function seedPopulation(rt, o) {
  const rand = rng(o.seed ?? 42);
  const now = o.now ?? Date.now();
  const shards = o.shards ?? 100;
  const progress = o.progress ?? (() => {});
  const ids = userIds(o.users);
  progress('friend graph', 0, 1);
  const adj = friendGraph(ids.length, o.friends, rand);
  progress('friend graph', 1, 1);

  let onlineCount = 0;
  const since = new Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    const online = rand() < o.online;
    onlineCount += online ? 1 : 0;
    // Online users came on within the last 30 minutes; offline ones were last seen within 3 days.
    const ago = online ? rand() * 30 * 60e3 : 60e3 + rand() * 3 * 24 * 3600e3;
    const at = Math.floor((now - ago) / 1000) * 1000; // presence timestamps have whole seconds
    since[i] = at;
    const custom = {
      online,
      lastSeen: iso(at),
      [online ? 'lastOnline' : 'lastOffline']: iso(at),
      shardId: shardOf(id, shards),
      friendCount: adj[i].size,
    };
    const name = `${FIRST[Math.floor(rand() * FIRST.length)]} ${LAST[Math.floor(rand() * LAST.length)]}`;
    rt.bulkLoad(rt.objects.set('uuid', id, { name, custom }, new Set()).records);
    if (i % 200 === 0) progress('users', i, ids.length);
  }
  progress('users', ids.length, ids.length);

  let friendships = 0;
  const noInclude = { include: new Set() };
  const sorted = adj.map((set) => [...set].sort((a, b) => a - b));
  // Friend k of a user goes into that user's group ⌊k / 2,000⌋ (src/core/friends.rs `group_for_count`).
  const groupOf = (user, friend) => Math.min(Math.floor(sorted[user].indexOf(friend) / CHANNELS_PER_GROUP), GROUPS_PER_USER - 1);
  for (let i = 0; i < ids.length; i++) {
    const me = ids[i];
    const friends = sorted[i];
    const members = [];
    const groups = new Map();
    friends.forEach((j, k) => {
      const group = Math.min(Math.floor(k / CHANNELS_PER_GROUP), GROUPS_PER_USER - 1);
      // The friendship is as old as the later of the two users' first appearance, minus a bit.
      const addedAt = iso(Math.min(since[i], since[j]) - 3600e3);
      const peerGroup = groupOf(j, i);
      members.push({ uuid: { id: ids[j] }, custom: { status: 'accepted', addedAt, group, peerGroup, requestId: SEED_REQUEST_ID } });
      const g = group === 0 ? `cg-friends-${me}` : `cg-friends${group}-${me}`;
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(`status.${ids[j]}`);
    });
    if (members.length) rt.bulkLoad(rt.objects.setRelations('uuid', `friends.${me}`, { set: members }, noInclude).records);
    for (const [g, ch] of groups) rt.bulkLoad([{ op: 'cg.add', g, ch }]);
    friendships += members.length;
    if (i % 50 === 0) progress('friendships', i, ids.length);
  }
  progress('friendships', ids.length, ids.length);
  progress('writing snapshot', 0, 1);
  await rt.snapshotNow();
  progress('writing snapshot', 1, 1);
  return { ids, friendships: friendships / 2, online: onlineCount };
}
