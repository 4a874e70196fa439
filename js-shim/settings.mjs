// The deployment's sizing in one place: deploy/config.json (or the file FP_DEPLOY_CONFIG names).
// scripts/bundle.mjs compiles shardCount/debounceMs/opsLimit into every bundle and the On
// Interval periods into the manifest (a Function's `interval` in src/functions.json names its
// key here); the demo (runtime, seed, churn, and the page through /deploy/config.json) and scripts/latency-report read the same file. Clients and Functions must
// agree on shardCount: a user's shard is hash(id) % shardCount on both sides.
// Sizing guidance (shards per population, the presence mode it gives): README, "Sizing".
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CONFIG_PATH = process.env.FP_DEPLOY_CONFIG || join(ROOT, 'deploy/config.json');

// The ranges the Functions accept (src/handlers/entry.rs); a value outside them would be
// silently replaced by the default there, so it is refused here.
const RANGES = { shardCount: [1, 70_000], debounceMs: [0, 3_600_000], onIntervalMs: [1_000, 3_600_000], settlerIntervalMs: [1_000, 3_600_000] };

export function loadSettings(file = CONFIG_PATH) {
  const raw = JSON.parse(readFileSync(file, 'utf8'));
  const s = {
    shardCount: raw.shardCount ?? 100,
    debounceMs: raw.debounceMs ?? 5000,
    opsLimit: raw.opsLimit ?? 10,
    onIntervalMs: raw.onIntervalMs ?? 10_000,
    // The presence settler's own period: a change held by the debounce reaches friends within
    // debounceMs + 6.5 s + this (docs/design.md §4), so it is as short as the platform accepts.
    settlerIntervalMs: raw.settlerIntervalMs ?? raw.onIntervalMs ?? 10_000,
    presence: { announceMax: raw.presence?.announceMax ?? 100, intervalSec: raw.presence?.intervalSec ?? 10 },
  };
  for (const [k, [lo, hi]] of Object.entries(RANGES))
    if (!Number.isInteger(s[k]) || s[k] < lo || s[k] > hi) throw new Error(`${file}: ${k} must be an integer in ${lo}..${hi}`);
  // PubNub's older "3 ops combined" budget is not supported: an acceptance alone needs 5 KV + 1
  // publish, so no friendship could ever be made. `scripts/deploy --probe` tells which budget a
  // keyset enforces (docs/deploy.md).
  if (s.opsLimit === 3)
    throw new Error(`${file}: opsLimit 3 (PubNub's older budget of 3 ops combined per execution) is not supported: an acceptance needs 5 KV + 1 publish, so no friendship could be made. Use 10, and run scripts/deploy --probe to see the budget your keyset enforces`);
  if (s.opsLimit !== 10) throw new Error(`${file}: opsLimit must be 10 (10 KV + 10 publish + 10 API per execution)`);
  return s;
}

/** What every bundle is built with (`SETTINGS`, read by src/handlers/entry.rs). */
export function functionSettings(s = loadSettings()) {
  return { shardCount: s.shardCount, debounceMs: s.debounceMs, opsLimit: s.opsLimit };
}

