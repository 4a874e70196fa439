// App Context (Objects v2): uuid metadata, channel metadata and the memberships between them, with
// include flags, filter/sort, cursor pagination, totalCount, and eTag / If-Match.
import { createHash } from 'node:crypto';
import { compileFilter } from './filter.mjs';
import { nameProblem, objectsError, uuidProblem } from './util.mjs';
import { PLATFORM } from '../../platform.mjs';

const FIELDS = {
  uuid: ['name', 'externalId', 'profileUrl', 'email'],
  channel: ['name', 'description'],
};
const EXTRA = ['custom', 'status', 'type']; // returned only when `include` asks for them
const MAX_LIMIT = PLATFORM.appContext.pageLimit;
// Size limits. PubNub documents 32 KiB per record (every field, custom included); the caps on
// `name` and on the number of custom keys are ours — PubNub's field limits are not published.
export const MAX_RECORD_BYTES = 32 * 1024;
export const MAX_NAME_CHARS = 200;
export const MAX_CUSTOM_KEYS = 100;

export const notFound = () => objectsError(404, 'Requested object was not found.');

export class Objects {
  constructor() {
    this.entities = { uuid: new Map(), channel: new Map() };
    this.byUuid = new Map(); // uuid → Map<channel, membership>
    this.byChannel = new Map(); // channel → Map<uuid, membership> (same objects)
    // Filtered, sorted relation lists by query, while no record changed: a cursor chain over a
    // 20,000-member list then filters it once, not once per page.
    this.version = 0;
    this.cache = new Map();
  }

  // ---- durable records (applied live and on replay) ----
  apply(rec) {
    this.version++; // what relations() cached is stale
    switch (rec.op) {
      case 'obj.set': return void this.entities[rec.kind].set(rec.o.id, rec.o);
      case 'obj.del': return void this.entities[rec.kind].delete(rec.id);
      case 'mem.set': {
        link(this.byUuid, rec.u, rec.c, rec.m);
        link(this.byChannel, rec.c, rec.u, rec.m);
        return;
      }
      case 'mem.del': {
        unlink(this.byUuid, rec.u, rec.c);
        unlink(this.byChannel, rec.c, rec.u);
      }
    }
  }
  /** Before `rec` is applied: a function that puts back what it changes (a write that failed). */
  undo(rec) {
    if (rec.op === 'obj.set' || rec.op === 'obj.del') {
      const map = this.entities[rec.kind];
      const id = rec.op === 'obj.set' ? rec.o.id : rec.id;
      const had = map.has(id), old = map.get(id);
      return () => (this.version++, had ? map.set(id, old) : map.delete(id));
    }
    const old = this.byUuid.get(rec.u)?.get(rec.c);
    return () => this.apply(old ? { op: 'mem.set', u: rec.u, c: rec.c, m: old } : { op: 'mem.del', u: rec.u, c: rec.c });
  }
  *snapshot() {
    for (const kind of ['uuid', 'channel']) for (const o of this.entities[kind].values()) yield { op: 'obj.set', kind, o };
    for (const [u, ms] of this.byUuid) for (const [c, m] of ms) yield { op: 'mem.set', u, c, m };
  }

  // ---- uuid / channel metadata ----
  get(kind, id, include) {
    const o = this.entities[kind].get(id);
    if (!o) throw notFound();
    return { status: 200, data: project(kind, o, include, '') };
  }

  /**
   * PATCH semantics: given properties replace the stored ones (custom wholesale), the id never
   * changes. Returns the records to log; `ifMatch` must equal the stored eTag when given.
   */
  set(kind, id, body, include, ifMatch) {
    const old = this.entities[kind].get(id);
    if (ifMatch && old?.eTag !== ifMatch)
      throw objectsError(412, 'Precondition Failed', [{ message: 'ETag mismatch', location: 'If-Match', locationType: 'header' }]);
    if (!isObject(body)) throw objectsError(400, 'Request body must be a JSON object');
    checkId(kind, id);
    checkStrings(body, [...FIELDS[kind], 'status', 'type']);
    if (typeof body.name === 'string' && body.name.length > MAX_NAME_CHARS)
      throw objectsError(400, `Invalid name: at most ${MAX_NAME_CHARS} characters`);
    checkCustom(body.custom);
    const o = { id, ...Object.fromEntries([...FIELDS[kind], ...EXTRA].map((f) => [f, old?.[f] ?? null])) };
    for (const f of [...FIELDS[kind], ...EXTRA]) if (f in body) o[f] = body[f] ?? null;
    checkSize(o);
    const rec = stamp(o, old);
    return { records: rec === old ? [] : [{ op: 'obj.set', kind, o: rec }], reply: () => ({ status: 200, data: project(kind, rec, include, '') }) };
  }

  remove(kind, id) {
    return { records: this.entities[kind].has(id) ? [{ op: 'obj.del', kind, id }] : [], reply: () => ({ status: 200, data: null }) };
  }

