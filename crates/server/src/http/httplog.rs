//! `POST /httplog`: log batches the mini-program SDK uploads (`setLogConfig`), stored per app
//! and per UTC day as JSON lines under `<data>/logs/<appID>/<YYYY-MM-DD>.jsonl`.
//!
//! Only a session spends its app's quota: an upload carries the `logToken` its session got at
//! login (`duet_token::LogGrant`, signed with the app's secret), so knowing an AppID is not
//! enough. Bounded in every direction: a body is at most [`MAX_BODY`] bytes and
//! [`MAX_ENTRIES`] entries, each sender is rate limited (`limits`: per address, per session,
//! per app), an app stores at most [`DAILY_QUOTA`] bytes a day, and days older than
//! [`KEEP_DAYS`] are deleted. Each entry becomes one JSON line, so a message cannot forge
//! another line.

pub mod limits;

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use serde::Deserialize;
use serde_json::json;

use crate::http::error::HttpError;
use crate::http::{AppState, Peer};
use crate::metrics::Metrics;

/// Largest request body read.
pub const MAX_BODY: usize = 64 * 1024;
/// Most entries in one upload.
pub const MAX_ENTRIES: usize = 500;
/// Bytes one app may store per UTC day.
pub const DAILY_QUOTA: u64 = 64 * 1024 * 1024;
/// Days of logs kept per app.
pub const KEEP_DAYS: i64 = 7;
const MAX_FIELD: usize = 256;
const MAX_MESSAGE: usize = 4096;

/// One upload, as the SDK sends it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Upload {
    #[serde(rename = "appID")]
    app_id: u32,
    #[serde(rename = "userID", default)]
    user_id: Option<String>,
    #[serde(rename = "roomID", default)]
    room_id: Option<String>,
    #[serde(rename = "sessionID", default)]
    session_id: Option<String>,
    #[serde(rename = "logToken", default)]
    log_token: Option<String>,
    #[serde(rename = "deviceID", default)]
    device_id: Option<String>,
    #[serde(default)]
    sdk_version: Option<String>,
    #[serde(default)]
    dropped: u64,
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    time: u64,
    level: String,
    message: String,
}

/// Where logs go, how much each app wrote today, and how fast each sender may write.
pub struct LogStore {
    root: PathBuf,
    used: Mutex<HashMap<u32, (i64, u64)>>,
    limits: limits::Limits,
    /// Entries stored.
    pub entries: AtomicU64,
    /// Uploads refused (malformed, unknown app, over a limit or the quota).
    pub refused: AtomicU64,
}

impl LogStore {
    /// Logs live under `<data>/logs`.
    pub fn new(data: &std::path::Path) -> Self {
        Self {
            root: data.join("logs"),
            used: Mutex::default(),
            limits: limits::Limits::default(),
            entries: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Appends the lines for one app, unless that would go over today's quota.
    fn append(&self, app_id: u32, day: i64, lines: &[u8]) -> Result<(), NotStored> {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let dir = self.root.join(app_id.to_string());
        let path = dir.join(format!("{}.jsonl", civil_date(day)));
        let today = match used.get(&app_id) {
            Some(&(d, bytes)) if d == day => bytes,
            _ => {
                prune(&dir, day);
                fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
            }
        };
        if today + lines.len() as u64 > DAILY_QUOTA {
            used.insert(app_id, (day, today));
            return Err(NotStored::OverQuota);
        }
        let written = fs::create_dir_all(&dir)
            .and_then(|()| OpenOptions::new().create(true).append(true).open(&path))
            .and_then(|mut f| f.write_all(lines));
        if let Err(e) = written {
            tracing::error!(app_id, path = %path.display(), error = %e, "cannot store uploaded logs");
            return Err(NotStored::Failed);
        }
        used.insert(app_id, (day, today + lines.len() as u64));
        Ok(())
    }
}

/// Why an upload's lines were not stored.
#[derive(Debug, PartialEq, Eq)]
enum NotStored {
    /// 429 `log_quota_exceeded`: the app stored [`DAILY_QUOTA`] bytes today.
    OverQuota,
    /// 503 `log_storage_failed`: the file could not be written (logged).
    Failed,
}

impl From<NotStored> for HttpError {
    fn from(e: NotStored) -> Self {
        match e {
            NotStored::OverQuota => HttpError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "log_quota_exceeded",
                "this app's log quota for today is used up",
            ),
            NotStored::Failed => {
                HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "log_storage_failed", "cannot store the logs")
            }
        }
    }
}

impl From<limits::Refused> for HttpError {
    fn from(e: limits::Refused) -> Self {
        match e {
            limits::Refused::Rate(wait) => {
                let message = "too many log uploads from this sender (or app); slow down";
                // A wait that never ends (an upload larger than a whole burst) is refused for a minute.
                let secs =
                    if wait == std::time::Duration::MAX { 60 } else { wait.as_secs_f64().ceil().max(1.0) as u64 };
                HttpError::new(StatusCode::TOO_MANY_REQUESTS, "log_rate_limited", message).with_retry_after(secs)
            }
            limits::Refused::SessionShare => {
                let message = "this session stored its share of the app's log quota for today";
                HttpError::new(StatusCode::TOO_MANY_REQUESTS, "log_quota_exceeded", message)
            }
        }
    }
}

