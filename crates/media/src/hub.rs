//! `Hub`: the live streams of one node, keyed by (AppID, streamID). A [`Publisher`] pushes
//! packets; each [`Subscriber`] starts at the latest keyframe (metadata and sequence headers
//! first) and then follows live packets through a bounded ring shared by all players. A player
//! that falls behind the ring skips to the next keyframe; the publisher never waits. The same
//! owner publishing a live stream again takes it over without ending it for its players.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{Notify, broadcast};

use crate::packet::{Kind, Packet};

/// Packets the ring holds; a player further behind skips to the next keyframe.
pub const RING: usize = 1024;
/// Most packets kept in the GOP cache; a longer GOP is dropped (players then wait for a keyframe).
pub const MAX_GOP_PACKETS: usize = 4096;
/// Most payload bytes kept in the GOP cache (about 40 s at 4 Mbit/s); beyond, it is dropped too.
pub const MAX_GOP_BYTES: usize = 20 * 1024 * 1024;

/// Identifies a stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    /// App.
    pub app_id: u32,
    /// Stream.
    pub stream_id: String,
}

/// Counters the server exports.
#[derive(Debug, Default)]
pub struct MediaStats {
    /// Payload bytes received from publishers.
    pub bytes_in: AtomicU64,
    /// Bytes sent to players.
    pub bytes_out: AtomicU64,
    /// Times a player fell behind and skipped to the next keyframe.
    pub keyframe_skips: AtomicU64,
    /// Players currently attached.
    pub players: AtomicU64,
}

/// A taking-over publisher's first frame follows the last one players got by this much.
const TAKEOVER_GAP_MS: u32 = 40;

#[derive(Default)]
struct Cache {
    metadata: Option<Arc<Packet>>,
    video_header: Option<Arc<Packet>>,
    audio_header: Option<Arc<Packet>>,
    gop: Vec<Arc<Packet>>,
    gop_bytes: usize,
    has_video: bool,
    has_audio: bool,
}

/// One live stream: its cache, the ring its players follow, and which publisher feeds it.
/// A stream outlives a publisher that is taken over (the same user publishing again): its
/// players stay, and the new publisher's timestamps continue where the old one's stopped.
struct Live {
    state: Mutex<LiveState>,
}

struct LiveState {
    cache: Cache,
    /// `None` once the stream ended: players then see the end.
    ring: Option<broadcast::Sender<Arc<Packet>>>,
    /// The user the publish URL named (empty: anonymous, never taken over), and its expiry.
    owner: String,
    expire: u64,
    /// The publisher feeding the stream now, and how to ask it to stop.
    publisher: u64,
    cut: Arc<Notify>,
    /// The last audio/video timestamp players got, and the current publisher's offset to it.
    last_timestamp: Option<u32>,
    offset: Option<u32>,
}

impl LiveState {
    /// The timestamp players see for a publisher's `timestamp`: as published for the first
    /// publisher, shifted to continue the stream for one that took over.
    fn rebase(&mut self, timestamp: u32) -> u32 {
        let last = self.last_timestamp;
        let offset = *self.offset.get_or_insert_with(|| match last {
            Some(last) => last.wrapping_add(TAKEOVER_GAP_MS).wrapping_sub(timestamp),
            None => 0,
        });
        let out = timestamp.wrapping_add(offset);
        self.last_timestamp = Some(out);
        out
    }
}

