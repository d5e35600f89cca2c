//! Many nodes as one service, the first slice (docs/cluster-design.md): real `duet serve`
//! nodes joined on Debian's `redis-server` list each other with their load, a node killed with
//! SIGKILL is declared dead within 5 s by exactly one of the others, a node that stops on
//! purpose leaves at once, two live nodes cannot share a name, and Redis stopped for a while
//! leaves every node serving, degraded, then healthy again with the others listed.

#[path = "common/api.rs"]
mod api;
mod common;
#[path = "common/receiver.rs"]
mod receiver;
#[path = "common/redis.rs"]
mod redis_server;
#[path = "common/streams.rs"]
mod streams;
#[path = "common/whip.rs"]
mod whip;

use std::time::{Duration, Instant};

use api::Api;
use common::{Server, data_dir, get};
use receiver::Receiver;
use redis_server::Redis;
use serde_json::{Value, json};

/// The cluster's app, registered by the CLI before any node starts (every node serves it).
const APP_ID: u32 = 123456789;
const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// A data folder of the CLI on "another machine" that registered the cluster's app in `redis`.
fn cluster_cli(redis: &Redis) -> tempfile::TempDir {
    let (tmp, cli) = data_dir();
    common::ok(&cli, &["app", "import", "--app-id", "123456789", "--secret", SECRET, "--redis-url", &redis.url()]);
    tmp
}

/// A node named `name` on `redis`, with its own data folder.
fn node(redis: &Redis, name: &str) -> (tempfile::TempDir, Server) {
    let (tmp, data) = data_dir();
    let server = Server::start(&data, &["--redis-url", &redis.url(), "--node-id", name]);
    (tmp, server)
}

/// A signaling client of `server` in `room`, with a token the CLI minted from the cluster's
/// configuration (`cli`: a data folder, `redis`).
async fn member(
    server: &Server,
    redis: &Redis,
    cli: &tempfile::TempDir,
    user: &str,
    room: &str,
) -> duet_client::Client {
    let (code, client) = login(server, APP_ID, &mint(redis, cli, user), user, room).await;
    assert_eq!(code, 0);
    client
}

/// A token of the cluster's app for `user`, minted by the CLI from the cluster's configuration.
fn mint(redis: &Redis, cli: &tempfile::TempDir, user: &str) -> String {
    let data = cli.path().join("data");
    common::ok(&data, &["token", "mint", "--app-id", "123456789", "--user-id", user, "--redis-url", &redis.url()])
        .trim()
        .to_owned()
}

/// Logs `user` into `room` of `app_id` on `server`: the reply's code and the client.
async fn login(server: &Server, app_id: u32, token: &str, user: &str, room: &str) -> (i64, duet_client::Client) {
    let mut c = duet_client::Client::connect(&format!("ws://{}/ws", server.http)).await.unwrap();
    let p =
        duet_client::LoginParams { app_id, room_id: room, token, user_id: user, user_name: user, user_update: true };
    let code = c.login(&p).await.unwrap()["code"].as_i64().unwrap();
    (code, c)
}

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

