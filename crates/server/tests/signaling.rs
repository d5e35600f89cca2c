//! Signaling over real WebSockets against `duet serve`: the seeds' call flow, kick-out, resume
//! with missed deltas, grace expiry, token expiry, heartbeats, and hostile input.

mod common;

use std::time::Duration;

use common::{Server, data_dir, join, ok};
use duet_client::{Client, LoginParams};
use duet_token::{AppSecret, Cipher, Grant, MintRequest};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(5);

fn ws_url(server: &Server) -> String {
    format!("ws://{}/ws", server.http)
}

fn user_ids(push: &Value) -> Vec<&str> {
    push["data"]["userList"].as_array().unwrap().iter().map(|u| u["userID"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn seeds_flow_users_messages_publish_and_logout() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let (mut a, _) = join(&server, &data, "room-1", "A").await;
    assert_eq!(a.hello["data"]["heartbeatMs"], 10_000);
    let (mut b, b_login) = join(&server, &data, "room-1", "B").await;
    assert_eq!(b_login["users"][0]["userID"], "A");

    let add = a.push("roomUserUpdate", WAIT).await.unwrap();
    assert_eq!((add["data"]["updateType"].as_str(), user_ids(&add)), (Some("ADD"), vec!["B"]));
    let count = a.push("roomOnlineUserCountUpdate", WAIT).await.unwrap();
    assert_eq!(count["data"]["count"], 2);

    let published = b.ok("publish", json!({"streamID": "streamID_B", "extraInfo": "front"})).await.unwrap();
    let url = published["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("rtmp://{}/{}/streamID_B?expire=", server.rtmp, server.app_id)), "{url}");
    let state = b.push("publisherStateUpdate", WAIT).await.unwrap();
    assert_eq!(state["data"]["state"], "PUBLISH_REQUESTING");
    let play = a.ok("play", json!({"streamID": "streamID_B"})).await.unwrap();
    assert!(
        play["urlsFLV"][0]
            .as_str()
            .unwrap()
            .starts_with(&format!("http://{}/live/{}/streamID_B.flv?", server.http, server.app_id))
    );

    let sent = a.ok("sendBroadcastMessage", json!({"roomID": "room-1", "message": "你好"})).await.unwrap();
    let got = b.push("IMRecvBroadcastMessage", WAIT).await.unwrap();
    let m = &got["data"]["messageList"][0];
    assert_eq!(
        (m["message"].as_str(), &m["messageID"], m["fromUser"]["userID"].as_str()),
        (Some("你好"), &sent["messageID"], Some("A"))
    );
    a.ok("sendCustomCommand", json!({"roomID": "room-1", "command": "ring", "toUserIDList": ["B"]})).await.unwrap();
    assert_eq!(b.push("IMRecvCustomCommand", WAIT).await.unwrap()["data"]["command"], "ring");
    b.ok("setRoomExtraInfo", json!({"roomID": "room-1", "key": "k", "value": "v"})).await.unwrap();
    assert_eq!(a.push("roomExtraInfoUpdate", WAIT).await.unwrap()["data"]["roomExtraInfoList"][0]["value"], "v");

    b.ok("logout", json!({"roomID": "room-1"})).await.unwrap();
    let del = a.push("roomUserUpdate", WAIT).await.unwrap();
    assert_eq!((del["data"]["updateType"].as_str(), user_ids(&del)), (Some("DELETE"), vec!["B"]));

    // The hub updates its gauges after it has sent the pushes of a request: poll briefly.
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = common::get(server.http, "/metrics").body;
        if metrics.contains("duet_signaling_sessions 1\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(metrics.contains("duet_signaling_sessions 1\n"), "{metrics}");
    assert!(metrics.contains("duet_rooms 1\n"), "{metrics}");
}

#[tokio::test]
async fn same_user_elsewhere_kicks_the_first_connection_out() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let (mut first, _) = join(&server, &data, "room", "A").await;
    let (mut watcher, _) = join(&server, &data, "room", "W").await;
    let (_second, _) = join(&server, &data, "room", "A").await;

    let kick = first.push("kickout", WAIT).await.unwrap();
    assert_eq!((kick["data"]["code"].as_u64(), kick["data"]["reason"].as_str()), (Some(41000), Some("kicked_out")));
    assert_eq!(first.closed(WAIT).await.unwrap()["reason"], "kicked_out");
    let changes: Vec<String> =
        [watcher.push("roomUserUpdate", WAIT).await.unwrap(), watcher.push("roomUserUpdate", WAIT).await.unwrap()]
            .iter()
            .map(|p| p["data"]["updateType"].as_str().unwrap().to_owned())
            .collect();
    assert_eq!(changes, ["DELETE", "ADD"]);
}

#[tokio::test]
async fn a_dropped_client_resumes_and_gets_what_it_missed() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let (mut a, _) = join(&server, &data, "room", "A").await;
    let (b, b_login) = join(&server, &data, "room", "B").await;
    let seqs = b.seqs.clone();
    b.drop_connection().await;

    let (_c, _) = join(&server, &data, "room", "C").await;
    a.ok("sendBroadcastMessage", json!({"roomID": "room", "message": "missed"})).await.unwrap();

    let mut b2 = Client::connect(&ws_url(&server)).await.unwrap();
    let resumed = b2
        .ok("resume", json!({"sessionID": b_login["sessionID"], "resumeToken": b_login["resumeToken"], "rooms": seqs}))
        .await
        .unwrap();
    assert_eq!(resumed["rooms"][0]["replayed"], true, "{resumed}");
    assert_eq!(user_ids(&b2.push("roomUserUpdate", WAIT).await.unwrap()), ["C"]);
    assert_eq!(b2.push("IMRecvBroadcastMessage", WAIT).await.unwrap()["data"]["messageList"][0]["message"], "missed");
    b2.ok("sendBroadcastMessage", json!({"roomID": "room", "message": "back"})).await.unwrap();
    assert_eq!(a.push("IMRecvBroadcastMessage", WAIT).await.unwrap()["data"]["messageList"][0]["message"], "back");

    // A saw B and C arrive, and never saw B leave.
    let mut seen = Vec::new();
    while let Some(p) = a.next_push(Duration::from_millis(300)).await.unwrap() {
        if p["push"] == "roomUserUpdate" {
            seen.push(format!("{} {}", p["data"]["updateType"].as_str().unwrap(), user_ids(&p).join(",")));
        }
    }
    seen.extend(a.queued().iter().filter(|p| p["push"] == "roomUserUpdate").map(|p| p.to_string()));
    assert_eq!(seen, ["ADD B", "ADD C"]);
}

#[tokio::test]
async fn after_the_grace_period_the_user_is_removed() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &["--resume-grace-secs", "1"]);
    let (mut a, _) = join(&server, &data, "room", "A").await;
    let (b, b_login) = join(&server, &data, "room", "B").await;
    a.push("roomUserUpdate", WAIT).await.unwrap();
    b.drop_connection().await;
    let del = a.push("roomUserUpdate", WAIT).await.unwrap();
    assert_eq!((del["data"]["updateType"].as_str(), user_ids(&del)), (Some("DELETE"), vec!["B"]));
    let mut late = Client::connect(&ws_url(&server)).await.unwrap();
    let r = late
        .request("resume", json!({"sessionID": b_login["sessionID"], "resumeToken": b_login["resumeToken"]}))
        .await
        .unwrap();
    assert_eq!(r["reason"], "resume_failed");
}