impl Live {
    fn state(&self) -> MutexGuard<'_, LiveState> {
        // Updates are plain assignments; a panic mid-update cannot break an invariant.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The registry of live streams.
#[derive(Default)]
pub struct Hub {
    streams: Mutex<HashMap<StreamKey, Arc<Live>>>,
    next_publisher: AtomicU64,
    /// Counters.
    pub stats: Arc<MediaStats>,
}

/// Why a publish was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlreadyLive;

impl Hub {
    fn streams(&self) -> MutexGuard<'_, HashMap<StreamKey, Arc<Live>>> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a stream for `owner` (the user its publish URL names), by a URL that expires at
    /// `expire`. While the stream is live, only the same (named) owner with a fresher URL (one
    /// that expires later: issued after the one in use) may publish it again: that publish
    /// takes over at once (the old publisher is asked to stop, players stay). Anyone else, and
    /// the same URL again, is refused.
    pub fn publish(self: &Arc<Self>, key: StreamKey, owner: &str, expire: u64) -> Result<Publisher, AlreadyLive> {
        let mut streams = self.streams();
        let id = self.next_publisher.fetch_add(1, Relaxed) + 1;
        let cut = Arc::new(Notify::new());
        if let Some(live) = streams.get(&key) {
            let mut state = live.state();
            if owner.is_empty() || state.owner != owner || expire <= state.expire || state.ring.is_none() {
                return Err(AlreadyLive);
            }
            state.expire = expire;
            state.cut.notify_one();
            state.cut = cut.clone();
            state.publisher = id;
            state.offset = None;
            // The old encoder's GOP is of no use to a new player; the new one's comes next.
            state.cache.gop.clear();
            state.cache.gop_bytes = 0;
            let live = live.clone();
            return Ok(Publisher {
                hub: self.clone(),
                key,
                live,
                received: AtomicU64::new(0),
                id,
                cut,
                took_over: true,
            });
        }
        let (ring, _) = broadcast::channel(RING);
        let state = LiveState {
            cache: Cache::default(),
            ring: Some(ring),
            owner: owner.to_owned(),
            expire,
            publisher: id,
            cut: cut.clone(),
            last_timestamp: None,
            offset: None,
        };
        let live = Arc::new(Live { state: Mutex::new(state) });
        streams.insert(key.clone(), live.clone());
        Ok(Publisher { hub: self.clone(), key, live, received: AtomicU64::new(0), id, cut, took_over: false })
    }

    /// Attaches a player, or `None` when the stream is not live.
    pub fn subscribe(&self, key: &StreamKey) -> Option<Subscriber> {
        let live = self.streams().get(key)?.clone();
        let state = live.state();
        let rx = state.ring.as_ref()?.subscribe();
        let cache = &state.cache;
        let start: Vec<Arc<Packet>> = cache
            .metadata
            .iter()
            .chain(&cache.video_header)
            .chain(&cache.audio_header)
            .chain(&cache.gop)
            .cloned()
            .collect();
        let sub = Subscriber {
            rx,
            start: start.into_iter().rev().collect(),
            skipping: false,
            has_video: cache.has_video,
            has_audio: cache.has_audio,
            stats: self.stats.clone(),
        };
        self.stats.players.fetch_add(1, Relaxed);
        Some(sub)
    }

    /// Asks the publisher of `key` to stop (its publishing session ended elsewhere).
    pub fn cut(&self, key: &StreamKey) -> bool {
        match self.streams().get(key) {
            Some(live) => {
                live.state().cut.notify_one();
                true
            }
            None => false,
        }
    }

    /// Live streams now.
    pub fn live_count(&self) -> usize {
        self.streams().len()
    }
}

/// The right to push packets into a stream; dropping it ends the stream for every player.
pub struct Publisher {
    hub: Arc<Hub>,
    key: StreamKey,
    live: Arc<Live>,
    received: AtomicU64,
    id: u64,
    cut: Arc<Notify>,
    took_over: bool,
}

impl Publisher {
    /// The stream.
    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    /// Unique among this hub's publishers (never 0).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether this publish took the stream over from an earlier one of the same owner.
    pub fn took_over(&self) -> bool {
        self.took_over
    }

    /// Payload bytes pushed into this stream so far.
    pub fn bytes_received(&self) -> u64 {
        self.received.load(Relaxed)
    }

