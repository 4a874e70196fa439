// Durable state: an append-only JSON-lines log, fsync'ed before a write is acknowledged, replayed on
// start and compacted now and then into a snapshot. Records carry a sequence number so that a crash
// between "snapshot renamed" and "log truncated" never applies a record twice.
//
// The promise: a write is acknowledged only once its records are whole on disk and fsync'ed. A write
// that cannot be made durable (disk full, a short write, a failed fsync) is cut off the log again,
// undone in memory, and rejected with a 500 — it never reappears, and later writes still go on
// whole lines. Replay skips torn records (never acknowledged) and keeps every whole record after them.
import fs from 'node:fs';
import path from 'node:path';
import { serviceError } from './util.mjs';

const LOG = 'log.jsonl';
const SNAP = 'snapshot.jsonl';
const LOCK = 'local-pubnub.lock';
const NL = 0x0a;

export class Store {
  /**
   * @param {string|undefined} dir  no dir: in-memory only, writes are acknowledged at once
   * @param {object} o
   * @param {(rec:object) => void} o.apply
   * @param {() => Iterable<object>} o.snapshot
   * @param {number} [o.compactEvery]
   * @param {boolean} [o.fsync]
   * @param {number} [o.maxLogBytes]  tests: the log "disk" holds this many bytes (short write, then ENOSPC)
   * @param {(line:string) => void} [o.log]
   */
  constructor(dir, { apply, snapshot, compactEvery = 20000, fsync = true, maxLogBytes = Infinity, log = () => {} }) {
    this.dir = dir;
    this.snapshot = snapshot;
    this.compactEvery = compactEvery;
    this.fsync = fsync;
    this.maxLogBytes = maxLogBytes;
    this.log = log;
    this.seq = 0;
    this.sinceCompact = 0;
    this.queue = [];
    this.flushing = null;
    this.closed = false;
    this.size = 0; // bytes of whole records in the log; a failed write is cut back to this
    this.ragged = false; // the log may end in a partial line we could not cut off
    if (!dir) return;
    fs.mkdirSync(dir, { recursive: true });
    // Lock before reading: a second server would replay a log the first is appending to, cut its
    // "torn" tail mid-write, and interleave its own records with the first one's.
    this.lockFile = lock(dir);
    try {
      // Replay: snapshot first, then every log record newer than it.
      const snapSeq = Math.max(0, replay(path.join(dir, SNAP), -1, apply).max);
      const log = replay(path.join(dir, LOG), snapSeq, (rec) => (this.sinceCompact++, apply(rec)));
      this.seq = Math.max(snapSeq, log.max);
      this.fd = fs.openSync(path.join(dir, LOG), 'a');
      // Cut a torn tail (crash mid-write) so that new records do not land on the same line.
      if (fs.fstatSync(this.fd).size > log.bytes) fs.ftruncateSync(this.fd, log.bytes);
      this.size = log.bytes;
      if (log.torn) {
        // Torn records inside the log: write the state afresh so the next start reads a clean log.
        this.log(`[local-pubnub] ${LOG}: skipped ${log.torn} torn record(s); compacting`);
        this.#compactOrLog();
      }
    } catch (e) {
      unlock(this.lockFile);
      throw e;
    }
  }

