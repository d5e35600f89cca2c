//! The token crate's errors: why a token, a media signature or a secret was refused.
//!
//! Every variant has a stable machine-readable [`TokenError::code`]; docs/error-codes.md lists
//! them. Messages are one line and never contain secret material.

use thiserror::Error;

/// Why a ServerSecret was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SecretError {
    /// Not 32 characters long.
    #[error("ServerSecret must be exactly 32 characters, got {0}")]
    Length(usize),
    /// Contains spaces, control characters or non-ASCII characters.
    #[error("ServerSecret must be printable ASCII without spaces")]
    Charset,
}

/// Why a token04 was refused, or why a holder may not do what it asked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not shaped like a token04 at all (prefix, base64, lengths, trailing bytes, JSON fields).
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// Decryption failed: the secret is not the one that minted it, or the token was altered.
    #[error("bad signature or padding: wrong ServerSecret, or the token was altered")]
    BadSignature,
    /// Minted for another AppID.
    #[error("token was minted for AppID {found}, not {expected}")]
    WrongApp {
        /// The AppID the caller verified against.
        expected: u32,
        /// The AppID inside the token.
        found: u32,
    },
    /// Past its expiry (plus the clock-skew allowance).
    #[error("token expired at unix time {expire}")]
    Expired {
        /// The token's expiry, unix seconds.
        expire: i64,
    },
    /// Minted for another userID.
    #[error("token was minted for another userID")]
    UserMismatch,
    /// The payload does not grant login (privilege 1).
    #[error("token does not grant room login")]
    LoginDenied,
    /// The payload limits the token to another room.
    #[error("token is limited to another room")]
    RoomMismatch,
    /// The payload does not grant publishing (privilege 2).
    #[error("token does not grant publishing")]
    PublishDenied,
    /// The payload's stream_id_list does not contain this stream.
    #[error("token does not allow publishing this streamID")]
    StreamNotAllowed,
}

impl TokenError {
    /// Stable code for logs, CLI output and wire replies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "token_malformed",
            Self::BadSignature => "token_bad_signature",
            Self::WrongApp { .. } => "token_wrong_app",
            Self::Expired { .. } => "token_expired",
            Self::UserMismatch => "token_user_mismatch",
            Self::LoginDenied => "token_login_denied",
            Self::RoomMismatch => "token_room_mismatch",
            Self::PublishDenied => "token_publish_denied",
            Self::StreamNotAllowed => "token_stream_not_allowed",
        }
    }
}

/// Why a token could not be minted (caller mistakes).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MintError {
    /// AppID 0 is never valid.
    #[error("AppID must not be 0")]
    ZeroAppId,
    /// Empty userID.
    #[error("userID must not be empty")]
    EmptyUserId,
    /// A token must live at least one second.
    #[error("TTL must be at least 1 second")]
    ZeroTtl,
    /// ctime + TTL does not fit.
    #[error("ctime + TTL overflows")]
    Overflow,
    /// The token would not fit the 16-bit ciphertext length of the format.
    #[error("token content too large for token04")]
    TooLarge,
}

/// Why a log upload credential (`logToken`) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LogTokenError {
    /// Not `<expire>.<64 hex characters>`.
    #[error("malformed log token")]
    Malformed,
    /// Forged, altered, signed with another secret, or issued to another app, session or user.
    #[error("the log token does not match this app, session and user")]
    BadSignature,
    /// Past its expiry (plus the clock-skew allowance).
    #[error("the log token expired at unix time {expire}")]
    Expired {
        /// Expiry in unix seconds.
        expire: u64,
    },
}

/// Why a signed media URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MediaUrlError {
    /// The signature is not valid hex of the right length.
    #[error("malformed media URL signature")]
    Malformed,
    /// The signature does not match: forged, altered, or signed with another secret.
    #[error("media URL signature does not match")]
    BadSignature,
    /// Past its expiry (plus the clock-skew allowance).
    #[error("media URL expired at unix time {expire}")]
    Expired {
        /// Expiry in unix seconds.
        expire: u64,
    },
    /// The URL carries no signature (`expire` and `sign`).
    #[error("the URL carries no signature (expire and sign)")]
    Missing,
    /// The query cannot be read.
    #[error("malformed media URL: {0}")]
    BadQuery(String),
    /// The stream ID breaks the rules (1 to 256 bytes of `[0-9A-Za-z_-]`).
    #[error("the stream ID must be 1 to 256 bytes of [0-9A-Za-z_-]")]
    BadStreamId,
    /// The AppID is not a number.
    #[error("no such app")]
    UnknownApp,
    /// An HTTP play path that names no format Duet serves.
    #[error("play URLs end in .flv or .mp4")]
    UnknownFormat,
}

impl MediaUrlError {
    /// Stable code for logs and HTTP/RTMP refusals.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed | Self::BadQuery(_) => "url_malformed",
            Self::BadSignature => "url_bad_signature",
            Self::Expired { .. } => "url_expired",
            Self::Missing => "url_missing",
            Self::BadStreamId => "bad_stream_id",
            Self::UnknownApp => "unknown_app",
            Self::UnknownFormat => "not_found",
        }
    }
}
