//! Mixing: what one mixer task costs (docs/mixing.md), next to the same composition run by hand.
//!
//! 1. A 20 s clip is made once (ffmpeg `testsrc` + a sine, x264 ultrafast with a keyframe a
//!    second, AAC, FLV) in a temporary folder.
//! 2. `inputs` ffmpeg publishers send it to Duet over RTMP in real time, looped, without
//!    encoding (`-c copy`); once every input plays, the task is started through the HTTP API
//!    (`POST /api/v1/mixer-tasks`, signed as a business server signs), its inputs in a grid
//!    (two side by side, four in 2×2). After a warm-up, the task's ffmpeg child is found in
//!    /proc (its input URLs name the user `$mixer:{taskID}`), and for `seconds` the CPU time of
//!    the child and of the server are measured, while an RTMP player of the output counts the
//!    video frames it receives (the output's frame rate shows whether the mix keeps real time).
//!    Then the task is stopped and the publishers killed.
//! 3. The peer: one standalone ffmpeg composes the same inputs read from the clip file (`-re`,
//!    looped) with the same graph (canvas, scale and crop into each region, overlay; `amix` of
//!    every sound) and the same encoders (x264 without B-frames, with the preset, tune and
//!    profile read from the mixer child's command line: veryfast, zerolatency, baseline; AAC),
//!    FLV to /dev/null; its CPU time and frames (from `-progress`) over the same window.
//!
//! Every process started here is killed when the run ends, on error too, and each has a time
//! limit of its own (`-t`) in case this process is killed first.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use duet_client::rtmp::{Conn, Target};
use duet_token::{ApiRequest, AppSecret, MediaAction, MediaBases, MediaFormat, MediaUrl};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::procstat::{cpu_seconds, rss_bytes};

/// Seconds of the input clip.
const CLIP_SECONDS: u32 = 20;
/// How long the inputs, the output and the mixer child may take to appear.
const APPEAR_WAIT: Duration = Duration::from_secs(20);
/// Seconds every ffmpeg started here may run beyond the warm-up and the window.
const SPARE_SECONDS: u64 = 40;

/// What one run is (the `mix` subcommand's arguments).
#[derive(clap::Args)]
pub struct Plan {
    /// host:port of the HTTP listener (the API).
    #[arg(long)]
    pub http: String,
    /// host:port of the RTMP listener.
    #[arg(long)]
    pub rtmp: String,
    /// AppID.
    #[arg(long)]
    pub app_id: u32,
    /// ServerSecret (API requests and media URLs are signed locally).
    #[arg(long, value_parser = parse_secret)]
    pub secret: AppSecret,
    /// Inputs, in a grid (2: side by side, 4: 2x2).
    #[arg(long, default_value_t = 2)]
    pub inputs: usize,
    /// Output width.
    #[arg(long, default_value_t = 640)]
    pub width: u32,
    /// Output height.
    #[arg(long, default_value_t = 360)]
    pub height: u32,
    /// Output frames per second.
    #[arg(long, default_value_t = 15)]
    pub fps: u32,
    /// Output video bitrate, kbit/s.
    #[arg(long, default_value_t = 800)]
    pub kbps: u32,
    /// Seconds from the start of a mix to its window.
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// Seconds of the window.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// The ffmpeg program (clip, publishers, peer).
    #[arg(long, default_value = "ffmpeg")]
    pub ffmpeg: String,
    /// CPUs the peer runs on (`taskset -c`; give the server's, which its mixer children inherit).
    #[arg(long)]
    pub peer_cpus: Option<String>,
    /// PID of the server to measure.
    #[arg(long)]
    pub server_pid: u32,
    /// Unix seconds at the start (URLs' and API requests' times); set when the run starts.
    #[arg(skip)]
    pub now: i64,
}

fn parse_secret(hex: &str) -> Result<AppSecret, String> {
    AppSecret::new(hex).map_err(|e| e.to_string())
}

