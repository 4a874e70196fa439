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
    this.occupants = new Map(); // channel → Map<uuid, {devices: Map<device, {expires, timeoutMs, polls}>}>
    this.states = new Map(); // channel → Map<uuid, state>
    this.byUuid = new Map(); // uuid → Set<channel>
    this.pending = new Map(); // channel → {join, leave, timeout} since the last interval event
  }

  occupancy(ch) {
    return this.occupants.get(ch)?.size ?? 0;
  }

  /**
   * A heartbeat or subscribe: join if new, and push the timeout out. `device` tells one client
   * of a uuid from another (the SDK's `instanceid`): each device joins, leaves and times out
   * on its own, and the uuid stays present while any of its devices is.
   */
  touch(uuid, channels, timeoutSec, device = '') {
    const timeoutMs = timeoutSec * 1000;
    for (const ch of channels) {
      let occ = this.occupants.get(ch);
      if (!occ) this.occupants.set(ch, (occ = new Map()));
      let entry = occ.get(uuid);
      const d = entry?.devices.get(device);
      if (d) {
        d.timeoutMs = timeoutMs;
        d.expires = Date.now() + timeoutMs;
        continue;
      }
      const known = !!entry;
      if (!entry) occ.set(uuid, (entry = { devices: new Map() }));
      entry.devices.set(device, { timeoutMs, expires: Date.now() + timeoutMs, polls: 0 });
      if (!this.byUuid.has(uuid)) this.byUuid.set(uuid, new Set());
      this.byUuid.get(uuid).add(ch);
      const state = this.states.get(ch)?.get(uuid);
      // Another device of a present uuid joins too (PubNub: one join per device), occupancy unchanged.
      this.#event(ch, 'join', uuid, known ? occ.size : occ.size - 1, state ? { data: state } : {});
    }
  }

  /**
   * Make a uuid present without presence events, as if it had been there all along: restoring
   * a simulated population after a restart (App Context already says it is online).
   */
  restore(uuid, channels, timeoutSec, device = '') {
    const timeoutMs = timeoutSec * 1000;
    for (const ch of channels) {
      if (!this.occupants.has(ch)) this.occupants.set(ch, new Map());
      const occ = this.occupants.get(ch);
      if (!occ.has(uuid)) occ.set(uuid, { devices: new Map() });
      occ.get(uuid).devices.set(device, { timeoutMs, expires: Date.now() + timeoutMs, polls: 0 });
      if (!this.byUuid.has(uuid)) this.byUuid.set(uuid, new Set());
      this.byUuid.get(uuid).add(ch);
    }
  }

  /**
   * A held long-poll keeps its device present for as long as it is open (PubNub counts an open
   * subscribe as a heartbeat); the timeout clock restarts when the poll ends.
   */
  pollStart(uuid, channels, device = '') {
    for (const ch of channels) {
      const e = this.occupants.get(ch)?.get(uuid)?.devices.get(device);
      if (e) e.polls++;
    }
  }
  pollEnd(uuid, channels, device = '') {
    for (const ch of channels) {
      const e = this.occupants.get(ch)?.get(uuid)?.devices.get(device);
      if (!e) continue;
      e.polls = Math.max(0, e.polls - 1);
      e.expires = Date.now() + e.timeoutMs;
    }
  }

  /**
   * Explicit leave (action 'leave') or expiry (action 'timeout') of one device; without a
   * device (a request that carries no `instanceid`), of the uuid on every device. Each device
   * sends its own event; the uuid leaves hereNow/whereNow with its last device.
   */
  leave(uuid, channels, action = 'leave', device) {
    for (const ch of channels) {
      const occ = this.occupants.get(ch);
      const entry = occ?.get(uuid);
      if (!entry) continue;
      if (device !== undefined && device !== '') {
        if (!entry.devices.delete(device)) continue;
        if (entry.devices.size > 0) {
          this.#event(ch, action, uuid, occ.size);
          continue;
        }
      }
      occ.delete(uuid);
      if (occ.size === 0) this.occupants.delete(ch);
      const chans = this.byUuid.get(uuid);
      chans?.delete(ch);
      if (chans?.size === 0) this.byUuid.delete(uuid);
      this.states.get(ch)?.delete(uuid);
      if (this.states.get(ch)?.size === 0) this.states.delete(ch);
      this.#event(ch, action, uuid, occ.size + 1);
    }
  }

  /** Time out every device whose last heartbeat is older than its timeout and has no open poll. */
  sweep(now = Date.now()) {
    for (const [ch, occ] of [...this.occupants])
      for (const [uuid, entry] of [...occ])
        for (const [device, e] of [...entry.devices])
          if (e.polls === 0 && e.expires <= now) {
            if (entry.devices.size > 1) this.leave(uuid, [ch], 'timeout', device);
            else this.leave(uuid, [ch], 'timeout');
          }
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
