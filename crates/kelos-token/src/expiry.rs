//! Token expiry: RFC 3339 or Unix seconds in, Unix seconds out.
//!
//! Written by hand rather than pulled from a date crate: the helper needs one
//! format in each direction, and every dependency is start-up time.

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    #[error("is empty")]
    Empty,
    /// Neither Unix seconds nor `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
    #[error("is neither Unix seconds nor RFC 3339 (e.g. 2026-11-23T10:00:00Z)")]
    Format,
    #[error("is out of range")]
    OutOfRange,
}

/// Parses an expiry file's contents (surrounding whitespace ignored).
pub fn parse_expiry(raw: &[u8]) -> Result<i64, ExpiryError> {
    let raw = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
    let text = std::str::from_utf8(raw.trim_ascii()).map_err(|_| ExpiryError::Format)?;
    if text.is_empty() {
        return Err(ExpiryError::Empty);
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<i64>() {
            Ok(secs) if secs <= MAX_UNIX => Ok(secs),
            _ => Err(ExpiryError::OutOfRange),
        };
    }
    parse_rfc3339(text)
}

/// 9999-12-31T23:59:59Z: the last instant RFC 3339 can write.
const MAX_UNIX: i64 = 253_402_300_799;

fn parse_rfc3339(s: &str) -> Result<i64, ExpiryError> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err(ExpiryError::Format);
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, ExpiryError> {
        let part = &b[range];
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(ExpiryError::Format);
        }
        Ok(part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let sep = |i: usize, allowed: &[u8]| {
        if allowed.contains(&b[i]) {
            Ok(())
        } else {
            Err(ExpiryError::Format)
        }
    };
    let year = num(0..4)?;
    sep(4, b"-")?;
    let month = num(5..7)?;
    sep(7, b"-")?;
    let day = num(8..10)?;
    sep(10, b"Tt ")?;
    let hour = num(11..13)?;
    sep(13, b":")?;
    let minute = num(14..16)?;
    sep(16, b":")?;
    let second = num(17..19)?;
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(ExpiryError::Format);
        }
    }
    let offset = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(ExpiryError::Format);
            }
            let d = |x: u8| i64::from(x - b'0');
            let (h, m) = (d(*h1) * 10 + d(*h2), d(*m1) * 10 + d(*m2));
            if h > 23 || m > 59 {
                return Err(ExpiryError::OutOfRange);
            }
            let secs = h * 3600 + m * 60;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return Err(ExpiryError::Format),
    };
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap(year) => 29,
        2 => 28,
        _ => return Err(ExpiryError::OutOfRange),
    };
    // Second 60 is RFC 3339's leap second; it is read as the next second.
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return Err(ExpiryError::OutOfRange);
    }
    let days = days_from_civil(year, month, day);
    let unix = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    // The same range as the digits form: nothing before the epoch, nothing
    // past what RFC 3339 can write back.
    if !(0..=MAX_UNIX).contains(&unix) {
        return Err(ExpiryError::OutOfRange);
    }
    Ok(unix)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Formats Unix seconds as RFC 3339 in UTC, for messages.
