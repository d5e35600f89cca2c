//! `duet-bench`: load generators and measurements for Duet, or any RTMP/HTTP-FLV/WHEP server on
//! loopback: fan-out cost, relay latency and first frame (`fanout`, with RTMP, HTTP-FLV or WHEP
//! players), the kernel's cost floor
//! (`floor`), signaling scale (`signaling`), HLS from memory (`hls`), the CPU of a mixer task
//! next to the same mix by a standalone ffmpeg (`mix`), and leaks under churn (`soak`). Every
//! run is bounded in players and seconds and prints one JSON line; `scripts/bench.sh` runs the
//! set and prints the table, `scripts/soak.sh` runs the soak.
#![forbid(unsafe_code)]

mod budget;
mod delivery;
mod fanout;
mod flv_client;
mod hls;
mod mix;
mod procstat;
mod scrape;
mod signaling;
mod soak;
mod synthetic;
mod whep_client;

#[cfg(test)]
mod live_tests;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "duet-bench", about = "Loopback load for Duet and other RTMP/HTTP-FLV/WHEP servers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Hard limits, so no run is unbounded.
const MAX_PLAYERS: usize = 5000;
const MAX_SECONDS: u64 = 120;
const MAX_SESSIONS: usize = 20_000;
const MAX_ROUNDS: usize = 20;
const MAX_PER_ROUND: usize = 200;
const MAX_CONNECT_OVER_MS: u64 = 60_000;
/// A mixer task's inputs (the API's most).
const MAX_INPUTS: usize = 9;

#[derive(Subcommand)]
enum Command {
    /// One publisher, N players; reports server CPU, bytes, latency, first frame.
    Fanout {
        /// Label of this run.
        #[arg(long)]
        name: String,
        /// RTMP publish URL (omit with --raw: the floor sender makes the stream).
        #[arg(long)]
        publish: Option<String>,
        /// RTMP play URL; repeated, players take them in turn (the edges of a cluster).
        #[arg(long, conflicts_with_all = ["flv", "raw", "whep"])]
        play: Vec<String>,
        /// HTTP-FLV play URL; repeated, players take them in turn.
        #[arg(long, conflicts_with_all = ["raw", "whep"])]
        flv: Vec<String>,
        /// WHEP play URL (`duet url play --format whep`): WebRTC players, video only.
        #[arg(long, conflicts_with = "raw")]
        whep: Option<String>,
        /// host:port of `duet-bench floor`.
        #[arg(long)]
        raw: Option<String>,
        /// Players.
        #[arg(long, default_value_t = 1000)]
        players: usize,
        /// Players start connecting evenly spread over this many ms (default: 5 per ms).
        #[arg(long)]
        connect_over_ms: Option<u64>,
        /// The latency budget the server was given (0, frame or ms; the publish URL carries
        /// it as `&latency=`): a label in the report.
        #[arg(long)]
        budget: Option<budget::Budget>,
        /// The server's Prometheus endpoint (http://host:port/metrics): reports how many times
        /// it made a player skip to a keyframe during the run.
        #[arg(long)]
        metrics: Option<String>,
        /// Steady-window seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[command(flatten)]
        stream: SyntheticArgs,
        /// The publisher sends no audio: video takes the whole bitrate (what WHEP players get,
        /// so RTMP and HTTP-FLV rows can carry the same stream).
        #[arg(long)]
        video_only: bool,
        /// PID of the server to measure; repeated, their CPU and memory are summed.
        #[arg(long, required = true)]
        server_pid: Vec<u32>,
    },
    /// The cost floor: writes pre-packaged chunks to every connected socket.
    Floor {
        /// Listen address (loopback).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Seconds to run.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Bitrate, kbit/s.
        #[arg(long, default_value_t = 1000)]
        kbps: u32,
        /// Keyframe interval, ms.
        #[arg(long, default_value_t = 2000)]
        gop_ms: u32,
        /// Latency budget: 0 (every message at once), frame (one write per video frame with
        /// the audio since the last), or N ms (merged for up to N ms; keyframes at once).
        #[arg(long, default_value = "0")]
        latency: budget::Budget,
    },
    /// HLS from memory: segment requests per second and per CPU second, and the live-edge
    /// distance of low-latency pollers (blocking reloads).
    Hls {
        /// RTMP publish URL.
        #[arg(long)]
        publish: String,
        /// The stream's HLS playlist URL (`duet url play --format hls`).
        #[arg(long)]
        playlist: String,
        /// Keep-alive connections fetching segments.
        #[arg(long, default_value_t = 50)]
        fetchers: usize,
        /// Low-latency pollers.
        #[arg(long, default_value_t = 500)]
        pollers: usize,
        /// Seconds of each phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[command(flatten)]
        stream: SyntheticArgs,
        /// PID of the server to measure.
        #[arg(long)]
        server_pid: u32,
    },
    /// A mixer task's CPU (its ffmpeg child and the server) and output frame rate, then the
    /// same composition by one standalone ffmpeg (the peer) for the same window.
    Mix(mix::Plan),
    /// Signaling scale: logins, memory per session, broadcast and stream ADD to a big room.
    Signaling {
        /// ws://host:port/ws; repeated (the nodes of a cluster), sessions dial them in turn.
        #[arg(long, required = true)]
        ws: Vec<String>,
        /// AppID.
        #[arg(long)]
        app_id: u32,
        /// ServerSecret (tokens are minted locally).
        #[arg(long)]
        secret: String,
        /// Sessions.
        #[arg(long, default_value_t = 10_000)]
        sessions: usize,
        /// Members of the big room.
        #[arg(long, default_value_t = 1000)]
        big: usize,
        /// PID of the server to measure; repeated, their memory is summed.
        #[arg(long, required = true)]
        server_pid: Vec<u32>,
    },
    /// Leaks under churn: publish and login cycles, idle, dribbling and stalled connections;
    /// fails when the server's memory or open files grew.
    Soak {
        /// host:port of the HTTP/WebSocket listener.
        #[arg(long)]
        http: String,
        /// host:port of the RTMP listener.
        #[arg(long)]
        rtmp: String,
        /// AppID.
        #[arg(long)]
        app_id: u32,
        /// ServerSecret (tokens and media URLs are signed locally).
        #[arg(long)]
        secret: String,
        /// Rounds after the warm-up.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Cycles and connections of each kind per round.
        #[arg(long, default_value_t = 50)]
        per_round: usize,
        /// Seconds the server may take to let go of what a round left.
        #[arg(long, default_value_t = 5)]
        settle: u64,
        /// PID of the server to measure.
        #[arg(long)]
        server_pid: u32,
    },
}

