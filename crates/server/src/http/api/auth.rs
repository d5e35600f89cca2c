//! Authentication of `/api/v1` requests: each carries `X-Duet-AppID`, `X-Duet-Timestamp`,
//! `X-Duet-Nonce` and `X-Duet-Signature` (the scheme is in `duet_token::ApiRequest` and
//! docs/http-api.md). Stale timestamps and reused nonces are refused.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use duet_token::ApiRequest;

use crate::http::AppState;
use crate::http::error::HttpError;
use crate::store::registry::App;

/// How far a request's timestamp may be from the server's clock, in seconds.
pub const WINDOW_SECS: i64 = 300;
/// Largest request body read.
pub const MAX_BODY: usize = 64 * 1024;
/// Nonces remembered at once per app; beyond, its requests are refused until old ones expire
/// (about 330 signed requests a second, sustained).
const MAX_NONCES_PER_APP: usize = 200_000;

/// Nonces seen within the window, per app.
#[derive(Default)]
pub struct Nonces {
    inner: Mutex<NonceSet>,
}

#[derive(Default)]
struct NonceSet {
    seen: HashSet<(u32, String)>,
    order: VecDeque<(i64, u32, String)>,
    per_app: std::collections::HashMap<u32, usize>,
}

impl Nonces {
    /// Records a nonce; `auth_nonce_reused` when it was used already, `rate_limited` when the
    /// app's set is full.
    fn first_use(&self, app_id: u32, nonce: &str, now: i64) -> Result<(), HttpError> {
        let mut set = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // A nonce only needs remembering while its timestamp could still pass the window check.
        while set.order.front().is_some_and(|(at, _, _)| *at < now - 2 * WINDOW_SECS) {
            if let Some((_, app, n)) = set.order.pop_front() {
                set.seen.remove(&(app, n));
                if let Some(c) = set.per_app.get_mut(&app) {
                    *c -= 1;
                    if *c == 0 {
                        set.per_app.remove(&app);
                    }
                }
            }
        }
        if set.seen.contains(&(app_id, nonce.to_owned())) {
            return Err(HttpError::unauthorized(
                "auth_nonce_reused",
                "this nonce was used already; send a fresh one per request",
            ));
        }
        if set.per_app.get(&app_id).is_some_and(|&c| c >= MAX_NONCES_PER_APP) {
            let message = "too many requests for this app; try again shortly";
            return Err(HttpError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message));
        }
        *set.per_app.entry(app_id).or_default() += 1;
        set.seen.insert((app_id, nonce.to_owned()));
        set.order.push_back((now, app_id, nonce.to_owned()));
        Ok(())
    }
}

/// A request whose signature checked out: the app it is for, and its body.
pub struct Signed {
    /// The app.
    pub app: App,
    /// The raw body.
    pub body: Bytes,
    /// The request as signed, to pass on to another node of the cluster unchanged.
    pub passed: Passed,
}

