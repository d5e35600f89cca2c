//! Rooms across the nodes of a cluster (docs/cluster.md): members of one room on different
//! nodes hold one call (one order, messages, streams played from the node dialled, resume on
//! any node, the HTTP API from any node), a call goes on after the node holding its room is
//! killed, each webhook event is sent once, and one user has one session in the whole cluster.
//! Real `duet serve` nodes on Debian's redis-server, the Rust signaling client, RTMP and FLV.

#[path = "common/api.rs"]
mod api;
#[path = "common/cluster.rs"]
mod cluster;
mod common;
#[path = "common/receiver.rs"]
mod receiver;
#[path = "common/redis.rs"]
mod redis_server;
#[path = "common/streams.rs"]
mod streams;

use std::time::{Duration, Instant};

use api::Api;
use cluster::{
    APP_ID, SECRET, WAIT, cluster_cli, join_on, login, member, mint, names_node, node_with, recover, three_nodes,
    user_ids, wait_cluster,
};
use common::Server;
use receiver::Receiver;
use redis_server::Redis;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_of_one_room_on_three_nodes_hold_one_call() {
    let redis = Redis::start();
    let cli = cluster_cli(&redis);
    let nodes = three_nodes(&redis).await;
    let (a, b, c) = (&nodes[0].1, &nodes[1].1, &nodes[2].1);

    // Alice logs in first, on A: A becomes the room's home. Bob joins from B and sees her.
    let mut alice = member(a, &redis, &cli, "alice", "call").await;
    let (code, mut bob) = login(b, APP_ID, &mint(&redis, &cli, "bob"), "bob", "call").await;
    assert_eq!(code, 0);
    let bob_ids = bob.queued().clone();
    assert!(bob_ids.is_empty(), "no stray pushes: {bob_ids:?}");
    let joined = alice.push("roomUserUpdate", WAIT).await.unwrap();
    assert_eq!(user_ids(&joined), ["bob"]);
    // Carol joins from C: Alice and Bob hear it as one event, with one seq.
    let (mut carol, carol_login) = join_on(c, &redis, &cli, "carol", "call").await;
    let (to_alice, to_bob) =
        (alice.push("roomUserUpdate", WAIT).await.unwrap(), bob.push("roomUserUpdate", WAIT).await.unwrap());
    assert_eq!((user_ids(&to_alice), user_ids(&to_bob)), (vec!["carol".to_owned()], vec!["carol".to_owned()]));
    assert_eq!(to_alice["seq"], to_bob["seq"], "one order for the room whichever node a member is on");
    let relayed = |server: &Server| common::metric(server, "duet_signaling_relayed_connections");
    assert_eq!((relayed(a), relayed(b), relayed(c)), (0, 1, 1), "B and C relay their member to A");

    // Messages, commands and extra info cross the nodes.
    bob.ok("sendBroadcastMessage", json!({"roomID": "call", "message": "hi from B"})).await.unwrap();
    for member in [&mut alice, &mut carol] {
        let got = member.push("IMRecvBroadcastMessage", WAIT).await.unwrap();
        assert_eq!(got["data"]["messageList"][0]["message"], "hi from B");
    }
    let sent =
        carol.ok("sendCustomCommand", json!({"roomID": "call", "command": "mute", "toUserIDList": ["alice"]})).await;
    assert_eq!(sent.unwrap()["delivered"], 1);
    assert_eq!(alice.push("IMRecvCustomCommand", WAIT).await.unwrap()["data"]["command"], "mute");
    alice.ok("setRoomExtraInfo", json!({"roomID": "call", "key": "topic", "value": "cluster"})).await.unwrap();
    for member in [&mut bob, &mut carol] {
        let got = member.push("roomExtraInfoUpdate", WAIT).await.unwrap();
        assert_eq!(got["data"]["roomExtraInfoList"][0]["value"], "cluster", "{got}");
    }

    // Bob publishes: the URL is the room's home (A); Alice and Carol are told, each with play
    // URLs of the node she dialled, and Carol's node pulls the stream from A to play it.
    let published = bob.ok("publish", json!({"roomID": "call", "streamID": "bob-cam"})).await.unwrap();
    let url = published["url"].as_str().unwrap().to_owned();
    assert!(names_node(&url, a), "published to the room's home: {url}");
    let mut publisher = streams::rtmp_publisher(&url).await;
    publisher.send_media(9, 0, b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e").await.unwrap();
    publisher.send_media(9, 0, b"\x17\x01\x00\x00\x00KEY-bob").await.unwrap();
    let on_a = alice.push("roomStreamUpdate", WAIT).await.unwrap();
    let on_c = carol.push("roomStreamUpdate", WAIT).await.unwrap();
    assert_eq!(on_a["seq"], on_c["seq"]);
    let flv = |push: &Value| push["data"]["streamList"][0]["urlsFLV"][0].as_str().unwrap().to_owned();
    assert!(names_node(&flv(&on_a), a), "{on_a}");
    assert!(names_node(&flv(&on_c), c), "{on_c}");
    let whep = on_c["data"]["streamList"][0]["whepURL"].as_str().unwrap();
    assert!(names_node(whep, c), "{whep}");
    let grant = carol.ok("play", json!({"streamID": "bob-cam"})).await.unwrap();
    assert!(names_node(grant["url"].as_str().unwrap(), c), "a play grant names the node dialled: {grant}");
    let mut player = streams::flv_player(c, &flv(&on_c));
    streams::read_until(&mut player, &mut Vec::new(), b"KEY-bob");
    assert_eq!(common::metric(a, "duet_media_players"), 1, "C pulls from the origin");

    // A second room of Bob's connection (multi-room) homed elsewhere is refused with its code.
    let (code, _dave) = login(c, APP_ID, &mint(&redis, &cli, "dave"), "dave", "other").await;
    assert_eq!(code, 0, "C is the home of room `other`");
    let token = mint(&redis, &cli, "bob");
    let second = bob
        .request(
            "login",
            json!({"protocol": 1, "appID": APP_ID, "roomID": "other", "token": token, "multiRoom": true,
                "user": {"userID": "bob", "userName": "bob"}}),
        )
        .await
        .unwrap();
    assert_eq!(second["reason"], "room_on_other_node", "{second}");

    // Carol's connection drops; she resumes on B: B relays to the home, which replays what she
    // missed.
    let seq = carol.seqs.clone();
    carol.drop_connection().await;
    bob.ok("sendBroadcastMessage", json!({"roomID": "call", "message": "while away"})).await.unwrap();
    let mut carol = duet_client::Client::connect(&format!("ws://{}/ws", b.http)).await.unwrap();
    let resumed = carol
        .ok(
            "resume",
            json!({"sessionID": carol_login["sessionID"], "resumeToken": carol_login["resumeToken"], "rooms": seq}),
        )
        .await
        .unwrap();
    assert_eq!(resumed["rooms"][0]["replayed"], true, "{resumed}");
    let missed = carol.push("IMRecvBroadcastMessage", WAIT).await.unwrap();
    assert_eq!(missed["data"]["messageList"][0]["message"], "while away");

    // The HTTP API on any node acts on the whole cluster: a room's details and a kick asked of
    // C run on the room's home (A); the lists join every node's.
    let mut api = Api::new(c, APP_ID, SECRET);
    api.nonce = 1_000_000;
    let room = api.ok("GET", "/api/v1/rooms/call", None);
    let mut in_room: Vec<&str> =
        room["users"].as_array().unwrap().iter().map(|u| u["userID"].as_str().unwrap()).collect();
    in_room.sort_unstable();
    assert_eq!(in_room, ["alice", "bob", "carol"], "{room}");
    let rooms = api.ok("GET", "/api/v1/rooms", None);
    let listed: Vec<(&str, &str)> = rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["roomID"].as_str().unwrap(), r["node"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, [("call", "node-a"), ("other", "node-c")], "{rooms}");
    let streams = Api::new(b, APP_ID, SECRET).ok("GET", "/api/v1/streams", None);
    assert_eq!(streams["streams"][0]["streamID"], "bob-cam", "{streams}");
    assert_eq!(streams["streams"][0]["node"], "node-a");
    api.ok("POST", "/api/v1/rooms/call/kick", Some(json!({"userID": "alice"})));
    let kicked = alice.push("kickout", WAIT).await.unwrap();
    assert_eq!(kicked["data"]["reason"], "kicked_by_server", "{kicked}");
    let (status, body) = api.call("GET", "/api/v1/rooms/nowhere", None);
    assert_eq!((status, body["code"].as_str()), (404, Some("room_not_found")), "{body}");

    // Every room in full, from any node; and the console of any node shows the same.
    let details = api.ok("GET", "/api/v1/rooms?details=true", None);
    let cli_data = cli.path().join("data");
    let password = ["--password", "console-password-1", "--redis-url", &redis.url()];
    common::ok(&cli_data, &[&["admin", "password"][..], &password].concat());
    let cookie = common::console_session_with(b, "console-password-1");
    let path = format!("/console/api/apps/{APP_ID}/live");
    let live = common::request(b.http, "GET", &path, &[("cookie", cookie)], b"", None);
    let live: Value = serde_json::from_str(&live.body).unwrap();
    for seen in [&details, &live] {
        let rooms: Vec<(&str, &str, usize)> = seen["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["roomID"].as_str().unwrap(), r["node"].as_str().unwrap(), r["users"].as_array().unwrap().len()))
            .collect();
        assert_eq!(rooms, [("call", "node-a", 2), ("other", "node-c", 1)], "{seen}");
        assert_eq!(seen["unreachable"], json!([]));
    }
    drop(player);
    drop(publisher);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_goes_on_after_its_home_node_is_killed() {
    let redis = Redis::start();
    let cli = cluster_cli(&redis);
    let [(_a_dir, a), (_b_dir, b), (_c_dir, c)] = three_nodes(&redis).await;
    let (_alice, _) = join_on(&a, &redis, &cli, "alice", "call").await;
    let (mut bob, bob_session) = join_on(&b, &redis, &cli, "bob", "call").await;
    let (mut carol, carol_session) = join_on(&c, &redis, &cli, "carol", "call").await;
    let published = bob.ok("publish", json!({"roomID": "call", "streamID": "bob-cam"})).await.unwrap();
    let mut publisher = streams::rtmp_publisher(published["url"].as_str().unwrap()).await;
    publisher.send_media(9, 0, b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e").await.unwrap();
    publisher.send_media(9, 0, b"\x17\x01\x00\x00\x00KEY-1").await.unwrap();
    carol.push("roomStreamUpdate", WAIT).await.unwrap();
    carol.ok("setRoomExtraInfo", json!({"roomID": "call", "key": "topic", "value": "kept"})).await.unwrap();
    bob.push("roomExtraInfoUpdate", WAIT).await.unwrap();

    // The room's home (and the stream's origin) dies.
    let killed = Instant::now();
    a.crash();
    // Bob's and Carol's nodes lose the relay: their clients are told to reconnect.
    bob.closed(WAIT).await.unwrap();
    carol.closed(WAIT).await.unwrap();
    drop(publisher);

    // Bob gets back in through B, which becomes the room's home (starting from what A recorded
    // of the room: its extra info), and publishes again there.
    let (mut bob, snapshot) = recover(&b, &bob_session, (&redis, &cli), "bob", "call").await;
    assert_eq!(snapshot["extraInfo"][0]["value"], "kept", "the room keeps its state: {snapshot}");
    assert_eq!(snapshot["extraInfo"][0]["updateUser"]["userID"], "carol");
    let published = bob.ok("publish", json!({"roomID": "call", "streamID": "bob-cam"})).await.unwrap();
    let url = published["url"].as_str().unwrap().to_owned();
    assert!(names_node(&url, &b), "the new home takes the publish: {url}");
    let mut publisher = streams::rtmp_publisher(&url).await;
    publisher.send_media(9, 0, b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e").await.unwrap();
    publisher.send_media(9, 0, b"\x17\x01\x00\x00\x00KEY-2").await.unwrap();

    // Carol gets back in through C (relayed to B): she finds Bob and his stream, and plays it
    // from C.
    let (_carol, snapshot) = recover(&c, &carol_session, (&redis, &cli), "carol", "call").await;
    let users: Vec<&str> =
        snapshot["users"].as_array().unwrap().iter().map(|u| u["userID"].as_str().unwrap()).collect();
    assert_eq!(users, ["bob"], "{snapshot}");
    let flv = snapshot["streams"][0]["urlsFLV"][0].as_str().unwrap();
    assert!(names_node(flv, &c), "{snapshot}");
    let mut player = streams::flv_player(&c, flv);
    streams::read_until(&mut player, &mut Vec::new(), b"KEY-2");
    println!("from the kill of the home node to media playing again on another node: {:?}", killed.elapsed());
    assert_eq!(common::metric(&b, "duet_cluster_nodes"), 2);
    drop(publisher);
}

/// A webhook receiver answering as `mode` says, set as the cluster app's webhook by the CLI.
fn cluster_receiver(redis: &Redis, cli: &tempfile::TempDir, mode: u8) -> Receiver {
    let receiver = Receiver::start(mode);
    let url = receiver.url();
    let set = ["app", "webhook", "--app-id", "123456789", "--url", &url, "--secret", receiver::SECRET];
    common::ok(&cli.path().join("data"), &[&set[..], &["--redis-url", &redis.url()]].concat());
    receiver
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_receiver_sees_each_event_of_a_call_across_nodes_once() {
    let redis = Redis::start();
    let cli = cluster_cli(&redis);
    let receiver = cluster_receiver(&redis, &cli, receiver::ANSWER_OK);
    let nodes = three_nodes(&redis).await;
    let (a, b, c) = (&nodes[0].1, &nodes[1].1, &nodes[2].1);
    let mut members = Vec::new();
    for (server, user) in [(&a, "alice"), (&b, "bob"), (&c, "carol")] {
        members.push(join_on(server, &redis, &cli, user, "call").await.0);
    }
    for mut member in members {
        member.ok("logout", json!({})).await.unwrap();
    }
    // room.created, three user.login, three user.logout, room.closed: each once.
    let events = receiver.wait_for(8, Duration::from_secs(10));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let accepted = receiver.accepted.lock().unwrap().len();
    assert_eq!(accepted, 8, "no event delivered twice: {events:?}");
    let mut names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "room.closed",
            "room.created",
            "user.login",
            "user.login",
            "user.login",
            "user.logout",
            "user.logout",
            "user.logout"
        ]
    );
    let ids =
        receiver.accepted.lock().unwrap().iter().map(|d| d.headers["x-duet-delivery"].clone()).collect::<Vec<_>>();
    assert!(ids.iter().all(|id| id.starts_with("node-a-")), "made and sent by the room's home: {ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_events_of_a_node_that_died_are_delivered_by_the_others() {
    let redis = Redis::start();
    let cli = cluster_cli(&redis);
    // The app's receiver is down while the call happens.
    let receiver = cluster_receiver(&redis, &cli, receiver::ANSWER_500);
    let [(_a_dir, a), (_b_dir, _b), (_c_dir, _c)] = three_nodes(&redis).await;
    let (mut alice, _) = join_on(&a, &redis, &cli, "alice", "call").await;
    let published = alice.ok("publish", json!({"roomID": "call", "streamID": "alice-cam"})).await.unwrap();
    let mut publisher = streams::rtmp_publisher(published["url"].as_str().unwrap()).await;
    publisher.send_media(9, 0, b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e").await.unwrap();
    let (_bob, _) = join_on(&a, &redis, &cli, "bob", "call").await;
    alice.push("roomUserUpdate", WAIT).await.unwrap();

    // A dies with its events undelivered (once they reached the cluster's queue: an event made
    // in the last milliseconds before a crash waits in the node's own queue for its restart),
    // and the room, the users and the stream open.
    let start = Instant::now();
    while redis.cli(&["XLEN", "duet:wh:123456789"]) != "4" {
        assert!(start.elapsed() < WAIT, "A's four events reach the cluster's queue");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.crash();
    drop(publisher);
    receiver.mode.store(receiver::ANSWER_OK, std::sync::atomic::Ordering::SeqCst);

    // The others deliver what A made, then close what A left open.
    let events = receiver.wait_for(8, Duration::from_secs(40));
    let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(&names[..4], ["room.created", "user.login", "stream.created", "user.login"], "{events:?}");
    let mut closing: Vec<(&str, &str)> = events[4..]
        .iter()
        .map(|e| (e["event"].as_str().unwrap(), e["data"]["reason"].as_str().unwrap_or("")))
        .collect();
    closing.sort_unstable();
    assert_eq!(
        closing,
        [
            ("room.closed", "server_crash"),
            ("stream.closed", "server_crash"),
            ("user.logout", "server_crash"),
            ("user.logout", "server_crash")
        ],
        "{events:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.distinct().len(), 8, "nothing more: {events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_session_lapsed_while_the_room_moved_finds_the_room_again() {
    let redis = Redis::start();
    let cli = cluster_cli(&redis);
    let start_node = |name: &str| node_with(&redis, name, &["--resume-grace-secs", "1"]);
    let ((_a_dir, a), (_b_dir, b), (_c_dir, c)) = (start_node("node-a"), start_node("node-b"), start_node("node-c"));
    wait_cluster(&[&a, &b, &c], 3).await;
    // The room lives on A; Bob, on B, holds his session on A through B.
    let (mut alice, _) = join_on(&a, &redis, &cli, "alice", "call").await;
    let (bob, bob_session) = join_on(&b, &redis, &cli, "bob", "call").await;
    // Bob's connection drops and his session lapses; Alice leaves: the room closes on A. Carol
    // opens it again, on C.
    bob.drop_connection().await;
    alice.ok("logout", json!({})).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (mut carol, _) = join_on(&c, &redis, &cli, "carol", "call").await;
    // Bob comes back through B: his resume goes to A (which held his session) and fails; his
    // login on the same connection goes on from A to the room's new home, C.
    let (_bob, snapshot) = recover(&b, &bob_session, (&redis, &cli), "bob", "call").await;
    let users: Vec<&str> =
        snapshot["users"].as_array().unwrap().iter().map(|u| u["userID"].as_str().unwrap()).collect();
    assert_eq!(users, ["carol"], "{snapshot}");
    assert_eq!(user_ids(&carol.push("roomUserUpdate", WAIT).await.unwrap()), ["bob"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_has_one_session_in_the_whole_cluster() {
    let redis = Redis::start();
    let cli = cluster_cli(&redis);
    let nodes = three_nodes(&redis).await;
    let (a, b, c) = (&nodes[0].1, &nodes[1].1, &nodes[2].1);
    // Alice is in room r1, whose home is A; then she logs into r2, whose home is B.
    let (mut first, _) = join_on(a, &redis, &cli, "alice", "r1").await;
    let (mut second, _) = join_on(b, &redis, &cli, "alice", "r2").await;
    // Her older session, on A, ends as on one node: kicked out.
    let kicked = first.push("kickout", WAIT).await.unwrap();
    assert_eq!(
        (kicked["data"]["roomID"].as_str(), kicked["data"]["reason"].as_str()),
        (Some("r1"), Some("kicked_out"))
    );
    assert_eq!(first.closed(WAIT).await.unwrap()["reason"], "kicked_out");
    second.ok("ping", json!({})).await.unwrap();

    // The HTTP API on C reaches the node holding her session. A kick of sessions that logged
    // in before a moment older than hers leaves it; a kick without one ends it.
    let mut api = Api::new(c, APP_ID, SECRET);
    api.nonce = 2_000_000;
    let kept = api.ok("POST", "/api/v1/users/alice/kick", Some(json!({"beforeMs": 1000})));
    assert_eq!(kept["kicked"], 0, "{kept}");
    second.ok("ping", json!({})).await.unwrap();
    let done = api.ok("POST", "/api/v1/users/alice/kick", None);
    assert_eq!(done["kicked"], 1, "{done}");
    let kicked = second.push("kickout", WAIT).await.unwrap();
    assert_eq!(kicked["data"]["reason"], "kicked_by_server", "{kicked}");
    let (status, body) = api.call("POST", "/api/v1/users/$server/kick", None);
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_field")), "{body}");

    // A signed request is used once in the whole cluster: the lists it gathers from every node
    // pass, a replay of it at another node does not.
    let (mut first, mut replay) = (Api::new(a, APP_ID, SECRET), Api::new(b, APP_ID, SECRET));
    (first.nonce, replay.nonce) = (3_000_000, 3_000_000);
    let listed = first.call("GET", "/api/v1/rooms", None).1;
    assert_eq!(listed["unreachable"], json!([]), "{listed}");
    let (status, body) = replay.call("GET", "/api/v1/rooms", None);
    assert_eq!((status, body["code"].as_str()), (401, Some("auth_nonce_reused")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_node_sends_its_clients_to_the_other_nodes_and_exits() {
    let redis = Redis::start();
    let cli = cluster_cli(&redis);
    let [(_a_dir, mut a), (_b_dir, b), (_c_dir, c)] = three_nodes(&redis).await;
    // Room `call` lives on A (Alice logged in there first); Bob dialled B and is relayed to A.
    let (mut alice, _) = join_on(&a, &redis, &cli, "alice", "call").await;
    let (mut bob, _) = join_on(&b, &redis, &cli, "bob", "call").await;
    // Room `far` lives on B (Erin); Dave dialled A and is relayed to B.
    let (mut erin, _) = join_on(&b, &redis, &cli, "erin", "far").await;
    let (mut dave, dave_session) = join_on(&a, &redis, &cli, "dave", "far").await;
    let published = alice.ok("publish", json!({"roomID": "call", "streamID": "alice-cam"})).await.unwrap();
    let mut publisher = streams::rtmp_publisher(published["url"].as_str().unwrap()).await;
    publisher.send_media(9, 0, b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e").await.unwrap();
    bob.push("roomStreamUpdate", WAIT).await.unwrap();
    alice.ok("setRoomExtraInfo", json!({"roomID": "call", "key": "topic", "value": "kept"})).await.unwrap();
    bob.push("roomExtraInfoUpdate", WAIT).await.unwrap();
    // A client that never answers A's Close keeps A up for a moment while it drains.
    let _silent = duet_client::Client::connect(&format!("ws://{}/ws", a.http)).await.unwrap();

    let asked =
        common::ok(&cli.path().join("data"), &["node", "drain", "--node-id", "node-a", "--redis-url", &redis.url()]);
    assert!(asked.contains("node-a"), "{asked}");

    // Everyone A serves is told to go, and where: the other nodes.
    let ws = |server: &Server| format!("ws://{}/ws", server.http);
    let mut elsewhere = vec![ws(&b), ws(&c)];
    elsewhere.sort();
    for (who, client) in [("alice", &mut alice), ("bob", &mut bob), ("dave", &mut dave)] {
        let closed = client.closed(WAIT).await.unwrap();
        assert_eq!(closed["reason"], "server_draining", "{who}: {closed}");
        let mut servers: Vec<String> =
            closed["servers"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
        servers.sort();
        assert_eq!(servers, elsewhere, "{who}: {closed}");
    }
    // A takes no new session meanwhile.
    let (mut late, _) = tokio_tungstenite::connect_async(ws(&a)).await.unwrap();
    let first = tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut late)).await.unwrap().unwrap();
    let first = first.unwrap_or_else(|e| panic!("{e}: {}", a.stderr()));
    let first: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(
        (first["push"].as_str(), &first["data"]["reason"]),
        (Some("close"), &json!("server_draining")),
        "{first}"
    );

    // Dave's session lives on B: he resumes it there and misses nothing.
    let mut dave = duet_client::Client::connect(&ws(&b)).await.unwrap();
    let resumed = dave
        .ok("resume", json!({"sessionID": dave_session["sessionID"], "resumeToken": dave_session["resumeToken"]}))
        .await
        .unwrap();
    assert_eq!(resumed["rooms"][0]["roomID"], "far", "{resumed}");
    erin.ok("sendBroadcastMessage", json!({"roomID": "far", "message": "still here"})).await.unwrap();
    let got = dave.push("IMRecvBroadcastMessage", WAIT).await.unwrap();
    assert_eq!(got["data"]["messageList"][0]["message"], "still here");
    // Alice and Bob log in again on B: A gave the room up, so B is its home now (nobody relayed).
    let (mut alice, _) = join_on(&b, &redis, &cli, "alice", "call").await;
    let (_bob, snapshot) = join_on(&b, &redis, &cli, "bob", "call").await;
    let users: Vec<&str> =
        snapshot["users"].as_array().unwrap().iter().map(|u| u["userID"].as_str().unwrap()).collect();
    assert_eq!(users, ["alice"], "{snapshot}");
    assert_eq!(snapshot["extraInfo"][0]["value"], "kept", "the room keeps its state across the drain: {snapshot}");
    assert_eq!(alice.push("roomUserUpdate", WAIT).await.unwrap()["data"]["userList"][0]["userID"], "bob");
    assert_eq!(common::metric(&b, "duet_signaling_relayed_connections"), 0);

    // A's publisher was cut, and A exits by itself, having left the cluster: not a death.
    let cut = tokio::time::timeout(WAIT, async {
        while publisher.send_media(9, 0, b"\x27\x01\x00\x00\x00delta").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert!(cut.await.is_ok(), "the draining node ends its publishes");
    let (status, log) = a.exited(Duration::from_secs(15)).expect("a drained node exits");
    assert!(status.success(), "{log}");
    assert!(log.contains("drained"), "{log}");
    wait_cluster(&[&b, &c], 2).await;
    assert_eq!(
        common::metric(&b, "duet_cluster_verdicts_total") + common::metric(&c, "duet_cluster_verdicts_total"),
        0
    );

    // SIGTERM drains a node of a cluster too: B's members are sent to C.
    let (status, _) = b.stop_logged();
    assert!(status.success());
    let closed = erin.closed(WAIT).await.unwrap();
    assert_eq!(
        (closed["reason"].as_str(), &closed["servers"]),
        (Some("server_draining"), &json!([ws(&c)])),
        "{closed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_id_live_on_one_node_is_taken_on_the_others() {
    let redis = Redis::start();
    let cli = cluster_cli(&redis);
    let [(_a_dir, a), (_b_dir, b), (_c_dir, _c)] = three_nodes(&redis).await;
    // Alice's room lives on A, Carol's on B. Alice publishes `cam`.
    let (mut alice, _) = join_on(&a, &redis, &cli, "alice", "one").await;
    let (mut carol, _) = join_on(&b, &redis, &cli, "carol", "two").await;
    let published = alice.ok("publish", json!({"roomID": "one", "streamID": "cam"})).await.unwrap();
    let mut publisher = streams::rtmp_publisher(published["url"].as_str().unwrap()).await;
    publisher.send_media(9, 0, b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e").await.unwrap();
    let start = Instant::now();
    while redis.cli(&["EXISTS", "duet:origin:123456789:cam"]) != "1" {
        assert!(start.elapsed() < WAIT, "the cluster learns where cam is live");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Carol can neither reserve the name in her room nor push it to B with a URL of her own.
    let refused = carol.request("publish", json!({"roomID": "two", "streamID": "cam"})).await.unwrap();
    assert_eq!(refused["reason"], "stream_taken", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("node-a"), "{refused}");
    let data = cli.path().join("data");
    let rtmp_b = format!("rtmp://{}", b.rtmp);
    let args =
        ["url", "publish", "--app-id", "123456789", "--stream-id", "cam", "--room-id", "two", "--public-rtmp-url"];
    let url = common::ok(&data, &[&args[..], &[&rtmp_b, "--redis-url", &redis.url()]].concat());
    let target = duet_client::rtmp::Target::parse(url.trim()).unwrap();
    let mut second = duet_client::rtmp::Conn::open(&target).await.unwrap();
    let pushed = second.publish(&target).await;
    assert!(pushed.is_err(), "a second publisher on another node is refused");
    assert!(b.logs("stream_live"), "B says why");

    // Once Alice has stopped, the name is free on B.
    drop(publisher);
    alice.ok("stopPublish", json!({"streamID": "cam"})).await.unwrap();
    let start = Instant::now();
    loop {
        let reply = carol.request("publish", json!({"roomID": "two", "streamID": "cam"})).await.unwrap();
        if reply["code"] == 0 {
            break;
        }
        assert!(start.elapsed() < WAIT, "the name is free again: {reply}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_reach_each_other_at_their_internal_address() {
    let redis = Redis::start();
    let cli = cluster_cli(&redis);
    // Each node's public addresses are for clients only (here: names that resolve nowhere);
    // the nodes reach each other at --internal-host.
    let node = |name: &str| {
        let public = |scheme: &str, path: &str| format!("{scheme}://{name}.invalid{path}");
        let (ws, rtmp, http) = (public("ws", "/ws"), public("rtmp", ""), public("http", ""));
        let urls = ["--public-ws-url", &ws, "--public-rtmp-url", &rtmp, "--public-http-url", &http];
        node_with(&redis, name, &[&urls[..], &["--internal-host", "127.0.0.1"]].concat())
    };
    let (_a_dir, a) = node("node-a");
    let (_b_dir, b) = node("node-b");
    let (_c_dir, c) = node("node-c");
    wait_cluster(&[&a, &b, &c], 3).await;
    let nodes = Api::new(&c, APP_ID, SECRET).ok("GET", "/api/v1/nodes", None);
    let internal = &nodes["nodes"][0]["internal"];
    assert_eq!(internal["ws"], format!("ws://127.0.0.1:{}/ws", c.http.port()), "{nodes}");
    assert_eq!(internal["rtmp"], format!("rtmp://127.0.0.1:{}", c.rtmp.port()), "{nodes}");

    // Bob, on B, is relayed to the room's home A; his play URLs name B's public address.
    let (mut alice, _) = join_on(&a, &redis, &cli, "alice", "call").await;
    let (mut bob, _) = join_on(&b, &redis, &cli, "bob", "call").await;
    assert_eq!(user_ids(&alice.push("roomUserUpdate", WAIT).await.unwrap()), ["bob"]);
    let published = alice.ok("publish", json!({"roomID": "call", "streamID": "alice-cam"})).await.unwrap();
    let url = published["url"].as_str().unwrap().replace("node-a.invalid", &a.rtmp.to_string());
    let mut publisher = streams::rtmp_publisher(&url).await;
    publisher.send_media(9, 0, b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e").await.unwrap();
    publisher.send_media(9, 0, b"\x17\x01\x00\x00\x00KEY-internal").await.unwrap();
    let added = bob.push("roomStreamUpdate", WAIT).await.unwrap();
    let flv = added["data"]["streamList"][0]["urlsFLV"][0].as_str().unwrap();
    assert!(flv.starts_with("http://node-b.invalid/"), "{added}");
    // B pulls the stream from A's internal RTMP address.
    let mut player = streams::flv_player(&b, flv);
    streams::read_until(&mut player, &mut Vec::new(), b"KEY-internal");
    // C passes an API request on to A at A's internal HTTP address.
    let mut api = Api::new(&c, APP_ID, SECRET);
    api.nonce = 500_000;
    let room = api.ok("GET", "/api/v1/rooms/call", None);
    assert_eq!(room["users"].as_array().unwrap().len(), 2, "{room}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rooms_quality_is_kept_by_its_home_and_asked_of_it_from_any_node() {
    let redis = Redis::start();
    let cli = cluster_cli(&redis);
    let nodes = three_nodes(&redis).await;
    let (a, b, c) = (&nodes[0].1, &nodes[1].1, &nodes[2].1);
    // Room q's home is A; Bob dialled B, which relays him to A: his reports reach A's hub.
    let (mut alice, _) = join_on(a, &redis, &cli, "alice", "q").await;
    let (mut bob, _) = join_on(b, &redis, &cli, "bob", "q").await;
    alice.ok("publish", json!({"streamID": "alice-cam"})).await.unwrap();
    let report = json!({"streams": [{"streamID": "alice-cam", "role": "play", "videoKbps": 640, "fps": 15}]});
    bob.ok("reportQuality", report).await.unwrap();

    // Asked of C, answered by A.
    let mut api = Api::new(c, APP_ID, SECRET);
    api.nonce = 4_000_000;
    let h = api.ok("GET", "/api/v1/rooms/q/quality", None);
    let users: Vec<&str> = h["members"].as_array().unwrap().iter().map(|m| m["userID"].as_str().unwrap()).collect();
    assert_eq!(users, ["alice", "bob"], "{h}");
    let series = &h["streams"][0]["series"][0];
    assert_eq!(
        (series["userID"].as_str(), series["samples"][0]["videoKbps"].as_f64()),
        (Some("bob"), Some(640.0)),
        "{h}"
    );

    // The console on C shows it too (it asks A).
    let redis_flag = ["--redis-url", &redis.url()];
    let cli_data = cli.path().join("data");
    common::ok(&cli_data, &[&["admin", "password", "--password", "correct horse battery"][..], &redis_flag].concat());
    let session = common::console_session_with(c, "correct horse battery");
    let path = format!("/console/api/apps/{APP_ID}/quality/q");
    let res = common::request(c.http, "GET", &path, &[("Cookie", session)], b"", None);
    assert_eq!(res.status, 200, "{}", res.body);
    let shown: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(shown["members"], h["members"], "{shown}");
}
