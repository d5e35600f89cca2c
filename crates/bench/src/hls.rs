//! HLS from memory: one synthetic publisher, then (1) `fetchers` keep-alive connections that
//! fetch the newest complete segment as fast as the server answers, for the requests a core
//! serves per second; (2) `pollers` low-latency HLS players, each reloading the playlist with
//! `_HLS_msn`/`_HLS_part` (blocking) and fetching the part it lists, for the distance from the
//! live edge: the time from a video frame's send (its synthetic stamp) to the moment a poller
//! has the part that carries it, for the newest frame of every part.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::procstat::{cpu_seconds, percentile, rss_bytes};
use crate::synthetic::{Frame, now_micros};

/// What one run is.
pub struct Plan {
    /// RTMP publish URL.
    pub publish: String,
    /// The stream's HLS playlist URL (`http://host:port/live/...m3u8?...`).
    pub playlist: String,
    /// Keep-alive connections fetching segments.
    pub fetchers: usize,
    /// Low-latency pollers.
    pub pollers: usize,
    /// Seconds of each phase.
    pub seconds: u64,
    /// Publisher bitrate, kbit/s.
    pub kbps: u32,
    /// Keyframe interval, ms.
    pub gop_ms: u32,
    /// The server measured.
    pub server_pid: u32,
}

/// One keep-alive HTTP/1.1 connection (bodies with `Content-Length`, as Duet answers HLS).
struct Http {
    host: String,
    tcp: TcpStream,
    buf: Vec<u8>,
}

impl Http {
    async fn open(host: &str) -> anyhow::Result<Self> {
        let tcp = TcpStream::connect(host).await.with_context(|| format!("connect {host}"))?;
        tcp.set_nodelay(true)?;
        Ok(Self { host: host.to_owned(), tcp, buf: Vec::with_capacity(64 * 1024) })
    }

