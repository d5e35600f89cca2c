//! The `/api/v1` HTTP API against the real server: every call, signed the documented way, and
//! every refusal (missing, malformed or wrong signatures, stale timestamps, replayed nonces,
//! unknown apps, another app's rooms, bad JSON, oversized bodies).

#[path = "common/api.rs"]
mod api;
mod common;
#[path = "common/peers.rs"]
mod peers;

use std::time::Duration;

use api::{Api, banner_secret, now, parsed};
use common::{Server, data_dir, join, ok, request};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn every_call_works_for_the_app_that_signs_it() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let mut api = Api::new(&server, server.app_id, &banner_secret(&server));
    assert_eq!(api.ok("GET", "/api/v1/rooms", None), json!({"rooms": []}));

    // A token minted by the API logs in.
    let minted = api.ok("POST", "/api/v1/tokens", Some(json!({"userID": "A", "roomID": "r1", "ttl": 600})));
    assert!(minted["token"].as_str().unwrap().starts_with("04"));
    assert!(minted["expire"].as_i64().unwrap() > now());
    let inspect = ok(
        &data,
        &["token", "inspect", "--app-id", &server.app_id.to_string(), "--token", minted["token"].as_str().unwrap()],
    );
    assert!(inspect.contains("\"r1\""), "{inspect}");
    let (mut a, _) = join(&server, &data, "r1", "A").await;
    let (mut b, _) = join(&server, &data, "r1", "B").await;
    let (mut c, _) = join(&server, &data, "r2", "C").await;
    assert_eq!(a.push("roomUserUpdate", WAIT).await.unwrap()["data"]["updateType"], "ADD");

    let rooms = api.ok("GET", "/api/v1/rooms", None);
    assert_eq!(rooms["rooms"][0], json!({"roomID": "r1", "onlineCount": 2, "streamCount": 0}));
    let detail = api.ok("GET", "/api/v1/rooms/r1", None);
    assert_eq!(detail["users"], json!([{"userID": "A", "userName": "A"}, {"userID": "B", "userName": "B"}]));
    let page = api.ok("GET", "/api/v1/rooms/r1/users?offset=0&limit=1", None);
    assert_eq!((page["total"].as_u64(), page["nextOffset"].as_u64()), (Some(2), Some(1)));
    assert_eq!(page["users"][0]["userID"], "A");

    // The server speaks into the room.
    let sent = api.ok("POST", "/api/v1/rooms/r1/messages", Some(json!({"message": "maintenance at noon"})));
    assert!(sent["messageID"].is_u64());
    for client in [&mut a, &mut b] {
        let m = client.push("IMRecvBroadcastMessage", WAIT).await.unwrap();
        assert_eq!(m["data"]["messageList"][0]["fromUser"]["userID"], "$server");
    }
    let cmd = api.ok("POST", "/api/v1/rooms/r1/commands", Some(json!({"command": "ring", "toUserIDList": ["B"]})));
    assert_eq!(cmd["delivered"], 1);
    assert_eq!(b.push("IMRecvCustomCommand", WAIT).await.unwrap()["data"]["command"], "ring");
    api.ok("PUT", "/api/v1/rooms/r1/extra-info", Some(json!({"key": "topic", "value": "launch"})));
    assert_eq!(a.push("roomExtraInfoUpdate", WAIT).await.unwrap()["data"]["roomExtraInfoList"][0]["value"], "launch");

    // A live stream is listed and can be stopped.
    let url = ok(
        &data,
        &[
            "url",
            "publish",
            "--app-id",
            &server.app_id.to_string(),
            "--stream-id",
            "cam",
            "--room-id",
            "r1",
            "--user-id",
            "B",
            "--public-rtmp-url",
            &format!("rtmp://{}", server.rtmp),
        ],
    );
    let mut ffmpeg = peers::publish(url.trim(), peers::Content::AudioVideo, 30);
    assert_eq!(a.push("roomStreamUpdate", WAIT).await.unwrap()["data"]["updateType"], "ADD");
    let streams = api.ok("GET", "/api/v1/streams", None);
    assert_eq!(
        (streams["streams"][0]["streamID"].as_str(), streams["streams"][0]["roomID"].as_str()),
        (Some("cam"), Some("r1"))
    );
    assert_eq!(api.ok("GET", "/api/v1/rooms", None)["rooms"][0]["streamCount"], 1);
    api.ok("POST", "/api/v1/streams/cam/stop", None);
    let del = a.push("roomStreamUpdate", WAIT).await.unwrap();
    assert_eq!(del["data"]["updateType"], "DELETE", "{del} {:?}", a.queued());
    assert!(ffmpeg.wait_exit(WAIT).is_some(), "the publisher's connection was cut");
    let (status, v) = api.call("POST", "/api/v1/streams/cam/stop", None);
    assert_eq!((status, v["code"].as_str()), (404, Some("stream_not_found")));

    // Kick one user; close a room.
    let (status, v) = api.call("POST", "/api/v1/rooms/r1/kick", Some(json!({"userID": "C"})));
    assert_eq!((status, v["code"].as_str()), (404, Some("user_not_found")));
    api.ok("POST", "/api/v1/rooms/r1/kick", Some(json!({"userID": "B"})));
    assert_eq!(b.push("kickout", WAIT).await.unwrap()["data"]["reason"], "kicked_by_server");
    assert_eq!(b.closed(WAIT).await.unwrap()["reason"], "kicked_by_server");
    assert_eq!(a.push("roomUserUpdate", WAIT).await.unwrap()["data"]["updateType"], "DELETE");
    assert_eq!(api.ok("POST", "/api/v1/rooms/r2/close", None), json!({"kicked": 1}));
    assert_eq!(c.push("kickout", WAIT).await.unwrap()["data"]["reason"], "room_closed");
    let (status, v) = api.call("GET", "/api/v1/rooms/r2", None);
    assert_eq!((status, v["code"].as_str()), (404, Some("room_not_found")));

    // The description of it all.
    let spec = common::get(server.http, "/api/v1/openapi.json");
    let spec: Value = serde_json::from_str(&spec.body).unwrap();
    assert_eq!(spec["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    for path in [
        "/rooms",
        "/rooms/{roomID}/kick",
        "/rooms/{roomID}/quality",
        "/streams/{streamID}/stop",
        "/tokens",
        "/nodes",
        "/mixer-tasks",
        "/mixer-tasks/{taskID}",
    ] {
        assert!(spec["paths"].get(path).is_some(), "openapi.json lacks {path}");
    }
}

