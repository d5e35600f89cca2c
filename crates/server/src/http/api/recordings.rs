//! The HTTP API's recording calls (docs/http-api.md, docs/recording.md):
//! - `POST /api/v1/streams/{streamID}/record` `{"action": "start" | "stop"}`: record a live
//!   stream (whatever the app's policy), or stop;
//! - `GET /api/v1/recordings[?streamID=]`: the app's files on this node, each with a signed
//!   download URL (`/recordings/{appID}/{streamID}/{file}`, signed as a play URL of the stream);
//! - `DELETE /api/v1/recordings/{streamID}/{file}`;
//! - `PUT /api/v1/recording-policy` `{"policy": "all" | "none"}`: the app's policy.
//!
//! And the download itself, `GET /recordings/{appID}/{streamID}/{file}?expire&user&room&sign`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use duet_media::StreamKey;
use duet_room::limits;
use duet_token::{MediaAction, MediaFormat, MediaUrl};
use serde::Deserialize;
use serde_json::json;

use super::auth::Signed;
use super::{Answer, check, parse};
use crate::http::AppState;
use crate::http::error::HttpError;

/// How long a download URL the list gives stays valid.
const DOWNLOAD_TTL: u64 = 3600;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordBody {
    action: String,
}

/// `POST /api/v1/streams/{streamID}/record`.
pub async fn record(State(state): State<AppState>, Path(stream_id): Path<String>, signed: Signed) -> Answer {
    check(limits::stream_id(&stream_id))?;
    let body: RecordBody = parse(&signed)?;
    let key = StreamKey { app_id: signed.app.app_id, stream_id };
    let recording = match body.action.as_str() {
        "start" => {
            crate::media::record::start(&state.media, &key)
                .map_err(|r| HttpError::new(r.status(), r.code, r.message))?;
            true
        }
        "stop" => {
            if !state.media.recorders.stop(&key) {
                return Err(HttpError::new(
                    StatusCode::NOT_FOUND,
                    "not_recording",
                    "the stream is not being recorded here",
                ));
            }
            false
        }
        _ => return Err(HttpError::invalid_field("action must be start or stop")),
    };
    Ok(Json(json!({"streamID": key.stream_id, "recording": recording})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(rename = "streamID")]
    stream_id: Option<String>,
}

/// `GET /api/v1/recordings`.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
    signed: Signed,
) -> Answer {
    let Ok(Query(q)) = query else { return Err(HttpError::invalid_field("the only parameter is streamID")) };
    let app = &signed.app;
    let folder = state.media.recorders.settings.dir.join(app.app_id.to_string());
    let only = q.stream_id;
    let files = tokio::task::spawn_blocking(move || files_in(&folder, only.as_deref()))
        .await
        .map_err(|e| HttpError::internal(e.to_string()))?;
    let bases = state.urls.media_bases();
    let expire = crate::os::now_unix() as u64 + DOWNLOAD_TTL;
    let items: Vec<_> = files
        .into_iter()
        .map(|(stream_id, file, bytes, modified_ms)| {
            let grant = MediaUrl {
                app_id: app.app_id,
                stream_id: stream_id.clone(),
                action: MediaAction::Play,
                user_id: String::new(),
                room_id: String::new(),
                expire,
            };
            // A play URL's signature, moved onto the file's path.
            let play = grant.signed(&app.secret, &bases, MediaFormat::Flv);
            let query = &play[play.find('?').map_or(play.len(), |i| i + 1)..];
            let url = format!("{}/recordings/{}/{stream_id}/{file}?{query}", bases.http, app.app_id);
            json!({"streamID": stream_id, "file": format!("{stream_id}/{file}"), "bytes": bytes, "modifiedMs": modified_ms, "url": url})
        })
        .collect();
    Ok(Json(json!({"recordings": items})).into_response())
}