/// Processes started here: killed and reaped when dropped.
#[derive(Default)]
struct Procs(Vec<Child>);

impl Procs {
    fn spawn(&mut self, cmd: &mut Command) -> anyhow::Result<u32> {
        let child = cmd.stdin(Stdio::null()).spawn().with_context(|| format!("start {:?}", cmd.get_program()))?;
        let pid = child.id();
        self.0.push(child);
        Ok(pid)
    }

    /// The first process that ended, with its status.
    fn ended(&mut self) -> Option<(u32, std::process::ExitStatus)> {
        self.0.iter_mut().find_map(|c| c.try_wait().ok().flatten().map(|s| (c.id(), s)))
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("duet-bench-mix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The last lines of a log file, for an error message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(4).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// A region of the canvas: top, left, bottom, right (the API's `layout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Region {
    top: u32,
    left: u32,
    bottom: u32,
    right: u32,
}

/// `n` regions in a grid over a `w`×`h` canvas, row by row: ⌈√n⌉ columns (two inputs side by
/// side, four in 2×2), sides even.
fn grid(n: usize, w: u32, h: u32) -> Vec<Region> {
    let cols = (1..).find(|c| c * c >= n).unwrap_or(1) as u32;
    let rows = (n as u32).div_ceil(cols);
    let (cw, ch) = ((w / cols) & !1, (h / rows) & !1);
    (0..n as u32)
        .map(|i| {
            let (r, c) = (i / cols, i % cols);
            Region { top: r * ch, left: c * cw, bottom: (r + 1) * ch, right: (c + 1) * cw }
        })
        .collect()
}

/// The input clip's picture size: a quarter of the output's area per input of a 2×2 grid at
/// 720p (640×360), else 320×240.
fn clip_size(width: u32) -> (u32, u32) {
    if width > 640 { (640, 360) } else { (320, 240) }
}

/// The x264 settings of a mix: what the mixer child was given, so the peer encodes alike.
#[derive(Debug, Clone, PartialEq, Eq)]
struct X264 {
    preset: String,
    tune: Option<String>,
    profile: Option<String>,
}

impl X264 {
    /// The settings in a command line (`-preset`, `-tune`, `-profile:v`; veryfast when it
    /// names no preset).
    fn of(args: &[String]) -> Self {
        let after = |flag: &str| args.windows(2).find(|w| w[0] == flag).map(|w| w[1].clone());
        Self {
            preset: after("-preset").unwrap_or_else(|| "veryfast".into()),
            tune: after("-tune"),
            profile: after("-profile:v"),
        }
    }

    fn to_json(&self) -> Value {
        json!({"preset": self.preset, "tune": self.tune, "profile": self.profile})
    }
}

/// The command line of a process.
fn cmdline(pid: u32) -> anyhow::Result<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).with_context(|| format!("no process {pid}"))?;
    Ok(raw.split(|&b| b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect())
}

/// The standalone peer's ffmpeg arguments: the composition Duet's mixer runs (canvas, each
/// input scaled to fill its region, overlaid; every sound mixed at its level; x264 with
/// `x264`'s settings, without B-frames; AAC 48 kbit/s mono at 48 kHz), inputs read from `clip`.
fn peer_args(plan: &Plan, regions: &[Region], clip: &str, limit: u64, x264: &X264) -> Vec<String> {
    let mut a: Vec<String> = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"].map(String::from).to_vec();
    let mut add = |x: &[&str]| a.extend(x.iter().map(|s| s.to_string()));
    add(&["-f", "lavfi", "-i", &format!("color=c=0x000000:s={}x{}:r={}", plan.width, plan.height, plan.fps)]);
    for _ in regions {
        add(&["-re", "-stream_loop", "-1", "-i", clip]);
    }
    let mut graph = vec!["[0:v]format=yuv420p[c0]".to_owned()];
    for (i, r) in regions.iter().enumerate() {
        let (w, h, n) = (r.right - r.left, r.bottom - r.top, i + 1);
        graph.push(format!(
            "[{n}:v]scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1,format=yuv420p[p{i}]"
        ));
        let out = if n == regions.len() { "v".to_owned() } else { format!("c{n}") };
        graph.push(format!("[c{i}][p{i}]overlay=x={}:y={}:eof_action=endall:format=yuv420[{out}]", r.left, r.top));
    }
    let sounds: String = (1..=regions.len()).map(|n| format!("[{n}:a]")).collect();
    let format = "aresample=48000,aformat=sample_fmts=fltp:channel_layouts=mono";
    graph.push(if regions.len() == 1 {
        format!("{sounds}{format}[a]")
    } else {
        format!("{sounds}amix=inputs={}:duration=shortest:dropout_transition=0:normalize=0,{format}[a]", regions.len())
    });
    let (fps, kbps) = (plan.fps, plan.kbps);
    add(&["-filter_complex", &graph.join(";"), "-map", "[v]", "-map", "[a]", "-t", &limit.to_string()]);
    add(&["-c:v", "libx264", "-preset", &x264.preset]);
    if let Some(tune) = &x264.tune {
        add(&["-tune", tune]);
    }
    if let Some(profile) = &x264.profile {
        add(&["-profile:v", profile]);
    }
    add(&["-pix_fmt", "yuv420p", "-r", &fps.to_string(), "-g", &(fps * 2).to_string(), "-bf", "0"]);
    add(&["-b:v", &format!("{kbps}k"), "-maxrate", &format!("{kbps}k"), "-bufsize", &format!("{}k", kbps * 2)]);
    add(&["-c:a", "aac", "-b:a", "48k", "-ar", "48000", "-ac", "1"]);
    add(&["-progress", "pipe:1", "-stats_period", "0.2", "-f", "flv", "/dev/null"]);
    a
}

/// PIDs of processes whose command line holds `marker` (not this one).
fn pids_with(marker: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.windows(marker.len()).any(|w| w == marker.as_bytes()))
        })
        .collect()
}