#[tokio::test]
async fn refusals_have_documented_codes() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let secret = banner_secret(&server);
    let mut api = Api::new(&server, server.app_id, &secret);
    let (_a, _) = join(&server, &data, "r1", "A").await;
    let addr = server.http;
    let send = |headers: &[(&str, String)], method: &str, path: &str, body: &[u8]| {
        parsed(request(addr, method, path, headers, body, None))
    };
    let code = |r: (u16, Value)| (r.0, r.1["code"].as_str().unwrap_or("").to_owned());

    assert_eq!(code(send(&[], "GET", "/api/v1/rooms", b"")), (401, "auth_missing".into()));
    let mut h = api.headers("GET", "/api/v1/rooms", b"", now());
    h[3].1 = "0".repeat(64);
    assert_eq!(code(send(&h, "GET", "/api/v1/rooms", b"")), (401, "auth_bad_signature".into()));
    let h = api.headers("GET", "/api/v1/rooms", b"", now());
    assert_eq!(
        code(send(&h, "GET", "/api/v1/rooms/r1", b"")),
        (401, "auth_bad_signature".into()),
        "signed another path"
    );
    let h = api.headers("GET", "/api/v1/rooms", b"", now() - 3600);
    assert_eq!(code(send(&h, "GET", "/api/v1/rooms", b"")), (401, "auth_stale_timestamp".into()));
    let h = api.headers("GET", "/api/v1/rooms", b"", now());
    assert_eq!(send(&h, "GET", "/api/v1/rooms", b"").0, 200);
    assert_eq!(code(send(&h, "GET", "/api/v1/rooms", b"")), (401, "auth_nonce_reused".into()), "a replay");
    let mut h = api.headers("GET", "/api/v1/rooms", b"", now());
    h[2].1 = "bad nonce!".into();
    assert_eq!(code(send(&h, "GET", "/api/v1/rooms", b"")), (401, "auth_malformed".into()));
    let mut stranger = Api::new(&server, 4_000_000_000, &secret);
    assert_eq!(code(stranger.call("GET", "/api/v1/rooms", None)), (401, "unknown_app".into()));

    // Another app sees none of this app's rooms.
    let other: Value = serde_json::from_str(&ok(&data, &["app", "create", "--json"])).unwrap();
    let mut other =
        Api::new(&server, other["app_id"].as_u64().unwrap() as u32, other["server_secret"].as_str().unwrap());
    assert_eq!(other.ok("GET", "/api/v1/rooms", None), json!({"rooms": []}));
    assert_eq!(code(other.call("GET", "/api/v1/rooms/r1", None)), (404, "room_not_found".into()));
    assert_eq!(
        code(other.call("POST", "/api/v1/rooms/r1/kick", Some(json!({"userID": "A"})))),
        (404, "room_not_found".into())
    );

    // Bad bodies and fields.
    let h = api.headers("POST", "/api/v1/rooms/r1/kick", b"{not json", now());
    assert_eq!(code(send(&h, "POST", "/api/v1/rooms/r1/kick", b"{not json")), (400, "invalid_json".into()));
    assert_eq!(
        code(api.call("POST", "/api/v1/rooms/r1/kick", Some(json!({"userID": "A", "extra": 1})))),
        (400, "invalid_json".into())
    );
    assert_eq!(
        code(api.call("POST", "/api/v1/rooms/r1/messages", Some(json!({"message": ""})))),
        (400, "invalid_field".into())
    );
    assert_eq!(
        code(api.call("POST", "/api/v1/rooms/r1/messages", Some(json!({"message": "x".repeat(2000)})))),
        (400, "invalid_field".into())
    );
    assert_eq!(code(api.call("GET", "/api/v1/rooms/bad%20room", None)), (400, "invalid_field".into()));
    assert_eq!(code(api.call("GET", "/api/v1/rooms/r1/users?limit=0", None)), (400, "invalid_field".into()));
    assert_eq!(
        code(api.call("POST", "/api/v1/tokens", Some(json!({"userID": "u", "ttl": 0})))),
        (400, "invalid_field".into())
    );
    assert_eq!(code(api.call("POST", "/api/v1/streams/bad.id/stop", None)), (400, "invalid_field".into()));
    let h = api.headers("POST", "/api/v1/tokens", b"", now());
    let big = request(addr, "POST", "/api/v1/tokens", &h, b"", Some(100_000));
    assert_eq!(code(parsed(big)), (413, "body_too_large".into()));
    assert_eq!(code(api.call("GET", "/api/v1/nope", None)), (404, "not_found".into()));
}

#[test]
fn the_documented_shell_signing_works() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/duet-api.sh");
    let out = std::process::Command::new("bash")
        .args([script, "POST", "/api/v1/tokens", r#"{"userID":"alice","ttl":60}"#])
        .env("DUET_APP_ID", server.app_id.to_string())
        .env("DUET_SECRET", banner_secret(&server))
        .env("DUET_URL", format!("http://{}", server.http))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["userID"], "alice", "{v}");
}
