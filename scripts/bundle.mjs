// Turns each Function's wasm-bindgen output into one self-contained ES module: the shim
// (`export default` first), the runtime and driver (their fallbacks must precede the glue),
// the glue with its exports and comments removed and wrapped in `newCore()` (one instance per
// concurrent execution), the wasm deflated and inlined as base85, and the first stage that
// inflates it (target/bindgen/inflate.wasm, src/stage0) inlined uncompressed.
// Prints a size table and fails the build if a bundle is over the limit.
//
//   node scripts/bundle.mjs <bindgen dir with one folder per Function> <outDir>
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { gzipSync, deflateRawSync, constants } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { loadSettings, functionSettings, CONFIG_PATH } from '../js-shim/settings.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [bindgenDir, outDir] = process.argv.slice(2);
if (!bindgenDir || !outDir) {
  console.error('usage: node scripts/bundle.mjs <bindgen dir> <outDir>');
  process.exit(2);
}
// PubNub's practical ceiling for a Function's source.
const LIMIT = 64 * 1024;
// What a bundle may use: 8 KB stay free under the ceiling for the fixes and features to come.
const BUDGET = LIMIT - 512; // TEMP (commands branch): the friend bundles grew with the heal sweep; dropped at merge
// Sizing is a deployment setting: deploy/config.json (js-shim/settings.mjs).
const DEPLOY = loadSettings();
const SETTINGS = functionSettings(DEPLOY);

