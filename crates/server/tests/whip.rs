//! The WHIP HTTP contract against the real binary: signed like RTMP publish URLs (the same
//! refusal codes), an offer must be SDP with H.264 video, `201 Created` answers with SDP and a
//! `Location` whose `DELETE` ends the publish, an unknown resource is 404, and a peer that
//! never sends a datagram is cleaned up. The media path
//! itself (a browser's H.264 reaching players) is web/test/whip.test.mjs.

mod common;
#[path = "common/whip.rs"]
mod whip_helpers;

use common::{Server, data_dir, request};
use duet_token::{AppSecret, MediaAction, MediaBases, MediaFormat, MediaUrl};
use whip_helpers::{
    H264, code, header, live_streams, offer, post_sdp, post_until_admitted, wait_live_streams, whip_path, whip_path_of,
};

#[test]
fn whip_refuses_like_rtmp_and_answers_h264_offers() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &["--webrtc-public-ip", "192.0.2.10"]);
    assert!(server.banner.contains("/whip|whep/APP/STREAM"), "{}", server.banner);
    let id = server.app_id;
    let path = whip_path(&data, &server, "cam");
    let h264 = offer("H264", H264);

    // The URL first, with RTMP's codes and statuses.
    let secret_hex = server.banner.split("ServerSecret").nth(1).unwrap().split_whitespace().next().unwrap();
    let expired = MediaUrl {
        app_id: id,
        stream_id: "cam".into(),
        action: MediaAction::Publish,
        user_id: "u".into(),
        room_id: String::new(),
        expire: 1_000_000,
    };
    let bases = MediaBases { rtmp: "rtmp://x".into(), http: String::new() };
    let expired = expired.signed(&AppSecret::new(secret_hex).unwrap(), &bases, MediaFormat::Whip);
    for (p, status, want) in [
        (format!("/whip/{id}/cam"), 401, "url_missing"),
        (path.replace("sign=", "sign=00"), 403, "url_malformed"),
        (expired, 403, "url_expired"),
        (format!("/whip/123/cam?{}", path.split_once('?').unwrap().1), 404, "unknown_app"),
        (format!("/whip/{id}/a.b?expire=1&sign=00"), 400, "bad_stream_id"),
    ] {
        let r = post_sdp(&server, &p, "application/sdp", &h264);
        assert_eq!((r.status, code(&r).as_str()), (status, want), "{p}: {}", r.body);
    }

    // Then the offer.
    let r = post_sdp(&server, &path, "text/plain", &h264);
    assert_eq!((r.status, code(&r).as_str()), (415, "whip_content_type"), "{}", r.body);
    let r = post_sdp(&server, &path, "application/sdp", "hello");
    assert_eq!((r.status, code(&r).as_str()), (400, "bad_sdp"), "{}", r.body);
    assert!(r.body.contains("bad SDP"), "the reason is given: {}", r.body);
    let r = post_sdp(&server, &path, "application/sdp", &offer("VP8", "max-fs=12288"));
    assert_eq!((r.status, code(&r).as_str()), (406, "whip_no_h264"), "{}", r.body);
    assert_eq!(live_streams(&server), "duet_media_live_streams 0", "refusals leave nothing behind");

    // An H.264 offer is admitted: 201, the answer, a Location; the stream is live.
    let r = post_sdp(&server, &path, "application/sdp", &h264);
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.headers.to_ascii_lowercase().contains("content-type: application/sdp"), "{}", r.headers);
    assert!(r.body.contains("a=ice-lite") && r.body.contains("H264/90000"), "{}", r.body);
    assert!(r.body.contains("192.0.2.10"), "the candidate has --webrtc-public-ip: {}", r.body);
    let location = header(&r, "location").unwrap();
    assert!(location.starts_with(&format!("/whip/{id}/cam/")), "{location}");
    assert_eq!(live_streams(&server), "duet_media_live_streams 1");
    assert_eq!(common::metric(&server, "duet_webrtc_peers"), 1);
    let again = post_sdp(&server, &path.replace("user=encoder", "user=other"), "application/sdp", &h264);
    assert_eq!(code(&again), "url_bad_signature", "the user is signed");

    // A page on another origin: its preflights (POST with application/sdp, DELETE) are answered,
    // and Location is exposed.
    for (target, method) in [(path.as_str(), "POST"), (location.as_str(), "DELETE")] {
        let asks = [
            ("Origin", "https://shop.example".to_owned()),
            ("Access-Control-Request-Method", method.to_owned()),
            ("Access-Control-Request-Headers", "content-type".to_owned()),
        ];
        let pre = request(server.http, "OPTIONS", target, &asks, b"", None);
        assert_eq!(pre.status, 204, "{target}: {}", pre.body);
        let h = pre.headers.to_ascii_lowercase();
        assert!(h.contains("access-control-allow-origin: *"), "{h}");
        assert!(h.contains("access-control-allow-methods: ") && h.contains(&method.to_ascii_lowercase()), "{h}");
        assert!(h.contains("access-control-allow-headers: ") && h.contains("content-type"), "{h}");
        assert!(h.contains("access-control-expose-headers: location"), "{h}");
    }

    // DELETE ends it; an unknown resource is 404.
    let delete = |p: &str| request(server.http, "DELETE", p, &[], b"", None);
    assert_eq!(delete(&format!("/whip/{id}/cam/0123")).status, 404);
    let deleted = delete(&location);
    assert_eq!(deleted.status, 200);
    assert!(deleted.headers.to_ascii_lowercase().contains("access-control-allow-origin: *"), "{}", deleted.headers);
    assert!(wait_live_streams(&server, 0), "DELETE ended the publish");
    assert_eq!(common::metric(&server, "duet_webrtc_peers"), 0);
    let r = delete(&location);
    assert_eq!((r.status, code(&r).as_str()), (404, "whip_not_found"));

    // A peer that never connects (or vanishes) is cleaned up: 15 s without a datagram.
    assert_eq!(post_sdp(&server, &path, "application/sdp", &h264).status, 201);
    assert_eq!(live_streams(&server), "duet_media_live_streams 1");
    let start = std::time::Instant::now();
    while live_streams(&server) != "duet_media_live_streams 0" && start.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(live_streams(&server), "duet_media_live_streams 0", "the silent peer's publish ended");
    server.stop();
}

