// Builds the web client package pkg/web (ES module + wasm + TypeScript types) from the
// wasm-bindgen output of scripts/build (the crate built with `--features web`, --target web).
//
//   node scripts/build-web.mjs [target/bindgen] [pkg/web]
//
// Only the client API is kept: any other export is dropped with wasm-metadce (binaryen from
// npm: Debian's wasm-opt 108 breaks wasm-bindgen's externref table) and the package's entry
// re-exports only the client. The result is loaded once in Node before the build counts as
// done, and the build fails if the wasm is over WASM_BUDGET.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const from = path.resolve(ROOT, process.argv[2] ?? 'target/bindgen');
const out = path.resolve(ROOT, process.argv[3] ?? 'pkg/web');
const NAME = 'friends_presence';
// The most the package's wasm may weigh (raw bytes; pages download it before they work): the
// issue's goal. docs/size.md says what each byte-saving step took.
const WASM_BUDGET = 100_000;
// What the page uses; everything wasm-bindgen needs internally starts with `__` or `wasm_bindgen`.
const FUNCTIONS = [
  'subscribePlan', 'friendRequest', 'acceptRequest', 'declineRequest', 'cancelRequest', 'removeFriend',
  'blockUser', 'unblockUser', 'userSettings', 'syncRequest',
];
const CLIENT = ['FriendsView', ...FUNCTIONS];
const keepExport = (name) =>
  name === 'memory' || name.startsWith('__') || name.startsWith('wasm_bindgen') || name.startsWith('friendsview_') || FUNCTIONS.includes(name);
const FEATURES = [
  '--enable-bulk-memory', '--enable-sign-ext', '--enable-mutable-globals',
  '--enable-nontrapping-float-to-int', '--enable-reference-types', '--enable-multivalue',
];

for (const f of [`${NAME}.js`, `${NAME}_bg.wasm`, `${NAME}.d.ts`]) {
  if (!fs.existsSync(path.join(from, f))) {
    console.error(`build-web: ${path.join(from, f)} is missing; run scripts/build first`);
    process.exit(1);
  }
}
const glue = fs.readFileSync(path.join(from, `${NAME}.js`), 'utf8');
for (const name of CLIENT) {
  if (!new RegExp(`export (class|function) ${name}\\b`).test(glue)) {
    console.error(`build-web: ${name} is not exported by ${NAME}.js (was the crate built with the std feature?)`);
    process.exit(1);
  }
}

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });

// Reachability graph for wasm-metadce: client exports are roots, the rest may go.
const wasmIn = path.join(from, `${NAME}_bg.wasm`);
const mod = new WebAssembly.Module(fs.readFileSync(wasmIn));
const graph = [
  ...WebAssembly.Module.exports(mod).map((e, i) => ({ name: `e${i}`, export: e.name, ...(keepExport(e.name) ? { root: true } : {}) })),
  ...WebAssembly.Module.imports(mod).map((m, i) => ({ name: `i${i}`, import: [m.module, m.name] })),
];
const graphFile = path.join(out, '.metadce.json');
fs.writeFileSync(graphFile, JSON.stringify(graph));
const wasmOut = path.join(out, `${NAME}_bg.wasm`);
const trimmed = path.join(out, '.trimmed.wasm');
execFileSync(path.join(ROOT, 'node_modules/.bin/wasm-metadce'), [...FEATURES, '-f', graphFile, wasmIn, '-o', trimmed], {
  stdio: ['ignore', 'ignore', 'inherit'], // stdout lists what became unused; the JS keeps its imports either way
});
// metadce only cuts the graph; the size comes from the optimizer run afterwards: functions that
// differ only in constants merged first (the per-type copies generic code leaves), then -Oz
// until nothing shrinks more. --low-memory-unused: rustc lays the stack out first (data from
// 1 MiB), so no load or store aims below 1 KiB and constant offsets can fold into them.
const OPTIMIZE = ['--merge-similar-functions', '-Oz', '--converge', '--low-memory-unused', '--strip-producers', '--strip-target-features'];
execFileSync(path.join(ROOT, 'node_modules/.bin/wasm-opt'), [...OPTIMIZE, ...FEATURES, trimmed, '-o', wasmOut], { stdio: 'inherit' });
fs.rmSync(graphFile);
fs.rmSync(trimmed);

