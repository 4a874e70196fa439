//! The lowercase of a name for the case-insensitive friends order: exactly what
//! `str::to_lowercase` gives, from two small tables of our own. std's version brings its
//! ~11 KB lowercase table and, through a string slice that can fail, `core::fmt`'s panic
//! messages with their Unicode escape tables (~20 KB of the web package in all).
//!
//! Both tables are generated from std's own answers by the tests below, which check them
//! character by character: a toolchain with a newer Unicode fails them and prints the tables
//! to paste here.

#[allow(unused_imports)]
use crate::prelude::*;

/// `str::to_lowercase(name)`, without its tables.
pub fn lowercase(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, c) in name.char_indices() {
        match c {
            // The one mapping that depends on its neighbours (Unicode's Final_Sigma).
            'Σ' => out.push(if final_sigma(name, i) { 'ς' } else { 'σ' }),
            // The one that gives two characters.
            'İ' => out.push_str("i\u{307}"),
            c => out.push(lower_char(c)),
        }
    }
    out
}

/// The lowercase of a character whose lowercase is one character (all but `İ`).
pub fn lower_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let code = c as u32;
    // The last run starting at or before `c`.
    let i = LOWER_RUNS.partition_point(|(head, _)| head & START <= code);
    let Some(&(head, shift)) = i.checked_sub(1).and_then(|i| LOWER_RUNS.get(i)) else { return c };
    let (first, stride) = (head & START, 1 + (head >> 31));
    let len = (head >> 21) & 0x3ff;
    let offset = code - first;
    if offset % stride != 0 || offset / stride >= len {
        return c;
    }
    char::from_u32(code.wrapping_add_signed(shift)).unwrap_or(c)
}

/// Whether the `Σ` at byte `at` of `name` ends a word: a cased letter before it (skipping
/// case-ignorable characters), none after it.
fn final_sigma(name: &str, at: usize) -> bool {
    let before = name.get(..at).unwrap_or("").chars().rev();
    let after = name.get(at + 'Σ'.len_utf8()..).unwrap_or("").chars();
    cased_first(before) && !cased_first(after)
}

/// Whether the first character that is not case-ignorable is cased.
fn cased_first(mut chars: impl Iterator<Item = char>) -> bool {
    chars.find(|c| sigma_class(*c) != IGNORABLE).is_some_and(|c| sigma_class(c) == CASED)
}

const START: u32 = 0x1f_ffff;
const OTHER: u8 = 0;
const IGNORABLE: u8 = 1;
/// Cased and not case-ignorable (whether an ignorable character is cased never matters).
const CASED: u8 = 2;

/// A character's class for the final-sigma rule, from [`SIGMA_CLASSES`].
fn sigma_class(c: char) -> u8 {
    let code = c as u32;
    let mut first = 0u32;
    let mut bytes = SIGMA_CLASSES.iter();
    while let Some(&b) = bytes.next() {
        let class = b >> 6;
        let mut len = u32::from(b & 0x1f);
        if b & 0x20 != 0 {
            // Longer runs go on in 7-bit groups, low first, while the top bit is set.
            let mut shift = 5;
            for &more in bytes.by_ref() {
                len |= u32::from(more & 0x7f) << shift;
                shift += 7;
                if more & 0x80 == 0 {
                    break;
                }
            }
        }
        first += len;
        if code < first {
            return class;
        }
    }
    OTHER
}

