// The subscribe plan in Node: the web client core (pkg/web, built by scripts/build) loaded from
// disk, so the auth service derives shard and channels with the very code the clients run, and
// refuses the user ids the Functions refuse, with the same reasons.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadSettings } from '../../settings.mjs';

const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../pkg/web');
let ready;

/**
 * Resolves to `planFor(userId)` → {userId, shard, presenceChannel, channels, groups} or {error},
 * for the deployment's shard count (deploy/config.json): a token for another shard than the one
 * the Functions and clients compute would leave the user unable to be present.
 */
export function loadPlanner({ shardCount = loadSettings().shardCount } = {}) {
  ready ??= (async () => {
    const wasm = path.join(WEB, 'friends_presence_bg.wasm');
    if (!fs.existsSync(wasm)) throw new Error('pkg/web is missing: run scripts/build');
    const web = await import(pathToFileURL(path.join(WEB, 'index.js')).href);
    await web.default({ module_or_path: fs.readFileSync(wasm) });
    return web;
  })();
  return ready.then((web) => (userId) => (typeof userId === 'string' ? web.subscribePlan(userId, { shardCount }) : { error: 'user id must be a string' }));
}
