// Message fan-out: a ring buffer per channel (for catch-up on an old `tt`) and the set of waiting
// long-polls, indexed by what they listen to so a publish wakes only the polls it concerns.
import { PNPRES, basePresenceName, isPresenceName, isWildcard } from './util.mjs';

export class Bus {
  /** @param {{channelsOf(g):Iterable<string>, groupsOf(ch):Iterable<string>}} groups */
  constructor(groups, { bufferSize = 100, bufferAgeMs = 20 * 60e3, maxPerReply = 100 } = {}) {
    this.groups = groups;
    this.bufferSize = bufferSize;
    this.bufferAgeMs = bufferAgeMs;
    this.maxPerReply = maxPerReply;
    this.buffers = new Map(); // channel → [{tt, at, env}], oldest first
    this.waiters = new Map(); // 'c:ch' | 'g:group' | 'w:a.*' → Set<waiter>
    // A subscriber that falls more than bufferSize messages behind on a channel loses the
    // oldest, as PubNub's does (its queue holds ~100): the newest tt dropped per channel, and
    // how many polls found something dropped after their cursor (`missed`, for tests).
    this.dropped = new Map();
    this.missed = 0;
  }

  /** Store an envelope (its `p.t` already set) and wake the long-polls that receive it. */
  push(tt, env) {
    let buf = this.buffers.get(env.c);
    if (!buf) this.buffers.set(env.c, (buf = []));
    const at = Date.now();
    buf.push({ tt, at, env });
    while (buf.length > this.bufferSize || at - buf[0].at > this.bufferAgeMs) this.dropped.set(env.c, buf.shift().tt);
    for (const key of this.#keysFor(env.c)) for (const w of this.waiters.get(key) ?? []) w.wake();
  }

  /** Index keys under which a waiter receiving channel `ch` is registered. */
  *#keysFor(ch) {
    yield 'c:' + ch;
    const pres = isPresenceName(ch);
    const base = basePresenceName(ch);
    const suffix = pres ? PNPRES : '';
    for (const g of this.groups.groupsOf(base)) yield 'g:' + g + suffix;
    for (let i = base.indexOf('.'); i >= 0; i = base.indexOf('.', i + 1)) yield 'w:' + base.slice(0, i + 1) + '*' + suffix;
  }

  /**
   * Envelopes newer than `since` for a subscription, oldest first, at most maxPerReply.
   * Each message is sent once even if several subscriptions match it; `b` names the subscription
   * that matched when it is not the channel itself (the SDK drops envelopes without it, §0.3).
   * `filter` is the subscriber's compiled filter-expr.
   */
  collect({ channels, groups, filter }, since) {
    const picked = new Map(); // buffer item → b
    const take = (buf, b) => {
      if (!buf) return;
      if (this.dropped.get(buf[0]?.env.c) > since) this.missed++;
      for (let i = buf.length - 1; i >= 0 && buf[i].tt > since; i--)
        if (!picked.has(buf[i]) && (!filter || passes(filter, buf[i].env))) picked.set(buf[i], b);
    };
    for (const ch of channels) {
      if (!isWildcard(ch)) take(this.buffers.get(ch), undefined);
      else for (const [c, buf] of this.buffers) if (wildcardMatches(ch, c)) take(buf, ch);
    }
    for (const g of groups) {
      const suffix = isPresenceName(g) ? PNPRES : '';
      for (const c of this.groups.channelsOf(basePresenceName(g))) take(this.buffers.get(c + suffix), g);
    }
    return [...picked]
      .sort((x, y) => (x[0].tt < y[0].tt ? -1 : x[0].tt > y[0].tt ? 1 : 0))
      .slice(0, this.maxPerReply)
      .map(([item, b]) => ({ tt: item.tt, env: b === undefined ? item.env : { ...item.env, b } }));
  }

  /** Register a waiter `{channels, groups, wake()}` until the returned function is called. */
  listen(waiter) {
    const keys = [
      ...waiter.channels.map((ch) => (isWildcard(ch) ? 'w:' : 'c:') + ch),
      ...waiter.groups.map((g) => 'g:' + g),
    ];
    for (const k of keys) {
      if (!this.waiters.has(k)) this.waiters.set(k, new Set());
      this.waiters.get(k).add(waiter);
    }
    return () => {
      for (const k of keys) {
        const set = this.waiters.get(k);
        set?.delete(waiter);
        if (set?.size === 0) this.waiters.delete(k);
      }
    };
  }

  /** Drop buffers whose newest message is older than the catch-up window. */
  prune() {
    const cutoff = Date.now() - this.bufferAgeMs;
    for (const [c, buf] of this.buffers) if (!buf.length || buf[buf.length - 1].at < cutoff) this.buffers.delete(c), this.dropped.delete(c);
  }
}

/** `a.*` matches every channel below `a.`; `a.*-pnpres` every presence channel below it. */
function wildcardMatches(sub, ch) {
  if (isPresenceName(sub) !== isPresenceName(ch)) return false;
  return basePresenceName(ch).startsWith(basePresenceName(sub).slice(0, -1));
}

/**
 * Subscribe filters read `data.*` and `meta.*`; bare names are the older style for meta fields.
 * Presence events are never filtered out.
 */
function passes(filter, env) {
  if (isPresenceName(env.c)) return true;
  const meta = env.u && typeof env.u === 'object' ? env.u : {};
  return filter({ ...meta, data: env.d, meta });
}