/// The synthetic publisher's stream.
#[derive(Args)]
struct SyntheticArgs {
    /// Publisher bitrate, kbit/s.
    #[arg(long, default_value_t = 1000)]
    kbps: u32,
    /// Keyframe interval, ms.
    #[arg(long, default_value_t = 2000)]
    gop_ms: u32,
}

fn loopback(url: &str) -> anyhow::Result<()> {
    let host = url.split("://").nth(1).unwrap_or(url);
    anyhow::ensure!(
        host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]"),
        "benchmarks run on loopback only: {url}"
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Fanout {
            name,
            publish,
            play,
            flv,
            raw,
            whep,
            players,
            connect_over_ms,
            budget,
            metrics,
            seconds,
            stream: SyntheticArgs { kbps, gop_ms },
            video_only,
            server_pid,
        } => {
            let connect_over_ms = connect_over_ms.unwrap_or(players as u64 / 5);
            anyhow::ensure!(
                (1..=MAX_PLAYERS).contains(&players)
                    && seconds <= MAX_SECONDS
                    && connect_over_ms <= MAX_CONNECT_OVER_MS,
                "1 to {MAX_PLAYERS} players, at most {MAX_SECONDS} s, connecting over at most {MAX_CONNECT_OVER_MS} ms"
            );
            let sources: Vec<fanout::Source> = match (play.is_empty(), flv.is_empty(), raw, whep) {
                (false, ..) => play.into_iter().map(fanout::Source::Rtmp).collect(),
                (_, false, ..) => flv.into_iter().map(fanout::Source::Flv).collect(),
                (_, _, Some(a), _) => vec![fanout::Source::Raw(a)],
                (.., Some(u)) => vec![fanout::Source::Whep(u)],
                _ => anyhow::bail!("give --play, --flv, --whep or --raw"),
            };
            let pulled = sources.iter().map(|s| match s {
                fanout::Source::Rtmp(u) | fanout::Source::Flv(u) | fanout::Source::Raw(u) | fanout::Source::Whep(u) => {
                    u
                }
            });
            for u in publish.iter().chain(pulled).chain(&metrics) {
                loopback(u)?;
            }
            let connect_over = std::time::Duration::from_millis(connect_over_ms);
            let plan = fanout::Plan {
                name,
                budget,
                publish,
                sources,
                players,
                connect_over,
                seconds,
                kbps,
                gop_ms,
                video_only,
                server_pids: server_pid,
                metrics,
            };
            println!("{}", fanout::run(plan).await?);
        }
        Command::Hls {
            publish,
            playlist,
            fetchers,
            pollers,
            seconds,
            stream: SyntheticArgs { kbps, gop_ms },
            server_pid,
        } => {
            loopback(&publish)?;
            loopback(&playlist)?;
            anyhow::ensure!(
                fetchers <= MAX_PLAYERS && pollers <= MAX_PLAYERS && seconds <= MAX_SECONDS,
                "at most {MAX_PLAYERS} fetchers and pollers, {MAX_SECONDS} s"
            );
            let plan = hls::Plan { publish, playlist, fetchers, pollers, seconds, kbps, gop_ms, server_pid };
            println!("{}", hls::run(plan).await?);
        }
        Command::Mix(mut plan) => {
            loopback(&plan.http)?;
            loopback(&plan.rtmp)?;
            anyhow::ensure!(
                (1..=MAX_INPUTS).contains(&plan.inputs) && plan.seconds <= MAX_SECONDS && plan.warmup <= MAX_SECONDS,
                "1 to {MAX_INPUTS} inputs, a window and a warm-up of at most {MAX_SECONDS} s"
            );
            let (width, height) = (plan.width, plan.height);
            anyhow::ensure!(
                (16..=1920).contains(&width) && (16..=1920).contains(&height) && width % 2 == 0 && height % 2 == 0,
                "width and height are even, 16 to 1920"
            );
            anyhow::ensure!(
                (1..=30).contains(&plan.fps) && (50..=10_000).contains(&plan.kbps),
                "1 to 30 fps, 50 to 10000 kbit/s"
            );
            #[allow(clippy::disallowed_methods)]
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
            plan.now = now;
            println!("{}", mix::run(plan).await?);
        }
        Command::Floor { listen, seconds, kbps, gop_ms, latency } => {
            loopback(&listen)?;
            anyhow::ensure!(seconds <= 10 * MAX_SECONDS, "at most {} s", 10 * MAX_SECONDS);
            tokio::task::spawn_blocking(move || fanout::floor_server(&listen, kbps, gop_ms, seconds, latency))
                .await??;
        }
        Command::Signaling { ws, app_id, secret, sessions, big, server_pid } => {
            for u in &ws {
                loopback(u)?;
            }
            anyhow::ensure!(sessions <= MAX_SESSIONS && big <= sessions, "at most {MAX_SESSIONS} sessions");
            let secret = duet_token::AppSecret::new(&secret).map_err(|e| anyhow::anyhow!("--secret: {e}"))?;
            #[allow(clippy::disallowed_methods)]
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
            let plan = signaling::Plan { ws, app_id, secret, sessions, big, server_pids: server_pid, now };
            println!("{}", signaling::run(plan).await?);
        }
        Command::Soak { http, rtmp, app_id, secret, rounds, per_round, settle, server_pid } => {
            loopback(&http)?;
            loopback(&rtmp)?;
            anyhow::ensure!(
                rounds <= MAX_ROUNDS && per_round <= MAX_PER_ROUND && settle <= MAX_SECONDS,
                "at most {MAX_ROUNDS} rounds of {MAX_PER_ROUND}, settling at most {MAX_SECONDS} s"
            );
            let secret = duet_token::AppSecret::new(&secret).map_err(|e| anyhow::anyhow!("--secret: {e}"))?;
            #[allow(clippy::disallowed_methods)]
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
            let settle = std::time::Duration::from_secs(settle);
            let plan = soak::Plan { http, rtmp, app_id, secret, rounds, per_round, settle, server_pid, now };
            println!("{}", soak::run(plan).await?);
        }
    }
    Ok(())
}
