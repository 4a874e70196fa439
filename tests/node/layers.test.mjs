// The crate's layers form a DAG: domain ← core ← host ← handlers ← wasm, with client beside
// handlers. A file may name only its own layer and the layers below it, and no two domain files
// import each other. Read from the source (comments left out), so an upward `use` fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');
const LAYERS = ['domain', 'core', 'host', 'handlers', 'client', 'wasm'];
/** What each layer may name besides itself. */
const BELOW = {
  domain: [],
  core: ['domain'],
  host: ['domain', 'core'],
  handlers: ['domain', 'core', 'host'],
  client: ['domain', 'core'],
  wasm: ['domain', 'core', 'host', 'handlers', 'client'],
};

function files(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.rs') ? [path.join(dir, e.name)] : []));
}

/** Source without comments (line and block), so a doc comment naming a layer is no import. */
function code(file) {
  return fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
}

/** `crate::layer` names used in `text`, and (for domain files) the sibling modules it uses. */
export function references(text) {
  const layers = new Set([...text.matchAll(/\bcrate::(\w+)/g)].map((m) => m[1]).filter((l) => LAYERS.includes(l)));
  const siblings = new Set([...text.matchAll(/\b(?:super|crate::domain)::(\w+)/g)].map((m) => m[1]));
  return { layers, siblings };
}

test('the reference reader sees uses and skips comments', () => {
  const { layers, siblings } = references(code(writeTemp('use crate::host::X; // crate::wasm\n/// crate::client\nfn f() { super::ids::parse(); }')));
  assert.deepEqual([...layers], ['host']);
  assert.deepEqual([...siblings], ['ids']);
});

function writeTemp(text) {
  const file = path.join(fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'layers-')), 'x.rs');
  fs.writeFileSync(file, text);
  return file;
}

test('no layer imports a layer above it', () => {
  const upward = [];
  for (const layer of LAYERS) {
    for (const file of files(path.join(SRC, layer))) {
      for (const used of references(code(file)).layers) {
        if (used !== layer && !BELOW[layer].includes(used)) upward.push(`${path.relative(SRC, file)} uses crate::${used}`);
      }
    }
  }
  assert.deepEqual(upward, []);
});

test('no two domain files import each other', () => {
  const dir = path.join(SRC, 'domain');
  const uses = new Map();
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.rs') && f !== 'mod.rs')) {
    uses.set(file.replace(/\.rs$/, ''), references(code(path.join(dir, file))).siblings);
  }
  for (const sub of fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory())) {
    const text = files(path.join(dir, sub.name)).map((f) => code(f).replace(/\bsuper::/g, 'self::')).join('\n');
    uses.set(sub.name, references(text).siblings);
  }
  const mutual = [];
  for (const [a, used] of uses) for (const b of used) if (b !== a && uses.get(b)?.has(a) && a < b) mutual.push(`${a} ↔ ${b}`);
  assert.deepEqual(mutual, []);
});