/// Cores: CPU seconds over wall seconds, to 3 decimals.
fn cores(cpu: f64, secs: f64) -> f64 {
    (cpu / secs * 1000.0).round() / 1000.0
}

fn mib(bytes: u64) -> f64 {
    (bytes as f64 / 1048576.0 * 10.0).round() / 10.0
}

struct Run<'a> {
    plan: &'a Plan,
    started: Instant,
    nonces: u64,
}

impl Run<'_> {
    fn media_url(&self, stream: &str, action: MediaAction) -> String {
        let url = MediaUrl {
            app_id: self.plan.app_id,
            stream_id: stream.to_owned(),
            action,
            user_id: "bench".into(),
            room_id: String::new(),
            expire: self.plan.now as u64 + 3600,
        };
        let bases =
            MediaBases { rtmp: format!("rtmp://{}", self.plan.rtmp), http: format!("http://{}", self.plan.http) };
        url.signed(&self.plan.secret, &bases, MediaFormat::Rtmp)
    }

    /// One signed `/api/v1` request over a fresh connection: status and body.
    async fn api(&mut self, method: &str, path: &str, body: &[u8]) -> anyhow::Result<(u16, String)> {
        self.nonces += 1;
        let nonce = format!("bench-mix-{}-{}", std::process::id(), self.nonces);
        let timestamp = self.plan.now + self.started.elapsed().as_secs() as i64;
        let app_id = self.plan.app_id;
        let sign = ApiRequest { app_id, timestamp, nonce: &nonce, method, path, body }.sign(&self.plan.secret);
        let exchange = async {
            let mut tcp = TcpStream::connect(&self.plan.http).await?;
            let head = format!(
                "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\nX-Duet-AppID: {app_id}\r\nX-Duet-Timestamp: {timestamp}\r\n\
                 X-Duet-Nonce: {nonce}\r\nX-Duet-Signature: {sign}\r\n\r\n",
                self.plan.http,
                body.len()
            );
            tcp.write_all(head.as_bytes()).await?;
            tcp.write_all(body).await?;
            let mut answer = Vec::new();
            tcp.read_to_end(&mut answer).await?;
            anyhow::Ok(answer)
        };
        let answer = tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .with_context(|| format!("{method} {path}: no answer in 10 s"))??;
        let text = String::from_utf8_lossy(&answer);
        let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no HTTP status")?;
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
        Ok((status, body))
    }
}

