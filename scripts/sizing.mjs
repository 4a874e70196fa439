// Sizing table (run through scripts/sizing): shards per population and the presence mode each
// configuration gives. Method: a user's shard is hash(id) % shards, close to uniform, so a
// shard's occupancy with U users online is Binomial(U, 1/S), taken as Poisson(U/S) (S ≥ 2).
// p99.9 is the occupancy 99.9 % of shards stay at or under; "over" is the expected number of
// shards above announce max (those fall back to interval mode until they shrink).
//
//   scripts/sizing [--announce-max 100] [--users 10000,100000,500000,1000000]
import { parseArgs } from 'node:util';

const { values: v } = parseArgs({ options: { 'announce-max': { type: 'string' }, users: { type: 'string' } } });
const announceMax = Number(v['announce-max'] ?? 100);
const populations = (v.users ?? '10000,100000,500000,1000000').split(',').map(Number);
const INTERVAL_SHARD = 5000; // users per shard in the interval-mode configuration

/** P(X ≤ k) for X ~ Poisson(l), summed in log space (l up to a few thousand). */
function cdf(l, k) {
  let logp = -l, sum = 0;
  for (let i = 0; i <= k; i++) {
    if (i > 0) logp += Math.log(l / i);
    sum += Math.exp(logp);
  }
  return Math.min(1, sum);
}
function quantile(l, q) {
  let k = Math.floor(l);
  while (cdf(l, k) < q) k++;
  return k;
}
/** Fewest shards (a multiple of 100) whose p99.9 occupancy leaves room for one more join under announce max. */
function realtimeShards(users) {
  for (let s = 100; ; s += 100) if (quantile(users / s, 0.999) < announceMax) return s;
}
const fmt = (n) => n.toLocaleString('en-US');
const row = (cells) => `| ${cells.join(' | ')} |`;

console.log(row(['users online', 'configuration', 'shards', 'mean / shard', 'p99.9 / shard', `shards over ${announceMax} (expected)`, 'presence mode', 'count-aggregator']));
console.log(row(Array(8).fill('---')));
for (const users of populations) {
  const configs = [
    ['real-time, fewest shards', realtimeShards(users)],
    ['real-time, 50 per shard (recommended)', Math.ceil(users / 50)],
    [`interval, ${fmt(INTERVAL_SHARD)} per shard`, Math.max(1, Math.ceil(users / INTERVAL_SHARD))],
  ];
  for (const [name, shards] of configs) {
    const l = users / shards;
    const p999 = quantile(l, 0.999);
    const over = shards * (1 - cdf(l, announceMax));
    const mode = p999 < announceMax ? 'announce (individual events)' : 'interval (every shard)';
    const calls = Math.ceil(shards / 100);
    const count = calls <= 10 ? `inline, ${calls} hereNow` : `${Math.ceil(shards / 1000)} count workers`;
    console.log(row([fmt(users), name, fmt(shards), fmt(Math.round(l)), fmt(p999), over < 0.01 ? '< 0.01' : over.toFixed(2), mode, count]));
  }
}
