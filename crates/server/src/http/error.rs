//! The HTTP layer's error: a status, a stable code and a message, answered with the JSON body
//! every endpoint uses, `{"code": "...", "message": "..."}`. Handlers return
//! `Result<_, HttpError>` and use `?`.
//!
//! The codes and their statuses are a contract: docs/error-codes.md (HTTP, SDK log uploads,
//! the web console, HTTP-FLV playback) and docs/http-api.md#errors (the server API). Each
//! mapping from a lower layer's error to a status is written once, here: room refusals
//! ([`Refusal`]), an unreadable registry ([`RegistryUnavailable`]) and refused media requests
//! ([`MediaRefusal`]). Errors of endpoints browsers call carry the CORS headers `http::cors`
//! decided for the request ([`HttpError::with_cors`]).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use duet_room::{ErrorCode, Refusal};
use serde_json::json;

use crate::http::cors::CorsHeaders;
use crate::media::error::MediaRefusal;
use crate::store::apps::RegistryUnavailable;

/// A request that failed: the status, the code (`not_found`, `auth_*`, `invalid_json`,
/// `invalid_field`, `registry_unavailable`, a room or media code, ...) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// The status.
    pub status: StatusCode,
    /// The stable code.
    pub code: &'static str,
    /// Detail for a person; may change.
    pub message: String,
    /// The CORS headers of the request's answer (a page the app allows may read the error).
    cors: CorsHeaders,
    /// Adds `Retry-After` with these seconds (a 429 that says when to come back).
    retry_after: Option<u64>,
}

impl HttpError {
    /// An error with this status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), cors: CorsHeaders::default(), retry_after: None }
    }

    /// 400 `invalid_field`: a field or path segment breaks its limits (the message names it).
    pub fn invalid_field(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_field", message)
    }

    /// 400 `invalid_json`: the body is not JSON of the expected shape.
    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_json", message)
    }

    /// 401 with this code.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 500 `internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The same error, with the CORS headers `http::cors` decided for the request.
    pub fn with_cors(self, cors: CorsHeaders) -> Self {
        Self { cors, ..self }
    }

    /// The same error, telling the client to retry after `secs` seconds.
    pub fn with_retry_after(self, secs: u64) -> Self {
        Self { retry_after: Some(secs), ..self }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut res =
            (self.status, self.cors, Json(json!({"code": self.code, "message": self.message}))).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// A refusal of the room hub, with a status that says whose fault it is.
impl From<Refusal> for HttpError {
    fn from(r: Refusal) -> Self {
        let status = match r.code {
            ErrorCode::RoomNotFound
            | ErrorCode::UserNotFound
            | ErrorCode::StreamNotFound
            | ErrorCode::MixerTaskNotFound => StatusCode::NOT_FOUND,
            ErrorCode::TooManyKeys | ErrorCode::StreamTaken => StatusCode::CONFLICT,
            ErrorCode::MixerTaskLimit => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::MixerUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, r.code.name(), r.message)
    }
}

/// 503 `registry_unavailable`.
impl From<RegistryUnavailable> for HttpError {
    fn from(_: RegistryUnavailable) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "registry_unavailable", "cannot read the app registry")
    }
}

/// A refused play request over HTTP ([`MediaRefusal::status`]).
impl From<MediaRefusal> for HttpError {
    fn from(r: MediaRefusal) -> Self {
        Self::new(r.status(), r.code, r.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_body_is_code_and_message() {
        let res = HttpError::not_found("no such endpoint").with_cors(CorsHeaders::any()).into_response();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body, json!({"code": "not_found", "message": "no such endpoint"}));
        let res = HttpError::from(Refusal::new(ErrorCode::TooManyKeys, "full")).into_response();
        assert_eq!(
            (res.status(), res.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN)),
            (StatusCode::CONFLICT, None)
        );
    }
}