    /// Forwards one message (its payload is shared, not copied).
    pub fn push(&self, kind: Kind, timestamp: u32, payload: Bytes) {
        let mut state = self.live.state();
        if state.publisher != self.id {
            return; // taken over: this publisher is being cut
        }
        self.hub.stats.bytes_in.fetch_add(payload.len() as u64, Relaxed);
        self.received.fetch_add(payload.len() as u64, Relaxed);
        let timestamp = if kind == Kind::Metadata { timestamp } else { state.rebase(timestamp) };
        let packet = Arc::new(Packet::new(kind, timestamp, payload));
        let state = &mut *state;
        let cache = &mut state.cache;
        match kind {
            Kind::Metadata => cache.metadata = Some(packet.clone()),
            Kind::Video if packet.sequence_header => {
                cache.has_video = true;
                cache.video_header = Some(packet.clone());
            }
            Kind::Audio if packet.sequence_header => {
                cache.has_audio = true;
                cache.audio_header = Some(packet.clone());
            }
            Kind::Video => {
                cache.has_video = true;
                if packet.keyframe {
                    cache.gop.clear();
                    cache.gop_bytes = 0;
                }
                if !cache.gop.is_empty() || packet.keyframe {
                    cache.gop_bytes += packet.payload.len();
                    cache.gop.push(packet.clone());
                }
            }
            Kind::Audio => {
                cache.has_audio = true;
                // Audio rides along with the GOP so a new player gets both from the keyframe on.
                if !cache.gop.is_empty() {
                    cache.gop_bytes += packet.payload.len();
                    cache.gop.push(packet.clone());
                }
            }
        }
        if cache.gop.len() > MAX_GOP_PACKETS || cache.gop_bytes > MAX_GOP_BYTES {
            cache.gop.clear();
            cache.gop_bytes = 0;
        }
        // Sent under the lock so a subscriber's snapshot and its ring position never overlap
        // or leave a gap. No receivers is fine.
        if let Some(ring) = &state.ring {
            let _ = ring.send(packet);
        }
    }

    /// Completes when the hub asks this publisher to stop (signaling released its stream, or
    /// the same owner took the stream over).
    pub async fn cut_requested(&self) {
        self.cut.notified().await;
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let mut streams = self.hub.streams();
        if streams.get(&self.key).is_some_and(|l| Arc::ptr_eq(l, &self.live)) {
            let mut state = self.live.state();
            // A publisher that was taken over leaves the stream to its successor.
            if state.publisher == self.id {
                state.ring = None;
                drop(state);
                streams.remove(&self.key);
            }
        }
    }
}

/// One player's view of a stream.
pub struct Subscriber {
    rx: broadcast::Receiver<Arc<Packet>>,
    start: Vec<Arc<Packet>>,
    skipping: bool,
    has_video: bool,
    has_audio: bool,
    stats: Arc<MediaStats>,
}

impl Subscriber {
    /// Tracks known at subscription (audio, video).
    pub fn tracks(&self) -> (bool, bool) {
        (self.has_audio, self.has_video)
    }

