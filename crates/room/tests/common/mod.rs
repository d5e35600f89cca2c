//! The test world for the room hub: fake connections, a virtual clock, decoded frames, and
//! what the hub asked of the server (closes, media cuts, webhook events, relays).
#![allow(dead_code)] // each test file uses a different part of the harness

use std::collections::HashMap;
pub use std::time::{Duration, Instant};

pub use duet_room::admin::AdminRequest;
pub use duet_room::{
    ConnId, ErrorCode, Hub, Now, Output, PublishEnded, PublishRequest, PublisherId, RoomConfig, UrlConfig, wire,
};
pub use duet_token::{AppSecret, Cipher, Grant, MintRequest, mint};
pub use serde_json::{Value, json};

pub const APP: u32 = 1234;
pub const SECRET: &str = "fa94dd0f974cf2e293728a526b028271";
pub const T0: u64 = 1_790_000_000_000;

pub struct World {
    pub hub: Hub,
    pub now: Now,
    pub inbox: HashMap<u64, Vec<Value>>,
    pub closed: HashMap<u64, ErrorCode>,
    pub stopped_media: Vec<String>,
    /// Webhook events as "name room user [reason]".
    pub events: Vec<String>,
    /// Relay starts and stops as "+url" / "-url".
    pub relays: Vec<String>,
    /// Room records handed out, as (room, record or null).
    pub records: Vec<(String, Value)>,
    /// Mixer requests handed to the server, as (conn, request id, order).
    pub mixer: Vec<(u64, u64, duet_room::mixer::MixerOrder)>,
    /// Accepted quality reports: (room, user, streams).
    pub quality: Vec<(String, String, Vec<duet_room::quality::StreamQuality>)>,
    pub next_id: u64,
}

pub fn secret() -> AppSecret {
    AppSecret::new(SECRET).unwrap()
}

pub fn token(user: &str, ttl: u32, grant: &Grant, unix_s: i64) -> String {
    let req =
        MintRequest { app_id: APP, user_id: user, grant, ctime: unix_s, ttl_secs: ttl, nonce: 1, cipher: Cipher::Gcm };
    mint(&req, &secret(), [3; 16]).unwrap()
}

impl World {
    /// A world whose connections never time out unless a test asks for it.
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    #[allow(clippy::disallowed_methods)] // the virtual clock starts at some real instant
    pub fn with(tune: impl FnOnce(&mut RoomConfig)) -> Self {
        let bases =
            duet_token::MediaBases { rtmp: "rtmp://127.0.0.1:1935".into(), http: "http://127.0.0.1:8080".into() };
        let urls = UrlConfig { bases, ttl_secs: 3600 };
        let mut cfg = RoomConfig::new(urls);
        cfg.heartbeat_timeout = Duration::from_secs(3600);
        tune(&mut cfg);
        Self {
            hub: Hub::new(cfg, [9; 32]),
            now: Now { at: Instant::now(), unix_ms: T0 },
            inbox: HashMap::new(),
            closed: HashMap::new(),
            stopped_media: Vec::new(),
            events: Vec::new(),
            relays: Vec::new(),
            records: Vec::new(),
            mixer: Vec::new(),
            quality: Vec::new(),
            next_id: 1,
        }
    }

    pub fn drain(&mut self) {
        while let Some(out) = self.hub.poll_output() {
            match out {
                Output::Send { conn, frame } => {
                    self.inbox.entry(conn.0).or_default().push(serde_json::from_str(&frame).unwrap())
                }
                Output::Close { conn, code } => {
                    self.closed.insert(conn.0, code);
                }
                Output::StopMedia { stream_id, .. } => self.stopped_media.push(stream_id),
                Output::Relay { url, start, .. } => self.relays.push(format!("{}{url}", if start { "+" } else { "-" })),
                Output::RoomRecord { room_id, record, .. } => {
                    self.records.push((room_id, record.unwrap_or(Value::Null)))
                }
                Output::Mixer { conn, request_id, order } => self.mixer.push((conn.0, request_id, *order)),
                Output::Quality { room_id, user_id, streams, .. } => self.quality.push((room_id, user_id, streams)),
                Output::Event(e) => {
                    assert_eq!(e.app_id, APP);
                    let field = |k: &str| e.data[k].as_str().unwrap_or("").to_owned();
                    let mut line = format!("{} {}", e.name, field("roomID"));
                    for k in ["userID", "streamID", "reason"] {
                        if !field(k).is_empty() {
                            line = format!("{line} {}", field(k));
                        }
                    }
                    if e.name == "stream.closed" {
                        line = format!("{line} bytes={}", e.data["bytes"]);
                    }
                    self.events.push(line);
                }
            }
        }
    }

    pub fn connect(&mut self, c: u64) {
        self.hub.connect(self.now, ConnId(c));
        self.drain();
        let hello = self.take_push(c, "hello");
        assert_eq!(hello[0]["data"]["protocol"], 1);
    }

