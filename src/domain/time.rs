//! ISO-8601 timestamps (`2026-01-31T10:05:23.000Z`) from and to epoch milliseconds.
//! Handlers read the clock once (`Date.now()` in the shell) and pass it down.

use super::digits::push_u64;
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

/// Parses an ISO 8601 date and time in RFC 3339's profile, the form every language writes:
/// `YYYY-MM-DDTHH:MM:SS`, a fraction of any length (read to the millisecond), then `Z` or a
/// `±HH:MM` offset (`2026-01-31T10:05:23Z`, `2026-01-31T12:05:23.123456+02:00`). `None`
/// otherwise: no date alone, no local time without an offset, no day past its month's end.
// Long on purpose: a strict RFC 3339 reader, one component after another, each range check beside
// it.
pub fn parse_iso8601(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    // The digits b[from..to] as a number (a loop: `str::parse` is ~400 bytes of wasm).
    let num = |from: usize, to: usize| -> Option<u64> {
        let mut n = 0;
        for &c in b.get(from..to)? {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + (c - b'0') as u64;
        }
        Some(n)
    };
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't'))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, min, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 => 28 + leap as u64,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=12).contains(&month) || !(1..=days_in_month).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        // A fraction of any length, read to the millisecond.
        let mut scale = 100;
        while let Some(c) = b.get(i + 1).filter(|c| c.is_ascii_digit()) {
            millis += (c - b'0') as u64 * scale;
            scale /= 10;
            i += 1;
        }
        if i == 19 {
            return None;
        }
        i += 1;
    }
    // The offset: the local time minus it is UTC.
    let (ahead, behind) = match (b.get(i), b.len() - i) {
        (Some(b'Z' | b'z'), 1) => (0, 0),
        (Some(sign @ (b'+' | b'-')), 6) if b[i + 3] == b':' => {
            let (h, m) = (num(i + 1, i + 3)?, num(i + 4, i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let offset = (h * 60 + m) * 60_000;
            if *sign == b'+' {
                (0, offset)
            } else {
                (offset, 0)
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year as i64, month as u32, day as u32);
    if days < 0 {
        return None;
    }
    ((days as u64 * 86_400 + hour * 3600 + min * 60 + sec) * 1000 + millis + ahead).checked_sub(behind)
}
