// scripts/deploy --probe: finds out, on the keyset itself, the platform facts the bundles stand
// on and no PubNub page settles (docs/deploy.md, "The probe"). It deploys a throwaway package:
// an On Request probe Function (probe-function.js on a real bundle's generated code) that it
// calls, and revisions that try the largest bundle, a package of as many Functions as the
// manifest has, and On Interval periods. Everything is found from PubNub's own behaviour — a
// missing global, a refused op, a refused upload — and everything created is removed at the end.
// `verdict()` turns the findings into which Functions can run and what to change.
import { randomBytes } from 'node:crypto';
import { AdminClient, DEFAULT_ORIGIN, readBundles } from './deploy.mjs';
import { probeSource } from './probe-bundle.mjs';

/** On Interval periods tried, shortest first; the first accepted is the platform's minimum (of these). */
export const INTERVALS_MS = [1000, 2000, 5000, 10000, 30000, 60000];
const TINY = 'export default (request) => request.ok();';

/** Runs the probe against the keyset; prints the findings and the verdict. Returns {findings, verdict}. */
export async function probe(o) {
  const log = o.log ?? console.log;
  if (!o.keysetId) throw new Error('--keyset-id is required (or PUBNUB_KEYSET_ID): the numeric id of the keyset to probe');
  if (!o.apiKey) throw new Error('an Admin API key is required in PUBNUB_API_KEY');
  const bundles = readBundles(o.manifest, { limit: false });
  const api = new AdminClient({ ...o, log: o.verbose ? log : () => {} });
  const tag = randomBytes(4).toString('hex');
  const name = `fp-probe-${tag}`;
  const keysetId = /^\d+$/.test(String(o.keysetId)) ? Number(o.keysetId) : String(o.keysetId);
  const findings = {};
  log(`probe: keyset ${o.keysetId} at ${api.origin}, throwaway package ${name}`);

  const keyset = await api.request('GET', `/v2/keysets/${encodeURIComponent(o.keysetId)}`);
  const subscribeKey = o.subscribeKey ?? keyset.subscribeKey;
  const network = (o.pubnubOrigin ?? (api.origin === DEFAULT_ORIGIN ? 'https://ps.pndsn.com' : api.origin)).replace(/\/$/, '');

  // The probe on the largest bundle; if that size is refused, on the smallest.
  const bySize = [...bundles].sort((a, b) => b.bytes - a.bytes);
  let pkg;
  const refusedProbes = [];
  for (const base of [bySize[0], bySize.at(-1)]) {
    const code = probeSource(base.code);
    const fn = { name: 'probe', language: 'JAVASCRIPT', type: 'ON_REQUEST', sortOrder: 0, code, config: { type: 'ON_REQUEST', path: name } };
    try {
      pkg = (await api.request('POST', '/v2/faas/packages', { body: { name, revisionName: 'probe', functions: [fn], description: 'friends-presence probe (scripts/deploy --probe); removed when it ends', apiManaged: true } })).data;
      findings.upload = { ok: true, on: base.file, bytes: Buffer.byteLength(code) };
      break;
    } catch (e) {
      if (!e.status) throw e;
      refusedProbes.push(`${base.file} (${Buffer.byteLength(code)} bytes): ${e.message}`);
    }
  }
  if (!pkg) {
    findings.upload = { ok: false, refused: refusedProbes };
    log(`probe: the probe package was refused: ${refusedProbes.join('; ')}`);
    const v = verdict(findings, bundles);
    printVerdict(log, v);
    return { findings, verdict: v };
  }
  let deployment;
  try {
    findings.size = await trySizes(api, pkg.id, bySize);
    findings.functions = await tryFunctionCount(api, pkg.id, bundles.length);
    findings.interval = await tryIntervals(api, pkg.id);

    const [revision] = (await api.list(`/v2/faas/packages/${pkg.id}/package-revisions`)).filter((r) => r.name === 'probe');
    deployment = (await api.request('POST', '/v2/faas/package-deployments', { body: { packageRevisionId: revision.id, keysetId } })).data;
    await api.request('POST', `/v2/faas/package-deployments/${deployment.id}/function-deployments`);
    const url = `${network}/v1/blocks/sub-key/${encodeURIComponent(subscribeKey)}/${name}`;
    const call = callProbe(url, o.liveWaitMs ?? 60_000);
    // A call that never answers (the deployment not live, an execution ended by the platform)
    // leaves its findings undetermined rather than ending the probe.
    const attempt = async (what, run) => {
      try {
        await run();
      } catch (e) {
        if (e.status !== undefined) throw e;
        (findings.unanswered ??= []).push(`${what}: ${e.message}`);
      }
    };
    await attempt('the sandbox check', async () => {
      const envs = [];
      for (let i = 0; i < 3; i++) envs.push(await call('env'));
      findings.env = envs[0];
      findings.globals = globalsFrom(envs);
    });
    await attempt('the op budget check (an execution that goes over its budget may be ended: see the Function\'s log)', async () => {
      findings.ops = (await call('ops')).ops;
    });
    await attempt('the concurrency check', async () => {
      const waits = await Promise.all(Array.from({ length: 8 }, () => call('wait')));
      findings.concurrency = { calls: waits.length, maxActive: Math.max(...waits.map((w) => w.maxActive ?? 1)), instances: new Set(waits.map((w) => w.instance)).size };
    });
  } finally {
    await cleanUp(api, log, pkg, deployment);
  }
  const v = verdict(findings, bundles);
  printFindings(log, findings);
  printVerdict(log, v);
  return { findings, verdict: v };
}

