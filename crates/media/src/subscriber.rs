//! `Subscriber`: one player's place in a stream. It first hands out the cached start (metadata,
//! sequence headers, the GOP so far) at once, then each flush of the ring as a [`Batch`]: a
//! player that is caught up gets the flush itself, whose wire forms are one buffer shared with
//! every other such player; a player that fell behind the ring skips to the next keyframe and
//! gets the packets from there as its own. A player is woken once per flush, not per message.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use tokio::sync::watch;

use crate::follower::Follower;
use crate::hub::{Attached, Live};
use crate::packet::Packet;
use crate::ring::Flush;
use crate::skip::Skip;

/// What a player writes next, in order.
#[derive(Debug)]
pub struct Batch {
    parts: Vec<Part>,
}

#[derive(Debug)]
enum Part {
    /// A whole flush, shared with every player that is caught up.
    Shared(Arc<Flush>),
    /// Packets for this player alone (its start, or what follows a skip).
    Own(Vec<Arc<Packet>>),
}

impl Batch {
    /// The messages, in order.
    pub fn packets(&self) -> impl Iterator<Item = &Arc<Packet>> {
        self.parts.iter().flat_map(|part| match part {
            Part::Shared(flush) => flush.packets(),
            Part::Own(packets) => &packets[..],
        })
    }

    /// The batch as RTMP chunks: one buffer per shared flush (a caught-up player writes one
    /// buffer), one per message of its own.
    pub fn rtmp(&self) -> Vec<Bytes> {
        self.wire(Flush::rtmp, Packet::rtmp)
    }

    /// The batch as FLV tags, buffered like [`Batch::rtmp`].
    pub fn flv(&self) -> Vec<Bytes> {
        self.wire(Flush::flv, Packet::flv)
    }

    fn wire(&self, flush: fn(&Flush) -> &Bytes, packet: fn(&Packet) -> &Bytes) -> Vec<Bytes> {
        let mut out = Vec::new();
        for part in &self.parts {
            match part {
                Part::Shared(f) => out.push(flush(f).clone()),
                Part::Own(packets) => out.extend(packets.iter().map(|p| packet(p).clone())),
            }
        }
        out
    }
}

/// One player's view of a stream.
pub struct Subscriber {
    live: Arc<Live>,
    changes: watch::Receiver<u64>,
    /// The next flush this player reads.
    next_seq: u64,
    /// The cached start, handed out first.
    start: Vec<Arc<Packet>>,
    /// Packets of a batch not yet handed out by [`Subscriber::next`].
    queue: VecDeque<Arc<Packet>>,
    skip: Skip,
    tracks: (bool, bool),
    attached: Attached,
}

enum Taken {
    Batch(Batch),
    Nothing,
    Ended,
}

impl Subscriber {
    /// A player starting at the cached start and the next flush, or `None` when the stream
    /// ended. The snapshot is taken under the stream's lock, so it and the ring position
    /// neither overlap nor leave a gap.
    pub(crate) fn new(live: Arc<Live>, attached: Attached) -> Option<Self> {
        let state = live.state();
        if state.ended {
            return None;
        }
        let (start, next_seq) = (state.cache.start(), state.ring.next_seq());
        let tracks = (state.cache.has_audio, state.cache.has_video);
        let changes = live.changes();
        drop(state);
        Some(Self { live, changes, next_seq, start, queue: VecDeque::new(), skip: Skip::default(), tracks, attached })
    }

    /// The cached start (metadata, sequence headers, the GOP so far), taken now instead of
    /// from the first batch: for a player that sends it differently (WebRTC squeezes it).
    pub fn take_start(&mut self) -> Vec<Arc<Packet>> {
        std::mem::take(&mut self.start)
    }

    /// Asks the stream's publisher for a keyframe (for a player whose start has none).
    pub fn request_keyframe(&self) {
        self.live.want_keyframe();
    }

    /// Tracks known at subscription (audio, video).
    pub fn tracks(&self) -> (bool, bool) {
        self.tracks
    }

    /// Why browsers could not play the stream over WebRTC (`None`: nothing against it so
    /// far): what a WebRTC play checks before it starts. The verdict may get worse later, when
    /// a later message shows a problem ([`Follower::webrtc_problem`]).
    pub fn webrtc_problem(&self) -> Option<crate::PlayProblem> {
        self.live.webrtc_problem()
    }

    /// Everything ready for this player, waiting until something is; `None` when the stream
    /// ended and everything was handed out. Cancel-safe: nothing is lost if the future is
    /// dropped before it completes.
    pub async fn next_batch(&mut self) -> Option<Batch> {
        loop {
            self.changes.borrow_and_update();
            match self.take() {
                Taken::Batch(batch) => return Some(batch),
                Taken::Ended => return None,
                Taken::Nothing => {}
            }
            // The stream keeps its sender while this player holds it: an error cannot happen,
            // but would mean the end.
            self.changes.changed().await.ok()?;
        }
    }

    /// The next message, or `None` when the stream ended (for consumers that take one message
    /// at a time: fMP4, relays).
    pub async fn next(&mut self) -> Option<Arc<Packet>> {
        loop {
            if let Some(p) = self.queue.pop_front() {
                return Some(p);
            }
            let batch = self.next_batch().await?;
            self.queue.extend(batch.packets().cloned());
        }
    }

    fn take(&mut self) -> Taken {
        let mut parts = Vec::new();
        if !self.start.is_empty() {
            parts.push(Part::Own(std::mem::take(&mut self.start)));
        }
        let live = self.live.clone();
        let state = live.state();
        let flushes = match state.ring.since(self.next_seq) {
            Ok(flushes) => flushes,
            Err(oldest) => {
                self.skip.start(&self.attached.stats, state.cache.has_video);
                self.next_seq = oldest;
                state.ring.since(oldest).unwrap_or_else(|_| unreachable!("the oldest flush is there"))
            }
        };
        for flush in flushes {
            self.next_seq = flush.seq() + 1;
            if !self.skip.is_active() {
                parts.push(Part::Shared(flush.clone()));
            } else if let Some(own) = self.skip.resume(flush.packets(), || state.cache.headers()) {
                parts.push(Part::Own(own));
            }
        }
        let ended = state.ended;
        drop(state);
        match parts.is_empty() {
            false => Taken::Batch(Batch { parts }),
            true if ended => Taken::Ended,
            true => Taken::Nothing,
        }
    }

    /// Counts bytes sent to this player.
    pub fn sent(&self, bytes: usize) {
        self.attached.stats.bytes_out.fetch_add(bytes as u64, Relaxed);
    }

    /// This player, for a writer that hands each flush to many players: its start (if not
    /// taken yet) and its place in the stream.
    pub fn into_follower(self) -> Follower {
        let start = self.start.into_iter().chain(self.queue).collect();
        Follower::new(self.live, start, self.next_seq, self.skip, self.attached)
    }
}
