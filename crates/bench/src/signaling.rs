//! Signaling scale: S sessions log in (one room of `big` members, the rest in rooms of ten),
//! measuring the login rate and the server's memory per session; then, in the big room, how
//! long a broadcast message and a stream ADD take to reach every member. Given the nodes of a
//! cluster, sessions dial them in turn (a room's members then sit on every node).

use std::sync::Arc;
use std::time::{Duration, Instant};

use duet_client::{Client, LoginParams};
use duet_token::{AppSecret, Cipher, Grant, MintRequest, mint};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::procstat::{percentile, total_rss_bytes};

/// What one run is.
pub struct Plan {
    /// `ws://host:port/ws` of each node: session `i` dials `ws[i % len]`.
    pub ws: Vec<String>,
    /// The app logged into.
    pub app_id: u32,
    /// Its ServerSecret (tokens are minted here).
    pub secret: AppSecret,
    /// Sessions in all.
    pub sessions: usize,
    /// Members of the big room.
    pub big: usize,
    /// The server processes measured (their memory summed).
    pub server_pids: Vec<u32>,
    /// Unix seconds now (tokens' ctime).
    pub now: i64,
}

async fn join(ws: &str, app_id: u32, room: &str, user: &str, token: &str) -> anyhow::Result<Client> {
    let mut c = Client::connect(ws).await?;
    let p = LoginParams { app_id, room_id: room, token, user_id: user, user_name: user, user_update: false };
    let reply = c.login(&p).await?;
    anyhow::ensure!(reply["code"] == 0, "login refused: {reply}");
    Ok(c)
}

/// Waits on every member for `push` and returns the arrival delays after `t0`, in µs. Each
/// member waits on its own task, so an arrival is stamped when its socket is ready, not after
/// the others have been polled again (one task polling them all stamps late, and ever later
/// as members grow).
async fn fan_in(members: &mut Vec<Client>, push: &'static str, t0: Instant) -> Vec<u64> {
    let mut waits = tokio::task::JoinSet::new();
    for mut c in members.drain(..) {
        waits.spawn(async move {
            let at = c.push(push, Duration::from_secs(10)).await.ok().map(|_| t0.elapsed().as_micros() as u64);
            (c, at)
        });
    }
    let mut delays = Vec::with_capacity(waits.len());
    while let Some(done) = waits.join_next().await {
        if let Ok((c, at)) = done {
            members.push(c);
            delays.extend(at);
        }
    }
    delays.sort_unstable();
    delays
}

fn stats(d: &[u64], expected: usize) -> Value {
    json!({"p50_ms": percentile(d, 50.0) as f64 / 1000.0, "p99_ms": percentile(d, 99.0) as f64 / 1000.0,
           "max_ms": d.last().copied().unwrap_or(0) as f64 / 1000.0, "reached": d.len(), "members": expected})
}

/// A token04 for `user` with every privilege, valid two hours from `now`.
pub fn token(app_id: u32, secret: &AppSecret, user: &str, now: i64) -> Result<String, duet_token::MintError> {
    let grant = Grant::everything();
    let req =
        MintRequest { app_id, user_id: user, grant: &grant, ctime: now, ttl_secs: 7200, nonce: 1, cipher: Cipher::Gcm };
    mint(&req, secret, [7; 16])
}

/// Runs the signaling measurements.
pub async fn run(plan: Plan) -> anyhow::Result<Value> {
    let token = |user: &str| token(plan.app_id, &plan.secret, user, plan.now);
    let tokens: Vec<(String, String, String)> = (0..plan.sessions)
        .map(|i| {
            let user = format!("u{i}");
            let room = if i < plan.big { "big".to_owned() } else { format!("r{}", i / 10) };
            let t = token(&user).map_err(|e| anyhow::anyhow!("mint: {e}"))?;
            Ok((user, room, t))
        })
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(!plan.ws.is_empty(), "no server");
    let rss_before = total_rss_bytes(&plan.server_pids)?;
    let gate = Arc::new(Semaphore::new(256));
    let started = Instant::now();
    let mut handles = Vec::new();
    for (i, (user, room, t)) in tokens.into_iter().enumerate() {
        let (ws, gate, app_id) = (plan.ws[i % plan.ws.len()].clone(), gate.clone(), plan.app_id);
        handles.push(tokio::spawn(async move {
            let _permit = gate.acquire().await;
            join(&ws, app_id, &room, &user, &t).await
        }));
    }
    let mut clients = Vec::with_capacity(plan.sessions);
    let mut failed = 0;
    for h in handles {
        match h.await? {
            Ok(c) => clients.push(c),
            Err(e) => {
                failed += 1;
                if failed <= 3 {
                    eprintln!("login: {e:#}");
                }
            }
        }
    }
    let login_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = total_rss_bytes(&plan.server_pids)?;
    let logged_in = clients.len();

    // The big room: the first `big` clients (they logged in first, in order).
    let big = plan.big.min(clients.len());
    anyhow::ensure!(big > 0, "no big room");
    let mut members: Vec<Client> = clients.drain(1..big).collect();
    let sender = &mut clients[0];
    // Drain the joins' pushes.
    for c in members.iter_mut() {
        while c.next_push(Duration::from_millis(1)).await.ok().flatten().is_some() {}
    }
    let mut broadcast = Vec::new();
    for round in 0..5 {
        let t0 = Instant::now();
        sender.ok("sendBroadcastMessage", json!({"roomID": "big", "message": format!("round {round}")})).await?;
        broadcast.extend(fan_in(&mut members, "IMRecvBroadcastMessage", t0).await);
    }
    broadcast.sort_unstable();

    // Stream ADD: the sender publishes over RTMP; members hear ADD when media arrives.
    let reply = sender.ok("publish", json!({"roomID": "big", "streamID": "bench-add"})).await?;
    let url = reply["url"].as_str().unwrap_or_default().to_owned();
    let target = duet_client::rtmp::Target::parse(&url)?;
    let mut conn = duet_client::rtmp::Conn::open(&target).await?;
    let t0 = Instant::now();
    conn.publish(&target).await?;
    for m in crate::synthetic::sequence_headers() {
        conn.send_media(m.type_id, m.timestamp, &m.payload).await?;
    }
    let add = fan_in(&mut members, "roomStreamUpdate", t0).await;
    drop(conn);

    let per_session = rss_after.saturating_sub(rss_before) as f64 / logged_in.max(1) as f64;
    Ok(json!({
        "name": "signaling",
        "servers": plan.ws.len(),
        "sessions": plan.sessions,
        "logged_in": logged_in,
        "failed": failed,
        "logins_per_s": (logged_in as f64 / login_secs).round(),
        "server_rss_mib": (rss_after as f64 / 1048576.0 * 10.0).round() / 10.0,
        "bytes_per_session": per_session.round(),
        "broadcast_to_room": stats(&broadcast, (members.len()) * 5),
        "stream_add_to_room": stats(&add, members.len()),
    }))
}
