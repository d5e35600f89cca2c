//! The room hub driven without sockets: what the server's business side sees and steers:
//! webhook events, admin requests, shutdown.

mod common;

use common::*;

#[test]
fn webhook_events_follow_the_call_flow() {
    let mut w = World::two_in("room");
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
fn shutdown_closes_everyone_and_reports_their_logouts() {
    let mut w = World::two_in("room");
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

/// A room with extra info hands out its record at each change and forgets it when it closes; a
/// hub seeded with a record opens the room from it (extra info, member limit), for a while.
#[test]
fn a_room_record_is_handed_out_and_a_seeded_room_starts_from_it() {
    let mut w = World::two_in("room");
    assert!(w.records.is_empty(), "a room without extra info has no record");
    assert_eq!(w.call(1, "setRoomExtraInfo", json!({"roomID": "room", "key": "topic", "value": "cluster"}))["code"], 0);
    let (room, record) = w.records.pop().unwrap();
    assert_eq!((room.as_str(), &record["extraInfo"][0]["value"]), ("room", &json!("cluster")), "{record}");
    w.call(1, "logout", json!({}));
    w.call(2, "logout", json!({}));
    assert_eq!(w.records.pop(), Some(("room".to_owned(), Value::Null)), "closed: forgotten");

    // Another hub (the room's next home) is seeded with it: the first login finds the topic.
    let mut next = World::new();
    let mut seeded = record.clone();
    seeded["maxMembers"] = json!(1);
    next.hub.seed_room(next.now, APP, "room", seeded);
    next.connect(1);
    let reply = next.login(1, "room", "C");
    assert_eq!(reply["data"]["extraInfo"][0]["value"], "cluster", "{reply}");
    assert_eq!(reply["data"]["extraInfo"][0]["updateUser"]["userID"], "A");
    next.connect(2);
    let tok = token("D", 3600, &Grant::everything(), next.now.unix_s());
    assert_eq!(next.login_with(2, "room", "D", &tok, json!({}))["reason"], "room_full", "the member limit came along");

    // A seed waits for its login a while only; junk in a record is left out.
    let mut late = World::new();
    late.hub.seed_room(
        late.now,
        APP,
        "room",
        json!({"extraInfo": [{"key": "", "value": "x"}, {"key": "k", "value": "v"}]}),
    );
    late.connect(1);
    assert_eq!(
        late.login(1, "room", "C")["data"]["extraInfo"],
        json!([{"key": "k", "value": "v", "updateUser": {"userID": "", "userName": ""}, "updateTime": 0}])
    );
    let mut stale = World::new();
    stale.hub.seed_room(stale.now, APP, "room", record);
    stale.advance(duet_room::SEED_TTL);
    stale.connect(1);
    assert_eq!(stale.login(1, "room", "C")["data"]["extraInfo"], json!([]));
}

/// A drain is a stop whose reason is `server_draining`: the clients are closed with it, the
/// backends hear it, and a connection or publish arriving afterwards is refused with it.
#[test]
fn a_drain_closes_everyone_with_its_own_reason() {
    let mut w = World::two_in("room");
    w.events.clear();
    w.hub.drain(w.now);
    w.hub.shutdown(w.now);
    w.drain();
    assert_eq!(w.closed.get(&1), Some(&ErrorCode::ServerDraining));
    assert_eq!(w.closed.get(&2), Some(&ErrorCode::ServerDraining));
    w.events.sort();
    assert_eq!(
        w.events,
        ["room.closed room", "user.logout room A server_draining", "user.logout room B server_draining"]
    );
    w.hub.connect(w.now, ConnId(3));
    w.drain();
    assert_eq!(w.closed.get(&3), Some(&ErrorCode::ServerDraining));
    let late = w.hub.admit_publish(w.now, started_in("late", "x", "room", 3)).unwrap_err();
    assert_eq!(late.code, ErrorCode::ServerDraining);
    assert!(w.hub.is_stopped());
}

/// A stop ends streams too, session and external ones: their media is cut, and each
/// `stream.closed` goes out with its bytes when the media side reports the end. Until then the
/// hub is not stopped, and takes nothing new.
#[test]
fn shutdown_ends_every_stream_when_the_media_side_reports() {
    let mut w = World::two_in("room");
    assert_eq!(w.call(2, "publish", json!({"streamID": "b1"}))["code"], 0);
    w.media("b1", true);
    w.hub.admit_publish(w.now, started_in("ext", "camera", "room", 2)).unwrap();
    w.drain();
    w.events.clear();
    w.hub.shutdown(w.now);
    w.drain();
    w.stopped_media.sort();
    assert_eq!(w.stopped_media, ["b1", "ext"]);
    assert!(!w.hub.is_stopped(), "waits for the media ends");

    w.hub.connect(w.now, ConnId(3));
    w.drain();
    assert_eq!(w.closed.get(&3), Some(&ErrorCode::ServerShutdown));
    let late = w.hub.admit_publish(w.now, started_in("late", "x", "room", 3)).unwrap_err();
    assert_eq!(late.code, ErrorCode::ServerShutdown);

    w.hub.publish_ended(w.now, ended("b1", 1000, 1));
    w.hub.publish_ended(w.now, ended("ext", 500, 2));
    w.drain();
    assert!(w.hub.is_stopped());
    w.events.sort();
    assert_eq!(
        w.events,
        [
            "room.closed room",
            "stream.closed room B b1 server_shutdown bytes=1000",
            "stream.closed room camera ext server_shutdown bytes=500",
            "user.logout room A server_shutdown",
            "user.logout room B server_shutdown",
        ]
    );
}

/// A media end that never comes does not hold the stop: after `shutdown_wait` the stream is
/// closed without its bytes.
#[test]
fn shutdown_does_not_wait_forever_for_a_media_end() {
    let mut w = World::two_in("room");
    assert_eq!(w.call(2, "publish", json!({"streamID": "b1"}))["code"], 0);
    w.media("b1", true);
    w.events.clear();
    w.hub.shutdown(w.now);
    w.drain();
    assert!(!w.hub.is_stopped());
    w.advance(Duration::from_secs(2));
    assert!(w.hub.is_stopped());
    assert!(w.events.contains(&"stream.closed room B b1 server_shutdown bytes=0".to_owned()), "{:?}", w.events);
}

/// A stream released twice before the first publish's end is reported (stopped, published
/// again by a new connection, stopped again) gets a `stream.closed` for each publish.
#[test]
fn every_released_publish_gets_its_stream_closed() {
    let mut w = World::two_in("room");
    for publisher in [1, 2] {
        assert_eq!(w.call(2, "publish", json!({"streamID": "b1"}))["code"], 0);
        w.hub.admit_publish(w.now, started("b1", "B", publisher)).unwrap();
        assert_eq!(w.call(2, "stopPublish", json!({"streamID": "b1"}))["code"], 0);
    }
    w.events.clear();
    w.hub.publish_ended(w.now, ended("b1", 100, 1));
    w.hub.publish_ended(w.now, ended("b1", 200, 2));
    w.drain();
    assert_eq!(w.events, ["stream.closed room B b1 stopped bytes=100", "stream.closed room B b1 stopped bytes=200"]);
}