    /// GETs `path` (with its query): status and body.
    async fn get(&mut self, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        self.tcp.write_all(request.as_bytes()).await?;
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let status: u16 = head.split_whitespace().nth(1).context("no status")?.parse()?;
                let length: usize = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                    .context("no content-length")?
                    .parse()?;
                while self.buf.len() < end + 4 + length {
                    self.read().await?;
                }
                let body = self.buf[end + 4..end + 4 + length].to_vec();
                self.buf.drain(..end + 4 + length);
                return Ok((status, body));
            }
            self.read().await?;
        }
    }

    async fn read(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.tcp.read(&mut chunk).await?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// `host:port` and the path (with query) of an `http://` URL; the folder the playlist's
/// relative URIs resolve against.
fn split(url: &str) -> anyhow::Result<(String, String, String)> {
    let rest = url.strip_prefix("http://").context("not an http:// URL")?;
    let (host, path) = rest.split_at(rest.find('/').context("no path")?);
    let folder = path[..path.rfind('/').context("no folder")? + 1].to_owned();
    Ok((host.to_owned(), path.to_owned(), folder))
}

/// The URI of the last line starting with `tag` that has one (`URI="..."`), or of the last
/// plain URI line after `#EXTINF`.
fn last_uri(playlist: &str, tag: &str) -> Option<String> {
    playlist.lines().rev().find(|l| l.starts_with(tag)).and_then(|l| {
        let at = l.find("URI=\"")? + 5;
        Some(l[at..].split('"').next()?.to_owned())
    })
}

/// (msn, part) of a part URI `{stream}/part-M.P.m4s?...`.
fn part_of(uri: &str) -> Option<(u64, u64)> {
    let name = uri.split('?').next()?.rsplit('/').next()?;
    let (m, p) = name.strip_prefix("part-")?.strip_suffix(".m4s")?.split_once('.')?;
    Some((m.parse().ok()?, p.parse().ok()?))
}

/// The newest synthetic send stamp among the video samples of an fMP4 part (each `mdat` holds
/// one sample: a 4-byte length, then the NAL unit).
fn newest_stamp(mut data: &[u8]) -> Option<u64> {
    let mut newest = None;
    while data.len() >= 8 {
        let size = u32::from_be_bytes(data[..4].try_into().ok()?) as usize;
        if size < 8 || size > data.len() {
            break;
        }
        if &data[4..8] == b"mdat" && size > 12 {
            if let Some(stamp) = Frame::from_nal(&data[12..size]).and_then(|f| f.stamp) {
                newest = Some(newest.map_or(stamp, |n: u64| n.max(stamp)));
            }
        }
        data = &data[size..];
    }
    newest
}

/// Runs both phases and returns the report.
pub async fn run(plan: Plan) -> anyhow::Result<Value> {
    let stop = Arc::new(AtomicBool::new(false));
    let publisher =
        tokio::spawn(crate::fanout::publish_synthetic(plan.publish.clone(), plan.kbps, plan.gop_ms, stop.clone()));
    let (host, path, folder) = split(&plan.playlist)?;
    // The first playlist starts the packaging and waits for a complete segment.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut first = Http::open(&host).await?;
    let (status, body) = first.get(&path).await?;
    anyhow::ensure!(status == 200, "the playlist answered {status}: {}", String::from_utf8_lossy(&body));

    // Phase 1: segments from memory as fast as the server answers.
    let segment = {
        let list = String::from_utf8_lossy(&first.get(&path).await?.1).into_owned();
        let uri = list
            .lines()
            .rev()
            .find(|l| !l.starts_with('#') && l.contains("seg-"))
            .context("no segment listed")?
            .to_owned();
        format!("{folder}{uri}")
    };
    let (_, segment_bytes) = first.get(&segment).await?;
    let fetched = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let mut tasks = Vec::new();
    for _ in 0..plan.fetchers {
        let (host, segment, fetched, failed, running) =
            (host.clone(), segment.clone(), fetched.clone(), failed.clone(), running.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(mut http) = Http::open(&host).await else { return failed.fetch_add(1, Relaxed) };
            while running.load(Relaxed) {
                match http.get(&segment).await {
                    Ok((200, _)) => fetched.fetch_add(1, Relaxed),
                    _ => return failed.fetch_add(1, Relaxed),
                };
            }
            0
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await; // warm-up
    let (cpu0, n0, t0) = (cpu_seconds(plan.server_pid)?, fetched.load(Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(plan.seconds)).await;
    let (cpu, n, secs) = (cpu_seconds(plan.server_pid)? - cpu0, fetched.load(Relaxed) - n0, t0.elapsed().as_secs_f64());
    running.store(false, Relaxed);
    for t in tasks.drain(..) {
        let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
    }

    // Phase 2: low-latency pollers.
    let distances = Arc::new(Mutex::new(Vec::<u64>::new()));
    let poll_failed = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    running.store(true, Relaxed);
    for i in 0..plan.pollers {
        let (host, path, folder) = (host.clone(), path.clone(), folder.clone());
        let (distances, poll_failed, measuring, running) =
            (distances.clone(), poll_failed.clone(), measuring.clone(), running.clone());
        tasks.push(tokio::spawn(async move {
            // Starts spread over a second.
            tokio::time::sleep(Duration::from_micros(i as u64 * 1_000_000 / plan.pollers.max(1) as u64)).await;
            let poll = async {
                let mut http = Http::open(&host).await?;
                let (_, list) = http.get(&path).await?;
                let mut next =
                    last_uri(&String::from_utf8_lossy(&list), "#EXT-X-PRELOAD-HINT").and_then(|u| part_of(&u));
                while running.load(Relaxed) {
                    let (msn, part) = next.context("no preload hint")?;
                    let (status, list) = http.get(&format!("{path}&_HLS_msn={msn}&_HLS_part={part}")).await?;
                    anyhow::ensure!(status == 200, "a blocking reload answered {status}");
                    let list = String::from_utf8_lossy(&list).into_owned();
                    let uri = last_uri(&list, "#EXT-X-PART:").context("no part listed")?;
                    let (status, data) = http.get(&format!("{folder}{uri}")).await?;
                    anyhow::ensure!(status == 200, "a part answered {status}");
                    if let (true, Some(stamp)) = (measuring.load(Relaxed), newest_stamp(&data)) {
                        distances.lock().await.push(now_micros().saturating_sub(stamp));
                    }
                    next = last_uri(&list, "#EXT-X-PRELOAD-HINT").and_then(|u| part_of(&u));
                }
                anyhow::Ok(())
            };
            // Failures once the run is over (the stream ended under a blocked reload) do not count.
            if let Err(e) = poll.await
                && running.load(Relaxed)
                && poll_failed.fetch_add(1, Relaxed) < 3
            {
                eprintln!("poller: {e:#}");
            }
            0
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // every poller started and caught up
    let poll_cpu0 = cpu_seconds(plan.server_pid)?;
    measuring.store(true, Relaxed);
    tokio::time::sleep(Duration::from_secs(plan.seconds)).await;
    measuring.store(false, Relaxed);
    let poll_cpu = cpu_seconds(plan.server_pid)? - poll_cpu0;
    let rss = rss_bytes(plan.server_pid)?;
    running.store(false, Relaxed);
    stop.store(true, Relaxed);
    for t in tasks {
        if tokio::time::timeout(Duration::from_secs(8), t).await.is_err() {
            // A poller blocked on a reload the ended stream never answers.
        }
    }
    publisher.abort();

    let mut d = std::mem::take(&mut *distances.lock().await);
    d.sort_unstable();
    let ms = |us: u64| (us as f64 / 100.0).round() / 10.0;
    Ok(json!({
        "name": "hls",
        "kbps": plan.kbps,
        "segment_fetchers": plan.fetchers,
        "segment_requests_per_s": (n as f64 / secs).round(),
        "segment_requests_per_cpu_s": if cpu > 0.0 { (n as f64 / cpu).round() } else { 0.0 },
        "segment_bytes": segment_bytes.len(),
        "fetch_failures": failed.load(Relaxed),
        "pollers": plan.pollers,
        "poller_failures": poll_failed.load(Relaxed),
        "parts_measured": d.len(),
        "live_edge_ms": {"p50": ms(percentile(&d, 50.0)), "p99": ms(percentile(&d, 99.0)), "max": ms(d.last().copied().unwrap_or(0))},
        "pollers_server_cores": (poll_cpu / plan.seconds as f64 * 1000.0).round() / 1000.0,
        "server_rss_mib": (rss as f64 / 1048576.0 * 10.0).round() / 10.0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlist_lines_and_names_are_read() {
        let list = "#EXT-X-PART:DURATION=0.200,URI=\"cam/part-3.1.m4s?a=b\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"cam/part-3.2.m4s?a=b\"\n";
        assert_eq!(last_uri(list, "#EXT-X-PART:").as_deref(), Some("cam/part-3.1.m4s?a=b"));
        assert_eq!(part_of(&last_uri(list, "#EXT-X-PRELOAD-HINT").unwrap()), Some((3, 2)));
        let (host, path, folder) = split("http://127.0.0.1:8080/live/1/cam.m3u8?x=1").unwrap();
        assert_eq!(
            (host.as_str(), path.as_str(), folder.as_str()),
            ("127.0.0.1:8080", "/live/1/cam.m3u8?x=1", "/live/1/")
        );
    }
}