/// Waits until `url` plays (its stream is live): a play and its first media message. Fails
/// when one of `publishers` ended.
async fn wait_playable(url: &str, publishers: &mut Procs) -> anyhow::Result<()> {
    let target = Target::parse(url)?;
    let end = Instant::now() + APPEAR_WAIT;
    loop {
        if let Some((pid, status)) = publishers.ended() {
            bail!("publisher {pid} ended ({status})");
        }
        let attempt = async {
            let mut conn = Conn::open(&target).await?;
            conn.play(&target).await?;
            conn.next().await?.context("closed")
        };
        match tokio::time::timeout(Duration::from_secs(3), attempt).await {
            Ok(Ok(_)) => return Ok(()),
            _ if Instant::now() < end => tokio::time::sleep(Duration::from_millis(200)).await,
            Ok(Err(e)) => return Err(e.context(format!("{} never played", target.stream))),
            Err(_) => bail!("{} never played", target.stream),
        }
    }
}

/// What the output player counted.
#[derive(Default)]
struct Output {
    /// Video frames (not sequence headers) and their payload bytes.
    frames: AtomicU64,
    video_bytes: AtomicU64,
    /// Microseconds from the task's start to the first video frame (0: none yet).
    first_frame_us: AtomicU64,
}

/// Plays the mix over RTMP (retrying until it is live) and counts its video frames; runs
/// until aborted.
async fn watch_output(url: String, out: Arc<Output>, since: Instant) -> anyhow::Result<()> {
    let target = Target::parse(&url)?;
    let end = Instant::now() + APPEAR_WAIT;
    let mut conn = loop {
        let attempt = async {
            let mut conn = Conn::open(&target).await?;
            conn.play(&target).await?;
            anyhow::Ok(conn)
        };
        match attempt.await {
            Ok(conn) => break conn,
            Err(_) if Instant::now() < end => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => return Err(e.context("the mix never played")),
        }
    };
    while let Some(m) = conn.next().await? {
        // FLV video: frame type and codec, then the AVC packet type (1: NAL units).
        if m.type_id == crate::synthetic::VIDEO && m.payload.get(1) == Some(&1) {
            if out.frames.fetch_add(1, Relaxed) == 0 {
                out.first_frame_us.store(since.elapsed().as_micros().max(1) as u64, Relaxed);
            }
            out.video_bytes.fetch_add(m.payload.len() as u64, Relaxed);
        }
    }
    bail!("the server ended the mix's play")
}

