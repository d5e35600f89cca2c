//! Sources WebRTC players cannot play are reported: H.264 with B-frames published over RTMP
//! shows its problem in the API's stream list and room detail (what the console shows), fires
//! `stream.unplayable` and logs one warning; a baseline stream beside it shows none. A WHEP
//! play of the B-frames stream is refused `webrtc_unplayable` with the reason; the baseline
//! one is answered.

#[path = "common/api.rs"]
mod api;
mod common;
#[path = "common/peers.rs"]
mod peers;
#[path = "common/receiver.rs"]
mod receiver;
#[path = "common/whip.rs"]
mod whip_helpers;

use std::path::Path;
use std::time::{Duration, Instant};

use api::{Api, banner_secret};
use common::{Server, data_dir, join, ok};
use peers::{Content, publish};
use receiver::{ANSWER_OK, Receiver, set_webhook};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

/// A publish URL of `stream` in room `r` by user `u`.
fn publish_url(data: &Path, server: &Server, stream: &str) -> String {
    let app_id = server.app_id.to_string();
    let rtmp = format!("rtmp://{}", server.rtmp);
    let args = ["url", "publish", "--app-id", &app_id, "--stream-id", stream, "--room-id", "r", "--user-id", "u"];
    let mut args = args.to_vec();
    args.extend_from_slice(&["--public-rtmp-url", &rtmp]);
    ok(data, &args).trim().to_owned()
}

/// The API's entry for `stream_id` once it is live and `done` holds for it.
fn stream_info(api: &mut Api, stream_id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let streams = api.ok("GET", "/api/v1/streams", None);
        let found = streams["streams"].as_array().unwrap().iter().find(|s| s["streamID"] == stream_id).cloned();
        match found {
            Some(s) if done(&s) => return s,
            other => assert!(Instant::now() < deadline, "{stream_id} never got there: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn bframes_are_reported_in_stream_info_and_a_webhook_and_baseline_is_not() {
    let receiver = Receiver::start(ANSWER_OK);
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    set_webhook(&data, server.app_id, &receiver.url());
    let mut api = Api::new(&server, server.app_id, &banner_secret(&server));
    let (_member, _) = join(&server, &data, "r", "A").await; // the room is open

    let _bframes = publish(&publish_url(&data, &server, "bf"), Content::BFrames, 30);
    let _baseline = publish(&publish_url(&data, &server, "plain"), Content::AudioVideo, 30);

    let bf = stream_info(&mut api, "bf", |s| !s["webrtcProblem"].is_null());
    assert_eq!(bf["webrtcProblem"]["code"], "bframes", "{bf}");
    let reason = bf["webrtcProblem"]["reason"].as_str().unwrap();
    assert!(reason.contains("B-frames"), "{reason}");
    // The baseline stream has been live as long: frames enough to show reordering if it had any
    // (a second more of them, to be sure).
    std::thread::sleep(Duration::from_secs(1));
    let plain = stream_info(&mut api, "plain", |s| s.get("webrtcProblem").is_some());
    assert_eq!(plain["webrtcProblem"], Value::Null, "{plain}");

    let detail = api.ok("GET", "/api/v1/rooms/r", None);
    let in_room: Vec<(&str, &Value)> = detail["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["streamID"].as_str().unwrap(), &s["webrtcProblem"]["code"]))
        .collect();
    assert_eq!(in_room, [("bf", &Value::from("bframes")), ("plain", &Value::Null)]);

    // room.created, user.login, two stream.created, one stream.unplayable.
    let events = receiver.wait_for(5, WAIT);
    let unplayable: Vec<&Value> = events.iter().filter(|e| e["event"] == "stream.unplayable").collect();
    assert_eq!(unplayable.len(), 1, "{events:?}");
    let event = &unplayable[0]["data"];
    assert_eq!(
        (event["streamID"].as_str(), event["roomID"].as_str(), event["userID"].as_str()),
        (Some("bf"), Some("r"), Some("u"))
    );
    assert_eq!((event["code"].as_str(), event["reason"].as_str()), (Some("bframes"), Some(reason)));
    let log = server.stderr();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("not playable over WebRTC")).collect();
    assert_eq!(warnings.len(), 1, "one warning, for bf: {log}");
    assert!(warnings[0].contains("WARN") && warnings[0].contains("stream=bf"), "{}", warnings[0]);

    // A browser asking to play it over WHEP is told why, instead of getting a broken picture.
    let whep = |stream: &str| {
        let (app, http) = (server.app_id.to_string(), format!("http://{}", server.http));
        let args =
            ["url", "play", "--format", "whep", "--app-id", &app, "--stream-id", stream, "--public-http-url", &http];
        let url = ok(&data, &args).trim().to_owned();
        let offer = whip_helpers::offer("H264", whip_helpers::H264).replace("a=sendonly", "a=recvonly");
        whip_helpers::post_sdp(&server, url.strip_prefix(&http).unwrap(), "application/sdp", &offer)
    };
    let refused = whep("bf");
    assert_eq!(refused.status, 406, "{}", refused.body);
    let body: Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(body["code"], "webrtc_unplayable");
    assert!(body["message"].as_str().unwrap().contains("B-frames"), "{body}");
    assert_eq!(whep("plain").status, 201, "a baseline stream plays over WHEP");
}