/** GET the probe with ?check=…; retries while the deployment is not yet live (404, 5xx). */
function callProbe(url, liveWaitMs) {
  const until = Date.now() + liveWaitMs;
  return async function call(check) {
    for (;;) {
      let res;
      try {
        res = await fetch(`${url}?check=${check}`);
      } catch (e) {
        throw new Error(`cannot reach ${new URL(url).origin}: ${e.cause?.code ?? e.message}`);
      }
      const text = await res.text();
      if (res.ok) return JSON.parse(text);
      if (Date.now() > until) throw new Error(`the probe did not answer at ${url} (HTTP ${res.status}: ${text.slice(0, 200)})`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
}

/** Whether module globals outlived an execution: the same module instance counted on. */
function globalsFrom(envs) {
  const byInstance = new Map();
  for (const e of envs) byInstance.set(e.instance, Math.max(byInstance.get(e.instance) ?? 0, e.executions));
  const persisted = [...byInstance.values()].some((n) => n > 1);
  return { calls: envs.length, instances: byInstance.size, persisted };
}

/** Revisions of one bundle each, largest first, until one is accepted. */
async function trySizes(api, packageId, bySize) {
  const refused = [];
  for (const b of bySize) {
    const fn = { name: 'size', language: 'JAVASCRIPT', type: 'AFTER_PUBLISH', sortOrder: 0, code: b.code, config: { type: 'AFTER_PUBLISH', inputChannel: `fp-probe-size.${b.name}` } };
    try {
      await api.request('POST', '/v2/faas/package-revisions', { body: { packageId, name: `size-${b.name}`, functions: [fn] } });
      return { largestAccepted: b.bytes, acceptedFile: b.file, refused };
    } catch (e) {
      if (!e.status) throw e;
      refused.push({ file: b.file, name: b.name, bytes: b.bytes, why: e.message });
    }
  }
  return { largestAccepted: null, refused };
}

/** A revision of `n` tiny Functions; if refused, the largest count accepted (binary search). */
async function tryFunctionCount(api, packageId, n) {
  const attempt = async (k) => {
    const functions = Array.from({ length: k }, (_, i) => ({
      name: `f${i}`, language: 'JAVASCRIPT', type: 'AFTER_PUBLISH', sortOrder: i, code: TINY, config: { type: 'AFTER_PUBLISH', inputChannel: `fp-probe-count.${i}` },
    }));
    try {
      await api.request('POST', '/v2/faas/package-revisions', { body: { packageId, name: `count-${k}`, functions } });
      return { ok: true };
    } catch (e) {
      if (!e.status) throw e;
      return { ok: false, why: e.message };
    }
  };
  const first = await attempt(n);
  if (first.ok) return { tried: n, accepted: true, max: n };
  let lo = 0; // largest accepted so far
  let hi = n; // smallest refused
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if ((await attempt(mid)).ok) lo = mid;
    else hi = mid;
  }
  return { tried: n, accepted: false, max: lo, why: first.why };
}

/** On Interval periods, shortest first, until one is accepted. */
async function tryIntervals(api, packageId) {
  const refused = [];
  for (const ms of INTERVALS_MS) {
    const fn = { name: 'interval', language: 'JAVASCRIPT', type: 'ON_INTERVAL', sortOrder: 0, code: TINY, config: { type: 'ON_INTERVAL', intervalMs: ms } };
    try {
      await api.request('POST', '/v2/faas/package-revisions', { body: { packageId, name: `interval-${ms}`, functions: [fn] } });
      return { minAccepted: ms, refused };
    } catch (e) {
      if (!e.status) throw e;
      refused.push({ ms, why: e.message });
    }
  }
  return { minAccepted: null, refused };
}

async function cleanUp(api, log, pkg, deployment) {
  const steps = [];
  if (deployment) {
    steps.push(['stop the probe', 'DELETE', `/v2/faas/package-deployments/${deployment.id}/function-deployments`]);
    steps.push(['remove its deployment', 'DELETE', `/v2/faas/package-deployments/${deployment.id}`]);
  }
  steps.push([`remove package ${pkg.name}`, 'DELETE', `/v2/faas/packages/${pkg.id}`]);
  for (const [what, method, p] of steps) {
    try {
      await api.request(method, p);
    } catch (e) {
      log(`probe: could not ${what} (${e.message}); remove it in the Admin Portal (Functions → ${pkg.name})`);
    }
  }
}

/** 'current' (10 each), 'legacy' (3 combined), 'higher', or 'other', from what one execution managed. */
export function budgetOf(ops) {
  const { kv, publish, api } = ops;
  if (kv.ok + publish.ok + api.ok === 3 && kv.refused) return 'legacy';
  if (kv.ok === 10 && publish.ok === 10 && api.ok === 10 && kv.refused && publish.refused && api.refused) return 'current';
  if (kv.ok >= 10 && publish.ok >= 10 && api.ok >= 10) return 'higher';
  return 'other';
}

/**
 * Which Functions can run on the keyset, from the findings: {blocked: Map name → [reasons],
 * changes: [what to do], notes: [facts that block nothing], undetermined: [what could not be probed]}.
 */
export function verdict(f, bundles) {
  const blocked = new Map(bundles.map((b) => [b.name, []]));
  const all = (why) => bundles.forEach((b) => blocked.get(b.name).push(why));
  const changes = [];
  const notes = [];
  const undetermined = [];
  if (!f.upload?.ok) {
    undetermined.push(`the probe Function itself was refused (${(f.upload?.refused ?? []).join('; ')}): nothing in the sandbox could be checked`);
  }
  for (const u of f.unanswered ?? []) undetermined.push(`the probe did not answer ${u}`);
  if (f.env) {
    if (f.env.webAssembly !== 'object') {
      all(`the sandbox has no WebAssembly (typeof WebAssembly is "${f.env.webAssembly}"), and every Function runs its core as wasm`);
      changes.push('WebAssembly: ask PubNub support to enable WebAssembly in Functions for this keyset; nothing else can run these bundles');
    } else if (!f.env.wasm?.instantiated) {
      all(`the bundles' wasm does not instantiate: ${f.env.wasm?.error}`);
      changes.push(`wasm instantiation failed (${f.env.wasm?.error}): report it with this output`);
    }
    if (!f.env.codecRoundTrip) {
      all(`text encoding fails in the sandbox (${f.env.codecError ?? 'a UTF-8 round trip changed the text'})`);
      changes.push('text codecs: the bundles\' fallbacks (js-shim/function/runtime.js) need escape/unescape and encodeURIComponent: report it with this output');
    }
    notes.push(`text codecs: TextEncoder ${f.env.textEncoder === 'function' ? 'native' : 'absent, the bundles\' fallback in use'}, TextDecoder ${f.env.textDecoder === 'function' ? 'native' : 'absent, the bundles\' fallback in use'}; UTF-8 round trip ${f.env.codecRoundTrip ? 'ok' : 'FAILED'}`);
  }
  if (f.ops) {
    const budget = budgetOf(f.ops);
    const seen = `KV ${f.ops.kv.ok}, publish ${f.ops.publish.ok}, API ${f.ops.api.ok} before the first refusal`;
    if (budget === 'legacy') {
      for (const b of bundles)
        blocked.get(b.name).push(b.name === 'friend-acceptance'
          ? 'the keyset enforces the older budget of 3 ops combined per execution; an acceptance needs 5 KV + 1 publish, so no friendship can ever be made'
          : 'the keyset enforces the older budget of 3 ops combined per execution; the Functions are built for 10 KV + 10 publish + 10 API each and are not supported under 3 combined');
      changes.push('op budget: 3 combined is not supported (opsLimit 3 is refused by the build); ask PubNub support to move the keyset to the current budget of 10 each');
    } else if (budget === 'other') {
      all(`the op budget is below the 10 KV + 10 publish + 10 API per execution the Functions are built for (${seen})`);
      changes.push(`op budget: ${seen}; ask PubNub support which budget applies to this keyset`);
    }
    notes.push(`op budget: ${budget === 'legacy' ? '3 combined' : budget === 'current' ? '10 each' : budget === 'higher' ? 'more than 10 each (none refused)' : 'unusual'} (${seen})`);
  }
  if (f.size) {
    for (const r of f.size.refused) {
      blocked.get(r.name).push(`its ${r.bytes}-byte source was refused (${r.why})`);
    }
    if (f.size.refused.length) changes.push(`code size: the keyset took at most ${f.size.largestAccepted ?? 'none'} of the bundles' sizes; ${f.size.refused.map((r) => `${r.file} (${r.bytes} bytes)`).join(', ')} must shrink, or ask PubNub for a higher limit`);
    notes.push(`code size: ${f.size.largestAccepted === null ? 'no bundle accepted' : `largest bundle accepted: ${f.size.largestAccepted} bytes (${f.size.acceptedFile})`}`);
  }
  if (f.functions) {
    if (!f.functions.accepted) {
      all(`one package may hold at most ${f.functions.max} Functions here (${f.functions.why}), and scripts/deploy deploys all ${f.functions.tried} in one package`);
      changes.push(`Functions per package: ${f.functions.max} < ${f.functions.tried}; ask PubNub support to raise it (scripts/deploy deploys one package)`);
    }
    notes.push(`Functions per package: ${f.functions.accepted ? `${f.functions.tried} accepted` : `at most ${f.functions.max}`}`);
  }
  if (f.interval) {
    const min = f.interval.minAccepted;
    for (const b of bundles) {
      if (b.type !== 'ON_INTERVAL') continue;
      const period = b.intervalMs ?? 10000;
      if (min === null) blocked.get(b.name).push(`no On Interval period up to ${INTERVALS_MS.at(-1)} ms was accepted`);
      else if (period < min) blocked.get(b.name).push(`its period of ${period} ms is refused; the shortest accepted is ${min} ms`);
    }
    const periods = bundles.filter((b) => b.type === 'ON_INTERVAL').map((b) => b.intervalMs ?? 10000);
    if (min !== null && periods.some((p) => p < min)) changes.push(`On Interval: set onIntervalMs in deploy/config.json to ${min} or more, then scripts/build`);
    notes.push(`shortest On Interval period accepted: ${min === null ? `none up to ${INTERVALS_MS.at(-1)} ms` : `${min} ms`} (tried ${INTERVALS_MS.join(', ')})`);
  }
  if (f.globals) {
    notes.push(f.globals.persisted
      ? 'module globals persist between executions (the compiled wasm is reused while the replica is warm)'
      : `module globals did not persist over ${f.globals.calls} calls (${f.globals.instances} module instances): every execution compiles the wasm again (slower, still correct)`);
  }
  if (f.concurrency) notes.push(`concurrent executions seen in one replica: up to ${f.concurrency.maxActive} (${f.concurrency.calls} simultaneous calls, ${f.concurrency.instances} module instances); the bundles give each execution its own wasm instance either way`);
  for (const [name, why] of blocked) if (!why.length) blocked.delete(name);
  return { blocked, changes: [...new Set(changes)], notes, undetermined, runnable: bundles.map((b) => b.name).filter((n) => !blocked.has(n)) };
}

function printFindings(log, f) {
  if (f.env) log(`  WebAssembly: ${f.env.webAssembly}; the real wasm (${f.upload.on}) ${f.env.wasm?.instantiated ? 'compiled and instantiated' : `did not instantiate: ${f.env.wasm?.error}`}`);
  if (f.ops) for (const k of ['kv', 'publish', 'api']) log(`  ${k} ops in one execution: ${f.ops[k].ok} succeeded${f.ops[k].refused ? `, then refused: ${f.ops[k].refused}` : ' (none refused of 11)'}`);
}

function printVerdict(log, v) {
  for (const n of v.notes) log(`  ${n}`);
  for (const u of v.undetermined) log(`  not determined: ${u}`);
  if (!v.blocked.size && !v.undetermined.length) log('\nverdict: every Function can run on this keyset');
  else if (v.blocked.size) {
    log(`\nverdict: ${v.blocked.size} Function${v.blocked.size > 1 ? 's' : ''} cannot run on this keyset:`);
    for (const [name, why] of v.blocked) log(`  - ${name}: ${why.join('; ')}`);
    if (v.runnable.length) log(`can run: ${v.runnable.join(', ')}`);
  } else log('\nverdict: not determined (see above)');
  if (v.changes.length) {
    log('what to change:');
    for (const c of v.changes) log(`  - ${c}`);
  }
}