/// Runs one configuration: Duet's mixer, then the peer; returns the report.
pub async fn run(plan: Plan) -> anyhow::Result<Value> {
    let dir = TempDir::new()?;
    let clip = dir.0.join("clip.flv");
    let (cw, ch) = clip_size(plan.width);
    make_clip(&plan, &clip, cw, ch).await?;
    let clip = clip.to_str().context("temporary path is not UTF-8")?.to_owned();
    let limit = plan.warmup + plan.seconds + SPARE_SECONDS;
    let regions = grid(plan.inputs, plan.width, plan.height);

    let mut run = Run { plan: &plan, started: Instant::now(), nonces: 0 };
    let (duet, x264) = mix_in_duet(&mut run, &dir.0, &clip, &regions, limit).await?;
    let peer = mix_by_hand(&plan, &dir.0, &clip, &regions, limit, &x264).await?;

    let duet_cores = duet["mixer_cores"].as_f64().unwrap_or(0.0) + duet["server_cores"].as_f64().unwrap_or(0.0);
    let peer_cores = peer["peer_ffmpeg_cores"].as_f64().unwrap_or(0.0);
    let mut report = json!({
        "name": "mix",
        "inputs": plan.inputs,
        "width": plan.width,
        "height": plan.height,
        "fps": plan.fps,
        "kbps": plan.kbps,
        "clip": format!("{cw}x{ch}"),
        "seconds": plan.seconds,
        "duet_cores": (duet_cores * 1000.0).round() / 1000.0,
        "duet_over_peer": if peer_cores > 0.0 { (duet_cores / peer_cores * 100.0).round() / 100.0 } else { 0.0 },
        "peer_cpus": plan.peer_cpus,
        "x264": x264.to_json(),
    });
    for part in [duet, peer] {
        if let (Some(r), Value::Object(p)) = (report.as_object_mut(), part) {
            r.extend(p);
        }
    }
    Ok(report)
}