/// What a signed request needs to be sent again, as it came, to another node.
pub struct Passed {
    pub method: hyper::Method,
    /// Path and query.
    pub path: String,
    /// The four `X-Duet-*` headers.
    pub headers: Vec<(&'static str, String)>,
    /// Passed on by another node already (with its proof): never passed on again, and its
    /// nonce already counted once in the cluster.
    pub relayed: bool,
}

/// Header of a request a node passes on to another, with `duet_token::passed_on_proof`.
pub const PASSED_ON: &str = "x-duet-passed-on";

impl Passed {
    /// The headers to send this request with to another node.
    pub fn headers_to_pass_on(&self, secret: &duet_token::AppSecret) -> Vec<(&'static str, String)> {
        let mut headers = self.headers.clone();
        let signature = headers.iter().find(|(name, _)| *name == "x-duet-signature").map(|(_, v)| v.clone());
        headers.push((PASSED_ON, duet_token::passed_on_proof(secret, &signature.unwrap_or_default())));
        headers
    }
}

fn valid_nonce(n: &str) -> bool {
    (8..=64).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl FromRequest<AppState> for Signed {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, HttpError> {
        let (parts, body) = req.into_parts();
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (Some(app_id), Some(timestamp), Some(nonce), Some(signature)) =
            (header("x-duet-appid"), header("x-duet-timestamp"), header("x-duet-nonce"), header("x-duet-signature"))
        else {
            return Err(HttpError::unauthorized(
                "auth_missing",
                "send X-Duet-AppID, X-Duet-Timestamp, X-Duet-Nonce and X-Duet-Signature (docs/http-api.md)",
            ));
        };
        let Ok(app_id) = app_id.parse::<u32>() else {
            return Err(HttpError::unauthorized("auth_malformed", "X-Duet-AppID is not an AppID"));
        };
        let Ok(timestamp) = timestamp.parse::<i64>() else {
            return Err(HttpError::unauthorized("auth_malformed", "X-Duet-Timestamp is not unix seconds"));
        };
        if !valid_nonce(&nonce) {
            return Err(HttpError::unauthorized(
                "auth_malformed",
                "X-Duet-Nonce must be 8-64 characters of [A-Za-z0-9_-]",
            ));
        }
        let now = crate::os::now_unix();
        if now.abs_diff(timestamp) > WINDOW_SECS as u64 {
            return Err(HttpError::unauthorized(
                "auth_stale_timestamp",
                format!("X-Duet-Timestamp is more than {WINDOW_SECS} s from the server's clock ({now})"),
            ));
        }
        let method = parts.method.as_str().to_owned();
        let path = parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
        let announced = header("content-length").and_then(|v| v.parse::<u64>().ok());
        let too_large =
            || HttpError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "a request body is at most 64 KiB");
        if announced.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_large());
        }
        let body = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| too_large())?;
        let Some(app) = state.apps.get(app_id).await? else {
            return Err(HttpError::unauthorized("unknown_app", "no app with this AppID"));
        };
        let signed = ApiRequest { app_id, timestamp, nonce: &nonce, method: &method, path: &path, body: &body };
        if !signed.verify(&app.secret, &signature) {
            tracing::info!(app_id, %method, %path, "api request refused: bad signature");
            return Err(HttpError::unauthorized(
                "auth_bad_signature",
                "the signature does not match (docs/http-api.md shows how to sign)",
            ));
        }
        state.nonces.first_use(app_id, &nonce, now)?;
        let relayed =
            header(PASSED_ON).is_some_and(|proof| duet_token::verify_passed_on(&app.secret, &signature, &proof));
        // In a cluster a nonce is used once across every node (a node that cannot ask Redis
        // counts on its own list).
        if !relayed && !state.cluster.nonce_first_use(app_id, &nonce, 2 * WINDOW_SECS as u64).await {
            return Err(HttpError::unauthorized(
                "auth_nonce_reused",
                "this nonce was used already (on another node of the cluster); send a fresh one per request",
            ));
        }
        let headers = vec![
            ("x-duet-appid", app_id.to_string()),
            ("x-duet-timestamp", timestamp.to_string()),
            ("x-duet-nonce", nonce),
            ("x-duet-signature", signature),
        ];
        Ok(Self { app, body, passed: Passed { method: parts.method.clone(), path, headers, relayed } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_single_use_per_app_and_forgotten_after_the_window() {
        let n = Nonces::default();
        assert!(n.first_use(1, "abcdefgh", 1000).is_ok());
        assert_eq!(n.first_use(1, "abcdefgh", 1001).unwrap_err().code, "auth_nonce_reused");
        assert!(n.first_use(2, "abcdefgh", 1001).is_ok(), "nonces are per app");
        assert!(n.first_use(1, "abcdefgh", 1000 + 2 * WINDOW_SECS + 1).is_ok(), "long expired");
    }

    #[test]
    fn nonce_format() {
        assert!(valid_nonce("abcd-EFG_123"));
        for bad in ["short", "has space!", &"x".repeat(65)] {
            assert!(!valid_nonce(bad), "{bad}");
        }
    }
}
