//! The server's only sources of wall-clock time and randomness. Cores receive both as inputs.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    // A clock before 1970 is a broken host; treat it as the epoch rather than panic.
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Milliseconds since the Unix epoch.
pub fn now_unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `N` bytes from the operating system's CSPRNG.
pub fn random<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // getrandom only fails where the OS has no entropy source at all, which Duet cannot run without.
    getrandom::fill(&mut buf).expect("the OS random source is available");
    buf
}
