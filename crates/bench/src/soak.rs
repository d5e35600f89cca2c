//! Soak: rounds of the traffic that leaks when something forgets to clean up (publish cycles,
//! login cycles, idle and slow connections on every port, players that stop reading, WebRTC
//! players that come, play a frame and go), then a
//! comparison of the server's memory and open files with their level after a warm-up round.
//! Fails (non-zero exit) when either grew past its allowance. Bounded in rounds, connections and
//! seconds; loopback only.

use std::time::Duration;

use anyhow::Context;
use duet_client::rtmp::{Conn, Target};
use duet_client::{Client, LoginParams};
use duet_token::{AppSecret, MediaAction, MediaBases, MediaFormat, MediaUrl};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::procstat::rss_bytes;
use crate::synthetic::{Synthetic, sequence_headers};

/// Open files the server may hold beyond the warm-up level at the end.
const FD_ALLOWANCE: usize = 8;
/// WHEP players per round (each a DTLS handshake: bounded to keep a round short).
const WHEP_PER_ROUND: usize = 10;
/// Memory the server may hold beyond the warm-up level at the end (allocator slack, caches).
const RSS_ALLOWANCE: u64 = 24 * 1024 * 1024;

/// What one soak is.
pub struct Plan {
    /// `host:port` of the HTTP/WebSocket listener.
    pub http: String,
    /// `host:port` of the RTMP listener.
    pub rtmp: String,
    /// The app used.
    pub app_id: u32,
    /// Its ServerSecret (tokens and media URLs are signed here).
    pub secret: AppSecret,
    /// Rounds after the warm-up.
    pub rounds: usize,
    /// Publish cycles, logins, idle connections per port, slow connections and stalled players,
    /// per round.
    pub per_round: usize,
    /// How long the server may take to close what the soak left idle (its idle timeouts).
    pub settle: Duration,
    /// The server process measured.
    pub server_pid: u32,
    /// Unix seconds now (tokens' and URLs' times).
    pub now: i64,
}

/// Open file descriptors of a process.
fn open_files(pid: u32) -> anyhow::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd")).with_context(|| format!("no process {pid}"))?.count())
}

fn level(pid: u32) -> anyhow::Result<(u64, usize)> {
    Ok((rss_bytes(pid)?, open_files(pid)?))
}

impl Plan {
    fn media_url(&self, stream: &str, action: MediaAction, format: MediaFormat) -> String {
        let url = MediaUrl {
            app_id: self.app_id,
            stream_id: stream.to_owned(),
            action,
            user_id: "soak".into(),
            room_id: String::new(),
            expire: self.now as u64 + 3600,
        };
        let bases = MediaBases { rtmp: format!("rtmp://{}", self.rtmp), http: format!("http://{}", self.http) };
        url.signed(&self.secret, &bases, format)
    }

    /// Publishes a second of the synthetic stream, then hangs up.
    async fn publish_cycle(&self, stream: &str) -> anyhow::Result<()> {
        let target = Target::parse(&self.media_url(stream, MediaAction::Publish, MediaFormat::Rtmp))?;
        let mut conn = Conn::open(&target).await?;
        conn.publish(&target).await?;
        for m in sequence_headers() {
            conn.send_media(m.type_id, m.timestamp, &m.payload).await?;
        }
        let mut source = Synthetic::new(500, 1000);
        for ms in (0..1000).step_by(40) {
            for m in source.due(ms) {
                conn.send_media(m.type_id, m.timestamp, &m.payload).await?;
            }
        }
        Ok(())
    }

    /// Logs in, sends a message, and leaves (logging out, or just dropping the socket).
    async fn login_cycle(&self, i: usize) -> anyhow::Result<()> {
        let user = format!("soak-{i}");
        let token = crate::signaling::token(self.app_id, &self.secret, &user, self.now)?;
        let mut c = Client::connect(&format!("ws://{}/ws", self.http)).await?;
        let p = LoginParams {
            app_id: self.app_id,
            room_id: "soak-room",
            token: &token,
            user_id: &user,
            user_name: &user,
            user_update: false,
        };
        anyhow::ensure!(c.login(&p).await?["code"] == 0, "login refused");
        c.ok("sendBroadcastMessage", json!({"roomID": "soak-room", "message": "hi"})).await?;
        if i % 2 == 0 {
            c.ok("logout", json!({})).await?;
        }
        Ok(())
    }

