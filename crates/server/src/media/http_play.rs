//! HTTP playback of live streams, signed like RTMP play URLs, readable by the pages the app
//! allows (`http::cors` decides first, and its headers go on the answer and on refusals), so
//! browsers can fetch:
//! - `GET /live/{appID}/{streamID}.flv?expire&user&room&sign`: FLV (header, metadata, sequence
//!   headers, GOP cache, then live tags), for `<live-player>`, ffmpeg, flv.js;
//! - `GET /live/{appID}/{streamID}.mp4?...`: fragmented MP4 for Media Source Extensions (the
//!   `Content-Type` carries the codecs for `addSourceBuffer`), for the browser debug page;
//! - `GET /live/{appID}/{streamID}.m3u8?...` and the files under `/live/{appID}/{streamID}/`:
//!   HLS and low-latency HLS (`media::hls`).
//!
//! The same slow-player rules as RTMP apply: the body is produced only as fast as the client
//! reads, a player that falls behind skips to the next keyframe, and one that takes no data for
//! 30 s is disconnected (`http::deadlines`).

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use duet_media::{StreamKey, flv_header};
use duet_token::{MediaFormat, MediaUrl};
use futures_util::stream;

use crate::http::AppState;
use crate::http::cors::{self, CorsHeaders};
use crate::http::error::HttpError;
use crate::media::error::MediaRefusal;

/// `GET /live/{app}/{file}`. A refusal is logged and counted, and readable by the pages the app
/// allows.
pub async fn play(
    State(state): State<AppState>,
    Path((app, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let query = query.unwrap_or_default();
    cors::answer(&state, &app, &headers, ("http-flv", "play"), |cors| open(&state, &app, &file, &query, cors)).await
}

async fn open(
    state: &AppState,
    app: &str,
    file: &str,
    query: &str,
    cors: CorsHeaders,
) -> Result<Response, MediaRefusal> {
    let (unverified, format) = MediaUrl::from_http(app, file, query)?;
    let secret =
        state.media.secret(unverified.app_id()).await.ok_or_else(|| MediaRefusal::new("unknown_app", "no such app"))?;
    let url = unverified.verify(&secret, crate::os::now_unix() as u64)?;
    let (app_id, stream_id) = (url.app_id, url.stream_id);
    if format == MediaFormat::Hls {
        return crate::media::hls::playlist(&state.media, &StreamKey { app_id, stream_id }, query, cors).await;
    }
    let sub = crate::media::edge::subscribe(&state.media, &StreamKey { app_id, stream_id }, false)
        .await
        .ok_or_else(|| MediaRefusal::new("stream_not_found", "the stream is not live"))?;
    if format == MediaFormat::Fmp4 {
        return fmp4_response(sub, cors).await;
    }
    let (audio, video) = sub.tracks();
    let header = flv_header(audio || !video, video || !audio);
    let body = stream::once(async move { Ok::<_, std::io::Error>(header) }).chain_packets(sub);
    Ok((cors, [(header::CONTENT_TYPE, "video/x-flv"), (header::CACHE_CONTROL, "no-cache")], Body::from_stream(body))
        .into_response())
}

/// `GET /live/{app}/{stream}/{file}`: a file of the stream's HLS, signed by the playlist's
/// query it carries.
pub async fn hls_file(
    State(state): State<AppState>,
    Path((app, stream, file)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let query = query.unwrap_or_default();
    cors::answer(&state, &app, &headers, ("hls", "play"), |cors| {
        open_hls_file(&state, (&app, &stream, &file), &query, cors)
    })
    .await
}

async fn open_hls_file(
    state: &AppState,
    (app, stream, file): (&str, &str, &str),
    query: &str,
    cors: CorsHeaders,
) -> Result<Response, MediaRefusal> {
    let unverified = MediaUrl::from_stream_file(app, stream, query)?;
    let secret =
        state.media.secret(unverified.app_id()).await.ok_or_else(|| MediaRefusal::new("unknown_app", "no such app"))?;
    let url = unverified.verify(&secret, crate::os::now_unix() as u64)?;
    let key = StreamKey { app_id: url.app_id, stream_id: url.stream_id };
    crate::media::hls::file(&state.media, &key, file, cors).await
}

trait ChainPackets {
    fn chain_packets(
        self,
        sub: duet_media::Subscriber,
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send;
}

impl<S> ChainPackets for S
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send,
{
    fn chain_packets(
        self,
        sub: duet_media::Subscriber,
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send {
        use futures_util::StreamExt;
        // One body chunk per batch: a caught-up player's flush is one shared buffer; a start or
        // a catch-up of several is joined so it still goes out in one write.
        let tags = stream::unfold(sub, |mut sub| async move {
            let buffers = sub.next_batch().await?.flv();
            let chunk = match &buffers[..] {
                [one] => one.clone(),
                many => bytes::Bytes::from(many.concat()),
            };
            sub.sent(chunk.len());
            Some((Ok(chunk), sub))
        });
        self.chain(tags)
    }
}

/// How long an `.mp4` request waits for the stream's first media sample (its decoder
/// configuration comes first, from the cache).
const FIRST_SAMPLE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads the subscriber up to its first media sample, then answers with the init segment and
/// the fragments. Refused when the stream carries a codec fMP4 is not made for here (only
/// H.264 and AAC are), or when no configuration came in time.
async fn fmp4_response(mut sub: duet_media::Subscriber, cors: CorsHeaders) -> Result<Response, MediaRefusal> {
    use duet_media::Kind;
    use duet_media::fmp4::{AacConfig, AvcConfig, Fmp4Muxer, mime_type};
    let not_ready =
        || MediaRefusal::new("stream_not_ready", "the stream has sent no H.264/AAC configuration yet; try again");
    let (mut video, mut audio) = (None, None);
    let mut first = Vec::new();
    let deadline = tokio::time::Instant::now() + FIRST_SAMPLE_WAIT;
    loop {
        let p = tokio::time::timeout_at(deadline, sub.next()).await.ok().flatten().ok_or_else(not_ready)?;
        if !duet_media::fmp4::carries(&p) {
            return Err(MediaRefusal::not_fmp4("fMP4 playback", &p));
        }
        let payload = &p.payload[..];
        match p.kind {
            Kind::Video if p.sequence_header => video = AvcConfig::from_sequence_header(payload),
            Kind::Audio if p.sequence_header => audio = AacConfig::from_sequence_header(payload),
            Kind::Metadata => {}
            _ => {
                first.push(p);
                break;
            }
        }
    }
    if video.is_none() && audio.is_none() {
        return Err(not_ready());
    }
    let mime = mime_type(video.as_ref(), audio.as_ref());
    let mut muxer = Fmp4Muxer::new(video, audio);
    let mut head = vec![muxer.init_segment()];
    head.extend(first.iter().filter_map(|p| muxer.push(p)));
    let tags = stream::unfold((sub, muxer), |(mut sub, mut muxer)| async move {
        loop {
            let p = sub.next().await?;
            if muxer.config_changed(&p) {
                return None; // a new init segment is needed: the player requests again
            }
            if let Some(fragment) = muxer.push(&p) {
                sub.sent(fragment.len());
                return Some((Ok::<_, std::io::Error>(fragment), (sub, muxer)));
            }
        }
    });
    use futures_util::StreamExt;
    let body = stream::iter(head.into_iter().map(Ok)).chain(tags);
    Ok((cors, [(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "no-cache".to_owned())], Body::from_stream(body))
        .into_response())
}