/// Makes the input clip (at most 60 s).
async fn make_clip(plan: &Plan, clip: &Path, w: u32, h: u32) -> anyhow::Result<()> {
    let log = clip.with_extension("log");
    let mut procs = Procs::default();
    procs.spawn(
        Command::new(&plan.ffmpeg)
            .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
            .args(["-f", "lavfi", "-i", &format!("testsrc=size={w}x{h}:rate=25")])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args(["-t", &CLIP_SECONDS.to_string(), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast"])
            .args(["-g", "25", "-c:a", "aac", "-b:a", "64k", "-f", "flv"])
            .arg(clip)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?),
    )?;
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((_, status)) = procs.ended() {
            anyhow::ensure!(status.success(), "making the clip failed ({status}): {}", tail(&log));
            return Ok(());
        }
        if Instant::now() > end {
            bail!("making the clip took more than 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Publishes the inputs, runs the task, measures it, stops it.
async fn mix_in_duet(
    run: &mut Run<'_>,
    dir: &Path,
    clip: &str,
    regions: &[Region],
    limit: u64,
) -> anyhow::Result<(Value, X264)> {
    let plan = run.plan;
    let task = format!("bench{}x{}", plan.inputs, plan.height);
    let inputs: Vec<String> = (1..=plan.inputs).map(|i| format!("{task}-in{i}")).collect();
    let output = format!("{task}-out");

    let mut publishers = Procs::default();
    for (i, input) in inputs.iter().enumerate() {
        let log = dir.join(format!("publisher-{i}.log"));
        publishers.spawn(
            Command::new(&plan.ffmpeg)
                .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", clip])
                .args(["-t", &limit.to_string(), "-c", "copy", "-f", "flv"])
                .arg(run.media_url(input, MediaAction::Publish))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log)?),
        )?;
    }
    for input in &inputs {
        if let Err(e) = wait_playable(&run.media_url(input, MediaAction::Play), &mut publishers).await {
            let logs: Vec<String> = (0..inputs.len()).map(|i| tail(&dir.join(format!("publisher-{i}.log")))).collect();
            return Err(e.context(format!("publishers' errors: {}", logs.join(" / "))));
        }
    }

    let config = json!({
        "taskID": task,
        "inputList": inputs.iter().zip(regions).map(|(s, r)| json!({
            "streamID": s,
            "layout": {"top": r.top, "left": r.left, "bottom": r.bottom, "right": r.right},
        })).collect::<Vec<_>>(),
        "outputList": [output],
        "outputConfig": {"outputWidth": plan.width, "outputHeight": plan.height, "outputFPS": plan.fps,
                         "outputBitrate": plan.kbps},
    });
    let (status, body) = run.api("POST", "/api/v1/mixer-tasks", config.to_string().as_bytes()).await?;
    anyhow::ensure!(status == 200, "POST /api/v1/mixer-tasks answered {status}: {body}");
    let started = Instant::now();
    let measured = measure_task(run, &task, &output, started, &mut publishers).await;
    // Stopped whatever happened.
    let stopped = run.api("DELETE", &format!("/api/v1/mixer-tasks/{task}"), b"").await;
    let measured = measured?;
    let (status, body) = stopped?;
    anyhow::ensure!(status == 200, "DELETE of the task answered {status}: {body}");
    Ok(measured)
}

/// The mixer task's window: its child's and the server's CPU, the output's frames; and the
/// child's x264 settings.
async fn measure_task(
    run: &Run<'_>,
    task: &str,
    output: &str,
    started: Instant,
    publishers: &mut Procs,
) -> anyhow::Result<(Value, X264)> {
    let plan = run.plan;
    let out = Arc::new(Output::default());
    let player = tokio::spawn(watch_output(run.media_url(output, MediaAction::Play), out.clone(), started));
    let mut player = AbortOnDrop(player);
    tokio::time::sleep(Duration::from_secs(plan.warmup)).await;

    // The task's child: one process whose input URLs carry the user `$mixer:{taskID}`.
    let marker = format!("mixer%3A{task}&");
    let end = Instant::now() + APPEAR_WAIT;
    let child = loop {
        match pids_with(&marker)[..] {
            [pid] => break pid,
            _ if Instant::now() < end => tokio::time::sleep(Duration::from_millis(200)).await,
            [] => bail!("no mixer child (no process names {marker})"),
            ref many => bail!("more than one mixer child: {many:?}"),
        }
    };
    if player.0.is_finished() {
        match (&mut player.0).await {
            Ok(Err(e)) => return Err(e.context("the output's player")),
            ended => bail!("the output's player ended: {ended:?}"),
        }
    }
    let x264 = X264::of(&cmdline(child)?);
    let (child0, server0) = (cpu_seconds(child)?, cpu_seconds(plan.server_pid)?);
    let (frames0, bytes0, t0) = (out.frames.load(Relaxed), out.video_bytes.load(Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(plan.seconds)).await;
    let secs = t0.elapsed().as_secs_f64();
    let (frames, bytes) = (out.frames.load(Relaxed) - frames0, out.video_bytes.load(Relaxed) - bytes0);
    let child_cpu = cpu_seconds(child).context("the mixer child ended during the window")? - child0;
    let server_cpu = cpu_seconds(plan.server_pid)? - server0;
    let child_rss = rss_bytes(child)?;
    anyhow::ensure!(pids_with(&marker) == [child], "the mixer child changed during the window");
    if let Some((pid, status)) = publishers.ended() {
        bail!("publisher {pid} ended during the run ({status})");
    }
    let report = json!({
        "mixer_cores": cores(child_cpu, secs),
        "server_cores": cores(server_cpu, secs),
        "output_fps": (frames as f64 / secs * 10.0).round() / 10.0,
        "output_video_kbps": (bytes as f64 * 8.0 / 1000.0 / secs).round(),
        "output_first_frame_ms": out.first_frame_us.load(Relaxed) / 1000,
        "mixer_rss_mib": mib(child_rss),
        "server_rss_mib": mib(rss_bytes(plan.server_pid)?),
    });
    Ok((report, x264))
}

/// A task handle aborted when dropped (the output's player, on every way out).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The same composition by one standalone ffmpeg, inputs read from the clip file.
async fn mix_by_hand(
    plan: &Plan,
    dir: &Path,
    clip: &str,
    regions: &[Region],
    limit: u64,
    x264: &X264,
) -> anyhow::Result<Value> {
    let log = dir.join("peer.log");
    let args = peer_args(plan, regions, clip, limit, x264);
    let mut cmd = match &plan.peer_cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpus, &plan.ffmpeg]);
            c
        }
        None => Command::new(&plan.ffmpeg),
    };
    let mut procs = Procs::default();
    let pid = procs.spawn(cmd.args(&args).stdout(Stdio::piped()).stderr(std::fs::File::create(&log)?))?;
    // `-progress`: blocks of key=value lines; `frame=` is the frames encoded so far.
    let frames = Arc::new(AtomicU64::new(0));
    let progress = procs.0[0].stdout.take().context("no progress pipe")?;
    let reader = {
        let frames = frames.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(progress).lines().map_while(Result::ok) {
                if let Some(n) = line.strip_prefix("frame=").and_then(|n| n.trim().parse().ok()) {
                    frames.store(n, Relaxed);
                }
            }
        })
    };
    let alive = |procs: &mut Procs| match procs.ended() {
        Some((_, status)) => Err(anyhow::anyhow!("the peer ffmpeg ended ({status}): {}", tail(&log))),
        None => Ok(()),
    };
    tokio::time::sleep(Duration::from_secs(plan.warmup)).await;
    alive(&mut procs)?;
    let (cpu0, frames0, t0) = (cpu_seconds(pid)?, frames.load(Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(plan.seconds)).await;
    let secs = t0.elapsed().as_secs_f64();
    let (cpu, n) = (cpu_seconds(pid)? - cpu0, frames.load(Relaxed) - frames0);
    let rss = rss_bytes(pid)?;
    alive(&mut procs)?;
    drop(procs);
    let _ = reader.join();
    Ok(json!({
        "peer_ffmpeg_cores": cores(cpu, secs),
        "peer_fps": (n as f64 / secs * 10.0).round() / 10.0,
        "peer_rss_mib": mib(rss),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_are_side_by_side_and_two_by_two() {
        let r = |top, left, bottom, right| Region { top, left, bottom, right };
        assert_eq!(grid(2, 640, 360), [r(0, 0, 360, 320), r(0, 320, 360, 640)]);
        assert_eq!(
            grid(4, 1280, 720),
            [r(0, 0, 360, 640), r(0, 640, 360, 1280), r(360, 0, 720, 640), r(360, 640, 720, 1280)]
        );
        assert_eq!(grid(1, 640, 360), [r(0, 0, 360, 640)]);
        assert_eq!(grid(3, 640, 360).len(), 3);
    }

    #[test]
    fn the_peer_composes_every_input_and_mixes_every_sound() {
        let plan = Plan {
            http: "127.0.0.1:1".into(),
            rtmp: "127.0.0.1:2".into(),
            app_id: 1,
            secret: AppSecret::new("00112233445566778899aabbccddeeff").unwrap(),
            inputs: 2,
            width: 640,
            height: 360,
            fps: 15,
            kbps: 800,
            warmup: 5,
            seconds: 10,
            ffmpeg: "ffmpeg".into(),
            peer_cpus: None,
            server_pid: 1,
            now: 0,
        };
        let child: Vec<String> = ["ffmpeg", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency"]
            .into_iter()
            .chain(["-profile:v", "baseline", "-bf", "0"])
            .map(String::from)
            .collect();
        let x264 = X264::of(&child);
        assert_eq!(
            x264,
            X264 { preset: "veryfast".into(), tune: Some("zerolatency".into()), profile: Some("baseline".into()) }
        );
        let args = peer_args(&plan, &grid(2, 640, 360), "clip.flv", 55, &x264);
        let graph = &args[args.iter().position(|a| a == "-filter_complex").unwrap() + 1];
        assert!(graph.contains("[c1][p1]overlay=x=320:y=0:eof_action=endall:format=yuv420[v]"), "{graph}");
        assert!(graph.contains("[1:a][2:a]amix=inputs=2"), "{graph}");
        assert_eq!(args.iter().filter(|a| *a == "clip.flv").count(), 2);
        assert!(args.windows(2).any(|w| w == ["-b:v", "800k"]));
        assert!(args.windows(2).any(|w| w == ["-bf", "0"]));
        assert!(args.windows(2).any(|w| w == ["-profile:v", "baseline"]));
        assert!(args.windows(2).any(|w| w == ["-tune", "zerolatency"]));
    }
}
