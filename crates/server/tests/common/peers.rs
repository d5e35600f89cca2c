//! Real media peers nobody here wrote: Debian's ffmpeg (publisher, player), ffprobe and rtmpdump.
#![allow(dead_code)] // each test file uses a different part of the peers

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running ffmpeg publisher, killed on drop.
pub struct Publisher(pub Child);

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Publisher {
    /// True while ffmpeg is still running.
    pub fn running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }

    /// Waits (bounded) for ffmpeg to exit; returns whether it exited successfully.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<bool> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(s) = self.0.try_wait().unwrap() {
                return Some(s.success());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

/// What to publish.
#[derive(Clone, Copy)]
pub enum Content {
    /// H.264 test pattern + AAC tone.
    AudioVideo,
    /// AAC tone only.
    AudioOnly,
    /// H.264 High profile with B-frames (2 between references, as broadcast encoders default
    /// to) + AAC tone.
    BFrames,
}

/// Publishes a generated stream in real time for at most `seconds`.
pub fn publish(url: &str, content: Content, seconds: u32) -> Publisher {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"]);
    if let Content::AudioVideo | Content::BFrames = content {
        cmd.args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"]);
    }
    cmd.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", &seconds.to_string()]);
    if let Content::AudioVideo = content {
        // yuv420p, as phones send (x264 would pick 4:4:4 for the RGB test source).
        cmd.args(["-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency"]);
        cmd.args(["-g", "25", "-threads", "1"]);
    }
    if let Content::BFrames = content {
        cmd.args(["-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high"]);
        cmd.args(["-bf", "2", "-g", "50", "-threads", "1"]);
    }
    cmd.args(["-c:a", "aac", "-f", "flv", url]).stdout(Stdio::null()).stderr(Stdio::piped());
    Publisher(cmd.spawn().expect("ffmpeg runs (scripts/setup.sh installs it)"))
}

/// Runs a command with a time limit; returns (success, stdout, stderr).
pub fn run_limited(cmd: &mut Command, limit: Duration) -> (bool, String, String) {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("tool runs");
    let end = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            return (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into(),
                String::from_utf8_lossy(&out.stderr).into(),
            );
        }
        if Instant::now() > end {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            return (
                false,
                String::from_utf8_lossy(&out.stdout).into(),
                format!("timed out; {}", String::from_utf8_lossy(&out.stderr)),
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Codec names ffprobe finds at `url`.
pub fn probe(url: &str) -> Vec<String> {
    let (ok, out, err) = run_limited(
        Command::new("ffprobe").args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-rw_timeout",
            "10000000",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
            url,
        ]),
        Duration::from_secs(20),
    );
    assert!(ok, "ffprobe {url}: {err}");
    let mut codecs: Vec<String> =
        out.lines().map(|l| l.trim().trim_end_matches(',').to_owned()).filter(|l| !l.is_empty()).collect();
    codecs.sort();
    codecs
}

/// Decodes `seconds` of media from `url` with ffmpeg; returns (video frames, audio frames).
pub fn decode(url: &str, seconds: u32) -> (u64, u64) {
    let (ok, _, err) = run_limited(
        Command::new("ffmpeg").args([
            "-hide_banner",
            "-nostdin",
            "-rw_timeout",
            "10000000",
            "-i",
            url,
            "-t",
            &seconds.to_string(),
            "-f",
            "null",
            "-",
        ]),
        Duration::from_secs(u64::from(seconds) + 20),
    );
    assert!(ok, "ffmpeg decode {url}: {err}");
    // ffmpeg's final report: "frame=  100 ..." for video; audio is summarised in the stream stats.
    let video =
        err.rsplit("frame=").next().and_then(|s| s.split_whitespace().next()).and_then(|n| n.parse().ok()).unwrap_or(0);
    let audio = if err.contains("Audio:") { 1 } else { 0 };
    (video, audio)
}

/// Records `seconds` of a live RTMP stream with rtmpdump; returns the FLV bytes.
pub fn rtmpdump(url: &str, seconds: u32, out: &std::path::Path) -> Vec<u8> {
    // rtmpdump reads a live stream (`-v`) until it ends, whatever `--stop` says: it is stopped
    // after `seconds` (one more for its connect), the file it wrote so far is whole FLV tags.
    let (_, _, err) = run_limited(
        Command::new("rtmpdump").args(["-q", "-v", "-r", url, "-o"]).arg(out),
        Duration::from_secs(u64::from(seconds) + 1),
    );
    let bytes = std::fs::read(out).unwrap_or_default();
    assert!(!bytes.is_empty(), "rtmpdump wrote nothing: {err}");
    bytes
}

/// Frames ffprobe counts in a file, per codec.
pub fn count_frames(path: &std::path::Path) -> Vec<(String, u64)> {
    let (ok, out, err) = run_limited(
        Command::new("ffprobe")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-count_frames",
                "-show_entries",
                "stream=codec_name,nb_read_frames",
                "-of",
                "csv=p=0",
            ])
            .arg(path),
        Duration::from_secs(20),
    );
    assert!(ok, "ffprobe: {err}");
    out.lines()
        .filter_map(|l| {
            let mut parts = l.split(',');
            Some((parts.next()?.to_owned(), parts.next()?.trim().parse().ok()?))
        })
        .collect()
}
