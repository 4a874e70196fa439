// Runtime for a deployable Function bundle, placed before the wasm-bindgen glue by
// scripts/bundle.mjs. The Functions sandbox is not Node: no Buffer, and TextEncoder,
// TextDecoder are not documented, so small fallbacks stand in when they are absent.

const TextEncoder = globalThis.TextEncoder || class {
  encode(s) {
    const out = [];
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d < 0xe000) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
      }
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return Uint8Array.from(out);
  }
};

const TextDecoder = globalThis.TextDecoder || class {
  decode(bytes) {
    if (!bytes) return '';
    let s = '';
    for (let i = 0; i < bytes.length;) {
      const b = bytes[i++];
      let c = b;
      if (b >= 0xf0) { c = ((b & 7) << 18) | ((bytes[i++] & 63) << 12) | ((bytes[i++] & 63) << 6) | (bytes[i++] & 63); }
      else if (b >= 0xe0) { c = ((b & 15) << 12) | ((bytes[i++] & 63) << 6) | (bytes[i++] & 63); }
      else if (b >= 0xc0) { c = ((b & 31) << 6) | (bytes[i++] & 63); }
      s += String.fromCodePoint(c);
    }
    return s;
  }
};

// The inlined wasm is deflated and base85-encoded (scripts/bundle.mjs): 5 characters per 4
// bytes, alphabet `#`..`[` then `]`..`x`. One loop iteration per 4 bytes.
function decodeBase85(text, size) {
  const view = new DataView(new ArrayBuffer(Math.ceil(size / 4) * 4));
  const digit = (i) => { const c = text.charCodeAt(i); return c < 0x5c ? c - 0x23 : c - 0x5d + 57; };
  for (let i = 0, o = 0; o < view.byteLength; i += 5, o += 4) {
    view.setUint32(o, (((digit(i) * 85 + digit(i + 1)) * 85 + digit(i + 2)) * 85 + digit(i + 3)) * 85 + digit(i + 4));
  }
  return new Uint8Array(view.buffer, 0, size);
}

const NO_WASM = 'friends-presence: this PubNub Functions runtime has no WebAssembly, so the handler cannot run. ' +
  'Nothing was changed; ask PubNub support to enable WebAssembly for this keyset.';

// Instantiated on first use (no top-level await in Functions) and kept while warm.
function loadCore() {
  if (wasm !== undefined) return true;
  if (typeof WebAssembly !== 'object' || WebAssembly === null || typeof WebAssembly.Module !== 'function') {
    console.error(NO_WASM);
    return false;
  }
  initSync({ module: inflateRaw(decodeBase85(WASM_DEFLATED, WASM_DEFLATED_SIZE), WASM_SIZE) });
  return true;
}

// Runs one handler call. A trap poisons the instance (workers-rs' lesson), so it is dropped
// and the next execution starts a fresh one. Nothing is ever thrown out of the Function.
async function runCore(call) {
  try {
    if (!loadCore()) return null;
    return await call();
  } catch (err) {
    console.error('friends-presence: handler failed: ' + (err && err.stack || err));
    wasm = undefined;
    wasmModule = undefined;
    cachedUint8ArrayMemory0 = null;
    cachedDataViewMemory0 = null;
    return null;
  }
}
