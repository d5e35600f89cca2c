//! Fan-out: one synthetic publisher, N players (RTMP, HTTP-FLV, or raw chunks from the floor
//! sender), a steady window during which the server's CPU time and the bytes players received
//! are measured, plus relay latency (send stamp to arrival) and time to first frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::procstat::{cpu_seconds, percentile, rss_bytes};
use crate::synthetic::{self, Synthetic};
use duet_client::rtmp::{Conn, Target};

/// How players pull.
#[derive(Clone, Debug)]
pub enum Source {
    /// `rtmp://...` play URL.
    Rtmp(String),
    /// `http://....flv` URL.
    Flv(String),
    /// `host:port` of the floor sender.
    Raw(String),
}

/// What one run is.
pub struct Plan {
    /// Label in the report.
    pub name: String,
    /// Where the publisher pushes (`None`: the floor sender generates the stream itself).
    pub publish: Option<String>,
    /// Where players pull.
    pub source: Source,
    /// Players.
    pub players: usize,
    /// Steady-window length.
    pub seconds: u64,
    /// Publisher bitrate.
    pub kbps: u32,
    /// Keyframe interval.
    pub gop_ms: u32,
    /// The server process measured.
    pub server_pid: u32,
}

#[derive(Default)]
struct Shared {
    measuring: AtomicBool,
    bytes: AtomicU64,
    connected: AtomicU64,
    failed: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
    first_frame_us: Mutex<Vec<u64>>,
}

struct Player {
    window_bytes: AtomicU64,
    alive: AtomicBool,
}

/// Publishes the synthetic stream until `stop`; counts payload bytes sent while measuring.
async fn publisher(
    url: String,
    kbps: u32,
    gop_ms: u32,
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
    sent: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let target = Target::parse(&url)?;
    let mut conn = Conn::open(&target).await?;
    conn.publish(&target).await?;
    for m in synthetic::sequence_headers() {
        conn.send_media(m.type_id, m.timestamp, &m.payload).await?;
    }
    let mut source = Synthetic::new(kbps, gop_ms);
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    while !stop.load(Relaxed) {
        tick.tick().await;
        for m in source.due(start.elapsed().as_millis() as u32) {
            conn.send_media(m.type_id, m.timestamp, &m.payload).await?;
            if shared.measuring.load(Relaxed) {
                sent.fetch_add(m.payload.len() as u64, Relaxed);
            }
        }
    }
    Ok(())
}

enum Sample {
    First(u64),
    Latency(u64),
}

async fn record(shared: &Shared, what: Option<Sample>) {
    match what {
        Some(Sample::First(us)) => shared.first_frame_us.lock().await.push(us),
        Some(Sample::Latency(us)) => shared.latencies_us.lock().await.push(us),
        None => {}
    }
}

/// One player: reads media, records first frame, latency and bytes.
async fn play(source: Source, shared: Arc<Shared>, me: Arc<Player>, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let asked = Instant::now();
    let mut first = false;
    let mut on_media = |kind: u8, payload: &[u8]| {
        if kind != synthetic::VIDEO {
            if shared.measuring.load(Relaxed) {
                me.window_bytes.fetch_add(payload.len() as u64, Relaxed);
                shared.bytes.fetch_add(payload.len() as u64, Relaxed);
            }
            return None;
        }
        let mut out = None;
        if !first && synthetic::is_keyframe(payload) {
            first = true;
            out = Some(Sample::First(asked.elapsed().as_micros() as u64));
        }
        if shared.measuring.load(Relaxed) {
            me.window_bytes.fetch_add(payload.len() as u64, Relaxed);
            shared.bytes.fetch_add(payload.len() as u64, Relaxed);
            if let Some(stamp) = synthetic::stamp(payload) {
                let lat = synthetic::now_micros().saturating_sub(stamp);
                if out.is_none() {
                    out = Some(Sample::Latency(lat));
                }
            }
        }
        out
    };

    match source {
        Source::Rtmp(url) => {
            let target = Target::parse(&url)?;
            let mut conn = Conn::open(&target).await?;
            conn.play(&target).await?;
            shared.connected.fetch_add(1, Relaxed);
            while !stop.load(Relaxed) {
                let Some(m) = conn.next().await? else { break };
                if m.type_id == synthetic::VIDEO || m.type_id == synthetic::AUDIO {
                    let what = on_media(m.type_id, &m.payload);
                    record(&shared, what).await;
                }
            }
        }
        Source::Raw(addr) => {
            let tcp = tokio::net::TcpStream::connect(&addr).await?;
            let mut conn = Conn::raw(tcp);
            shared.connected.fetch_add(1, Relaxed);
            while !stop.load(Relaxed) {
                let Some(m) = conn.next().await? else { break };
                let what = on_media(m.type_id, &m.payload);
                record(&shared, what).await;
            }
        }
        Source::Flv(url) => {
            let mut flv = crate::flv_client::FlvStream::open(&url).await?;
            shared.connected.fetch_add(1, Relaxed);
            while !stop.load(Relaxed) {
                let Some(tag) = flv.next().await? else { break };
                if tag.kind == synthetic::VIDEO || tag.kind == synthetic::AUDIO {
                    let what = on_media(tag.kind, &tag.data);
                    record(&shared, what).await;
                }
            }
        }
    }
    me.alive.store(false, Relaxed);
    Ok(())
}

