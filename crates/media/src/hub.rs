//! `Hub`: the live streams of one node, keyed by (AppID, streamID). A [`Publisher`] pushes
//! messages; they wait under the stream's [`LatencyBudget`] and are released together as a
//! flush into the stream's ring (`ring`), which every player follows; the GOP cache (metadata,
//! sequence headers, the messages since the latest keyframe) is kept in step with what was
//! released, so a new [`Subscriber`] starts there and goes on with the next flush. A player
//! that falls behind the ring skips to the next keyframe; the publisher never waits. The same
//! owner publishing a live stream again takes it over without ending it for its players.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{Notify, watch};

use crate::budget::{Batcher, LatencyBudget};
use crate::cache::Cache;
pub use crate::cache::MAX_GOP_PACKETS;
use crate::packet::{Kind, Packet};
use crate::playable::{PlayProblem, Playability};
use crate::ring::Ring;
use crate::subscriber::Subscriber;

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

/// A player attached to a stream, counted in [`MediaStats::players`] and in its stream's
/// counts while it lives.
pub(crate) struct Attached {
    pub(crate) stats: Arc<MediaStats>,
    stream_players: Arc<AtomicU64>,
    /// The stream's count of WebRTC players, for one of them.
    webrtc_players: Option<Arc<AtomicU64>>,
}

impl Attached {
    fn new(stats: Arc<MediaStats>, live: &Live, webrtc: bool) -> Self {
        stats.players.fetch_add(1, Relaxed);
        live.players.fetch_add(1, Relaxed);
        let webrtc_players = webrtc.then(|| live.webrtc_players.clone());
        if let Some(n) = &webrtc_players {
            n.fetch_add(1, Relaxed);
        }
        Self { stats, stream_players: live.players.clone(), webrtc_players }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.stats.players.fetch_sub(1, Relaxed);
        self.stream_players.fetch_sub(1, Relaxed);
        if let Some(n) = &self.webrtc_players {
            n.fetch_sub(1, Relaxed);
        }
    }
}

/// A taking-over publisher's first frame follows the last one players got by this much.
const TAKEOVER_GAP_MS: u32 = 40;

/// One live stream: its cache, the ring its players follow, and which publisher feeds it.
/// A stream outlives a publisher that is taken over (the same user publishing again): its
/// players stay, and the new publisher's timestamps continue where the old one's stopped.
pub(crate) struct Live {
    state: Mutex<LiveState>,
    /// Bumped after each flush (and at the end): what players wait on.
    flushed: watch::Sender<u64>,
    /// A player needs a keyframe the cache does not have: what the publisher waits on.
    keyframe_wanted: Notify,
    /// Players attached now, and how many of them are WebRTC players (whose audio comes
    /// beside the hub: they need no AAC).
    players: Arc<AtomicU64>,
    webrtc_players: Arc<AtomicU64>,
}

pub(crate) struct LiveState {
    pub(crate) cache: Cache,
    pub(crate) ring: Ring,
    /// Messages pushed but not yet released to players.
    waiting: Vec<Arc<Packet>>,
    batcher: Batcher,
    /// The stream ended: players read what is left in the ring, then see the end.
    pub(crate) ended: bool,
    /// The user the publish URL named (empty: anonymous, never taken over), and its expiry.
    owner: String,
    expire: u64,
    /// The publisher feeding the stream now, and how to ask it to stop.
    publisher: u64,
    cut: Arc<Notify>,
    /// The last audio/video timestamp players got, and the current publisher's offset to it.
    last_timestamp: Option<u32>,
    offset: Option<u32>,
    /// Whether WebRTC players could play what was published.
    pub(crate) playability: Playability,
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

    /// Releases the waiting messages to players (one flush); whether there were any.
    fn release(&mut self) -> bool {
        self.batcher.released();
        if self.waiting.is_empty() {
            return false;
        }
        let packets = std::mem::take(&mut self.waiting);
        for p in &packets {
            self.cache.add(p);
        }
        self.ring.push(packets);
        true
    }
}

