//! The signaling wire format (docs/protocol.md): JSON text frames.
//!
//! Client to server: `{"id": 7, "op": "login", "data": {...}}`.
//! Replies: `{"id": 7, "code": 0, "data": {...}}` or
//! `{"id": 7, "code": 40104, "reason": "token_expired", "message": "..."}`.
//! Pushes: `{"push": "roomUserUpdate", "seq": 12, "data": {...}}` (`seq` only on room events).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::{ErrorCode, Refusal};
use crate::limits;
use crate::mixer::{MixerCall, MixerConfig};

/// The protocol version this server speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// A user as the SDK names it (read only from a JSON object).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Map<String, Value>")]
pub struct User {
    /// userID.
    #[serde(rename = "userID")]
    pub user_id: String,
    /// userName (defaults to empty).
    #[serde(rename = "userName", default)]
    pub user_name: String,
}

impl TryFrom<Map<String, Value>> for User {
    type Error = serde_json::Error;

    fn try_from(object: Map<String, Value>) -> Result<Self, Self::Error> {
        #[derive(Deserialize)]
        struct Fields {
            #[serde(rename = "userID")]
            user_id: String,
            #[serde(rename = "userName", default)]
            user_name: String,
        }
        let f: Fields = serde_json::from_value(Value::Object(object))?;
        Ok(Self { user_id: f.user_id, user_name: f.user_name })
    }
}

impl User {
    /// `{"userID", "userName"}`.
    pub fn to_json(&self) -> Value {
        json!({"userID": self.user_id, "userName": self.user_name})
    }
}

/// A parsed request with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The client's request id, echoed in the reply.
    pub id: u64,
    /// What it asks.
    pub request: Request,
}

/// A frame that could not be parsed; `id` is set when it could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameError {
    /// The request id, when the frame had a readable one.
    pub id: Option<u64>,
    /// Why it was refused.
    pub refusal: Refusal,
}

/// Log into a room.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Protocol version the client speaks.
    pub protocol: u32,
    /// AppID.
    #[serde(rename = "appID")]
    pub app_id: u32,
    /// roomID.
    #[serde(rename = "roomID")]
    pub room_id: String,
    /// token04.
    pub token: String,
    /// The user.
    pub user: User,
    /// Receive roomUserUpdate pushes.
    #[serde(rename = "userUpdate", default)]
    pub user_update: bool,
    /// Member limit when this login creates the room (0 = server default).
    #[serde(rename = "maxMemberCount", default)]
    pub max_member_count: u32,
    /// Allow this connection to be in several rooms.
    #[serde(rename = "multiRoom", default)]
    pub multi_room: bool,
}

/// Every request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Request {
    /// Log into a room.
    Login(Box<Login>),
    /// Take over a session whose connection dropped.
    Resume {
        /// From the login reply.
        session_id: String,
        /// From the login reply.
        resume_token: String,
        /// Per room, the last room event `seq` the client received.
        rooms: Vec<(String, u64)>,
    },
    /// Leave one room, or all.
    Logout {
        /// The room; none = all.
        room_id: Option<String>,
    },
    /// Replace the token of one room, or of all.
    RenewToken {
        /// The new token04.
        token: String,
        /// The room; none = all.
        room_id: Option<String>,
    },
    /// Heartbeat.
    Ping,
    /// A broadcast message (`barrage` = false) or a barrage message.
    SendMessage {
        /// The room.
        room_id: String,
        /// The text.
        message: String,
        /// Barrage rather than broadcast.
        barrage: bool,
    },
    /// A custom command to some users (all others when the list is empty).
    SendCustomCommand {
        /// The room.
        room_id: String,
        /// The text.
        command: String,
        /// Recipients' userIDs.
        to_user_ids: Vec<String>,
    },
    /// Set one room extra-info key.
    SetRoomExtraInfo {
        /// The room.
        room_id: String,
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// Set a published stream's extra info.
    SetStreamExtraInfo {
        /// The stream.
        stream_id: String,
        /// Extra info.
        extra_info: String,
    },
    /// Reserve a streamID and get signed publish URLs.
    Publish {
        /// The room (optional when in exactly one room).
        room_id: Option<String>,
        /// The stream.
        stream_id: String,
        /// Extra info shown to others.
        extra_info: String,
    },
    /// Release a streamID (and end it if live).
    StopPublish {
        /// The stream.
        stream_id: String,
    },
    /// Get signed play URLs.
    Play {
        /// The stream.
        stream_id: String,
    },
    /// Relay a published stream to an external RTMP URL (`addPublishCdnUrl`), or stop
    /// relaying it (`removePublishCdnUrl`).
    Relay {
        /// The stream.
        stream_id: String,
        /// `rtmp://host[:port]/app/stream[?query]`.
        target_url: String,
        /// Start (true) or stop.
        add: bool,
    },
    /// Start a mixer task, or change one with the same taskID (`startMixerTask`), or stop one
    /// (`stopMixerTask`).
    Mixer(crate::mixer::MixerCall),
    /// What the member's players and publishers measured (`reportQuality`).
    ReportQuality(crate::quality::Report),
}

