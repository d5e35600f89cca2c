//! The room hub driven without sockets: publish intents, media start and end, external
//! encoders, stale media events, relays.

mod common;

use common::*;

#[test]
fn the_seeds_call_flow_publish_add_stop_delete() {
    let mut w = World::two_in("room");
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
    let mut w = World::two_in("room");
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
    let mut w = World::connected(&[1, 2, 3]);
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
fn external_encoders_publish_into_a_room_by_url() {
    let mut w = World::new();
    w.connect(1);
    w.login(1, "room", "A");
    w.clear();
    w.hub.admit_publish(w.now, started_in("obs", "encoder", "room", 1)).unwrap();
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
    w.hub.admit_publish(w.now, started_in("early", "enc", "later", 1)).unwrap();
    w.drain();
    w.connect(2);
    let joined = w.login(2, "later", "B");
    assert_eq!(joined["data"]["streams"][0]["streamID"], "early");
    // Without a room, an unreserved stream is not announced anywhere.
    w.hub.admit_publish(w.now, started_in("loose", "u", "", 1)).unwrap();
    w.drain();
    assert!(w.take_push(1, "roomStreamUpdate").is_empty());
}

#[test]
fn a_late_end_of_an_older_connection_does_not_end_the_stream() {
    let mut w = World::two_in("room");
    assert_eq!(w.call(2, "publish", json!({"streamID": "b1"}))["code"], 0);
    w.hub.admit_publish(w.now, started("b1", "B", 7)).unwrap();
    // The pusher reconnects: the new connection starts before the old one's end is reported.
    w.hub.admit_publish(w.now, started("b1", "B", 8)).unwrap();
    w.hub.publish_ended(w.now, ended("b1", 5, 7));
    w.drain();
    let updates: Vec<String> = w
        .take_push(1, "roomStreamUpdate")
        .iter()
        .map(|p| p["data"]["updateType"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(updates, ["ADD"], "no DELETE for the stale end");
    w.hub.publish_ended(w.now, ended("b1", 5, 8));
    w.drain();
    assert_eq!(w.take_push(1, "roomStreamUpdate")[0]["data"]["updateType"], "DELETE");
}

#[test]
fn an_old_url_of_another_user_cannot_publish_into_a_reservation() {
    let mut w = World::two_in("room");
    assert_eq!(w.call(1, "publish", json!({"streamID": "s"}))["code"], 0);
    // B's URL from when B held this name: refused before anything is accepted.
    let refused = w.hub.admit_publish(w.now, started("s", "B", 3)).unwrap_err();
    assert_eq!(refused.code, ErrorCode::StreamTaken);
    w.drain();
    assert!(w.stopped_media.is_empty(), "nothing to cut: nothing was accepted");
    assert!(w.take_push(2, "roomStreamUpdate").is_empty(), "nothing went live");
    assert!(w.take_push(1, "publisherStateUpdate").iter().all(|p| p["data"]["state"] != "PUBLISHING"));
}

#[test]
fn relays_follow_the_publisher_and_end_with_the_stream() {
    let mut w = World::two_in("room");
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

#[test]
fn a_stream_webrtc_cannot_play_shows_it_until_its_publish_ends() {
    use duet_room::{PublisherId, StreamUnplayable};
    let mut w = World::two_in("room");
    assert_eq!(w.call(2, "publish", json!({"streamID": "b1"}))["code"], 0);
    w.media("b1", true);
    w.events.clear();
    let report = |publisher: u64| StreamUnplayable {
        app_id: APP,
        stream_id: "b1".into(),
        publisher: PublisherId(publisher),
        code: "bframes",
        reason: "H.264 with B-frames".into(),
    };
    w.hub.stream_unplayable(w.now, report(9));
    w.drain();
    assert!(w.events.is_empty(), "a publish that does not carry the stream is not heard");
    let problem = |w: &mut World| {
        let listed = w.admin(AdminRequest::ListStreams).unwrap()["streams"][0]["webrtcProblem"].clone();
        let in_room =
            w.admin(AdminRequest::Room { room_id: "room".into() }).unwrap()["streams"][0]["webrtcProblem"].clone();
        assert_eq!(listed, in_room);
        listed
    };
    assert_eq!(problem(&mut w), Value::Null);
    w.hub.stream_unplayable(w.now, report(1));
    w.drain();
    assert_eq!(w.events, ["stream.unplayable room B b1 H.264 with B-frames"]);
    assert_eq!(problem(&mut w), json!({"code": "bframes", "reason": "H.264 with B-frames"}));
    // The encoder stops and comes back: the new publish starts with a clean verdict.
    w.media("b1", false);
    w.media("b1", true);
    assert_eq!(problem(&mut w), Value::Null);
    // So does a new encoder taking the live stream over (the same user, a fresher URL).
    w.hub.stream_unplayable(w.now, report(1));
    w.drain();
    assert_eq!(problem(&mut w)["code"], "bframes");
    w.hub.admit_publish(w.now, common::started_in("b1", "", "", 2)).expect("taken over");
    w.drain();
    assert_eq!(problem(&mut w), Value::Null, "the new encoder is judged afresh");
    // The signaling stream object is not changed.
    assert!(
        w.take_push(1, "roomStreamUpdate").iter().all(|p| p["data"]["streamList"][0].get("webrtcProblem").is_none())
    );
}

#[test]
fn mixer_requests_go_to_the_server_with_their_room_and_come_back_as_replies() {
    use duet_room::mixer::MixerCall;
    let mut w = World::two_in("room");
    let config = json!({"taskID": "t1", "inputList": [{"streamID": "a"}, {"streamID": "b"}], "outputList": ["mix"]});
    w.raw(1, &json!({"id": 50, "op": "startMixerTask", "data": config}).to_string());
    assert!(w.inbox.get(&1).is_none_or(|m| m.iter().all(|f| f["id"] != 50)), "the server answers, not the hub");
    let (conn, id, order) = w.mixer.pop().expect("handed to the server");
    assert_eq!((conn, id, order.app_id, order.room_id.as_str(), order.user_id.as_str()), (1, 50, APP, "room", "A"));
    let MixerCall::Start(c) = &order.call else { panic!("a start: {order:?}") };
    assert_eq!(c.streams().collect::<Vec<_>>(), ["mix"]);
    w.hub.answer(ConnId(1), 50, Ok(json!({"taskID": "t1"})));
    w.drain();
    let reply = w.inbox[&1].iter().find(|f| f["id"] == 50).expect("answered").clone();
    assert_eq!((reply["code"].clone(), reply["data"]["taskID"].clone()), (json!(0), json!("t1")));

    // Refused by the hub: bad configs, a room the session is not in, no login.
    assert_eq!(w.call(1, "startMixerTask", json!({"taskID": "t1", "inputList": []}))["code"], 40002);
    let elsewhere = json!({"taskID": "t2", "roomID": "other", "inputList": [{"streamID": "a"}], "outputList": ["m"]});
    assert_eq!(w.call(1, "startMixerTask", elsewhere)["code"], 40302);
    assert_eq!(w.call(1, "stopMixerTask", json!({"taskID": "no such"}))["code"], 40002);
    w.connect(9);
    assert_eq!(w.call(9, "stopMixerTask", json!({"taskID": "t1"}))["code"], 40004);
    assert!(w.mixer.is_empty(), "nothing refused reached the server");

    // A stop goes to the server; an answer to a connection that left is dropped.
    w.raw(2, &json!({"id": 51, "op": "stopMixerTask", "data": {"taskID": "t1"}}).to_string());
    let (conn, id, order) = w.mixer.pop().expect("handed to the server");
    assert_eq!((conn, id), (2, 51));
    assert_eq!(order.call, MixerCall::Stop { task_id: "t1".into() });
    w.disconnect(2);
    w.hub.answer(ConnId(2), 51, Ok(json!({})));
    w.drain();
}

#[test]
fn a_mixer_output_must_be_a_stream_the_token_lets_the_user_publish() {
    let mut w = World::new();
    w.connect(1);
    let grant =
        Grant { room_id: Some("room".into()), login: true, publish: true, stream_ids: Some(vec!["mine".into()]) };
    let tok = token("A", 3600, &grant, w.now.unix_s());
    assert_eq!(w.login_with(1, "room", "A", &tok, json!({}))["code"], 0);
    let config = |out: &str| json!({"taskID": "t", "inputList": [{"streamID": "a"}], "outputList": [out]});
    assert_eq!(w.call(1, "startMixerTask", config("other"))["code"], 40109);
    w.raw(1, &json!({"id": 60, "op": "startMixerTask", "data": config("mine")}).to_string());
    assert_eq!(w.mixer.len(), 1);
}

#[test]
fn quality_reports_of_a_rooms_streams_go_to_the_server() {
    use duet_room::quality::Role;
    let mut w = World::two_in("room");
    w.call(2, "publish", json!({"streamID": "b_cam"}));
    w.media("b_cam", true);
    w.clear();
    let report = json!({"streams": [{"streamID": "b_cam", "role": "play", "videoKbps": 790, "fps": 15, "cacheMs": 120, "stalls": 1}]});
    assert_eq!(w.call(1, "reportQuality", report)["code"], 0);
    let (room, user, streams) = w.quality.pop().expect("handed to the server");
    assert_eq!((room.as_str(), user.as_str(), streams.len()), ("room", "A", 1));
    assert_eq!((streams[0].role, streams[0].video_kbps, streams[0].stalls), (Role::Play, 790.0, 1));
    let own = json!({"roomID": "room", "streams": [{"streamID": "b_cam", "role": "publish", "videoKbps": 800}]});
    assert_eq!(w.call(2, "reportQuality", own)["code"], 0);
    assert_eq!(w.quality.pop().unwrap().1, "B");

    // A stream the room does not have, a room the member is not in, a malformed report, no login.
    let other = json!({"streams": [{"streamID": "nobody", "role": "play"}]});
    assert_eq!(w.call(1, "reportQuality", other)["code"], 40402);
    let elsewhere = json!({"roomID": "other", "streams": [{"streamID": "b_cam", "role": "play"}]});
    assert_eq!(w.call(1, "reportQuality", elsewhere)["code"], 40302);
    assert_eq!(
        w.call(1, "reportQuality", json!({"streams": [{"streamID": "b_cam", "role": "play", "fps": -1}]}))["code"],
        40002
    );
    w.connect(9);
    assert_eq!(w.call(9, "reportQuality", json!({"streams": [{"streamID": "b_cam", "role": "play"}]}))["code"], 40004);
    assert!(w.quality.is_empty(), "nothing refused reached the server");
}
