//! `RtmpError`: why a peer's bytes were refused (any such error ends the connection), or a
//! call the session's state does not allow.

use crate::amf0::AmfError;

/// A protocol violation by the peer, or a caller's mistake ([`RtmpError::Misuse`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtmpError {
    /// C0 named a version other than 3.
    #[error("unsupported RTMP version {0}")]
    Version(u8),
    /// The chunk stream broke a rule.
    #[error("RTMP protocol violation: {0}")]
    Protocol(&'static str),
    /// A message longer than the limit.
    #[error("RTMP message of {0} bytes exceeds the limit")]
    MessageTooLarge(usize),
    /// A command that is not valid AMF0.
    #[error("bad command: {0}")]
    Amf(#[from] AmfError),
    /// A call out of order (e.g. media before the publish started); the session is unchanged.
    #[error("RTMP session misuse: {0}")]
    Misuse(&'static str),
}