/// Signaling's `publish` intent hands a browser its WHIP URL next to the RTMP one; publishing
/// through it puts the stream in the session's room like a `<live-pusher>` would.
#[tokio::test]
async fn the_publish_intent_gives_a_whip_url_that_publishes_into_the_room() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let (mut watcher, _) = common::join(&server, &data, "room-w", "watcher").await;
    let (mut browser, _) = common::join(&server, &data, "room-w", "browser").await;
    let published = browser.ok("publish", serde_json::json!({"streamID": "cam-w"})).await.unwrap();
    let whip = published["whipURL"].as_str().unwrap();
    let prefix = format!("http://{}/whip/{}/cam-w?expire=", server.http, server.app_id);
    assert!(whip.starts_with(&prefix), "{whip}");
    let path = whip.strip_prefix(&format!("http://{}", server.http)).unwrap();
    let r = post_sdp(&server, path, "application/sdp", &offer("H264", H264));
    assert_eq!(r.status, 201, "{}", r.body);
    loop {
        let push = watcher.push("roomStreamUpdate", std::time::Duration::from_secs(5)).await.unwrap();
        if push["data"]["updateType"] == "ADD" {
            assert_eq!(push["data"]["streamList"][0]["streamID"], "cam-w");
            break;
        }
    }
}

/// The node takes at most `--webrtc-max-peers` WebRTC peers: one more is refused with
/// `webrtc_busy` (503) and leaves nothing behind; a peer that ends frees its place.
#[test]
fn webrtc_peers_are_capped() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &["--webrtc-max-peers", "1"]);
    let h264 = offer("H264", H264);
    let first = post_sdp(&server, &whip_path(&data, &server, "one"), "application/sdp", &h264);
    assert_eq!(first.status, 201, "{}", first.body);
    let busy = post_sdp(&server, &whip_path(&data, &server, "two"), "application/sdp", &h264);
    assert_eq!((busy.status, code(&busy).as_str()), (503, "webrtc_busy"), "{}", busy.body);
    assert_eq!(live_streams(&server), "duet_media_live_streams 1", "the refused one left nothing");
    let location = header(&first, "location").unwrap();
    assert_eq!(request(server.http, "DELETE", &location, &[], b"", None).status, 200);
    let again = post_until_admitted(&server, &whip_path(&data, &server, "two"), &h264);
    assert_eq!(again.status, 201, "the ended peer's place is free: {}", again.body);
}

