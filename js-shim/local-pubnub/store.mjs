// Durable state: an append-only JSON-lines log, fsync'ed before a write is acknowledged, replayed on
// start and compacted now and then into a snapshot. Records carry a sequence number so that a crash
// between "snapshot renamed" and "log truncated" never applies a record twice.
import fs from 'node:fs';
import path from 'node:path';

const LOG = 'log.jsonl';
const SNAP = 'snapshot.jsonl';
const LOCK = 'local-pubnub.lock';

export class Store {
  /**
   * @param {string|undefined} dir  no dir: in-memory only, writes are acknowledged at once
   * @param {{apply(rec):void, snapshot():Iterable<object>, compactEvery?:number, fsync?:boolean}} o
   */
  constructor(dir, { apply, snapshot, compactEvery = 20000, fsync = true }) {
    this.dir = dir;
    this.snapshot = snapshot;
    this.compactEvery = compactEvery;
    this.fsync = fsync;
    this.seq = 0;
    this.sinceCompact = 0;
    this.queue = [];
    this.flushing = null;
    this.closed = false;
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
    } catch (e) {
      unlock(this.lockFile);
      throw e;
    }
  }

  /** Queue one record; resolves once it is on disk (group commit: one fsync per batch). */
  append(rec) {
    if (!this.dir) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('store closed'));
    const line = JSON.stringify({ ...rec, s: ++this.seq }) + '\n';
    return new Promise((resolve, reject) => {
      this.queue.push({ line, resolve, reject });
      this.flushing ??= new Promise((r) => setImmediate(r)).then(() => this.#flush());
    });
  }

  async #flush() {
    while (this.queue.length) {
      const batch = this.queue;
      this.queue = [];
      try {
        fs.writeSync(this.fd, batch.map((b) => b.line).join(''));
        if (this.fsync) fs.fdatasyncSync(this.fd);
        for (const b of batch) b.resolve();
      } catch (e) {
        for (const b of batch) b.reject(e);
      }
      this.sinceCompact += batch.length;
      if (this.sinceCompact >= this.compactEvery) this.compact();
    }
    this.flushing = null;
  }

  /** Write the whole state as a snapshot (tmp + fsync + rename), then start an empty log. */
  compact() {
    if (!this.dir) return;
    const tmp = path.join(this.dir, SNAP + '.tmp');
    const fd = fs.openSync(tmp, 'w');
    const seq = this.seq;
    let buf = '';
    for (const rec of this.snapshot()) {
      buf += JSON.stringify({ ...rec, s: seq }) + '\n';
      if (buf.length > 1 << 20) (fs.writeSync(fd, buf), (buf = ''));
    }
    // An empty state still needs a marker line so the log's older records are skipped.
    fs.writeSync(fd, buf + JSON.stringify({ op: 'mark', s: seq }) + '\n');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, path.join(this.dir, SNAP));
    syncDir(this.dir);
    fs.ftruncateSync(this.fd, 0);
    if (this.fsync) fs.fsyncSync(this.fd);
    this.sinceCompact = 0;
  }

  async close() {
    if (!this.dir || this.closed) return;
    await this.flushing;
    this.closed = true;
    fs.closeSync(this.fd);
    unlock(this.lockFile);
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

/** Apply every complete record with s > after; returns the highest sequence and the valid length. */
function replay(file, after, apply) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e.code === 'ENOENT') return { max: after, bytes: 0 };
    throw e;
  }
  let max = after;
  let bytes = 0;
  for (let start = 0, end; (end = text.indexOf('\n', start)) >= 0; start = end + 1) {
    let rec;
    try {
      rec = JSON.parse(text.slice(start, end));
    } catch {
      break; // a torn record from a crash mid-write; it was never acknowledged
    }
    bytes += Buffer.byteLength(text.slice(start, end + 1));
    if (rec.s > max) max = rec.s;
    if (rec.s > after && rec.op !== 'mark') apply(rec);
  }
  return { max, bytes };
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