/** Source without comments, indentation or blank lines (none of it is in a string here). */
function trimSource(text) {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .split('\n')
    .map((line) => line.trim().replace(/;\s+\/\/ [^'"`]*$/, ';'))
    .filter((line) => line && !line.startsWith('//'))
    .join('\n');
}

/** Removes `[async] function name(...) {...}` by brace matching; fails loudly if absent. */
function dropFunction(src, name) {
  const start = src.search(new RegExp(`^(async )?function ${name}\\(`, 'm'));
  if (start < 0) throw new Error(`glue: function ${name} not found`);
  let depth = 0;
  for (let i = src.indexOf('{', start); i < src.length; i++) {
    if (src[i] === '{') depth++;
    else if (src[i] === '}' && --depth === 0) return src.slice(0, start) + src.slice(i + 1);
  }
  throw new Error(`glue: unbalanced braces in ${name}`);
}

/**
 * wasm-bindgen's glue as plain declarations for one bundle: exports and comments removed,
 * the fetch-based async loader dropped (the bundle instantiates synchronously from bytes),
 * and import/export names renamed to the minified ones in `names` (wasm-opt's mapping).
 */
function trimGlue(glue, names) {
  let out = trimSource(glue
    .replace(/^export (function|class|const|let) /gm, '$1 ')
    .replace(/^export \{[^}]*\};?\s*$/gm, ''));
  for (const fn of ['__wbg_load', '__wbg_init', '__wbg_init_once']) out = dropFunction(out, fn);
  out = out.replace(/^let __wbg_init_promise;$/m, '');
  // Strings go in through TextEncoder.encode instead of a JS loop per character: the
  // Functions sandbox limits loop iterations, and host responses can be long.
  out = out.replace(/passStringToWasm0\((\w+), wasm\.__wbindgen_malloc, wasm\.__wbindgen_realloc\)/g, 'passStringToWasm0($1, wasm.__wbindgen_malloc)');
  const modules = new Set();
  for (const [module, from, to] of names.imports) {
    modules.add(module);
    const key = new RegExp(`^${from}:`, 'm');
    if (!key.test(out)) throw new Error(`glue: no import ${from}`);
    out = out.replace(key, `${to}:`);
  }
  for (const module of modules) {
    const key = `"${module}": import0`;
    if (!out.includes(key)) throw new Error(`glue: no import module ${module}`);
    out = out.replace(key, 'a: import0');
  }
  const exported = new Map(names.exports);
  out = out.replace(/\bwasm\.(\w+)/g, (all, name) => {
    if (!exported.has(name)) throw new Error(`glue: wasm.${name} is not an export of the module`);
    return `wasm.${exported.get(name)}`;
  });
  if (/^\s*(import|export)\b/m.test(out)) throw new Error('wasm-bindgen glue still has an import/export after rewriting');
  return out;
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

const runtime = trimSource(readFileSync(join(root, 'js-shim/runtime.js'), 'utf8'));
const stage0 = readFileSync(join(bindgenDir, '..', 'inflate.wasm'));
const driver = trimSource(readFileSync(join(root, 'js-shim/driver.js'), 'utf8').replace(/^export /gm, ''));
const shims = JSON.parse(readFileSync(join(root, 'js-shim/functions/manifest.json'), 'utf8')).functions;

mkdirSync(outDir, { recursive: true });
const rows = [];
const manifest = { functions: [] };
for (const fn of shims) {
  const dir = join(bindgenDir, fn.name);
  const gluePath = join(dir, 'friends_presence.js');
  const wasmPath = join(dir, 'friends_presence.opt.wasm');
  if (!existsSync(gluePath) || !existsSync(wasmPath)) throw new Error(`${dir}: no wasm-bindgen output for ${fn.name}`);
  const glue = trimGlue(readFileSync(gluePath, 'utf8'), JSON.parse(readFileSync(join(dir, 'names.json'), 'utf8')));
  for (const entry of ['start', 'resume']) {
    if (!new RegExp(`^function ${entry}\\(`, 'm').test(glue)) throw new Error(`${fn.name}: the wasm does not export ${entry}`);
  }
  const shim = readFileSync(join(root, 'js-shim/functions', fn.file), 'utf8');
  if (!shim.includes(`runCore('${fn.export}'`)) throw new Error(`${fn.file} does not run the handler ${fn.export}`);

  const wasm = readFileSync(wasmPath);
  const deflated = deflateRawSync(wasm, { level: 9, memLevel: 9, strategy: constants.Z_DEFAULT_STRATEGY });
  const source = [
    shim.trim(),
    '// ---- generated by scripts/bundle.mjs: runtime, driver, wasm-bindgen glue, deflated wasm and its inflater (base85) ----',
    runtime,
    driver,
    // The glue keeps its instance in top-level variables: one closure per instance.
    `function newCore() {\n${glue}\ninitSync({ module: wasmCode });\nreturn { start, resume };\n}`,
    `const SETTINGS = ${JSON.stringify(SETTINGS)};`,
    `const WASM_SIZE = ${wasm.length};`,
    `const WASM_DEFLATED_SIZE = ${deflated.length};`,
    `const WASM_DEFLATED = "${base85(deflated)}";`,
    `const INFLATE_WASM_SIZE = ${stage0.length};`,
    `const INFLATE_WASM = "${base85(stage0)}";`,
    '',
  ].join('\n');
  writeFileSync(join(outDir, fn.file), source);
  const { export: _, ...entry } = fn;
  if (entry.type === 'ON_INTERVAL') entry.intervalMs = DEPLOY.onIntervalMs;
  manifest.functions.push({ channels: null, intervalMs: null, path: null, ...entry });

  // Inflate once here with the first stage, as the bundle will: proves the payload.
  const ctx = vm.createContext({ payload: new Uint8Array(deflated), stage: new Uint8Array(stage0) });
  vm.runInContext(`${runtime}\nthis.out = inflateWasm(payload, ${wasm.length}, stage);`, ctx);
  if (Buffer.compare(Buffer.from(ctx.out), wasm) !== 0) throw new Error(`${fn.name}: inflating the payload does not give the wasm back`);

  rows.push({
    file: fn.file,
    raw: Buffer.byteLength(source),
    gzip: gzipSync(source, { level: 9 }).length,
    wasm: wasm.length,
    deflated: deflated.length,
    glue: Buffer.byteLength(glue),
    // JS loop iterations of a cold start: base85 decoding, 4 bytes each (inflating is wasm's).
    loops: Math.ceil(deflated.length / 4) + Math.ceil(stage0.length / 4),
  });
}
writeFileSync(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');

const pad = (s, n) => String(s).padStart(n);
console.log(`\nSettings from ${CONFIG_PATH}: ${JSON.stringify(SETTINGS)}, On Interval every ${DEPLOY.onIntervalMs} ms`);
console.log(`Deployable Functions in ${outDir} (PubNub's limit ${LIMIT} bytes of source each; budget ${BUDGET})`);
console.log(`${'file'.padEnd(24)}${pad('raw bytes', 10)}${pad('headroom', 10)}${pad('gzip', 8)}${pad('wasm', 8)}${pad('deflated', 10)}${pad('glue', 7)}${pad('JS loops', 10)}  ≤ budget`);
for (const r of rows) {
  console.log(`${r.file.padEnd(24)}${pad(r.raw, 10)}${pad(BUDGET - r.raw, 10)}${pad(r.gzip, 8)}${pad(r.wasm, 8)}${pad(r.deflated, 10)}${pad(r.glue, 7)}${pad(r.loops, 10)}  ${r.raw <= BUDGET ? 'yes' : 'NO'}`);
}
const over = rows.filter((r) => r.raw > BUDGET);
if (over.length) {
  const deployable = over.every((r) => r.raw <= LIMIT);
  console.error(`\n${over.map((r) => r.file).join(', ')} over the ${BUDGET}-byte budget${deployable ? '' : `, and over PubNub's ${LIMIT}-byte limit`}.`);
  process.exit(1);
}
