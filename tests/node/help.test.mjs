// Every script's --help (and -h) on a fresh clone: the repository's files alone, copied to a
// temp dir without node_modules/, pkg/ build output or target/, must print the script's usage
// and exit 0 without installing or building anything. PATH holds node and the system's tools
// but not cargo/rustup, so a script that went on to scripts/setup or scripts/build fails fast
// instead of installing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Every script a user runs (the .mjs files behind them are not run directly).
const SCRIPTS = fs
  .readdirSync(path.join(ROOT, 'scripts'))
  .filter((f) => !f.includes('.'))
  .sort();

let clone;
before(() => {
  clone = fs.mkdtempSync(path.join(os.tmpdir(), 'fp-fresh-clone-'));
  // What a clone has: tracked files and new ones not ignored, as they are in the work tree.
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f && fs.existsSync(path.join(ROOT, f)));
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(clone, f)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, f), path.join(clone, f));
    fs.chmodSync(path.join(clone, f), fs.statSync(path.join(ROOT, f)).mode);
  }
});
after(() => fs.rmSync(clone, { recursive: true, force: true }));

const built = () => ['node_modules', 'target', 'pkg/functions', 'pkg/web'].filter((d) => fs.existsSync(path.join(clone, d)));

test('the fresh clone has nothing installed or built, and no node_modules above it', () => {
  assert.deepEqual(built(), []);
  for (let dir = path.dirname(clone); ; dir = path.dirname(dir)) {
    assert.ok(!fs.existsSync(path.join(dir, 'node_modules')), `${dir}/node_modules would let packages resolve`);
    if (dir === path.dirname(dir)) break;
  }
  assert.ok(SCRIPTS.includes('dev') && SCRIPTS.length >= 13, `scripts: ${SCRIPTS}`);
});

for (const name of SCRIPTS) {
  for (const flag of ['--help', '-h']) {
    test(`scripts/${name} ${flag} prints its usage and exits 0 on a fresh clone`, () => {
      const out = spawnSync(path.join(clone, 'scripts', name), [flag], {
        cwd: clone,
        encoding: 'utf8',
        timeout: 20_000,
        env: { PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`, HOME: clone },
      });
      assert.equal(out.status, 0, `exit ${out.status} ${out.signal ?? ''}\n${out.stderr}`);
      assert.match(out.stdout, new RegExp(`^usage: (scripts/)?${name}\\b`), out.stdout);
      assert.equal(out.stderr, '');
      assert.deepEqual(built(), [], 'nothing installed or built');
    });
  }
}
