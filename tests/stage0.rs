#![cfg(not(target_arch = "wasm32"))]
//! The bundles' first stage (`stage0`): raw DEFLATE streams as Node's zlib writes them, one of
//! each block type, the errors it reports instead of trapping, and the base85 it decodes in
//! place before inflating. (Every build also decodes and inflates each Function's real payload
//! with the built stage and compares: `scripts/bundle.mjs`.)

use friends_presence::stage0::{base85_in_place, inflate};

const FIXED: &[u8] = &[0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x57, 0xc8, 0x40, 0x27, 0x01];
const DYNAMIC: &[u8] = &[
    0x7d, 0xd0, 0xc9, 0x09, 0xc3, 0x50, 0x0c, 0x00, 0xd1, 0x56, 0xdc, 0x40, 0x82, 0xb5, 0x7d, 0x49, 0xe5, 0x04, 0x62, 0x83, 0x21, 0x38,
    0xe0, 0xa5, 0xff, 0x54, 0x90, 0x39, 0x0f, 0xcc, 0xe1, 0xad, 0xc7, 0xb6, 0xec, 0xef, 0xe7, 0x77, 0xff, 0x6c, 0xfb, 0x32, 0x9d, 0xd7,
    0xeb, 0xba, 0xcf, 0xe7, 0x7d, 0x2e, 0xc7, 0x63, 0x9e, 0xd6, 0xbf, 0xad, 0xa5, 0xa1, 0x96, 0x15, 0xd4, 0x8c, 0x84, 0x3a, 0x72, 0x40,
    0x8d, 0x0e, 0xaa, 0xe2, 0x50, 0xdd, 0x0c, 0xaa, 0x85, 0x42, 0xd5, 0x14, 0xa8, 0xd2, 0x64, 0x25, 0x33, 0x59, 0x29, 0x51, 0xb5, 0x13,
    0x55, 0x0d, 0xa2, 0xca, 0x22, 0xaa, 0x9c, 0x89, 0x6a, 0x28, 0x51, 0x85, 0x13, 0x95, 0x0f, 0xa2, 0xb2, 0x22, 0x2a, 0x6d, 0xa4, 0x12,
    0xb2, 0x12, 0x23, 0xab, 0x20, 0xaa, 0x4e, 0xa2, 0xaa, 0x26, 0xaa, 0x12, 0xa2, 0x4a, 0x23, 0xaa, 0x11, 0x44, 0x15, 0x49, 0x54, 0x5e,
    0x44, 0xe5, 0x33, 0x51, 0x99, 0x12, 0x95, 0x3a, 0x59, 0xc9, 0x40, 0x2b, 0xa2, 0x22, 0xa8, 0x56, 0xc5, 0xad, 0x4c, 0x3f,
];
const STORED: &[u8] = &[
    0x01, 0x17, 0x00, 0xe8, 0xff, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
    0x20, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
];
const TEXT_B: &str = "friend.online status.user-0 friend.online status.user-919 friend.online status.user-838 friend.online status.user-757 friend.online status.user-676 friend.online status.user-595 friend.online status.user-514 friend.online status.user-433 friend.online status.user-352 friend.online status.user-271 friend.online status.user-190 friend.online status.user-109 friend.online status.user-28 friend.online status.user-947 friend.online status.user-866 friend.online status.user-785 friend.online status.user-704 friend.online status.user-623 friend.online status.user-542 friend.online status.user-461 friend.online status.user-380 friend.online status.user-299 friend.online status.user-218 friend.online status.user-137 friend.online status.user-56 friend.online status.user-975 friend.online status.user-894 friend.online status.user-813 friend.online status.user-732 friend.online status.user-651 friend.online status.user-570 friend.online status.user-489 friend.online status.user-408 friend.online status.user-327 friend.online status.user-246 friend.online status.user-165 friend.online status.user-84 friend.online status.user-3 friend.online status.user-922 friend.online status.user-841 ";

fn run(src: &[u8], size: usize) -> (i32, Vec<u8>) {
    let mut out = vec![0u8; size];
    // SAFETY: both slices are valid and distinct for the call.
    let rc = unsafe { inflate(src.as_ptr(), src.len(), out.as_mut_ptr(), out.len()) };
    (rc, out)
}

#[test]
fn each_block_type_decodes() {
    assert_eq!(run(FIXED, 23), (0, b"hello hello hello hello".to_vec()));
    assert_eq!(run(STORED, 23), (0, b"hello hello hello hello".to_vec()));
    assert_eq!(run(DYNAMIC, TEXT_B.len()), (0, TEXT_B.as_bytes().to_vec()));
}

#[test]
fn a_wrong_size_or_a_damaged_stream_is_an_error_code() {
    assert_eq!(run(FIXED, 22).0, -4, "longer than said");
    assert_eq!(run(FIXED, 24).0, -4, "shorter than said");
    assert!(run(&DYNAMIC[..60], TEXT_B.len()).0 < 0, "truncated");
    assert_eq!(run(&[0b111], 4).0, -1, "block type 3 does not exist");
}

/// The bundle's base85 (scripts/bundle.mjs): 4 bytes big-endian to 5 digits, most significant
/// first, digit `d` as `#` + d, one more past the backslash; the input padded to 4 bytes.
fn encode85(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        let mut n = u32::from_be_bytes(word);
        let mut group = [0u8; 5];
        for slot in group.iter_mut().rev() {
            let d = (n % 85) as u8;
            *slot = if d < 57 { 0x23 + d } else { 0x5d + d - 57 };
            n /= 85;
        }
        out.extend_from_slice(&group);
    }
    out
}

#[test]
fn base85_decodes_in_place_to_the_padded_bytes() {
    let mut zeros = b"#####".to_vec();
    assert_eq!(base85_in_place(&mut zeros), 4);
    assert_eq!(&zeros[..4], &[0, 0, 0, 0]);
    // 0xffffffff = 82·85⁴ + 23·85³ + 54·85² + 12·85 + 0: the top digit past the backslash.
    let mut max = b"v:Y/#".to_vec();
    assert_eq!(encode85(&[0xff; 4]), max);
    assert_eq!(base85_in_place(&mut max), 4);
    assert_eq!(&max[..4], &[0xff; 4]);
    // Every byte value, an odd length (padded with zeros), and the whole alphabet on the way.
    let bytes: Vec<u8> = (0..1001u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let mut text = encode85(&bytes);
    assert!(text.iter().all(|&c| (0x23..=0x78).contains(&c) && c != b'\\' && c != b'"'));
    assert_eq!(base85_in_place(&mut text), 1004);
    assert_eq!(&text[..1001], bytes.as_slice());
    assert_eq!(&text[1001..1004], &[0, 0, 0]);
}

#[test]
fn a_base85_payload_inflates_as_the_runtime_runs_it() {
    let mut text = encode85(DYNAMIC);
    let n = base85_in_place(&mut text);
    let (rc, out) = run(&text[..n], TEXT_B.len());
    assert_eq!((rc, out), (0, TEXT_B.as_bytes().to_vec()), "the zero padding after the stream is not read");
}
