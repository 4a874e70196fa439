// Churn simulator: simulated users come and go on their presence shards of the local runtime,
// at a steady rate, and a real SDK subscriber on `status.*` measures how long the resulting
// friend.online / friend.offline notifications take.
//
// Simulated presence goes through the runtime's presence table (join/leave events, interval mode
// above announce max) exactly as an SDK subscribe/leave would, without an HTTP client per user.
//
// Users with a page open are left alone: a user signed in at the auth service (`hold`, called
// by scripts/dev for every login and token refresh) or present on the shard through a device
// the simulator did not make (a real SDK client). The simulator's presence is a device of its
// own, so a real client's presence is never taken away by a simulated leave. A user who chose
// to be invisible is never made present: an invisible user's clients stay off the shard.
import { shardOf } from './seed.mjs';

const SIM_TIMEOUT_S = 24 * 3600; // simulated users send no heartbeats; they leave explicitly
// A user is left alone this long after a change, so one user's flapping does not measure the
// debounce window (5 s) instead of the delivery path.
const REST_MS = 12_000;
const WINDOW_MS = 60_000;
/** The simulator's device (the runtime's per-device presence, PubNub's `instanceid`). */
export const SIM_DEVICE = 'churn-sim';

export class Churn {
  /**
   * @param {object} rt  a started LocalPubNub
   * @param {{ids:string[], rate:number, online:number, shards?:number, rand?:()=>number}} o
   *   rate: status changes per second; online: the share of users the simulation keeps online
   */
  constructor(rt, o) {
    this.rt = rt;
    this.ids = o.ids;
    this.rate = o.rate;
    this.target = o.online;
    this.shards = o.shards ?? 100;
    this.rand = o.rand ?? Math.random;
    this.sim = new Set(); // online through the simulator (not through a real client)
    this.held = new Map(); // uuid → ms until which a signed-in user is left alone
    this.lastChange = new Map(); // uuid → ms
    this.pending = new Map(); // uuid → {online, t0}: waiting for the notification
    this.samples = []; // {t, ms}
    this.changes = []; // notification arrival times
    this.timer = null;
    this.carry = 0;
  }

  shardChannel(id) {
    return `presence.shard-${shardOf(id, this.shards)}`;
  }

  /** After a restart App Context still says who was online: make them present again, silently. */
  restore() {
    let n = 0;
    for (const id of this.ids) {
      const custom = this.rt.objects.entities.uuid.get(id)?.custom;
      if (custom?.online === true && custom.invisible !== true) {
        this.rt.presence.restore(id, [this.shardChannel(id)], SIM_TIMEOUT_S, SIM_DEVICE);
        this.sim.add(id);
        n++;
      }
    }
    return n;
  }

  /**
   * `id` signed in (a page is open): left alone for `ms` (the token's life; every refresh
   * holds again). Its simulated presence, if any, stays until the page's client is present
   * (then it goes, and the user stays online: friends see no flap), or until the hold ends;
   * from then on only its clients decide.
   */
  hold(id, ms) {
    this.held.set(id, Math.max(this.held.get(id) ?? 0, Date.now() + ms));
    this.#handOver(id);
  }

  /** Drops the simulated device of a held user once another device of theirs is present. */
  #handOver(id) {
    if (!this.sim.has(id)) return;
    const devices = this.rt.presence.occupants.get(this.shardChannel(id))?.get(id)?.devices;
    if (!devices || ![...devices.keys()].some((d) => d !== SIM_DEVICE)) return;
    this.sim.delete(id);
    this.rt.presence.leave(id, [this.shardChannel(id)], 'leave', SIM_DEVICE);
  }

  /** Whether `id` is left alone: held, invisible, or present through a device the simulator did not make. */
  leftAlone(id, now = Date.now()) {
    if ((this.held.get(id) ?? 0) > now) return true;
    if (this.rt.objects.entities.uuid.get(id)?.custom?.invisible === true && !this.sim.has(id)) return true;
    const devices = this.rt.presence.occupants.get(this.shardChannel(id))?.get(id)?.devices;
    return !!devices && [...devices.keys()].some((d) => d !== SIM_DEVICE);
  }

  start(tickMs = 100) {
    this.timer = setInterval(() => this.tick(tickMs), tickMs);
    this.timer.unref?.();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  tick(tickMs) {
    this.carry += (this.rate * tickMs) / 1000;
    const now = Date.now();
    for (const [id, until] of this.held) if (until > now) this.#handOver(id);
    for (; this.carry >= 1; this.carry--) {
      // Steer toward the target share online: join more often while below it.
      const share = this.sim.size / this.ids.length;
      const join = this.rand() < Math.min(0.9, Math.max(0.1, 0.5 + (this.target - share) * 4));
      for (let attempt = 0; attempt < 20; attempt++) {
        const id = this.ids[Math.floor(this.rand() * this.ids.length)];
        if (now - (this.lastChange.get(id) ?? 0) < REST_MS || this.leftAlone(id, now)) continue;
        if (join && !this.sim.has(id) && this.rt.presence.whereNow(id).length === 0) {
          this.sim.add(id);
          this.#change(id, true, now);
          this.rt.presence.touch(id, [this.shardChannel(id)], SIM_TIMEOUT_S, SIM_DEVICE);
          break;
        }
        if (!join && this.sim.has(id) && this.rt.presence.whereNow(id).length === 0) {
          this.sim.delete(id); // a real client's leave took the simulated device too (no instanceid)
          continue;
        }
        if (!join && this.sim.has(id)) {
          this.sim.delete(id);
          this.#change(id, false, now);
          this.rt.presence.leave(id, [this.shardChannel(id)], 'leave', SIM_DEVICE);
          break;
        }
      }
    }
  }

  #change(id, online, now) {
    this.lastChange.set(id, now);
    this.pending.set(id, { online, t0: now });
  }

  /** A status message seen by the watcher. */
  observe(message, at = Date.now()) {
    const type = message?.type;
    if (type !== 'friend.online' && type !== 'friend.offline') return;
    this.changes.push(at);
    const id = message.payload?.userId;
    const p = this.pending.get(id);
    if (p && p.online === (type === 'friend.online')) {
      this.pending.delete(id);
      this.samples.push({ t: at, ms: at - p.t0 });
    }
  }

  /** {online, perSecond, p99, samples} over the last minute. */
  stats(now = Date.now()) {
    this.samples = this.samples.filter((s) => now - s.t <= WINDOW_MS);
    this.changes = this.changes.filter((t) => now - t <= WINDOW_MS);
    for (const [id, p] of this.pending) if (now - p.t0 > WINDOW_MS) this.pending.delete(id); // never notified (e.g. unchanged)
    const recent = this.changes.filter((t) => now - t <= 10_000).length;
    const sorted = this.samples.map((s) => s.ms).sort((a, b) => a - b);
    const p99 = sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] : null;
    let online = 0;
    for (const ch of this.rt.presence.channels()) if (ch.startsWith('presence.shard-')) online += this.rt.presence.occupancy(ch);
    return { online, perSecond: recent / 10, p99, samples: sorted.length };
  }
}
