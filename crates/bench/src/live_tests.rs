//! Smoke tests of the load generators against the real `duet` binary (built next to this
//! test's executable; built with cargo when missing), on loopback ports, bounded: they check
//! that players get frames and that the figures are measured, never how fast.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::fanout::{self, Plan, Source};

/// A running `duet serve`, killed on drop.
struct Duet {
    child: Child,
    data: PathBuf,
    http: String,
    rtmp: String,
    app_id: String,
}

impl Drop for Duet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// `target/<profile>/duet`, next to `target/<profile>/deps/<this test>`.
fn duet_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let bin = exe.parent().and_then(Path::parent).expect("target/<profile>").join("duet");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "duet-server", "--bin", "duet"]);
        if bin.parent().is_some_and(|p| p.ends_with("release")) {
            build.arg("--release");
        }
        assert!(build.status().expect("cargo runs").success(), "cargo build -p duet-server");
    }
    bin
}

impl Duet {
    fn start() -> Self {
        let data = std::env::temp_dir().join(format!("duet-bench-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let mut child = Command::new(duet_binary())
            .args(["serve", "--http", "127.0.0.1:0", "--rtmp", "127.0.0.1:0", "--log-level", "warn", "--data"])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("duet starts");
        let mut banner = String::new();
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        while !banner.contains("Test token") {
            match lines.next() {
                Some(Ok(line)) => banner.push_str(&(line + "\n")),
                _ => panic!("no banner from duet serve: {banner}"),
            }
        }
        // Keep reading so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let listening = |label: &str| {
            let line = banner.lines().find(|l| l.trim_start().starts_with(label)).expect(label);
            let at = line.find("listening on ").expect("listening on") + "listening on ".len();
            line[at..].split([';', ')']).next().expect("address").to_owned()
        };
        let app_id = banner
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("AppID"))
            .and_then(|v| v.split_whitespace().next())
            .expect("AppID")
            .to_owned();
        let (http, rtmp) = (listening("HTTP/WebSocket"), listening("RTMP"));
        Self { child, data, http, rtmp, app_id }
    }

    /// `duet url ...` for stream `stream`.
    fn url(&self, what: &str, stream: &str, format: &str) -> String {
        let out = Command::new(duet_binary())
            .args(["url", what, "--data"])
            .arg(&self.data)
            .args(["--app-id", &self.app_id, "--stream-id", stream, "--ttl", "600", "--format", format])
            .args(["--public-rtmp-url", &format!("rtmp://{}", self.rtmp)])
            .args(["--public-http-url", &format!("http://{}", self.http)])
            .output()
            .expect("duet url");
        assert!(out.status.success(), "duet url {what}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("UTF-8").trim().to_owned()
    }
}

/// Two WHEP players on a live RTMP stream: both connect, get frames whose stamps and numbers
/// read back, and have their first-frame times measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whep_players_get_frames_of_a_live_stream() {
    let duet = Duet::start();
    let plan = Plan {
        name: "whep-smoke".into(),
        budget: None,
        publish: Some(duet.url("publish", "smoke", "rtmp")),
        sources: vec![Source::Whep(duet.url("play", "smoke", "whep"))],
        players: 2,
        connect_over: Duration::from_millis(10),
        seconds: 1,
        kbps: 232,
        gop_ms: 1000,
        video_only: true,
        server_pids: vec![duet.child.id()],
        metrics: None,
    };
    let report = tokio::time::timeout(Duration::from_secs(20), fanout::run(plan)).await.expect("bounded").expect("run");
    let n = |path: &[&str]| path.iter().fold(&report, |v, k| &v[*k]).as_u64().unwrap_or_default();
    assert_eq!((n(&["connected"]), n(&["failed"])), (2, 0), "{report}");
    assert_eq!(n(&["first_frame_ms", "samples"]), 2, "{report}");
    assert_eq!(n(&["whep", "first_after_ice_ms", "samples"]), 2, "{report}");
    assert!(n(&["latency_ms", "samples"]) >= 20, "frames in the window: {report}");
    assert!(n(&["delivered_bytes"]) > 0, "{report}");
}
