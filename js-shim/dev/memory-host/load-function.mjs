// Loads a deployable Function file the way PubNub runs it: an ES module evaluated in a bare
// context (no Node globals), where `require` knows only the modules the host provides.
// Needs `node --experimental-vm-modules`.
import vm from 'node:vm';
import { readFileSync } from 'node:fs';
import { executionContext } from './memory.mjs';

/**
 * `settings` replaces the bundle's compiled-in `SETTINGS` (shardCount, debounceMs, opsLimit):
 * the same bundle as built from another deploy/config.json.
 */
export async function loadFunction(file, { withoutWebAssembly = false, nativeText = false, now, settings } = {}) {
  const logs = [];
  const modules = {};
  const log = (level) => (...args) => logs.push({ level, text: args.map(String).join(' ') });
  const context = vm.createContext({
    console: { log: log('info'), info: log('info'), warn: log('warn'), error: log('error') },
    require: (name) => {
      if (!(name in modules)) throw new Error(`Cannot find module '${name}'`);
      return modules[name];
    },
  });
  if (withoutWebAssembly) vm.runInContext('delete globalThis.WebAssembly', context);
  // A bare context has no TextEncoder/TextDecoder (they are not ECMAScript), so the bundle's
  // fallbacks run; a sandbox that has them (PubNub documents neither) is `nativeText`.
  if (nativeText) Object.assign(context, { TextEncoder, TextDecoder });
  // Handlers read the clock with Date.now(); a host (or test) may drive it.
  if (now) {
    context.__hostNow = now;
    vm.runInContext('{ const read = globalThis.__hostNow; Date.now = () => read(); delete globalThis.__hostNow; }', context);
  }
  let source = readFileSync(file, 'utf8');
  if (settings) {
    const line = /^const SETTINGS = \{[^}]*\};$/m;
    if (!line.test(source)) throw new Error(`${file}: no SETTINGS line to replace`);
    source = source.replace(line, `const SETTINGS = ${JSON.stringify(settings)};`);
  }
  const mod = new vm.SourceTextModule(source, { context, identifier: file });
  await mod.link(() => {
    throw new Error(`${file} imports a module; deployable Functions must not`);
  });
  await mod.evaluate();
  const handler = mod.namespace.default;
  if (typeof handler !== 'function') throw new Error(`${file} has no default export function`);
  return {
    logs,
    /**
     * Runs one execution with the given modules bound to `require`, inside an async context
     * of its own (its op counters, when the host charges by context).
     */
    async run(trigger, { pubnub, kvstore, used }, extra) {
      modules.pubnub = pubnub;
      modules.kvstore = kvstore;
      const ops = used || { api: 0, publish: 0, kv: 0 };
      return executionContext.run(ops, () => (extra === undefined ? handler(trigger) : handler(trigger, extra)));
    },
  };
}

/** A trigger object with PubNub's `ok`/`abort`. */
export function trigger(fields) {
  return { ...fields, ok: () => ({ ok: true }), abort: (m) => ({ ok: false, reason: m }) };
}