  list(kind, q) {
    return cut(sorted(this.entities[kind].values(), q, 'id', (o) => o, (o) => o), q, (o) => project(kind, o, q.include, ''));
  }

  // ---- members (side 'uuid', keyed by channel) and memberships (side 'channel', keyed by uuid) ----
  /** List the uuids of a channel (side 'uuid') or the channels of a uuid (side 'channel'). */
  relations(side, key, q) {
    const map = (side === 'uuid' ? this.byChannel : this.byUuid).get(key) ?? new Map();
    const entity = (other) => this.entities[side].get(other) ?? { id: other };
    // Filters and sorts see the full related object plus the membership's own fields: one view
    // object refilled per row (page() keeps only what it reads of it), as a friend list has
    // 20,000 rows and every page read filters them all.
    const v = {};
    // Sorted by the id alone (ids are unique), one direction is the other reversed.
    const by = q.sort?.length === 1 && /^(uuid|channel)\.id(:asc|:desc)?$/.test(q.sort[0]) && q.sort[0].startsWith(side) ? (q.sort[0].endsWith(':desc') ? ':desc' : ':asc') : null;
    const base = [side, key, q.filter ?? ''].join('\n');
    const ck = by ? base + by : [base, ...(q.sort ?? [])].join('\n');
    let hit = this.cache.get(ck);
    if (hit?.version !== this.version) {
      const mirror = by && this.cache.get(base + (by === ':desc' ? ':asc' : ':desc'));
      const view = ([other, m]) => ((v[side] = entity(other)), (v.custom = m.custom), (v.status = m.status), (v.type = m.type), (v.updated = m.updated), v);
      const rows = mirror?.version === this.version ? mirror.rows.slice().reverse() : sorted(map, q, `${side}.id`, view, ([other, m]) => ({ entity: entity(other), m }));
      hit = { version: this.version, rows };
      if (this.cache.size >= 64) this.cache.clear();
      this.cache.set(ck, hit);
    }
    return cut(
      hit.rows,
      q,
      ({ entity, m }) => ({
        [side]: project(side, entity, q.include, side),
        ...Object.fromEntries(EXTRA.filter((f) => q.include.has(f)).map((f) => [f, m[f] ?? null])),
        updated: m.updated,
        eTag: m.eTag,
      }),
    );
  }

  /** Apply `{set:[...], delete:[...]}` to the relations of `key`; returns records then the new list. */
  setRelations(side, key, body, q) {
    const { set, remove } = relationItems(side, body);
    checkId(side === 'uuid' ? 'channel' : 'uuid', key);
    const records = [];
    const pair = (other) => (side === 'uuid' ? { u: other, c: key } : { u: key, c: other });
    const current = (side === 'uuid' ? this.byChannel : this.byUuid).get(key);
    for (const item of set) {
      const other = item[side].id;
      checkStrings(item, ['status', 'type']);
      checkCustom(item.custom);
      const old = current?.get(other);
      const m = Object.fromEntries(EXTRA.map((f) => [f, f in item ? item[f] ?? null : old?.[f] ?? null]));
      checkSize({ ...pair(other), ...m });
      const rec = stamp(m, old);
      if (rec !== old) records.push({ op: 'mem.set', ...pair(other), m: rec });
    }
    for (const item of remove) {
      const other = item[side].id;
      if (current?.has(other)) records.push({ op: 'mem.del', ...pair(other) });
    }
    return { records, reply: () => this.relations(side, key, q) };
  }
}

/**
 * The items of a members/memberships PATCH body, checked for shape: `set` and `delete` are lists of
 * objects naming the other side (`{channel: {id}}` or `{uuid: {id}}`) with a valid id.
 */
