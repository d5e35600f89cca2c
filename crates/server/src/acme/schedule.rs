//! When to ask the CA for a certificate: the pure part of the renewal loop (times in, times
//! out). A certificate is renewed once two thirds of its lifetime have passed (30 days before
//! the end of a 90-day Let's Encrypt certificate, as certbot does); a failed attempt is tried
//! again after 1 minute, doubling up to an hour, never later than the renewal would be due.

use std::time::Duration;

/// The first wait after a failed attempt.
pub const FIRST_RETRY: Duration = Duration::from_secs(60);
/// The longest wait between failed attempts.
pub const MAX_RETRY: Duration = Duration::from_secs(3600);

/// Unix second at which a certificate valid from `not_before` to `not_after` is renewed.
pub fn renew_at(not_before: i64, not_after: i64) -> i64 {
    let lifetime = (not_after - not_before).max(0);
    not_after - lifetime / 3
}

/// How long to wait from `now` before the next attempt, given the served certificate's
/// validity (`None`: none yet) and the attempts that failed in a row since the last success.
pub fn next_attempt(now: i64, validity: Option<(i64, i64)>, failures: u32) -> Duration {
    let due = validity.map_or(now, |(from, to)| renew_at(from, to));
    if failures == 0 {
        return Duration::from_secs(u64::try_from(due - now).unwrap_or(0));
    }
    let backoff = FIRST_RETRY.saturating_mul(1u32 << failures.saturating_sub(1).min(16)).min(MAX_RETRY);
    // A certificate that is not due yet (a failure at start with a good stored one) waits for
    // its time; one that is due (or none) is retried with backoff.
    Duration::from_secs(u64::try_from(due - now).unwrap_or(0)).max(backoff)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn renewal_is_due_after_two_thirds_of_the_lifetime() {
        assert_eq!(renew_at(0, 90 * DAY), 60 * DAY);
        assert_eq!(renew_at(1000, 1030), 1020);
        assert_eq!(renew_at(100, 50), 50, "an inverted validity is due at its end");
    }

    #[test]
    fn the_next_attempt_waits_for_the_due_time_or_backs_off() {
        // No certificate: at once.
        assert_eq!(next_attempt(500, None, 0), Duration::ZERO);
        // A fresh one: when due.
        assert_eq!(next_attempt(0, Some((0, 90 * DAY)), 0), Duration::from_secs(60 * DAY as u64));
        // Past due: at once.
        assert_eq!(next_attempt(70 * DAY, Some((0, 90 * DAY)), 0), Duration::ZERO);
        // Failures back off 1, 2, 4, ... minutes up to an hour.
        assert_eq!(next_attempt(500, None, 1), Duration::from_secs(60));
        assert_eq!(next_attempt(500, None, 2), Duration::from_secs(120));
        assert_eq!(next_attempt(500, None, 3), Duration::from_secs(240));
        assert_eq!(next_attempt(500, None, 7), MAX_RETRY);
        assert_eq!(next_attempt(500, None, u32::MAX), MAX_RETRY);
    }
}
