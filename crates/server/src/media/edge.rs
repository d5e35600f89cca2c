//! Playing a stream published on another node of the cluster: this node pulls it from its
//! origin once, however many of its players watch (RTMP, HTTP-FLV, fMP4, WHEP), and serves
//! them from its own media hub.
//! The pull starts with the first player who asks for a stream that is not live here but live
//! on a living node (`cluster::origins`), plays it from the origin over RTMP with a play URL
//! this node signs itself (the app's secret is the cluster's), and pushes what arrives into
//! the local hub under the owner [`EDGE_OWNER`]; it ends when the origin ends the stream, or
//! [`GRACE`] after its last player left. An edge copy is no publish: admission and signaling
//! never hear of it (the origin announced the stream).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use duet_client::rtmp::{Conn, Target};
use duet_media::{Kind, LatencyBudget, StreamKey, Subscriber};
use duet_token::{MediaAction, MediaBases, MediaFormat, MediaUrl};

use crate::media::{MediaContext, now};

/// The owner an edge copy is published under in the local hub.
pub const EDGE_OWNER: &str = "$edge";
/// How long a pull outlives its last player (a player reconnecting keeps the copy).
pub const GRACE: Duration = Duration::from_secs(10);
/// How long a player waits for a pull to bring the stream.
const START_WAIT: Duration = Duration::from_secs(5);
/// How long an edge's play URL is valid (it is used once, at once).
const URL_TTL: u64 = 600;

/// The pulls running on this node.
#[derive(Default)]
pub struct Edges {
    pulling: Mutex<HashSet<StreamKey>>,
}

/// A player of `key`: from the local hub, or, when the stream is live on another node, from a
/// pull of it (started or joined). `None` when it is live nowhere.
pub async fn subscribe(ctx: &MediaContext, key: &StreamKey, webrtc: bool) -> Option<Subscriber> {
    let attach = || if webrtc { ctx.hub.subscribe_webrtc(key) } else { ctx.hub.subscribe(key) };
    if let Some(sub) = attach() {
        return Some(sub);
    }
    let origin = ctx.cluster.origin_of(key).await?;
    start(ctx, key, origin.addresses.rtmp);
    let deadline = tokio::time::Instant::now() + START_WAIT;
    loop {
        if let Some(sub) = attach() {
            return Some(sub);
        }
        if tokio::time::Instant::now() >= deadline || !ctx.edges.is_pulling(key) {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Edges {
    fn is_pulling(&self, key: &StreamKey) -> bool {
        self.pulling.lock().unwrap_or_else(|p| p.into_inner()).contains(key)
    }

    /// Pulls running now.
    pub fn count(&self) -> usize {
        self.pulling.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Starts pulling `key` from the origin at `origin_rtmp`, unless a pull of it runs already.
fn start(ctx: &MediaContext, key: &StreamKey, origin_rtmp: String) {
    if !ctx.edges.pulling.lock().unwrap_or_else(|p| p.into_inner()).insert(key.clone()) {
        return;
    }
    let (ctx, key) = (ctx.clone(), key.clone());
    tokio::spawn(async move {
        match pull(&ctx, &key, &origin_rtmp).await {
            Ok(why) => tracing::info!(stream = %key.stream_id, origin = %origin_rtmp, "edge pull ended: {why}"),
            Err(e) => tracing::warn!(stream = %key.stream_id, origin = %origin_rtmp, "edge pull failed: {e:#}"),
        }
        ctx.edges.pulling.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
    });
}

/// One pull: plays the stream from its origin and pushes it into the local hub until the
/// origin ends it or nobody has watched for [`GRACE`].
async fn pull(ctx: &MediaContext, key: &StreamKey, origin_rtmp: &str) -> anyhow::Result<&'static str> {
    let secret = ctx.secret(key.app_id).await.ok_or_else(|| anyhow::anyhow!("no app {}", key.app_id))?;
    let grant = MediaUrl {
        app_id: key.app_id,
        stream_id: key.stream_id.clone(),
        action: MediaAction::Play,
        user_id: format!("$edge:{}", ctx.cluster.name()),
        room_id: String::new(),
        expire: crate::os::now_unix() as u64 + URL_TTL,
    };
    let bases = MediaBases { rtmp: origin_rtmp.trim_end_matches('/').to_owned(), http: String::new() };
    let target = Target::parse(&grant.signed(&secret, &bases, MediaFormat::Rtmp))?;
    let mut conn = Conn::open(&target).await?;
    conn.play(&target).await?;
    // A copy is sent on as it comes: the origin already grouped its writes.
    let publisher = ctx
        .hub
        .publish(key.clone(), EDGE_OWNER, u64::MAX, LatencyBudget::default())
        .map_err(|_| anyhow::anyhow!("the stream is live here already"))?;
    let mut idle_since: Option<tokio::time::Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            message = conn.next() => match message? {
                Some(m) => {
                    if let Some(kind) = Kind::from_type_id(m.type_id) {
                        publisher.push(now(), kind, m.timestamp, m.payload);
                    }
                }
                None => return Ok("the origin ended the stream"),
            },
            _ = tick.tick() => {
                if publisher.players() > 0 {
                    idle_since = None;
                } else if idle_since.get_or_insert_with(tokio::time::Instant::now).elapsed() >= GRACE {
                    return Ok("no player left");
                }
            }
        }
    }
}
