//! The media layer's errors.
//!
//! [`MediaRefusal`]: every publish or play turned away at the media edge (a bad signed URL, an
//! unknown app, a stream that is not live, an admission refused) has a stable code for the
//! log (`publish refused` / `play refused`), the `duet_media_refused_total` metric, the RTMP
//! onStatus message and the HTTP-FLV status ([`MediaRefusal::status`]). The codes are the
//! "Media requests" and "Signed media URLs" tables of docs/error-codes.md. Signed URLs
//! themselves are read and verified by `duet_token::MediaUrl`.
//!
//! [`RtmpEnd`]: why an RTMP connection ended, logged as `RTMP connection closed: <reason>`.

use axum::http::StatusCode;
use duet_room::Refusal;
use duet_token::MediaUrlError;

/// Why a media request was refused: a stable code and a message for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRefusal {
    /// `url_missing`, `url_malformed`, `url_bad_signature`, `url_expired`, `bad_stream_id`,
    /// `unknown_app`, `not_found`, `stream_live`, `stream_taken`, `stream_not_found`,
    /// `stream_not_ready`, ...
    pub code: &'static str,
    /// Detail.
    pub message: String,
}

impl MediaRefusal {
    /// A refusal with this code.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// A WebRTC play (WHEP) of a stream browsers cannot play as it is published
    /// (`webrtc_unplayable`, 406), with the reason.
    pub fn unplayable(problem: duet_media::PlayProblem) -> Self {
        Self::new("webrtc_unplayable", format!("{} ({})", problem.reason(), problem.code()))
    }

    /// A play over `what` (fMP4 playback, HLS) of a stream whose `p` is in a codec fMP4 does not
    /// carry (`codec_unsupported`, 406).
    pub fn not_fmp4(what: &str, p: &duet_media::Packet) -> Self {
        let track = if p.kind == duet_media::Kind::Video { "video" } else { "audio" };
        let message = format!(
            "{what} serves H.264 and AAC; this stream's {track} is {:?}: play it over RTMP or HTTP-FLV",
            p.codec()
        );
        Self::new("codec_unsupported", message)
    }

    /// The HTTP status of a refused request (`/live/*` play, `/whip/*` publish, `/whep/*` play).
    pub fn status(&self) -> StatusCode {
        match self.code {
            "not_found" | "unknown_app" | "stream_not_found" => StatusCode::NOT_FOUND,
            "bad_stream_id" | "bad_sdp" | "hls_bad_request" => StatusCode::BAD_REQUEST,
            "url_missing" => StatusCode::UNAUTHORIZED,
            "stream_not_ready" | "webrtc_busy" | "hls_timeout" => StatusCode::SERVICE_UNAVAILABLE,
            "webrtc_app_busy" | "webrtc_stream_busy" => StatusCode::TOO_MANY_REQUESTS,
            "codec_unsupported" | "whip_no_h264" | "webrtc_unplayable" => StatusCode::NOT_ACCEPTABLE,
            "whip_content_type" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "whip_not_found" | "whep_not_found" => StatusCode::NOT_FOUND,
            _ => StatusCode::FORBIDDEN,
        }
    }
}

/// A signed media URL that is missing, unreadable, forged or expired.
impl From<MediaUrlError> for MediaRefusal {
    fn from(e: MediaUrlError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

/// The room hub's refusal of a publish (`stream_taken`, or `internal` when it is not running).
impl From<Refusal> for MediaRefusal {
    fn from(r: Refusal) -> Self {
        Self::new(r.code.name(), r.message)
    }
}

/// Why an RTMP connection ended. `Display` is the reason logged after `RTMP connection
/// closed: ` (tests and operators grep for it); a peer that closed is not logged.
#[derive(Debug)]
pub enum RtmpEnd {
    /// The peer closed the connection.
    PeerClosed,
    /// Reading the socket failed.
    ReadFailed(std::io::Error),
    /// Writing the socket failed.
    WriteFailed(std::io::Error),
    /// A write did not complete within the write timeout.
    StoppedReading,
    /// The peer broke the protocol (a refusal: counted).
    Protocol(duet_rtmp::RtmpError),
    /// A deadline of the session passed (handshake, no role: refusals, counted).
    TimedOut(duet_rtmp::Timeout),
    /// The session closes after it refused the peer (already logged and counted).
    Refused,
    /// Signaling ended the publishing session (a stream stopped through the API, a kick).
    Cut,
}

impl RtmpEnd {
    /// Whether the end counts as a refused media request (`duet_media_refused_total`).
    pub fn is_refusal(&self) -> bool {
        match self {
            Self::Protocol(_) => true,
            Self::TimedOut(why) => why.is_refusal(),
            _ => false,
        }
    }
}

impl std::fmt::Display for RtmpEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PeerClosed => f.write_str("closed by the peer"),
            Self::ReadFailed(e) => write!(f, "read failed: {e}"),
            Self::WriteFailed(e) => write!(f, "write failed: {e}"),
            Self::StoppedReading => f.write_str("peer stopped reading"),
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::TimedOut(why) => write!(f, "{why}"),
            Self::Refused => f.write_str("closed after a refusal"),
            Self::Cut => f.write_str("its publishing session ended"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_reasons() {
        let status = |code| MediaRefusal::new(code, "").status();
        assert_eq!(status("url_missing"), StatusCode::UNAUTHORIZED);
        assert_eq!(status("stream_not_found"), StatusCode::NOT_FOUND);
        assert_eq!(status("url_expired"), StatusCode::FORBIDDEN);
        let unplayable = MediaRefusal::unplayable(duet_media::PlayProblem::BFrames);
        assert_eq!((unplayable.code, unplayable.status()), ("webrtc_unplayable", StatusCode::NOT_ACCEPTABLE));
        assert!(unplayable.message.ends_with("-bf 0 (bframes)"), "{}", unplayable.message);
        assert_eq!(RtmpEnd::TimedOut(duet_rtmp::Timeout::Handshake).to_string(), "handshake timed out");
        assert!(RtmpEnd::TimedOut(duet_rtmp::Timeout::Handshake).is_refusal());
        assert!(!RtmpEnd::Refused.is_refusal(), "counted when refused");
    }
}
