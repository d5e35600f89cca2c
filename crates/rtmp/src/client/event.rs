//! What a [`super::ClientSession`] is configured with and what it reports: [`ClientConfig`],
//! [`ClientEvent`], [`ClientFailure`] and the server's [`Status`] objects.

use std::time::Duration;

use crate::chunk::Message;

/// How a client session behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// From creation to `connect` and `createStream` done, and from asking to publish or play
    /// to the server's start: each step must finish within this.
    pub setup_timeout: Duration,
    /// The `flashVer` sent with `connect`.
    pub flash_ver: String,
}

impl Default for ClientConfig {
    /// Setup 10 s per step; an FMLE-compatible `flashVer`.
    fn default() -> Self {
        Self { setup_timeout: Duration::from_secs(10), flash_ver: "FMLE/3.0 (compatible; duet)".into() }
    }
}

/// An `onStatus` (or `_error`) info object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `status`, `warning` or `error`.
    pub level: String,
    /// E.g. `NetStream.Play.UnpublishNotify`.
    pub code: String,
    /// Free text.
    pub description: String,
}

/// Why a client session ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientFailure {
    /// The server answered `command` with `_error` or an `onStatus` of level `error`.
    #[error("{command} refused: {} ({})", status.code, status.description)]
    Refused {
        /// `connect`, `createStream`, `publish` or `play`.
        command: &'static str,
        /// What the server said.
        status: Status,
    },
    /// A setup step took longer than [`ClientConfig::setup_timeout`].
    #[error("RTMP setup did not finish within {}s", .0.as_secs_f32())]
    Timeout(Duration),
}

/// What happened on a client connection.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// `connect` and `createStream` succeeded; a publish or play asked for is on its way.
    Connected,
    /// The server started the publish (`NetStream.Publish.Start`) or play
    /// (`NetStream.Play.Start`, or media came first).
    Started,
    /// Audio, video or data of the played stream.
    Message(Message),
    /// A status after the start that is not an error (e.g. `NetStream.Play.UnpublishNotify`).
    Status(Status),
    /// The session failed and is closed.
    Failed(ClientFailure),
}