impl Live {
    pub(crate) fn state(&self) -> MutexGuard<'_, LiveState> {
        // Updates are plain assignments; a panic mid-update cannot break an invariant.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes the players (call without holding the state lock).
    fn wake_players(&self) {
        self.flushed.send_modify(|n| *n += 1);
    }

    /// The stream's WebRTC verdict (`playable`).
    pub(crate) fn webrtc_problem(&self) -> Option<PlayProblem> {
        self.state().playability.problem()
    }

    pub(crate) fn changes(&self) -> watch::Receiver<u64> {
        self.flushed.subscribe()
    }

    /// Asks the publisher for a keyframe (one that can make one: a WebRTC publisher).
    pub(crate) fn want_keyframe(&self) {
        self.keyframe_wanted.notify_one();
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
    /// `expire`, whose players get its messages within `budget`. While the stream is live,
    /// only the same (named) owner with a fresher URL (one that expires later: issued after the
    /// one in use) may publish it again: that publish takes over at once (the old publisher is
    /// asked to stop, players stay, the new budget applies). Anyone else, and the same URL
    /// again, is refused.
    pub fn publish(
        self: &Arc<Self>,
        key: StreamKey,
        owner: &str,
        expire: u64,
        budget: LatencyBudget,
    ) -> Result<Publisher, AlreadyLive> {
        let mut streams = self.streams();
        let id = self.next_publisher.fetch_add(1, Relaxed) + 1;
        let cut = Arc::new(Notify::new());
        let publisher = |live: Arc<Live>, took_over| Publisher {
            hub: self.clone(),
            key: key.clone(),
            live,
            received: AtomicU64::new(0),
            id,
            cut: cut.clone(),
            took_over,
        };
        if let Some(live) = streams.get(&key) {
            let mut state = live.state();
            if owner.is_empty() || state.owner != owner || expire <= state.expire || state.ended {
                return Err(AlreadyLive);
            }
            state.expire = expire;
            state.cut.notify_one();
            state.cut = cut.clone();
            state.publisher = id;
            state.offset = None;
            state.playability.new_publisher();
            // What the old publisher left waiting goes out; its GOP is of no use to a new
            // player (the new encoder's comes next).
            let released = state.release();
            state.batcher = Batcher::new(budget);
            state.cache.clear_gop();
            drop(state);
            if released {
                live.wake_players();
            }
            return Ok(publisher(live.clone(), true));
        }
        let state = LiveState {
            cache: Cache::default(),
            ring: Ring::default(),
            waiting: Vec::new(),
            batcher: Batcher::new(budget),
            ended: false,
            owner: owner.to_owned(),
            expire,
            publisher: id,
            cut: cut.clone(),
            last_timestamp: None,
            offset: None,
            playability: Playability::default(),
        };
        let live = Arc::new(Live {
            state: Mutex::new(state),
            flushed: watch::Sender::new(0),
            keyframe_wanted: Notify::new(),
            players: Arc::default(),
            webrtc_players: Arc::default(),
        });
        streams.insert(key.clone(), live.clone());
        Ok(publisher(live, false))
    }

    /// Attaches a player, or `None` when the stream is not live.
    pub fn subscribe(&self, key: &StreamKey) -> Option<Subscriber> {
        self.attach(key, false)
    }

    /// Attaches a WebRTC player (one whose audio does not come from the hub), or `None` when
    /// the stream is not live.
    pub fn subscribe_webrtc(&self, key: &StreamKey) -> Option<Subscriber> {
        self.attach(key, true)
    }

    fn attach(&self, key: &StreamKey, webrtc: bool) -> Option<Subscriber> {
        let live = self.streams().get(key)?.clone();
        let attached = Attached::new(self.stats.clone(), &live, webrtc);
        Subscriber::new(live, attached)
    }

    /// Whether `key` is live, and then its WebRTC verdict (without attaching a player).
    pub fn webrtc_problem(&self, key: &StreamKey) -> Option<Option<PlayProblem>> {
        Some(self.streams().get(key)?.webrtc_problem())
    }

    /// Whether `key` is live, and then which tracks it has shown so far: `(audio, video)`
    /// (without attaching a player).
    pub fn tracks(&self, key: &StreamKey) -> Option<(bool, bool)> {
        let live = self.streams().get(key)?.clone();
        let state = live.state();
        Some((state.cache.has_audio, state.cache.has_video))
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

    /// Forwards one message that arrived at `now` (its payload is shared, not copied); it
    /// reaches players when the stream's budget releases it. Returns the stream's new
    /// WebRTC verdict when this message made it worse (see [`Publisher::webrtc_problem`]): at
    /// most once per problem, for the ingest to report.
    pub fn push(&self, now: Instant, kind: Kind, timestamp: u32, payload: Bytes) -> Option<PlayProblem> {
        let mut state = self.live.state();
        if state.publisher != self.id {
            return None; // taken over: this publisher is being cut
        }
        self.hub.stats.bytes_in.fetch_add(payload.len() as u64, Relaxed);
        self.received.fetch_add(payload.len() as u64, Relaxed);
        let timestamp = if kind == Kind::Metadata { timestamp } else { state.rebase(timestamp) };
        let packet = Arc::new(Packet::new(kind, timestamp, payload));
        let worse = state.playability.check(&packet);
        let video = state.cache.has_video || kind == Kind::Video;
        let release = state.batcher.arrived(now, &packet, video);
        state.waiting.push(packet);
        // Released under the lock, so a new player's snapshot (cache and ring position) never
        // overlaps the ring or leaves a gap.
        if release && state.release() {
            drop(state);
            self.live.wake_players();
        }
        worse
    }

    /// Why browsers could not play this stream over WebRTC, as far as its messages so far
    /// tell (`None`: nothing against it yet); the worst problem seen stays for the stream's
    /// life.
    pub fn webrtc_problem(&self) -> Option<PlayProblem> {
        self.live.webrtc_problem()
    }

    /// When waiting messages must be released even if nothing else arrives
    /// ([`Publisher::handle_timeout`] then).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let state = self.live.state();
        if state.publisher != self.id { None } else { state.batcher.deadline() }
    }

    /// Releases the waiting messages if their deadline passed at `now`.
    pub fn handle_timeout(&self, now: Instant) {
        let mut state = self.live.state();
        if state.publisher == self.id && state.batcher.due(now) && state.release() {
            drop(state);
            self.live.wake_players();
        }
    }

    /// Completes when the hub asks this publisher to stop (signaling released its stream, or
    /// the same owner took the stream over).
    pub async fn cut_requested(&self) {
        self.cut.notified().await;
    }

    /// Where this publisher's `timestamp` is on the stream's clock (shifted after a takeover,
    /// as [`Publisher::push`] shifts it): for media sent beside the hub.
    pub fn stream_time(&self, timestamp: u32) -> u32 {
        timestamp.wrapping_add(self.live.state().offset.unwrap_or(0))
    }

    /// How many players the stream has now, WebRTC players included.
    pub fn players(&self) -> u64 {
        self.live.players.load(Relaxed)
    }

    /// How many players the stream has now besides its WebRTC players (those that need
    /// its audio in the hub: RTMP, FLV, fMP4, relays).
    pub fn players_besides_webrtc(&self) -> u64 {
        self.live.players.load(Relaxed).saturating_sub(self.live.webrtc_players.load(Relaxed))
    }

    /// Resolves when a player needs a keyframe that the cache does not have (a publisher
    /// that can make one on request should). Cancel-safe: a request made while nobody waits
    /// is kept for the next wait.
    pub async fn keyframe_wanted(&self) {
        self.live.keyframe_wanted.notified().await;
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let mut streams = self.hub.streams();
        if streams.get(&self.key).is_some_and(|l| Arc::ptr_eq(l, &self.live)) {
            let mut state = self.live.state();
            // A publisher that was taken over leaves the stream to its successor.
            if state.publisher == self.id {
                state.release();
                state.ended = true;
                drop(state);
                streams.remove(&self.key);
                drop(streams);
                self.live.wake_players();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RING;
    use std::time::Duration;

    fn now() -> Instant {
        Instant::now()
    }

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
        let p = hub.publish(key("s"), "u", 1, LatencyBudget::Immediate).unwrap();
        assert_eq!(
            hub.publish(key("s"), "v", 1, LatencyBudget::Immediate).err(),
            Some(AlreadyLive),
            "another owner is refused"
        );
        assert_eq!(
            hub.publish(key("s"), "", 1, LatencyBudget::Immediate).err(),
            Some(AlreadyLive),
            "so is an anonymous one"
        );
        p.push(now(), Kind::Metadata, 0, Bytes::from_static(b"meta"));
        p.push(now(), Kind::Video, 0, Bytes::from_static(AVC_HEADER));
        p.push(now(), Kind::Audio, 0, Bytes::from_static(AAC_HEADER));
        p.push(now(), Kind::Video, 0, Bytes::from_static(KEY));
        p.push(now(), Kind::Video, 40, Bytes::from_static(INTER));
        p.push(now(), Kind::Video, 80, Bytes::from_static(KEY));
        p.push(now(), Kind::Audio, 85, Bytes::from_static(AAC));
        p.push(now(), Kind::Video, 120, Bytes::from_static(INTER));
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
        p.push(now(), Kind::Video, 160, Bytes::from_static(INTER));
        assert_eq!(sub.next().await.unwrap().timestamp, 160);
        drop(p);
        assert!(sub.next().await.is_none(), "the stream ended");
        assert!(hub.subscribe(&key("s")).is_none());
        assert!(hub.publish(key("s"), "u", 1, LatencyBudget::Immediate).is_ok(), "the key is free again");
    }

    #[tokio::test]
    async fn a_lagging_player_skips_to_the_next_keyframe() {
        let hub = Arc::new(Hub::default());
        let p = hub.publish(key("s"), "u", 1, LatencyBudget::Immediate).unwrap();
        p.push(now(), Kind::Video, 0, Bytes::from_static(KEY));
        let mut slow = hub.subscribe(&key("s")).unwrap();
        let mut fast = hub.subscribe(&key("s")).unwrap();
        assert!(slow.next().await.unwrap().keyframe);
        assert!(fast.next().await.unwrap().keyframe);
        for i in 1..=(RING as u32 + 10) {
            p.push(now(), Kind::Video, i, Bytes::from_static(INTER));
            assert_eq!(fast.next().await.unwrap().timestamp, i, "the fast player sees everything");
        }
        p.push(now(), Kind::Video, 5000, Bytes::from_static(KEY));
        p.push(now(), Kind::Video, 5040, Bytes::from_static(INTER));
        let resumed = slow.next().await.unwrap();
        assert_eq!((resumed.timestamp, resumed.keyframe), (5000, true));
        assert_eq!(slow.next().await.unwrap().timestamp, 5040);
        assert_eq!(hub.stats.keyframe_skips.load(Relaxed), 1);
    }

    #[tokio::test]
    async fn the_same_owner_takes_over_and_players_stay() {
        let hub = Arc::new(Hub::default());
        let old = hub.publish(key("t"), "u", 1, LatencyBudget::Immediate).unwrap();
        old.push(now(), Kind::Video, 1000, Bytes::from_static(AVC_HEADER));
        old.push(now(), Kind::Video, 1000, Bytes::from_static(KEY));
        old.push(now(), Kind::Video, 1040, Bytes::from_static(INTER));
        let mut player = hub.subscribe(&key("t")).unwrap();
        for _ in 0..3 {
            player.next().await.unwrap();
        }
        assert!(hub.publish(key("t"), "u", 1, LatencyBudget::Immediate).is_err(), "the same URL again is a duplicate");
        let new = hub.publish(key("t"), "u", 2, LatencyBudget::Immediate).unwrap();
        assert!(new.took_over() && !old.took_over());
        tokio::time::timeout(std::time::Duration::from_secs(1), old.cut_requested()).await.expect("the old one is cut");
        old.push(now(), Kind::Video, 1080, Bytes::from_static(INTER)); // ignored: taken over
        drop(old);
        assert_eq!(hub.live_count(), 1, "the old publisher's end does not end the stream");
        // The new encoder starts again at 0; players see its timestamps continue the stream.
        new.push(now(), Kind::Video, 0, Bytes::from_static(AVC_HEADER));
        new.push(now(), Kind::Video, 0, Bytes::from_static(KEY));
        new.push(now(), Kind::Video, 40, Bytes::from_static(INTER));
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
        let p = hub.publish(key("h"), "u", 1, LatencyBudget::Immediate).unwrap();
        // Enhanced RTMP: 0x80 | frame type << 4 | packet type, then the FourCC.
        let start = Bytes::from_static(b"\x90hvc1\x01\x02");
        let key_frame = Bytes::from_static(b"\x91hvc1\x00\x00\x00\x26");
        let inter = Bytes::from_static(b"\xa1hvc1\x00\x00\x00\x02");
        p.push(now(), Kind::Video, 0, start.clone());
        p.push(now(), Kind::Video, 0, key_frame.clone());
        p.push(now(), Kind::Video, 40, inter.clone());
        p.push(now(), Kind::Video, 80, key_frame.clone());
        p.push(now(), Kind::Video, 120, inter.clone());
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
        let p = hub.publish(key("a"), "u", 1, LatencyBudget::Immediate).unwrap();
        p.push(now(), Kind::Audio, 0, Bytes::from_static(AAC_HEADER));
        p.push(now(), Kind::Audio, 23, Bytes::from_static(AAC));
        let mut sub = hub.subscribe(&key("a")).unwrap();
        assert_eq!(sub.tracks(), (true, false));
        assert!(sub.next().await.unwrap().sequence_header);
        p.push(now(), Kind::Audio, 46, Bytes::from_static(AAC));
        assert_eq!(sub.next().await.unwrap().timestamp, 46);
    }

    #[test]
    fn webrtc_players_are_told_apart() {
        let hub = Arc::new(Hub::default());
        let p = hub.publish(key("w"), "u", 1, LatencyBudget::Immediate).unwrap();
        let webrtc = hub.subscribe_webrtc(&key("w")).unwrap();
        assert_eq!(p.players_besides_webrtc(), 0, "a WebRTC player needs no AAC");
        let rtmp = hub.subscribe(&key("w")).unwrap();
        assert_eq!(p.players_besides_webrtc(), 1);
        drop(webrtc);
        assert_eq!(p.players_besides_webrtc(), 1);
        drop(rtmp);
        assert_eq!(p.players_besides_webrtc(), 0);
        assert_eq!(hub.stats.players.load(Relaxed), 0);
        assert_eq!(hub.webrtc_problem(&key("w")), Some(None));
        assert_eq!(hub.webrtc_problem(&key("none")), None);
    }

    #[tokio::test]
    async fn cut_reaches_the_publisher() {
        let hub = Arc::new(Hub::default());
        let p = hub.publish(key("c"), "u", 1, LatencyBudget::Immediate).unwrap();
        assert!(hub.cut(&key("c")));
        tokio::time::timeout(std::time::Duration::from_secs(1), p.cut_requested()).await.unwrap();
        assert!(!hub.cut(&key("other")));
    }

    /// Waits briefly for a batch; `None` if none is ready (the player would sleep).
    async fn ready(sub: &mut Subscriber) -> Option<crate::Batch> {
        tokio::time::timeout(Duration::from_millis(20), sub.next_batch()).await.ok().flatten()
    }

    fn timestamps(batch: &crate::Batch) -> Vec<u32> {
        batch.packets().map(|p| p.timestamp).collect()
    }

    #[tokio::test]
    async fn a_frame_budget_writes_each_frame_with_the_audio_before_it_in_one_buffer() {
        let hub = Arc::new(Hub::default());
        let p = hub.publish(key("f"), "u", 1, LatencyBudget::Frame).unwrap();
        let t0 = now();
        p.push(t0, Kind::Video, 0, Bytes::from_static(AVC_HEADER));
        p.push(t0, Kind::Video, 0, Bytes::from_static(KEY));
        let mut sub = hub.subscribe(&key("f")).unwrap();
        let start = ready(&mut sub).await.expect("the start is written at once");
        assert_eq!(timestamps(&start), [0, 0]);
        p.push(t0, Kind::Audio, 10, Bytes::from_static(AAC));
        p.push(t0, Kind::Audio, 33, Bytes::from_static(AAC));
        assert!(ready(&mut sub).await.is_none(), "audio waits for the next frame");
        p.push(t0, Kind::Video, 40, Bytes::from_static(INTER));
        let batch = ready(&mut sub).await.expect("the frame releases it");
        assert_eq!(timestamps(&batch), [10, 33, 40]);
        let buffers = batch.rtmp();
        assert_eq!(buffers.len(), 1, "a caught-up player writes one buffer");
        let separate: Vec<u8> = batch.packets().flat_map(|p| p.rtmp().to_vec()).collect();
        assert_eq!(&buffers[0][..], &separate[..]);
        let mut other = hub.subscribe(&key("f")).unwrap();
        let _ = ready(&mut other).await;
        p.push(t0, Kind::Video, 80, Bytes::from_static(INTER));
        let (a, b) = (ready(&mut sub).await.unwrap().flv(), ready(&mut other).await.unwrap().flv());
        assert_eq!(a[0].as_ptr(), b[0].as_ptr(), "players share the flush's buffer");
    }

    #[tokio::test]
    async fn a_window_budget_waits_for_its_deadline_and_never_for_a_keyframe() {
        let hub = Arc::new(Hub::default());
        let window = Duration::from_millis(350);
        let p = hub.publish(key("w"), "u", 1, LatencyBudget::Window(window)).unwrap();
        let t0 = now();
        p.push(t0, Kind::Video, 0, Bytes::from_static(KEY));
        let mut sub = hub.subscribe(&key("w")).unwrap();
        assert_eq!(timestamps(&ready(&mut sub).await.unwrap()), [0]);
        assert_eq!(p.poll_timeout(), None, "nothing waits");
        p.push(t0, Kind::Video, 40, Bytes::from_static(INTER));
        p.push(t0 + Duration::from_millis(100), Kind::Audio, 50, Bytes::from_static(AAC));
        assert_eq!(p.poll_timeout(), Some(t0 + window), "counted from the oldest waiting message");
        p.handle_timeout(t0 + window - Duration::from_millis(1));
        assert!(ready(&mut sub).await.is_none(), "before the deadline nothing moves");
        p.handle_timeout(t0 + window);
        assert_eq!(timestamps(&ready(&mut sub).await.unwrap()), [40, 50]);
        p.push(t0 + window, Kind::Video, 400, Bytes::from_static(INTER));
        p.push(t0 + window, Kind::Video, 440, Bytes::from_static(KEY));
        assert_eq!(timestamps(&ready(&mut sub).await.unwrap()), [400, 440], "the keyframe takes them out");
        p.push(t0 + window, Kind::Audio, 450, Bytes::from_static(AAC));
        drop(p);
        assert_eq!(timestamps(&ready(&mut sub).await.unwrap()), [450], "the end releases what waited");
        assert!(sub.next_batch().await.is_none());
    }

    #[tokio::test]
    async fn a_player_joining_while_messages_wait_gets_each_message_once() {
        let hub = Arc::new(Hub::default());
        let p = hub.publish(key("j"), "u", 1, LatencyBudget::Frame).unwrap();
        let t0 = now();
        p.push(t0, Kind::Video, 0, Bytes::from_static(KEY));
        p.push(t0, Kind::Audio, 10, Bytes::from_static(AAC)); // waits for the next frame
        let mut sub = hub.subscribe(&key("j")).unwrap();
        assert_eq!(timestamps(&ready(&mut sub).await.unwrap()), [0], "the start: released messages only");
        p.push(t0, Kind::Video, 40, Bytes::from_static(INTER));
        assert_eq!(timestamps(&ready(&mut sub).await.unwrap()), [10, 40]);
        let mut late = hub.subscribe(&key("j")).unwrap();
        assert_eq!(timestamps(&ready(&mut late).await.unwrap()), [0, 10, 40], "the GOP kept in step");
    }

    #[tokio::test]
    async fn one_feed_serves_followers_and_a_follower_that_stops_keeping_up_skips_to_a_keyframe() {
        use crate::Take;
        let hub = Arc::new(Hub::default());
        let p = hub.publish(key("o"), "u", 1, LatencyBudget::Immediate).unwrap();
        let t0 = now();
        p.push(t0, Kind::Video, 0, Bytes::from_static(AVC_HEADER));
        p.push(t0, Kind::Video, 0, Bytes::from_static(KEY));
        let mut a = hub.subscribe(&key("o")).unwrap().into_follower();
        assert_eq!(a.take_start().len(), 2, "the start goes first, at once");
        let mut feed = a.feed();
        p.push(t0, Kind::Video, 40, Bytes::from_static(INTER));
        let mut b = hub.subscribe(&key("o")).unwrap().into_follower();
        assert_eq!(b.take_start().len(), 3, "a later player's start has the flush already");
        assert_eq!(hub.stats.players.load(Relaxed), 2);
        let flushes = feed.next().await.unwrap();
        assert_eq!(flushes.len(), 1);
        assert!(matches!(a.take(&flushes[0], true), Take::Whole));
        assert!(matches!(b.take(&flushes[0], true), Take::Nothing), "not twice");
        // b stops keeping up: it gets nothing until a keyframe, then the tail from it.
        p.push(t0, Kind::Video, 80, Bytes::from_static(INTER));
        let f = feed.next().await.unwrap();
        assert!(matches!(b.take(&f[0], false), Take::Nothing));
        p.push(t0, Kind::Video, 120, Bytes::from_static(INTER));
        let f = feed.next().await.unwrap();
        assert!(matches!(b.take(&f[0], true), Take::Nothing), "waits for a keyframe");
        p.push(t0, Kind::Video, 160, Bytes::from_static(KEY));
        let f = feed.next().await.unwrap();
        match b.take(&f[0], true) {
            Take::Part(tail) => {
                let got: Vec<_> = tail.iter().map(|p| (p.sequence_header, p.timestamp)).collect();
                assert_eq!(got, [(true, 0), (false, 160)], "the headers it may have missed, then the keyframe");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(hub.stats.keyframe_skips.load(Relaxed), 1);
        // A follower that missed flushes (joined behind the feed) gets them in between.
        assert_eq!(feed.between(a.next_seq(), 5).unwrap().len(), 2, "flushes 3 and 4");
        assert_eq!(feed.between(0, 1).unwrap().len(), 1);
        drop(p);
        assert!(feed.next().await.is_none(), "the end");
        drop((a, b));
        assert_eq!(hub.stats.players.load(Relaxed), 0);
    }
}