    pub fn raw(&mut self, c: u64, text: &str) {
        let parsed = wire::parse(text);
        let secret =
            parsed.as_ref().ok().and_then(|f| f.request.app_to_look_up()).filter(|&a| a == APP).map(|_| secret());
        let prepared = duet_room::prepare(parsed, secret, self.now.unix_s());
        self.hub.handle_frame(self.now, ConnId(c), prepared);
        self.drain();
    }

    /// Sends a request and returns its reply.
    pub fn call(&mut self, c: u64, op: &str, data: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.raw(c, &json!({"id": id, "op": op, "data": data}).to_string());
        let inbox = self.inbox.entry(c).or_default();
        let at =
            inbox.iter().position(|m| m["id"] == id).unwrap_or_else(|| panic!("no reply to {op} on {c}: {inbox:?}"));
        inbox.remove(at)
    }

    pub fn login_with(&mut self, c: u64, room: &str, user: &str, tok: &str, extra: Value) -> Value {
        let mut data = json!({"protocol": 1, "appID": APP, "roomID": room, "token": tok,
            "user": {"userID": user, "userName": format!("name-{user}")}, "userUpdate": true});
        for (k, v) in extra.as_object().unwrap() {
            data[k] = v.clone();
        }
        self.call(c, "login", data)
    }

    pub fn login(&mut self, c: u64, room: &str, user: &str) -> Value {
        let tok = token(user, 3600, &Grant::everything(), self.now.unix_s());
        let r = self.login_with(c, room, user, &tok, json!({}));
        assert_eq!(r["code"], 0, "{r}");
        r
    }

    /// Removes and returns the pushes of one name on a connection.
    pub fn take_push(&mut self, c: u64, name: &str) -> Vec<Value> {
        let inbox = self.inbox.entry(c).or_default();
        let (hit, rest): (Vec<Value>, Vec<Value>) = inbox.drain(..).partition(|m| m["push"] == name);
        *inbox = rest;
        hit
    }

    pub fn clear(&mut self) {
        self.inbox.clear();
    }

    pub fn advance(&mut self, d: Duration) {
        let end = self.now.at + d;
        let end_ms = self.now.unix_ms + d.as_millis() as u64;
        while let Some(t) = self.hub.poll_timeout().filter(|t| *t <= end) {
            let t = t.max(self.now.at);
            self.now = Now { at: t, unix_ms: T0 + (t - self.start()).as_millis() as u64 };
            self.hub.handle_timeout(self.now);
            self.drain();
        }
        self.now = Now { at: end, unix_ms: end_ms };
    }

    pub fn start(&self) -> Instant {
        self.now.at - Duration::from_millis(self.now.unix_ms - T0)
    }

    /// A world with these connections open (nobody logged in).
    pub fn connected(conns: &[u64]) -> Self {
        let mut w = Self::new();
        for &c in conns {
            w.connect(c);
        }
        w
    }

    /// A world where A (connection 1) and B (connection 2) are logged into `room`.
    pub fn two_in(room: &str) -> Self {
        let mut w = Self::new();
        w.connect(1);
        w.connect(2);
        w.login(1, room, "A");
        w.login(2, room, "B");
        w
    }

    pub fn disconnect(&mut self, c: u64) {
        self.hub.disconnect(self.now, ConnId(c));
        self.drain();
    }

    pub fn media(&mut self, stream: &str, live: bool) {
        if live {
            self.hub.admit_publish(self.now, started_in(stream, "", "", 1)).expect("admitted");
        } else {
            self.hub.publish_ended(self.now, ended(stream, 1000, 1));
        }
        self.drain();
    }
}

impl World {
    pub fn admin(&mut self, request: AdminRequest) -> Result<Value, duet_room::Refusal> {
        let r = self.hub.admin(self.now, APP, request);
        self.drain();
        r
    }
}

/// A publish of `stream` asks to start, from a URL naming `user` (and `room`: external encoders).
pub fn started_in(stream: &str, user: &str, room: &str, publisher: u64) -> PublishRequest {
    PublishRequest {
        app_id: APP,
        stream_id: stream.into(),
        user_id: user.into(),
        room_id: room.into(),
        secret: secret(),
        publisher: PublisherId(publisher),
    }
}

pub fn started(stream: &str, user: &str, publisher: u64) -> PublishRequest {
    started_in(stream, user, "", publisher)
}

/// The publish `publisher` of `stream` ended after `bytes`.
pub fn ended(stream: &str, bytes: u64, publisher: u64) -> PublishEnded {
    PublishEnded { app_id: APP, stream_id: stream.into(), bytes, publisher: PublisherId(publisher) }
}

pub fn users(push: &Value) -> Vec<String> {
    push["data"]["userList"].as_array().unwrap().iter().map(|u| u["userID"].as_str().unwrap().to_owned()).collect()
}
