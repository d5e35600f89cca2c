//! Which nodes are dead: the decision, apart from Redis. A node is dead when its registry entry
//! (refreshed every second, expiring after [`super::nodes::ENTRY_TTL`]) is gone while it is
//! still listed. No verdict is given while Redis is away, nor in the first
//! [`SETTLE`] after it is back: every node's entry may have lapsed during the outage, and the
//! living need a heartbeat to register again.

use std::time::{Duration, Instant};

/// How long Redis must have answered without a break before missing entries mean dead nodes:
/// an entry's lifetime and one more heartbeat, so every living node has written its entry
/// again since it could.
pub const SETTLE: Duration = Duration::from_secs(4);

/// The reaper's memory: since when Redis has answered this node without a break.
#[derive(Debug, Default)]
pub struct Reaper {
    reachable_since: Option<Instant>,
}

impl Reaper {
    /// One round at `now`. `reachable`: this round's reads succeeded; `listed`: the nodes the
    /// cluster lists; `alive(name)`: whether a node's entry exists. Returns the listed nodes
    /// that are dead (never `me`).
    pub fn round<'a>(
        &mut self,
        now: Instant,
        reachable: bool,
        me: &str,
        listed: impl IntoIterator<Item = &'a str>,
        alive: impl Fn(&str) -> bool,
    ) -> Vec<&'a str> {
        if !reachable {
            self.reachable_since = None;
            return Vec::new();
        }
        let since = *self.reachable_since.get_or_insert(now);
        if now.duration_since(since) < SETTLE {
            return Vec::new();
        }
        listed.into_iter().filter(|name| *name != me && !alive(name)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_entries_are_dead_only_after_redis_answered_for_a_while() {
        let t0 = Instant::now();
        let mut reaper = Reaper::default();
        let listed = ["a", "b", "c"];
        let alive = |n: &str| n == "a";
        assert!(reaper.round(t0, true, "a", listed, alive).is_empty(), "the first round only starts the clock");
        assert!(reaper.round(t0 + Duration::from_secs(1), true, "a", listed, alive).is_empty());
        assert!(reaper.round(t0 + SETTLE - Duration::from_millis(1), true, "a", listed, alive).is_empty());
        assert_eq!(reaper.round(t0 + SETTLE, true, "a", listed, alive), ["b", "c"]);
        // Redis away: nothing, and the clock starts again once it is back.
        assert!(reaper.round(t0 + SETTLE * 2, false, "a", listed, |_| false).is_empty());
        assert!(reaper.round(t0 + SETTLE * 3, true, "a", listed, alive).is_empty());
        assert_eq!(reaper.round(t0 + SETTLE * 4, true, "a", listed, alive), ["b", "c"]);
        assert!(reaper.round(t0 + SETTLE * 5, true, "a", listed, |_| false).iter().all(|n| *n != "a"), "never itself");
    }
}
