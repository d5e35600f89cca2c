//! Many nodes as one service (docs/cluster.md): real `duet serve` nodes joined on Debian's
//! `redis-server` list each other with their load, a node killed with SIGKILL is declared dead
//! within 5 s by exactly one of the others, a node that stops on purpose leaves at once, two
//! live nodes cannot share a name, Redis stopped for a while leaves every node serving (a call
//! across nodes included), degraded, then healthy again; one configuration for every node and
//! the CLI; a stream published on one node plays on the others, pulled once per node. Rooms
//! across nodes: cluster_rooms.rs.

#[path = "common/api.rs"]
mod api;
#[path = "common/cluster.rs"]
mod cluster;
mod common;
#[path = "common/redis.rs"]
mod redis_server;
#[path = "common/streams.rs"]
mod streams;
#[path = "common/whip.rs"]
mod whip;

use std::time::{Duration, Instant};

use api::Api;
use cluster::{APP_ID, SECRET, WAIT, cluster_cli, health, login, member, mint, node, user_ids};
use common::{Server, data_dir, get};
use duet_room::ErrorCode;
use redis_server::Redis;
use serde_json::{Value, json};

/// `GET /api/v1/nodes` of `server` (signed with its own app).
fn nodes(server: &Server) -> Value {
    static NONCES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut api = Api::new(server, APP_ID, SECRET);
    api.nonce = NONCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed) * 10;
    let (status, body) = api.call("GET", "/api/v1/nodes", None);
    assert_eq!(status, 200, "{body}");
    body
}

