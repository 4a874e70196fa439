// WAN profile (`wan` option, CLI `--wan`): the local runtime answers in microseconds, PubNub over
// the internet does not. With it, every client request waits half a round trip before it is
// handled and half before its reply goes out (a held subscribe's delivery included), and every
// host call a Function makes (pubnub.*, kvstore.*) waits one round trip inside the data centre.
// Defaults, stated assumptions rather than measurements:
// - clientMs 30–80: a client's round trip to its nearest PubNub edge over a decent broadband or
//   4G link (same-continent users);
// - hostCallMs 20–60: a Function's call to KV, App Context, presence or publish, a service of
//   its own inside PubNub's network (PubNub does not publish these latencies).
// Each round trip is drawn uniformly from its range.
export const WAN_DEFAULTS = Object.freeze({ clientMs: [30, 80], hostCallMs: [20, 60] });

/** `true` → the defaults; `{clientMs, hostCallMs}` → those ranges over the defaults; falsy → none. */
export function wanProfile(opt) {
  if (!opt) return null;
  const o = opt === true ? {} : opt;
  const range = (r, d) => {
    const [lo, hi] = Array.isArray(r) ? r : d;
    if (!(lo >= 0 && hi >= lo)) throw new Error(`wan: a range must be [lo, hi] with 0 <= lo <= hi, got ${JSON.stringify(r)}`);
    return [lo, hi];
  };
  return { clientMs: range(o.clientMs, WAN_DEFAULTS.clientMs), hostCallMs: range(o.hostCallMs, WAN_DEFAULTS.hostCallMs) };
}

/** Waits `fraction` of one round trip drawn from `[lo, hi]`. */
export function wanWait([lo, hi], fraction = 1) {
  const ms = (lo + Math.random() * (hi - lo)) * fraction;
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}
