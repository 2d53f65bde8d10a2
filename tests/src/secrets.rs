//! Token hygiene: unique test tokens, and assertions that never print a token.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A valid-looking, unique token such as `ghs_kelosE2eFile0a1b2c3d4e5f60718`.
/// Unique per call, so a substring search for it cannot match anything else by chance.
pub fn unique_token(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mix = nanos ^ (u64::from(std::process::id()) << 32) ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    assert!(tag.chars().all(|c| c.is_ascii_alphanumeric()));
    format!("ghs_kelosE2e{tag}{n:04}x{mix:016x}")
}

/// Panics if any of `tokens` occurs in `bytes`. The message names the token by index and
/// length only.
pub fn assert_no_token(bytes: &[u8], tokens: &[&str]) {
    assert_no_token_in("output", bytes, tokens);
}

/// Like [`assert_no_token`], with a label for the message (e.g. "git stderr").
pub fn assert_no_token_in(label: &str, bytes: &[u8], tokens: &[&str]) {
    for (i, t) in tokens.iter().enumerate() {
        if t.is_empty() {
            continue;
        }
        if contains(bytes, t.as_bytes()) {
            panic!(
                "{label} contains a token (token #{i}, {} bytes, value redacted); \
                 redacted output:\n{}",
                t.len(),
                redacted(bytes, tokens)
            );
        }
    }
}

/// `bytes` as text with every token replaced by `<REDACTED#i>`: safe to print.
pub fn redacted(bytes: &[u8], tokens: &[&str]) -> String {
    let mut s = String::from_utf8_lossy(bytes).into_owned();
    for (i, t) in tokens.iter().enumerate() {
        if !t.is_empty() {
            s = s.replace(t, &format!("<REDACTED#{i}>"));
        }
    }
    s
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// A token the outputs are searched for, in full and in five-character pieces. Its body is
/// drawn from letters that never occur in hex or decimal (temp paths, PIDs), upper and lower
/// case mixed, so a five-character piece cannot turn up in an output by chance.
pub fn secret_token() -> String {
    const ALPHABET: &[u8] = b"ghjkmnpqrstuvwxyzGHJKMNPQRSTUVWXYZ";
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut state = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut body = String::new();
    for _ in 0..36 {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        body.push(ALPHABET[(z % ALPHABET.len() as u64) as usize] as char);
    }
    format!("ghs_{body}")
}

/// Panics if `bytes` holds any token, or any five consecutive characters of one.
pub fn assert_no_token_piece(label: &str, bytes: &[u8], tokens: &[String]) {
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    assert_no_token_in(label, bytes, &refs);
    for (i, t) in tokens.iter().enumerate() {
        let chars: Vec<char> = t.chars().collect();
        for w in chars.windows(5) {
            let piece: String = w.iter().collect();
            assert!(
                !String::from_utf8_lossy(bytes).contains(&piece),
                "{label} shows five characters in a row of token #{i} (more than the last \
                 four); redacted output:\n{}",
                redacted(bytes, &refs)
            );
        }
    }
}

/// Asserts that a command succeeded; the failure shows `what`, its status, and its stdout
/// and stderr with every secret redacted.
#[track_caller]
pub fn assert_success_redacted(out: &std::process::Output, what: &str, secrets: &[&str]) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        redacted(&out.stdout, secrets),
        redacted(&out.stderr, secrets)
    );
}