pub fn format_rfc3339(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Seconds since the Unix epoch (negative before it).
pub fn unix_seconds(t: std::time::SystemTime) -> i64 {
    match t.duration_since(std::time::SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// How old a file is, as every message says it: `written 3m ago`, or
/// `age unknown` (no modification time, or one in the future).
pub fn describe_age(modified: Option<std::time::SystemTime>, now: std::time::SystemTime) -> String {
    modified
        .and_then(|m| now.duration_since(m).ok())
        .map(|d| format!("written {} ago", format_duration(d.as_secs() as i64)))
        .unwrap_or_else(|| "age unknown".into())
}

/// An expiry against now, as every message says it: `expired at
/// 2026-11-23T10:00:00Z (3m ago)` or `expires at ... (in 42m)`.
pub fn describe_expiry(at: i64, now: i64) -> String {
    if at <= now {
        format!(
            "expired at {} ({} ago)",
            format_rfc3339(at),
            format_duration(now - at)
        )
    } else {
        format!(
            "expires at {} (in {})",
            format_rfc3339(at),
            format_duration(at - now)
        )
    }
}

/// A duration in seconds as people say it: `42s`, `7m`, `3h12m`, `2d4h`.
pub fn format_duration(secs: i64) -> String {
    let secs = secs.unsigned_abs();
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86_399 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_table() {
        let ok: &[(&str, i64)] = &[
            ("0", 0),
            ("1795000000", 1_795_000_000),
            ("1795000000\n", 1_795_000_000),
            ("1970-01-01T00:00:00Z", 0),
            ("2026-11-23T10:00:00Z", 1_795_428_000),
            ("2026-11-23t10:00:00z", 1_795_428_000),
            ("2026-11-23 10:00:00Z", 1_795_428_000),
            ("2026-11-23T10:00:00.123456789Z", 1_795_428_000),
            ("2026-11-23T12:30:00+02:30", 1_795_428_000),
            ("2026-11-23T05:00:00-05:00", 1_795_428_000),
            ("  2026-11-23T10:00:00Z\r\n", 1_795_428_000),
            ("2024-02-29T00:00:00Z", 1_709_164_800),
            ("2000-03-01T00:00:00Z", 951_868_800),
        ];
        for (raw, want) in ok {
            assert_eq!(parse_expiry(raw.as_bytes()), Ok(*want), "{raw}");
        }
        let bad: &[(&str, ExpiryError)] = &[
            ("", ExpiryError::Empty),
            (" \n", ExpiryError::Empty),
            ("-5", ExpiryError::Format),
            ("1.5", ExpiryError::Format),
            ("99999999999999999999", ExpiryError::OutOfRange),
            ("2026-11-23", ExpiryError::Format),
            ("2026-11-23T10:00:00", ExpiryError::Format),
            ("2026-11-23T10:00:00+0200", ExpiryError::Format),
            ("2026-11-23T10:00:00.Z", ExpiryError::Format),
            ("2026/11/23T10:00:00Z", ExpiryError::Format),
            ("2026-13-01T00:00:00Z", ExpiryError::OutOfRange),
            ("2023-02-29T00:00:00Z", ExpiryError::OutOfRange),
            ("2026-11-23T24:00:00Z", ExpiryError::OutOfRange),
            ("2026-11-23T10:00:00+24:00", ExpiryError::OutOfRange),
            ("2026-11-23T10:00:00Zjunk", ExpiryError::Format),
            ("9999-12-31T23:59:59-23:59", ExpiryError::OutOfRange),
            ("1969-12-31T23:59:59Z", ExpiryError::OutOfRange),
            ("２026-11-23T10:00:00Z", ExpiryError::Format),
        ];
        for (raw, want) in bad {
            assert_eq!(parse_expiry(raw.as_bytes()), Err(*want), "{raw}");
        }
    }

    #[test]
    fn formatting_round_trips() {
        for unix in [0, 951_868_800, 1_709_164_800, 1_795_428_000, MAX_UNIX] {
            let text = format_rfc3339(unix);
            assert_eq!(parse_expiry(text.as_bytes()), Ok(unix), "{text}");
        }
        assert_eq!(format_rfc3339(1_795_428_000), "2026-11-23T10:00:00Z");
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(5), "5s");
        assert_eq!(format_duration(-125), "2m");
        assert_eq!(format_duration(3 * 3600 + 12 * 60), "3h12m");
        assert_eq!(format_duration(2 * 86_400 + 4 * 3600), "2d4h");
    }

    #[test]
    fn ages_and_expiries_in_words() {
        use std::time::{Duration, SystemTime};
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_428_000);
        let written = now - Duration::from_secs(180);
        assert_eq!(describe_age(Some(written), now), "written 3m ago");
        assert_eq!(describe_age(None, now), "age unknown");
        assert_eq!(
            describe_age(Some(now + Duration::from_secs(5)), now),
            "age unknown"
        );
        assert_eq!(
            describe_expiry(1_795_428_000, 1_795_428_180),
            "expired at 2026-11-23T10:00:00Z (3m ago)"
        );
        assert_eq!(
            describe_expiry(1_795_428_000, 1_795_428_000),
            "expired at 2026-11-23T10:00:00Z (0s ago)"
        );
        assert_eq!(
            describe_expiry(1_795_428_000, 1_795_425_480),
            "expires at 2026-11-23T10:00:00Z (in 42m)"
        );
    }
}
