//! Mixer tasks as the protocol states them (`startMixerTask` / `stopMixerTask`, COMPAT §6):
//! the config's shape and rules ([`MixerConfig::parse`], the one reading of it, for the SDKs'
//! requests and the HTTP API alike), and the hub's part of a request: which session asks, for
//! which app and room, with which publish rights ([`order`]). The tasks themselves run in the
//! server (`server::mix`), which carries out each [`MixerOrder`] and answers the request
//! through [`Hub::answer`](crate::Hub::answer).

use serde_json::{Map, Value, json};

use crate::error::{ErrorCode, Refusal};
use crate::hub::Hub;
use crate::ids::{ConnId, SessionId};
use crate::io::Output;
use crate::limits;

/// Most inputs one task composes.
pub const MAX_INPUTS: usize = 9;
/// Most outputs (stream IDs and RTMP URLs) of one task.
pub const MAX_OUTPUTS: usize = 3;
/// Longest task ID.
pub const MAX_TASK_ID: usize = 64;
/// Largest canvas side, in pixels.
pub const MAX_SIDE: u32 = 1920;

/// What of an input goes into the mix (`contentType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// `VIDEO` (the default): its picture and its sound.
    AudioVideo,
    /// `AUDIO`: its sound only.
    Audio,
    /// `VIDEO_ONLY`: its picture only.
    Video,
}

impl Content {
    /// Whether its picture is used.
    pub fn video(self) -> bool {
        self != Self::Audio
    }

    /// Whether its sound is used.
    pub fn audio(self) -> bool {
        self != Self::Video
    }
}

/// A region of the canvas, in pixels (`layout`: `left <= x < right`, `top <= y < bottom`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub left: u32,
    /// Top edge.
    pub top: u32,
    /// Right edge (exclusive).
    pub right: u32,
    /// Bottom edge (exclusive).
    pub bottom: u32,
}

/// One input of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixerInput {
    /// The stream (of the same app).
    pub stream_id: String,
    /// What of it is used.
    pub content: Content,
    /// Where its picture goes (the whole canvas when the config names none).
    pub layout: Rect,
    /// `renderMode` 1: scaled to fit inside the region (bars in the background colour); 0 (the
    /// default): scaled to fill it, cropping what overflows.
    pub fit: bool,
    /// `imageInfo.url`: an `http(s)://` image shown in the region while the input is absent.
    pub image: Option<String>,
}

/// Where a task's mix goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MixerOutput {
    /// A stream ID of the same app: the mix is published as that stream.
    Stream(String),
    /// An external `rtmp://` URL the mix is relayed to.
    Url(String),
}

/// The mix's picture and sound (`outputConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Canvas {
    /// `outputWidth`, even.
    pub width: u32,
    /// `outputHeight`, even.
    pub height: u32,
    /// `outputFPS`.
    pub fps: u32,
    /// `outputBitrate`, kbit/s.
    pub video_kbps: u32,
    /// `outputAudioBitrate`, kbit/s.
    pub audio_kbps: u32,
    /// `outputAudioChannels`: 1 or 2.
    pub audio_channels: u32,
    /// `outputBgColor` as 0xRRGGBB: the canvas, and absent inputs without an image.
    pub background: u32,
}

impl Default for Canvas {
    fn default() -> Self {
        Self {
            width: 640,
            height: 360,
            fps: 15,
            video_kbps: 800,
            audio_kbps: 48,
            audio_channels: 1,
            background: 0x000000,
        }
    }
}

/// A mixer task's config, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixerConfig {
    /// `taskID`: names the task in its app; starting it again changes it.
    pub task_id: String,
    /// `roomID` (Duet's addition): the room whose members hear of the output streams.
    pub room_id: Option<String>,
    /// `inputList`.
    pub inputs: Vec<MixerInput>,
    /// `outputList`.
    pub outputs: Vec<MixerOutput>,
    /// `outputConfig`.
    pub canvas: Canvas,
}

fn bad(field: &str, rule: &str) -> Refusal {
    Refusal::new(ErrorCode::InvalidField, format!("{field} {rule}"))
}

/// Checks a taskID: 1 to 64 bytes of `[0-9A-Za-z_-]`.
pub fn task_id(s: &str) -> Result<(), Refusal> {
    if s.len() > MAX_TASK_ID || !duet_token::is_stream_id(s) {
        return Err(bad("taskID", &format!("must be 1 to {MAX_TASK_ID} bytes of [0-9A-Za-z_-]")));
    }
    Ok(())
}

fn uint(o: &Map<String, Value>, field: &str, default: u32, min: u32, max: u32) -> Result<u32, Refusal> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .filter(|n| (min as u64..=max as u64).contains(n))
            .map(|n| n as u32)
            .ok_or_else(|| bad(field, &format!("must be a whole number from {min} to {max}"))),
    }
}

