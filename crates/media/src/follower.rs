//! Fan-out by one writer per stream: a [`Feed`] hands the writer each flush of a stream once,
//! and each player's [`Follower`] says what of it that player gets: nothing (its start already
//! had it), the whole flush (its shared buffer), or, for a player that stopped keeping up and
//! skips to the next keyframe, the tail from that keyframe. The writer does the sends; this
//! module only decides (no I/O, no clock).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::watch;

use crate::hub::{Attached, Live};
use crate::packet::Packet;
use crate::ring::Flush;
use crate::skip::Skip;

/// Identifies one live stream while something holds it (a stream published again after it
/// ended is another one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamId(usize);

/// A stream's flushes in order, for the one writer that hands each to its players.
pub struct Feed {
    live: Arc<Live>,
    changes: watch::Receiver<u64>,
    next_seq: u64,
}

impl Feed {
    /// The flushes released since the last call, waiting for one; `None` once the stream ended
    /// and everything was handed out. Cancel-safe. A feed that fell behind the ring goes on
    /// from the oldest flush (its followers see the gap and skip).
    pub async fn next(&mut self) -> Option<Vec<Arc<Flush>>> {
        loop {
            self.changes.borrow_and_update();
            {
                let state = self.live.state();
                let flushes: Vec<_> = match state.ring.since(self.next_seq) {
                    Ok(flushes) => flushes.cloned().collect(),
                    Err(oldest) => state.ring.since(oldest).map(|f| f.cloned().collect()).unwrap_or_default(),
                };
                if let Some(last) = flushes.last() {
                    self.next_seq = last.seq() + 1;
                    return Some(flushes);
                }
                if state.ended {
                    return None;
                }
            }
            self.changes.changed().await.ok()?;
        }
    }

    /// The flushes from `from` up to, not including, `to`; `Err` with the oldest flush the
    /// ring still holds when it dropped some of them.
    pub fn between(&self, from: u64, to: u64) -> Result<Vec<Arc<Flush>>, u64> {
        let state = self.live.state();
        Ok(state.ring.since(from)?.take_while(|f| f.seq() < to).cloned().collect())
    }
}

/// What a player gets of a flush.
#[derive(Debug)]
pub enum Take {
    /// Nothing: its start had it, or it is skipping to a keyframe.
    Nothing,
    /// The whole flush.
    Whole,
    /// These packets: the stream's headers and the tail from a keyframe, ending a skip.
    Part(Vec<Arc<Packet>>),
}

/// One player's place in a stream's flushes, when a writer hands each flush to many players.
pub struct Follower {
    live: Arc<Live>,
    start: Vec<Arc<Packet>>,
    next_seq: u64,
    skip: Skip,
    attached: Attached,
}

impl Follower {
    pub(crate) fn new(live: Arc<Live>, start: Vec<Arc<Packet>>, next_seq: u64, skip: Skip, attached: Attached) -> Self {
        Self { live, start, next_seq, skip, attached }
    }

    /// The stream it follows.
    pub fn stream(&self) -> StreamId {
        StreamId(Arc::as_ptr(&self.live) as usize)
    }

    /// Why browsers could not play the stream over WebRTC, now (see
    /// [`Subscriber::webrtc_problem`](crate::Subscriber::webrtc_problem)).
    pub fn webrtc_problem(&self) -> Option<crate::PlayProblem> {
        self.live.webrtc_problem()
    }

    /// A feed of the stream, from the next flush this player needs (for a new writer).
    pub fn feed(&self) -> Feed {
        Feed { live: self.live.clone(), changes: self.live.changes(), next_seq: self.next_seq }
    }

    /// What the player gets first, at once: metadata, sequence headers, the GOP so far.
    pub fn take_start(&mut self) -> Vec<Arc<Packet>> {
        std::mem::take(&mut self.start)
    }

    /// The next flush this player needs; a writer that hands over a later one first hands over
    /// those in between ([`Feed::between`]) or, gone from the ring, calls [`Follower::lost`].
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// What of `flush` this player gets. `keeping_up`: whether it took what was sent before
    /// (its unsent bytes are within the writer's bound); one that is not skips to the next
    /// keyframe it can take (`skip`).
    pub fn take(&mut self, flush: &Flush, keeping_up: bool) -> Take {
        if flush.seq() < self.next_seq {
            return Take::Nothing;
        }
        self.next_seq = flush.seq() + 1;
        if !keeping_up {
            self.fell_behind();
            return Take::Nothing;
        }
        if !self.skip.is_active() {
            return Take::Whole;
        }
        let live = &self.live;
        match self.skip.resume(flush.packets(), || live.state().cache.headers()) {
            Some(packets) => Take::Part(packets),
            None => Take::Nothing,
        }
    }

    /// The ring dropped the flushes this player needed: it goes on from `oldest`, skipping to a
    /// keyframe.
    pub fn lost(&mut self, oldest: u64) {
        self.next_seq = oldest;
        self.fell_behind();
    }

    fn fell_behind(&mut self) {
        let video = self.live.state().cache.has_video;
        self.skip.start(&self.attached.stats, video);
    }

    /// Counts bytes sent to this player.
    pub fn sent(&self, bytes: usize) {
        self.attached.stats.bytes_out.fetch_add(bytes as u64, Relaxed);
    }
}