#[tokio::test]
async fn an_expiring_token_warns_then_ends_the_session() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let shown: Value =
        serde_json::from_str(&ok(&data, &["app", "show", "--app-id", &server.app_id.to_string(), "--json"])).unwrap();
    let secret = AppSecret::new(shown["server_secret"].as_str().unwrap()).unwrap();
    // Expired 27 s ago: still inside the 30 s clock-skew allowance, so login succeeds and the
    // session ends about 3 s later.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let grant = Grant::everything();
    let req = MintRequest {
        app_id: server.app_id,
        user_id: "A",
        grant: &grant,
        ctime: now - 87,
        ttl_secs: 60,
        nonce: 1,
        cipher: Cipher::Cbc,
    };
    let tok = duet_token::mint(&req, &secret, [5; 16]).unwrap();

    let mut a = Client::connect(&ws_url(&server)).await.unwrap();
    let r = a
        .login(&LoginParams {
            app_id: server.app_id,
            room_id: "room",
            token: &tok,
            user_id: "A",
            user_name: "A",
            user_update: false,
        })
        .await
        .unwrap();
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(a.push("tokenWillExpire", WAIT).await.unwrap()["data"]["roomID"], "room");
    let kick = a.push("kickout", Duration::from_secs(10)).await.unwrap();
    assert_eq!(kick["data"]["reason"], "token_expired");
    assert_eq!(a.closed(WAIT).await.unwrap()["code"], 40104);
}

