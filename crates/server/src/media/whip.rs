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
use duet_token::{MediaUrl, WHIP_PREFIX};

use crate::http::AppState;
use crate::http::cors::{self, CorsHeaders};
use crate::http::error::HttpError;
use crate::media::error::MediaRefusal;
use crate::media::webrtc::offer;

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
    let secret =
        state.media.secret(unverified.app_id()).await.ok_or_else(|| MediaRefusal::new("unknown_app", "no such app"))?;
    let latency = unverified.option("latency");
    let url = unverified.verify(&secret, crate::os::now_unix() as u64)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.trim().to_ascii_lowercase().starts_with("application/sdp") {
        return Err(MediaRefusal::new("whip_content_type", "a WHIP offer is sent as Content-Type: application/sdp"));
    }
    let webrtc = &state.media.webrtc;
    let slot = webrtc.reserve(url.app_id, state.apps.webrtc_max_peers(url.app_id).await)?;
    let accepted = offer::accept(sdp, webrtc.candidate(), crate::media::now())?;
    let publisher = crate::media::admission::admit(&state.media, &url, &secret, latency.as_deref()).await?;
    let resource = duet_token::hex(&crate::os::random::<16>());
    let location = format!("{WHIP_PREFIX}/{}/{}/{resource}", url.app_id, url.stream_id);
    tracing::info!(app_id = url.app_id, stream = %url.stream_id, user = %url.user_id, "publishing over WHIP");
    webrtc
        .start_peer(
            &state.media,
            accepted.rtc,
            accepted.ufrag,
            resource_key(&url.app_id.to_string(), &url.stream_id, &resource),
            publisher,
            slot,
        )
        .await;
    Ok((
        StatusCode::CREATED,
        cors.exposing_location(),
        [(header::CONTENT_TYPE, "application/sdp".to_owned()), (header::LOCATION, location)],
        accepted.answer,
    )
        .into_response())
}

/// The router's name for a resource: it belongs to one app and stream.
fn resource_key(app: &str, stream: &str, resource: &str) -> String {
    format!("{app}/{stream}/{resource}")
}

/// `DELETE /whip/{app}/{stream}/{resource}`: ends the publish (`whip_not_found`, 404, when
/// no live publish has that resource), if the page's origin is allowed.
pub async fn stop(
    State(state): State<AppState>,
    Path((app, stream, resource)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let cors = cors::for_app(&state.apps, &app, &headers).await.map_err(|r| {
        state.media.refuse("whip", "delete", &r);
        HttpError::from(r)
    })?;
    if state.media.webrtc.delete(resource_key(&app, &stream, &resource)).await {
        return Ok((StatusCode::OK, cors, ()).into_response());
    }
    let r = MediaRefusal::new("whip_not_found", "no live WHIP publish has this resource");
    Err(HttpError::from(r).with_cors(cors))
}