/// Runs one fan-out measurement and returns its report.
pub async fn run(plan: Plan) -> anyhow::Result<Value> {
    let shared = Arc::new(Shared::default());
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    if let Some(url) = plan.publish.clone() {
        let (stop, shared, sent) = (stop.clone(), shared.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = publisher(url, plan.kbps, plan.gop_ms, stop, shared, sent).await {
                eprintln!("publisher: {e:#}");
            }
        }));
        tokio::time::sleep(Duration::from_millis(2500)).await; // a GOP in the server's cache
    }
    let players: Vec<Arc<Player>> = (0..plan.players)
        .map(|_| Arc::new(Player { window_bytes: AtomicU64::new(0), alive: AtomicBool::new(true) }))
        .collect();
    // Connect in batches so the accept queue does not overflow.
    for batch in players.chunks(100) {
        for p in batch {
            let (source, shared, me, stop) = (plan.source.clone(), shared.clone(), p.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = play(source, shared.clone(), me.clone(), stop).await {
                    shared.failed.fetch_add(1, Relaxed);
                    me.alive.store(false, Relaxed);
                    if shared.failed.load(Relaxed) <= 3 {
                        eprintln!("player: {e:#}");
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while (shared.first_frame_us.lock().await.len() as u64) < plan.players as u64 - shared.failed.load(Relaxed)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // warm-up
    let cpu0 = cpu_seconds(plan.server_pid)?;
    let started = Instant::now();
    shared.measuring.store(true, Relaxed);
    tokio::time::sleep(Duration::from_secs(plan.seconds)).await;
    shared.measuring.store(false, Relaxed);
    let window = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(plan.server_pid)? - cpu0;
    let rss = rss_bytes(plan.server_pid)?;
    stop.store(true, Relaxed);

    let delivered = shared.bytes.load(Relaxed);
    // What each player should have had: the publisher's bytes (or, for the floor, the best player's).
    let expected = if plan.publish.is_some() {
        sent.load(Relaxed)
    } else {
        players.iter().map(|p| p.window_bytes.load(Relaxed)).max().unwrap_or(0)
    };
    let missed =
        players.iter().filter(|p| !p.alive.load(Relaxed) || p.window_bytes.load(Relaxed) < expected * 9 / 10).count();
    let mut lat = shared.latencies_us.lock().await.clone();
    lat.sort_unstable();
    let mut first = shared.first_frame_us.lock().await.clone();
    first.sort_unstable();
    let gbits = delivered as f64 * 8.0 / 1e9;
    for t in tasks {
        t.abort();
    }
    Ok(json!({
        "name": plan.name,
        "players": plan.players,
        "connected": shared.connected.load(Relaxed),
        "failed": shared.failed.load(Relaxed),
        "missed": missed,
        "window_s": (window * 100.0).round() / 100.0,
        "kbps": plan.kbps,
        "server_cpu_s": (cpu * 1000.0).round() / 1000.0,
        "delivered_bytes": delivered,
        "delivered_mbit_s": (delivered as f64 * 8.0 / window / 1e6 * 10.0).round() / 10.0,
        "cpu_s_per_gbit": if gbits > 0.0 { (cpu / gbits * 1000.0).round() / 1000.0 } else { 0.0 },
        "server_rss_mib": (rss as f64 / 1048576.0 * 10.0).round() / 10.0,
        "latency_ms": {"p50": percentile(&lat, 50.0) as f64 / 1000.0, "p99": percentile(&lat, 99.0) as f64 / 1000.0, "max": lat.last().copied().unwrap_or(0) as f64 / 1000.0, "samples": lat.len()},
        "first_frame_ms": {"p50": percentile(&first, 50.0) as f64 / 1000.0, "p99": percentile(&first, 99.0) as f64 / 1000.0, "samples": first.len()},
    }))
}

/// The floor: accepts players on `addr` and, from one thread, writes the same pre-packaged
/// RTMP chunks to every socket (one blocking write per socket per message, no protocol work,
/// no per-player task), until `seconds` have passed.
pub fn floor_server(addr: &str, kbps: u32, gop_ms: u32, seconds: u64) -> anyhow::Result<()> {
    use std::io::Write;
    let listener = std::net::TcpListener::bind(addr)?;
    println!("floor listening on {}", listener.local_addr()?);
    let mut header = Vec::new();
    for m in synthetic::sequence_headers() {
        duet_rtmp::chunk::encode(&mut header, 6, 0, m.type_id, 1, &m.payload, 4096);
    }
    let sockets = Arc::new(std::sync::Mutex::new(Vec::<std::net::TcpStream>::new()));
    let accepted = sockets.clone();
    std::thread::spawn(move || {
        for mut tcp in listener.incoming().map_while(Result::ok) {
            let _ = tcp.set_nodelay(true);
            if tcp.write_all(&header).is_ok() {
                accepted.lock().unwrap_or_else(|p| p.into_inner()).push(tcp);
            }
        }
    });
    let mut source = Synthetic::new(kbps, gop_ms);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(5));
        for m in source.due(start.elapsed().as_millis() as u32) {
            let mut out = Vec::with_capacity(m.payload.len() + 32);
            let csid = if m.type_id == synthetic::AUDIO { 4 } else { 6 };
            duet_rtmp::chunk::encode(&mut out, csid, m.timestamp, m.type_id, 1, &m.payload, 4096);
            sockets.lock().unwrap_or_else(|p| p.into_inner()).retain_mut(|tcp| tcp.write_all(&out).is_ok());
        }
    }
    Ok(())
}