fs.writeFileSync(path.join(out, `${NAME}.js`), glue);
// The public types are written by hand (js-shim/web/index.d.ts): wasm-bindgen's would say `any`
// for every object the core returns. The helper (connectFriends) is plain JS over the core.
fs.rmSync(path.join(out, `${NAME}.d.ts`), { force: true });
fs.copyFileSync(path.join(ROOT, 'js-shim/web/index.d.ts'), path.join(out, 'index.d.ts'));
fs.copyFileSync(path.join(ROOT, 'js-shim/web/client.js'), path.join(out, 'client.js'));
// The package's own README; its links are repository-relative and resolve from either place.
fs.copyFileSync(path.join(ROOT, 'js-shim/web/README.md'), path.join(out, 'README.md'));
fs.writeFileSync(
  path.join(out, 'index.js'),
  `// The web client core: subscribe plan, friends view, command builders and connectFriends (see README).
import initWasm from './${NAME}.js';
export { initSync, ${CLIENT.join(', ')} } from './${NAME}.js';
export { connectFriends, FriendsError } from './client.js';

// Browsers fetch the wasm next to this module; Node has no fetch for file: URLs, so it reads it.
export default async function init(input) {
  if (input === undefined && typeof process === 'object' && process.versions && process.versions.node) {
    const { readFile } = await import(/* webpackIgnore: true */ 'node:fs/promises');
    input = { module_or_path: await readFile(new URL('./${NAME}_bg.wasm', import.meta.url)) };
  }
  return initWasm(input);
}
`,
);
const version = /^version\s*=\s*"([^"]+)"/m.exec(fs.readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8'))?.[1] ?? '0.0.0';
const pkg = {
  name: 'friends-presence-web',
  version,
  description: 'Friends-presence web client core (Rust → WebAssembly): subscribe plan, friends view, command builders',
  type: 'module',
  main: 'index.js',
  types: 'index.d.ts',
  exports: { '.': { types: './index.d.ts', default: './index.js' } },
  files: ['index.js', 'index.d.ts', 'client.js', `${NAME}.js`, `${NAME}_bg.wasm`],
  sideEffects: false,
  license: 'MIT',
};
fs.writeFileSync(path.join(out, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');

// Self-check: the trimmed wasm still links against the glue and answers.
const web = await import(pathToFileURL(path.join(out, 'index.js')).href);
await web.default(); // Node: reads the wasm from disk
if (typeof web.connectFriends !== 'function' || typeof web.FriendsError !== 'function') throw new Error('build-web: connectFriends or FriendsError is not exported');
const plan = web.subscribePlan('alice');
const made = web.FriendsView.create('alice');
const asked = web.friendRequest('alice', 'bob', 0, 1);
if (!Array.isArray(plan?.groups) || plan.groups.length !== 10 || !made.view || made.view.apply({}).outcome !== 'rejected' || asked?.channel !== 'friend-requests.alice') {
  console.error('build-web: the built package does not work:', JSON.stringify(plan));
  process.exit(1);
}
made.view.free();

const size = (f) => fs.statSync(f).size;
const wasmBytes = fs.readFileSync(wasmOut);
console.log(
  `pkg/web: ${NAME}_bg.wasm ${size(wasmOut)} bytes (budget ${WASM_BUDGET}, headroom ${WASM_BUDGET - size(wasmOut)}; ` +
    `gzip ${zlib.gzipSync(wasmBytes, { level: 9 }).length}; from ${size(wasmIn)} before trimming), ` +
    `${NAME}.js ${size(path.join(out, `${NAME}.js`))} bytes`,
);
if (size(wasmOut) > WASM_BUDGET) {
  console.error(`build-web: ${NAME}_bg.wasm is ${size(wasmOut)} bytes, over the ${WASM_BUDGET}-byte budget`);
  process.exit(1);
}
