//! `Timers`: one deadline per key, ordered by time. Rescheduling a key replaces its deadline,
//! cancelling removes it, so the number of entries never exceeds the number of live keys.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::ids::{ConnId, SessionId};

/// What a deadline is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerKey {
    /// A connection's heartbeat deadline.
    Heartbeat(ConnId),
    /// A detached session's resume grace period.
    Grace(SessionId),
    /// A session's next token event (warning or expiry) in one room.
    Token(SessionId, String),
    /// A room's coalesced online-count push.
    Count(u32, String),
    /// Pruning of old room events.
    Prune,
    /// The end of a stopping hub's wait for media ends.
    Shutdown,
}

/// The deadlines.
#[derive(Debug, Default)]
pub struct Timers {
    order: BTreeSet<(Instant, TimerKey)>,
    by_key: HashMap<TimerKey, Instant>,
}

impl Timers {
    /// Schedules `key` at `at`, replacing its previous deadline.
    pub fn schedule(&mut self, at: Instant, key: TimerKey) {
        if let Some(old) = self.by_key.insert(key.clone(), at) {
            self.order.remove(&(old, key.clone()));
        }
        self.order.insert((at, key));
    }

    /// Forgets `key`'s deadline.
    pub fn cancel(&mut self, key: &TimerKey) {
        if let Some(old) = self.by_key.remove(key) {
            self.order.remove(&(old, key.clone()));
        }
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.order.first().map(|(at, _)| *at)
    }

    /// Removes and returns the entries due at `now`.
    pub fn due(&mut self, now: Instant) -> Vec<(Instant, TimerKey)> {
        let mut out = Vec::new();
        while self.order.first().is_some_and(|(at, _)| *at <= now) {
            let (at, key) = self.order.pop_first().expect("checked");
            self.by_key.remove(&key);
            out.push((at, key));
        }
        out
    }

    /// Pending deadlines.
    pub fn len(&self) -> usize {
        self.order.len()
    }
}

/// A token bucket: `rate` per second, up to `burst`. Time is an input.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(now: Instant, burst: u32) -> Self {
        Self { tokens: f64::from(burst), last: now }
    }

    /// Takes one token if available.
    pub fn take(&mut self, now: Instant, rate: u32, burst: u32) -> bool {
        self.take_n(now, 1, rate, burst).is_ok()
    }

    /// Takes `n` tokens if available (a budget of bytes, say); otherwise takes none and says
    /// how long until they would be (`Duration::MAX` when `n` is over the burst or the rate
    /// is 0: never).
    pub fn take_n(&mut self, now: Instant, n: u32, rate: u32, burst: u32) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + elapsed * f64::from(rate)).min(f64::from(burst));
        let n = f64::from(n);
        if self.tokens >= n {
            self.tokens -= n;
            Ok(())
        } else if n > f64::from(burst) || rate == 0 {
            Err(Duration::MAX)
        } else {
            Err(Duration::from_secs_f64((n - self.tokens) / f64::from(rate)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)] // a test needs some starting instant
    fn due_returns_in_order_and_only_due() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.schedule(t0 + Duration::from_secs(2), TimerKey::Prune);
        t.schedule(t0 + Duration::from_secs(1), TimerKey::Heartbeat(ConnId(1)));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(
            t.due(t0 + Duration::from_millis(1500)),
            vec![(t0 + Duration::from_secs(1), TimerKey::Heartbeat(ConnId(1)))]
        );
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(2)));
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // a test needs some starting instant
    fn bucket_refills_at_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0, 2);
        assert!(b.take(t0, 1, 2));
        assert!(b.take(t0, 1, 2));
        assert!(!b.take(t0, 1, 2));
        assert!(b.take(t0 + Duration::from_secs(1), 1, 2));
        assert!(!b.take(t0 + Duration::from_secs(1), 1, 2));
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // a test needs some starting instant
    fn bucket_of_amounts_says_how_long_to_wait() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0, 1000);
        assert_eq!(b.take_n(t0, 800, 100, 1000), Ok(()));
        assert_eq!(b.take_n(t0, 500, 100, 1000), Err(Duration::from_secs(3)), "nothing taken on refusal");
        assert_eq!(b.take_n(t0 + Duration::from_secs(3), 500, 100, 1000), Ok(()));
        assert_eq!(b.take_n(t0 + Duration::from_secs(3), 1001, 100, 1000), Err(Duration::MAX));
    }
}
