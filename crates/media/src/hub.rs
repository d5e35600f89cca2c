//! `Hub`: the live streams of one node, keyed by (AppID, streamID). A [`Publisher`] pushes
//! packets; each [`Subscriber`] starts at the latest keyframe (metadata and sequence headers
//! first) and then follows live packets through a bounded ring shared by all players. A player
//! that falls behind the ring skips to the next keyframe; the publisher never waits.

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

struct Live {
    cache: Mutex<Cache>,
    ring: broadcast::Sender<Arc<Packet>>,
    cut: Notify,
}

impl Live {
    fn cache(&self) -> MutexGuard<'_, Cache> {
        // Cache updates are plain assignments; a panic mid-update cannot break an invariant.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
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

    /// Starts a stream; refused while another publisher has it.
    pub fn publish(self: &Arc<Self>, key: StreamKey) -> Result<Publisher, AlreadyLive> {
        let mut streams = self.streams();
        if streams.contains_key(&key) {
            return Err(AlreadyLive);
        }
        let (ring, _) = broadcast::channel(RING);
        let live = Arc::new(Live { cache: Mutex::default(), ring, cut: Notify::new() });
        streams.insert(key.clone(), live.clone());
        let id = self.next_publisher.fetch_add(1, Relaxed) + 1;
        Ok(Publisher { hub: self.clone(), key, live, received: AtomicU64::new(0), id })
    }

    /// Attaches a player, or `None` when the stream is not live.
    pub fn subscribe(&self, key: &StreamKey) -> Option<Subscriber> {
        let live = self.streams().get(key)?.clone();
        let cache = live.cache();
        let rx = live.ring.subscribe();
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
                live.cut.notify_one();
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

    /// Payload bytes pushed into this stream so far.
    pub fn bytes_received(&self) -> u64 {
        self.received.load(Relaxed)
    }

    /// Forwards one message (its payload is shared, not copied).
    pub fn push(&self, kind: Kind, timestamp: u32, payload: Bytes) {
        self.hub.stats.bytes_in.fetch_add(payload.len() as u64, Relaxed);
        self.received.fetch_add(payload.len() as u64, Relaxed);
        let packet = Arc::new(Packet::new(kind, timestamp, payload));
        let mut cache = self.live.cache();
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
        let _ = self.live.ring.send(packet);
    }

    /// Completes when the hub asks this publisher to stop.
    pub async fn cut_requested(&self) {
        self.live.cut.notified().await;
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let mut streams = self.hub.streams();
        if streams.get(&self.key).is_some_and(|l| Arc::ptr_eq(l, &self.live)) {
            streams.remove(&self.key);
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
        let p = hub.publish(key("s")).unwrap();
        assert_eq!(hub.publish(key("s")).err(), Some(AlreadyLive));
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
        assert!(hub.publish(key("s")).is_ok(), "the key is free again");
    }

    #[tokio::test]
    async fn a_lagging_player_skips_to_the_next_keyframe() {
        let hub = Arc::new(Hub::default());
        let p = hub.publish(key("s")).unwrap();
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
    async fn hevc_over_enhanced_rtmp_is_cached_like_avc() {
        let hub = Arc::new(Hub::default());
        let p = hub.publish(key("h")).unwrap();
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
        let p = hub.publish(key("a")).unwrap();
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
        let p = hub.publish(key("c")).unwrap();
        assert!(hub.cut(&key("c")));
        tokio::time::timeout(std::time::Duration::from_secs(1), p.cut_requested()).await.unwrap();
        assert!(!hub.cut(&key("other")));
    }
}
