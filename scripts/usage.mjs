// The usage text of every script, kept free of third-party and build-output imports so that
// `scripts/X --help` answers on a fresh clone, before scripts/setup and scripts/build have run:
// each wrapper in scripts/ runs `node scripts/usage.mjs X` for --help / -h, and the programs
// import the same text for their own --help and option errors. scripts/deploy and
// scripts/local-pubnub keep theirs in their programs, which import nothing from outside the repo.
// tests/node/help.test.mjs checks every script.
//
//   node scripts/usage.mjs <script name>
import { fileURLToPath } from 'node:url';
import { MODEL_DEFAULTS } from './report-lib.mjs'; // pure arithmetic, no imports

export const DEV = `usage: scripts/dev [options]
  --users N        demo users (default 2000)
  --friends N      friends per user, about (default 200)
  --online F       share of users online (default 0.3)
  --churn N        status changes per second (default 20)
  --port N         port of the runtime and the page (default 8090; taken: any free port)
  --state-dir DIR  where populations are kept (default .dev)
  --seed N         random seed of the population (default 42)
  --reset          seed the population again
`;

export const AUTH_SERVER = `usage: scripts/auth-server [options]
  --port N             listen port (default 8091; 0 = any)
  --host H             listen address (default 127.0.0.1)
  --publish-key K      keyset publish key (env PUBNUB_PUBLISH_KEY)
  --subscribe-key K    keyset subscribe key (env PUBNUB_SUBSCRIBE_KEY)
  --origin HOST:PORT   PubNub origin (default PubNub's; e.g. 127.0.0.1:8090 for scripts/local-pubnub)
  --ttl MINUTES        token lifetime (default 60)
  --state-dir DIR      where refresh-token sessions and their signing key are kept (required
                       unless --dev-any-user): a restart keeps sessions, and spent tokens spent
Who signs in (one is required):
  --jwt-audience A     the app's identity tokens (JWTs) are checked: their audience (required),
  --jwt-issuer I       their issuer (optional), and the key, one of:
  --jwks-url URL         the app's published keys (RS256, PS256, ES256, EdDSA), or
                         FP_JWT_SECRET in the environment: a shared secret (HS256/384/512)
  --dev-any-user       DEVELOPMENT ONLY: anyone signs in as any id they name
The secret key comes from the environment only: PUBNUB_SECRET_KEY. POST /auth/operator (a
read token on operators.metrics, for the operators' page) is on only when FP_OPERATOR_KEY is set.
`;

export const LATENCY_REPORT = `usage: scripts/latency-report [options]
  --users N                 users (default 200); each has a watcher and a driver client
  --friends K               friends per user, even, < users (default 10; a ring: i <-> i±1..i±K/2)
  --changes N               presence changes to drive (default 1000), spread over the users
  --sdk 10|11               pubnub SDK major version for every client (default 10)
  --gap-ms MS               wait between a change's last receipt and the user's next change
                            (default: debounce + 500, or presence interval + 500 if shards are in
                            interval mode); below the debounce, changes go through the settler
  --jitter-ms MS            random extra wait added to each gap, 0..MS (default: the presence interval
                            if shards are in interval mode, so changes do not phase-lock to it;
                            else 0)
  --timeout-ms MS           a receipt not seen within this is counted missing (default 20000)
  --function-interval-ms MS run every On Interval Function at this period (default: the manifest's)
  --announce-max N          presence announce max of the runtime (default: deploy/config.json, 100)
  --interval-sec N          presence interval of the runtime, seconds (default: deploy/config.json, 10)
  --wan                     the runtime's WAN profile: 30-80 ms per client round trip, 20-60 ms per
                            Function host call (js-shim/dev/local-pubnub/wan.mjs)
  --no-fsync                the runtime's data dir without fsync (its fsync blocks the whole process,
                            so a busy disk shows up in every latency)
  --drain-settle-queue      before driving, wait until the settler has taken every queued chunk
                            of deferred statuses
`;

