//! The bundle's first stage: a raw-DEFLATE decoder, built alone into ~2.5 KB of wasm
//! (`--features inflate-stage`) and inlined uncompressed. The Function's own wasm is inflated
//! by it: wasm decodes in 1–2 ms what the interpreted JS inflater needed ~17 ms for, which was
//! most of a cold start.
//!
//! `base85(at, chars)` turns the base85 text at `at` (ASCII, as `scripts/bundle.mjs` writes it)
//! into its bytes in place and returns how many: the runtime only copies the bundle's text in,
//! so no JS loop does arithmetic per byte (with a native `TextEncoder`, no JS loop at all).
//!
//! `inflate(src, src_len, dst, dst_len)` decodes `src` into exactly `dst_len` bytes at `dst`
//! (both in this module's memory, which the runtime grows and fills) and returns 0, or a
//! negative code: -1 bad block type, -2 bad Huffman code, -3 distance too far back,
//! -4 output size mismatch, -5 bad stored block.

const LEN_BASE: [u16; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385,
    24577,
];
const DIST_EXTRA: [u8; 30] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CLEN_ORDER: [u8; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

struct Bits<'a> {
    src: &'a [u8],
    pos: usize,
    bits: u32,
    count: u32,
}

impl Bits<'_> {
    fn fill(&mut self, n: u32) {
        while self.count < n {
            // Past the end reads zeros; the size check at the end catches a truncated stream.
            self.bits |= (self.src.get(self.pos).copied().unwrap_or(0) as u32) << self.count;
            self.pos += 1;
            self.count += 8;
        }
    }

    fn take(&mut self, n: u32) -> u32 {
        self.fill(n);
        let v = self.bits & ((1u32 << n) - 1);
        self.bits >>= n;
        self.count -= n;
        v
    }
}

/// Bits resolved by one table lookup; longer codes are decoded a bit at a time.
const FAST: u32 = 9;

/// A canonical Huffman code: how many codes of each length, the symbols in code order, and
/// `fast`: for the next `FAST` input bits, `symbol << 4 | length` of a code that short (0: none).
struct Huffman {
    counts: [u16; 16],
    symbols: [u16; 320],
    fast: [u16; 1 << FAST],
}

impl Huffman {
    fn new(lengths: &[u8]) -> Huffman {
        let mut h = Huffman { counts: [0; 16], symbols: [0; 320], fast: [0; 1 << FAST] };
        for &l in lengths {
            if let Some(c) = h.counts.get_mut((l & 15) as usize) {
                *c += 1;
            }
        }
        h.counts[0] = 0;
        let mut offs = [0u16; 16];
        for len in 1..15 {
            offs[len + 1] = offs[len] + h.counts[len];
        }
        let mut next = [0u32; 16];
        let mut code = 0u32;
        // An index loop: the iterator form clippy suggests costs ~570 bytes in every bundle.
        #[allow(clippy::needless_range_loop)]
        for len in 1..16 {
            code = (code + h.counts[len - 1] as u32) << 1;
            next[len] = code;
        }
        for (sym, &l) in lengths.iter().enumerate() {
            let l = (l & 15) as usize;
            if l != 0 {
                if let Some(slot) = h.symbols.get_mut(offs[l] as usize) {
                    *slot = sym as u16;
                }
                offs[l] += 1;
                let code = next[l];
                next[l] += 1;
                if l as u32 <= FAST {
                    // DEFLATE sends codes most significant bit first: index by the reversed code,
                    // every filling of the bits past it.
                    let rev = code.reverse_bits() >> (32 - l as u32);
                    let mut i = rev;
                    while i < 1 << FAST {
                        if let Some(e) = h.fast.get_mut(i as usize) {
                            *e = (sym as u16) << 4 | l as u16;
                        }
                        i += 1 << l;
                    }
                }
            }
        }
        h
    }

    /// One symbol: by the table when its code is short, else a bit at a time.
    fn decode(&self, b: &mut Bits) -> Option<u16> {
        b.fill(FAST);
        let e = self.fast.get((b.bits & ((1 << FAST) - 1)) as usize).copied().unwrap_or(0);
        if e != 0 {
            let len = (e & 15) as u32;
            b.bits >>= len;
            b.count -= len;
            return Some(e >> 4);
        }
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= b.take(1) as i32;
            let n = self.counts[len] as i32;
            if code - first < n {
                return self.symbols.get((index + code - first) as usize).copied();
            }
            index += n;
            first = (first + n) << 1;
            code <<= 1;
        }
        None
    }
}

