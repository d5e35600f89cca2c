//! Fan-out: one synthetic publisher, N players (RTMP, HTTP-FLV, WHEP, or raw chunks from the
//! floor sender), a steady window during which the server's CPU time and the bytes players
//! received are measured, plus relay latency (send stamp to arrival), time to first frame (from
//! the moment a player starts its TCP connect, or its WHEP POST, to its first keyframe; for WHEP
//! also from ICE connected and from DTLS connected), and whether every player got every message
//! of the window (`delivery`). WHEP players receive video only (an offer without audio).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::budget::{Batcher, Budget, Kind};
use crate::delivery::Track;
use crate::procstat::{cpu_seconds, percentile, total_cpu_seconds, total_rss_bytes};
use crate::synthetic::{self, Frame, Synthetic};
use crate::whep_client::{PlayerEvent, WhepPlayer};
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
    /// `http://.../whep/...` play URL.
    Whep(String),
}

impl Source {
    /// The protocol's name in the report.
    fn protocol(&self) -> &'static str {
        match self {
            Self::Rtmp(_) => "rtmp",
            Self::Flv(_) => "flv",
            Self::Raw(_) => "raw",
            Self::Whep(_) => "whep",
        }
    }
}

/// What one run is.
pub struct Plan {
    /// Label in the report.
    pub name: String,
    /// The latency budget the server was given (a label in the report; the URL carries it).
    pub budget: Option<Budget>,
    /// Where the publisher pushes (`None`: the floor sender generates the stream itself).
    pub publish: Option<String>,
    /// Where players pull: player `i` from `sources[i % len]` (the nodes of a cluster).
    pub sources: Vec<Source>,
    /// Players.
    pub players: usize,
    /// Players start connecting evenly spread over this time.
    pub connect_over: Duration,
    /// Steady-window length.
    pub seconds: u64,
    /// Publisher bitrate.
    pub kbps: u32,
    /// Keyframe interval.
    pub gop_ms: u32,
    /// The publisher sends no audio (video takes the whole bitrate).
    pub video_only: bool,
    /// The server processes measured (their CPU and memory summed: the nodes of a cluster).
    pub server_pids: Vec<u32>,
    /// The server's Prometheus endpoint, to read its keyframe-skip counter.
    pub metrics: Option<String>,
}

/// After the window, how long players keep reading so the window's last messages arrive
/// (whatever budget the server batches with) before the deliveries are checked.
const GRACE: Duration = Duration::from_millis(1500);
/// Players still without a first frame this long after the last one started are given up on.
const FIRST_FRAME_WAIT: Duration = Duration::from_secs(20);
/// After the run, how long players have to end by themselves before they are cut.
const STOP_WAIT: Duration = Duration::from_secs(3);
/// The shortest phase whose CPU use is reported.
const MIN_PHASE: Duration = Duration::from_millis(500);

/// The measured window as message numbers, per kind (0: video, 1: audio), inclusive.
struct Window {
    /// Set by the publisher: the first message of the kind it sent while measuring.
    sent_lo: [AtomicU64; 2],
    /// Set by the publisher: the last message of the kind it sent while measuring.
    sent_hi: [AtomicU64; 2],
    /// Without a publisher (the floor): the lowest and highest numbers players received while
    /// measuring.
    seen_lo: [AtomicU64; 2],
    seen_hi: [AtomicU64; 2],
}

impl Default for Window {
    fn default() -> Self {
        let max = || [AtomicU64::new(u64::MAX), AtomicU64::new(u64::MAX)];
        Self { sent_lo: max(), sent_hi: max(), seen_lo: max(), seen_hi: [AtomicU64::new(0), AtomicU64::new(0)] }
    }
}

impl Window {
    /// Whether message `seq` of kind `k` was sent in the window (as far as is known yet).
    fn sent_in(&self, k: usize, seq: u64) -> bool {
        self.sent_lo[k].load(SeqCst) <= seq && seq <= self.sent_hi[k].load(SeqCst)
    }

