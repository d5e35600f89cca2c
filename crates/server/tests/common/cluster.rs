//! What the cluster tests share: Debian's redis-server with the cluster's app registered by
//! the CLI "on another machine", `duet serve` nodes on it, tokens minted from the cluster's
//! configuration, and signaling clients logged in through a node.
#![allow(dead_code)] // each cluster test file uses a different part

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, Server, data_dir, get};
use crate::redis_server::Redis;

/// The cluster's app, registered by the CLI before any node starts (every node serves it).
pub const APP_ID: u32 = 123456789;
pub const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// A data folder of the CLI on "another machine" that registered the cluster's app in `redis`.
pub fn cluster_cli(redis: &Redis) -> tempfile::TempDir {
    let (tmp, cli) = data_dir();
    common::ok(&cli, &["app", "import", "--app-id", "123456789", "--secret", SECRET, "--redis-url", &redis.url()]);
    tmp
}

/// A node named `name` on `redis`, with its own data folder.
pub fn node(redis: &Redis, name: &str) -> (tempfile::TempDir, Server) {
    node_with(redis, name, &[])
}

/// A node named `name` on `redis` with `extra` flags, with its own data folder.
pub fn node_with(redis: &Redis, name: &str, extra: &[&str]) -> (tempfile::TempDir, Server) {
    let (tmp, data) = data_dir();
    let server = Server::start(&data, &[&["--redis-url", &redis.url(), "--node-id", name][..], extra].concat());
    (tmp, server)
}

/// A signaling client of `server` in `room`, with a token the CLI minted from the cluster's
/// configuration (`cli`: a data folder, `redis`).
pub async fn member(
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
pub fn mint(redis: &Redis, cli: &tempfile::TempDir, user: &str) -> String {
    let data = cli.path().join("data");
    common::ok(&data, &["token", "mint", "--app-id", "123456789", "--user-id", user, "--redis-url", &redis.url()])
        .trim()
        .to_owned()
}

/// Logs `user` into `room` of `app_id` on `server`: the reply's code and the client.
pub async fn login(server: &Server, app_id: u32, token: &str, user: &str, room: &str) -> (i64, duet_client::Client) {
    let mut c = duet_client::Client::connect(&format!("ws://{}/ws", server.http)).await.unwrap();
    let code = c.login(&params(app_id, token, user, room)).await.unwrap()["code"].as_i64().unwrap();
    (code, c)
}

/// A login of `user` into `room`, asking for user updates.
pub fn params<'a>(app_id: u32, token: &'a str, user: &'a str, room: &'a str) -> duet_client::LoginParams<'a> {
    duet_client::LoginParams { app_id, room_id: room, token, user_id: user, user_name: user, user_update: true }
}

pub fn health(server: &Server) -> Value {
    serde_json::from_str(&get(server.http, "/healthz").body).unwrap()
}

/// Logs `user` into `room` on `server`: the client and the login reply's data.
pub async fn join_on(
    server: &Server,
    redis: &Redis,
    cli: &tempfile::TempDir,
    user: &str,
    room: &str,
) -> (duet_client::Client, Value) {
    let mut c = duet_client::Client::connect(&format!("ws://{}/ws", server.http)).await.unwrap();
    let token = mint(redis, cli, user);
    let reply = c.login(&params(APP_ID, &token, user, room)).await.unwrap();
    assert_eq!(reply["code"], 0, "{reply}");
    (c, reply["data"].clone())
}

/// Three nodes, `node-a`, `node-b` and `node-c`, on `redis`, once each lists all three.
pub async fn three_nodes(redis: &Redis) -> [(tempfile::TempDir, Server); 3] {
    let nodes = [node(redis, "node-a"), node(redis, "node-b"), node(redis, "node-c")];
    wait_cluster(&[&nodes[0].1, &nodes[1].1, &nodes[2].1], 3).await;
    nodes
}

/// Waits (bounded) until every node lists `n` living nodes.
pub async fn wait_cluster(servers: &[&Server], n: u64) {
    let start = Instant::now();
    for server in servers {
        while health(server)["cluster"]["nodes"] != n {
            assert!(start.elapsed() < Duration::from_secs(8), "{}", health(server));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub const WAIT: Duration = Duration::from_secs(5);

pub fn user_ids(push: &Value) -> Vec<String> {
    push["data"]["userList"].as_array().unwrap().iter().map(|u| u["userID"].as_str().unwrap().to_owned()).collect()
}

/// Whether `url` is served by `server` (its RTMP or HTTP address).
pub fn names_node(url: &str, server: &Server) -> bool {
    url.starts_with(&format!("rtmp://{}/", server.rtmp)) || url.starts_with(&format!("http://{}/", server.http))
}

/// What the SDKs do when their connection to `server` breaks: connect again, resume the
/// session, and log in again when it is gone; a refused or dropped attempt is tried again
/// after 500 ms (bounded). Returns the client and the login reply's data.
pub async fn recover(
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
                .request(
                    "resume",
                    serde_json::json!({"sessionID": session["sessionID"], "resumeToken": session["resumeToken"]}),
                )
                .await?;
            assert_eq!(resumed["reason"], "resume_failed", "the session died with its node: {resumed}");
            let reply = c.login(&params(APP_ID, &token, user, room)).await?;
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