  /**
   * Queue the records of one commit; resolves once they are on disk (group commit: one fsync per
   * batch). If they cannot be made durable, `undo()` is called (after the undos of any later commit
   * already applied on top of them) and the promise rejects with a 500.
   */
  append(records, undo) {
    if (!this.dir || !records.length) return Promise.resolve();
    if (this.closed) {
      undo?.();
      return Promise.reject(serviceError(500, 'Not saved: the store is closed', 'local-pubnub'));
    }
    const text = records.map((rec) => JSON.stringify({ ...rec, s: ++this.seq }) + '\n').join('');
    return new Promise((resolve, reject) => {
      this.queue.push({ text, count: records.length, resolve, reject, undo });
      this.flushing ??= new Promise((r) => setImmediate(r)).then(() => this.#flush());
    });
  }

  async #flush() {
    while (this.queue.length) {
      const batch = this.queue;
      this.queue = [];
      // A partial line we could not cut off must not swallow the first record of this batch.
      const buf = Buffer.from((this.ragged ? '\n' : '') + batch.map((b) => b.text).join(''));
      try {
        this.#writeAll(buf);
        if (this.fsync) fs.fdatasyncSync(this.fd);
      } catch (e) {
        this.#fail(batch, e);
        continue;
      }
      this.size += buf.length;
      this.ragged = false;
      for (const b of batch) b.resolve();
      this.sinceCompact += batch.reduce((n, b) => n + b.count, 0);
      if (this.sinceCompact >= this.compactEvery) this.#compactOrLog();
    }
    this.flushing = null;
  }

  /** Write all of `buf` or throw: a short write is retried, and a file system that takes nothing is full. */
  #writeAll(buf) {
    for (let off = 0; off < buf.length; ) {
      const room = this.maxLogBytes - (this.size + off);
      const n = room > 0 ? fs.writeSync(this.fd, buf, off, Math.min(buf.length - off, room)) : 0;
      if (n <= 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      off += n;
    }
  }

  /**
   * The batch is not durable: cut the log back to its last whole record, undo the batch (and
   * anything queued behind it, which was applied on top of it) newest first, and reject it all.
   */
  #fail(batch, cause) {
    const failed = [...batch, ...this.queue];
    this.queue = [];
    try {
      fs.ftruncateSync(this.fd, this.size);
      if (this.fsync) fs.fdatasyncSync(this.fd);
    } catch (e) {
      // Nothing we can do about the bytes; at least keep the next record off their line.
      this.ragged = true;
      this.log(`[local-pubnub] ${LOG}: cannot cut back a failed write (${e.message}); its whole records may reappear on restart`);
    }
    for (let i = failed.length - 1; i >= 0; i--) failed[i].undo?.();
    this.log(`[local-pubnub] ${LOG}: write failed (${cause.code ?? cause.message}); ${failed.length} write(s) refused and undone`);
    const err = serviceError(500, `Not saved: the data dir could not be written (${cause.message}); nothing was applied`, 'local-pubnub');
    for (const b of failed) b.reject(err);
  }

  /** Compaction is an optimisation: if it fails (e.g. disk full) the log stays as it is. */
  #compactOrLog() {
    try {
      this.compact();
    } catch (e) {
      this.sinceCompact = 0; // try again after another compactEvery records
      this.log(`[local-pubnub] compaction failed, the log is kept: ${e.message}`);
      try {
        fs.rmSync(path.join(this.dir, SNAP + '.tmp'), { force: true });
      } catch {
        // best effort
      }
    }
  }

  /** Compact once nothing is queued (the snapshot must hold exactly the durable state). */
  async compactNow() {
    while (this.flushing) await this.flushing;
    this.compact();
  }

  /** Write the whole state as a snapshot (tmp + fsync + rename), then start an empty log. */
  compact() {
    if (!this.dir) return;
    const tmp = path.join(this.dir, SNAP + '.tmp');
    const fd = fs.openSync(tmp, 'w');
    const seq = this.seq;
    try {
      let buf = '';
      for (const rec of this.snapshot()) {
        buf += JSON.stringify({ ...rec, s: seq }) + '\n';
        if (buf.length > 1 << 20) (fs.writeSync(fd, buf), (buf = ''));
      }
      // An empty state still needs a marker line so the log's older records are skipped.
      fs.writeSync(fd, buf + JSON.stringify({ op: 'mark', s: seq }) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path.join(this.dir, SNAP));
    syncDir(this.dir);
    fs.ftruncateSync(this.fd, 0);
    if (this.fsync) fs.fsyncSync(this.fd);
    this.size = 0;
    this.ragged = false;
    this.sinceCompact = 0;
  }

  async close() {
    if (!this.dir || this.closed) return;
    while (this.flushing) await this.flushing;
    this.closed = true;
    fs.closeSync(this.fd);
    unlock(this.lockFile);
  }
}