    /// The window of kind `k`: what the publisher sent, or what players saw.
    fn range(&self, k: usize, publisher: bool) -> (u64, u64) {
        let (lo, hi) = if publisher { (&self.sent_lo, &self.sent_hi) } else { (&self.seen_lo, &self.seen_hi) };
        (lo[k].load(SeqCst), hi[k].load(SeqCst))
    }
}

/// 0 for video, 1 for audio.
fn kind_index(type_id: u8) -> Option<usize> {
    match type_id {
        synthetic::VIDEO => Some(0),
        synthetic::AUDIO => Some(1),
        _ => None,
    }
}

#[derive(Default)]
struct Shared {
    measuring: AtomicBool,
    /// No publisher: players derive the window from what they receive.
    derive_window: bool,
    window: Window,
    bytes: AtomicU64,
    connected: AtomicU64,
    failed: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
    first_frame_us: Mutex<Vec<u64>>,
    /// WHEP: from ICE connected, and from ICE and DTLS connected, to the first keyframe.
    first_after_ice_us: Mutex<Vec<u64>>,
    first_after_dtls_us: Mutex<Vec<u64>>,
    /// WHEP: from the POST to ICE and DTLS connected.
    setup_us: Mutex<Vec<u64>>,
    /// WHEP: UDP bytes players received in the window (RTP, RTCP, DTLS, STUN).
    wire_bytes: AtomicU64,
    /// WHEP: one DTLS certificate for every player.
    cert: Option<str0m::config::DtlsCert>,
    /// How late each player started connecting after its slot: the load generator's own lag.
    start_lag_us: Mutex<Vec<u64>>,
}

#[derive(Default)]
struct Seen {
    tracks: [Track; 2],
    /// Payload bytes that arrived while measuring.
    window_bytes: u64,
    /// Payload bytes of the messages the publisher sent in the window.
    in_window_bytes: u64,
}

#[derive(Default)]
struct Player {
    alive: AtomicBool,
    seen: std::sync::Mutex<Seen>,
}