    /// One round: publish and login cycles while idle, dribbling and stalled connections are
    /// open; everything the soak opened is closed when the round ends.
    async fn round(&self, round: usize) -> anyhow::Result<()> {
        let n = self.per_round;
        let mut held = Vec::new();
        // Idle connections on both ports, and requests whose headers dribble in.
        for addr in [&self.http, &self.rtmp] {
            for _ in 0..n {
                held.push(TcpStream::connect(addr).await?);
            }
        }
        let mut dribbling = Vec::new();
        for _ in 0..n.min(20) {
            let mut s = TcpStream::connect(&self.http).await?;
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: soak\r\n").await?;
            dribbling.push(s);
        }
        // A live stream with players that never read.
        let live = format!("soak-live-{round}");
        let target = Target::parse(&self.media_url(&live, MediaAction::Publish, MediaFormat::Rtmp))?;
        let mut publisher = Conn::open(&target).await?;
        publisher.publish(&target).await?;
        for m in sequence_headers() {
            publisher.send_media(m.type_id, m.timestamp, &m.payload).await?;
        }
        let flv = self.media_url(&live, MediaAction::Play, MediaFormat::Flv);
        let path = &flv[flv.find("/live/").context("an FLV URL")?..];
        for _ in 0..n.min(20) {
            let mut s = TcpStream::connect(&self.http).await?;
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: soak\r\n\r\n").as_bytes()).await?;
            held.push(s); // never read
        }
        // WHEP players of it (the stream's Opus transcoder comes and goes with them), each
        // ended by DELETE once it has a frame.
        let whep = self.media_url(&live, MediaAction::Play, MediaFormat::Whep);
        let cert = crate::whep_client::certificate()?;
        let mut source = Synthetic::new(2000, 1000);
        let mut sent_ms = 0;
        for _ in 0..n.min(WHEP_PER_ROUND) {
            let mut player = crate::whep_client::WhepPlayer::open(&whep, cert.clone()).await.context("WHEP play")?;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            loop {
                // The publisher goes on meanwhile (a frame every 40 ms of real time).
                let tick = tokio::time::sleep(Duration::from_millis(40));
                tokio::select! {
                    e = player.next() => match e? {
                        Some(crate::whep_client::PlayerEvent::Frame(_)) => break,
                        Some(_) => {}
                        None => anyhow::bail!("the WHEP player's engine closed before a frame"),
                    },
                    () = tick => {
                        sent_ms += 40;
                        for m in source.due(sent_ms) {
                            publisher.send_media(m.type_id, m.timestamp, &m.payload).await?;
                        }
                    }
                }
                anyhow::ensure!(tokio::time::Instant::now() < deadline, "no WHEP frame within 5 s");
            }
            player.close().await;
        }
        for i in 0..n {
            self.publish_cycle(&format!("soak-{round}-{i}")).await.context("publish cycle")?;
            self.login_cycle(round * n + i).await.context("login cycle")?;
            for m in source.due(sent_ms + (i as u32 + 1) * 40) {
                publisher.send_media(m.type_id, m.timestamp, &m.payload).await?;
            }
            for s in &mut dribbling {
                // One header byte per step; the server may already have closed it.
                let _ = s.write_all(b"X").await;
            }
        }
        Ok(())
    }
}

/// Runs the soak; `Err` when a cycle failed or the server kept what it should have let go.
pub async fn run(plan: Plan) -> anyhow::Result<Value> {
    plan.round(0).await.context("warm-up round")?;
    tokio::time::sleep(plan.settle).await;
    let (rss_before, fds_before) = level(plan.server_pid)?;
    for round in 1..=plan.rounds {
        plan.round(round).await.with_context(|| format!("round {round}"))?;
    }
    tokio::time::sleep(plan.settle).await;
    let (rss_after, fds_after) = level(plan.server_pid)?;
    let report = json!({
        "rounds": plan.rounds, "per_round": plan.per_round,
        "rss_mib_before": rss_before as f64 / 1048576.0, "rss_mib_after": rss_after as f64 / 1048576.0,
        "open_files_before": fds_before, "open_files_after": fds_after,
    });
    anyhow::ensure!(
        fds_after <= fds_before + FD_ALLOWANCE,
        "open files grew from {fds_before} to {fds_after}: {report}"
    );
    anyhow::ensure!(
        rss_after <= rss_before + RSS_ALLOWANCE,
        "memory grew from {:.1} to {:.1} MiB: {report}",
        rss_before as f64 / 1048576.0,
        rss_after as f64 / 1048576.0
    );
    Ok(report)
}
