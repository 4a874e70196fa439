// The Functions KV store: JSON values with a TTL in MINUTES (default 1 day, clamped to 1 min … 1 year),
// values ≤ 32,000 characters, keys ≤ 1,000, and atomic counters kept apart from ordinary keys.
// Methods return durable-log records; the runtime applies and persists them.

import { PLATFORM } from '../../platform.mjs';

export const MAX_VALUE = PLATFORM.kv.valueChars;
export const MAX_KEY = PLATFORM.kv.keyChars;
const DEFAULT_TTL_MIN = PLATFORM.kv.ttlDefaultMinutes;
const MAX_TTL_MIN = PLATFORM.kv.ttlMaxMinutes;
const PAGE = PLATFORM.kv.getKeysPage;

export class KvStore {
  constructor() {
    this.items = new Map(); // key → {v, exp (ms)}
    this.counters = new Map(); // key → number
  }

  apply(rec) {
    if (rec.op === 'kv.set') this.items.set(rec.k, { v: rec.v, exp: rec.exp });
    else if (rec.op === 'kv.del') this.items.delete(rec.k);
    else if (rec.op === 'kv.ctr') this.counters.set(rec.k, rec.n);
  }
  /** Before `rec` is applied: a function that puts back what it changes (a write that failed). */
  undo(rec) {
    const map = rec.op === 'kv.ctr' ? this.counters : this.items;
    const had = map.has(rec.k), old = map.get(rec.k);
    return () => (had ? map.set(rec.k, old) : map.delete(rec.k));
  }
  *snapshot() {
    const now = Date.now();
    for (const [k, { v, exp }] of this.items) if (exp > now) yield { op: 'kv.set', k, v, exp };
    for (const [k, n] of this.counters) yield { op: 'kv.ctr', k, n };
  }

  get(key) {
    checkKey(key);
    const it = this.items.get(key);
    if (!it) return null;
    if (it.exp <= Date.now()) {
      this.items.delete(key); // expired: forget it (replay skips it too, via exp)
      return null;
    }
    return it.v;
  }

  /** → records. A value that is not JSON, or too long as JSON, is refused before anything changes. */
  set(key, value, ttlMinutes) {
    checkKey(key);
    if (value === undefined) throw new TypeError('kvstore: value is undefined');
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError('kvstore: value is not JSON-serializable');
    if (json.length > MAX_VALUE) throw new RangeError(`kvstore: value is ${json.length} characters; the limit is ${MAX_VALUE}`);
    let ttl = DEFAULT_TTL_MIN;
    if (ttlMinutes !== undefined && ttlMinutes !== null) {
      if (typeof ttlMinutes !== 'number' || !Number.isFinite(ttlMinutes)) throw new TypeError('kvstore: ttl must be a number of minutes');
      ttl = Math.min(MAX_TTL_MIN, Math.max(1, ttlMinutes));
    }
    return [{ op: 'kv.set', k: key, v: JSON.parse(json), exp: Date.now() + ttl * 60e3 }];
  }

  remove(key) {
    checkKey(key);
    return this.items.has(key) ? [{ op: 'kv.del', k: key }] : [];
  }

  /** Atomic: the new value is computed and recorded in one synchronous step. */
  incr(key, by = 1) {
    checkKey(key);
    if (typeof by !== 'number' || !Number.isFinite(by)) throw new TypeError('kvstore: incrCounter amount must be a number');
    const n = (this.counters.get(key) ?? 0) + by;
    return { value: n, records: [{ op: 'kv.ctr', k: key, n }] };
  }

  getCounter(key) {
    checkKey(key);
    return this.counters.get(key) ?? 0;
  }

  /** Up to 100 live keys in sorted order, after `after` (the last key of the previous page). */
  keys(after) {
    const now = Date.now();
    return [...this.items]
      .filter(([k, it]) => it.exp > now && (after == null || k > after))
      .map(([k]) => k)
      .sort()
      .slice(0, PAGE);
  }
}

function checkKey(key) {
  if (typeof key !== 'string' || !key) throw new TypeError('kvstore: key must be a non-empty string');
  if (key.length > MAX_KEY) throw new RangeError(`kvstore: key is ${key.length} characters; the limit is ${MAX_KEY}`);
}
