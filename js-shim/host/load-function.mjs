// Loads a deployable Function file the way PubNub runs it: an ES module evaluated in a bare
// context (no Node globals), where `require` knows only the modules the host provides.
// Needs `node --experimental-vm-modules`.
import vm from 'node:vm';
import { readFileSync } from 'node:fs';

export async function loadFunction(file, { withoutWebAssembly = false, now } = {}) {
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
  // Handlers read the clock with Date.now(); a host (or test) may drive it.
  if (now) {
    context.__hostNow = now;
    vm.runInContext('{ const read = globalThis.__hostNow; Date.now = () => read(); delete globalThis.__hostNow; }', context);
  }
  const mod = new vm.SourceTextModule(readFileSync(file, 'utf8'), { context, identifier: file });
  await mod.link(() => {
    throw new Error(`${file} imports a module; deployable Functions must not`);
  });
  await mod.evaluate();
  const handler = mod.namespace.default;
  if (typeof handler !== 'function') throw new Error(`${file} has no default export function`);
  return {
    logs,
    /** Runs one execution with the given modules bound to `require`. */
    async run(trigger, { pubnub, kvstore }, extra) {
      modules.pubnub = pubnub;
      modules.kvstore = kvstore;
      return extra === undefined ? handler(trigger) : handler(trigger, extra);
    },
  };
}

/** A trigger object with PubNub's `ok`/`abort`. */
export function trigger(fields) {
  return { ...fields, ok: () => ({ ok: true }), abort: (m) => ({ ok: false, reason: m }) };
}