/// The `.mp4` files under an app's folder: (stream, file, bytes, modified unix ms), by name.
fn files_in(folder: &std::path::Path, only: Option<&str>) -> Vec<(String, String, u64, u64)> {
    let mut out = Vec::new();
    let Ok(streams) = std::fs::read_dir(folder) else { return out };
    for stream in streams.flatten() {
        let stream_id = stream.file_name().to_string_lossy().into_owned();
        if only.is_some_and(|o| o != stream_id) || limits::stream_id(&stream_id).is_err() {
            continue;
        }
        let Ok(files) = std::fs::read_dir(stream.path()) else { continue };
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            let Ok(meta) = f.metadata() else { continue };
            if !meta.is_file() || !crate::media::record::is_recording_name(&stream_id, &name) {
                continue;
            }
            let modified = meta.modified().ok().and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok());
            out.push((stream_id.clone(), name, meta.len(), modified.map_or(0, |d| d.as_millis() as u64)));
        }
    }
    out.sort();
    out
}

/// A recording policy as asked for: `all` (true) or `none`.
pub fn policy(asked: &str) -> Result<bool, HttpError> {
    match asked {
        "all" => Ok(true),
        "none" => Ok(false),
        _ => Err(HttpError::invalid_field("policy must be all or none")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    policy: String,
}

/// `PUT /api/v1/recording-policy`: records every stream of the app from now on, or none
/// unless asked.
pub async fn set_policy(State(state): State<AppState>, signed: Signed) -> Answer {
    let body: PolicyBody = parse(&signed)?;
    let all = policy(&body.policy)?;
    let (registry, app_id) = (state.registry.clone(), signed.app.app_id);
    let app = tokio::task::spawn_blocking(move || registry.set_record_all(app_id, all))
        .await
        .map_err(|e| HttpError::internal(e.to_string()))?
        .map_err(|e| HttpError::internal(format!("{e:#}")))?;
    state.apps.invalidate(app_id).await;
    Ok(Json(json!({"policy": if app.record_all { "all" } else { "none" }})).into_response())
}

/// `DELETE /api/v1/recordings/{streamID}/{file}`.
pub async fn delete(
    State(state): State<AppState>,
    Path((stream_id, file)): Path<(String, String)>,
    signed: Signed,
) -> Answer {
    check(limits::stream_id(&stream_id))?;
    if !crate::media::record::is_recording_name(&stream_id, &file) {
        return Err(HttpError::not_found("no such recording"));
    }
    let path = state.media.recorders.settings.dir.join(signed.app.app_id.to_string()).join(&stream_id).join(&file);
    match tokio::fs::remove_file(&path).await {
        Ok(()) => Ok(Json(json!({"deleted": format!("{stream_id}/{file}")})).into_response()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(HttpError::not_found("no such recording")),
        Err(e) => Err(HttpError::internal(e.to_string())),
    }
}

/// `GET /recordings/{appID}/{streamID}/{file}?...`: a recording, for a signed URL of its stream.
pub async fn download(
    State(state): State<AppState>,
    Path((app, stream_id, file)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, HttpError> {
    let refused = |r: crate::media::error::MediaRefusal| HttpError::new(r.status(), r.code, r.message);
    let unverified =
        MediaUrl::from_stream_file(&app, &stream_id, &query.unwrap_or_default()).map_err(|e| refused(e.into()))?;
    let secret = state.media.secret(unverified.app_id()).await.ok_or_else(|| HttpError::not_found("no such app"))?;
    let url = unverified.verify(&secret, crate::os::now_unix() as u64).map_err(|e| refused(e.into()))?;
    if !crate::media::record::is_recording_name(&url.stream_id, &file) {
        return Err(HttpError::not_found("no such recording"));
    }
    let path = state.media.recorders.settings.dir.join(url.app_id.to_string()).join(&url.stream_id).join(&file);
    let handle = tokio::fs::File::open(&path).await.map_err(|_| HttpError::not_found("no such recording"))?;
    let length = handle.metadata().await.map(|m| m.len()).unwrap_or(0);
    // Read in 64 KiB chunks as the client takes them (a recording may be gigabytes).
    let chunks = futures_util::stream::unfold(handle, |mut handle| async move {
        use tokio::io::AsyncReadExt;
        let mut chunk = vec![0; 64 * 1024];
        match handle.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), handle))
            }
            Err(e) => Some((Err(e), handle)),
        }
    });
    let body = Body::from_stream(chunks);
    let headers = [
        (header::CONTENT_TYPE, "video/mp4".to_owned()),
        (header::CONTENT_LENGTH, length.to_string()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
    ];
    Ok((headers, body).into_response())
}
