//! WHIP (RFC 9725) on the HTTP router: a browser publishes with
//! `POST /whip/{appID}/{streamID}?expire&user&room&sign` (`Content-Type: application/sdp`, the
//! offer as body), signed like an RTMP publish URL (`duet url publish --format whip`). Duet
//! verifies the URL, accepts the offer (`webrtc::offer`), asks `admission::admit` exactly as
//! RTMP does, and answers `201 Created` with the SDP answer and a `Location` whose `DELETE`
//! ends the publish. Every refusal is a `MediaRefusal` (logged, counted, `{"code","message"}`
//! with its status: docs/error-codes.md). Pages on other origins may call both: preflights
//! (`OPTIONS`) are answered and every answer carries `Access-Control-Allow-Origin: *` and
//! exposes `Location` (any origin for now; allowed origins per app come with issue 14).

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use duet_token::{AppSecret, MediaUrl, Unverified, WHIP_PREFIX};

use crate::http::AppState;
use crate::http::error::HttpError;
use crate::media::error::MediaRefusal;
use crate::media::webrtc::offer;
use crate::media::webrtc::publisher::WhipPublisher;

/// `POST /whip/{app}/{stream}`.
pub async fn publish(
    State(state): State<AppState>,
    Path((app, stream)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: String,
) -> Result<Response, HttpError> {
    start(&state, &app, &stream, query.as_deref().unwrap_or_default(), &headers, &body).await.map_err(|r| {
        state.media.refuse("whip", "publish", &r);
        HttpError::from(r).with_cors()
    })
}

async fn start(
    state: &AppState,
    app: &str,
    stream: &str,
    query: &str,
    headers: &HeaderMap,
    sdp: &str,
) -> Result<Response, MediaRefusal> {
    let unverified = MediaUrl::from_whip(app, stream, query)?;
    let latency = unverified.option("latency");
    let (url, secret) = verify(state, unverified, headers).await?;
    let webrtc = &state.media.webrtc;
    let slot = reserve(webrtc)?;
    let accepted = offer::accept(sdp, offer::Role::Publish, webrtc.candidate(), crate::media::now())?;
    let publisher = crate::media::admission::admit(&state.media, &url, &secret, latency.as_deref()).await?;
    let resource = duet_token::hex(&crate::os::random::<16>());
    let location = format!("{WHIP_PREFIX}/{}/{}/{resource}", url.app_id, url.stream_id);
    tracing::info!(app_id = url.app_id, stream = %url.stream_id, user = %url.user_id, "publishing over WHIP");
    let key = resource_key(&url.app_id.to_string(), &url.stream_id, &resource);
    let (link, stop) = webrtc.connect(accepted.rtc, accepted.ufrag, key, slot).await;
    let opus = webrtc.opus.publish(publisher.key());
    tokio::spawn(WhipPublisher { link, publisher, stop, opus }.run(state.media.clone()));
    Ok(created(location, accepted.answer))
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

/// A place for one more WebRTC peer on this node, or the refusal.
pub(crate) fn reserve(webrtc: &crate::media::webrtc::WebRtc) -> Result<crate::media::webrtc::PeerSlot, MediaRefusal> {
    webrtc.reserve().ok_or_else(|| {
        MediaRefusal::new(
            "webrtc_busy",
            "this node takes no more WebRTC peers now (--webrtc-max-peers); try again later",
        )
    })
}

/// `201 Created` with the SDP answer and the resource's `Location`, readable cross-origin.
pub(crate) fn created(location: String, answer: String) -> Response {
    (
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, "application/sdp".to_owned()),
            (header::LOCATION, location),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*".to_owned()),
            (header::ACCESS_CONTROL_EXPOSE_HEADERS, "Location".to_owned()),
        ],
        answer,
    )
        .into_response()
}

/// `OPTIONS /whip/...`: a CORS preflight (and what WHIP accepts).
pub async fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::ACCESS_CONTROL_ALLOW_METHODS, "POST, DELETE, OPTIONS"),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, "Content-Type, Authorization"),
            (header::ACCESS_CONTROL_EXPOSE_HEADERS, "Location"),
            (header::ACCESS_CONTROL_MAX_AGE, "600"),
            (header::HeaderName::from_static("accept-post"), "application/sdp"),
        ],
    )
        .into_response()
}

/// The router's name for a resource: it belongs to one app and stream.
pub(crate) fn resource_key(app: &str, stream: &str, resource: &str) -> String {
    format!("{app}/{stream}/{resource}")
}

/// `DELETE /whip/{app}/{stream}/{resource}`: ends the publish (`whip_not_found`, 404, when
/// no live publish has that resource).
pub async fn stop(
    State(state): State<AppState>,
    Path((app, stream, resource)): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    delete(
        &state,
        &app,
        &stream,
        &resource,
        MediaRefusal::new("whip_not_found", "no live WHIP publish has this resource"),
    )
    .await
}

/// Ends the peer of a WHIP or WHEP resource, or answers `missing`.
pub(crate) async fn delete(
    state: &AppState,
    app: &str,
    stream: &str,
    resource: &str,
    missing: MediaRefusal,
) -> Result<Response, HttpError> {
    if state.media.webrtc.delete(resource_key(app, stream, resource)).await {
        return Ok((StatusCode::OK, [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")]).into_response());
    }
    Err(HttpError::from(missing).with_cors())
}