fn health(server: &Server) -> Value {
    serde_json::from_str(&get(server.http, "/healthz").body).unwrap()
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

/// Logs `user` into `room` on `server`: the client and the login reply's data.
async fn join_on(
    server: &Server,
    redis: &Redis,
    cli: &tempfile::TempDir,
    user: &str,
    room: &str,
) -> (duet_client::Client, Value) {
    let mut c = duet_client::Client::connect(&format!("ws://{}/ws", server.http)).await.unwrap();
    let token = mint(redis, cli, user);
    let p = duet_client::LoginParams {
        app_id: APP_ID,
        room_id: room,
        token: &token,
        user_id: user,
        user_name: user,
        user_update: true,
    };
    let reply = c.login(&p).await.unwrap();
    assert_eq!(reply["code"], 0, "{reply}");
    (c, reply["data"].clone())
}

/// Three nodes, `node-a`, `node-b` and `node-c`, on `redis`, once each lists all three.
async fn three_nodes(redis: &Redis) -> [(tempfile::TempDir, Server); 3] {
    let nodes = [node(redis, "node-a"), node(redis, "node-b"), node(redis, "node-c")];
    wait_cluster(&[&nodes[0].1, &nodes[1].1, &nodes[2].1], 3).await;
    nodes
}

/// Waits (bounded) until every node lists `n` living nodes.
async fn wait_cluster(servers: &[&Server], n: u64) {
    let start = Instant::now();
    for server in servers {
        while health(server)["cluster"]["nodes"] != n {
            assert!(start.elapsed() < Duration::from_secs(8), "{}", health(server));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

const WAIT: Duration = Duration::from_secs(5);

fn user_ids(push: &Value) -> Vec<String> {
    push["data"]["userList"].as_array().unwrap().iter().map(|u| u["userID"].as_str().unwrap().to_owned()).collect()
}

/// Whether `url` is served by `server` (its RTMP or HTTP address).
fn names_node(url: &str, server: &Server) -> bool {
    url.starts_with(&format!("rtmp://{}/", server.rtmp)) || url.starts_with(&format!("http://{}/", server.http))
}

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
    drop(player);
    drop(publisher);
}

/// What the SDKs do when their connection to `server` breaks: connect again, resume the
/// session, and log in again when it is gone; a refused or dropped attempt is tried again
/// after 500 ms (bounded). Returns the client and the login reply's data.
async fn recover(
    server: &Server,
    session: &Value,
    (redis, cli): (&Redis, &tempfile::TempDir),
    user: &str,
    room: &str,
) -> (duet_client::Client, Value) {
    let start = Instant::now();
    let token = mint(redis, cli, user);
    loop {
        assert!(start.elapsed() < Duration::from_secs(15), "{user} did not get back in");
        let attempt = async {
            let mut c = duet_client::Client::connect(&format!("ws://{}/ws", server.http)).await?;
            let resumed = c
                .request("resume", json!({"sessionID": session["sessionID"], "resumeToken": session["resumeToken"]}))
                .await?;
            assert_eq!(resumed["reason"], "resume_failed", "the session died with its node: {resumed}");
            let p = duet_client::LoginParams {
                app_id: APP_ID,
                room_id: room,
                token: &token,
                user_id: user,
                user_name: user,
                user_update: true,
            };
            let reply = c.login(&p).await?;
            anyhow::ensure!(reply["code"] == 0, "login refused: {reply}");
            anyhow::Ok((c, reply["data"].clone()))
        };
        match attempt.await {
            Ok(back) => return back,
            Err(e) => {
                println!("{user}: {e:#}; trying again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
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

    // The room's home (and the stream's origin) dies.
    let killed = Instant::now();
    a.crash();
    // Bob's and Carol's nodes lose the relay: their clients are told to reconnect.
    bob.closed(WAIT).await.unwrap();
    carol.closed(WAIT).await.unwrap();
    drop(publisher);

    // Bob gets back in through B, which becomes the room's home, and publishes again there.
    let (mut bob, _) = recover(&b, &bob_session, (&redis, &cli), "bob", "call").await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_receiver_sees_each_event_of_a_call_across_nodes_once() {
    let redis = Redis::start();
    let cli = cluster_cli(&redis);
    let receiver = Receiver::start(receiver::ANSWER_OK);
    let data = cli.path().join("data");
    let url = receiver.url();
    let set = ["app", "webhook", "--app-id", "123456789", "--url", &url, "--secret", receiver::SECRET];
    common::ok(&data, &[&set[..], &["--redis-url", &redis.url()]].concat());
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
async fn a_member_whose_session_lapsed_while_the_room_moved_finds_the_room_again() {
    let redis = Redis::start();
    let cli = cluster_cli(&redis);
    let start_node = |name: &str| {
        let (tmp, data) = data_dir();
        let args = ["--redis-url", &redis.url(), "--node-id", name, "--resume-grace-secs", "1"];
        (tmp, Server::start(&data, &args))
    };
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
