// Turns each Function of the table (src/functions.json) into one self-contained ES module,
// pkg/functions/<name>.js: its `export default` handler (generated from its entry in the table),
// the deployment's settings, its wasm deflated and inlined as base85, the first stage that decodes
// and inflates it (inflate.wasm, src/stage0), and the runtime (js-shim/function/runtime.js and what it
// imports) bundled and minified by esbuild. Writes the manifest from the table, prints a size
// table and fails the build if a bundle is over the budget.
//
//   node scripts/bundle.mjs <dir with <name>.wasm for each Function, and inflate.wasm> <outDir>
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { gzipSync, deflateRawSync, constants } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import zopfli from '@gfx/zopfli';
import { buildSync } from 'esbuild';
import { loadSettings, functionSettings, CONFIG_PATH } from '../js-shim/settings.mjs';
import { inflateWasm } from '../js-shim/function/runtime.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [wasmDir, outDir] = process.argv.slice(2);
if (!wasmDir || !outDir) {
  console.error('usage: node scripts/bundle.mjs <wasm dir> <outDir>');
  process.exit(2);
}
const TABLE = JSON.parse(readFileSync(join(root, 'src/functions.json'), 'utf8'));
// PubNub's practical ceiling for a Function's source.
const LIMIT = TABLE.sourceLimitBytes;
// What a bundle may use: 12 KB stay free under the ceiling, for the fixes and features to come
// and for whatever else PubNub's limit turns out to count.
const BUDGET = TABLE.bundleBudgetBytes;
// Sizing is a deployment setting: deploy/config.json (js-shim/settings.mjs).
const DEPLOY = loadSettings();
const SETTINGS = functionSettings(DEPLOY);

// What the runtime (js-shim/function/runtime.js, instantiate) calls: src/wasm/exports.rs. Nothing else may be
// exported (but the two globals rustc's linker always adds) or imported: a stray export means
// code the bundle does not need, an import something the runtime would not give.
const EXPORTS = ['input', 'memory', 'output', 'resume', 'start'];
const LINKER_GLOBALS = ['__data_end', '__heap_base'];

/** Fails the build unless `wasm` has exactly the runtime's interface. */
function checkInterface(name, wasm) {
  const mod = new WebAssembly.Module(wasm);
  const imports = WebAssembly.Module.imports(mod).map((i) => `${i.module}.${i.name}`);
  const exports = WebAssembly.Module.exports(mod).map((e) => e.name).filter((e) => !LINKER_GLOBALS.includes(e)).sort();
  if (imports.length) throw new Error(`${name}: the wasm imports ${imports.join(', ')}; a Function's core imports nothing`);
  if (exports.join() !== EXPORTS.join()) throw new Error(`${name}: the wasm exports ${exports.join(', ')}, not ${EXPORTS.join(', ')}`);
}

/**
 * Raw DEFLATE, as small as we can get it: Zopfli (an exhaustive encoder for the same format,
 * so the first stage inflates it unchanged) takes ~2 KB off the largest wasm that zlib's
 * level 9 leaves, for ~2 s of build time per Function. The smaller of the two is kept.
 */
async function deflate(bytes) {
  const zlib = deflateRawSync(bytes, { level: 9, memLevel: 9, strategy: constants.Z_DEFAULT_STRATEGY });
  const best = Buffer.from(await zopfli.deflateAsync(bytes, { numiterations: 15, blocksplitting: true }));
  return best.length < zlib.length ? best : zlib;
}

// Base85 over printable ASCII without `"` and `\\`: 5 characters per 4 bytes where base64 takes
// 5.33, i.e. ~3 KB less source per bundle. runtime.js decodes it.
const B85 = Array.from({ length: 85 }, (_, i) => String.fromCharCode(i < 57 ? 0x23 + i : 0x5d + i - 57)).join('');
function base85(bytes) {
  const padded = Buffer.alloc(Math.ceil(bytes.length / 4) * 4);
  bytes.copy(padded);
  let out = '';
  for (let i = 0; i < padded.length; i += 4) {
    let n = padded.readUInt32BE(i);
    const group = [];
    for (let k = 0; k < 5; k++) { group.push(B85[n % 85]); n = Math.floor(n / 85); }
    out += group.reverse().join('');
  }
  return out;
}

// The runtime, bundled once for all Functions: esbuild resolves js-shim/function/runtime.js's imports and
// minifies the result (format 'esm', so no wrapper). Its entry hands the Function's runtime to
// the handler through `runtime`, from the payload the bundle declares before it (below).
const RUNTIME_ENTRY = `import { functionRuntime } from './js-shim/function/runtime.js';
runtime = functionRuntime({ settings: SETTINGS, wasm: [WASM_DEFLATED, WASM_SIZE], stage: [INFLATE_WASM, INFLATE_WASM_SIZE] });`;
const runtime = buildSync({
  stdin: { contents: RUNTIME_ENTRY, resolveDir: root, sourcefile: 'function-runtime.js' },
  bundle: true, format: 'esm', minify: true, target: 'es2020', charset: 'ascii', write: false,
}).outputFiles[0].text.trim();

const TRIGGER = { AFTER_PRESENCE: 'After Presence', AFTER_PUBLISH: 'After Publish', ON_INTERVAL: 'On Interval' };

