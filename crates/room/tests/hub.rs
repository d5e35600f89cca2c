//! The room hub driven without sockets: fake connections, a virtual clock, decoded frames.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use duet_room::admin::AdminRequest;
use duet_room::{ConnId, ErrorCode, Hub, MediaEvent, Now, Output, RoomConfig, UrlConfig, wire};
use duet_token::{AppSecret, Cipher, Grant, MintRequest, mint};
use serde_json::{Value, json};

const APP: u32 = 1234;
const SECRET: &str = "fa94dd0f974cf2e293728a526b028271";
const T0: u64 = 1_790_000_000_000;

struct World {
    hub: Hub,
    now: Now,
    inbox: HashMap<u64, Vec<Value>>,
    closed: HashMap<u64, ErrorCode>,
    stopped_media: Vec<String>,
    /// Webhook events as "name room user [reason]".
    events: Vec<String>,
    /// Relay starts and stops as "+url" / "-url".
    relays: Vec<String>,
    next_id: u64,
}

fn secret() -> AppSecret {
    AppSecret::new(SECRET).unwrap()
}

fn token(user: &str, ttl: u32, grant: &Grant, unix_s: i64) -> String {
    let req =
        MintRequest { app_id: APP, user_id: user, grant, ctime: unix_s, ttl_secs: ttl, nonce: 1, cipher: Cipher::Gcm };
    mint(&req, &secret(), [3; 16]).unwrap()
}

impl World {
    /// A world whose connections never time out unless a test asks for it.
    fn new() -> Self {
        Self::with(|_| {})
    }

