// Runtime of a deployable Function: it loads the Function's wasm and runs it. scripts/bundle.mjs
// bundles this module (and what it imports) into every Function and calls `functionRuntime`
// with the Function's payload. The Functions sandbox is not Node: no Buffer, and TextEncoder and
// TextDecoder are not documented, so small fallbacks stand in when they are absent. They
// work a chunk at a time through built-ins; no loop statement runs per character.
import { drive } from './driver.js';

// Exported for scripts/deploy --probe, which checks them in the sandbox.
export const Utf8Encoder = globalThis.TextEncoder || class {
  encode(s) {
    // UTF-8 as a binary string (one char per byte); ASCII is that already.
    const bin = /[^\x00-\x7f]/.test(s) ? unescape(encodeURIComponent(s)) : s;
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }
};

export const Utf8Decoder = globalThis.TextDecoder || class {
  decode(bytes) {
    let bin = '';
    for (let i = 0; bytes && i < bytes.length; i += 8192) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
    return /[\x80-\xff]/.test(bin) ? decodeURIComponent(escape(bin)) : bin;
  }
};

// The first stage (src/stage0) is inlined as base85 (scripts/bundle.mjs): 5 characters per 4
// bytes, alphabet `#`..`[` then `]`..`x` (a digit is the code minus 35, minus one more past
// `\`). It is ~2.5 KB, ~630 loop iterations; the Function's wasm is decoded by the stage.
export function decodeBase85(text, size) {
  const out = new Uint8Array(Math.ceil(size / 4) * 4);
  for (let i = 0, o = 0; o < out.length; i += 5, o += 4) {
    const a = text.charCodeAt(i), b = text.charCodeAt(i + 1), c = text.charCodeAt(i + 2), d = text.charCodeAt(i + 3), e = text.charCodeAt(i + 4);
    const n = ((((a - 35 - (a > 92)) * 85 + (b - 35 - (b > 92))) * 85 + (c - 35 - (c > 92))) * 85 + (d - 35 - (d > 92))) * 85 + (e - 35 - (e > 92));
    out[o] = n >>> 24; out[o + 1] = n >>> 16; out[o + 2] = n >>> 8; out[o + 3] = n;
  }
  return out.subarray(0, size);
}

// The Function's wasm, deflated and base85-encoded, through the first stage (src/stage0): its
// text is copied into the stage's memory, which decodes the base85 in place, then inflates it
// past it; the stage is then dropped. Copying is a native TextEncoder's `encodeInto` when there
// is one (~0.1 ms for 36,000 chars), else one char per loop iteration (~1.5 ms, where decoding
// base85 in interpreted JS took ~3.6): no arithmetic per byte runs as JS.
export function inflateWasm(text, size, stageBytes) {
  const stage = new WebAssembly.Instance(new WebAssembly.Module(stageBytes), {}).exports;
  const base = stage.memory.buffer.byteLength;
  stage.memory.grow(Math.ceil((text.length + size) / 65536));
  const chars = new Uint8Array(stage.memory.buffer, base, text.length);
  const Native = globalThis.TextEncoder;
  if (Native && Native.prototype.encodeInto) new Native().encodeInto(text, chars);
  else for (let i = 0; i < text.length; i++) chars[i] = text.charCodeAt(i);
  const deflated = stage.base85(base, text.length);
  const rc = stage.inflate(base, deflated, base + text.length, size);
  if (rc !== 0) throw new Error(`inflate: the inlined wasm is corrupt (${rc})`);
  return new Uint8Array(stage.memory.buffer, base + text.length, size);
}

const NO_WASM = 'friends-presence: this PubNub Functions runtime has no WebAssembly, so the handler cannot run. ' +
  'Nothing was changed; ask PubNub support to enable WebAssembly for this keyset.';

const encoder = new Utf8Encoder();
const decoder = new Utf8Decoder();

/**
 * A fresh instance of a Function's compiled wasm as `{start, resume}` over JSON text. Its exports
 * (src/wasm/exports.rs) take no imports: `input(len)` gives the address where the input's UTF-8
 * goes, `start()` or `resume(id)` runs the core and returns the length of the step's text, found
 * at `output()`. The memory's buffer is looked up after each call, as it may grow.
 */
export function instantiate(wasmCode) {
  const wasm = new WebAssembly.Instance(wasmCode, {}).exports;
  const call = (step, text) => {
    const bytes = encoder.encode(text);
    const at = wasm.input(bytes.length) >>> 0; // may grow the memory: before reading its buffer
    new Uint8Array(wasm.memory.buffer, at, bytes.length).set(bytes);
    const len = step() >>> 0;
    const from = wasm.output() >>> 0;
    return decoder.decode(new Uint8Array(wasm.memory.buffer, from, len));
  };
  return { start: (input) => call(wasm.start, input), resume: (id, outcomes) => call(() => wasm.resume(id), outcomes) };
}

/** What the core reads of a trigger (an After Publish/Presence request, or an On Interval event). */
export function coreInput(handler, request, settings) {
  const input = { handler, now: Date.now(), settings };
  if (request) {
    input.channel = (request.channels && request.channels[0]) || request.channel;
    input.publisher = request.params && request.params.uuid;
    input.message = request.message;
  }
  try {
    return JSON.stringify(input);
  } catch (e) {
    input.message = null; // not JSON data (a cycle, a BigInt): the core refuses it
    return JSON.stringify(input);
  }
}

/**
 * The runtime of one Function. `payload` is what scripts/bundle.mjs inlines: `settings`
 * (deploy/config.json), `wasm` (the Function's wasm, deflated, base85) and `stage` (the first
 * stage, base85), each as [text, size in bytes].
 *
 * - `run(name, modules, request)` runs one execution of the Function `name` (src/functions.json)
 *   with the execution's own `pubnub` and `kvstore` modules, on an After Publish/Presence
 *   `request` (none for On Interval); it resolves to the core's report, or null;
 * - `load()` compiles the wasm if needed and gives a fresh instance (`scripts/deploy --probe`).
 */
export function functionRuntime({ settings, wasm: [wasmText, wasmSize], stage: [stageText, stageSize] }) {
  // Compiled on first use (no top-level await in Functions) and kept while warm. Compiled code
  // is immutable; every concurrent execution gets an instance of its own (memory and state),
  // and an instance goes back to `idle` only after its execution ended normally.
  let wasmCode;
  const idle = [];

  function load() {
    if (typeof WebAssembly !== 'object' || WebAssembly === null || typeof WebAssembly.Module !== 'function') throw new Error(NO_WASM);
    wasmCode = wasmCode || new WebAssembly.Module(inflateWasm(wasmText, wasmSize, decodeBase85(stageText, stageSize)));
    return instantiate(wasmCode);
  }

  // Nothing is ever thrown out of the Function: a trap is logged and its instance dropped,
  // since a trapped instance's memory is in an unknown state.
  async function run(handler, modules, request) {
    try {
      const core = idle.pop() || load();
      const done = await drive(core, modules, coreInput(handler, request, settings));
      if (idle.length < 8) idle.push(core);
      for (const [level, text] of done.lines) console[level === 'info' ? 'log' : level](`[${done.function}] ${text}`);
      return done;
    } catch (err) {
      console.error(err && err.message === NO_WASM ? NO_WASM : 'friends-presence: handler failed: ' + ((err && err.stack) || err));
      return null;
    }
  }
  return { run, load };
}
