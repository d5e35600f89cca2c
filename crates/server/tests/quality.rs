//! Call quality through the real server: members report what their players and publishers
//! measured (`reportQuality` on their signaling connection), and the room's history (members,
//! timeline, each stream's samples per reporter) comes back from `GET
//! /api/v1/rooms/{roomID}/quality`, with totals on `/metrics`.

#[path = "common/api.rs"]
mod api;
mod common;

use api::{Api, banner_secret};
use common::{Server, data_dir, get, join};
use serde_json::json;

#[tokio::test]
async fn reports_become_the_rooms_quality_history() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let mut api = Api::new(&server, server.app_id, &banner_secret(&server));
    let (mut a, _) = join(&server, &data, "call", "A").await;
    let (mut b, _) = join(&server, &data, "call", "B").await;
    b.ok("publish", json!({"streamID": "b-cam"})).await.unwrap();

    let play = json!({"streams": [{"streamID": "b-cam", "role": "play", "videoKbps": 790, "audioKbps": 48, "fps": 15,
        "width": 640, "height": 360, "cacheMs": 120, "stalls": 1}]});
    a.ok("reportQuality", play).await.unwrap();
    let publish = json!({"roomID": "call", "streams": [{"streamID": "b-cam", "role": "publish", "videoKbps": 805, "fps": 15, "reconnects": 1}]});
    b.ok("reportQuality", publish.clone()).await.unwrap();
    // Sooner than 4 s after B's previous sample: accepted, not kept.
    b.ok("reportQuality", publish).await.unwrap();
    // Refusals: a stream the room does not have, a malformed number.
    let r = a.request("reportQuality", json!({"streams": [{"streamID": "nobody", "role": "play"}]})).await.unwrap();
    assert_eq!(r["code"], 40402, "{r}");
    let r = a
        .request("reportQuality", json!({"streams": [{"streamID": "b-cam", "role": "play", "fps": 1e9}]}))
        .await
        .unwrap();
    assert_eq!(r["code"], 40002, "{r}");

    let h = api.ok("GET", "/api/v1/rooms/call/quality", None);
    let users: Vec<&str> = h["members"].as_array().unwrap().iter().map(|m| m["userID"].as_str().unwrap()).collect();
    assert_eq!(users, ["A", "B"], "{h}");
    assert!(h["members"][0]["joinedAt"].as_u64().unwrap() > 0 && h["members"][0]["leftAt"].is_null(), "{h}");
    let types: Vec<&str> = h["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["user.login", "user.login"], "{h}");
    let stream = &h["streams"][0];
    assert_eq!((stream["streamID"].as_str(), stream["series"].as_array().unwrap().len()), (Some("b-cam"), 2), "{h}");
    let of = |user: &str| stream["series"].as_array().unwrap().iter().find(|s| s["userID"] == user).unwrap().clone();
    let (a_series, b_series) = (of("A"), of("B"));
    assert_eq!((a_series["role"].as_str(), b_series["role"].as_str()), (Some("play"), Some("publish")));
    let a_sample = &a_series["samples"][0];
    assert_eq!(
        (a_sample["videoKbps"].as_f64(), a_sample["cacheMs"].as_f64(), a_sample["stalls"].as_u64()),
        (Some(790.0), Some(120.0), Some(1))
    );
    assert_eq!(b_series["samples"].as_array().unwrap().len(), 1);

    // Rooms without a call, and another app, see nothing.
    let (status, body) = api.call("GET", "/api/v1/rooms/elsewhere/quality", None);
    assert_eq!((status, body["code"].as_str()), (404, Some("room_not_found")));

    let metrics = get(server.http, "/metrics").body;
    for line in [
        "duet_quality_samples_total 2",
        "duet_quality_samples_dropped_total 1",
        "duet_quality_stalls_total 1",
        "duet_quality_reconnects_total 2",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}
