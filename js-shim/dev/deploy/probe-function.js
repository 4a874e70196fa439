// The probe (scripts/deploy --probe): an On Request Function that reports what this Functions
// sandbox offers. js-shim/dev/deploy/probe-bundle.mjs places it in front of the generated part of a
// real bundle (settings, inlined wasm, the runtime), so `runtime.load()` below is the bundles'
// own loader (js-shim/function/runtime.js), run here without starting a handler; `codecs` are the
// runtime's text codecs (native, or its fallbacks), bundled from the same module after it.
//
//   ?check=env    WebAssembly, the text codecs, the real wasm compiled and instantiated
//   ?check=ops    how many KV gets, fires and time() calls one execution may make (11 tried each)
//   ?check=wait   one KV read, so that executions can overlap (concurrency per replica)
// Every answer carries the module's id and counters: they show whether globals persist.
let executions = 0;
let active = 0;
let maxActive = 0;
const instance = Math.random().toString(36).slice(2, 10);

export default async (request, response) => {
  executions++;
  active++;
  if (active > maxActive) maxActive = active;
  let body;
  try {
    const check = (request.query && request.query.check) || 'env';
    body = check === 'ops' ? await probeOps() : check === 'wait' ? await probeWait() : probeEnv();
  } catch (e) {
    body = { error: why(e) };
  }
  active--;
  body.instance = instance;
  body.executions = executions;
  body.maxActive = maxActive;
  return response.send(body, 200);
};

function why(e) {
  return String((e && e.message) || e).slice(0, 300);
}

function probeEnv() {
  const out = {
    webAssembly: typeof WebAssembly,
    textEncoder: typeof globalThis.TextEncoder,
    textDecoder: typeof globalThis.TextDecoder,
  };
  // The codecs the bundles use: native ones, or runtime.js's fallbacks where absent.
  try {
    const s = 'zß水\u{1F642}';
    out.codecRoundTrip = new codecs.Utf8Decoder().decode(new codecs.Utf8Encoder().encode(s)) === s;
  } catch (e) {
    out.codecRoundTrip = false;
    out.codecError = why(e);
  }
  try {
    const core = runtime.load();
    out.wasm = { instantiated: typeof core.start === 'function', bytes: WASM_SIZE };
  } catch (e) {
    out.wasm = { instantiated: false, error: why(e) };
  }
  return out;
}

// Counts the calls that succeed before the first refused one (at most 11 of each kind).
async function tally(call) {
  let ok = 0;
  for (let i = 0; i < 11; i++) {
    try {
      await call();
      ok++;
    } catch (e) {
      return { ok, refused: why(e) };
    }
  }
  return { ok };
}

async function probeOps() {
  const kvstore = require('kvstore');
  const pubnub = require('pubnub');
  const kv = await tally(() => kvstore.get('fp-probe-' + instance));
  const publish = await tally(() => pubnub.fire({ channel: 'fp-probe.' + instance, message: 0 }));
  const api = await tally(() => pubnub.time());
  return { ops: { kv, publish, api } };
}

async function probeWait() {
  await require('kvstore').get('fp-probe-wait');
  return {};
}