/**
 * Apply every whole record with s > after. Returns the highest sequence, the length up to the last
 * newline (what follows it is a torn tail) and how many torn records were skipped on the way.
 *
 * A record that does not parse was never acknowledged (it is what a crash or a failed write left),
 * but whole records after it were written later and may have been: skip it and go on, rather than
 * stop there. Logs from before the writer cut failed writes back can hold a partial record with the
 * next record glued to it on one line; that one is found by its `{"op":` start and a newer `s`.
 */
function replay(file, after, apply) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    if (e.code === 'ENOENT') return { max: after, bytes: 0, torn: 0 };
    throw e;
  }
  let max = after, torn = 0, start = 0;
  for (let end; (end = buf.indexOf(NL, start)) >= 0; start = end + 1) {
    const line = buf.toString('utf8', start, end);
    let rec = parseRecord(line);
    if (!rec) {
      torn++;
      for (let at = line.indexOf('{"op":', 1); at > 0 && !rec; at = line.indexOf('{"op":', at + 1)) {
        const r = parseRecord(line.slice(at));
        if (r && r.s > max) rec = r;
      }
      if (!rec) continue;
    }
    if (rec.s > max) max = rec.s;
    if (rec.s > after && rec.op !== 'mark') apply(rec);
  }
  return { max, bytes: start, torn };
}

function parseRecord(text) {
  try {
    const rec = JSON.parse(text);
    return rec && typeof rec === 'object' && typeof rec.op === 'string' && Number.isInteger(rec.s) ? rec : null;
  } catch {
    return null;
  }
}

/**
 * Take the data dir: create the lock file exclusively (`wx`) with our pid in it. A lock whose pid
 * is no longer running (kill -9, a crash) is stale and taken over; a live one — including our own
 * pid, i.e. another server in this process — is refused.
 */
function lock(dir) {
  const file = path.join(dir, LOCK);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return file;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
    let text, mtimeMs;
    try {
      text = fs.readFileSync(file, 'utf8');
      mtimeMs = fs.statSync(file).mtimeMs;
    } catch (e) {
      if (e.code === 'ENOENT') continue; // released meanwhile
      throw e;
    }
    const pid = /^\d+\n?$/.test(text) ? Number(text) : undefined;
    // No pid yet: another server between creating the file and writing it, unless that was long ago.
    const live = pid === undefined ? Date.now() - mtimeMs < 10e3 : running(pid);
    if (live)
      throw new Error(
        `data dir ${dir} is in use by another local-pubnub (pid ${pid ?? 'unknown'}, lock file ${file}); ` +
          'stop that server, or delete the lock file if none is running',
      );
    // Stale. Remove it only if it still holds what we read (two servers starting at once).
    try {
      if (fs.readFileSync(file, 'utf8') === text) fs.unlinkSync(file);
    } catch (e) {
      if (e.code !== 'ENOENT') throw e;
    }
  }
  throw new Error(`data dir ${dir}: could not take the lock file ${path.join(dir, LOCK)}`);
}

/**
 * The pid of the live local-pubnub holding `dir` (its lock file), or undefined. For tools that
 * must not touch a data dir in use, e.g. `scripts/dev --reset`.
 */
export function lockHolder(dir) {
  let text;
  try {
    text = fs.readFileSync(path.join(dir, LOCK), 'utf8');
  } catch {
    return undefined;
  }
  const pid = /^\d+\n?$/.test(text) ? Number(text) : undefined;
  return pid !== undefined && running(pid) ? pid : undefined;
}

function running(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM'; // exists, owned by someone else
  }
}

function unlock(file) {
  try {
    if (fs.readFileSync(file, 'utf8') === `${process.pid}\n`) fs.unlinkSync(file);
  } catch {
    // already gone
  }
}

function syncDir(dir) {
  try {
    const fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  } catch {
    // some filesystems refuse fsync on directories; the rename is still atomic
  }
}
