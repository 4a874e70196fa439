// Refresh-token families: what makes refresh tokens single-use. Every sign-in starts a family;
// each refresh token names its family and its generation, and only the family's current
// generation can be exchanged (once: the exchange moves the family to the next generation). A
// refresh token of an older generation is a replay (a stolen copy, or a client that used it
// already): the whole family is revoked, so neither the thief nor the user can refresh with it
// again, and the user signs in anew.
//
// Kept in memory and, with a file, in an append-only log (one JSON line per change, written and
// fsynced before the new token leaves the service), replayed at start: a restart must not make a
// spent token valid again. The log is compacted at start (expired families dropped). One service
// process per file: two processes appending to one log would each miss the other's changes.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export class RefreshFamilies {
  /** @param o {file?: path of the log (none: memory only), now: () => ms} */
  constructor({ file = null, now = Date.now } = {}) {
    this.file = file;
    this.now = now;
    this.families = new Map(); // id → {u, g, exp, revoked?}
    this.fd = null;
    this.started = 0;
    if (file) this.#load();
  }

  #load() {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    if (fs.existsSync(this.file)) {
      for (const line of fs.readFileSync(this.file, 'utf8').split('\n')) {
        if (!line) continue;
        let r;
        try {
          r = JSON.parse(line);
        } catch {
          continue; // a torn last line (a crash mid-write): its token never left the service
        }
        this.#apply(r);
      }
    }
    // Compaction: what is still live, written whole and then moved over the log.
    const tmp = `${this.file}.tmp`;
    const live = [...this.families].filter(([, f]) => f.exp > this.now()).map(([id, f]) => JSON.stringify({ f: id, ...f }) + '\n');
    this.families = new Map(live.map((l) => JSON.parse(l)).map(({ f, ...rest }) => [f, rest]));
    fs.writeFileSync(tmp, live.join(''), { mode: 0o600 });
    const fd = fs.openSync(tmp, 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, this.file);
    this.fd = fs.openSync(this.file, 'a', 0o600);
  }

  #apply({ f, ...change }) {
    if (typeof f !== 'string') return;
    this.families.set(f, { ...(this.families.get(f) ?? {}), ...change });
  }

  /** Applies a change and, with a file, makes it durable before returning. */
  #write(record) {
    this.#apply(record);
    if (this.fd !== null) {
      fs.writeSync(this.fd, JSON.stringify(record) + '\n');
      fs.fdatasyncSync(this.fd);
    }
  }

  /** A new family for user `u`: its id and generation 0. */
  start(u, exp) {
    // Expired families can never be used again: dropped from memory now and then (the log
    // drops them at the next start).
    if (++this.started % 1024 === 0) for (const [id, fam] of this.families) if (!(fam.exp > this.now())) this.families.delete(id);
    const f = randomBytes(16).toString('base64url');
    this.#write({ f, u, g: 0, exp });
    return { f, g: 0 };
  }

  /**
   * Is (f, g) the family's current generation? 'ok', or why not: 'unknown' (never issued here, or
   * expired and compacted away), 'revoked', 'replayed' (an older generation: spent).
   */
  check(f, g, u) {
    const fam = this.families.get(f);
    if (!fam || fam.u !== u) return 'unknown';
    if (fam.revoked) return 'revoked';
    if (fam.g !== g) return 'replayed';
    return 'ok';
  }

  /** Moves the family from generation g to g + 1 (call only right after check → 'ok'). */
  advance(f, g, exp) {
    this.#write({ f, g: g + 1, exp });
    return { f, g: g + 1 };
  }

  revoke(f, why) {
    if (this.families.has(f)) this.#write({ f, revoked: why });
  }

  close() {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}