fn text<'a>(o: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, Refusal> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(field, "must be a string")),
    }
}

fn object<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, Refusal> {
    v.as_object().ok_or_else(|| bad(field, "must be a JSON object"))
}

fn list<'a>(o: &'a Map<String, Value>, field: &str, max: usize) -> Result<&'a [Value], Refusal> {
    match o.get(field) {
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= max => Ok(items),
        _ => Err(bad(field, &format!("must be a list of 1 to {max} items"))),
    }
}

fn color(o: &Map<String, Value>) -> Result<u32, Refusal> {
    let rule = "must be a colour: a number 0xRRGGBB or a string #RRGGBB";
    match o.get("outputBgColor") {
        None | Some(Value::Null) => Some(0),
        Some(Value::Number(n)) => n.as_u64().filter(|n| *n <= 0xFF_FFFF).map(|n| n as u32),
        Some(Value::String(s)) => {
            s.strip_prefix('#').filter(|h| h.len() == 6).and_then(|h| u32::from_str_radix(h, 16).ok())
        }
        Some(_) => None,
    }
    .ok_or_else(|| bad("outputBgColor", rule))
}

fn image(o: &Map<String, Value>) -> Result<Option<String>, Refusal> {
    let Some(info) = o.get("imageInfo").filter(|v| !v.is_null()) else { return Ok(None) };
    let url = text(object(info, "imageInfo")?, "url")?.unwrap_or_default();
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 1024
        && url.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(bad("imageInfo.url", "must be an http:// or https:// URL of at most 1024 printable characters"));
    }
    Ok(Some(url.to_owned()))
}

fn input(v: &Value, canvas: &Canvas) -> Result<MixerInput, Refusal> {
    let o = object(v, "inputList[]")?;
    let stream_id = text(o, "streamID")?.ok_or_else(|| bad("inputList[].streamID", "is required"))?;
    limits::stream_id(stream_id)?;
    let content = match text(o, "contentType")? {
        None | Some("VIDEO") => Content::AudioVideo,
        Some("AUDIO") => Content::Audio,
        Some("VIDEO_ONLY") => Content::Video,
        Some(_) => return Err(bad("contentType", "must be VIDEO, AUDIO or VIDEO_ONLY")),
    };
    let whole = Rect { left: 0, top: 0, right: canvas.width, bottom: canvas.height };
    let layout = match o.get("layout").filter(|v| !v.is_null()) {
        None => whole,
        Some(l) => {
            let l = object(l, "layout")?;
            let rect = Rect {
                left: uint(l, "left", 0, 0, canvas.width)?,
                top: uint(l, "top", 0, 0, canvas.height)?,
                right: uint(l, "right", canvas.width, 0, canvas.width)?,
                bottom: uint(l, "bottom", canvas.height, 0, canvas.height)?,
            };
            if rect.right < rect.left + 2 || rect.bottom < rect.top + 2 {
                return Err(bad("layout", "must have right > left and bottom > top, inside the output canvas"));
            }
            rect
        }
    };
    let fit = uint(o, "renderMode", 0, 0, 1)? == 1;
    Ok(MixerInput { stream_id: stream_id.to_owned(), content, layout, fit, image: image(o)? })
}

fn output(v: &Value) -> Result<MixerOutput, Refusal> {
    let target = match v {
        Value::String(s) => s.as_str(),
        Value::Object(o) => text(o, "target")?.ok_or_else(|| bad("outputList[].target", "is required"))?,
        _ => return Err(bad("outputList[]", "must be a stream ID, an rtmp:// URL, or {target}")),
    };
    if target.starts_with("rtmp://") {
        crate::wire::relay_url(target)?;
        return Ok(MixerOutput::Url(target.to_owned()));
    }
    limits::stream_id(target)?;
    Ok(MixerOutput::Stream(target.to_owned()))
}

fn canvas(v: Option<&Value>) -> Result<Canvas, Refusal> {
    let d = Canvas::default();
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(d) };
    let o = object(v, "outputConfig")?;
    let c = Canvas {
        width: uint(o, "outputWidth", d.width, 16, MAX_SIDE)?,
        height: uint(o, "outputHeight", d.height, 16, MAX_SIDE)?,
        fps: uint(o, "outputFPS", d.fps, 1, 30)?,
        video_kbps: uint(o, "outputBitrate", d.video_kbps, 50, 10_000)?,
        audio_kbps: uint(o, "outputAudioBitrate", d.audio_kbps, 8, 256)?,
        audio_channels: uint(o, "outputAudioChannels", d.audio_channels, 1, 2)?,
        background: color(o)?,
    };
    if c.width % 2 == 1 || c.height % 2 == 1 {
        return Err(bad("outputWidth and outputHeight", "must be even"));
    }
    // AAC-LC is what Duet encodes; the hosted cloud's AAC codec IDs (0-2) all mean AAC here.
    uint(o, "outputAudioCodecID", 0, 0, 2)?;
    // 0: every input's sound is mixed; the hosted cloud's other modes are not offered.
    uint(o, "audioMixMode", 0, 0, 0)?;
    Ok(c)
}

