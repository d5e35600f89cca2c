//! HLS and low-latency HLS playback of live streams (`duet_media::hls` packages; this module
//! decides when, and serves):
//! - `GET /live/{appID}/{streamID}.m3u8?expire&user&room&sign[&_HLS_msn=N[&_HLS_part=P]]`: the
//!   media playlist, signed like the other play URLs; with `_HLS_msn` (and `_HLS_part`) it is a
//!   blocking reload, answered once the playlist holds that segment (part);
//! - `GET /live/{appID}/{streamID}/{init-N.mp4|seg-N.m4s|part-N.P.m4s}?...`: the files the
//!   playlist lists, every URI carrying its query, so the signature reaches them without the
//!   player's help. The part the playlist's preload hint names is answered when it is made.
//!
//! A stream is packaged once, from its cached GOP on, only while someone plays it over HLS: the
//! packaging ends [`IDLE`] after the last request, or when the stream ends. The first request
//! of a stream waits for its first complete segment (about the segment target), so every
//! playlist lists media any player can start from. Everything is served from memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use duet_media::StreamKey;
use duet_media::hls::{HlsConfig, HlsFile, Packager};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::http::cors::CorsHeaders;
use crate::media::MediaContext;
use crate::media::error::MediaRefusal;

/// A stream's packaging ends this long after its last HLS request.
pub const IDLE: Duration = Duration::from_secs(30);
/// How long a first playlist request waits for the first complete segment (a stream's
/// packaging starts with its first HLS request, from the cached GOP).
const FIRST_SEGMENT_WAIT: Duration = Duration::from_secs(8);
/// How long a blocking request waits at least (RFC 8216bis: three target durations).
const BLOCK_WAIT: Duration = Duration::from_secs(6);

/// The streams packaged for HLS on this node.
#[derive(Default)]
pub struct HlsStreams {
    /// How streams are cut and listed (`--hls-segment-secs`, `--hls-part-ms`, `--hls-window`).
    pub config: HlsConfig,
    streams: Mutex<HashMap<StreamKey, Arc<Packaged>>>,
}

impl HlsStreams {
    pub fn new(config: HlsConfig) -> Self {
        Self { config, streams: Mutex::default() }
    }
}

/// One stream being packaged.
struct Packaged {
    packager: Mutex<Packager>,
    /// Bumped at every part or segment made; `None` once the packaging ended (the stream ended, or it
    /// carries a codec HLS is not made for here).
    changed: watch::Sender<Option<u64>>,
    /// Why it ended, when it did.
    ended: Mutex<Option<MediaRefusal>>,
    used: Mutex<Instant>,
}

