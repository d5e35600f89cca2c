//! `Skip`: what a player that fell behind gets until it is whole again: nothing until the next
//! keyframe (a stream without video resumes at once), then the stream's cached headers
//! (metadata and sequence headers: the keyframe needs them, and the player may have missed a
//! change while it skipped) and everything from the keyframe on. One rule for both kinds of
//! player: those a writer feeds (`Follower`) and those that read the ring (`Subscriber`).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use crate::hub::MediaStats;
use crate::packet::Packet;

#[derive(Debug, Default)]
pub(crate) struct Skip {
    active: bool,
    /// Whether the stream has video (then the skip ends at a keyframe).
    video: bool,
}

impl Skip {
    /// The player fell behind (counted once per skip); `video`: whether the stream has video.
    pub(crate) fn start(&mut self, stats: &MediaStats, video: bool) {
        if !self.active {
            stats.keyframe_skips.fetch_add(1, Relaxed);
        }
        self.active = true;
        self.video = video;
    }

    pub(crate) fn is_active(&self) -> bool {
        self.active
    }

    /// While skipping, what the player gets of `packets` (in order): `None` until a keyframe
    /// (or at once without video), then `headers()` and the packets from there on, and the skip
    /// is over.
    pub(crate) fn resume(
        &mut self,
        packets: &[Arc<Packet>],
        headers: impl FnOnce() -> Vec<Arc<Packet>>,
    ) -> Option<Vec<Arc<Packet>>> {
        let from = if self.video { packets.iter().position(|p| p.keyframe)? } else { 0 };
        self.active = false;
        let mut out = headers();
        out.extend_from_slice(&packets[from..]);
        Some(out)
    }
}
