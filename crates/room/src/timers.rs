//! `Timers`: one deadline per key, ordered by time. Rescheduling a key replaces its deadline,
//! cancelling removes it, so the number of entries never exceeds the number of live keys.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

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
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + elapsed * f64::from(rate)).min(f64::from(burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
}