fn names(listing: &Value) -> Vec<String> {
    let mut names: Vec<String> =
        listing["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

/// Waits (bounded by `limit`) until `ok` holds for `server`'s node list; returns how long it took.
async fn wait_nodes(server: &Server, limit: Duration, ok: impl Fn(&Value) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let listing = nodes(server);
        if ok(&listing) {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "after {limit:?}: {listing}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_list_each_other_and_a_killed_node_is_dead_within_5_s() {
    let redis = Redis::start();
    let cli = cluster_cli(&redis);
    let (_a_dir, a) = node(&redis, "node-a");
    let (_b_dir, b) = node(&redis, "node-b");
    let (_c_dir, c) = node(&redis, "node-c");
    let three = |l: &Value| names(l) == ["node-a", "node-b", "node-c"];
    for server in [&a, &b, &c] {
        wait_nodes(server, Duration::from_secs(5), three).await;
    }
    let listing = nodes(&b);
    assert_eq!(listing["node"], "node-b");
    assert_eq!(listing["cluster"], "healthy");
    assert_eq!(listing["nodes"][0]["name"], "node-b", "the answering node first");
    let a_entry = listing["nodes"].as_array().unwrap().iter().find(|n| n["name"] == "node-a").unwrap().clone();
    assert_eq!(a_entry["addresses"]["ws"], format!("ws://{}/ws", a.http), "{a_entry}");
    assert_eq!(a_entry["addresses"]["rtmp"], format!("rtmp://{}", a.rtmp), "{a_entry}");
    assert!(a_entry["lastBeatMs"].as_u64().unwrap() > 0 && a_entry["load"]["sessions"] == 0, "{a_entry}");
    let h = health(&c);
    assert_eq!(
        (h["status"].as_str(), h["cluster"]["state"].as_str(), h["cluster"]["node"].as_str()),
        (Some("ok"), Some("healthy"), Some("node-c"))
    );

    // Load travels: a signaling session on node A shows in B's list within a few heartbeats.
    let _client = member(&a, &redis, &cli, "load-user", "load-room").await;
    wait_nodes(&b, Duration::from_secs(5), |l| {
        l["nodes"].as_array().unwrap().iter().any(|n| n["name"] == "node-a" && n["load"]["sessions"] == 1)
    })
    .await;

    // SIGKILL: no goodbye. The others list it no more within 5 s, and one of them declared it.
    drop(a);
    let gone = |l: &Value| names(l) == ["node-b", "node-c"];
    let b_took = wait_nodes(&b, Duration::from_secs(5), gone).await;
    let c_took = wait_nodes(&c, Duration::from_secs(5), gone).await;
    println!("node-a dead after {b_took:?} (seen by B), {c_took:?} (seen by C)");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let verdicts = [&b, &c].map(|s| common::metric(s, "duet_cluster_verdicts_total"));
    assert_eq!(verdicts.iter().sum::<u64>(), 1, "exactly one verdict: {verdicts:?}");
    let logs = b.stderr() + &c.stderr();
    assert_eq!(logs.matches("node is dead").count(), 1, "{logs}");

    // A node that stops on purpose leaves at once (no verdict), and its name is free again.
    let b_verdicts = common::metric(&b, "duet_cluster_verdicts_total");
    assert!(c.stop().success());
    wait_nodes(&b, Duration::from_millis(1500), |l| names(l) == ["node-b"]).await;
    assert_eq!(common::metric(&b, "duet_cluster_verdicts_total"), b_verdicts, "leaving is not dying");
    let (_c2_dir, c2) = node(&redis, "node-c");
    wait_nodes(&b, Duration::from_secs(3), |l| names(l) == ["node-b", "node-c"]).await;
    drop(c2);
}

#[test]
fn two_live_nodes_cannot_share_a_name_and_a_bad_redis_url_is_refused() {
    let redis = Redis::start();
    let (_a_dir, _a) = node(&redis, "twin");
    let (_tmp, data) = data_dir();
    let (status, err) = common::serve_refused(&data, &["--redis-url", &redis.url(), "--node-id", "twin"]);
    assert!(!status.success());
    assert!(err.contains("another node named \"twin\" is alive"), "{err}");
    let (status, err) = common::serve_refused(&data, &["--redis-url", "http://127.0.0.1:1", "--node-id", "x"]);
    assert!(!status.success() && err.contains("redis://"), "{err}");
    let (status, err) = common::serve_refused(&data, &["--redis-url", &redis.url(), "--node-id", "no spaces"]);
    assert!(!status.success() && err.contains("not a node name"), "{err}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (status, err) = common::serve_refused(&data, &["--redis-url", &format!("redis://{closed}"), "--node-id", "y"]);
    assert!(!status.success() && err.contains("cannot reach Redis"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_away_leaves_nodes_serving_degraded_then_healthy_again() {
    let mut redis = Redis::start();
    let cli = cluster_cli(&redis);
    let (_a_dir, a) = node(&redis, "node-a");
    let (_b_dir, b) = node(&redis, "node-b");
    wait_nodes(&a, Duration::from_secs(5), |l| names(l) == ["node-a", "node-b"]).await;
    // A call across the nodes: room-1's home is A; "far" dialled B, which relays to A.
    let mut client = member(&a, &redis, &cli, "steady", "room-1").await;
    let mut far = member(&b, &redis, &cli, "far", "room-1").await;
    client.push("roomUserUpdate", WAIT).await.unwrap();
    let newcomer = mint(&redis, &cli, "newcomer");
    let latecomer = mint(&redis, &cli, "latecomer");
    // A second app, registered but never used on the nodes (so in no node's cache).
    let cli_data = cli.path().join("data");
    let other = ["--app-id", "987654321", "--redis-url", &redis.url()];
    common::ok(&cli_data, &[&["app", "import", "--secret", "fedcba9876543210fedcba9876543210"][..], &other].concat());
    let other_token = common::ok(&cli_data, &[&["token", "mint", "--user-id", "other"][..], &other].concat());

    redis.stop();
    let deadline = Instant::now() + Duration::from_secs(5);
    while health(&a)["cluster"]["state"] != "degraded" {
        assert!(Instant::now() < deadline, "{}", health(&a));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(common::metric(&a, "duet_cluster_degraded"), 1);
    assert!(health(&a)["cluster"]["sinceMs"].as_u64().unwrap() > 0);
    // Away for 10 s: the nodes keep serving what they hold (a login, a session's heartbeat).
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(get(b.http, "/healthz").status, 200);
    let (code, _later) = login(&a, APP_ID, &newcomer, "newcomer", "room-1").await;
    assert_eq!(code, 0, "a login from the node's cache of the cluster's apps");
    // An app the node cannot read now is not called unknown: the login may be tried again.
    let (code, _other) = login(&a, 987654321, other_token.trim(), "other", "room-2").await;
    assert_eq!(code, i64::from(ErrorCode::RegistryUnavailable.number()), "not 40100 unknown_app");
    // The call goes on: the relay between B and A does not go through Redis.
    assert_eq!(user_ids(&far.push("roomUserUpdate", WAIT).await.unwrap()), ["newcomer"]);
    assert_eq!(user_ids(&client.push("roomUserUpdate", WAIT).await.unwrap()), ["newcomer"]);
    client.ok("sendBroadcastMessage", json!({"roomID": "room-1", "message": "still here"})).await.unwrap();
    let got = far.push("IMRecvBroadcastMessage", WAIT).await.unwrap();
    assert_eq!(got["data"]["messageList"][0]["message"], "still here");

    // Redis back (with the configuration it keeps on disk; the nodes' entries lapsed meanwhile):
    // the nodes register again, list each other, and nobody declares anybody dead.
    redis.restart();
    for server in [&a, &b] {
        wait_nodes(server, Duration::from_secs(5), |l| l["cluster"] == "healthy" && names(l) == ["node-a", "node-b"])
            .await;
        assert_eq!(common::metric(server, "duet_cluster_degraded"), 0);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        common::metric(&a, "duet_cluster_verdicts_total") + common::metric(&b, "duet_cluster_verdicts_total"),
        0
    );
    // A holds its rooms again: a login on B into room-1 still reaches its members.
    let (code, _late) = login(&b, APP_ID, &latecomer, "latecomer", "room-1").await;
    assert_eq!(code, 0);
    assert_eq!(user_ids(&client.push("roomUserUpdate", WAIT).await.unwrap()), ["latecomer"]);
    let logs = a.stderr();
    assert!(logs.contains("cluster degraded") && logs.contains("cluster healthy again"), "{logs}");
    assert!(logs.contains("claimed this node's rooms again"), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}

/// Logs `user` into `room` of `app_id` on `server` with `token`; the reply's `code`.
async fn login_code(server: &Server, app_id: u32, token: &str, user: &str) -> i64 {
    login(server, app_id, token, user, "r").await.0
}

/// A console login on `server`; its status.
fn console_login(server: &Server, password: &str) -> u16 {
    let body = serde_json::json!({"username": "admin", "password": password}).to_string();
    common::request(server.http, "POST", "/console/api/login", &[], body.as_bytes(), None).status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_configuration_for_every_node_and_the_cli() {
    let redis = Redis::start();
    let url = redis.url();
    // The CLI on another machine (its own data folder) registers an app and the console password
    // in the cluster before any node runs.
    let (_cli_tmp, cli) = data_dir();
    let redis_flag = ["--redis-url", url.as_str()];
    let secret = "0123456789abcdef0123456789abcdef";
    common::ok(
        &cli,
        &[&["app", "import", "--app-id", "123456789", "--secret", secret, "--name", "shared"][..], &redis_flag]
            .concat(),
    );
    common::ok(&cli, &[&["admin", "password", "--password", "correct horse battery"][..], &redis_flag].concat());
    let (_a_dir, a) = node(&redis, "node-a");
    let (_b_dir, b) = node(&redis, "node-b");
    let (_c_dir, c) = node(&redis, "node-c");
    for server in [&a, &b, &c] {
        assert_eq!(server.app_id, 123456789, "every node serves the cluster's app");
        assert!(!server.banner.contains("password correct"), "the console password is set already");
        assert_eq!(console_login(server, "correct horse battery"), 200, "one console password on every node");
    }

    // A token minted by the CLI anywhere logs in on any node.
    let mint = |app: &str, user: &str| {
        common::ok(&cli, &[&["token", "mint", "--app-id", app, "--user-id", user][..], &redis_flag].concat())
            .trim()
            .to_owned()
    };
    assert_eq!(login_code(&b, 123456789, &mint("123456789", "u1"), "u1").await, 0);

    // An app created through node A's console logs in on node C.
    let session = {
        let body = serde_json::json!({"username": "admin", "password": "correct horse battery"}).to_string();
        let res = common::request(a.http, "POST", "/console/api/login", &[], body.as_bytes(), None);
        let cookie = res.headers.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap();
        cookie.split_once(':').unwrap().1.trim().split(';').next().unwrap().to_owned()
    };
    let created = common::console_post(&a, &session, "/console/api/apps", r#"{"name":"made-on-a"}"#);
    assert_eq!(created.status, 200, "{}", created.body);
    let made: Value = serde_json::from_str(&created.body).unwrap();
    let made_id = made["appID"].as_u64().unwrap() as u32;
    assert_eq!(login_code(&c, made_id, &mint(&made_id.to_string(), "u2"), "u2").await, 0);

    // A secret rotated from the CLI applies on every node within 2 s: new tokens log in, old
    // ones are refused (token_bad_signature).
    let old = mint("123456789", "u3");
    common::ok(&cli, &[&["app", "rotate-secret", "--app-id", "123456789"][..], &redis_flag].concat());
    let new = mint("123456789", "u3");
    let start = Instant::now();
    for server in [&a, &b, &c] {
        loop {
            let (fresh, stale) =
                (login_code(server, 123456789, &new, "u3").await, login_code(server, 123456789, &old, "u3").await);
            if fresh == 0 && stale == 40102 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "after {:?}: new token {fresh}, old token {stale}",
                start.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    println!("a rotated secret applied on all three nodes after {:?}", start.elapsed());
    // And every node lists the same apps.
    let listed = common::ok(&cli, &[&["app", "list"][..], &redis_flag].concat());
    assert!(listed.contains("123456789") && listed.contains(&made_id.to_string()), "{listed}");
}

/// Reads `player` until its body ends (bounded by its read timeout).
fn read_to_end(player: &mut std::net::TcpStream) {
    use std::io::Read;
    let mut buf = [0u8; 4096];
    loop {
        match player.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => panic!("the body did not end: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_published_on_one_node_plays_on_the_others_pulled_once_per_node() {
    let redis = Redis::start();
    let (_cli_tmp, cli) = data_dir();
    let redis_url = redis.url();
    let with_redis = |args: &[&str]| -> Vec<String> {
        args.iter().map(|a| a.to_string()).chain(["--redis-url".to_owned(), redis_url.clone()]).collect()
    };
    fn refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    common::ok(
        &cli,
        &refs(&with_redis(&["app", "import", "--app-id", "123456789", "--secret", "0123456789abcdef0123456789abcdef"])),
    );
    let (_a_dir, a) = node(&redis, "node-a");
    let (_b_dir, b) = node(&redis, "node-b");
    let (_c_dir, c) = node(&redis, "node-c");
    let start = Instant::now();
    while health(&b)["cluster"]["nodes"] != 3 {
        assert!(start.elapsed() < Duration::from_secs(5), "{}", health(&b));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A publisher on node A: an AVC header and a first keyframe.
    let publish = streams::url(&cli, &a, &refs(&with_redis(&["publish", "--stream-id", "cam"])));
    let mut publisher = streams::rtmp_publisher(&publish).await;
    publisher.send_media(9, 0, b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e").await.unwrap();
    publisher.send_media(9, 0, b"\x17\x01\x00\x00\x00KEY-one").await.unwrap();
    streams::wait_live(&a, 1);

    // Three HTTP-FLV players on node B and two on node C: each starts with the keyframe.
    let play_on = |server: &Server| {
        streams::url(&cli, server, &refs(&with_redis(&["play", "--stream-id", "cam", "--format", "flv"])))
    };
    let (flv_b, flv_c) = (play_on(&b), play_on(&c));
    let mut on_b: Vec<_> = (0..3).map(|_| streams::flv_player(&b, &flv_b)).collect();
    let mut on_c: Vec<_> = (0..2).map(|_| streams::flv_player(&c, &flv_c)).collect();
    for player in on_b.iter_mut().chain(on_c.iter_mut()) {
        streams::read_until(player, &mut Vec::new(), b"KEY-one");
    }
    // And an RTMP player on node C.
    let rtmp_c = streams::url(&cli, &c, &refs(&with_redis(&["play", "--stream-id", "cam"])));
    let target = duet_client::rtmp::Target::parse(&rtmp_c).unwrap();
    let mut rtmp_player = duet_client::rtmp::Conn::open(&target).await.unwrap();
    rtmp_player.play(&target).await.unwrap();
    loop {
        let m = rtmp_player.next().await.unwrap().expect("media");
        if streams::find(&m.payload, b"KEY-one").is_some() {
            break;
        }
    }
    // A browser's WHEP offer on node C is answered from the same pull.
    let whep = streams::url(&cli, &c, &refs(&with_redis(&["play", "--stream-id", "cam", "--format", "whep"])));
    let recv = whip::offer("H264", whip::H264).replace("a=sendonly", "a=recvonly");
    let answered = whip::post_sdp(&c, &whep[whep.find("/whep/").unwrap()..], "application/sdp", &recv);
    assert_eq!(answered.status, 201, "{}", answered.body);
    // Node A serves one pull per edge node, not one per player.
    assert_eq!(common::metric(&a, "duet_media_players"), 2, "one pull for B, one for C");
    assert_eq!(common::metric(&b, "duet_media_players"), 3);
    assert_eq!(common::metric(&c, "duet_media_players"), 3);

    // What the publisher sends next reaches every player through its edge.
    publisher.send_media(9, 40, b"\x17\x01\x00\x00\x00KEY-two").await.unwrap();
    for player in on_b.iter_mut().chain(on_c.iter_mut()) {
        streams::read_until(player, &mut Vec::new(), b"KEY-two");
    }

    // C's players leave: its pull stops after the grace period; B's goes on.
    drop(on_c);
    drop(rtmp_player);
    let start = Instant::now();
    while common::metric(&a, "duet_media_players") != 1 {
        assert!(start.elapsed() < Duration::from_secs(15), "C's pull did not stop");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("an edge's pull stopped {:?} after its last player left", start.elapsed());
    assert!(start.elapsed() >= Duration::from_secs(8), "not before the grace period");
    assert_eq!(common::metric(&c, "duet_media_live_streams"), 0, "C's copy is gone");

    // The publisher reconnects (the same user, a fresher URL): a takeover on A, whose old
    // connection ends. A is still the stream's origin: a new player on C (its pull ended)
    // plays on, and B's players get the new keyframe.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = streams::url(&cli, &a, &refs(&with_redis(&["publish", "--stream-id", "cam"])));
    let mut publisher2 = streams::rtmp_publisher(&again).await;
    publisher2.send_media(9, 0, b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e").await.unwrap();
    publisher2.send_media(9, 80, b"\x17\x01\x00\x00\x00KEY-three").await.unwrap();
    assert!(a.logs("took over"), "a takeover on A");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut late = streams::flv_player(&c, &flv_c);
    streams::read_until(&mut late, &mut Vec::new(), b"KEY-three");
    for player in on_b.iter_mut() {
        streams::read_until(player, &mut Vec::new(), b"KEY-three");
    }
    drop(late);
    drop(publisher);

    // The publisher stops: the origin ends the stream, and B's copy ends for its players.
    drop(publisher2);
    for player in on_b.iter_mut() {
        read_to_end(player);
    }
    streams::wait_live(&b, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_on_an_empty_cluster_make_one_app_and_one_console_user() {
    let redis = Redis::start();
    let url = redis.url();
    let starts: Vec<_> = ["node-a", "node-b"]
        .map(|name| {
            let url = url.clone();
            std::thread::spawn(move || {
                let (tmp, data) = data_dir();
                (tmp, Server::start(&data, &["--redis-url", &url, "--node-id", name]))
            })
        })
        .into_iter()
        .collect();
    let nodes: Vec<(tempfile::TempDir, Server)> = starts.into_iter().map(|t| t.join().unwrap()).collect();
    let passwords: Vec<String> = nodes
        .iter()
        .filter_map(|(_, s)| {
            let line = s.banner.lines().find(|l| l.trim_start().starts_with("Console"))?;
            Some(line.split("password ").nth(1)?.split_whitespace().next()?.to_owned())
        })
        .collect();
    assert_eq!(passwords.len(), 1, "one node made the first console user: {passwords:?}");
    assert_eq!(nodes[0].1.app_id, nodes[1].1.app_id, "and one default app");
    for (_, server) in &nodes {
        assert_eq!(console_login(server, &passwords[0]), 200, "its password works on every node");
    }
}
