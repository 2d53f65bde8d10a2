//! Expiry file contents → `parse_expiry`, and Unix seconds → `format_rfc3339`.
//!
//! Parsing must not panic, and every instant RFC 3339 can write must read
//! back as itself.

#![no_main]

use kelos_token::expiry::{format_duration, format_rfc3339, parse_expiry, ExpiryError};
use libfuzzer_sys::fuzz_target;

/// The range `parse_expiry` accepts: 1970-01-01T00:00:00Z to
/// 9999-12-31T23:59:59Z.
const FIRST: i64 = 0;
const LAST: i64 = 253_402_300_799;

fuzz_target!(|data: &[u8]| {
    match parse_expiry(data) {
        Ok(unix) => {
            let _ = format_duration(unix);
            round_trip(unix);
        }
        Err(ExpiryError::Empty) => {
            let raw = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
            assert!(raw.trim_ascii().is_empty());
        }
        Err(ExpiryError::Format | ExpiryError::OutOfRange) => {}
    }
    if let Ok(unix) = parse_expiry(data) {
        assert!((FIRST..=LAST).contains(&unix), "{unix} is out of range");
    }

    // Any instant in range, taken from the input's first eight bytes.
    if let Some(bytes) = data.get(..8) {
        let n = i64::from_le_bytes(bytes.try_into().unwrap());
        let _ = format_rfc3339(n);
        let _ = format_duration(n);
        round_trip(FIRST + n.rem_euclid(LAST - FIRST + 1));
    }
});

fn round_trip(unix: i64) {
    let text = format_rfc3339(unix);
    assert_eq!(text.len(), 20, "{unix} → {text}");
    assert_eq!(parse_expiry(text.as_bytes()), Ok(unix), "{unix} → {text}");
    if unix >= 0 {
        // Unix seconds read as themselves too.
        assert_eq!(parse_expiry(unix.to_string().as_bytes()), Ok(unix));
    }
}