/// Checks the upload's credential: the `logToken` its session was given, for this app,
/// `sessionID` and `userID` (401 `log_token_missing` / `log_token_invalid`).
fn check_credential(upload: &Upload, secret: &duet_token::AppSecret) -> Result<(), HttpError> {
    let (Some(token), Some(session_id), Some(user_id)) = (&upload.log_token, &upload.session_id, &upload.user_id)
    else {
        let message = "a log upload carries logToken, sessionID and userID from the session's login reply";
        return Err(HttpError::unauthorized("log_token_missing", message));
    };
    let grant = duet_token::LogGrant { app_id: upload.app_id, session_id, user_id };
    let now = crate::os::now_unix().max(0) as u64;
    grant.verify(secret, token, now).map(drop).map_err(|e| HttpError::unauthorized("log_token_invalid", e.to_string()))
}

/// Deletes an app's log files older than [`KEEP_DAYS`].
fn prune(dir: &std::path::Path, today: i64) {
    let Ok(files) = fs::read_dir(dir) else { return };
    let oldest = civil_date(today - KEEP_DAYS + 1);
    for f in files.flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        if name.ends_with(".jsonl") && name.as_str() < format!("{oldest}.jsonl").as_str() {
            let _ = fs::remove_file(f.path());
        }
    }
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01 (proleptic Gregorian).
pub fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `POST /httplog`. A refused upload (a client error: too large, malformed, unknown app, over
/// the quota) is counted; a failure of the server (registry, disk) is not.
pub async fn upload(
    State(state): State<AppState>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    req: Request,
) -> Result<Json<serde_json::Value>, HttpError> {
    store_upload(&state, peer, req).await.inspect_err(|e| {
        if e.status.is_client_error() {
            Metrics::inc(&state.logs.refused);
        }
    })
}

async fn store_upload(
    state: &AppState,
    peer: std::net::SocketAddr,
    req: Request,
) -> Result<Json<serde_json::Value>, HttpError> {
    let too_large = || {
        let message = format!("a log upload is at most {MAX_BODY} bytes");
        HttpError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message)
    };
    let invalid = |message: String| HttpError::new(StatusCode::BAD_REQUEST, "invalid_log", message);
    let started = std::time::Instant::now();
    state.logs.limits.admit_upload(peer.ip(), started)?;
    let announced = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY).await.map_err(|_| too_large())?;
    let upload: Upload = serde_json::from_slice(&body).map_err(|e| invalid(format!("not a log upload: {e}")))?;
    if upload.entries.len() > MAX_ENTRIES {
        return Err(invalid(format!("at most {MAX_ENTRIES} entries per upload")));
    }
    let app_id = upload.app_id;
    let Some(app) = state.apps.get(app_id).await? else {
        return Err(HttpError::new(StatusCode::NOT_FOUND, "unknown_app", "no app with this AppID"));
    };
    check_credential(&upload, &app.secret)?;
    let received = crate::os::now_unix_ms();
    let field = |v: &Option<String>| v.as_deref().map(|s| clip(s, MAX_FIELD).to_owned());
    let mut lines = Vec::with_capacity(body.len() * 2);
    for e in &upload.entries {
        let line = json!({
            "received": received,
            "peer": peer.ip().to_string(),
            "userID": field(&upload.user_id),
            "roomID": field(&upload.room_id),
            "sessionID": field(&upload.session_id),
            "deviceID": field(&upload.device_id),
            "sdkVersion": field(&upload.sdk_version),
            "time": e.time,
            "level": clip(&e.level, 16),
            "message": clip(&e.message, MAX_MESSAGE),
        });
        // Serializing a Value into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut lines, &line);
        lines.push(b'\n');
    }
    if upload.dropped > 0 {
        tracing::debug!(app_id, dropped = upload.dropped, "a client dropped log entries before uploading");
    }
    let count = upload.entries.len() as u64;
    let day = (received / 86_400_000) as i64;
    let session_id = upload.session_id.as_deref().unwrap_or_default();
    state.logs.limits.admit_bytes(app_id, session_id, lines.len() as u64, day, started)?;
    let writer = state.logs.clone();
    tokio::task::spawn_blocking(move || writer.append(app_id, day, &lines)).await.unwrap_or(Err(NotStored::Failed))?;
    state.logs.entries.fetch_add(count, std::sync::atomic::Ordering::Relaxed);
    Ok(Json(json!({"stored": count})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(59), "1970-03-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(civil_date(20_415), "2025-11-23");
        assert_eq!(civil_date(-1), "1969-12-31");
    }

    #[test]
    fn clipping_respects_char_boundaries() {
        assert_eq!(clip("héllo", 2), "h");
        assert_eq!(clip("abc", 5), "abc");
    }

    #[test]
    fn quota_and_pruning() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::new(dir.path());
        let old = store.root.join("7").join(format!("{}.jsonl", civil_date(100 - KEEP_DAYS)));
        fs::create_dir_all(old.parent().unwrap()).unwrap();
        fs::write(&old, "x\n").unwrap();
        store.append(7, 100, b"{}\n").unwrap();
        assert!(!old.exists(), "days beyond KEEP_DAYS are deleted");
        let big = vec![b'x'; DAILY_QUOTA as usize];
        assert_eq!(store.append(7, 100, &big), Err(NotStored::OverQuota));
        assert_eq!(store.append(8, 100, b"{}\n"), Ok(()), "other apps are unaffected");
        assert_eq!(store.append(7, 101, b"{}\n"), Ok(()), "a new day has a new quota");
    }
}
