//! Whether a player got all the data: the numbers of the messages of one kind it received
//! (`synthetic::seq`) must follow each other without a gap, a repeat or a skip to a later
//! keyframe, and must cover the measured window.

/// The message numbers one player saw of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Track {
    /// The first number received.
    pub first: Option<u64>,
    /// The last number received.
    pub last: Option<u64>,
    /// Times a number was not the one after the previous (a gap, a repeat, a skip).
    pub breaks: u64,
}

impl Track {
    /// Records message number `seq`.
    pub fn see(&mut self, seq: u64) {
        if self.last.is_some_and(|last| seq != last + 1) {
            self.breaks += 1;
        }
        self.first.get_or_insert(seq);
        self.last = Some(seq);
    }

    /// Whether every message from `lo` to `hi` (inclusive) was received: no break and the
    /// range inside what was seen.
    pub fn covers(&self, lo: u64, hi: u64) -> bool {
        match (self.first, self.last) {
            (Some(first), Some(last)) => self.breaks == 0 && first <= lo && hi <= last,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(seqs: &[u64]) -> Track {
        let mut t = Track::default();
        for &s in seqs {
            t.see(s);
        }
        t
    }

    #[test]
    fn a_run_without_breaks_covers_what_it_spans() {
        let t = track(&[5, 6, 7, 8]);
        assert_eq!(t, Track { first: Some(5), last: Some(8), breaks: 0 });
        assert!(t.covers(5, 8));
        assert!(t.covers(6, 7));
        assert!(!t.covers(4, 8), "started after the window opened");
        assert!(!t.covers(5, 9), "stopped before the window closed");
    }

    #[test]
    fn gaps_repeats_and_skips_are_breaks() {
        assert_eq!(track(&[5, 6, 9]).breaks, 1, "a gap");
        assert_eq!(track(&[5, 6, 6, 7]).breaks, 1, "a repeat");
        assert_eq!(track(&[5, 7, 6]).breaks, 2, "out of order");
        assert!(!track(&[5, 6, 9, 10]).covers(9, 10), "a break anywhere fails the player");
    }

    #[test]
    fn nothing_seen_covers_nothing() {
        assert!(!Track::default().covers(0, 0));
    }
}
