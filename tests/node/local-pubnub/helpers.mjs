import { spawn } from 'node:child_process';
// Shared test helpers: start a server with fast timers, build real SDK clients (v10, v11, v12), and
// wait for listener events without fixed sleeps.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import PubNub10 from 'pubnub10';
import PubNub11 from 'pubnub11';
import PubNub12 from 'pubnub12';
import { startLocalPubNub } from '../../../js-shim/dev/local-pubnub/index.mjs';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../../..');
export const SDKS = { v10: PubNub10, v11: PubNub11, v12: PubNub12 };

const PRODUCTION_MANIFEST = path.join(ROOT, 'pkg/functions/manifest.json');

/**
 * Start a server whose log lines go to `srv.lines` instead of stdout. A server hosting the built
 * Functions gets the production keyset's presence rule too (README, keyset configuration; as
 * scripts/dev): presence on `presence.shard-*` only, without `state-change` events.
 */
export async function startServer(opts = {}) {
  const lines = [];
  const production = opts.functions === PRODUCTION_MANIFEST ? { presenceChannels: [{ pattern: 'presence.shard-*', events: ['join', 'leave', 'timeout', 'interval'] }] } : {};
  const srv = await startLocalPubNub({ sweepMs: 50, log: (l) => lines.push(l), ...production, ...opts });
  srv.lines = lines;
  return srv;
}

export function tmpDir(prefix = 'local-pubnub-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A real SDK client pointed at the server; `destroyAll()` tears every client down. */
const clients = [];
export function client(sdk, srv, userId, extra = {}) {
  const PN = SDKS[sdk];
  const pn = new PN({
    publishKey: 'pub-c-test',
    subscribeKey: 'sub-c-test',
    userId,
    origin: srv.origin,
    ssl: false,
    keepAlive: false,
    ...extra,
  });
  clients.push(pn);
  return pn;
}
export function destroyAll() {
  for (const pn of clients.splice(0)) {
    try {
      pn.removeAllListeners?.();
      pn.destroy(true);
    } catch {
      // already torn down
    }
  }
}

/** Collect listener events; `next(kind, pred)` resolves with the first matching one (seen or future). */
export function events(pn) {
  const seen = { message: [], presence: [], signal: [], status: [], objects: [] };
  const waiters = [];
  const push = (kind) => (e) => {
    seen[kind].push(e);
    for (const w of [...waiters]) if (w.kind === kind && w.pred(e)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(e));
  };
  pn.addListener(Object.fromEntries(Object.keys(seen).map((k) => [k, push(k)])));
  return {
    seen,
    next(kind, pred = () => true, ms = 4000) {
      const hit = seen[kind].find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const w = { kind, pred, resolve };
        waiters.push(w);
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no ${kind} event within ${ms} ms; seen ${JSON.stringify(seen[kind].map(brief))}`));
        }, ms);
        const res = w.resolve;
        w.resolve = (e) => (clearTimeout(t), res(e));
      });
    },
  };
}
const brief = (e) => ({ channel: e.channel, action: e.action, uuid: e.uuid, message: e.message, category: e.category });

/** Resolve once the SDK reports it is connected. */
export function connected(ev) {
  return ev.next('status', (s) => s.category === 'PNConnectedCategory');
}

export { until } from '../helpers.mjs';

/** Plain HTTP GET/other against the server → {status, headers, json, text}. */
export async function http(srv, pathAndQuery, init = {}) {
  const res = await fetch(srv.url + pathAndQuery, init);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** scripts/local-pubnub as a process; resolves with {child, srv: {origin, url}} once it printed its URL. */
export function runCli(args) {
  const child = spawn(path.join(ROOT, 'scripts/local-pubnub'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^http:\/\/([\d.]+:\d+)\n/);
      if (m) resolve({ child, srv: { origin: m[1], url: `http://${m[1]}` } });
    });
    child.on('exit', (code) => reject(new Error(`local-pubnub exited ${code}: ${out}`)));
  });
}
