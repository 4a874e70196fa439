import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { client, destroyAll, startServer } from './helpers.mjs';
import { compileFilter, likeMatch } from '../../../js-shim/dev/local-pubnub/filter.mjs';

// What LIKE means (`*` any run, case-insensitive, everything else literal), as a regex: the
// oracle for small inputs only — on long inputs this very regex is what backtracked exponentially.
const oracle = (p, s) =>
  new RegExp('^' + p.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$', 'is').test(s);

test('LIKE: wildcard semantics, case-insensitive, regex characters are literal', () => {
  const cases = [
    ['*', '', true], ['', '', true], ['', 'a', false], ['a', 'A', true], ['a*', 'abc', true], ['*c', 'abc', true],
    ['a*c', 'ac', true], ['a*c', 'abdc', true], ['a*c', 'abcd', false], ['*b*', 'abc', true], ['*b*', 'ac', false],
    ['a**b', 'ab', true], ['ab*ba', 'aba', false], ['ab*ba', 'abba', true], ['a.c', 'abc', false], ['a.c', 'a.c', true],
    ['(x)+', '(X)+', true], ['*aa*aa', 'aaa', false], ['*aa*aa', 'aaaa', true], ['friends.*', 'friends.alice', true],
  ];
  for (const [p, s, want] of cases) assert.equal(likeMatch(p, s), want, `${JSON.stringify(p)} LIKE ${JSON.stringify(s)}`);
  // Random small patterns against the regex oracle.
  let seed = 7;
  const rnd = (n) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const word = (alpha, n) => Array.from({ length: rnd(n) }, () => alpha[rnd(alpha.length)]).join('');
  for (let i = 0; i < 3000; i++) {
    const p = word('aAb**', 8), s = word('abB', 10);
    assert.equal(likeMatch(p, s), oracle(p, s), `${JSON.stringify(p)} LIKE ${JSON.stringify(s)}`);
  }
});

test('LIKE does not backtrack: 200 wildcards against a 10 KB string search each segment once', () => {
  const text = 'a'.repeat(10_000);
  const pattern = '*a'.repeat(200) + '*b';
  const stats = { searches: 0 };
  assert.equal(likeMatch(pattern, text, stats), false);
  assert.ok(stats.searches <= 201, `at most one search per segment (${stats.searches})`);
  const hit = { searches: 0 };
  assert.equal(likeMatch(pattern, text + 'B', hit), true);
  assert.ok(hit.searches <= 201);
  // Through the compiled filter too (App Context `filter` and subscribe `filter-expr` share it).
  assert.equal(compileFilter(`name LIKE "${pattern}"`)({ name: text }), false);
});

let srv;
before(async () => (srv = await startServer()));
after(async () => (destroyAll(), await srv.close()));

test('App Context filter with many wildcards against long names answers promptly', async () => {
  const pn = client('v11', srv, 'admin');
  for (let i = 0; i < 3; i++) await pn.objects.setUUIDMetadata({ uuid: `like-${i}`, data: { name: 'a'.repeat(40) + i } });
  // Ten wildcards against 40-character names: the old regex took seconds per record.
  const r = await pn.objects.getAllUUIDMetadata({ filter: `name LIKE "${'*a'.repeat(10)}*b"` });
  assert.deepEqual(r.data, []);
  const hit = await pn.objects.getAllUUIDMetadata({ filter: `name LIKE "${'*a'.repeat(10)}*1"` });
  assert.deepEqual(hit.data.map((u) => u.id), ['like-1']);
});
