//! Playing a stream published on another node of the cluster: this node pulls it from its
//! origin once, however many of its players watch (RTMP, HTTP-FLV, fMP4, WHEP), and serves
//! them from its own media hub.
//! The pull starts with the first player who asks for a stream that is not live here but live
//! on a living node (`cluster::origins`), plays it from the origin over RTMP with a play URL
//! this node signs itself (the app's secret is the cluster's), and pushes what arrives into
//! the local hub under an owner no user can take over (the empty one); it ends when the
//! origin ends the stream, sends nothing for [`SILENCE`], is no longer the stream's origin (as
//! Redis says: not while it cannot be asked), or [`GRACE`] after its last player left, and at once when a publisher of the stream
//! arrives on this node ([`yield_to_publisher`]). An edge copy is no publish: admission and
//! signaling never hear of it (the origin announced the stream).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use duet_client::rtmp::{Conn, Target};
use duet_media::{Kind, LatencyBudget, StreamKey, Subscriber};
use duet_token::{MediaAction, MediaBases, MediaFormat, MediaUrl};

use crate::media::{MediaContext, now};

/// How long a pull outlives its last player (a player reconnecting keeps the copy).
pub const GRACE: Duration = Duration::from_secs(10);
/// A pull whose origin sends nothing this long ends (its connection died without a close
/// while the origin node lives on; an origin node that dies is noticed sooner, by the
/// origin check).
pub const SILENCE: Duration = Duration::from_secs(30);
/// How often a pull checks that its origin still publishes the stream.
const ORIGIN_CHECK: Duration = Duration::from_secs(2);
/// How long a player waits for a pull to bring the stream.
const START_WAIT: Duration = Duration::from_secs(5);
/// How long an edge's play URL is valid (it is used once, at once).
const URL_TTL: u64 = 600;

/// The pulls running on this node, each with the signal that ends it early.
#[derive(Default)]
pub struct Edges {
    pulling: Mutex<HashMap<StreamKey, Arc<Notify>>>,
}

/// A player of `key`: from the local hub, or, when the stream is live on another node, from a
/// pull of it (started or joined). `None` when it is live nowhere.
pub async fn subscribe(ctx: &MediaContext, key: &StreamKey, webrtc: bool) -> Option<Subscriber> {
    let attach = || if webrtc { ctx.hub.subscribe_webrtc(key) } else { ctx.hub.subscribe(key) };
    if let Some(sub) = attach() {
        return Some(sub);
    }
    let origin = ctx.cluster.origin_of(key).await?;
    let rtmp = origin.node.reach().rtmp.clone();
    start(ctx, key, (origin.node.name, rtmp), origin.budget);
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
        self.pulling.lock().unwrap_or_else(|p| p.into_inner()).contains_key(key)
    }

    /// Pulls running now.
    pub fn count(&self) -> usize {
        self.pulling.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// A publisher of `key` arrived on this node while it holds an edge copy: the copy ends so the
/// publish can take the name. True when there was one (gone when this returns, or within 2 s).
pub async fn yield_to_publisher(ctx: &MediaContext, key: &StreamKey) -> bool {
    let stop = ctx.edges.pulling.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned();
    let Some(stop) = stop else { return false };
    stop.notify_one();
    for _ in 0..100 {
        if !ctx.edges.is_pulling(key) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// Starts pulling `key` from `origin` (its RTMP base `origin_rtmp`), unless a pull runs already.
/// Starts a pull of `key` from `origin` (its name, its RTMP address), unless one runs; its copy
/// is sent on with the origin's latency budget (the app's when the origin did not say).
fn start(ctx: &MediaContext, key: &StreamKey, (origin, origin_rtmp): (String, String), budget: Option<LatencyBudget>) {
    let stop = Arc::new(Notify::new());
    {
        let mut pulling = ctx.edges.pulling.lock().unwrap_or_else(|p| p.into_inner());
        if pulling.contains_key(key) {
            return;
        }
        pulling.insert(key.clone(), stop.clone());
    }
    let (ctx, key) = (ctx.clone(), key.clone());
    tokio::spawn(async move {
        let budget = match budget {
            Some(budget) => budget,
            None => ctx.apps.latency(key.app_id).await,
        };
        match pull(&ctx, &key, (&origin, &origin_rtmp), budget, &stop).await {
            Ok(why) => tracing::info!(stream = %key.stream_id, origin = %origin_rtmp, "edge pull ended: {why}"),
            Err(e) => tracing::warn!(stream = %key.stream_id, origin = %origin_rtmp, "edge pull failed: {e:#}"),
        }
        ctx.edges.pulling.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
    });
}

/// One pull: plays the stream from its origin and pushes it into the local hub until one of
/// the ends the module doc lists.
async fn pull(
    ctx: &MediaContext,
    key: &StreamKey,
    (origin, origin_rtmp): (&str, &str),
    budget: LatencyBudget,
    stop: &Notify,
) -> anyhow::Result<&'static str> {
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
    // Its players get it with the origin's budget: the link from the origin carries messages
    // one by one, so without it each player would get a write per message (the cluster
    // benchmark measured 2.3 times the CPU per delivered gigabit of one node at `frame`).
    // Owned by nobody: no user's publish can take it over, `yield_to_publisher` ends it.
    let publisher = ctx
        .hub
        .publish(key.clone(), "", u64::MAX, budget)
        .map_err(|_| anyhow::anyhow!("the stream is live here already"))?;
    let (mut idle_since, mut last_message, mut last_check) =
        (None, tokio::time::Instant::now(), tokio::time::Instant::now());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            message = conn.next() => match message? {
                Some(m) => {
                    last_message = tokio::time::Instant::now();
                    if let Some(kind) = Kind::from_type_id(m.type_id) {
                        publisher.push(now(), kind, m.timestamp, m.payload);
                    }
                }
                None => return Ok("the origin ended the stream"),
            },
            () = stop.notified() => return Ok("a publisher of the stream arrived on this node"),
            _ = tick.tick() => {
                if publisher.players() > 0 {
                    idle_since = None;
                } else if idle_since.get_or_insert_with(tokio::time::Instant::now).elapsed() >= GRACE {
                    return Ok("no player left");
                }
                if last_message.elapsed() >= SILENCE {
                    return Ok("the origin sent nothing for 30 s");
                }
                if last_check.elapsed() >= ORIGIN_CHECK {
                    last_check = tokio::time::Instant::now();
                    // While Redis cannot say, the pull goes on (the origin's end or its
                    // silence still end it): a Redis outage must not cut players.
                    if ctx.cluster.try_origin_of(key).await.is_ok_and(|o| o.is_none_or(|o| o.node.name != origin)) {
                        return Ok("the origin no longer publishes the stream");
                    }
                }
            }
        }
    }
}