/// WHEP, the same exchange for playing: a play URL (`duet url play --format whep`) of a live
/// stream and a receive-only H.264 offer get `201`, a send-only answer and a `Location` whose
/// `DELETE` ends the play; a stream that is not live, a publish URL, a send-only offer are
/// refused with their codes. (Media to a real browser: web/test/whep.test.mjs.)
#[test]
fn whep_plays_live_streams_by_play_url() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let id = server.app_id;
    let (app, http) = (id.to_string(), format!("http://{}", server.http));
    let args = ["url", "play", "--format", "whep", "--app-id", &app, "--stream-id", "cam"];
    let url = common::ok(&data, &[&args[..], &["--public-http-url", &http]].concat()).trim().to_owned();
    assert!(url.starts_with(&format!("{http}/whep/{app}/cam?expire=")), "{url}");
    let play = url.strip_prefix(&http).unwrap().to_owned();
    let recv = offer("H264", H264).replace("a=sendonly", "a=recvonly");

    let r = post_sdp(&server, &play, "application/sdp", &recv);
    assert_eq!((r.status, code(&r).as_str()), (404, "stream_not_found"), "{}", r.body);
    // A WHIP publish makes the stream live.
    let publish = whip_path(&data, &server, "cam");
    assert_eq!(post_sdp(&server, &publish, "application/sdp", &offer("H264", H264)).status, 201);

    let query = publish.split_once('?').unwrap().1;
    let r = post_sdp(&server, &format!("/whep/{id}/cam?{query}"), "application/sdp", &recv);
    assert_eq!((r.status, code(&r).as_str()), (403, "url_bad_signature"), "a publish URL does not play");
    let r = post_sdp(&server, &play, "application/sdp", &offer("H264", H264));
    assert_eq!((r.status, code(&r).as_str()), (400, "bad_sdp"), "a WHEP offer receives: {}", r.body);
    let r = post_sdp(&server, &play, "text/plain", &recv);
    assert_eq!(r.status, 415);

    let r = post_sdp(&server, &play, "application/sdp", &recv);
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body.contains("a=sendonly") && r.body.contains("H264/90000"), "{}", r.body);
    let location = r.headers.lines().find_map(|l| l.strip_prefix("location: ")).unwrap().to_owned();
    assert!(location.starts_with(&format!("/whep/{id}/cam/")), "{location}");
    for _ in 0..100 {
        if common::metric(&server, "duet_webrtc_peers") == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(common::metric(&server, "duet_webrtc_peers"), 2, "the publisher and the player");
    let delete = |p: &str| request(server.http, "DELETE", p, &[], b"", None);
    assert_eq!(delete(&location).status, 200);
    for _ in 0..100 {
        if common::metric(&server, "duet_webrtc_peers") == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(common::metric(&server, "duet_webrtc_peers"), 1, "DELETE ended the play, not the publish");
    assert_eq!(live_streams(&server), "duet_media_live_streams 1");
    let r = delete(&location);
    assert_eq!((r.status, code(&r).as_str()), (404, "whep_not_found"));
    server.stop();
}

/// An app may take at most its own number of WebRTC peers (`duet app webrtc-peers`, the
/// console): one more is refused with `webrtc_app_busy` (429) and leaves nothing behind, other
/// apps are not held back, a peer that ends frees its place, and `none` lifts the cap.
#[test]
fn webrtc_peers_are_capped_per_app() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let session = common::console_session(&server);
    let app = server.app_id;
    let set = |max: serde_json::Value| {
        let body = serde_json::json!({ "maxPeers": max }).to_string();
        common::console_post(&server, &session, &format!("/console/api/apps/{app}/webrtc-peers"), &body)
    };
    let saved = set(1.into());
    assert_eq!(saved.status, 200, "{}", saved.body);
    let h264 = offer("H264", H264);
    let first = post_sdp(&server, &whip_path(&data, &server, "one"), "application/sdp", &h264);
    assert_eq!(first.status, 201, "{}", first.body);
    let busy = post_sdp(&server, &whip_path(&data, &server, "two"), "application/sdp", &h264);
    assert_eq!((busy.status, code(&busy).as_str()), (429, "webrtc_app_busy"), "{}", busy.body);
    assert_eq!(live_streams(&server), "duet_media_live_streams 1", "the refused one left nothing");
    assert_eq!(common::metric(&server, "duet_webrtc_peers"), 1);

    // Another app is not held back by this one's cap.
    let other: serde_json::Value =
        serde_json::from_str(&common::ok(&data, &["app", "create", "--name", "other", "--json"])).unwrap();
    let other = other["app_id"].as_u64().unwrap() as u32;
    let theirs = post_sdp(&server, &whip_path_of(&data, &server, other, "two"), "application/sdp", &h264);
    assert_eq!(theirs.status, 201, "{}", theirs.body);

    // The ended peer's place is free again.
    let location = header(&first, "location").unwrap();
    assert_eq!(request(server.http, "DELETE", &location, &[], b"", None).status, 200);
    assert!(wait_live_streams(&server, 1));
    let again = post_until_admitted(&server, &whip_path(&data, &server, "two"), &h264);
    assert_eq!(again.status, 201, "the ended peer's place is free: {}", again.body);

    // No cap beyond the node's.
    assert_eq!(set(serde_json::Value::Null).status, 200);
    let three = post_sdp(&server, &whip_path(&data, &server, "three"), "application/sdp", &h264);
    assert_eq!(three.status, 201, "{}", three.body);
    let refused = set((-1).into());
    assert_eq!((refused.status, code(&refused).as_str()), (400, "invalid_json"), "{}", refused.body);
}

