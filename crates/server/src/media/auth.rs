//! Refusals at the media edge: every publish or play that is turned away (a bad signed URL,
//! an unknown app, a stream that is not live, an admission refused) has a stable code for the
//! log, the metrics and the HTTP body. Signed URLs themselves are read and verified by
//! `duet_token::MediaUrl`.

use duet_token::MediaUrlError;

/// Why a media request was refused: a stable code and a message for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// `url_missing`, `url_malformed`, `url_bad_signature`, `url_expired`, `bad_stream_id`,
    /// `unknown_app`, `not_found`, `stream_live`, `stream_not_found`, `stream_not_ready`, ...
    pub code: &'static str,
    /// Detail.
    pub message: String,
}

impl Refused {
    /// A refusal with this code.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<MediaUrlError> for Refused {
    fn from(e: MediaUrlError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}