/// Runs of characters whose lowercase is one character at a fixed distance:
/// `(first | (count << 21) | (stride - 1) << 31, distance)`, by `first`; no run starts inside
/// another (the exhaustive test would fail). Generated.
#[rustfmt::skip]
static LOWER_RUNS: [(u32, i32); 185] = [
    (0x03400041, 32), (0x02e000c0, 32), (0x00e000d8, 32), (0x83000100, 1), (0x80600132, 1), (0x81000139, 1),
    (0x82e0014a, 1), (0x00200178, -121), (0x80600179, 1), (0x00200181, 210), (0x80400182, 1), (0x00200186, 206),
    (0x00200187, 1), (0x00400189, 205), (0x0020018b, 1), (0x0020018e, 79), (0x0020018f, 202), (0x00200190, 203),
    (0x00200191, 1), (0x00200193, 205), (0x00200194, 207), (0x00200196, 211), (0x00200197, 209), (0x00200198, 1),
    (0x0020019c, 211), (0x0020019d, 213), (0x0020019f, 214), (0x806001a0, 1), (0x002001a6, 218), (0x002001a7, 1),
    (0x002001a9, 218), (0x002001ac, 1), (0x002001ae, 218), (0x002001af, 1), (0x004001b1, 217), (0x804001b3, 1),
    (0x002001b7, 219), (0x002001b8, 1), (0x002001bc, 1), (0x002001c4, 2), (0x002001c5, 1), (0x002001c7, 2),
    (0x002001c8, 1), (0x002001ca, 2), (0x812001cb, 1), (0x812001de, 1), (0x002001f1, 2), (0x804001f2, 1),
    (0x002001f6, -97), (0x002001f7, -56), (0x828001f8, 1), (0x00200220, -130), (0x81200222, 1), (0x0020023a, 10795),
    (0x0020023b, 1), (0x0020023d, -163), (0x0020023e, 10792), (0x00200241, 1), (0x00200243, -195), (0x00200244, 69),
    (0x00200245, 71), (0x80a00246, 1), (0x80400370, 1), (0x00200376, 1), (0x0020037f, 116), (0x00200386, 38),
    (0x00600388, 37), (0x0020038c, 64), (0x0040038e, 63), (0x02200391, 32), (0x012003a3, 32), (0x002003cf, 8),
    (0x818003d8, 1), (0x002003f4, -60), (0x002003f7, 1), (0x002003f9, -7), (0x002003fa, 1), (0x006003fd, -130),
    (0x02000400, 80), (0x04000410, 32), (0x82200460, 1), (0x8360048a, 1), (0x002004c0, 15), (0x80e004c1, 1),
    (0x860004d0, 1), (0x04c00531, 48), (0x04c010a0, 7264), (0x002010c7, 7264), (0x002010cd, 7264), (0x0a0013a0, 38864),
    (0x00c013f0, 8), (0x00201c89, 1), (0x05601c90, -3008), (0x00601cbd, -3008), (0x89601e00, 1), (0x00201e9e, -7615),
    (0x86001ea0, 1), (0x01001f08, -8), (0x00c01f18, -8), (0x01001f28, -8), (0x01001f38, -8), (0x00c01f48, -8),
    (0x80801f59, -8), (0x01001f68, -8), (0x01001f88, -8), (0x01001f98, -8), (0x01001fa8, -8), (0x00401fb8, -8),
    (0x00401fba, -74), (0x00201fbc, -9), (0x00801fc8, -86), (0x00201fcc, -9), (0x00401fd8, -8), (0x00401fda, -100),
    (0x00401fe8, -8), (0x00401fea, -112), (0x00201fec, -7), (0x00401ff8, -128), (0x00401ffa, -126), (0x00201ffc, -9),
    (0x00202126, -7517), (0x0020212a, -8383), (0x0020212b, -8262), (0x00202132, 28), (0x02002160, 16), (0x00202183, 1),
    (0x034024b6, 26), (0x06002c00, 48), (0x00202c60, 1), (0x00202c62, -10743), (0x00202c63, -3814), (0x00202c64, -10727),
    (0x80602c67, 1), (0x00202c6d, -10780), (0x00202c6e, -10749), (0x00202c6f, -10783), (0x00202c70, -10782), (0x00202c72, 1),
    (0x00202c75, 1), (0x00402c7e, -10815), (0x86402c80, 1), (0x80402ceb, 1), (0x00202cf2, 1), (0x82e0a640, 1),
    (0x81c0a680, 1), (0x80e0a722, 1), (0x83e0a732, 1), (0x8040a779, 1), (0x0020a77d, -35332), (0x80a0a77e, 1),
    (0x0020a78b, 1), (0x0020a78d, -42280), (0x8040a790, 1), (0x8140a796, 1), (0x0020a7aa, -42308), (0x0020a7ab, -42319),
    (0x0020a7ac, -42315), (0x0020a7ad, -42305), (0x0020a7ae, -42308), (0x0020a7b0, -42258), (0x0020a7b1, -42282), (0x0020a7b2, -42261),
    (0x0020a7b3, 928), (0x8100a7b4, 1), (0x0020a7c4, -48), (0x0020a7c5, -42307), (0x0020a7c6, -35384), (0x8040a7c7, 1),
    (0x0020a7cb, -42343), (0x8100a7cc, 1), (0x0020a7dc, -42561), (0x0020a7f5, 1), (0x0340ff21, 32), (0x05010400, 40),
    (0x048104b0, 40), (0x01610570, 39), (0x01e1057c, 39), (0x00e1058c, 39), (0x00410594, 39), (0x06610c80, 64),
    (0x02c10d50, 32), (0x040118a0, 32), (0x04016e40, 32), (0x03216ea0, 27), (0x0441e900, 34),
];