// Long on purpose: the DEFLATE block loop (RFC 1951) in one function, so the first stage stays
// small; tests/stage0.rs checks it on streams Node's zlib wrote.
fn run(src: &[u8], out: &mut [u8]) -> i32 {
    let mut b = Bits { src, pos: 0, bits: 0, count: 0 };
    let mut o = 0usize;
    loop {
        let last = b.take(1);
        let kind = b.take(2);
        if kind == 0 {
            // Stored: byte-aligned length, its complement, then the bytes.
            b.pos -= (b.count >> 3) as usize;
            b.bits = 0;
            b.count = 0;
            let len = b.take(16) as usize;
            b.take(16);
            let (Some(from), Some(to)) = (src.get(b.pos..b.pos + len), out.get_mut(o..o + len)) else { return -5 };
            for (t, f) in to.iter_mut().zip(from) {
                *t = *f;
            }
            b.pos += len;
            o += len;
        } else {
            let (lit, dist) = match kind {
                1 => {
                    let mut l = [8u8; 288];
                    l[144..256].fill(9);
                    l[256..280].fill(7);
                    (Huffman::new(&l), Huffman::new(&[5; 30]))
                }
                2 => {
                    let hlit = b.take(5) as usize + 257;
                    let hdist = b.take(5) as usize + 1;
                    let hclen = b.take(4) as usize + 4;
                    let mut clens = [0u8; 19];
                    for &i in CLEN_ORDER.iter().take(hclen) {
                        if let Some(c) = clens.get_mut(i as usize) {
                            *c = b.take(3) as u8;
                        }
                    }
                    let cl = Huffman::new(&clens);
                    let mut lengths = [0u8; 320];
                    let mut i = 0;
                    while i < hlit + hdist {
                        let Some(sym) = cl.decode(&mut b) else { return -2 };
                        let (val, rep) = match sym {
                            0..=15 => (sym as u8, 1),
                            16 if i > 0 => (lengths.get(i - 1).copied().unwrap_or(0), 3 + b.take(2) as usize),
                            17 => (0, 3 + b.take(3) as usize),
                            18 => (0, 11 + b.take(7) as usize),
                            _ => return -2,
                        };
                        let Some(run) = lengths.get_mut(i..i + rep) else { return -2 };
                        run.fill(val);
                        i += rep;
                    }
                    let (Some(l), Some(d)) = (lengths.get(..hlit), lengths.get(hlit..hlit + hdist)) else { return -2 };
                    (Huffman::new(l), Huffman::new(d))
                }
                _ => return -1,
            };
            loop {
                let Some(sym) = lit.decode(&mut b) else { return -2 };
                if sym < 256 {
                    let Some(slot) = out.get_mut(o) else { return -4 };
                    *slot = sym as u8;
                    o += 1;
                    continue;
                }
                if sym == 256 {
                    break;
                }
                let li = (sym - 257) as usize;
                let (Some(&lb), Some(&le)) = (LEN_BASE.get(li), LEN_EXTRA.get(li)) else { return -2 };
                let len = lb as usize + b.take(le as u32) as usize;
                let Some(di) = dist.decode(&mut b) else { return -2 };
                let (Some(&db), Some(&de)) = (DIST_BASE.get(di as usize), DIST_EXTRA.get(di as usize)) else { return -2 };
                let d = db as usize + b.take(de as u32) as usize;
                if d > o {
                    return -3;
                }
                if o + len > out.len() {
                    return -4;
                }
                // Byte by byte: a match may overlap what it is copying.
                for k in o..o + len {
                    // SAFETY: d <= o and o + len <= out.len() were checked above.
                    unsafe { *out.get_unchecked_mut(k) = *out.get_unchecked(k - d) };
                }
                o += len;
            }
        }
        if last == 1 {
            break;
        }
    }
    if o == out.len() {
        0
    } else {
        -4
    }
}

/// # Safety
/// `src..src+src_len` and `dst..dst+dst_len` must lie in this module's memory and not overlap.
#[no_mangle]
pub unsafe extern "C" fn inflate(src: *const u8, src_len: usize, dst: *mut u8, dst_len: usize) -> i32 {
    run(core::slice::from_raw_parts(src, src_len), core::slice::from_raw_parts_mut(dst, dst_len))
}

/// Base85 text to bytes, in place: 5 characters (`#`..`[` then `]`..`x`, a digit is the code
/// minus 35, minus one more past the backslash) to 4 bytes, big-endian. In place is safe: group `g`'s
/// bytes go to `4g..4g+4`, at or before its characters at `5g..5g+5`, which are read first.
pub fn base85_in_place(buf: &mut [u8]) -> usize {
    let groups = buf.len() / 5;
    let at = buf.as_mut_ptr();
    for g in 0..groups {
        let mut n = 0u32;
        for k in 0..5 {
            // SAFETY: g * 5 + k < groups * 5 <= buf.len().
            let c = unsafe { *at.add(g * 5 + k) } as u32;
            n = n.wrapping_mul(85).wrapping_add(c.wrapping_sub(35 + (c > 92) as u32));
        }
        // Byte by byte, not `copy_from_slice`: that would link a memcpy into the stage.
        for k in 0..4 {
            // SAFETY: g * 4 + k < g * 5 + 5 <= buf.len(), and group g's characters were read.
            unsafe { *at.add(g * 4 + k) = (n >> (24 - 8 * k)) as u8 };
        }
    }
    groups * 4
}

/// # Safety
/// `at..at+chars` must lie in this module's memory.
#[no_mangle]
pub unsafe extern "C" fn base85(at: *mut u8, chars: usize) -> usize {
    base85_in_place(core::slice::from_raw_parts_mut(at, chars))
}
