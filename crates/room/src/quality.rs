//! Call quality as the SDKs report it (`reportQuality`): what one report may say about the
//! streams a member publishes and plays (what `<live-pusher>`/`<live-player>` `bindnetstatus`
//! and the browser's `getStats` measured), checked here, and the hub's part: the reporter is a
//! member of the room and each stream it names is the room's. The history of reports is kept by
//! the server (`server::quality`), which receives each accepted report as
//! [`Output::Quality`](crate::Output::Quality).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{ErrorCode, Refusal};
use crate::hub::Hub;
use crate::ids::SessionId;
use crate::io::{Now, Output};
use crate::limits;

/// Most streams one report describes.
pub const MAX_STREAMS: usize = 8;

/// Whether a member publishes or plays the stream it reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Its own stream, as sent.
    Publish,
    /// Another member's stream, as received.
    Play,
}

/// One stream's measurements since the previous report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StreamQuality {
    /// The stream.
    #[serde(rename = "streamID")]
    pub stream_id: String,
    /// Sent or received.
    pub role: Role,
    /// Video bitrate, kbit/s.
    #[serde(default)]
    pub video_kbps: f64,
    /// Audio bitrate, kbit/s.
    #[serde(default)]
    pub audio_kbps: f64,
    /// Video frames a second.
    #[serde(default)]
    pub fps: f64,
    /// Picture width.
    #[serde(default)]
    pub width: u32,
    /// Picture height.
    #[serde(default)]
    pub height: u32,
    /// Round-trip time, ms (browsers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// Packets lost, percent (browsers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_pct: Option<f64>,
    /// What the player holds buffered, ms (mini-program players).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_ms: Option<f64>,
    /// Times playing stalled since the previous report.
    #[serde(default)]
    pub stalls: u32,
    /// Times publishing or playing reconnected since the previous report.
    #[serde(default)]
    pub reconnects: u32,
}

impl StreamQuality {
    /// Every number finite and in its range, the stream ID well formed.
    pub fn check(&self) -> Result<(), Refusal> {
        limits::stream_id(&self.stream_id)?;
        let bad = |field: &str, range: &str| {
            Refusal::new(ErrorCode::InvalidField, format!("`{field}` of {} must be {range}", self.stream_id))
        };
        let within = |v: f64, max: f64| v.is_finite() && (0.0..=max).contains(&v);
        let checks = [
            ("videoKbps", within(self.video_kbps, 1e6), "0 to 1000000"),
            ("audioKbps", within(self.audio_kbps, 1e5), "0 to 100000"),
            ("fps", within(self.fps, 240.0), "0 to 240"),
            ("width", self.width <= 16_384, "0 to 16384"),
            ("height", self.height <= 16_384, "0 to 16384"),
            ("rttMs", self.rtt_ms.is_none_or(|v| within(v, 60_000.0)), "0 to 60000"),
            ("lossPct", self.loss_pct.is_none_or(|v| within(v, 100.0)), "0 to 100"),
            ("cacheMs", self.cache_ms.is_none_or(|v| within(v, 600_000.0)), "0 to 600000"),
            ("stalls", self.stalls <= 1000, "0 to 1000"),
            ("reconnects", self.reconnects <= 1000, "0 to 1000"),
        ];
        match checks.iter().find(|(_, ok, _)| !ok) {
            Some((field, _, range)) => Err(bad(field, range)),
            None => Ok(()),
        }
    }
}

/// A report as the protocol carries it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// The room (required when the session is in several).
    #[serde(rename = "roomID", default)]
    pub room_id: Option<String>,
    /// 1 to [`MAX_STREAMS`] streams.
    pub streams: Vec<StreamQuality>,
}

impl Report {
    /// Parses and checks a `reportQuality` request's data.
    pub fn parse(data: Value) -> Result<Self, Refusal> {
        let report: Report =
            serde_json::from_value(data).map_err(|e| Refusal::new(ErrorCode::InvalidField, e.to_string()))?;
        if report.streams.is_empty() || report.streams.len() > MAX_STREAMS {
            let message = format!("`streams` holds 1 to {MAX_STREAMS} streams");
            return Err(Refusal::new(ErrorCode::InvalidField, message));
        }
        if let Some(room) = &report.room_id {
            limits::room_id(room)?;
        }
        report.streams.iter().try_for_each(StreamQuality::check)?;
        Ok(report)
    }
}

/// The hub's part: the session must be in the room, and each stream must be one the room has
/// announced (publishing or played); the accepted report goes out as [`Output::Quality`].
pub(crate) fn report(hub: &mut Hub, now: Now, sid: SessionId, report: Report) -> Result<Value, Refusal> {
    let s = hub.sessions.get(sid).ok_or_else(|| Refusal::new(ErrorCode::NotInRoom, "not logged in"))?;
    let room_id = match report.room_id {
        Some(room) => room,
        None if s.rooms().len() == 1 => s.room_ids().remove(0),
        None => return Err(Refusal::new(ErrorCode::InvalidField, "`roomID` is required when in several rooms")),
    };
    s.membership(&room_id)?;
    let (app_id, user_id) = (s.app_id, s.user.user_id.clone());
    let app = hub.apps.get(&app_id);
    for q in &report.streams {
        let in_room = app.and_then(|a| a.streams.get(&q.stream_id)).is_some_and(|st| st.room_id == room_id);
        if !in_room {
            let message = format!("stream {} is not one of room {room_id}'s", q.stream_id);
            return Err(Refusal::new(ErrorCode::StreamNotFound, message));
        }
    }
    hub.out.push_back(Output::Quality { app_id, room_id, user_id, at_ms: now.unix_ms, streams: report.streams });
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<Report, Refusal> {
        Report::parse(v)
    }

    #[test]
    fn a_report_is_parsed_with_its_defaults() {
        let r = parse(
            json!({"streams": [{"streamID": "a", "role": "play", "videoKbps": 812.5, "fps": 15, "cacheMs": 120}]}),
        )
        .unwrap();
        assert_eq!(r.room_id, None);
        let q = &r.streams[0];
        assert_eq!(
            (q.role, q.video_kbps, q.fps, q.cache_ms, q.stalls, q.rtt_ms),
            (Role::Play, 812.5, 15.0, Some(120.0), 0, None)
        );
    }

    #[test]
    fn bad_reports_are_refused_with_the_field() {
        let cases = [
            (json!({"streams": []}), "1 to 8"),
            (json!({"streams": [{"streamID": "a", "role": "watch"}]}), "unknown variant"),
            (json!({"streams": [{"streamID": "a", "role": "play", "fps": -1}]}), "`fps`"),
            (json!({"streams": [{"streamID": "a", "role": "play", "lossPct": 101}]}), "`lossPct`"),
            (json!({"streams": [{"streamID": "a", "role": "play", "videoKbps": 1e300}]}), "`videoKbps`"),
            (json!({"streams": [{"streamID": "a b", "role": "play"}]}), "stream"),
            (json!({"streams": [{"streamID": "a", "role": "play", "extra": 1}]}), "unknown field"),
            (json!({"roomID": "", "streams": [{"streamID": "a", "role": "play"}]}), "room"),
        ];
        for (data, needle) in cases {
            let e = parse(data.clone()).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidField, "{data}");
            assert!(e.message.contains(needle), "{data}: {}", e.message);
        }
        let many: Vec<Value> = (0..9).map(|i| json!({"streamID": format!("s{i}"), "role": "play"})).collect();
        assert!(parse(json!({ "streams": many })).is_err());
    }
}
