//! WHEP (WebRTC-HTTP egress) on the HTTP router: a browser plays a live stream with
//! `POST /whep/{appID}/{streamID}?expire&user&room&sign` (`Content-Type: application/sdp`, a
//! `recvonly` offer), signed like an HTTP-FLV play URL (`duet url play --format whep`, or
//! `whepURL` in signaling's stream objects). Duet verifies the URL, finds the stream live,
//! accepts the offer (`webrtc::offer`) and answers `201 Created` with the SDP answer and a
//! `Location` whose `DELETE` ends the play; the peer's task is `webrtc::player`. The exchange
//! is WHIP's (`media::whip`): the same content type, origins (`http::cors`), peer limits and
//! answer.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use duet_media::StreamKey;
use duet_token::{MediaUrl, WHEP_PREFIX};

use crate::http::AppState;
use crate::http::cors::{self, CorsHeaders};
use crate::http::error::HttpError;
use crate::media::error::MediaRefusal;
use crate::media::webrtc::offer;
use crate::media::webrtc::player::WhepPlayer;
use crate::media::whip;

/// `POST /whep/{app}/{stream}`.
pub async fn play(
    State(state): State<AppState>,
    Path((app, stream)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: String,
) -> Result<Response, HttpError> {
    let query = query.unwrap_or_default();
    let start = |cors| start(&state, &app, &stream, &query, &headers, &body, cors);
    cors::answer(&state, &app, &headers, ("whep", "play"), start).await
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
    let (url, _) = whip::verify(state, MediaUrl::from_whep(app, stream, query)?, headers).await?;
    let key = StreamKey { app_id: url.app_id, stream_id: url.stream_id.clone() };
    if state.media.hub.webrtc_problem(&key).is_none() {
        // Live on another node? Its pull brings it here (and outlives this look by its grace,
        // time for the player to attach once its peer connects).
        drop(crate::media::edge::subscribe(&state.media, &key, true).await);
    }
    let problem = state.media.hub.webrtc_problem(&key);
    let problem = problem.ok_or_else(|| MediaRefusal::new("stream_not_found", "the stream is not live"))?;
    // A picture browsers cannot show is refused, not sent as a black screen (audio a browser
    // cannot get still leaves the video worth playing).
    if let Some(problem) = problem.filter(|p| p.code() != "audio_codec") {
        return Err(MediaRefusal::unplayable(problem));
    }
    let webrtc = &state.media.webrtc;
    let slot = whip::reserve(state, url.app_id, Some(&key)).await?;
    let accepted = offer::accept(sdp, offer::Role::Play, webrtc.candidates(), crate::media::now())?;
    let resource = duet_token::hex(&crate::os::random::<16>());
    let location = format!("{WHEP_PREFIX}/{}/{}/{resource}", url.app_id, url.stream_id);
    tracing::info!(app_id = url.app_id, stream = %url.stream_id, user = %url.user_id, "playing over WHEP");
    let resource = whip::resource_key(&url.app_id.to_string(), &url.stream_id, &resource);
    let (link, stop) = webrtc.connect(accepted.rtc, accepted.ufrag, resource, slot).await;
    let opus = webrtc.opus.clone();
    tokio::spawn(WhepPlayer { link, key, stop, opus }.run(state.media.clone()));
    Ok(whip::created(cors, location, accepted.answer))
}

/// `DELETE /whep/{app}/{stream}/{resource}`: ends the play (`whep_not_found`, 404, when no
/// live play has that resource).
pub async fn stop(
    State(state): State<AppState>,
    Path((app, stream, resource)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let missing = MediaRefusal::new("whep_not_found", "no live WHEP play has this resource");
    whip::delete(&state, (&app, &stream, &resource), &headers, ("whep", missing)).await
}