    /// The next packet to send, or `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Arc<Packet>> {
        if let Some(p) = self.start.pop() {
            return Some(p);
        }
        loop {
            match self.rx.recv().await {
                Ok(p) => {
                    if let Some(p) = self.admit(p) {
                        return Some(p);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.fell_behind(),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// A packet from the ring, unless the player is skipping to a keyframe.
    fn admit(&mut self, p: Arc<Packet>) -> Option<Arc<Packet>> {
        self.has_video |= p.kind == Kind::Video;
        if self.skipping {
            let resumes = p.keyframe || !self.has_video || p.sequence_header || p.kind == Kind::Metadata;
            if !resumes {
                return None;
            }
            self.skipping = !p.keyframe && self.has_video;
        }
        Some(p)
    }

    /// The ring overtook this player: skip to the next keyframe (counted once per skip).
    fn fell_behind(&mut self) {
        if !self.skipping {
            self.stats.keyframe_skips.fetch_add(1, Relaxed);
        }
        self.skipping = true;
    }

    /// The next packet if one is ready now (for batching writes); `None` when none is, or
    /// when the stream ended (the next [`Subscriber::next`] says which).
    pub fn try_next(&mut self) -> Option<Arc<Packet>> {
        if let Some(p) = self.start.pop() {
            return Some(p);
        }
        loop {
            match self.rx.try_recv() {
                Ok(p) => {
                    if let Some(p) = self.admit(p) {
                        return Some(p);
                    }
                }
                Err(broadcast::error::TryRecvError::Lagged(_)) => self.fell_behind(),
                Err(_) => return None,
            }
        }
    }

    /// Counts bytes sent to this player.
    pub fn sent(&self, bytes: usize) {
        self.stats.bytes_out.fetch_add(bytes as u64, Relaxed);
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stats.players.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> StreamKey {
        StreamKey { app_id: 1, stream_id: s.into() }
    }

    const AVC_HEADER: &[u8] = &[0x17, 0, 0, 0, 0, 1];
    const KEY: &[u8] = &[0x17, 1, 0, 0, 0, 9];
    const INTER: &[u8] = &[0x27, 1, 0, 0, 0, 8];
    const AAC_HEADER: &[u8] = &[0xAF, 0, 0x12, 0x10];
    const AAC: &[u8] = &[0xAF, 1, 7];

    #[tokio::test]
    async fn a_new_player_starts_at_the_latest_keyframe() {
        let hub = Arc::new(Hub::default());
        let p = hub.publish(key("s"), "u", 1).unwrap();
        assert_eq!(hub.publish(key("s"), "v", 1).err(), Some(AlreadyLive), "another owner is refused");
        assert_eq!(hub.publish(key("s"), "", 1).err(), Some(AlreadyLive), "so is an anonymous one");
        p.push(Kind::Metadata, 0, Bytes::from_static(b"meta"));
        p.push(Kind::Video, 0, Bytes::from_static(AVC_HEADER));
        p.push(Kind::Audio, 0, Bytes::from_static(AAC_HEADER));
        p.push(Kind::Video, 0, Bytes::from_static(KEY));
        p.push(Kind::Video, 40, Bytes::from_static(INTER));
        p.push(Kind::Video, 80, Bytes::from_static(KEY));
        p.push(Kind::Audio, 85, Bytes::from_static(AAC));
        p.push(Kind::Video, 120, Bytes::from_static(INTER));
        let mut sub = hub.subscribe(&key("s")).unwrap();
        assert_eq!(sub.tracks(), (true, true));
        let mut got = Vec::new();
        for _ in 0..6 {
            let pk = sub.next().await.unwrap();
            got.push((pk.kind, pk.timestamp, pk.keyframe));
        }
        assert_eq!(
            got,
            [
                (Kind::Metadata, 0, false),
                (Kind::Video, 0, false),
                (Kind::Audio, 0, false),
                (Kind::Video, 80, true),
                (Kind::Audio, 85, false),
                (Kind::Video, 120, false)
            ]
        );
        p.push(Kind::Video, 160, Bytes::from_static(INTER));
        assert_eq!(sub.next().await.unwrap().timestamp, 160);
        drop(p);
        assert!(sub.next().await.is_none(), "the stream ended");
        assert!(hub.subscribe(&key("s")).is_none());
        assert!(hub.publish(key("s"), "u", 1).is_ok(), "the key is free again");
    }

    #[tokio::test]
    async fn a_lagging_player_skips_to_the_next_keyframe() {
        let hub = Arc::new(Hub::default());
        let p = hub.publish(key("s"), "u", 1).unwrap();
        p.push(Kind::Video, 0, Bytes::from_static(KEY));
        let mut slow = hub.subscribe(&key("s")).unwrap();
        let mut fast = hub.subscribe(&key("s")).unwrap();
        assert!(slow.next().await.unwrap().keyframe);
        assert!(fast.next().await.unwrap().keyframe);
        for i in 1..=(RING as u32 + 10) {
            p.push(Kind::Video, i, Bytes::from_static(INTER));
            assert_eq!(fast.next().await.unwrap().timestamp, i, "the fast player sees everything");
        }
        p.push(Kind::Video, 5000, Bytes::from_static(KEY));
        p.push(Kind::Video, 5040, Bytes::from_static(INTER));
        let resumed = slow.next().await.unwrap();
        assert_eq!((resumed.timestamp, resumed.keyframe), (5000, true));
        assert_eq!(slow.next().await.unwrap().timestamp, 5040);
        assert_eq!(hub.stats.keyframe_skips.load(Relaxed), 1);
    }

    #[tokio::test]
    async fn the_same_owner_takes_over_and_players_stay() {
        let hub = Arc::new(Hub::default());
        let old = hub.publish(key("t"), "u", 1).unwrap();
        old.push(Kind::Video, 1000, Bytes::from_static(AVC_HEADER));
        old.push(Kind::Video, 1000, Bytes::from_static(KEY));
        old.push(Kind::Video, 1040, Bytes::from_static(INTER));
        let mut player = hub.subscribe(&key("t")).unwrap();
        for _ in 0..3 {
            player.next().await.unwrap();
        }
        assert!(hub.publish(key("t"), "u", 1).is_err(), "the same URL again is a duplicate");
        let new = hub.publish(key("t"), "u", 2).unwrap();
        assert!(new.took_over() && !old.took_over());
        tokio::time::timeout(std::time::Duration::from_secs(1), old.cut_requested()).await.expect("the old one is cut");
        old.push(Kind::Video, 1080, Bytes::from_static(INTER)); // ignored: taken over
        drop(old);
        assert_eq!(hub.live_count(), 1, "the old publisher's end does not end the stream");
        // The new encoder starts again at 0; players see its timestamps continue the stream.
        new.push(Kind::Video, 0, Bytes::from_static(AVC_HEADER));
        new.push(Kind::Video, 0, Bytes::from_static(KEY));
        new.push(Kind::Video, 40, Bytes::from_static(INTER));
        let got: Vec<(u32, bool)> = [player.next().await, player.next().await, player.next().await]
            .into_iter()
            .map(|p| p.map(|p| (p.timestamp, p.keyframe)).unwrap())
            .collect();
        assert_eq!(got, [(1080, false), (1080, true), (1120, false)]);
        // A new player starts at the new publisher's keyframe, not the old GOP.
        let mut late = hub.subscribe(&key("t")).unwrap();
        late.next().await.unwrap(); // the sequence header
        assert_eq!(late.next().await.unwrap().timestamp, 1080);
        drop(new);
        assert!(player.next().await.is_none(), "the last publisher's end ends the stream");
        assert_eq!(hub.live_count(), 0);
    }

    #[tokio::test]
    async fn hevc_over_enhanced_rtmp_is_cached_like_avc() {
        let hub = Arc::new(Hub::default());
        let p = hub.publish(key("h"), "u", 1).unwrap();
        // Enhanced RTMP: 0x80 | frame type << 4 | packet type, then the FourCC.
        let start = Bytes::from_static(b"\x90hvc1\x01\x02");
        let key_frame = Bytes::from_static(b"\x91hvc1\x00\x00\x00\x26");
        let inter = Bytes::from_static(b"\xa1hvc1\x00\x00\x00\x02");
        p.push(Kind::Video, 0, start.clone());
        p.push(Kind::Video, 0, key_frame.clone());
        p.push(Kind::Video, 40, inter.clone());
        p.push(Kind::Video, 80, key_frame.clone());
        p.push(Kind::Video, 120, inter.clone());
        let mut late = hub.subscribe(&key("h")).unwrap();
        assert_eq!(late.tracks(), (false, true));
        let first = late.next().await.unwrap();
        assert!(first.sequence_header && first.payload == start, "the sequence start comes first");
        let second = late.next().await.unwrap();
        assert_eq!((second.timestamp, second.keyframe), (80, true), "then the latest keyframe");
        assert_eq!(late.next().await.unwrap().timestamp, 120);
    }

    #[tokio::test]
    async fn audio_only_streams_play_without_keyframes() {
        let hub = Arc::new(Hub::default());
        let p = hub.publish(key("a"), "u", 1).unwrap();
        p.push(Kind::Audio, 0, Bytes::from_static(AAC_HEADER));
        p.push(Kind::Audio, 23, Bytes::from_static(AAC));
        let mut sub = hub.subscribe(&key("a")).unwrap();
        assert_eq!(sub.tracks(), (true, false));
        assert!(sub.next().await.unwrap().sequence_header);
        p.push(Kind::Audio, 46, Bytes::from_static(AAC));
        assert_eq!(sub.next().await.unwrap().timestamp, 46);
    }

    #[tokio::test]
    async fn cut_reaches_the_publisher() {
        let hub = Arc::new(Hub::default());
        let p = hub.publish(key("c"), "u", 1).unwrap();
        assert!(hub.cut(&key("c")));
        tokio::time::timeout(std::time::Duration::from_secs(1), p.cut_requested()).await.unwrap();
        assert!(!hub.cut(&key("other")));
    }
}