impl Packaged {
    fn touch(&self) {
        *self.used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// Waits (at most `limit`) until `ready` holds of the packager; false when it did not.
    async fn wait(&self, limit: Duration, ready: impl Fn(&Packager) -> bool) -> Result<bool, MediaRefusal> {
        let mut changed = self.changed.subscribe();
        let deadline = Instant::now() + limit;
        loop {
            if ready(&self.packager.lock().unwrap_or_else(|p| p.into_inner())) {
                return Ok(true);
            }
            if changed.borrow_and_update().is_none() {
                let why = self.ended.lock().unwrap_or_else(|p| p.into_inner()).clone();
                return Err(why.unwrap_or_else(|| MediaRefusal::new("stream_not_found", "the stream ended")));
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(MediaRefusal::new("stream_not_found", "the stream ended")),
                Err(_) => return Ok(false),
            }
        }
    }
}

/// The stream's packaging: running, or started now (from a subscriber of the stream, here or
/// pulled from its origin node).
async fn packaged(ctx: &MediaContext, key: &StreamKey) -> Result<Arc<Packaged>, MediaRefusal> {
    if let Some(p) = ctx.hls.streams.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned()
        && p.changed.borrow().is_some()
    {
        p.touch();
        return Ok(p);
    }
    let sub = crate::media::edge::subscribe(ctx, key, false)
        .await
        .ok_or_else(|| MediaRefusal::new("stream_not_found", "the stream is not live"))?;
    let (audio, video) = sub.tracks();
    let packaged = Arc::new(Packaged {
        packager: Mutex::new(Packager::new(ctx.hls.config, video, audio)),
        changed: watch::Sender::new(Some(0)),
        ended: Mutex::new(None),
        used: Mutex::new(Instant::now()),
    });
    let mut streams = ctx.hls.streams.lock().unwrap_or_else(|p| p.into_inner());
    // Another request may have started it meanwhile: one packaging per stream.
    if let Some(p) = streams.get(key).filter(|p| p.changed.borrow().is_some()) {
        p.touch();
        return Ok(p.clone());
    }
    streams.insert(key.clone(), packaged.clone());
    drop(streams);
    tokio::spawn(package(ctx.clone(), key.clone(), sub, packaged.clone()));
    Ok(packaged)
}

/// Feeds the stream's packets to its packager until the stream ends, it carries a codec HLS
/// is not made for, or nobody asked for it for [`IDLE`].
async fn package(ctx: MediaContext, key: StreamKey, mut sub: duet_media::Subscriber, p: Arc<Packaged>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let why = loop {
        tokio::select! {
            packet = sub.next() => {
                let Some(packet) = packet else { break MediaRefusal::new("stream_not_found", "the stream ended") };
                if !duet_media::fmp4::carries(&packet) {
                    break MediaRefusal::not_fmp4("HLS", &packet);
                }
                // Waiters wake only when a part or a segment is made, not at every packet.
                if p.packager.lock().unwrap_or_else(|e| e.into_inner()).push(&packet) {
                    p.changed.send_modify(|v| *v = v.map(|n| n.wrapping_add(1)));
                }
            }
            _ = tick.tick() => {
                if p.used.lock().unwrap_or_else(|e| e.into_inner()).elapsed() >= IDLE {
                    break MediaRefusal::new("stream_not_found", "no HLS player left");
                }
            }
        }
    };
    tracing::debug!(stream = %key.stream_id, reason = %why.message, "HLS packaging ended");
    *p.ended.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    p.changed.send_replace(None);
    let mut streams = ctx.hls.streams.lock().unwrap_or_else(|e| e.into_inner());
    if streams.get(&key).is_some_and(|q| Arc::ptr_eq(q, &p)) {
        streams.remove(&key);
    }
}

/// Three target durations, at least [`BLOCK_WAIT`].
fn block_wait(config: &HlsConfig) -> Duration {
    BLOCK_WAIT.max(Duration::from_millis(u64::from(config.segment_target_ms) * 3))
}

/// The signature part of a query: what the playlist's URIs carry (the `_HLS_` directives
/// are the player's, per request).
fn signature_query(query: &str) -> String {
    query.split('&').filter(|kv| !kv.is_empty() && !kv.starts_with("_HLS_")).collect::<Vec<_>>().join("&")
}

/// A blocking reload's directives: `_HLS_msn` and `_HLS_part` (numbers, or refused).
fn directives(query: &str) -> Result<(Option<u64>, Option<usize>), MediaRefusal> {
    let bad = |what: &str| MediaRefusal::new("hls_bad_request", format!("{what} must be a number"));
    let (mut msn, mut part) = (None, None);
    for kv in query.split('&') {
        if let Some(v) = kv.strip_prefix("_HLS_msn=") {
            msn = Some(v.parse::<u64>().map_err(|_| bad("_HLS_msn"))?);
        } else if let Some(v) = kv.strip_prefix("_HLS_part=") {
            part = Some(v.parse::<usize>().map_err(|_| bad("_HLS_part"))?);
        }
    }
    if part.is_some() && msn.is_none() {
        return Err(MediaRefusal::new("hls_bad_request", "_HLS_part needs _HLS_msn"));
    }
    Ok((msn, part))
}

/// The media playlist of `key` (a verified play), blocking as its query asks.
pub async fn playlist(
    ctx: &MediaContext,
    key: &StreamKey,
    query: &str,
    cors: CorsHeaders,
) -> Result<Response, MediaRefusal> {
    let (msn, part) = directives(query)?;
    let p = packaged(ctx, key).await?;
    let first_wait = FIRST_SEGMENT_WAIT.max(Duration::from_millis(u64::from(ctx.hls.config.segment_target_ms) * 3));
    if !p.wait(first_wait, Packager::started).await? {
        return Err(MediaRefusal::new("stream_not_ready", "the stream has sent no H.264/AAC media yet; try again"));
    }
    if let Some(msn) = msn {
        let next = p.packager.lock().unwrap_or_else(|e| e.into_inner()).next_msn();
        if msn > next + 1 {
            return Err(MediaRefusal::new(
                "hls_bad_request",
                format!("_HLS_msn {msn} is beyond the next segment ({next})"),
            ));
        }
        if !p.wait(block_wait(&ctx.hls.config), |pk| pk.has(msn, part)).await? {
            return Err(MediaRefusal::new("hls_timeout", "the asked-for segment or part did not come in time"));
        }
    }
    let body = p.packager.lock().unwrap_or_else(|e| e.into_inner()).playlist(&key.stream_id, &signature_query(query));
    let headers = [(header::CONTENT_TYPE, "application/vnd.apple.mpegurl"), (header::CACHE_CONTROL, "no-cache")];
    Ok((cors, headers, body).into_response())
}

/// A file of `key`'s HLS (a verified play): the init segment, a segment, or a part (the coming
/// one answered when it is made).
pub async fn file(
    ctx: &MediaContext,
    key: &StreamKey,
    name: &str,
    cors: CorsHeaders,
) -> Result<Response, MediaRefusal> {
    let file = HlsFile::parse(name).ok_or_else(|| MediaRefusal::new("not_found", "no such HLS file"))?;
    let p = ctx.hls.streams.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned().ok_or_else(|| {
        MediaRefusal::new("stream_not_found", "the stream is not packaged for HLS: load its playlist")
    })?;
    p.touch();
    let take = |pk: &Packager| -> Option<Bytes> {
        match file {
            HlsFile::Init(n) => pk.init(n),
            HlsFile::Segment(msn) => pk.segment(msn),
            HlsFile::Part(msn, part) => pk.part(msn, part),
        }
    };
    let coming = match file {
        HlsFile::Part(msn, part) => p.packager.lock().unwrap_or_else(|e| e.into_inner()).is_coming(msn, part),
        _ => false,
    };
    if coming {
        p.wait(block_wait(&ctx.hls.config), |pk| take(pk).is_some()).await?;
    }
    let bytes = take(&p.packager.lock().unwrap_or_else(|e| e.into_inner()))
        .ok_or_else(|| MediaRefusal::new("not_found", "no such HLS file (gone, or not made yet)"))?;
    let headers = [(header::CONTENT_TYPE, "video/mp4"), (header::CACHE_CONTROL, "max-age=60")];
    Ok((cors, headers, bytes).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_and_signatures_are_read_apart() {
        let q = "expire=9&user=a&room=&sign=ff&_HLS_msn=12&_HLS_part=3";
        assert_eq!(signature_query(q), "expire=9&user=a&room=&sign=ff");
        assert_eq!(directives(q).unwrap(), (Some(12), Some(3)));
        assert_eq!(directives("sign=ff").unwrap(), (None, None));
        assert!(directives("_HLS_msn=x").is_err());
        assert!(directives("_HLS_part=1").is_err(), "a part needs its segment");
        assert!(directives("_HLS_msn=-1").is_err());
    }
}