#[tokio::test]
async fn silent_connections_are_dropped_after_three_heartbeats() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &["--heartbeat-secs", "1"]);
    let (mut quiet, _) = join(&server, &data, "room", "Q").await;
    let (mut chatty, _) = join(&server, &data, "room", "C").await;
    assert_eq!(quiet.hello["data"]["heartbeatMs"], 1000);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        chatty.ok("ping", json!({})).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(quiet.closed(WAIT).await.unwrap()["reason"], "heartbeat_timeout");
    assert!(chatty.closed.is_none(), "a client that pings stays");
}

#[tokio::test]
async fn hostile_input_gets_codes_and_spares_others() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let (mut bystander, _) = join(&server, &data, "room", "B").await;
    let mut c = Client::connect(&ws_url(&server)).await.unwrap();

    let cases: [(String, u64); 6] = [
        ("{oops".into(), 40000),
        (r#"{"id":1,"op":"warp"}"#.into(), 40001),
        (r#"{"id":2,"op":"play","data":{"streamID":"../../etc"}}"#.into(), 40002),
        (r#"{"id":3,"op":"publish","data":{"streamID":"s"}}"#.into(), 40004),
        (format!(r#"{{"id":4,"op":"ping","data":{{"pad":"{}"}}}}"#, "x".repeat(20_000)), 40003),
        (
            r#"{"id":5,"op":"login","data":{"protocol":1,"appID":1,"roomID":"r","token":"04x","user":{"userID":"u"}}}"#
                .into(),
            40100,
        ),
    ];
    for (text, code) in cases {
        c.send_text(text.clone()).await.unwrap();
        let r = c.any_reply().await.unwrap();
        assert_eq!(r["code"], code, "{}: {r}", &text[..text.len().min(60)]);
    }
    assert_eq!(c.request("ping", json!({})).await.unwrap()["code"], 0, "the connection stays");

    // Beyond the WebSocket limit the connection is closed; others are unaffected.
    let _ = c.send_text("x".repeat(200_000)).await;
    c.closed(WAIT).await.unwrap();
    assert_eq!(bystander.request("ping", json!({})).await.unwrap()["code"], 0);
}

#[tokio::test]
async fn shutdown_tells_clients() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let (mut a, _) = join(&server, &data, "room", "A").await;
    let status = server.stop();
    assert!(status.success());
    assert_eq!(a.closed(WAIT).await.unwrap()["reason"], "server_shutdown");
}

/// A secret rotated while members are logged in (with `duet app rotate-secret`, from another
/// process) reaches the play URLs signaling hands out within seconds, without a new login.
#[tokio::test]
async fn a_rotated_secret_reaches_play_urls_without_a_new_login() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let (mut a, _) = join(&server, &data, "room-1", "A").await;
    let status = |url: &str| {
        let path = &url[url.find("/live/").unwrap()..];
        let res = common::get(server.http, path);
        (res.status, serde_json::from_str::<Value>(&res.body).map(|b| b["code"].clone()).unwrap_or_default())
    };
    let play = a.ok("play", json!({"streamID": "cam"})).await.unwrap();
    assert_eq!(status(play["urlsFLV"][0].as_str().unwrap()), (404, json!("stream_not_found")), "signed right");
    ok(&data, &["app", "rotate-secret", "--app-id", &server.app_id.to_string()]);
    // Bounded: the server notices the rotation within a few seconds.
    let mut last = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let play = a.ok("play", json!({"streamID": "cam"})).await.unwrap();
        let got = status(play["urlsFLV"][0].as_str().unwrap());
        if got == (404, json!("stream_not_found")) {
            return;
        }
        last = Some(got);
    }
    panic!("play URLs are still signed with the old secret 10 s after the rotation: {last:?}");
}
