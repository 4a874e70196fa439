// What the Node tests share: where the built bundles are, the manifest, the bundles on the
// in-memory host with a clock the test moves, a message published as its user, the answers on a
// sender's inbox, and `until`. One copy of each, so a test reads as what it checks.
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadFunction, trigger } from '../../js-shim/dev/memory-host/load-function.mjs';
import { MemoryPubNub } from '../../js-shim/dev/memory-host/memory.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
export const FUNCTIONS_DIR = join(ROOT, 'pkg/functions');
export const MANIFEST = join(FUNCTIONS_DIR, 'manifest.json');
/** The tests' epoch: 2026-01-01T00:00:00Z. */
export const T0 = Date.UTC(2026, 0, 1);

let manifestRead;
/** The built manifest (`scripts/build`), read once. */
export const manifest = () => (manifestRead ??= JSON.parse(readFileSync(MANIFEST, 'utf8')));
/** The bundle file of Function `name`. */
export const fnFile = (name) => join(FUNCTIONS_DIR, manifest().functions.find((f) => f.name === name).file);

/**
 * The in-memory host with a clock of the test's own: `pn.now()` and every bundle loaded through
 * `fn` read `clock.now`. `users`: [id, name, custom?] put into App Context.
 */
export function memoryWorld(users = [], start = T0) {
  const clock = { now: start };
  const pn = new MemoryPubNub();
  pn.now = () => clock.now;
  for (const [id, name, custom] of users) pn.addUser(id, name, custom);
  return { pn, clock, advance: (ms) => { clock.now += ms; } };
}

/** Loads bundles by Function name, once each, on the clock `now()`. */
export function bundleLoader(now = () => T0) {
  const loaded = {};
  return async (name) => (loaded[name] ??= await loadFunction(fnFile(name), { now }));
}

/** Runs `fn` for `message` published on `channel` by `publisher`, on the in-memory host `pn`. */
export const publishAs = (fn, pn, channel, publisher, message) =>
  fn.run(trigger({ channels: [channel], params: { uuid: publisher }, message }), pn.execution());

/** Every `friend.command.result` on `sender`'s inbox (optionally only those for `eventId`), as messages. */
export const answersTo = (pn, sender, eventId) =>
  pn.published
    .filter((p) => p.channel === `inbox.${sender}` && p.message.type === 'friend.command.result' && (eventId === undefined || p.message.payload.eventId === eventId))
    .map((p) => p.message);

/** Polls `check` until it gives a truthy value, which it returns; throws after `ms` naming `what`. */
export async function until(check, ms = 5000, { step = 10, what = String(check) } = {}) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, step));
  }
}
