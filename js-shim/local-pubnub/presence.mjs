// Presence: who is on which channel, their timeouts and state, and the events PubNub would send on
// `{channel}-pnpres` — join/leave/timeout/state-change while a channel is at or below announce max,
// periodic `interval` events (with deltas, or `here_now_refresh`) above it.
import { unixSeconds } from './util.mjs';

export class Presence {
  /**
   * @param {object} o
   * @param {(channel:string, payload:object) => void} o.emit  sends one presence event
   */
  constructor({ emit, announceMax = 100, deltas = true, refreshBytes = 30000 }) {
    this.emit = emit;
    this.announceMax = announceMax;
    this.deltas = deltas;
    this.refreshBytes = refreshBytes;
    this.occupants = new Map(); // channel → Map<uuid, {expires, timeoutMs, polls}>
    this.states = new Map(); // channel → Map<uuid, state>
    this.byUuid = new Map(); // uuid → Set<channel>
    this.pending = new Map(); // channel → {join, leave, timeout} since the last interval event
  }

  occupancy(ch) {
    return this.occupants.get(ch)?.size ?? 0;
  }

  /** A heartbeat or subscribe: join if new, and push the timeout out. */
  touch(uuid, channels, timeoutSec) {
    const timeoutMs = timeoutSec * 1000;
    for (const ch of channels) {
      let occ = this.occupants.get(ch);
      if (!occ) this.occupants.set(ch, (occ = new Map()));
      const entry = occ.get(uuid);
      if (entry) {
        entry.timeoutMs = timeoutMs;
        entry.expires = Date.now() + timeoutMs;
        continue;
      }
      occ.set(uuid, { timeoutMs, expires: Date.now() + timeoutMs, polls: 0 });
      if (!this.byUuid.has(uuid)) this.byUuid.set(uuid, new Set());
      this.byUuid.get(uuid).add(ch);
      const state = this.states.get(ch)?.get(uuid);
      this.#event(ch, 'join', uuid, occ.size - 1, state ? { data: state } : {});
    }
  }

  /**
   * Make a uuid present without presence events, as if it had been there all along: restoring
   * a simulated population after a restart (App Context already says it is online).
   */
  restore(uuid, channels, timeoutSec) {
    const timeoutMs = timeoutSec * 1000;
    for (const ch of channels) {
      if (!this.occupants.has(ch)) this.occupants.set(ch, new Map());
      this.occupants.get(ch).set(uuid, { timeoutMs, expires: Date.now() + timeoutMs, polls: 0 });
      if (!this.byUuid.has(uuid)) this.byUuid.set(uuid, new Set());
      this.byUuid.get(uuid).add(ch);
    }
  }

  /**
   * A held long-poll keeps its uuid present for as long as it is open (PubNub counts an open
   * subscribe as a heartbeat); the timeout clock restarts when the poll ends.
   */
  pollStart(uuid, channels) {
    for (const ch of channels) {
      const e = this.occupants.get(ch)?.get(uuid);
      if (e) e.polls++;
    }
  }
  pollEnd(uuid, channels) {
    for (const ch of channels) {
      const e = this.occupants.get(ch)?.get(uuid);
      if (!e) continue;
      e.polls = Math.max(0, e.polls - 1);
      e.expires = Date.now() + e.timeoutMs;
    }
  }

  /** Explicit leave (action 'leave') or expiry (action 'timeout'). */
  leave(uuid, channels, action = 'leave') {
    for (const ch of channels) {
      const occ = this.occupants.get(ch);
      if (!occ?.delete(uuid)) continue;
      if (occ.size === 0) this.occupants.delete(ch);
      const chans = this.byUuid.get(uuid);
      chans?.delete(ch);
      if (chans?.size === 0) this.byUuid.delete(uuid);
      this.states.get(ch)?.delete(uuid);
      if (this.states.get(ch)?.size === 0) this.states.delete(ch);
      this.#event(ch, action, uuid, occ.size + 1);
    }
  }

  /** Time out every occupant whose last heartbeat is older than its timeout and has no open poll. */
  sweep(now = Date.now()) {
    for (const [ch, occ] of [...this.occupants])
      for (const [uuid, e] of [...occ]) if (e.polls === 0 && e.expires <= now) this.leave(uuid, [ch], 'timeout');
  }

  setState(uuid, channels, state) {
    for (const ch of channels) {
      if (!this.states.has(ch)) this.states.set(ch, new Map());
      if (state && Object.keys(state).length) this.states.get(ch).set(uuid, state);
      else this.states.get(ch).delete(uuid);
      const n = this.occupancy(ch);
      if (n <= this.announceMax)
        this.emit(ch, { action: 'state-change', uuid, occupancy: n, timestamp: unixSeconds(), data: state ?? {} });
    }
  }
  getState(uuid, ch) {
    return this.states.get(ch)?.get(uuid) ?? {};
  }

  whereNow(uuid) {
    return [...(this.byUuid.get(uuid) ?? [])].sort();
  }

  /** Occupants of one channel: uuids in join order, paged by offset/limit. */
  hereNow(ch, { offset = 0, limit = 1000 } = {}) {
    const occ = this.occupants.get(ch);
    const uuids = occ ? [...occ.keys()].slice(offset, offset + limit) : [];
    return { occupancy: occ?.size ?? 0, uuids, state: (u) => this.states.get(ch)?.get(u) };
  }

  channels() {
    return [...this.occupants.keys()].sort();
  }

  /**
   * A change is announced on its own while the channel stays at or below announce max, both
   * before and after it; otherwise it waits for the next interval event as a delta.
   */
  #event(ch, action, uuid, before, extra = {}) {
    const after = this.occupancy(ch);
    if (Math.max(before, after) <= this.announceMax) {
      this.emit(ch, { action, uuid, occupancy: after, timestamp: unixSeconds(), ...extra });
      return;
    }
    let p = this.pending.get(ch);
    if (!p) this.pending.set(ch, (p = { join: [], leave: [], timeout: [] }));
    p[action].push(uuid);
  }

  /** Every interval: one event per channel above announce max or with unsent deltas. */
  interval() {
    const chans = new Set([...this.pending.keys()]);
    for (const [ch, occ] of this.occupants) if (occ.size > this.announceMax) chans.add(ch);
    for (const ch of chans) {
      const p = this.pending.get(ch) ?? { join: [], leave: [], timeout: [] };
      this.pending.delete(ch);
      const ev = { action: 'interval', occupancy: this.occupancy(ch), timestamp: unixSeconds() };
      if (this.deltas) {
        // PubNub drops the deltas for a here_now_refresh flag once they would exceed ~30 KB.
        if (JSON.stringify(p).length > this.refreshBytes) ev.here_now_refresh = true;
        else Object.assign(ev, p);
      }
      this.emit(ch, ev);
    }
  }
}