export function relationItems(side, body) {
  if (!isObject(body)) throw objectsError(400, 'Request body must be a JSON object');
  const list = (name) => {
    const items = body[name] ?? [];
    if (!Array.isArray(items)) throw objectsError(400, `Invalid ${name}: a list of {${side}: {id}} is expected`);
    for (const item of items) {
      if (!isObject(item) || !isObject(item[side])) throw objectsError(400, `Each item of ${name} needs ${side}.id`);
      checkId(side, item[side].id);
    }
    return items;
  };
  return { set: list('set'), remove: list('delete') };
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Channel ids follow channel name rules; uuids are free text within 92 characters. */
function checkId(kind, id) {
  const problem = kind === 'channel' ? nameProblem(id) : uuidProblem(id);
  if (problem) throw objectsError(400, `Invalid ${kind} id ${JSON.stringify(id)}: ${problem}`);
}

function checkStrings(body, fields) {
  for (const f of fields)
    if (body[f] != null && typeof body[f] !== 'string') throw objectsError(400, `Invalid ${f}: a string or null is expected`);
}

function checkSize(record) {
  const bytes = Buffer.byteLength(JSON.stringify(record));
  if (bytes > MAX_RECORD_BYTES) throw objectsError(400, `Record too large: ${bytes} bytes, the limit is ${MAX_RECORD_BYTES}`);
}

function link(index, a, b, m) {
  if (!index.has(a)) index.set(a, new Map());
  index.get(a).set(b, m);
}
function unlink(index, a, b) {
  const m = index.get(a);
  m?.delete(b);
  if (m?.size === 0) index.delete(a);
}

/** custom holds scalars only (REST doc set-user-metadata), at most MAX_CUSTOM_KEYS of them. */
function checkCustom(custom) {
  if (custom == null) return;
  if (!isObject(custom) || Object.values(custom).some((v) => v !== null && typeof v === 'object'))
    throw objectsError(400, 'Invalid custom: only a flat object of scalars is allowed');
  if (Object.keys(custom).length > MAX_CUSTOM_KEYS) throw objectsError(400, `Invalid custom: at most ${MAX_CUSTOM_KEYS} keys`);
}

/** New `updated` + content-derived eTag, or the old object itself when nothing changed. */
function stamp(o, old) {
  const content = JSON.stringify(o);
  const eTag = createHash('sha256').update(content).digest('base64url').slice(0, 22);
  if (old?.eTag === eTag) return old;
  return { ...o, updated: new Date().toISOString().replace('Z', '000Z'), eTag };
}

/**
 * Project an entity for a reply. At top level (prefix '') the base fields are always there; as the
 * related side of a membership only `id` is, plus base fields when `include` has e.g. `uuid` (or `uuid.custom`, …).
 * custom/status/type need their own include flag (`custom` / `uuid.custom` ...). A related object
 * without metadata is just `{id}`.
 */
function project(kind, o, include, prefix) {
  const out = { id: o.id };
  if (!o.eTag) return out; // a related uuid/channel that has no metadata of its own
  const flag = (f) => (prefix ? `${prefix}.${f}` : f);
  // `channel.custom` alone asks for the whole channel too (PubNub's reply in the Python SDK's
  // recorded objects_v2/memberships/get_memberships.json).
  if (!prefix || include.has(prefix) || EXTRA.some((f) => include.has(flag(f)))) {
    for (const f of FIELDS[kind]) out[f] = o[f] ?? null;
    Object.assign(out, { updated: o.updated, eTag: o.eTag });
  }
  for (const f of EXTRA) if (include.has(flag(f))) out[f] = o[f] ?? null;
  return out;
}

/**
 * Filter and sort (`path[:asc|desc]`, paths as in filters) `items`: `view(item)` is what filters
 * and sorts see (it may reuse one object), `hold(item)` what a row keeps of an item that passes.
 */
function sorted(items, q, defaultSort, view, hold) {
  const keep = compileFilter(q.filter);
  const sorts = [...(q.sort ?? []), defaultSort].map((s) => {
    const [path, dir] = s.split(':');
    const keys = path.split('.');
    return { get: (v) => keys.reduce((a, k) => (a == null ? undefined : a[k]), v) ?? '', sign: dir === 'desc' ? -1 : 1 };
  });
  // Each row's sort keys once, not once per comparison (a friend list has 20,000 rows).
  const keyed = [];
  for (const it of items) {
    const v = view(it);
    if (keep(v)) keyed.push({ it: hold(it), keys: sorts.map((s) => s.get(v)) });
  }
  keyed.sort((x, y) => {
    for (let i = 0; i < sorts.length; i++) {
      const a = x.keys[i], b = y.keys[i];
      if (a !== b) return (a < b ? -1 : 1) * sorts[i].sign;
    }
    return 0;
  });
  return keyed.map((k) => k.it);
}

/** One page of `rows`, each through `render`; cursors are opaque offsets. */
function cut(rows, q, render) {
  // A limit of 0 would answer an empty page whose `next` cursor is the same page, for ever.
  if (q.limit != null && !(Number.isInteger(q.limit) && q.limit >= 1))
    throw objectsError(400, 'Invalid limit: a whole number from 1 is expected', [{ message: `limit=${q.limit}`, location: 'limit', locationType: 'query' }]);
  const limit = Math.min(MAX_LIMIT, q.limit ?? MAX_LIMIT);
  let offset = q.start ? cursor(q.start) : 0;
  if (q.end && !q.start) offset = Math.max(0, cursor(q.end) - limit);
  const out = { status: 200, data: rows.slice(offset, offset + limit).map(render) };
  if (q.count) out.totalCount = rows.length;
  if (offset + limit < rows.length) out.next = Buffer.from(String(offset + limit)).toString('base64url');
  if (offset > 0) out.prev = Buffer.from(String(offset)).toString('base64url');
  return out;
}

function cursor(s) {
  const n = Number(Buffer.from(s, 'base64url').toString());
  if (!Number.isInteger(n) || n < 0) throw objectsError(400, 'Invalid page cursor');
  return n;
}
