//! The floor sender's batching under a latency budget (the server's `&latency=`): the rule is
//! the server's own (`duet_media::Batcher` under a `duet_media::LatencyBudget`), so the floor at
//! a budget makes the writes Duet makes; this module gathers the bytes of each write.
//!
//! [`Batcher`] does no I/O and reads no clock: the caller gives it the time and writes the
//! buffers it returns, the same buffer to every player.

use std::time::{Duration, Instant};

use bytes::Bytes;
pub use duet_media::LatencyBudget as Budget;
use duet_media::Packet;

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
    rule: duet_media::Batcher,
    pending: Vec<u8>,
    /// The instant `now_ms` counts from.
    origin: Instant,
}

impl Batcher {
    /// An empty batcher; times given to it are milliseconds after `origin`.
    pub fn new(budget: Budget, origin: Instant) -> Self {
        Self { rule: duet_media::Batcher::new(budget), pending: Vec::new(), origin }
    }

    /// Adds one packaged message that became due at `now_ms`; returns what to write now (the
    /// pending messages and this one, concatenated) when this message closes a batch.
    pub fn push(&mut self, now_ms: u64, kind: Kind, bytes: &[u8]) -> Option<Vec<u8>> {
        self.pending.extend_from_slice(bytes);
        // A message with the tag header the rule reads (the kind and whether it is a keyframe).
        let tag: &'static [u8] = match kind {
            Kind::Keyframe => &[0x17, 1],
            Kind::Video => &[0x27, 1],
            Kind::Audio => &[0xAF, 1],
        };
        let media = if kind == Kind::Audio { duet_media::Kind::Audio } else { duet_media::Kind::Video };
        let shell = Packet::new(media, 0, Bytes::from_static(tag));
        self.rule.arrived(self.at(now_ms), &shell, true).then(|| self.take())
    }

    /// At `now_ms`, what to write because the oldest pending message's budget ran out.
    pub fn poll(&mut self, now_ms: u64) -> Option<Vec<u8>> {
        let at = self.at(now_ms);
        self.rule.due(at).then(|| self.take())
    }

    fn at(&self, now_ms: u64) -> Instant {
        self.origin + Duration::from_millis(now_ms)
    }

    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batcher(budget: &str) -> Batcher {
        Batcher::new(budget.parse().unwrap(), Instant::now())
    }

    #[test]
    fn immediate_writes_every_message_alone() {
        let mut b = batcher("0");
        assert_eq!(b.push(0, Kind::Audio, b"a1"), Some(b"a1".to_vec()));
        assert_eq!(b.push(0, Kind::Video, b"v1"), Some(b"v1".to_vec()));
        assert_eq!(b.push(1, Kind::Keyframe, b"k1"), Some(b"k1".to_vec()));
        assert_eq!(b.poll(1000), None);
    }

    #[test]
    fn frame_flushes_exactly_at_each_video_frame_with_the_audio_before_it() {
        let mut b = batcher("frame");
        assert_eq!(b.push(0, Kind::Audio, b"a1"), None);
        assert_eq!(b.push(23, Kind::Audio, b"a2"), None);
        assert_eq!(b.poll(39), None);
        assert_eq!(b.push(40, Kind::Video, b"v1"), Some(b"a1a2v1".to_vec()));
        assert_eq!(b.poll(41), None, "nothing left after a flush");
        assert_eq!(b.push(46, Kind::Audio, b"a3"), None);
        assert_eq!(b.push(80, Kind::Keyframe, b"k2"), Some(b"a3k2".to_vec()));
        // Frames back to back: one write each.
        assert_eq!(b.push(120, Kind::Video, b"v3"), Some(b"v3".to_vec()));
        // Audio of a paused video waits at most the server's cap.
        assert_eq!(b.push(130, Kind::Audio, b"a4"), None);
        assert_eq!(b.poll(130 + duet_media::FRAME_CAP.as_millis() as u64), Some(b"a4".to_vec()));
    }

    #[test]
    fn millis_merges_until_the_budget_runs_out() {
        let mut b = batcher("40");
        assert_eq!(b.push(100, Kind::Audio, b"a1"), None);
        assert_eq!(b.push(123, Kind::Audio, b"a2"), None);
        assert_eq!(b.poll(139), None);
        assert_eq!(b.poll(140), Some(b"a1a2".to_vec()), "the oldest message waited 40 ms");
        assert_eq!(b.poll(1000), None);
        // The budget counts from the oldest pending message, not from the last flush.
        assert_eq!(b.push(1000, Kind::Video, b"v2"), None);
        assert_eq!(b.poll(1039), None);
        // A message that arrives when the budget has run out goes in the same write.
        assert_eq!(b.push(1041, Kind::Audio, b"a3"), Some(b"v2a3".to_vec()));
    }

    #[test]
    fn millis_writes_a_keyframe_at_once_with_what_waited() {
        let mut b = batcher("350");
        assert_eq!(b.push(0, Kind::Video, b"v1"), None);
        assert_eq!(b.push(5, Kind::Audio, b"a1"), None);
        assert_eq!(b.push(40, Kind::Keyframe, b"k1"), Some(b"v1a1k1".to_vec()));
        assert_eq!(b.poll(400), None);
        // A keyframe alone is not delayed either.
        assert_eq!(b.push(500, Kind::Keyframe, b"k2"), Some(b"k2".to_vec()));
    }
}
