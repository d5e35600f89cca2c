//! The room hub driven without sockets: logins, users, messages, tokens, resume, kick-outs,
//! abuse, timers.

mod common;

use common::*;

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
    let mut w = World::connected(&[1, 2, 3]);
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
    let mut w = World::connected(&[1, 2, 3]);
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
    let mut w = World::connected(&[1, 2, 3]);
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
