// The table of Functions (src/functions.json) against everything made from it: the Cargo
// features, the handlers it names, pkg/functions/manifest.json and the built bundles. Every
// Function of the table has a bundle whose handler runs that Function, whose wasm has that
// Function's entry point and no other, and whose manifest entry has the table's trigger and
// binding; nothing else is built. Needs scripts/build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync, mkdtempSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeBase85, inflateWasm, instantiate, coreInput } from '../../js-shim/function/runtime.js';
import { loadSettings } from '../../js-shim/settings.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const BUILT = join(ROOT, 'pkg/functions');
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const TABLE = readJson(join(ROOT, 'src/functions.json'));
// The features that select no Function (Cargo.toml).
const OTHER_FEATURES = ['all-functions', 'default', 'inflate-stage', 'std', 'web'];
const TYPES = ['AFTER_PRESENCE', 'AFTER_PUBLISH', 'ON_INTERVAL'];
const READS = ['config', 'channel', 'publisher', 'message', 'now'];
const NO_SUCH_HANDLER = 'this bundle has no such handler';

/** The feature names of a Cargo.toml. */
function cargoFeatures(text) {
  const section = /^\[features\]\n([\s\S]*?)(?=^\[)/m.exec(text)?.[1] ?? '';
  return [...section.matchAll(/^([a-z0-9-]+)\s*=/gm)].map((m) => m[1]).sort();
}

/** What is wrong with the table itself, and between it and the Rust side. */
export function tableDisagreements(table, cargoToml, readSource, settings) {
  const out = [];
  const names = table.functions.map((f) => f.name);
  if (new Set(names).size !== names.length) out.push(`a name appears twice: ${names}`);
  for (const f of table.functions) {
    if (!/^[a-z]+(-[a-z]+)*$/.test(f.name)) out.push(`${f.name}: not a kebab-case name`);
    if (!TYPES.includes(f.type)) out.push(`${f.name}: type ${f.type}`);
    if ((f.type === 'ON_INTERVAL') === Boolean(f.channels)) out.push(`${f.name}: ${f.type} with channels ${f.channels}`);
    if ((f.type === 'ON_INTERVAL') !== Number.isInteger(settings[f.interval])) out.push(`${f.name}: interval ${f.interval} is not a period of deploy/config.json`);
    if (!f.about) out.push(`${f.name}: no about`);
    if (!Array.isArray(f.reads) || f.reads.some((r) => !READS.includes(r))) out.push(`${f.name}: reads ${f.reads}`);
    const [module, fn] = String(f.entry).split('::');
    // A handler module is a file, or a folder whose mod.rs re-exports the entry (`pub use`).
    const file = readSource(`src/handlers/${module}.rs`);
    const folder = file === null ? readSource(`src/handlers/${module}/mod.rs`) : null;
    const found = file !== null ? new RegExp(`pub async fn ${fn}\\b`).test(file) : folder !== null && new RegExp(`pub use [^;]*\\b${fn}\\b`).test(folder);
    if (!found) out.push(`${f.name}: no handler ${f.entry} in src/handlers/`);
  }
  const features = cargoFeatures(cargoToml).filter((x) => !OTHER_FEATURES.includes(x));
  if (features.join() !== [...names].sort().join()) out.push(`Cargo features ${features} are not the table's ${[...names].sort()}`);
  return out;
}

/** The base85 payloads of a built bundle, decoded into its Function's wasm. */
function bundleWasm(source) {
  const constant = (name) => new RegExp(`^const ${name} = (.*);$`, 'm').exec(source)?.[1];
  const stage = decodeBase85(JSON.parse(constant('INFLATE_WASM')), Number(constant('INFLATE_WASM_SIZE')));
  return inflateWasm(JSON.parse(constant('WASM_DEFLATED')), Number(constant('WASM_SIZE')), stage);
}

/** Whether the core refuses the handler `name` as one it does not have. */
function refuses(core, name) {
  const step = JSON.parse(core.start(coreInput(name, undefined, {})));
  return step.done?.rejected === NO_SUCH_HANDLER;
}

/** What differs between the table, a built manifest and the bundles next to it. */
export function builtDisagreements(table, settings, dir) {
  const out = [];
  const manifest = readJson(join(dir, 'manifest.json')).functions;
  const names = table.functions.map((f) => f.name);
  if (manifest.map((f) => f.name).join() !== names.join()) out.push(`manifest lists ${manifest.map((f) => f.name)}, the table ${names}`);
  const files = readdirSync(dir).filter((f) => f.endsWith('.js')).sort();
  const expected = names.map((n) => `${n}.js`).sort();
  if (files.join() !== expected.join()) out.push(`${dir} holds ${files}, the table makes ${expected}`);
  for (const f of table.functions) {
    const entry = manifest.find((m) => m.name === f.name);
    const binding = { file: `${f.name}.js`, type: f.type, channels: f.channels ?? null, intervalMs: f.type === 'ON_INTERVAL' ? settings[f.interval] : null };
    if (!entry || Object.entries(binding).some(([k, v]) => entry[k] !== v)) out.push(`${f.name}: manifest ${JSON.stringify(entry)}, table ${JSON.stringify(binding)}`);
    const file = join(dir, `${f.name}.js`);
    if (!existsSync(file)) continue;
    const source = readFileSync(file, 'utf8');
    const arg = f.type === 'ON_INTERVAL' ? 'event' : 'request';
    if (!source.includes(`export default async (${arg}) => {\n  await runtime.run('${f.name}', `)) out.push(`${f.name}.js: the handler does not run ${f.name} on its ${arg}`);
    const core = instantiate(new WebAssembly.Module(bundleWasm(source)));
    if (refuses(core, f.name)) out.push(`${f.name}.js: its wasm has no entry point ${f.name}`);
    const extra = names.filter((other) => other !== f.name && !refuses(core, other));
    if (extra.length) out.push(`${f.name}.js: its wasm also has ${extra}`);
  }
  return out;
}

const settings = loadSettings();
const cargoToml = readFileSync(join(ROOT, 'Cargo.toml'), 'utf8');
const readSource = (path) => (existsSync(join(ROOT, path)) ? readFileSync(join(ROOT, path), 'utf8') : null);

test('the table of Functions agrees with the Cargo features and names handlers that exist', () => {
  assert.deepEqual(tableDisagreements(TABLE, cargoToml, readSource, settings), []);
});

test('the table, the manifest and the built bundles agree: one bundle per Function, its own entry point only', () => {
  assert.deepEqual(builtDisagreements(TABLE, settings, BUILT), []);
});

test('the checks fail when the table and what was built differ', () => {
  const renamed = structuredClone(TABLE);
  renamed.functions[5].name = 'friend-requests';
  assert.ok(tableDisagreements(renamed, cargoToml, readSource, settings).some((d) => d.startsWith('Cargo features')));
  const wrongEntry = structuredClone(TABLE);
  wrongEntry.functions[0].entry = 'presence::no_such_handler';
  assert.deepEqual(tableDisagreements(wrongEntry, cargoToml, readSource, settings), ['after-presence: no handler presence::no_such_handler in src/handlers/']);

  // A Function the table does not have (a manifest entry and bundle left over) and a rebinding.
  const extra = structuredClone(TABLE);
  extra.functions.pop();
  extra.functions[0].channels = 'presence-x.*';
  const found = builtDisagreements(extra, settings, BUILT);
  assert.ok(found.some((d) => d.startsWith('manifest lists')), found.join('\n'));
  assert.ok(found.some((d) => d.includes('the table makes')), found.join('\n'));
  assert.ok(found.some((d) => d.startsWith('after-presence: manifest')), found.join('\n'));

  // A bundle that is another Function's: its handler and its wasm are both caught.
  const dir = mkdtempSync(join(tmpdir(), 'functions-table-'));
  for (const f of readdirSync(BUILT)) copyFileSync(join(BUILT, f), join(dir, f));
  copyFileSync(join(BUILT, 'friend-acceptance.js'), join(dir, 'friend-removal.js'));
  assert.deepEqual(builtDisagreements(TABLE, settings, dir), [
    'friend-removal.js: the handler does not run friend-removal on its request',
    'friend-removal.js: its wasm has no entry point friend-removal',
    'friend-removal.js: its wasm also has friend-acceptance',
  ]);
  rmSync(dir, { recursive: true });
});