impl Request {
    /// The AppID whose secret the server must look up before the hub sees this request.
    pub fn app_to_look_up(&self) -> Option<u32> {
        match self {
            Self::Login(l) => Some(l.app_id),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct RawFrame {
    id: Option<u64>,
    op: Option<String>,
    #[serde(default)]
    data: Value,
}

/// Reads a request's `data`, which must be a JSON object.
fn field<T: for<'de> Deserialize<'de>>(data: Value) -> Result<T, Refusal> {
    if !data.is_object() {
        return Err(Refusal::new(ErrorCode::InvalidField, "`data` must be a JSON object"));
    }
    serde_json::from_value(data).map_err(|e| Refusal::new(ErrorCode::InvalidField, e.to_string()))
}

macro_rules! data_struct {
    ($name:ident { $($json:literal => $f:ident : $t:ty $(= $default:ident)?),* $(,)? }) => {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $name {
            $(#[serde(rename = $json $(, $default)?)] $f: $t,)*
        }
    };
}

data_struct!(ResumeData { "sessionID" => session_id: String, "resumeToken" => resume_token: String, "rooms" => rooms: std::collections::BTreeMap<String, u64> = default });
data_struct!(RoomOpt { "roomID" => room_id: Option<String> = default });
data_struct!(RenewData { "token" => token: String, "roomID" => room_id: Option<String> = default });
data_struct!(MessageData { "roomID" => room_id: String, "message" => message: String });
data_struct!(CommandData { "roomID" => room_id: String, "command" => command: String, "toUserIDList" => to: Vec<String> = default });
data_struct!(RoomExtraData { "roomID" => room_id: String, "key" => key: String, "value" => value: String });
data_struct!(StreamExtraData { "streamID" => stream_id: String, "extraInfo" => extra_info: String });
data_struct!(PublishData { "roomID" => room_id: Option<String> = default, "streamID" => stream_id: String, "extraInfo" => extra_info: String = default });
data_struct!(StreamData { "streamID" => stream_id: String });
data_struct!(TaskData { "taskID" => task_id: String });
data_struct!(RelayData { "streamID" => stream_id: String, "targetURL" => target_url: String });

/// Parses and validates one text frame.
pub fn parse(text: &str) -> Result<Frame, FrameError> {
    if text.len() > limits::MAX_FRAME {
        let refusal =
            Refusal::new(ErrorCode::FrameTooLarge, format!("frames are limited to {} bytes", limits::MAX_FRAME));
        return Err(FrameError { id: None, refusal });
    }
    // Read as an object first: serde would also read a struct from an array, positionally.
    let raw = serde_json::from_str::<Map<String, Value>>(text)
        .and_then(|object| RawFrame::deserialize(Value::Object(object)))
        .map_err(|e| FrameError {
            id: None,
            refusal: Refusal::new(ErrorCode::BadFrame, format!("not a JSON request object: {e}")),
        })?;
    let id = raw.id;
    let fail = |refusal: Refusal| FrameError { id, refusal };
    let Some(req_id) = id else {
        return Err(fail(Refusal::new(ErrorCode::BadFrame, "missing numeric `id`")));
    };
    let op = raw.op.ok_or_else(|| fail(Refusal::new(ErrorCode::BadFrame, "missing `op`")))?;
    let request = decode(&op, raw.data).map_err(fail)?;
    validate(&request).map_err(fail)?;
    Ok(Frame { id: req_id, request })
}

fn decode(op: &str, data: Value) -> Result<Request, Refusal> {
    let data = if data.is_null() { json!({}) } else { data };
    Ok(match op {
        "login" => Request::Login(Box::new(field(data)?)),
        "resume" => {
            let d: ResumeData = field(data)?;
            Request::Resume {
                session_id: d.session_id,
                resume_token: d.resume_token,
                rooms: d.rooms.into_iter().collect(),
            }
        }
        "logout" => Request::Logout { room_id: field::<RoomOpt>(data)?.room_id },
        "renewToken" => {
            let d: RenewData = field(data)?;
            Request::RenewToken { token: d.token, room_id: d.room_id }
        }
        "ping" => Request::Ping,
        "sendBroadcastMessage" | "sendBarrageMessage" => {
            let d: MessageData = field(data)?;
            Request::SendMessage { room_id: d.room_id, message: d.message, barrage: op == "sendBarrageMessage" }
        }
        "sendCustomCommand" => {
            let d: CommandData = field(data)?;
            Request::SendCustomCommand { room_id: d.room_id, command: d.command, to_user_ids: d.to }
        }
        "setRoomExtraInfo" => {
            let d: RoomExtraData = field(data)?;
            Request::SetRoomExtraInfo { room_id: d.room_id, key: d.key, value: d.value }
        }
        "setStreamExtraInfo" => {
            let d: StreamExtraData = field(data)?;
            Request::SetStreamExtraInfo { stream_id: d.stream_id, extra_info: d.extra_info }
        }
        "publish" => {
            let d: PublishData = field(data)?;
            Request::Publish { room_id: d.room_id, stream_id: d.stream_id, extra_info: d.extra_info }
        }
        "stopPublish" => Request::StopPublish { stream_id: field::<StreamData>(data)?.stream_id },
        "play" => Request::Play { stream_id: field::<StreamData>(data)?.stream_id },
        "addPublishCdnUrl" | "removePublishCdnUrl" => {
            let d: RelayData = field(data)?;
            Request::Relay { stream_id: d.stream_id, target_url: d.target_url, add: op == "addPublishCdnUrl" }
        }
        "startMixerTask" => Request::Mixer(MixerCall::Start(Box::new(MixerConfig::parse(&data)?))),
        "stopMixerTask" => Request::Mixer(MixerCall::Stop { task_id: field::<TaskData>(data)?.task_id }),
        "reportQuality" => Request::ReportQuality(crate::quality::Report::parse(data)?),
        other => {
            let shown: String = other.chars().take(64).collect();
            return Err(Refusal::new(ErrorCode::UnknownOp, format!("unknown op `{shown}`")));
        }
    })
}

fn validate(r: &Request) -> Result<(), Refusal> {
    use limits::*;
    let opt_room = |r: &Option<String>| r.as_deref().map_or(Ok(()), room_id);
    match r {
        Request::Login(l) => {
            room_id(&l.room_id)?;
            user_id(&l.user.user_id)?;
            user_name(&l.user.user_name)?;
            text("token", &l.token, 1, duet_token::MAX_TOKEN_LEN)
        }
        Request::Resume { session_id, resume_token, rooms } => {
            text("sessionID", session_id, 1, 64)?;
            text("resumeToken", resume_token, 1, 128)?;
            if rooms.len() > 64 {
                return Err(Refusal::new(ErrorCode::InvalidField, "rooms: at most 64"));
            }
            rooms.iter().try_for_each(|(r, _)| room_id(r))
        }
        Request::Logout { room_id } => opt_room(room_id),
        Request::RenewToken { token, room_id } => {
            text("token", token, 1, duet_token::MAX_TOKEN_LEN)?;
            opt_room(room_id)
        }
        Request::Ping => Ok(()),
        Request::SendMessage { room_id: r, message, .. } => {
            room_id(r)?;
            text("message", message, 1, MAX_MESSAGE)
        }
        Request::SendCustomCommand { room_id: r, command, to_user_ids } => {
            room_id(r)?;
            text("command", command, 1, MAX_MESSAGE)?;
            if to_user_ids.len() > MAX_COMMAND_TARGETS {
                return Err(Refusal::new(
                    ErrorCode::InvalidField,
                    format!("toUserIDList: at most {MAX_COMMAND_TARGETS}"),
                ));
            }
            to_user_ids.iter().try_for_each(|u| user_id(u))
        }
        Request::SetRoomExtraInfo { room_id: r, key, value } => {
            room_id(r)?;
            text("key", key, 1, MAX_EXTRA_KEY)?;
            text("value", value, 0, MAX_EXTRA_VALUE)
        }
        Request::SetStreamExtraInfo { stream_id: s, extra_info } => {
            stream_id(s)?;
            text("extraInfo", extra_info, 0, MAX_STREAM_EXTRA)
        }
        Request::Publish { room_id: r, stream_id: s, extra_info } => {
            opt_room(r)?;
            stream_id(s)?;
            text("extraInfo", extra_info, 0, MAX_STREAM_EXTRA)
        }
        Request::StopPublish { stream_id: s } | Request::Play { stream_id: s } => stream_id(s),
        Request::Relay { stream_id: s, target_url, .. } => {
            stream_id(s)?;
            relay_url(target_url)
        }
        // A start's config was checked as it was read.
        Request::Mixer(MixerCall::Start(_)) => Ok(()),
        Request::Mixer(MixerCall::Stop { task_id }) => crate::mixer::task_id(task_id),
        // Checked while parsing.
        Request::ReportQuality(_) => Ok(()),
    }
}

/// A relay target: `rtmp://host[:port]/app/stream[?query]`, printable ASCII, at most 1024 bytes.
pub(crate) fn relay_url(url: &str) -> Result<(), Refusal> {
    let bad = |why: &str| Err(Refusal::new(ErrorCode::InvalidField, format!("targetURL {why}")));
    if url.len() > MAX_RELAY_URL || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return bad("must be at most 1024 printable ASCII characters");
    }
    let Some(rest) = url.strip_prefix("rtmp://") else { return bad("must start with rtmp://") };
    match rest.split_once('/') {
        Some((host, path))
            if !host.is_empty() && path.split_once('/').is_some_and(|(a, s)| !a.is_empty() && !s.is_empty()) =>
        {
            Ok(())
        }
        _ => bad("must be rtmp://host[:port]/app/stream"),
    }
}

/// Longest relay target URL.
pub const MAX_RELAY_URL: usize = 1024;

/// A success reply.
pub fn reply_ok(id: u64, data: Value) -> String {
    json!({"id": id, "code": 0, "data": data}).to_string()
}

/// An error reply (`id` is null when the frame had none).
pub fn reply_err(id: Option<u64>, r: &Refusal) -> String {
    json!({"id": id, "code": r.code.number(), "reason": r.code.name(), "message": r.message}).to_string()
}

/// A push; `seq` is set for room events that can be replayed on resume.
pub fn push(name: &str, seq: Option<u64>, data: Value) -> String {
    match seq {
        Some(seq) => json!({"push": name, "seq": seq, "data": data}).to_string(),
        None => json!({"push": name, "data": data}).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> ErrorCode {
        parse(text).unwrap_err().refusal.code
    }

    #[test]
    fn parses_a_login() {
        let f = parse(r#"{"id":1,"op":"login","data":{"protocol":1,"appID":5,"roomID":"r","token":"04x","user":{"userID":"u","userName":"n"},"userUpdate":true}}"#).unwrap();
        assert_eq!(f.id, 1);
        assert_eq!(f.request.app_to_look_up(), Some(5));
        let Request::Login(l) = f.request else { panic!() };
        assert_eq!((l.app_id, l.room_id.as_str(), l.user_update, l.multi_room), (5, "r", true, false));
    }

    #[test]
    fn refuses_with_codes() {
        assert_eq!(code("not json"), ErrorCode::BadFrame);
        assert_eq!(code("[1,2]"), ErrorCode::BadFrame);
        // A frame, its data and the objects in it are JSON objects, never arrays in their place
        // (serde would read `[id, op, data]` positionally).
        assert_eq!(code(r#"[1,"ping"]"#), ErrorCode::BadFrame);
        assert_eq!(code(r#"{"id":1,"op":"play","data":["abc"]}"#), ErrorCode::InvalidField);
        let login =
            r#"{"id":1,"op":"login","data":{"protocol":1,"appID":1,"roomID":"r","token":"t","user":["u","n"]}}"#;
        assert_eq!(code(login), ErrorCode::InvalidField);
        assert!(parse(&login.replace(r#"["u","n"]"#, r#"{"userID":"u","userName":"n"}"#)).is_ok());
        assert_eq!(code(r#"{"op":"ping"}"#), ErrorCode::BadFrame);
        assert_eq!(code(r#"{"id":1}"#), ErrorCode::BadFrame);
        assert_eq!(code(r#"{"id":1,"op":"fly"}"#), ErrorCode::UnknownOp);
        assert_eq!(code(r#"{"id":1,"op":"play","data":{}}"#), ErrorCode::InvalidField);
        assert_eq!(code(r#"{"id":1,"op":"play","data":{"streamID":"a/b"}}"#), ErrorCode::InvalidField);
        assert_eq!(code(r#"{"id":1,"op":"play","data":{"streamID":"a","x":1}}"#), ErrorCode::InvalidField);
        let long = format!(
            r#"{{"id":1,"op":"sendBroadcastMessage","data":{{"roomID":"r","message":"{}"}}}}"#,
            "m".repeat(1025)
        );
        assert_eq!(code(&long), ErrorCode::InvalidField);
        assert_eq!(code(&" ".repeat(limits::MAX_FRAME + 1)), ErrorCode::FrameTooLarge);
        // The id survives so the client can match the error to its request.
        assert_eq!(parse(r#"{"id":9,"op":"fly"}"#).unwrap_err().id, Some(9));
    }

    #[test]
    fn ping_needs_no_data() {
        assert_eq!(parse(r#"{"id":3,"op":"ping"}"#).unwrap().request, Request::Ping);
    }
}