    #[allow(clippy::disallowed_methods)] // the virtual clock starts at some real instant
    fn with(tune: impl FnOnce(&mut RoomConfig)) -> Self {
        let urls = UrlConfig {
            rtmp_base: "rtmp://127.0.0.1:1935".into(),
            http_base: "http://127.0.0.1:8080".into(),
            ttl_secs: 3600,
        };
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
            next_id: 1,
        }
    }

    fn drain(&mut self) {
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

    fn connect(&mut self, c: u64) {
        self.hub.connect(self.now, ConnId(c));
        self.drain();
        let hello = self.take_push(c, "hello");
        assert_eq!(hello[0]["data"]["protocol"], 1);
    }

    fn raw(&mut self, c: u64, text: &str) {
        let parsed = wire::parse(text);
        let secret =
            parsed.as_ref().ok().and_then(|f| f.request.app_to_look_up()).filter(|&a| a == APP).map(|_| secret());
        self.hub.handle_frame(self.now, ConnId(c), parsed, secret);
        self.drain();
    }

    /// Sends a request and returns its reply.
    fn call(&mut self, c: u64, op: &str, data: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.raw(c, &json!({"id": id, "op": op, "data": data}).to_string());
        let inbox = self.inbox.entry(c).or_default();
        let at =
            inbox.iter().position(|m| m["id"] == id).unwrap_or_else(|| panic!("no reply to {op} on {c}: {inbox:?}"));
        inbox.remove(at)
    }

    fn login_with(&mut self, c: u64, room: &str, user: &str, tok: &str, extra: Value) -> Value {
        let mut data = json!({"protocol": 1, "appID": APP, "roomID": room, "token": tok,
            "user": {"userID": user, "userName": format!("name-{user}")}, "userUpdate": true});
        for (k, v) in extra.as_object().unwrap() {
            data[k] = v.clone();
        }
        self.call(c, "login", data)
    }

    fn login(&mut self, c: u64, room: &str, user: &str) -> Value {
        let tok = token(user, 3600, &Grant::everything(), self.now.unix_s());
        let r = self.login_with(c, room, user, &tok, json!({}));
        assert_eq!(r["code"], 0, "{r}");
        r
    }

    /// Removes and returns the pushes of one name on a connection.
    fn take_push(&mut self, c: u64, name: &str) -> Vec<Value> {
        let inbox = self.inbox.entry(c).or_default();
        let (hit, rest): (Vec<Value>, Vec<Value>) = inbox.drain(..).partition(|m| m["push"] == name);
        *inbox = rest;
        hit
    }

    fn clear(&mut self) {
        self.inbox.clear();
    }

    fn advance(&mut self, d: Duration) {
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

    fn start(&self) -> Instant {
        self.now.at - Duration::from_millis(self.now.unix_ms - T0)
    }

    fn disconnect(&mut self, c: u64) {
        self.hub.disconnect(self.now, ConnId(c));
        self.drain();
    }

    fn media(&mut self, stream: &str, live: bool) {
        let ev = if live {
            started_in(stream, "", "", 1)
        } else {
            MediaEvent::Stopped { app_id: APP, stream_id: stream.into(), bytes: 1000, publisher: 1 }
        };
        self.hub.handle_media(self.now, ev);
        self.drain();
    }
}

impl World {
    fn admin(&mut self, request: AdminRequest) -> Result<Value, duet_room::Refusal> {
        let r = self.hub.admin(self.now, APP, request);
        self.drain();
        r
    }
}

/// Media of `stream` starts arriving, from a URL naming `user` (and `room`: external encoders).
fn started_in(stream: &str, user: &str, room: &str, publisher: u64) -> MediaEvent {
    MediaEvent::Started {
        app_id: APP,
        stream_id: stream.into(),
        user_id: user.into(),
        room_id: room.into(),
        secret: secret(),
        publisher,
    }
}

fn started(stream: &str, user: &str, publisher: u64) -> MediaEvent {
    started_in(stream, user, "", publisher)
}

fn users(push: &Value) -> Vec<String> {
    push["data"]["userList"].as_array().unwrap().iter().map(|u| u["userID"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn login_snapshot_user_updates_and_online_count() {
    let mut w = World::new();
    w.connect(1);
    w.connect(2);
    let a = w.login(1, "room", "A");
    assert_eq!(a["data"]["users"], json!([]));
    let b = w.login(2, "room", "B");
    assert_eq!(b["data"]["users"], json!([{"userID": "A", "userName": "name-A"}]));
    assert_eq!(b["data"]["onlineCount"], 2);
    let add = w.take_push(1, "roomUserUpdate");
    assert_eq!(add.len(), 1);
    assert_eq!(add[0]["data"]["updateType"], "ADD");
    assert_eq!(users(&add[0]), ["B"]);
    assert!(w.take_push(2, "roomUserUpdate").is_empty(), "no ADD of oneself");

    w.advance(Duration::from_millis(1100));
    for c in [1, 2] {
        let counts = w.take_push(c, "roomOnlineUserCountUpdate");
        assert_eq!(counts.last().unwrap()["data"]["count"], 2, "conn {c}");
    }

    assert_eq!(w.call(2, "logout", json!({}))["code"], 0);
    let del = w.take_push(1, "roomUserUpdate");
    assert_eq!((del[0]["data"]["updateType"].as_str(), users(&del[0])), (Some("DELETE"), vec!["B".to_owned()]));
}

#[test]
fn users_without_user_update_get_no_user_pushes() {
    let mut w = World::new();
    w.connect(1);
    w.connect(2);
    let tok = token("A", 3600, &Grant::everything(), w.now.unix_s());
    w.login_with(1, "room", "A", &tok, json!({"userUpdate": false}));
    w.login(2, "room", "B");
    assert!(w.take_push(1, "roomUserUpdate").is_empty());
}

#[test]
fn login_refusals_carry_codes() {
    let mut w = World::new();
    w.connect(1);
    let now = w.now.unix_s();
    let cases = [
        (token("A", 3600, &Grant::everything(), now), "B", "room", ErrorCode::TokenUserMismatch),
        (token("A", 10, &Grant::everything(), now - 100), "A", "room", ErrorCode::TokenExpired),
        (
            token(
                "A",
                3600,
                &Grant { room_id: Some("other".into()), login: true, publish: true, stream_ids: None },
                now,
            ),
            "A",
            "room",
            ErrorCode::TokenRoomMismatch,
        ),
        (
            token("A", 3600, &Grant { room_id: None, login: false, publish: true, stream_ids: None }, now),
            "A",
            "room",
            ErrorCode::TokenLoginDenied,
        ),
        ("04garbage".to_string(), "A", "room", ErrorCode::TokenMalformed),
    ];
    for (tok, user, room, code) in cases {
        let r = w.login_with(1, room, user, &tok, json!({}));
        assert_eq!(r["code"], code.number(), "{r}");
        assert_eq!(r["reason"], code.name());
    }
    let tok = token("A", 3600, &Grant::everything(), now);
    assert_eq!(w.login_with(1, "room", "A", &tok, json!({"appID": 999}))["code"], ErrorCode::UnknownApp.number());
    assert_eq!(
        w.login_with(1, "room", "A", &tok, json!({"protocol": 2}))["code"],
        ErrorCode::UnsupportedProtocol.number()
    );
    assert!(w.closed.is_empty(), "refusals keep the connection");
    assert_eq!(w.hub.session_count(), 0);
}

#[test]
fn one_room_unless_multi_room_is_asked() {
    let mut w = World::new();
    w.connect(1);
    w.login(1, "r1", "A");
    let tok = token("A", 3600, &Grant::everything(), w.now.unix_s());
    assert_eq!(w.login_with(1, "r2", "A", &tok, json!({}))["code"], ErrorCode::AlreadyInRoom.number());

    w.connect(2);
    w.login_with(2, "r1", "M", &token("M", 3600, &Grant::everything(), w.now.unix_s()), json!({"multiRoom": true}));
    let r =
        w.login_with(2, "r2", "M", &token("M", 3600, &Grant::everything(), w.now.unix_s()), json!({"multiRoom": true}));
    assert_eq!(r["code"], 0, "{r}");
    let other =
        w.login_with(2, "r3", "X", &token("X", 3600, &Grant::everything(), w.now.unix_s()), json!({"multiRoom": true}));
    assert_eq!(other["code"], ErrorCode::UserMismatch.number());
    // Messages go to the named room only.
    w.clear();
    assert_eq!(w.call(2, "sendBroadcastMessage", json!({"roomID": "r1", "message": "hi r1"}))["code"], 0);
    assert_eq!(w.take_push(1, "IMRecvBroadcastMessage").len(), 1);
    assert_eq!(w.call(2, "sendBroadcastMessage", json!({"roomID": "r2", "message": "hi r2"}))["code"], 0);
    assert!(w.take_push(1, "IMRecvBroadcastMessage").is_empty());
}

#[test]
fn a_second_login_of_the_same_user_kicks_the_first_out() {
    let mut w = World::new();
    for c in [1, 2, 3] {
        w.connect(c);
    }
    w.login(1, "room", "A");
    w.login(3, "room", "B");
    w.clear();
    w.login(2, "room", "A");
    let kick = w.take_push(1, "kickout");
    assert_eq!(kick[0]["data"]["code"], ErrorCode::KickedOut.number());
    assert_eq!(kick[0]["data"]["reason"], "kicked_out");
    assert_eq!(w.closed.get(&1), Some(&ErrorCode::KickedOut));
    let seen: Vec<String> =
        w.take_push(3, "roomUserUpdate").iter().map(|p| p["data"]["updateType"].as_str().unwrap().to_owned()).collect();
    assert_eq!(seen, ["DELETE", "ADD"]);
    assert_eq!(w.hub.session_count(), 2);
}

#[test]
fn messages_commands_and_extra_info() {
    let mut w = World::new();
    for c in [1, 2, 3] {
        w.connect(c);
    }
    w.login(1, "room", "A");
    w.login(2, "room", "B");
    w.login(3, "room", "C");
    w.clear();

    let r = w.call(1, "sendBroadcastMessage", json!({"roomID": "room", "message": "hello"}));
    let id = r["data"]["messageID"].clone();
    for c in [2, 3] {
        let m = &w.take_push(c, "IMRecvBroadcastMessage")[0]["data"]["messageList"][0];
        assert_eq!(
            (m["message"].as_str(), &m["messageID"], m["fromUser"]["userID"].as_str()),
            (Some("hello"), &id, Some("A"))
        );
        assert_eq!(m["sendTime"], T0);
    }
    assert!(w.take_push(1, "IMRecvBroadcastMessage").is_empty(), "not echoed to the sender");

    w.call(2, "sendBarrageMessage", json!({"roomID": "room", "message": "666"}));
    assert_eq!(w.take_push(1, "IMRecvBarrageMessage").len(), 1);

    let r =
        w.call(1, "sendCustomCommand", json!({"roomID": "room", "command": "mute", "toUserIDList": ["C", "nobody"]}));
    assert_eq!(r["data"]["delivered"], 1);
    assert!(w.take_push(2, "IMRecvCustomCommand").is_empty());
    assert_eq!(w.take_push(3, "IMRecvCustomCommand")[0]["data"]["command"], "mute");

    w.call(3, "setRoomExtraInfo", json!({"roomID": "room", "key": "topic", "value": "maths"}));
    let e = &w.take_push(1, "roomExtraInfoUpdate")[0]["data"]["roomExtraInfoList"][0];
    assert_eq!(
        (e["key"].as_str(), e["value"].as_str(), e["updateUser"]["userID"].as_str()),
        (Some("topic"), Some("maths"), Some("C"))
    );
    // A later member gets the extra info in its snapshot.
    w.connect(4);
    let d = w.login(4, "room", "D");
    assert_eq!(d["data"]["extraInfo"][0]["value"], "maths");

    let r = w.call(1, "sendBroadcastMessage", json!({"roomID": "elsewhere", "message": "x"}));
    assert_eq!(r["code"], ErrorCode::NotInRoom.number());
}

#[test]
fn the_seeds_call_flow_publish_add_stop_delete() {
    let mut w = World::new();
    w.connect(1);
    w.connect(2);
    w.login(1, "room", "A");
    w.login(2, "room", "B");
    w.clear();

    let r = w.call(2, "publish", json!({"streamID": "streamID_b", "extraInfo": "cam"}));
    let url = r["data"]["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("rtmp://127.0.0.1:1935/{APP}/streamID_b?expire=")), "{url}");
    assert_eq!(w.take_push(2, "publisherStateUpdate")[0]["data"]["state"], "PUBLISH_REQUESTING");
    assert!(w.take_push(1, "roomStreamUpdate").is_empty(), "no ADD before media arrives");

    w.media("streamID_b", true);
    let add = &w.take_push(1, "roomStreamUpdate")[0]["data"];
    assert_eq!(add["updateType"], "ADD");
    let s = &add["streamList"][0];
    assert_eq!(
        (s["streamID"].as_str(), s["user"]["userID"].as_str(), s["extraInfo"].as_str()),
        (Some("streamID_b"), Some("B"), Some("cam"))
    );
    assert!(s["urlsRTMP"][0].as_str().unwrap().contains("/streamID_b?expire="));
    assert!(
        s["urlsFLV"][0].as_str().unwrap().starts_with(&format!("http://127.0.0.1:8080/live/{APP}/streamID_b.flv?"))
    );
    assert_eq!(w.take_push(2, "publisherStateUpdate")[0]["data"]["state"], "PUBLISHING");
    assert!(w.take_push(2, "roomStreamUpdate").is_empty(), "the publisher is not told of its own stream");

    // A late joiner sees the live stream in its snapshot; play gives signed URLs.
    w.connect(3);
    let c = w.login(3, "room", "C");
    assert_eq!(c["data"]["streams"][0]["streamID"], "streamID_b");
    let play = w.call(3, "play", json!({"streamID": "streamID_b"}));
    assert_eq!(play["data"]["live"], true);
    assert!(play["data"]["url"].as_str().unwrap().contains("user=C&room=&sign="));

    w.clear();
    assert_eq!(w.call(2, "stopPublish", json!({"streamID": "streamID_b"}))["code"], 0);
    assert_eq!(w.take_push(1, "roomStreamUpdate")[0]["data"]["updateType"], "DELETE");
    assert_eq!(w.take_push(2, "publisherStateUpdate")[0]["data"]["state"], "NO_PUBLISH");
    assert_eq!(w.stopped_media, ["streamID_b"]);
}

#[test]
fn media_interruptions_keep_the_reservation() {
    let mut w = World::new();
    w.connect(1);
    w.connect(2);
    w.login(1, "room", "A");
    w.login(2, "room", "B");
    w.call(2, "publish", json!({"streamID": "s"}));
    w.media("s", true);
    w.clear();
    w.media("s", false);
    assert_eq!(w.take_push(1, "roomStreamUpdate")[0]["data"]["updateType"], "DELETE");
    let st = &w.take_push(2, "publisherStateUpdate")[0]["data"];
    assert_eq!(
        (st["state"].as_str(), &st["errorCode"]),
        (Some("PUBLISH_REQUESTING"), &json!(ErrorCode::PublishInterrupted.number()))
    );
    w.media("s", true);
    assert_eq!(w.take_push(1, "roomStreamUpdate")[0]["data"]["updateType"], "ADD");
}

#[test]
fn a_stream_id_belongs_to_one_user_per_app() {
    let mut w = World::new();
    for c in [1, 2, 3] {
        w.connect(c);
    }
    w.login(1, "room", "A");
    w.login(2, "other-room", "B");
    assert_eq!(w.call(1, "publish", json!({"streamID": "s1"}))["code"], 0);
    let r = w.call(2, "publish", json!({"streamID": "s1"}));
    assert_eq!(r["code"], ErrorCode::StreamTaken.number());
    assert_eq!(w.call(2, "stopPublish", json!({"streamID": "s1"}))["code"], ErrorCode::StreamNotOwned.number());
    // Publish privileges and stream lists from the token apply.
    let limited = Grant { room_id: None, login: true, publish: true, stream_ids: Some(vec!["only".into()]) };
    w.login_with(3, "room", "C", &token("C", 3600, &limited, w.now.unix_s()), json!({}));
    assert_eq!(w.call(3, "publish", json!({"streamID": "s2"}))["code"], ErrorCode::TokenStreamNotAllowed.number());
    assert_eq!(w.call(3, "publish", json!({"streamID": "only"}))["code"], 0);
    // Leaving releases: another user may now take s1.
    w.call(1, "logout", json!({}));
    assert_eq!(w.call(2, "publish", json!({"streamID": "s1"}))["code"], 0);
}

#[test]
fn token_warning_renewal_and_expiry() {
    let mut w = World::new();
    w.connect(1);
    w.connect(2);
    let tok = token("A", 120, &Grant::everything(), w.now.unix_s());
    w.login_with(1, "room", "A", &tok, json!({}));
    w.login(2, "room", "B");

    w.advance(Duration::from_secs(89));
    assert!(w.take_push(1, "tokenWillExpire").is_empty());
    w.advance(Duration::from_secs(2));
    assert_eq!(w.take_push(1, "tokenWillExpire")[0]["data"]["roomID"], "room");

    let renewed = token("A", 300, &Grant::everything(), w.now.unix_s());
    assert_eq!(w.call(1, "renewToken", json!({"token": renewed}))["code"], 0);
    w.advance(Duration::from_secs(200));
    assert!(w.closed.is_empty(), "renewed token keeps the session");
    assert!(w.take_push(1, "kickout").is_empty());

    w.advance(Duration::from_secs(200));
    let k = w.take_push(1, "kickout");
    assert_eq!(k[0]["data"]["code"], ErrorCode::TokenExpired.number());
    assert_eq!(w.closed.get(&1), Some(&ErrorCode::TokenExpired));
    let del = w.take_push(2, "roomUserUpdate");
    assert_eq!(del.last().unwrap()["data"]["updateType"], "DELETE");

    // A renewal with another user's token is refused.
    w.connect(3);
    w.login(3, "room", "C");
    let foreign = token("D", 300, &Grant::everything(), w.now.unix_s());
    assert_eq!(w.call(3, "renewToken", json!({"token": foreign}))["code"], ErrorCode::TokenUserMismatch.number());
}

#[test]
fn resume_replays_missed_events_and_others_see_no_leave() {
    let mut w = World::new();
    for c in [1, 2, 3] {
        w.connect(c);
    }
    w.login(1, "room", "A");
    let b = w.login(2, "room", "B");
    let (sid, rt) = (b["data"]["sessionID"].clone(), b["data"]["resumeToken"].clone());
    let mut last_seq = b["data"]["seq"].as_u64().unwrap();
    w.call(1, "sendBroadcastMessage", json!({"roomID": "room", "message": "before"}));
    last_seq = last_seq.max(w.take_push(2, "IMRecvBroadcastMessage")[0]["seq"].as_u64().unwrap());
    w.clear();

    w.disconnect(2);
    w.login(3, "room", "C");
    w.call(1, "publish", json!({"streamID": "sa"}));
    w.media("sa", true);
    w.call(1, "sendBroadcastMessage", json!({"roomID": "room", "message": "while away"}));
    w.advance(Duration::from_secs(20));
    let deletes = w.take_push(1, "roomUserUpdate").into_iter().filter(|p| p["data"]["updateType"] == "DELETE").count();
    assert_eq!(deletes, 0, "A must not see B leave");

    w.connect(4);
    let r = w.call(4, "resume", json!({"sessionID": sid, "resumeToken": rt, "rooms": {"room": last_seq}}));
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(r["data"]["rooms"][0]["replayed"], true);
    assert_eq!(users(&w.take_push(4, "roomUserUpdate")[0]), ["C"]);
    assert_eq!(w.take_push(4, "roomStreamUpdate")[0]["data"]["updateType"], "ADD");
    assert_eq!(w.take_push(4, "IMRecvBroadcastMessage")[0]["data"]["messageList"][0]["message"], "while away");
    // The resumed session works as before.
    assert_eq!(w.call(4, "sendBroadcastMessage", json!({"roomID": "room", "message": "back"}))["code"], 0);

    // A wrong token or a used-up grace period fails.
    w.connect(5);
    let bad = w.call(5, "resume", json!({"sessionID": sid, "resumeToken": "00"}));
    assert_eq!(bad["code"], ErrorCode::ResumeFailed.number());
}

#[test]
fn after_the_grace_period_the_user_and_its_streams_are_removed() {
    let mut w = World::new();
    w.connect(1);
    w.connect(2);
    w.login(1, "room", "A");
    let b = w.login(2, "room", "B");
    w.call(2, "publish", json!({"streamID": "sb"}));
    w.media("sb", true);
    w.clear();
    w.disconnect(2);
    w.advance(Duration::from_secs(29));
    assert!(w.take_push(1, "roomUserUpdate").is_empty());
    w.advance(Duration::from_secs(2));
    assert_eq!(w.take_push(1, "roomStreamUpdate")[0]["data"]["updateType"], "DELETE");
    assert_eq!(w.take_push(1, "roomUserUpdate")[0]["data"]["updateType"], "DELETE");
    assert_eq!(w.stopped_media, ["sb"]);
    w.connect(3);
    let r = w.call(3, "resume", json!({"sessionID": b["data"]["sessionID"], "resumeToken": b["data"]["resumeToken"]}));
    assert_eq!(r["code"], ErrorCode::ResumeFailed.number());
}

#[test]
fn resume_beyond_the_log_resyncs_with_a_snapshot() {
    let mut w = World::with(|c| c.replay_events = 2);
    w.connect(1);
    w.connect(2);
    w.login(1, "room", "A");
    let b = w.login(2, "room", "B");
    w.disconnect(2);
    for i in 0..5 {
        w.call(1, "sendBroadcastMessage", json!({"roomID": "room", "message": format!("m{i}")}));
    }
    w.connect(3);
    let r = w.call(3, "resume", json!({"sessionID": b["data"]["sessionID"], "resumeToken": b["data"]["resumeToken"], "rooms": {"room": b["data"]["seq"]}}));
    assert_eq!(r["data"]["rooms"][0]["replayed"], false);
    let snap = &w.take_push(3, "roomResync")[0]["data"];
    assert_eq!(snap["users"][0]["userID"], "A");
}

#[test]
fn silent_connections_are_dropped_but_stay_resumable() {
    let mut w = World::with(|c| c.heartbeat_timeout = Duration::from_secs(30));
    w.connect(1);
    let a = w.login(1, "room", "A");
    w.advance(Duration::from_secs(20));
    w.raw(1, r#"{"id":100,"op":"ping"}"#);
    w.advance(Duration::from_secs(20));
    assert!(w.closed.is_empty(), "a ping resets the deadline");
    w.advance(Duration::from_secs(11));
    assert_eq!(w.closed.get(&1), Some(&ErrorCode::HeartbeatTimeout));
    w.connect(2);
    let r = w.call(2, "resume", json!({"sessionID": a["data"]["sessionID"], "resumeToken": a["data"]["resumeToken"]}));
    assert_eq!(r["code"], 0);
}

#[test]
fn bad_frames_get_codes_and_abuse_closes() {
    let mut w = World::new();
    w.connect(1);
    w.raw(1, "{not json");
    assert_eq!(w.inbox[&1][0]["code"], ErrorCode::BadFrame.number());
    assert_eq!(w.call(1, "publish", json!({"streamID": "s"}))["code"], ErrorCode::NotLoggedIn.number());
    assert_eq!(w.call(1, "teleport", json!({}))["code"], ErrorCode::UnknownOp.number());
    assert!(w.closed.is_empty());

    // Flood: the burst is served, then requests are refused, then the connection is closed.
    w.clear();
    for i in 0..200 {
        w.raw(1, &format!(r#"{{"id":{},"op":"ping"}}"#, 1000 + i));
        if w.closed.contains_key(&1) {
            break;
        }
    }
    let limited = w.inbox[&1].iter().filter(|m| m["code"] == ErrorCode::RateLimited.number()).count();
    assert!(limited >= 40, "{limited}");
    assert_eq!(w.closed.get(&1), Some(&ErrorCode::Abusive));

    // Others are unaffected.
    w.connect(2);
    assert_eq!(w.call(2, "ping", json!({}))["code"], 0);
}

#[test]
fn external_encoders_publish_into_a_room_by_url() {
    let mut w = World::new();
    w.connect(1);
    w.login(1, "room", "A");
    w.clear();
    let ev = started_in("obs", "encoder", "room", 1);
    w.hub.handle_media(w.now, ev);
    w.drain();
    let add = &w.take_push(1, "roomStreamUpdate")[0]["data"];
    assert_eq!(
        (add["updateType"].as_str(), add["streamList"][0]["user"]["userID"].as_str()),
        (Some("ADD"), Some("encoder"))
    );
    // A session cannot take a live external stream's ID.
    assert_eq!(w.call(1, "publish", json!({"streamID": "obs"}))["code"], ErrorCode::StreamTaken.number());
    w.media("obs", false);
    assert_eq!(w.take_push(1, "roomStreamUpdate")[0]["data"]["updateType"], "DELETE");
    assert_eq!(w.call(1, "publish", json!({"streamID": "obs"}))["code"], 0, "free again");
    // An encoder may start before anyone joins: the stream is in the first joiner's snapshot.
    let ev = started_in("early", "enc", "later", 1);
    w.hub.handle_media(w.now, ev);
    w.drain();
    w.connect(2);
    let joined = w.login(2, "later", "B");
    assert_eq!(joined["data"]["streams"][0]["streamID"], "early");
    // Without a room, an unreserved stream is not announced anywhere.
    let ev = started_in("loose", "u", "", 1);
    w.hub.handle_media(w.now, ev);
    w.drain();
    assert!(w.take_push(1, "roomStreamUpdate").is_empty());
}

#[test]
fn webhook_events_follow_the_call_flow() {
    let mut w = World::new();
    w.connect(1);
    w.connect(2);
    w.login(1, "room", "A");
    w.login(2, "room", "B");
    assert_eq!(w.call(2, "publish", json!({"streamID": "b1"}))["code"], 0);
    w.media("b1", true);
    w.media("b1", false);
    w.media("b1", true);
    assert_eq!(w.call(2, "stopPublish", json!({"streamID": "b1"}))["code"], 0);
    w.media("b1", false); // the cut publisher's end arrives after the release
    assert_eq!(w.call(2, "logout", json!({}))["code"], 0);
    w.disconnect(1);
    w.advance(Duration::from_secs(60)); // A's grace runs out
    assert_eq!(
        w.events,
        [
            "room.created room",
            "user.login room A",
            "user.login room B",
            "stream.created room B b1",
            "stream.closed room B b1 media_ended bytes=1000",
            "stream.created room B b1",
            "stream.closed room B b1 stopped bytes=1000",
            "user.logout room B logout",
            "user.logout room A timeout",
            "room.closed room",
        ]
    );
}

#[test]
fn admin_lists_and_steers_rooms() {
    let mut w = World::new();
    for c in 1..=3 {
        w.connect(c);
    }
    w.login(1, "r1", "A");
    w.login(2, "r1", "B");
    w.login(3, "r2", "C");
    assert_eq!(w.call(2, "publish", json!({"streamID": "b1"}))["code"], 0);
    w.media("b1", true);
    w.clear();

    let rooms = w.admin(AdminRequest::ListRooms).unwrap();
    assert_eq!(
        rooms["rooms"],
        json!([{"roomID": "r1", "onlineCount": 2, "streamCount": 1}, {"roomID": "r2", "onlineCount": 1, "streamCount": 0}])
    );
    let detail = w.admin(AdminRequest::Room { room_id: "r1".into() }).unwrap();
    assert_eq!(detail["users"].as_array().unwrap().len(), 2);
    assert_eq!(detail["streams"][0]["streamID"], "b1");
    let page = w.admin(AdminRequest::Users { room_id: "r1".into(), offset: 1, limit: 1 }).unwrap();
    assert_eq!(
        (page["total"].clone(), page["users"][0]["userID"].clone(), page["nextOffset"].clone()),
        (json!(2), json!("B"), Value::Null)
    );
    assert_eq!(
        w.admin(AdminRequest::Users { room_id: "r1".into(), offset: 0, limit: 0 }).unwrap_err().code,
        ErrorCode::InvalidField
    );
    assert_eq!(w.admin(AdminRequest::Room { room_id: "nope".into() }).unwrap_err().code, ErrorCode::RoomNotFound);
    assert_eq!(w.admin(AdminRequest::ListStreams).unwrap()["streams"][0]["user"]["userID"], "B");

    // Speaking as the server reaches everyone, including would-be senders.
    let sent =
        w.admin(AdminRequest::SendMessage { room_id: "r1".into(), message: "hi all".into(), barrage: false }).unwrap();
    assert!(sent["messageID"].is_u64());
    for c in [1, 2] {
        let m = w.take_push(c, "IMRecvBroadcastMessage");
        assert_eq!(m[0]["data"]["messageList"][0]["fromUser"]["userID"], "$server", "conn {c}");
    }
    assert!(w.take_push(3, "IMRecvBroadcastMessage").is_empty(), "other rooms hear nothing");
    let cmd = w
        .admin(AdminRequest::SendCommand {
            room_id: "r1".into(),
            command: "ring".into(),
            to_user_ids: vec!["A".into(), "C".into()],
        })
        .unwrap();
    assert_eq!(cmd["delivered"], 1, "C is not in r1");
    assert_eq!(w.take_push(1, "IMRecvCustomCommand").len(), 1);
    w.admin(AdminRequest::SetRoomExtra { room_id: "r1".into(), key: "k".into(), value: "v".into() }).unwrap();
    assert_eq!(
        w.take_push(2, "roomExtraInfoUpdate")[0]["data"]["roomExtraInfoList"][0]["updateUser"]["userName"],
        "server"
    );

    // Stopping a stream: DELETE to the room, media cut, the publisher told why.
    w.admin(AdminRequest::StopStream { stream_id: "b1".into() }).unwrap();
    assert_eq!(w.take_push(1, "roomStreamUpdate")[0]["data"]["updateType"], "DELETE");
    assert_eq!(w.stopped_media, ["b1"]);
    let state = w.take_push(2, "publisherStateUpdate");
    assert_eq!(
        (state[0]["data"]["state"].as_str(), state[0]["data"]["errorCode"].as_u64()),
        (Some("NO_PUBLISH"), Some(41101))
    );
    assert_eq!(
        w.admin(AdminRequest::StopStream { stream_id: "b1".into() }).unwrap_err().code,
        ErrorCode::StreamNotFound
    );

    // Kicking: out of the room with a reason, others see DELETE.
    assert_eq!(
        w.admin(AdminRequest::Kick { room_id: "r1".into(), user_id: "C".into() }).unwrap_err().code,
        ErrorCode::UserNotFound
    );
    w.admin(AdminRequest::Kick { room_id: "r1".into(), user_id: "B".into() }).unwrap();
    assert_eq!(w.take_push(2, "kickout")[0]["data"]["reason"], "kicked_by_server");
    assert_eq!(w.closed.get(&2), Some(&ErrorCode::KickedByServer));
    assert_eq!(users(&w.take_push(1, "roomUserUpdate")[0]), ["B"]);

    // Closing: everyone out, the room gone.
    assert_eq!(w.admin(AdminRequest::CloseRoom { room_id: "r2".into() }).unwrap()["kicked"], 1);
    assert_eq!(w.take_push(3, "kickout")[0]["data"]["reason"], "room_closed");
    assert_eq!(w.admin(AdminRequest::ListRooms).unwrap()["rooms"].as_array().unwrap().len(), 1);
    assert!(w.events.iter().any(|e| e == "user.logout r1 B kicked_by_server"), "{:?}", w.events);
    assert!(w.events.iter().any(|e| e == "room.closed r2"), "{:?}", w.events);
}

#[test]
fn a_session_kicked_while_away_learns_why_on_resume() {
    let mut w = World::new();
    w.connect(1);
    let login = w.login(1, "room", "A");
    let (sid, token) = (login["data"]["sessionID"].clone(), login["data"]["resumeToken"].clone());
    w.disconnect(1);
    w.connect(2);
    w.login(2, "room", "A"); // the same user on another device
    w.connect(3);
    let r = w.call(3, "resume", json!({"sessionID": sid, "resumeToken": token, "rooms": {"room": 1}}));
    assert_eq!((r["code"].as_u64(), r["reason"].as_str()), (Some(41000), Some("kicked_out")), "{r}");
    let forged = w.call(3, "resume", json!({"sessionID": sid, "resumeToken": "00", "rooms": {}}));
    assert_eq!(forged["reason"], "resume_failed", "no reason without the session's token");
}

#[test]
fn absurd_token_expiry_does_not_break_the_clock() {
    let mut w = World::new();
    w.connect(1);
    let tok = token("A", u32::MAX, &Grant::everything(), w.now.unix_s());
    assert_eq!(w.login_with(1, "room", "A", &tok, json!({}))["code"], 0);
    w.advance(Duration::from_secs(3600));
    assert!(w.take_push(1, "kickout").is_empty());
}

#[test]
fn timers_do_not_pile_up_with_renewals_and_login_cycles() {
    let mut w = World::new();
    w.connect(1);
    w.login(1, "room", "A");
    let base = w.hub.timer_count();
    for i in 0..200 {
        let tok = token("A", 3600 + i, &Grant::everything(), w.now.unix_s());
        w.advance(Duration::from_millis(100)); // within the request rate
        assert_eq!(w.call(1, "renewToken", json!({"token": tok}))["code"], 0);
    }
    for _ in 0..200 {
        w.advance(Duration::from_millis(200));
        assert_eq!(w.call(1, "logout", json!({}))["code"], 0);
        w.login(1, "room", "A");
    }
    assert!(w.hub.timer_count() <= base + 2, "{} timers after the cycles, {base} before", w.hub.timer_count());
}

#[test]
fn a_late_end_of_an_older_connection_does_not_end_the_stream() {
    let mut w = World::new();
    w.connect(1);
    w.connect(2);
    w.login(1, "room", "A");
    w.login(2, "room", "B");
    assert_eq!(w.call(2, "publish", json!({"streamID": "b1"}))["code"], 0);
    w.hub.handle_media(w.now, started("b1", "B", 7));
    // The pusher reconnects: the new connection starts before the old one's end is reported.
    w.hub.handle_media(w.now, started("b1", "B", 8));
    w.hub.handle_media(w.now, MediaEvent::Stopped { app_id: APP, stream_id: "b1".into(), bytes: 5, publisher: 7 });
    w.drain();
    let updates: Vec<String> = w
        .take_push(1, "roomStreamUpdate")
        .iter()
        .map(|p| p["data"]["updateType"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(updates, ["ADD"], "no DELETE for the stale end");
    w.hub.handle_media(w.now, MediaEvent::Stopped { app_id: APP, stream_id: "b1".into(), bytes: 5, publisher: 8 });
    w.drain();
    assert_eq!(w.take_push(1, "roomStreamUpdate")[0]["data"]["updateType"], "DELETE");
}

#[test]
fn an_old_url_of_another_user_cannot_publish_into_a_reservation() {
    let mut w = World::new();
    w.connect(1);
    w.connect(2);
    w.login(1, "room", "A");
    w.login(2, "room", "B");
    assert_eq!(w.call(1, "publish", json!({"streamID": "s"}))["code"], 0);
    w.hub.handle_media(w.now, started("s", "B", 3)); // B's URL from when B held this name
    w.drain();
    assert_eq!(w.stopped_media, ["s"], "the media connection is cut");
    assert!(w.take_push(2, "roomStreamUpdate").is_empty(), "nothing went live");
}

#[test]
fn shutdown_closes_everyone_and_reports_their_logouts() {
    let mut w = World::new();
    w.connect(1);
    w.connect(2);
    w.login(1, "room", "A");
    w.login(2, "room", "B");
    w.events.clear();
    w.hub.shutdown(w.now);
    w.drain();
    assert_eq!(w.closed.get(&1), Some(&ErrorCode::ServerShutdown));
    assert_eq!(w.closed.get(&2), Some(&ErrorCode::ServerShutdown));
    let mut events = w.events.clone();
    events.sort();
    assert_eq!(
        events,
        ["room.closed room", "user.logout room A server_shutdown", "user.logout room B server_shutdown"]
    );
    assert_eq!(w.hub.session_count(), 0);
    assert_eq!(w.hub.room_count(), 0);
}

#[test]
fn relays_follow_the_publisher_and_end_with_the_stream() {
    let mut w = World::new();
    w.connect(1);
    w.connect(2);
    w.login(1, "room", "A");
    w.login(2, "room", "B");
    assert_eq!(w.call(1, "publish", json!({"streamID": "a1"}))["code"], 0);
    let add = |url: &str| json!({"streamID": "a1", "targetURL": url});
    assert_eq!(w.call(1, "addPublishCdnUrl", add("rtmp://cdn/live/a"))["code"], 0);
    assert_eq!(w.call(1, "addPublishCdnUrl", add("rtmp://cdn/live/a"))["code"], 0, "adding twice is one relay");
    assert_eq!(w.call(2, "addPublishCdnUrl", add("rtmp://cdn/live/b"))["code"], 40304, "not B's stream");
    assert_eq!(w.call(1, "addPublishCdnUrl", add("rtmp://cdn"))["code"], 40002);
    assert_eq!(w.call(1, "addPublishCdnUrl", add("rtmp://cdn/live/b"))["code"], 0);
    assert_eq!(w.call(1, "removePublishCdnUrl", add("rtmp://cdn/live/a"))["code"], 0);
    assert_eq!(w.call(1, "stopPublish", json!({"streamID": "a1"}))["code"], 0);
    assert_eq!(w.relays, ["+rtmp://cdn/live/a", "+rtmp://cdn/live/b", "-rtmp://cdn/live/a", "-rtmp://cdn/live/b"]);
}