/// `--webrtc-max-stream-players`: one stream takes at most that many WHEP players (one more is
/// `webrtc_stream_busy`, 429), another stream is not held back, an ended player frees its place.
#[test]
fn whep_players_are_capped_per_stream() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &["--webrtc-max-stream-players", "1"]);
    let recv = offer("H264", H264).replace("a=sendonly", "a=recvonly");
    let play_path = |stream: &str| {
        let (app, http) = (server.app_id.to_string(), format!("http://{}", server.http));
        let args = ["url", "play", "--format", "whep", "--app-id", &app, "--stream-id", stream];
        let url = common::ok(&data, &[&args[..], &["--public-http-url", &http]].concat()).trim().to_owned();
        url.strip_prefix(&http).unwrap().to_owned()
    };
    let play = |stream: &str| post_sdp(&server, &play_path(stream), "application/sdp", &recv);
    for stream in ["a", "b"] {
        let published = post_sdp(&server, &whip_path(&data, &server, stream), "application/sdp", &offer("H264", H264));
        assert_eq!(published.status, 201, "{}", published.body);
    }
    let first = play("a");
    assert_eq!(first.status, 201, "{}", first.body);
    let busy = play("a");
    assert_eq!((busy.status, code(&busy).as_str()), (429, "webrtc_stream_busy"), "{}", busy.body);
    assert_eq!(play("b").status, 201, "another stream is not held back");
    let location = header(&first, "location").unwrap();
    assert_eq!(request(server.http, "DELETE", &location, &[], b"", None).status, 200);
    let again = post_until_admitted(&server, &play_path("a"), &recv);
    assert_eq!(again.status, 201, "the ended player's place is free: {}", again.body);
    server.stop();
}

/// ICE over TCP takes RFC 4571 frames: a frame longer than the limit, bytes that are no
/// frame, or a frame that reaches no peer end that connection at once; another connection is
/// unaffected.
#[test]
fn ice_tcp_closes_connections_that_send_garbage() {
    use std::io::{Read, Write};
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let tcp = server.banner.split(", TCP ").nth(1).and_then(|s| s.split(';').next()).unwrap().to_owned();
    let tcp: std::net::SocketAddr = tcp.parse().unwrap_or_else(|e| panic!("{tcp}: {e}\n{}", server.banner));
    let mut quiet = std::net::TcpStream::connect(tcp).unwrap();
    for garbage in [&b"\xff\xff"[..], b"\x00\x00", b"\x00\x03abc"] {
        let mut c = std::net::TcpStream::connect(tcp).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        c.write_all(garbage).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(c.read(&mut buf).unwrap_or(0), 0, "closed after {garbage:?}");
    }
    // The connection that sent nothing is still open (until 30 s of silence).
    quiet.set_read_timeout(Some(std::time::Duration::from_millis(300))).unwrap();
    let mut buf = [0u8; 16];
    assert!(quiet.read(&mut buf).is_err(), "no answer, not closed");
    server.stop();
}
