// Raw DEFLATE (RFC 1951) decoder for the inlined wasm: the Functions sandbox has no zlib,
// and a deflated wasm is what lets a bundle fit in PubNub's ~64 KB of source.
//
// Written to keep JS loop iterations low (Functions documents a limit of 100,000 per
// execution): bits are refilled without loops, Huffman codes are decoded with one table
// lookup through contiguous ranges filled by `fill`, and back-references are copied with
// `copyWithin`. A ~90 KB module takes ~35,000 iterations; `inflateRaw.loops` reports the count.

const LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CLEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
const FAST = 10; // bits resolved by one table lookup; longer codes take the slow path

function inflateRaw(src, outSize) {
  let pos = 0, bits = 0, count = 0, loops = 0;
  const out = new Uint8Array(outSize);
  let o = 0;
  // Reversing FAST bits once per lookup turns LSB-first codes into contiguous table ranges.
  const rev = new Uint16Array(1 << FAST);
  for (let i = 1; i < rev.length; i++, loops++) rev[i] = (rev[i >> 1] >> 1) | ((i & 1) << (FAST - 1));

  function refill() {
    // At most 16 bits are consumed between refills, so two bytes always suffice.
    if (count < 16) {
      bits |= (src[pos++] | 0) << count; count += 8;
      bits |= (src[pos++] | 0) << count; count += 8;
    }
  }
  function take(n) {
    refill();
    const v = bits & ((1 << n) - 1);
    bits >>>= n; count -= n;
    return v;
  }

  // A code: `fast[rev(peek FAST bits)]` = symbol << 4 | length, or 0 for longer codes, which
  // are resolved canonically from `counts`/`sorted` (rare: lengths 11–15).
  function build(lengths) {
    const counts = new Uint16Array(16), next = new Uint16Array(16);
    for (let i = 0; i < lengths.length; i++, loops++) counts[lengths[i]]++;
    counts[0] = 0;
    let code = 0;
    for (let len = 1; len < 16; len++, loops++) { code = (code + counts[len - 1]) << 1; next[len] = code; }
    const fast = new Uint16Array(1 << FAST), offs = new Uint16Array(16), sorted = new Uint16Array(lengths.length);
    for (let len = 1; len < 15; len++, loops++) offs[len + 1] = offs[len] + counts[len];
    for (let sym = 0; sym < lengths.length; sym++, loops++) {
      const len = lengths[sym];
      if (!len) continue;
      sorted[offs[len]++] = sym;
      const c = next[len]++;
      if (len <= FAST) fast.fill((sym << 4) | len, c << (FAST - len), (c + 1) << (FAST - len));
    }
    return { fast, counts, sorted };
  }
  function decode(t) {
    refill();
    const e = t.fast[rev[bits & ((1 << FAST) - 1)]];
    if (e) { bits >>>= e & 15; count -= e & 15; return e >> 4; }
    // Canonical decode, one bit at a time past FAST bits.
    let code = 0, first = 0, index = 0;
    for (let len = 1; len < 16; len++, loops++) {
      code |= take(1);
      const n = t.counts[len];
      if (code - first < n) return t.sorted[index + code - first];
      index += n; first += n; first <<= 1; code <<= 1;
    }
    throw new Error('inflate: invalid Huffman code');
  }

  let fixedLit, fixedDist;
  for (;;) {
    loops++;
    const final = take(1), type = take(2);
    if (type === 0) {
      // Stored block: drop the partial byte and give back whole bytes already buffered.
      pos -= count >> 3; bits = 0; count = 0;
      const len = src[pos] | (src[pos + 1] << 8);
      pos += 4;
      out.set(src.subarray(pos, pos + len), o);
      pos += len; o += len;
    } else {
      let lit, dist;
      if (type === 1) {
        if (!fixedLit) {
          const l = new Uint8Array(288);
          l.fill(8, 0, 144); l.fill(9, 144, 256); l.fill(7, 256, 280); l.fill(8, 280, 288);
          fixedLit = build(l);
          fixedDist = build(new Uint8Array(30).fill(5));
        }
        lit = fixedLit; dist = fixedDist;
      } else if (type === 2) {
        const hlit = take(5) + 257, hdist = take(5) + 1, hclen = take(4) + 4;
        const clens = new Uint8Array(19);
        for (let i = 0; i < hclen; i++, loops++) clens[CLEN_ORDER[i]] = take(3);
        const cl = build(clens);
        const lengths = new Uint8Array(hlit + hdist);
        for (let i = 0; i < lengths.length; loops++) {
          const sym = decode(cl);
          if (sym < 16) { lengths[i++] = sym; continue; }
          let rep, val = 0;
          if (sym === 16) { if (!i) throw new Error('inflate: repeat with no previous length'); val = lengths[i - 1]; rep = 3 + take(2); }
          else if (sym === 17) rep = 3 + take(3);
          else rep = 11 + take(7);
          lengths.fill(val, i, i + rep);
          i += rep;
        }
        lit = build(lengths.subarray(0, hlit));
        dist = build(lengths.subarray(hlit));
      } else {
        throw new Error('inflate: invalid block type');
      }
      for (;;) {
        loops++;
        const sym = decode(lit);
        if (sym < 256) { out[o++] = sym; continue; }
        if (sym === 256) break;
        const li = sym - 257;
        let len = LEN_BASE[li] + take(LEN_EXTRA[li]);
        const di = decode(dist);
        let d = DIST_BASE[di] + take(DIST_EXTRA[di]);
        if (d > o) throw new Error('inflate: distance too far back');
        // Overlapping copies repeat a period of `d` bytes; each pass doubles what can be copied.
        let from = o - d;
        while (len > 0) {
          loops++;
          const n = Math.min(len, d);
          out.copyWithin(o, from, from + n);
          o += n; len -= n; d += n;
        }
      }
    }
    if (final) break;
  }
  if (o !== outSize) throw new Error('inflate: output size mismatch');
  inflateRaw.loops = loops;
  return out;
}