export const COMMAND_REPORT = `usage: scripts/command-report [options]
  --runs N          runs of request → accept → remove and request → decline, fresh users each (default 30)
  --concurrency C   runs at a time (default 4)
  --wan             the runtime's WAN profile: 30-80 ms per client round trip, 20-60 ms per Function
                    host call (js-shim/dev/local-pubnub/wan.mjs)
  --timeout-ms MS   a receipt not seen within this counts as missed (default 15000)
`;

export const COST_REPORT = `usage: scripts/cost-report [options]
  Scenarios (in-memory host, the built Functions):
  --friends N                  friends of the user whose presence changes and sync are measured (default ${MODEL_DEFAULTS.friends})
  --idle-minutes M             simulated minutes of On Interval work for the idle figure (default 60)
  --shards S                   presence shards for the idle figure (default: users / 50, the README's
                               real-time sizing; the bundles' own shardCount otherwise applies)
  Monthly model (defaults in brackets):
  --users N                    users online at every moment [${MODEL_DEFAULTS.users}]
  --changes-per-user-hour X    presence changes per online user per hour [${MODEL_DEFAULTS.changesPerUserHour}]
  --flap-share X               share of changes that are half of a debounced flap [${MODEL_DEFAULTS.flapShare}]
  --commands-per-user-day X    friend commands per user per day [${MODEL_DEFAULTS.commandsPerUserDay}], split
                               ${Object.entries(MODEL_DEFAULTS.commandMix).map(([k, v]) => `${k} ${v}`).join(', ')}
  --syncs-per-user-day X       friends.sync requests per user per day [${MODEL_DEFAULTS.syncsPerUserDay}]
  --online-share X             share of a user's friends online, who receive its status [${MODEL_DEFAULTS.onlineShare}]
  --renewals-per-hour X        a connected client's empty subscribe returns per hour [${MODEL_DEFAULTS.subscribeRenewalsPerHour.toFixed(2)}]
  --no-kv-billed               leave the Functions' KV store calls out of the transactions
`;

export const SYNC_REPORT = `usage: scripts/sync-report [--friends N (default 2000)] [--runs R (default 3)] [--wan]
`;

export const BENCH = `usage: scripts/bench [--runs N (default 300)] [--cold N (default 7)] [--only a,b] [--dir D] [--phases]
  CPU per execution of every deployable Function (N runs each) and its cold start (evaluate,
  inflate, compile, first execution; N fresh processes), with and without native
  TextEncoder/TextDecoder, next to a plain JS handler making after-presence's host calls, with
  the ratios. --only: those Functions; --dir: another build's bundles; --phases: the cold start
  step by step. Builds pkg/functions/ first if missing.
`;

export const SIZING = `usage: scripts/sizing [--announce-max N (default 100)] [--users A,B,… (default 10000,100000,500000,1000000)]
  Shards per population and the presence mode they give (README, Sizing).
`;

export const BUILD = `usage: scripts/build
  Runs scripts/setup, then builds the deployable Functions into pkg/functions/ and the web
  client package into pkg/web/, and prints the bundles' sizes. No options.
`;

export const TEST = `usage: scripts/test
  Builds (scripts/build), then runs every test layer: cargo fmt and clippy, the native core, the
  wasm tests, and tests/node/ under both op-attribution rules (15 minutes or more). No options;
  one Node test file: FP_OPS_ATTRIBUTION=module node --experimental-vm-modules --test tests/node/X.test.mjs
`;

export const SETUP = `usage: scripts/setup
  Installs what the build and tests need, idempotently: the wasm32 target, wasm-bindgen-cli at
  the crate's version, the npm packages (npm ci) and Chromium (apt). No options.
`;

const BY_SCRIPT = {
  dev: DEV, 'auth-server': AUTH_SERVER, 'latency-report': LATENCY_REPORT, 'command-report': COMMAND_REPORT,
  'cost-report': COST_REPORT, 'sync-report': SYNC_REPORT, bench: BENCH, sizing: SIZING, build: BUILD, test: TEST, setup: SETUP,
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = BY_SCRIPT[process.argv[2]];
  if (!text) {
    process.stderr.write(`usage: node scripts/usage.mjs <${Object.keys(BY_SCRIPT).join('|')}>\n`);
    process.exit(2);
  }
  process.stdout.write(text);
}
