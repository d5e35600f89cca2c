//! `ErrorCode`: every numeric code the signaling protocol sends, with its stable name.
//! docs/protocol.md lists them; the SDK surfaces them as `errorCode` / `{code, msg}`.

use duet_token::TokenError;

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $num:literal, $text:literal;)*) => {
        /// A protocol error or close code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$doc])* $name = $num,)*
        }

        impl ErrorCode {
            /// The number on the wire.
            pub fn number(self) -> u32 {
                self as u32
            }

            /// The stable name on the wire (`reason`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$name => $text,)*
                }
            }

            /// Every code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$name,)*];
        }
    };
}

codes! {
    /// The frame is not a JSON object with `op` (and `id`).
    BadFrame = 40000, "bad_frame";
    /// `op` names no request.
    UnknownOp = 40001, "unknown_op";
    /// A field is missing, of the wrong type, too long, or has forbidden characters.
    InvalidField = 40002, "invalid_field";
    /// The frame is larger than the protocol limit.
    FrameTooLarge = 40003, "frame_too_large";
    /// The request needs a logged-in session (or membership of the named room).
    NotLoggedIn = 40004, "not_logged_in";
    /// Too many requests; this one was not executed.
    RateLimited = 40005, "rate_limited";
    /// The client speaks a protocol version this server does not.
    UnsupportedProtocol = 40006, "unsupported_protocol";
    /// No app with this AppID.
    UnknownApp = 40100, "unknown_app";
    /// See docs/error-codes.md, `token_malformed`.
    TokenMalformed = 40101, "token_malformed";
    /// Wrong ServerSecret or altered token.
    TokenBadSignature = 40102, "token_bad_signature";
    /// Token minted for another AppID.
    TokenWrongApp = 40103, "token_wrong_app";
    /// Token expired (at login, renewal, or during the session).
    TokenExpired = 40104, "token_expired";
    /// Token minted for another userID.
    TokenUserMismatch = 40105, "token_user_mismatch";
    /// Token does not grant login.
    TokenLoginDenied = 40106, "token_login_denied";
    /// Token limited to another room.
    TokenRoomMismatch = 40107, "token_room_mismatch";
    /// Token does not grant publishing.
    TokenPublishDenied = 40108, "token_publish_denied";
    /// Token's stream_id_list does not contain the stream.
    TokenStreamNotAllowed = 40109, "token_stream_not_allowed";
    /// The room has reached its member limit.
    RoomFull = 40300, "room_full";
    /// Already in a room and multi-room was not asked for.
    AlreadyInRoom = 40301, "already_in_room";
    /// Not a member of the named room.
    NotInRoom = 40302, "not_in_room";
    /// Another user is publishing (or about to publish) this streamID in this app.
    StreamTaken = 40303, "stream_taken";
    /// This session does not publish this stream.
    StreamNotOwned = 40304, "stream_not_owned";
    /// A second login on one connection must use the same userID.
    UserMismatch = 40305, "user_mismatch";
    /// The session to resume is gone (grace period over, kicked out, or unknown).
    ResumeFailed = 40306, "resume_failed";
    /// The room holds the maximum number of extra-info keys.
    TooManyKeys = 40307, "too_many_keys";
    /// The stream is relayed to the maximum number of targets.
    TooManyRelays = 40308, "too_many_relays";
    /// Cluster: a second room of one connection (multi-room) lives on another node.
    RoomOnOtherNode = 40309, "room_on_other_node";
    /// The app runs the most mixer tasks it may (or the node the most it can).
    MixerTaskLimit = 40310, "mixer_task_limit";
    /// HTTP API: the app has no open room with this roomID.
    RoomNotFound = 40400, "room_not_found";
    /// HTTP API: the user is not in that room.
    UserNotFound = 40401, "user_not_found";
    /// HTTP API: the stream is not live.
    StreamNotFound = 40402, "stream_not_found";
    /// No mixer task with this taskID runs in the app.
    MixerTaskNotFound = 40403, "mixer_task_not_found";
    /// Close: the same userID logged in from another connection.
    KickedOut = 41000, "kicked_out";
    /// Kickout: the app's business server took the user out of the room (HTTP API).
    KickedByServer = 41001, "kicked_by_server";
    /// Close: no heartbeat within the announced timeout.
    HeartbeatTimeout = 41002, "heartbeat_timeout";
    /// Close: the connection kept breaking the protocol or the rate limit.
    Abusive = 41003, "abusive";
    /// Close: the server is shutting down.
    ServerShutdown = 41004, "server_shutdown";
    /// Kickout: the app's business server closed the room (HTTP API).
    RoomClosed = 41005, "room_closed";
    /// Close: the node is leaving its cluster (drain); the `close` push lists where else to go.
    ServerDraining = 41006, "server_draining";
    /// Publisher state: the media connection ended without stopPublish.
    PublishInterrupted = 41100, "publish_interrupted";
    /// Publisher state: the app's business server stopped the stream (HTTP API).
    StoppedByServer = 41101, "stopped_by_server";
    /// Something failed inside the server.
    Internal = 50000, "internal";
    /// This node cannot mix (its media framework, ffmpeg, is missing or mixing is off).
    MixerUnavailable = 50001, "mixer_unavailable";
    /// The app registry (SQLite, or Redis in a cluster) cannot be read now; try again later.
    RegistryUnavailable = 50002, "registry_unavailable";
}

impl From<&TokenError> for ErrorCode {
    fn from(e: &TokenError) -> Self {
        match e {
            TokenError::BadSignature => Self::TokenBadSignature,
            TokenError::WrongApp { .. } => Self::TokenWrongApp,
            TokenError::Expired { .. } => Self::TokenExpired,
            TokenError::UserMismatch => Self::TokenUserMismatch,
            TokenError::LoginDenied => Self::TokenLoginDenied,
            TokenError::RoomMismatch => Self::TokenRoomMismatch,
            TokenError::PublishDenied => Self::TokenPublishDenied,
            TokenError::StreamNotAllowed => Self::TokenStreamNotAllowed,
            _ => Self::TokenMalformed,
        }
    }
}

/// A refusal: a code plus a one-line message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The code.
    pub code: ErrorCode,
    /// Human-readable detail.
    pub message: String,
}

impl Refusal {
    /// A refusal with a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<TokenError> for Refusal {
    fn from(e: TokenError) -> Self {
        Self::new(ErrorCode::from(&e), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_are_unique() {
        let mut nums: Vec<u32> = ErrorCode::ALL.iter().map(|c| c.number()).collect();
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        nums.sort_unstable();
        names.sort_unstable();
        nums.dedup();
        names.dedup();
        assert_eq!(nums.len(), ErrorCode::ALL.len());
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn token_codes_keep_the_token_crate_names() {
        for e in [
            TokenError::Expired { expire: 1 },
            TokenError::BadSignature,
            TokenError::Malformed("x"),
            TokenError::LoginDenied,
        ] {
            assert_eq!(ErrorCode::from(&e).name(), e.code());
        }
    }
}

#[cfg(test)]
mod docs {
    use super::ErrorCode;

    /// docs/protocol.md is the contract: every code must be listed there with its name.
    #[test]
    fn protocol_doc_lists_every_code() {
        let doc = include_str!("../../../docs/protocol.md");
        for code in ErrorCode::ALL {
            let row = format!("| {} | `{}` |", code.number(), code.name());
            assert!(doc.contains(&row), "docs/protocol.md lacks the row `{row}`");
        }
    }
}
