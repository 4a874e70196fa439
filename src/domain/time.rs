//! ISO-8601 timestamps (`2026-01-31T10:05:23.000Z`) from and to epoch milliseconds.
//! Handlers read the clock once (`Date.now()` in the shell) and pass it down.

use super::channels::push_u64;
#[allow(unused_imports)]
use crate::prelude::*;

pub const MINUTE_MS: u64 = 60_000;

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn push_padded(out: &mut String, n: u64, width: usize) {
    let mut digits = String::new();
    push_u64(&mut digits, n);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(&digits);
}

pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let sod = secs % 86_400;
    let mut s = String::with_capacity(24);
    push_padded(&mut s, y.max(0) as u64, 4);
    s.push('-');
    push_padded(&mut s, mo as u64, 2);
    s.push('-');
    push_padded(&mut s, d as u64, 2);
    s.push('T');
    push_padded(&mut s, sod / 3600, 2);
    s.push(':');
    push_padded(&mut s, sod / 60 % 60, 2);
    s.push(':');
    push_padded(&mut s, sod % 60, 2);
    s.push('.');
    push_padded(&mut s, ms % 1000, 3);
    s.push('Z');
    s
}

/// The UTC calendar day, `YYYY-MM-DD` (the "today" of `peakToday`).
pub fn utc_day(ms: u64) -> String {
    let mut s = iso8601(ms);
    s.truncate(10);
    s
}

/// Parses the timestamps this system writes (`YYYY-MM-DDTHH:MM:SS[.mmm]Z`); `None` otherwise.
pub fn parse_iso8601(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u64> {
        let part = s.get(from..to)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, min, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let millis = match &b[19..] {
        [b'Z'] => 0,
        [b'.', d1, d2, d3, b'Z'] if [d1, d2, d3].iter().all(|c| c.is_ascii_digit()) => {
            ((d1 - b'0') as u64) * 100 + ((d2 - b'0') as u64) * 10 + (d3 - b'0') as u64
        }
        _ => return None,
    };
    let days = days_from_civil(year as i64, month as u32, day as u32);
    if days < 0 {
        return None;
    }
    Some((days as u64 * 86_400 + hour * 3600 + min * 60 + sec) * 1000 + millis)
}