/**
 * A Function's `export default`, as PubNub documents it (the first statement; `require` of the
 * built-in modules inside the handler, as plain calls), generated from its entry in the table.
 */
function handlerSource(fn, intervalMs) {
  const arg = fn.type === 'ON_INTERVAL' ? 'event' : 'request';
  const on = fn.type === 'ON_INTERVAL' ? `every ${intervalMs} ms` : `on \`${fn.channels}\``;
  return [
    `// ${fn.name}, ${TRIGGER[fn.type]} ${on} (src/functions.json): ${fn.about}.`,
    `export default async (${arg}) => {`,
    `  await runtime.run('${fn.name}', { pubnub: require('pubnub'), kvstore: require('kvstore') }${arg === 'request' ? ', request' : ''});`,
    `  return ${arg}.ok();`,
    '};',
  ].join('\n');
}

const stage0 = readFileSync(join(wasmDir, 'inflate.wasm'));
mkdirSync(outDir, { recursive: true });
const rows = [];
const manifest = { functions: [] };
for (const fn of TABLE.functions) {
  if (!TRIGGER[fn.type] || (fn.type === 'ON_INTERVAL') === Boolean(fn.channels)) throw new Error(`src/functions.json: ${fn.name}: type ${fn.type} with channels ${fn.channels}`);
  const wasmPath = join(wasmDir, `${fn.name}.wasm`);
  if (!existsSync(wasmPath)) throw new Error(`${wasmPath}: no wasm for ${fn.name}`);
  const intervalMs = fn.type === 'ON_INTERVAL' ? DEPLOY[fn.interval] : null;
  if (fn.type === 'ON_INTERVAL' && !Number.isInteger(intervalMs)) throw new Error(`src/functions.json: ${fn.name}: interval ${fn.interval} is no period of deploy/config.json`);

  const wasm = readFileSync(wasmPath);
  checkInterface(fn.name, wasm);
  const deflated = await deflate(wasm);
  const payload = base85(deflated);
  const stagePayload = base85(stage0);
  const payloadChars = payload.length + stagePayload.length;
  const file = `${fn.name}.js`;
  const source = [
    handlerSource(fn, intervalMs),
    '// ---- generated by scripts/bundle.mjs: the settings, the deflated wasm and its inflater (base85), and the runtime (js-shim/function/runtime.js, bundled) ----',
    `const SETTINGS = ${JSON.stringify(SETTINGS)};`,
    `const WASM_SIZE = ${wasm.length};`,
    `const WASM_DEFLATED = "${payload}";`,
    `const INFLATE_WASM_SIZE = ${stage0.length};`,
    `const INFLATE_WASM = "${stagePayload}";`,
    'let runtime;',
    runtime,
    '',
  ].join('\n');
  writeFileSync(join(outDir, file), source);
  manifest.functions.push({ name: fn.name, file, type: fn.type, channels: fn.channels ?? null, intervalMs, path: null });

  // Inflate once here with the first stage, as the bundle will: proves the payload.
  if (Buffer.compare(Buffer.from(inflateWasm(payload, wasm.length, new Uint8Array(stage0))), wasm) !== 0) throw new Error(`${fn.name}: inflating the payload does not give the wasm back`);

  rows.push({
    file,
    raw: Buffer.byteLength(source),
    gzip: gzipSync(source, { level: 9 }).length,
    wasm: wasm.length,
    deflated: deflated.length,
    // Everything but the two base85 payloads: the handler, runtime, driver and constants.
    js: Buffer.byteLength(source) - payloadChars,
    // JS loop iterations of a cold start without a native TextEncoder: the payload copied into
    // the first stage one character each, the stage's own base85 4 bytes each (the rest is wasm's).
    loops: payload.length + Math.ceil(stage0.length / 4),
  });
}
writeFileSync(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');

const pad = (s, n) => String(s).padStart(n);
console.log(`\nSettings from ${CONFIG_PATH}: ${JSON.stringify(SETTINGS)}, On Interval every ${DEPLOY.onIntervalMs} ms (presence-settler every ${DEPLOY.settlerIntervalMs} ms)`);
console.log(`Deployable Functions in ${outDir} (PubNub's limit ${LIMIT} bytes of source each; budget ${BUDGET})`);
console.log(`${'file'.padEnd(24)}${pad('raw bytes', 10)}${pad('headroom', 10)}${pad('gzip', 8)}${pad('wasm', 8)}${pad('deflated', 10)}${pad('js', 7)}${pad('JS loops', 10)}  ≤ budget`);
for (const r of rows) {
  console.log(`${r.file.padEnd(24)}${pad(r.raw, 10)}${pad(BUDGET - r.raw, 10)}${pad(r.gzip, 8)}${pad(r.wasm, 8)}${pad(r.deflated, 10)}${pad(r.js, 7)}${pad(r.loops, 10)}  ${r.raw <= BUDGET ? 'yes' : 'NO'}`);
}
const over = rows.filter((r) => r.raw > BUDGET);
if (over.length) {
  const deployable = over.every((r) => r.raw <= LIMIT);
  console.error(`\n${over.map((r) => r.file).join(', ')} over the ${BUDGET}-byte budget${deployable ? '' : `, and over PubNub's ${LIMIT}-byte limit`}.`);
  process.exit(1);
}
