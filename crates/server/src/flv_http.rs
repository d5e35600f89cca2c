//! HTTP-FLV playback: `GET /live/{appID}/{streamID}.flv?expire&user&room&sign` streams the live
//! stream as FLV (header, metadata, sequence headers, GOP cache, then live tags), with CORS so
//! browsers can fetch it. The same slow-player rule as RTMP applies: the body is produced only as
//! fast as the client reads, and a player that falls behind skips to the next keyframe.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use duet_media::{StreamKey, flv_header};
use duet_token::MediaAction;
use futures_util::stream;

use crate::http::AppState;
use crate::media_auth::{Query, Refused};

fn refusal(state: &AppState, status: StatusCode, r: &Refused) -> Response {
    state.media.refuse("http-flv", "play", r);
    let mut res = crate::http::error(status, r.code, &r.message);
    res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    res
}

/// `GET /live/{app}/{file}`.
pub async fn play(
    State(state): State<AppState>,
    Path((app, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let bad = |code: &'static str, message: &str| Refused { code, message: message.to_owned() };
    let Some(stream_id) = file.strip_suffix(".flv") else {
        return refusal(&state, StatusCode::NOT_FOUND, &bad("not_found", "play URLs end in .flv"));
    };
    if let Err(r) = duet_room::limits::stream_id(stream_id) {
        return refusal(&state, StatusCode::BAD_REQUEST, &bad("bad_stream_id", &r.message));
    }
    let Ok(app_id) = app.parse::<u32>() else {
        return refusal(&state, StatusCode::NOT_FOUND, &bad("unknown_app", "no such app"));
    };
    let Some(secret) = state.media.secret(app_id).await else {
        return refusal(&state, StatusCode::NOT_FOUND, &bad("unknown_app", "no such app"));
    };
    let verified = Query::parse(query.as_deref().unwrap_or_default())
        .and_then(|q| q.verify(&secret, app_id, stream_id, MediaAction::Play, crate::os::now_unix() as u64));
    if let Err(r) = verified {
        let status = if r.code == "url_missing" { StatusCode::UNAUTHORIZED } else { StatusCode::FORBIDDEN };
        return refusal(&state, status, &r);
    }
    let Some(sub) = state.media.hub.subscribe(&StreamKey { app_id, stream_id: stream_id.to_owned() }) else {
        return refusal(&state, StatusCode::NOT_FOUND, &bad("stream_not_found", "the stream is not live"));
    };
    let (audio, video) = sub.tracks();
    let header = flv_header(audio || !video, video || !audio);
    let body = stream::once(async move { Ok::<_, std::io::Error>(header) }).chain_packets(sub);
    (
        [
            (header::CONTENT_TYPE, "video/x-flv"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        Body::from_stream(body),
    )
        .into_response()
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
        let tags = stream::unfold(sub, |mut sub| async move {
            let p = sub.next().await?;
            sub.sent(p.flv.len());
            Some((Ok(p.flv.clone()), sub))
        });
        self.chain(tags)
    }
}
