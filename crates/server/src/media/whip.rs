//! WHIP (RFC 9725) on the HTTP router: a browser publishes with
//! `POST /whip/{appID}/{streamID}?expire&user&room&sign` (`Content-Type: application/sdp`, the
//! offer as body), signed like an RTMP publish URL (`duet url publish --format whip`). Duet
//! verifies the URL, accepts the offer (`webrtc::offer`), asks `admission::admit` exactly as
//! RTMP does, and answers `201 Created` with the SDP answer and a `Location` whose `DELETE`
//! ends the publish. Every refusal is a `MediaRefusal` (logged, counted, `{"code","message"}`
//! with its status: docs/error-codes.md). Pages on other origins may call both when the app
//! allows their origin: `http::cors` decides first (a refused page gets `origin_not_allowed`
//! and nothing is set up), answers the preflights (`OPTIONS`), and its headers go on every
//! answer and error (the `201` exposes `Location`).

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use duet_media::StreamKey;
use duet_token::{AppSecret, MediaUrl, Unverified, WHIP_PREFIX};

use crate::http::AppState;
use crate::http::cors::{self, CorsHeaders};
use crate::http::error::HttpError;
use crate::media::error::MediaRefusal;
use crate::media::webrtc::publisher::WhipPublisher;
use crate::media::webrtc::{PeerSlot, offer};

/// `POST /whip/{app}/{stream}`.
pub async fn publish(
    State(state): State<AppState>,
    Path((app, stream)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: String,
) -> Result<Response, HttpError> {
    let query = query.unwrap_or_default();
    let start = |cors| start(&state, &app, &stream, &query, &headers, &body, cors);
    cors::answer(&state, &app, &headers, ("whip", "publish"), start).await
}

async fn start(
    state: &AppState,
    app: &str,
    stream: &str,
    query: &str,
    headers: &HeaderMap,
    sdp: &str,
    cors: CorsHeaders,
) -> Result<Response, MediaRefusal> {
    let unverified = MediaUrl::from_whip(app, stream, query)?;
    let latency = unverified.option("latency");
    let (url, secret) = verify(state, unverified, headers).await?;
    let webrtc = &state.media.webrtc;
    let slot = reserve(state, url.app_id, None).await?;
    let accepted = offer::accept(sdp, offer::Role::Publish, webrtc.candidates(), crate::media::now())?;
    let publisher = crate::media::admission::admit(&state.media, &url, &secret, latency.as_deref()).await?;
    let resource = duet_token::hex(&crate::os::random::<16>());
    let location = format!("{WHIP_PREFIX}/{}/{}/{resource}", url.app_id, url.stream_id);
    tracing::info!(app_id = url.app_id, stream = %url.stream_id, user = %url.user_id, "publishing over WHIP");
    let key = resource_key(&url.app_id.to_string(), &url.stream_id, &resource);
    let (link, stop) = webrtc.connect(accepted.rtc, accepted.ufrag, key, slot).await;
    let opus = webrtc.opus.publish(publisher.key());
    tokio::spawn(WhipPublisher { link, publisher, stop, opus }.run(state.media.clone()));
    Ok(created(cors, location, accepted.answer))
}

/// Checks an offer's URL with its app's secret, then that it came as SDP (WHIP and WHEP alike).
pub(crate) async fn verify(
    state: &AppState,
    unverified: Unverified,
    headers: &HeaderMap,
) -> Result<(MediaUrl, AppSecret), MediaRefusal> {
    let secret =
        state.media.secret(unverified.app_id()).await.ok_or_else(|| MediaRefusal::new("unknown_app", "no such app"))?;
    let url = unverified.verify(&secret, crate::os::now_unix() as u64)?;
    require_sdp(headers)?;
    Ok((url, secret))
}

/// Refuses an offer not sent as `Content-Type: application/sdp`.
fn require_sdp(headers: &HeaderMap) -> Result<(), MediaRefusal> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.trim().to_ascii_lowercase().starts_with("application/sdp") {
        return Err(MediaRefusal::new(
            "whip_content_type",
            "a WHIP/WHEP offer is sent as Content-Type: application/sdp",
        ));
    }
    Ok(())
}

/// A place for one more WebRTC peer of `app_id` (the node's and the app's caps; a WHEP
/// player's `stream`'s too), or the refusal.
pub(crate) async fn reserve(
    state: &AppState,
    app_id: u32,
    stream: Option<&StreamKey>,
) -> Result<PeerSlot, MediaRefusal> {
    state.media.webrtc.reserve(app_id, state.apps.webrtc_max_peers(app_id).await, stream)
}

/// `201 Created` with the SDP answer and the resource's `Location`, readable by the page.
pub(crate) fn created(cors: CorsHeaders, location: String, answer: String) -> Response {
    (
        StatusCode::CREATED,
        cors.exposing_location(),
        [(header::CONTENT_TYPE, "application/sdp".to_owned()), (header::LOCATION, location)],
        answer,
    )
        .into_response()
}

/// The router's name for a resource: it belongs to one app and stream.
pub(crate) fn resource_key(app: &str, stream: &str, resource: &str) -> String {
    format!("{app}/{stream}/{resource}")
}

/// `DELETE /whip/{app}/{stream}/{resource}`: ends the publish (`whip_not_found`, 404, when
/// no live publish has that resource), if the page's origin is allowed.
pub async fn stop(
    State(state): State<AppState>,
    Path((app, stream, resource)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let missing = MediaRefusal::new("whip_not_found", "no live WHIP publish has this resource");
    delete(&state, (&app, &stream, &resource), &headers, ("whip", missing)).await
}

/// Ends the peer of a WHIP or WHEP resource if the page's origin is allowed, or answers
/// `missing` (`what` names the protocol in the log).
pub(crate) async fn delete(
    state: &AppState,
    (app, stream, resource): (&str, &str, &str),
    headers: &HeaderMap,
    (what, missing): (&str, MediaRefusal),
) -> Result<Response, HttpError> {
    let cors = cors::for_app(&state.apps, app, headers).await.map_err(|r| {
        state.media.refuse(what, "delete", &r);
        HttpError::from(r).with_cors(CorsHeaders::echo(cors::Page::of(headers)))
    })?;
    if state.media.webrtc.delete(resource_key(app, stream, resource)).await {
        return Ok((StatusCode::OK, cors, ()).into_response());
    }
    Err(HttpError::from(missing).with_cors(cors))
}
