//! What crosses the hub's boundary besides requests: the time it is given ([`Now`]), publish
//! admission and ends from the ingests, and what it asks of the server ([`Output`], with
//! webhook events as [`HubEvent`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use duet_token::AppSecret;
use serde_json::Value;

use crate::error::ErrorCode;
use crate::ids::{ConnId, PublisherId};

/// The current time, as both a monotonic instant (timers) and wall-clock milliseconds (stamps,
/// token expiry).
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time.
    pub at: Instant,
    /// Unix time in milliseconds.
    pub unix_ms: u64,
}

impl Now {
    /// Unix seconds.
    pub fn unix_s(&self) -> i64 {
        (self.unix_ms / 1000) as i64
    }

    /// The instant at which wall-clock time reaches `unix_s` (now, if already past).
    pub fn instant_at_unix(&self, unix_s: i64) -> Instant {
        let ms = (unix_s.max(0) as u64).saturating_mul(1000).saturating_sub(self.unix_ms);
        // Absurdly far futures (tokens expiring in the year 292 billion) clamp to a century.
        let far = Duration::from_secs(100 * 365 * 24 * 3600);
        self.at.checked_add(Duration::from_millis(ms).min(far)).unwrap_or(self.at)
    }
}

/// What the hub asks the server to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send a text frame on a connection.
    Send {
        /// Where.
        conn: ConnId,
        /// The JSON text, shared by every recipient of the same push.
        frame: Arc<str>,
    },
    /// Send a `close` push with this code, then close the connection. The hub has forgotten it.
    Close {
        /// Which.
        conn: ConnId,
        /// Why.
        code: ErrorCode,
    },
    /// Cut the media connection publishing this stream (its publisher left or stopped).
    StopMedia {
        /// App.
        app_id: u32,
        /// Stream.
        stream_id: String,
    },
    /// Tell the app's business backend (webhooks).
    Event(HubEvent),
    /// Keep (`Some`) or forget (`None`, the room closed) what the room's next home should start
    /// from if this one is lost: its record (`{"maxMembers", "extraInfo"}`, the snapshot's
    /// shape), given again to a hub with [`Hub::seed_room`](crate::Hub::seed_room). Only
    /// rooms with extra info have one.
    RoomRecord {
        /// App.
        app_id: u32,
        /// Room.
        room_id: String,
        /// The record, or `None`.
        record: Option<serde_json::Value>,
    },
    /// Start (or stop) relaying a stream to an external RTMP URL, whenever it is live.
    Relay {
        /// App.
        app_id: u32,
        /// Stream.
        stream_id: String,
        /// Target.
        url: String,
        /// Start (true) or stop.
        start: bool,
    },
    /// A member's quality report, accepted: keep it in the room's history.
    Quality {
        /// App.
        app_id: u32,
        /// Room.
        room_id: String,
        /// Who reported.
        user_id: String,
        /// When (unix ms).
        at_ms: u64,
        /// What it measured.
        streams: Vec<crate::quality::StreamQuality>,
    },
    /// Carry out a session's mixer request and answer it with
    /// [`Hub::answer`](crate::Hub::answer) (`request_id` on `conn`).
    Mixer {
        /// The asking connection.
        conn: ConnId,
        /// The request to answer.
        request_id: u64,
        /// What to do.
        order: Box<crate::mixer::MixerOrder>,
    },
}

/// A publisher asks to start a stream: every ingest (RTMP today; WHIP, relays, mixer outputs,
/// cluster edges) asks [`Hub::admit_publish`](crate::Hub::admit_publish) before it accepts the publish. `user_id` and
/// `room_id` come from the signed publish URL: a stream no session reserved appears in
/// `room_id` (when set) as published by `user_id` (streams pushed by external encoders with
/// `duet url publish --room-id`).
#[derive(Debug, Clone, PartialEq)]
pub struct PublishRequest {
    /// App.
    pub app_id: u32,
    /// Stream.
    pub stream_id: String,
    /// Publisher named in the URL.
    pub user_id: String,
    /// Room named in the URL (may be empty).
    pub room_id: String,
    /// The app's secret (the ingest verified the URL with it; stream URLs are signed with it).
    pub secret: AppSecret,
    /// The publish asking.
    pub publisher: PublisherId,
}

/// An admitted publish ended (the encoder stopped, its connection died, or it was cut).
#[derive(Debug, Clone, PartialEq)]
pub struct PublishEnded {
    /// App.
    pub app_id: u32,
    /// Stream.
    pub stream_id: String,
    /// Media payload bytes the stream carried.
    pub bytes: u64,
    /// The publish that ended (as admitted).
    pub publisher: PublisherId,
}

/// The media side found that browsers cannot play a live stream over WebRTC as it is published
/// (B-frames, a codec WebRTC cannot carry): sent when the stream's verdict first shows a
/// problem (and again if it gets worse).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamUnplayable {
    /// App.
    pub app_id: u32,
    /// Stream.
    pub stream_id: String,
    /// The publish carrying it (as admitted).
    pub publisher: PublisherId,
    /// A stable code (`bframes`, `video_codec`, `audio_codec`).
    pub code: &'static str,
    /// What is wrong and what to do, for people.
    pub reason: String,
}

/// Something that happened in an app, for its business backend (webhooks): `name` is one of
/// `room.created`, `room.closed`, `user.login`, `user.logout`, `stream.created`,
/// `stream.unplayable`, `stream.closed`.
#[derive(Debug, Clone, PartialEq)]
pub struct HubEvent {
    /// App.
    pub app_id: u32,
    /// What happened.
    pub name: &'static str,
    /// When, unix milliseconds.
    pub at_ms: u64,
    /// The event's fields (`roomID`, `userID`, ...; docs/http-api.md).
    pub data: Value,
}
