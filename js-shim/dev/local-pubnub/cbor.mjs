// The little CBOR (RFC 8949) that Access Manager v3 tokens need: ints, byte/text strings, arrays,
// maps, booleans, null and doubles. Decoding keeps maps as `Map` and byte strings as `Buffer` so a
// decoded token re-encodes to the very bytes that were signed.

export function encode(value) {
  const parts = [];
  write(value, parts);
  return Buffer.concat(parts);
}

function head(major, n, parts) {
  const b = major << 5;
  if (n < 24) parts.push(Buffer.from([b | n]));
  else if (n < 0x100) parts.push(Buffer.from([b | 24, n]));
  else if (n < 0x10000) parts.push(Buffer.from([b | 25, n >> 8, n & 0xff]));
  else if (n < 0x100000000) {
    const x = Buffer.alloc(5);
    x[0] = b | 26;
    x.writeUInt32BE(n, 1);
    parts.push(x);
  } else {
    const x = Buffer.alloc(9);
    x[0] = b | 27;
    x.writeBigUInt64BE(BigInt(n), 1);
    parts.push(x);
  }
}

function write(v, parts) {
  if (v === null || v === undefined) parts.push(Buffer.from([0xf6]));
  else if (v === false) parts.push(Buffer.from([0xf4]));
  else if (v === true) parts.push(Buffer.from([0xf5]));
  else if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) head(v < 0 ? 1 : 0, v < 0 ? -1 - v : v, parts);
    else {
      const x = Buffer.alloc(9);
      x[0] = 0xfb;
      x.writeDoubleBE(v, 1);
      parts.push(x);
    }
  } else if (Buffer.isBuffer(v)) (head(2, v.length, parts), parts.push(v));
  else if (typeof v === 'string') {
    const s = Buffer.from(v, 'utf8');
    head(3, s.length, parts);
    parts.push(s);
  } else if (Array.isArray(v)) {
    head(4, v.length, parts);
    for (const x of v) write(x, parts);
  } else {
    const entries = v instanceof Map ? [...v] : Object.entries(v);
    head(5, entries.length, parts);
    for (const [k, x] of entries) (write(k, parts), write(x, parts));
  }
}

export function decode(buf) {
  let i = 0;
  const need = (n) => {
    if (i + n > buf.length) throw new Error('truncated CBOR');
  };
  const uint = (info) => {
    if (info < 24) return info;
    const size = { 24: 1, 25: 2, 26: 4, 27: 8 }[info];
    if (!size) throw new Error('unsupported CBOR length');
    need(size);
    const n = size === 8 ? Number(buf.readBigUInt64BE(i)) : buf.readUIntBE(i, size);
    i += size;
    return n;
  };
  const item = () => {
    need(1);
    const b = buf[i++];
    const major = b >> 5, info = b & 31;
    switch (major) {
      case 0: return uint(info);
      case 1: return -1 - uint(info);
      case 2:
      case 3: {
        const n = uint(info);
        need(n);
        const s = buf.subarray(i, (i += n));
        return major === 2 ? Buffer.from(s) : s.toString('utf8');
      }
      case 4: return Array.from({ length: uint(info) }, item);
      case 5: {
        const m = new Map();
        for (let n = uint(info); n > 0; n--) m.set(item(), item());
        return m;
      }
      case 7:
        if (info === 20) return false;
        if (info === 21) return true;
        if (info === 22 || info === 23) return null;
        if (info === 27) {
          need(8);
          const d = buf.readDoubleBE(i);
          i += 8;
          return d;
        }
    }
    throw new Error('unsupported CBOR item');
  };
  const v = item();
  if (i !== buf.length) throw new Error('trailing bytes after CBOR item');
  return v;
}

/** Decoded CBOR → plain JSON-like data (byte strings read as UTF-8). */
export function toPlain(v) {
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [toPlain(k), toPlain(x)]));
  return v;
}
