//! The latency budget of the floor sender, with the semantics of the server's `&latency=`
//! publish parameter: how long a player's bytes may wait to be written together.
//!
//! - `0`: every message is written at once;
//! - `frame`: one write per video frame, holding the audio since the previous frame;
//! - `N` (milliseconds): messages are merged for up to N ms, and a keyframe flushes at once.
//!
//! [`Batcher`] does no I/O and reads no clock: the caller gives it the time and writes the
//! buffers it returns, the same buffer to every player.

use std::fmt;
use std::str::FromStr;

/// How long a player's bytes may wait to be written together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// Every message written at once (`0`).
    Immediate,
    /// One write per video frame: the frame and the audio since the last one (`frame`).
    Frame,
    /// Writes merged over up to this many milliseconds (`N`, N > 0).
    Millis(u32),
}

impl FromStr for Budget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "frame" => Ok(Self::Frame),
            _ => match s.parse::<u32>() {
                Ok(0) => Ok(Self::Immediate),
                Ok(ms) => Ok(Self::Millis(ms)),
                Err(_) => Err(format!("a latency budget is 0, frame or milliseconds, not {s:?}")),
            },
        }
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Immediate => f.write_str("0"),
            Self::Frame => f.write_str("frame"),
            Self::Millis(ms) => write!(f, "{ms}"),
        }
    }
}

/// What a message is, as far as batching cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Audio (or anything that is not video).
    Audio,
    /// A video frame that is not a keyframe.
    Video,
    /// A video keyframe: never delayed.
    Keyframe,
}

/// Collects packaged messages and says when to write them, under one budget.
pub struct Batcher {
    budget: Budget,
    pending: Vec<u8>,
    /// When the oldest pending message was added (ms).
    since_ms: Option<u64>,
}

impl Batcher {
    /// An empty batcher.
    pub fn new(budget: Budget) -> Self {
        Self { budget, pending: Vec::new(), since_ms: None }
    }

    /// Adds one packaged message that became due at `now_ms`; returns what to write now (the
    /// pending messages and this one, concatenated) when this message closes a batch.
    pub fn push(&mut self, now_ms: u64, kind: Kind, bytes: &[u8]) -> Option<Vec<u8>> {
        self.pending.extend_from_slice(bytes);
        let since = *self.since_ms.get_or_insert(now_ms);
        let due = match self.budget {
            Budget::Immediate => true,
            Budget::Frame => kind != Kind::Audio,
            Budget::Millis(ms) => kind == Kind::Keyframe || now_ms >= since + u64::from(ms),
        };
        due.then(|| self.take())
    }

    /// At `now_ms`, what to write because the oldest pending message's budget ran out.
    pub fn poll(&mut self, now_ms: u64) -> Option<Vec<u8>> {
        match (self.budget, self.since_ms) {
            (Budget::Millis(ms), Some(since)) if now_ms >= since + u64::from(ms) => Some(self.take()),
            _ => None,
        }
    }

    fn take(&mut self) -> Vec<u8> {
        self.since_ms = None;
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_parse_and_print() {
        assert_eq!("0".parse(), Ok(Budget::Immediate));
        assert_eq!("frame".parse(), Ok(Budget::Frame));
        assert_eq!("40".parse(), Ok(Budget::Millis(40)));
        assert_eq!("350".parse(), Ok(Budget::Millis(350)));
        for bad in ["", "-1", "fast", "40ms", "1.5"] {
            assert!(bad.parse::<Budget>().is_err(), "{bad:?}");
        }
        for b in [Budget::Immediate, Budget::Frame, Budget::Millis(40)] {
            assert_eq!(b.to_string().parse(), Ok(b));
        }
    }

    #[test]
    fn immediate_writes_every_message_alone() {
        let mut b = Batcher::new(Budget::Immediate);
        assert_eq!(b.push(0, Kind::Audio, b"a1"), Some(b"a1".to_vec()));
        assert_eq!(b.push(0, Kind::Video, b"v1"), Some(b"v1".to_vec()));
        assert_eq!(b.push(1, Kind::Keyframe, b"k1"), Some(b"k1".to_vec()));
        assert_eq!(b.poll(1000), None);
    }

    #[test]
    fn frame_flushes_exactly_at_each_video_frame_with_the_audio_before_it() {
        let mut b = Batcher::new(Budget::Frame);
        assert_eq!(b.push(0, Kind::Audio, b"a1"), None);
        assert_eq!(b.push(23, Kind::Audio, b"a2"), None);
        assert_eq!(b.poll(39), None);
        assert_eq!(b.push(40, Kind::Video, b"v1"), Some(b"a1a2v1".to_vec()));
        assert_eq!(b.poll(41), None, "nothing left after a flush");
        assert_eq!(b.push(46, Kind::Audio, b"a3"), None);
        // However long the audio waits, only the next frame writes it.
        assert_eq!(b.poll(10_000), None);
        assert_eq!(b.push(80, Kind::Keyframe, b"k2"), Some(b"a3k2".to_vec()));
        // Frames back to back: one write each.
        assert_eq!(b.push(120, Kind::Video, b"v3"), Some(b"v3".to_vec()));
    }

    #[test]
    fn millis_merges_until_the_budget_runs_out() {
        let mut b = Batcher::new(Budget::Millis(40));
        assert_eq!(b.push(100, Kind::Audio, b"a1"), None);
        assert_eq!(b.push(110, Kind::Video, b"v1"), None);
        assert_eq!(b.push(123, Kind::Audio, b"a2"), None);
        assert_eq!(b.poll(139), None);
        assert_eq!(b.poll(140), Some(b"a1v1a2".to_vec()), "the oldest message waited 40 ms");
        assert_eq!(b.poll(1000), None);
        // The budget counts from the oldest pending message, not from the last flush.
        assert_eq!(b.push(1000, Kind::Video, b"v2"), None);
        assert_eq!(b.poll(1039), None);
        // A message that arrives when the budget has run out goes in the same write.
        assert_eq!(b.push(1041, Kind::Audio, b"a3"), Some(b"v2a3".to_vec()));
    }

    #[test]
    fn millis_writes_a_keyframe_at_once_with_what_waited() {
        let mut b = Batcher::new(Budget::Millis(350));
        assert_eq!(b.push(0, Kind::Video, b"v1"), None);
        assert_eq!(b.push(5, Kind::Audio, b"a1"), None);
        assert_eq!(b.push(40, Kind::Keyframe, b"k1"), Some(b"v1a1k1".to_vec()));
        assert_eq!(b.poll(400), None);
        // A keyframe alone is not delayed either.
        assert_eq!(b.push(500, Kind::Keyframe, b"k2"), Some(b"k2".to_vec()));
    }
}