impl MixerConfig {
    /// Reads a config (the request's `data`, or the HTTP API's body); fields the hosted
    /// cloud knows and Duet does not use are ignored.
    pub fn parse(v: &Value) -> Result<Self, Refusal> {
        let o = object(v, "config")?;
        let task = text(o, "taskID")?.ok_or_else(|| bad("taskID", "is required"))?;
        task_id(task)?;
        let room_id = text(o, "roomID")?.map(str::to_owned);
        if let Some(r) = &room_id {
            limits::room_id(r)?;
        }
        let canvas = canvas(o.get("outputConfig"))?;
        let inputs =
            list(o, "inputList", MAX_INPUTS)?.iter().map(|v| input(v, &canvas)).collect::<Result<Vec<_>, _>>()?;
        let outputs = list(o, "outputList", MAX_OUTPUTS)?.iter().map(output).collect::<Result<Vec<_>, _>>()?;
        for (i, a) in inputs.iter().enumerate() {
            if inputs[..i].iter().any(|b| b.stream_id == a.stream_id) {
                return Err(bad("inputList", &format!("names {} twice", a.stream_id)));
            }
            if outputs.contains(&MixerOutput::Stream(a.stream_id.clone())) {
                return Err(bad("outputList", &format!("{} is an input; a mix cannot be its own input", a.stream_id)));
            }
        }
        for (i, out) in outputs.iter().enumerate() {
            if outputs[..i].contains(out) {
                return Err(bad("outputList", "names one target twice"));
            }
        }
        Ok(Self { task_id: task.to_owned(), room_id, inputs, outputs, canvas })
    }

    /// The output stream IDs.
    pub fn streams(&self) -> impl Iterator<Item = &str> {
        self.outputs.iter().filter_map(|o| match o {
            MixerOutput::Stream(s) => Some(s.as_str()),
            MixerOutput::Url(_) => None,
        })
    }
}

/// What a mixer request asks the server's mixer.
#[derive(Debug, Clone, PartialEq)]
pub enum MixerCall {
    /// Start the task, or change it when its taskID runs already.
    Start(Box<MixerConfig>),
    /// Stop the task.
    Stop {
        /// Which.
        task_id: String,
    },
}

/// A mixer request the hub has checked, for the server's mixer to carry out.
#[derive(Debug, Clone, PartialEq)]
pub struct MixerOrder {
    /// The app.
    pub app_id: u32,
    /// The app's secret (the mixer signs its inputs' play URLs with it).
    pub secret: duet_token::AppSecret,
    /// Who asks (its output streams appear as published by the task, not by this user).
    pub user_id: String,
    /// The room the outputs appear in (a start: the config's `roomID`, else the session's
    /// only room).
    pub room_id: String,
    /// What to do.
    pub call: MixerCall,
}

/// A session's mixer request: checked against its rooms and publish rights, then handed to
/// the server (`Output::Mixer`), which answers later through [`Hub::answer`].
pub(crate) fn order(hub: &mut Hub, conn: ConnId, id: u64, sid: SessionId, call: MixerCall) -> Result<(), Refusal> {
    let (s, app) = hub.caller_app(sid)?;
    let room_id = match &call {
        MixerCall::Start(config) => {
            let room_id = match &config.room_id {
                Some(r) => r.clone(),
                None if s.rooms().len() == 1 => s.room_ids().remove(0),
                None => return Err(bad("roomID", "is required when in several rooms")),
            };
            let grant = &s.membership(&room_id)?.grant;
            for stream in config.streams() {
                grant.ensure_publish(&room_id, stream)?;
            }
            room_id
        }
        MixerCall::Stop { .. } => String::new(),
    };
    let order =
        MixerOrder { app_id: s.app_id, secret: app.secret.clone(), user_id: s.user.user_id.clone(), room_id, call };
    hub.out.push_back(Output::Mixer { conn, request_id: id, order: Box::new(order) });
    Ok(())
}