impl Player {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Publishes the synthetic stream until `stop`; marks the window's first and last message
/// numbers and counts the payload bytes sent in it.
/// Publishes the synthetic stream (audio and video) to `url` until `stop` (for runs that need
/// a publisher without the fan-out's accounting: `hls`).
pub async fn publish_synthetic(url: String, kbps: u32, gop_ms: u32, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    publisher(url, (kbps, gop_ms, false), stop, Arc::default(), Arc::default()).await
}

async fn publisher(
    url: String,
    (kbps, gop_ms, video_only): (u32, u32, bool),
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
    sent: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let target = Target::parse(&url)?;
    let mut conn = Conn::open(&target).await?;
    conn.publish(&target).await?;
    for m in synthetic::sequence_headers().into_iter().filter(|m| !video_only || m.type_id == synthetic::VIDEO) {
        conn.send_media(m.type_id, m.timestamp, &m.payload).await?;
    }
    let mut source = if video_only { Synthetic::video_only(kbps, gop_ms) } else { Synthetic::new(kbps, gop_ms) };
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    let mut last_in_window: [Option<u64>; 2] = [None, None];
    let window = &shared.window;
    while !stop.load(Relaxed) {
        tick.tick().await;
        for m in source.due(start.elapsed().as_millis() as u32) {
            let (Some(k), Some(f)) = (kind_index(m.type_id), Frame::from_flv(m.type_id, &m.payload)) else { continue };
            let seq = f.seq;
            if shared.measuring.load(SeqCst) {
                if last_in_window[k].is_none() {
                    window.sent_lo[k].store(seq, SeqCst);
                }
                last_in_window[k] = Some(seq);
                sent.fetch_add(m.payload.len() as u64, Relaxed);
            } else if window.sent_hi[0].load(SeqCst) == u64::MAX && last_in_window.iter().any(Option::is_some) {
                // The window closed: mark its end before anything after it leaves.
                for (k, last) in last_in_window.iter().enumerate() {
                    window.sent_hi[k].store(last.unwrap_or(0), SeqCst);
                }
            }
            conn.send_media(m.type_id, m.timestamp, &m.payload).await?;
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

/// One player: connects (the first-frame clock starts here), reads media, records first frame,
/// latency, bytes and the numbers of the messages it got.
async fn play(source: Source, shared: Arc<Shared>, me: Arc<Player>, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let asked = Instant::now();
    let mut first = false;
    // A media message of kind `kind` (RTMP type), `len` payload bytes, read as `frame`.
    let mut on_media = |kind: u8, frame: Option<Frame>, len: u64| {
        let measuring = shared.measuring.load(SeqCst);
        if let (Some(k), Some(f)) = (kind_index(kind), frame) {
            let mut seen = me.seen();
            seen.tracks[k].see(f.seq);
            if shared.window.sent_in(k, f.seq) {
                seen.in_window_bytes += len;
            }
            if measuring {
                seen.window_bytes += len;
                if shared.derive_window {
                    shared.window.seen_lo[k].fetch_min(f.seq, SeqCst);
                    shared.window.seen_hi[k].fetch_max(f.seq, SeqCst);
                }
            }
        }
        if measuring {
            shared.bytes.fetch_add(len, Relaxed);
        }
        let f = frame.filter(|f| f.kind == synthetic::VIDEO)?;
        if !first && f.keyframe {
            first = true;
            return Some(Sample::First(asked.elapsed().as_micros() as u64));
        }
        let stamp = f.stamp.filter(|_| measuring)?;
        Some(Sample::Latency(synthetic::now_micros().saturating_sub(stamp)))
    };

    match source {
        Source::Rtmp(url) => {
            let target = Target::parse(&url)?;
            let mut conn = Conn::open(&target).await?;
            conn.play(&target).await?;
            shared.connected.fetch_add(1, Relaxed);
            while !stop.load(Relaxed) {
                let Some(m) = conn.next().await? else { break };
                if kind_index(m.type_id).is_some() {
                    let what = on_media(m.type_id, Frame::from_flv(m.type_id, &m.payload), m.payload.len() as u64);
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
                let what = on_media(m.type_id, Frame::from_flv(m.type_id, &m.payload), m.payload.len() as u64);
                record(&shared, what).await;
            }
        }
        Source::Flv(url) => {
            let mut flv = crate::flv_client::FlvStream::open(&url).await?;
            shared.connected.fetch_add(1, Relaxed);
            while !stop.load(Relaxed) {
                let Some(tag) = flv.next().await? else { break };
                if kind_index(tag.kind).is_some() {
                    let what = on_media(tag.kind, Frame::from_flv(tag.kind, &tag.data), tag.data.len() as u64);
                    record(&shared, what).await;
                }
            }
        }
        Source::Whep(url) => {
            let cert = shared.cert.clone().ok_or_else(|| anyhow::anyhow!("no DTLS certificate"))?;
            let mut player = WhepPlayer::open(&url, cert).await?;
            let (mut ice, mut dtls) = (None, None);
            let mut wire = player.wire_bytes;
            while !stop.load(Relaxed) {
                let Some(event) = player.next().await? else { break };
                if shared.measuring.load(SeqCst) {
                    shared.wire_bytes.fetch_add(player.wire_bytes - wire, Relaxed);
                }
                wire = player.wire_bytes;
                match event {
                    PlayerEvent::IceConnected => ice = Some(Instant::now()),
                    PlayerEvent::Connected => {
                        dtls = Some(Instant::now());
                        shared.connected.fetch_add(1, Relaxed);
                        shared.setup_us.lock().await.push(asked.elapsed().as_micros() as u64);
                    }
                    PlayerEvent::Frame(data) => {
                        let what = on_media(synthetic::VIDEO, Frame::from_annex_b(&data), data.len() as u64);
                        if matches!(what, Some(Sample::First(_))) {
                            let since = |at: Option<Instant>| at.map_or(0, |at| at.elapsed().as_micros() as u64);
                            shared.first_after_ice_us.lock().await.push(since(ice));
                            shared.first_after_dtls_us.lock().await.push(since(dtls));
                        }
                        record(&shared, what).await;
                    }
                }
            }
            player.close().await;
        }
    }
    me.alive.store(false, Relaxed);
    Ok(())
}

/// Which players did not get all the data, and why (a player may have several reasons).
#[derive(Default)]
struct Missed {
    players: usize,
    disconnected: usize,
    breaks: usize,
    short: usize,
}

/// A player missed data when it disconnected, saw a break in the message numbers of a kind
/// (a gap, a repeat, a skip to a later keyframe), did not receive every message of the window,
/// or got fewer payload bytes of the window's messages than were `sent` (given when players
/// receive the messages as they were published: not for WHEP, whose frames are repackaged).
/// Only the kinds in `kinds` (0: video, 1: audio) are checked, and audio only when its window
/// holds messages (a video-only stream has none).
fn missed(players: &[Arc<Player>], shared: &Shared, publisher: bool, kinds: &[usize], sent: Option<u64>) -> Missed {
    let mut m = Missed::default();
    for p in players {
        let seen = p.seen();
        let disconnected = !p.alive.load(Relaxed);
        let breaks = seen.tracks.iter().any(|t| t.breaks > 0);
        let short = kinds.iter().any(|&k| {
            let (lo, hi) = shared.window.range(k, publisher);
            (k == 0 || lo <= hi) && !seen.tracks[k].covers(lo, hi)
        }) || sent.is_some_and(|sent| seen.in_window_bytes < sent);
        m.disconnected += usize::from(disconnected);
        m.breaks += usize::from(breaks);
        m.short += usize::from(short);
        m.players += usize::from(disconnected || breaks || short);
    }
    m
}

/// p50 / p99 / max in ms, and the count, of samples in µs.
fn summary(samples: &mut [u64]) -> Value {
    samples.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;
    json!({
        "p50": ms(percentile(samples, 50.0)),
        "p99": ms(percentile(samples, 99.0)),
        "max": ms(samples.last().copied().unwrap_or(0)),
        "samples": samples.len(),
    })
}

/// CPU the load generator itself used over `since`, in cores (1.0: one core busy).
fn load_cpu(cpu0: f64, since: Instant) -> anyhow::Result<f64> {
    let used = cpu_seconds(std::process::id())? - cpu0;
    Ok((used / since.elapsed().as_secs_f64() * 100.0).round() / 100.0)
}

/// Runs one fan-out measurement and returns its report.
pub async fn run(plan: Plan) -> anyhow::Result<Value> {
    anyhow::ensure!(!plan.sources.is_empty() && !plan.server_pids.is_empty(), "no source or no server");
    let whep = matches!(plan.sources[0], Source::Whep(_));
    let cert = if whep { Some(crate::whep_client::certificate()?) } else { None };
    let shared = Arc::new(Shared { derive_window: plan.publish.is_none(), cert, ..Shared::default() });
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    if let Some(url) = plan.publish.clone() {
        let (stop, shared, sent) = (stop.clone(), shared.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = publisher(url, (plan.kbps, plan.gop_ms, plan.video_only), stop, shared, sent).await {
                eprintln!("publisher: {e:#}");
            }
        }));
        tokio::time::sleep(Duration::from_millis(2500)).await; // a GOP in the server's cache
    }
    let skips0 = match &plan.metrics {
        Some(url) => Some(crate::scrape::counter(url, "duet_media_keyframe_skips_total").await?),
        None => None,
    };
    let players: Vec<Arc<Player>> =
        (0..plan.players).map(|_| Arc::new(Player { alive: AtomicBool::new(true), ..Player::default() })).collect();
    // Player i starts connecting at t0 + i/N of the spread, so the accept queue sees an even rate.
    let own_cpu0 = cpu_seconds(std::process::id())?;
    let t0 = tokio::time::Instant::now() + Duration::from_millis(10);
    for (i, p) in players.iter().enumerate() {
        let slot = t0 + plan.connect_over.mul_f64(i as f64 / plan.players as f64);
        let source = plan.sources[i % plan.sources.len()].clone();
        let (shared, me, stop) = (shared.clone(), p.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(slot).await;
            shared.start_lag_us.lock().await.push(slot.elapsed().as_micros() as u64);
            if let Err(e) = play(source, shared.clone(), me.clone(), stop).await {
                shared.failed.fetch_add(1, Relaxed);
                me.alive.store(false, Relaxed);
                if shared.failed.load(Relaxed) <= 3 {
                    eprintln!("player: {e:#}");
                }
            }
        }));
    }
    tokio::time::sleep_until(t0 + plan.connect_over).await;
    let deadline = Instant::now() + FIRST_FRAME_WAIT;
    while (shared.first_frame_us.lock().await.len() as u64) < plan.players as u64 - shared.failed.load(Relaxed)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The connect phase, from the first player's start to the last first frame, measured over
    // at least MIN_PHASE (the kernel counts CPU time in 10 ms ticks).
    tokio::time::sleep_until(t0 + MIN_PHASE).await;
    let connect_cpu = load_cpu(own_cpu0, t0.into_std())?;
    tokio::time::sleep(Duration::from_secs(2)).await; // warm-up
    let cpu0 = total_cpu_seconds(&plan.server_pids)?;
    let own_cpu0 = cpu_seconds(std::process::id())?;
    let started = Instant::now();
    shared.measuring.store(true, SeqCst);
    tokio::time::sleep(Duration::from_secs(plan.seconds)).await;
    shared.measuring.store(false, SeqCst);
    let window = started.elapsed().as_secs_f64();
    let cpu = total_cpu_seconds(&plan.server_pids)? - cpu0;
    let window_cpu = load_cpu(own_cpu0, started)?;
    let rss = total_rss_bytes(&plan.server_pids)?;
    tokio::time::sleep(GRACE).await;
    let publisher = plan.publish.is_some();
    let kinds: &[usize] = if whep { &[0] } else { &[0, 1] };
    let sent = (publisher && !whep).then(|| sent.load(Relaxed));
    let missed = missed(&players, &shared, publisher, kinds, sent);
    let skips = match (&plan.metrics, skips0) {
        (Some(url), Some(before)) => {
            Some(crate::scrape::counter(url, "duet_media_keyframe_skips_total").await? - before)
        }
        _ => None,
    };
    stop.store(true, Relaxed);
    // Players end at their next message (WHEP ones DELETE their resource); the rest are cut.
    let ending = Instant::now() + STOP_WAIT;
    for t in tasks {
        if tokio::time::timeout_at(ending.into(), async {
            while !t.is_finished() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .is_err()
        {
            t.abort();
        }
    }

    let delivered = shared.bytes.load(Relaxed);
    let gbits = delivered as f64 * 8.0 / 1e9;
    let cpu_s_per_gbit = if gbits > 0.0 { cpu / gbits } else { 0.0 };
    // Server cores busy in the window, and what one core would carry at this run's rate and at
    // 1 Mbit/s per viewer (from the CPU per delivered bit).
    let cores = cpu / window;
    let players_per_core = if cores > 0.0 { (plan.players as f64 / cores).round() } else { 0.0 };
    let viewers_1mbit = if cpu_s_per_gbit > 0.0 { (1000.0 / cpu_s_per_gbit).round() } else { 0.0 };
    let wire = shared.wire_bytes.load(Relaxed);
    Ok(json!({
        "name": plan.name,
        "protocol": plan.sources[0].protocol(),
        "servers": plan.server_pids.len(),
        "video_only": plan.video_only || whep,
        "budget": plan.budget.map(|b| b.to_string()),
        "players": plan.players,
        "connect_over_ms": plan.connect_over.as_millis() as u64,
        "connected": shared.connected.load(Relaxed),
        "failed": shared.failed.load(Relaxed),
        "missed": missed.players,
        "missed_why": {"disconnected": missed.disconnected, "breaks": missed.breaks, "short": missed.short},
        "server_keyframe_skips": skips,
        "window_s": (window * 100.0).round() / 100.0,
        "kbps": plan.kbps,
        "server_cpu_s": (cpu * 1000.0).round() / 1000.0,
        "delivered_bytes": delivered,
        "delivered_mbit_s": (delivered as f64 * 8.0 / window / 1e6 * 10.0).round() / 10.0,
        "cpu_s_per_gbit": (cpu_s_per_gbit * 1000.0).round() / 1000.0,
        "server_cores": (cores * 1000.0).round() / 1000.0,
        "players_per_core": players_per_core,
        "viewers_per_core_1mbit": viewers_1mbit,
        "server_rss_mib": (rss as f64 / 1048576.0 * 10.0).round() / 10.0,
        "latency_ms": summary(&mut shared.latencies_us.lock().await),
        "first_frame_ms": summary(&mut shared.first_frame_us.lock().await),
        // WHEP only: first keyframe after ICE connected and after DTLS connected; POST to
        // connected; UDP bytes received in the window.
        "whep": whep.then_some(json!({
            "first_after_ice_ms": summary(&mut shared.first_after_ice_us.lock().await),
            "first_after_dtls_ms": summary(&mut shared.first_after_dtls_us.lock().await),
            "setup_ms": summary(&mut shared.setup_us.lock().await),
            "wire_mbit_s": (wire as f64 * 8.0 / window / 1e6 * 10.0).round() / 10.0,
        })),
        "start_lag_ms": summary(&mut shared.start_lag_us.lock().await),
        // CPU the load generator used, in cores: from the first player's start to the last
        // first frame, and in the window.
        "load_cpu": {"connect": connect_cpu, "window": window_cpu},
    }))
}

/// The floor: accepts players on `addr` and, from one thread, writes the same pre-packaged
/// RTMP chunks to every socket, until `seconds` have passed: no protocol work, no per-player
/// task. Messages are batched under `budget` ([`Batcher`]); each batch is concatenated once and
/// written to every socket with one blocking write.
pub fn floor_server(addr: &str, kbps: u32, gop_ms: u32, seconds: u64, budget: Budget) -> anyhow::Result<()> {
    use std::io::Write;
    let listener = std::net::TcpListener::bind(addr)?;
    println!("floor listening on {} (latency budget {budget})", listener.local_addr()?);
    let mut header = Vec::new();
    for m in synthetic::sequence_headers() {
        duet_rtmp::chunk::encode(&mut header, 6, 0, m.type_id, 1, &m.payload, 4096);
    }
    let sockets = Arc::new(std::sync::Mutex::new(Vec::<std::net::TcpStream>::new()));
    let accepted = sockets.clone();
    std::thread::spawn(move || {
        for mut tcp in listener.incoming().map_while(Result::ok) {
            let _ = tcp.set_nodelay(true);
            // A new player's first bytes are never delayed.
            if tcp.write_all(&header).is_ok() {
                accepted.lock().unwrap_or_else(|p| p.into_inner()).push(tcp);
            }
        }
    });
    let mut source = Synthetic::new(kbps, gop_ms);
    let start = Instant::now();
    let mut batcher = Batcher::new(budget, start);
    let mut out = Vec::new();
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(5));
        let now = start.elapsed().as_millis() as u64;
        let mut batches = Vec::new();
        for m in source.due(now as u32) {
            out.clear();
            let csid = if m.type_id == synthetic::AUDIO { 4 } else { 6 };
            duet_rtmp::chunk::encode(&mut out, csid, m.timestamp, m.type_id, 1, &m.payload, 4096);
            let kind = match m.type_id {
                synthetic::VIDEO if synthetic::is_keyframe(&m.payload) => Kind::Keyframe,
                synthetic::VIDEO => Kind::Video,
                _ => Kind::Audio,
            };
            batches.extend(batcher.push(now, kind, &out));
        }
        batches.extend(batcher.poll(now));
        for batch in batches {
            sockets.lock().unwrap_or_else(|p| p.into_inner()).retain_mut(|tcp| tcp.write_all(&batch).is_ok());
        }
    }
    Ok(())
}