/// The final-sigma class of every code point, as runs from U+0000: one byte `class << 6 |
/// more << 5 | length & 0x1f`, then (`more`) the rest of the length in 7-bit groups. Generated.
#[rustfmt::skip]
static SIGMA_CLASSES: [u8; 1410] = [
    39, 1, 65, 6, 65, 11, 65, 6, 154, 3, 65, 1, 65, 154, 45, 1, 65, 1, 129, 2, 65, 1, 65, 4,
    65, 129, 1, 66, 1, 129, 5, 151, 1, 159, 1, 163, 6, 1, 132, 4, 176, 6, 2, 154, 96, 6, 132, 66,
    130, 2, 65, 131, 1, 129, 4, 66, 129, 65, 131, 1, 129, 1, 148, 1, 179, 2, 1, 171, 4, 1, 71, 166,
    5, 1, 166, 1, 2, 65, 5, 65, 169, 1, 8, 109, 1, 1, 65, 1, 66, 1, 66, 1, 65, 44, 1, 65,
    11, 70, 10, 75, 1, 65, 35, 1, 65, 10, 85, 16, 65, 37, 3, 72, 1, 74, 1, 68, 33, 1, 65, 1,
    65, 30, 91, 59, 2, 75, 58, 1, 75, 4, 65, 2, 65, 24, 88, 43, 1, 67, 44, 1, 65, 7, 66, 5,
    73, 41, 1, 122, 1, 55, 1, 65, 1, 65, 4, 72, 4, 65, 3, 71, 10, 66, 13, 65, 15, 65, 58, 1,
    65, 4, 68, 8, 65, 20, 66, 26, 65, 2, 66, 57, 1, 65, 4, 66, 4, 66, 2, 67, 3, 65, 30, 66,
    3, 65, 11, 66, 57, 1, 65, 4, 69, 1, 66, 4, 65, 20, 66, 22, 70, 1, 65, 58, 1, 65, 2, 65,
    1, 68, 8, 65, 7, 66, 11, 66, 30, 65, 61, 1, 65, 12, 65, 50, 1, 65, 3, 65, 55, 1, 65, 1,
    67, 5, 67, 1, 68, 7, 66, 11, 66, 29, 65, 58, 1, 65, 2, 65, 6, 65, 5, 66, 20, 66, 28, 66,
    57, 1, 66, 4, 68, 8, 65, 20, 66, 29, 65, 40, 2, 65, 7, 67, 1, 65, 58, 2, 65, 2, 71, 11,
    73, 34, 3, 65, 2, 73, 9, 65, 1, 71, 41, 2, 66, 27, 65, 1, 65, 1, 65, 55, 1, 78, 1, 69,
    1, 66, 5, 75, 1, 100, 1, 9, 65, 38, 3, 68, 1, 70, 1, 66, 2, 66, 25, 66, 4, 67, 16, 68,
    13, 65, 2, 66, 6, 65, 15, 65, 2, 166, 1, 1, 129, 5, 129, 2, 171, 1, 1, 65, 131, 61, 18, 67,
    32, 2, 182, 2, 2, 134, 52, 24, 67, 29, 66, 30, 66, 30, 66, 32, 2, 66, 1, 71, 8, 65, 2, 75,
    3, 65, 5, 65, 45, 1, 69, 51, 1, 65, 33, 2, 66, 34, 1, 65, 54, 3, 67, 4, 66, 9, 65, 6,
    67, 59, 6, 66, 2, 65, 58, 1, 65, 1, 71, 1, 65, 1, 65, 2, 72, 6, 74, 2, 65, 39, 1, 65,
    8, 110, 1, 2, 76, 20, 68, 48, 1, 65, 1, 69, 1, 65, 5, 65, 40, 1, 73, 12, 66, 32, 1, 68,
    2, 66, 1, 67, 56, 1, 65, 1, 66, 3, 65, 1, 67, 58, 1, 72, 2, 66, 32, 2, 70, 2, 139, 5,
    171, 1, 2, 131, 16, 67, 1, 77, 1, 71, 4, 65, 6, 65, 3, 66, 6, 172, 1, 127, 1, 141, 65, 162,
    1, 101, 3, 182, 8, 2, 134, 2, 166, 1, 2, 134, 2, 136, 1, 129, 1, 129, 1, 129, 1, 159, 2, 181,
    1, 1, 135, 65, 129, 67, 131, 1, 135, 67, 132, 2, 134, 1, 67, 141, 67, 2, 131, 1, 135, 66, 12, 69,
    8, 66, 10, 65, 2, 65, 2, 69, 49, 1, 69, 1, 74, 1, 65, 13, 65, 16, 77, 51, 1, 97, 1, 17,
    129, 4, 129, 2, 138, 1, 129, 3, 133, 6, 129, 1, 129, 1, 129, 1, 132, 1, 134, 4, 129, 2, 132, 5,
    133, 4, 129, 17, 160, 1, 3, 130, 49, 25, 180, 1, 54, 56, 188, 3, 66, 167, 3, 6, 132, 67, 130, 12,
    166, 1, 1, 129, 5, 129, 33, 2, 65, 15, 65, 32, 3, 96, 1, 47, 1, 65, 53, 14, 65, 36, 1, 68,
    3, 69, 5, 65, 61, 2, 70, 61, 2, 67, 54, 248, 6, 65, 34, 39, 70, 46, 8, 65, 51, 1, 174, 1,
    1, 68, 1, 74, 1, 65, 156, 68, 48, 2, 66, 14, 98, 1, 174, 2, 65, 151, 67, 132, 1, 173, 2, 20,
    68, 130, 1, 66, 129, 7, 65, 3, 65, 4, 65, 25, 66, 5, 65, 55, 4, 66, 26, 82, 13, 65, 38, 1,
    72, 25, 75, 46, 1, 67, 48, 1, 65, 2, 68, 2, 66, 17, 65, 21, 66, 34, 2, 70, 2, 66, 2, 66,
    12, 65, 8, 65, 35, 1, 65, 11, 65, 51, 1, 65, 1, 67, 2, 66, 5, 66, 1, 65, 27, 65, 14, 66,
    5, 66, 1, 65, 57, 1, 171, 1, 69, 137, 67, 4, 176, 2, 37, 1, 65, 2, 65, 4, 65, 50, 248, 4,
    135, 12, 133, 6, 65, 51, 4, 81, 61, 17, 80, 3, 65, 12, 80, 34, 1, 65, 2, 65, 41, 5, 65, 7,
    65, 6, 65, 11, 65, 6, 154, 3, 65, 1, 65, 154, 21, 65, 45, 1, 66, 35, 2, 65, 21, 67, 33, 16,
    65, 34, 7, 65, 53, 4, 69, 37, 4, 176, 2, 32, 3, 164, 1, 4, 164, 1, 52, 3, 139, 1, 143, 1,
    135, 1, 130, 1, 139, 1, 143, 1, 135, 1, 130, 35, 14, 70, 1, 106, 1, 1, 73, 38, 18, 67, 1, 66,
    5, 68, 40, 1, 67, 4, 65, 37, 5, 66, 57, 12, 179, 1, 13, 179, 1, 49, 1, 68, 38, 1, 65, 1,
    150, 3, 69, 1, 65, 150, 37, 9, 66, 24, 65, 52, 1, 70, 38, 2, 75, 49, 1, 68, 59, 3, 65, 54,
    1, 79, 41, 1, 65, 2, 66, 10, 67, 49, 1, 68, 2, 66, 2, 65, 4, 65, 10, 65, 50, 1, 67, 36,
    1, 69, 1, 72, 62, 1, 65, 12, 66, 52, 1, 73, 10, 68, 2, 65, 63, 2, 67, 2, 65, 1, 66, 6,
    65, 2, 65, 61, 4, 65, 3, 72, 21, 66, 57, 1, 66, 3, 65, 37, 1, 71, 3, 69, 38, 2, 70, 13,
    65, 1, 65, 1, 65, 14, 66, 53, 2, 72, 2, 67, 1, 65, 23, 65, 52, 2, 70, 1, 65, 4, 66, 1,
    66, 46, 7, 68, 6, 66, 1, 66, 27, 66, 53, 2, 72, 2, 65, 1, 66, 42, 3, 65, 1, 65, 2, 70,
    1, 65, 37, 3, 65, 1, 65, 2, 68, 1, 69, 35, 8, 73, 1, 66, 37, 3, 160, 2, 59, 2, 66, 1,
    65, 4, 65, 48, 4, 68, 2, 66, 4, 65, 32, 1, 74, 40, 1, 70, 2, 68, 8, 65, 9, 70, 2, 67,
    46, 1, 77, 1, 66, 38, 6, 65, 1, 67, 1, 65, 41, 6, 71, 1, 70, 1, 65, 50, 2, 86, 2, 71,
    1, 66, 1, 66, 58, 3, 70, 3, 65, 1, 66, 1, 71, 1, 65, 40, 2, 66, 3, 65, 1, 65, 33, 2,
    65, 57, 8, 66, 11, 66, 52, 1, 69, 5, 65, 1, 65, 23, 65, 53, 166, 1, 81, 6, 79, 40, 230, 2,
    76, 3, 67, 32, 78, 69, 59, 1, 71, 9, 68, 60, 15, 67, 40, 1, 66, 51, 6, 160, 2, 32, 1, 153,
    2, 153, 59, 3, 65, 63, 1, 81, 32, 2, 66, 1, 66, 13, 66, 60, 255, 3, 68, 1, 71, 1, 66, 62,
    100, 66, 1, 68, 60, 146, 1, 110, 1, 2, 87, 32, 17, 67, 9, 80, 2, 71, 30, 68, 52, 4, 67, 59,
    13, 181, 2, 1, 167, 2, 1, 130, 2, 129, 2, 130, 2, 132, 1, 140, 1, 129, 1, 135, 1, 161, 2, 1,
    132, 2, 136, 1, 135, 1, 156, 1, 132, 1, 133, 1, 129, 3, 135, 1, 180, 10, 2, 153, 1, 153, 1, 159,
    1, 153, 1, 159, 1, 153, 1, 159, 1, 153, 1, 159, 1, 153, 1, 136, 52, 17, 119, 1, 4, 114, 1, 8,
    65, 14, 65, 22, 69, 1, 79, 48, 34, 138, 1, 148, 6, 134, 53, 6, 71, 1, 81, 2, 71, 1, 66, 1,
    69, 5, 126, 1, 33, 1, 65, 32, 5, 78, 48, 11, 65, 61, 1, 68, 59, 15, 69, 62, 7, 66, 51, 7,
    65, 2, 65, 7, 66, 5, 65, 9, 65, 48, 14, 71, 41, 1, 164, 2, 72, 36, 63, 154, 6, 154, 6, 154,
    49, 19, 69, 33, 224, 192, 1, 65, 30, 96, 3, 32, 4, 112, 7, 48, 240, 47,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn chars() -> impl Iterator<Item = char> {
        (0..=char::MAX as u32).filter_map(char::from_u32)
    }

    fn lower_runs() -> Vec<(u32, i32)> {
        let single: Vec<(u32, i32)> = chars()
            .filter(|c| c.to_lowercase().len() == 1 && c.to_lowercase().next() != Some(*c))
            .map(|c| (c as u32, c.to_lowercase().next().unwrap() as i32 - c as i32))
            .collect();
        let mut runs = Vec::new();
        let mut i = 0;
        while i < single.len() {
            let (first, shift) = single[i];
            let length = |stride: u32| {
                (1..).take_while(|&n| single.get(i + n).is_some_and(|&(c, s)| c == first + stride * n as u32 && s == shift)).count() + 1
            };
            let (count, stride) = if length(2) > length(1) { (length(2), 2) } else { (length(1), 1) };
            let count = count.min(0x3ff);
            runs.push((first | (count as u32) << 21 | (stride - 1) << 31, shift));
            i += count;
        }
        runs
    }

    /// The class of `c` as `str::to_lowercase` shows it: `cΣ` ends in ς when `c` is cased and
    /// not ignorable; `AcΣ` also when `c` is ignorable.
    fn std_class(c: char) -> u8 {
        let mut probe = String::with_capacity(8);
        probe.push(c);
        probe.push('Σ');
        if probe.to_lowercase().ends_with('ς') {
            return CASED;
        }
        probe.insert(0, 'A');
        if probe.to_lowercase().ends_with('ς') {
            IGNORABLE
        } else {
            OTHER
        }
    }

    fn sigma_classes(classes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < classes.len() {
            let class = classes[i];
            let len = classes[i..].iter().take_while(|&&k| k == class).count();
            out.push(class << 6 | (len as u8 & 0x1f) | if len > 0x1f { 0x20 } else { 0 });
            let mut rest = len >> 5;
            while rest > 0 {
                out.push((rest as u8 & 0x7f) | if rest > 0x7f { 0x80 } else { 0 });
                rest >>= 7;
            }
            i += len;
        }
        out
    }

    #[test]
    fn tables_are_what_std_says() {
        // Surrogates are not characters: they take their neighbours' class, to keep runs long.
        let mut classes = Vec::new();
        for code in 0..=char::MAX as u32 {
            let class = char::from_u32(code).map_or_else(|| *classes.last().unwrap(), std_class);
            classes.push(class);
        }
        let (runs, encoded) = (lower_runs(), sigma_classes(&classes));
        if runs[..] != LOWER_RUNS[..] || encoded[..] != SIGMA_CLASSES[..] {
            panic!(
                "src/client/lowercase.rs: regenerate the tables:\nstatic LOWER_RUNS: [(u32, i32); {}] = {:?};\nstatic SIGMA_CLASSES: [u8; {}] = {:?};",
                runs.len(),
                runs,
                encoded.len(),
                encoded
            );
        }
        // The decoder keeps a class for a whole run: checking both ends of every run (and the
        // last code point) checks every character, without a table scan for each.
        let ends = (1..classes.len()).filter(|&i| classes[i] != classes[i - 1]).flat_map(|i| [i - 1, i]).chain([classes.len() - 1]);
        for c in ends.filter_map(|i| char::from_u32(i as u32)) {
            assert_eq!(sigma_class(c), classes[c as usize], "class of {c:?}");
        }
    }

    #[test]
    fn every_character_lowercases_as_std_does() {
        for c in chars() {
            let mut ours = String::new();
            ours.push(c);
            assert_eq!(lowercase(&ours), c.to_lowercase().collect::<String>(), "{c:?} (U+{:04X})", c as u32);
        }
    }
}