/// The reply to a started task: its ID and where its mix goes.
pub fn started_reply(config: &MixerConfig) -> Value {
    let outputs: Vec<Value> = config
        .outputs
        .iter()
        .map(|o| match o {
            MixerOutput::Stream(s) => json!({"streamID": s}),
            MixerOutput::Url(u) => json!({"url": u}),
        })
        .collect();
    json!({"taskID": config.task_id, "outputList": outputs})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_inputs() -> Value {
        json!({
            "taskID": "task-1",
            "inputList": [
                {"streamID": "red", "layout": {"top": 0, "left": 0, "bottom": 360, "right": 320}},
                {"streamID": "blue", "contentType": "VIDEO", "renderMode": 1,
                 "layout": {"top": 0, "left": 320, "bottom": 360, "right": 640},
                 "imageInfo": {"url": "https://example.com/away.png"}}
            ],
            "outputList": ["mixed", {"target": "rtmp://cdn.example.com/live/mixed"}],
            "outputConfig": {"outputBitrate": 600, "outputFPS": 15, "outputWidth": 640, "outputHeight": 360,
                             "outputBgColor": "#102030", "outputAudioCodecID": 0}
        })
    }

    #[test]
    fn reads_the_hosted_clouds_shape() {
        let c = MixerConfig::parse(&two_inputs()).unwrap();
        assert_eq!(c.task_id, "task-1");
        assert_eq!(c.inputs.len(), 2);
        assert_eq!(c.inputs[0].layout, Rect { left: 0, top: 0, right: 320, bottom: 360 });
        assert!(!c.inputs[0].fit && c.inputs[1].fit);
        assert_eq!(c.inputs[1].image.as_deref(), Some("https://example.com/away.png"));
        assert_eq!(
            c.outputs,
            vec![MixerOutput::Stream("mixed".into()), MixerOutput::Url("rtmp://cdn.example.com/live/mixed".into())]
        );
        assert_eq!(c.canvas.background, 0x102030);
        assert_eq!((c.canvas.video_kbps, c.canvas.fps, c.canvas.audio_channels), (600, 15, 1));
        assert_eq!(c.streams().collect::<Vec<_>>(), ["mixed"]);
    }

    #[test]
    fn defaults_fill_what_is_missing() {
        let c =
            MixerConfig::parse(&json!({"taskID": "t", "inputList": [{"streamID": "a"}], "outputList": ["m"]})).unwrap();
        assert_eq!(c.canvas, Canvas::default());
        assert_eq!(c.inputs[0].layout, Rect { left: 0, top: 0, right: 640, bottom: 360 });
        assert_eq!(c.inputs[0].content, Content::AudioVideo);
    }

    #[test]
    fn refuses_what_cannot_be_mixed() {
        type Change = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Change)> = vec![
            ("taskID", Box::new(|v| v["taskID"] = json!("a b"))),
            ("taskID", Box::new(|v| v["taskID"] = json!("t".repeat(65)))),
            ("inputList", Box::new(|v| v["inputList"] = json!([]))),
            ("inputList", Box::new(|v| v["inputList"] = json!(vec![json!({"streamID": "x"}); 10]))),
            ("inputList", Box::new(|v| v["inputList"][1]["streamID"] = json!("red"))),
            ("streamID", Box::new(|v| v["inputList"][0]["streamID"] = json!("../x"))),
            ("contentType", Box::new(|v| v["inputList"][0]["contentType"] = json!("SCREEN"))),
            ("layout", Box::new(|v| v["inputList"][0]["layout"]["right"] = json!(0))),
            ("right", Box::new(|v| v["inputList"][0]["layout"]["right"] = json!(641))),
            ("renderMode", Box::new(|v| v["inputList"][0]["renderMode"] = json!(2))),
            ("imageInfo.url", Box::new(|v| v["inputList"][1]["imageInfo"]["url"] = json!("file:///etc/passwd"))),
            ("outputList", Box::new(|v| v["outputList"] = json!(["red"]))),
            ("outputList", Box::new(|v| v["outputList"] = json!(["m", "m"]))),
            ("targetURL", Box::new(|v| v["outputList"] = json!(["rtmp://"]))),
            ("outputWidth", Box::new(|v| v["outputConfig"]["outputWidth"] = json!(4000))),
            ("even", Box::new(|v| v["outputConfig"]["outputWidth"] = json!(641))),
            ("outputFPS", Box::new(|v| v["outputConfig"]["outputFPS"] = json!(0))),
            ("outputBitrate", Box::new(|v| v["outputConfig"]["outputBitrate"] = json!("800"))),
            ("outputBgColor", Box::new(|v| v["outputConfig"]["outputBgColor"] = json!("red"))),
            ("audioMixMode", Box::new(|v| v["outputConfig"]["audioMixMode"] = json!(1))),
            ("config", Box::new(|v| *v = json!([1]))),
        ];
        for (field, change) in cases {
            let mut v = two_inputs();
            change(&mut v);
            let r = MixerConfig::parse(&v).unwrap_err();
            assert_eq!(r.code, ErrorCode::InvalidField, "{field}");
            assert!(r.message.contains(field), "{field}: {}", r.message);
        }
    }
}
