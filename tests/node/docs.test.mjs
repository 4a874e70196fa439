// The README is read in minutes, and every relative link in it and in docs/ (and the packages'
// own READMEs) resolves inside the repository: the file exists and, for `#anchor`, a heading
// with that GitHub anchor does. Nothing points outside the repository.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const README_BUDGET = 12 * 1024;
const DOCS = [
  'README.md',
  ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
  'js-shim/dev/local-pubnub/README.md',
  'js-shim/web/README.md',
  'pkg/web/README.md',
  'pkg/README.md',
].filter((f) => fs.existsSync(path.join(ROOT, f)));

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
export function anchorOf(heading) {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\- _]/gu, '').replace(/ /g, '-');
}

function anchors(file) {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8').replace(/```[\s\S]*?```/g, '');
  const seen = new Map();
  const out = new Set();
  for (const m of text.matchAll(/^#{1,6} (.+)$/gm)) {
    const base = anchorOf(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

/** Markdown links `[text](target)` outside code blocks and inline code. */
function links(file) {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8').replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]);
}

test('anchors follow GitHub\'s rule', () => {
  assert.equal(anchorOf('Auth server (`js-shim/auth/`)'), 'auth-server-js-shimauth');
  assert.equal(anchorOf('Sizing: `deploy/config.json`'), 'sizing-deployconfigjson');
  assert.equal(anchorOf('2. Probe the keyset: can it run the bundles at all?'), '2-probe-the-keyset-can-it-run-the-bundles-at-all');
});

test(`README.md is at most ${README_BUDGET} bytes`, () => {
  const size = fs.statSync(path.join(ROOT, 'README.md')).size;
  assert.ok(size <= README_BUDGET, `README.md is ${size} bytes`);
});

test('every relative link in the README and docs/ resolves inside the repository', () => {
  const broken = [];
  for (const file of DOCS) {
    for (const target of links(file)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
        assert.ok(/^(https?|mailto):/.test(target), `${file}: ${target}`);
        continue;
      }
      const [rel, frag] = target.split('#');
      const resolved = rel ? path.resolve(path.dirname(path.join(ROOT, file)), decodeURI(rel)) : path.join(ROOT, file);
      if (!resolved.startsWith(ROOT + path.sep) && resolved !== ROOT) {
        broken.push(`${file}: ${target} points outside the repository`);
        continue;
      }
      if (!fs.existsSync(resolved)) {
        broken.push(`${file}: ${target} does not exist`);
        continue;
      }
      if (frag && resolved.endsWith('.md') && !anchors(path.relative(ROOT, resolved)).has(frag)) broken.push(`${file}: ${target} has no such heading`);
    }
  }
  assert.deepEqual(broken, []);
});

test('no doc names a path outside the repository', () => {
  for (const file of DOCS) {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    assert.doesNotMatch(text, /\.\.\/shared\b|\/work\/|seed §|the issue's/, file);
  }
});
