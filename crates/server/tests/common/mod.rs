//! Test harness: runs the real `duet` binary, as one-shot commands or as a server on ephemeral
//! loopback ports, and speaks plain or TLS HTTP/1.1 to it.
#![allow(dead_code)] // each test file uses a different part of the harness

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_duet");

/// A `duet` command with a clean environment (no DUET_* from the developer's shell).
pub fn duet(data: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("DUET_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg("--data").arg(data).stdin(Stdio::null());
    cmd
}

/// Runs a one-shot command and returns (status, stdout, stderr).
pub fn run(data: &Path, args: &[&str]) -> (ExitStatus, String, String) {
    let Output { status, stdout, stderr } = duet(data).args(args).output().expect("duet runs");
    (status, String::from_utf8(stdout).unwrap(), String::from_utf8(stderr).unwrap())
}

/// Runs a one-shot command that must succeed; returns stdout.
pub fn ok(data: &Path, args: &[&str]) -> String {
    let (status, out, err) = run(data, args);
    assert!(status.success(), "duet {args:?} failed: {err}");
    out
}

/// Runs a one-shot command that must fail; returns stderr, which must be one line.
pub fn fails(data: &Path, args: &[&str]) -> String {
    let (status, _, err) = run(data, args);
    assert!(!status.success(), "duet {args:?} should fail");
    assert_eq!(status.code(), Some(1), "duet {args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line expected: {err}");
    err
}

/// A running `duet serve`.
pub struct Server {
    child: Child,
    pub http: SocketAddr,
    pub rtmp: SocketAddr,
    pub banner: String,
    pub app_id: u32,
    pub token: String,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `duet serve` on ephemeral loopback ports with extra arguments.
    pub fn start(data: &Path, extra: &[&str]) -> Self {
        Self::start_cmd(duet(data).args(["serve", "--http", "127.0.0.1:0", "--rtmp", "127.0.0.1:0"]).args(extra))
    }

    /// Starts a prepared command (that runs `serve`) and waits for its banner.
    pub fn start_cmd(cmd: &mut Command) -> Self {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("duet starts");
        let (line_tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = line_tx.send(line);
            }
        });
        let (err_tx, stderr) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = err_tx.send(line);
            }
        });
        let mut banner = String::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        // The banner ends with the test token on its own line.
        while !(banner.contains("Test token") && banner.lines().last().is_some_and(|l| l.trim().starts_with("04"))) {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    banner.push_str(&line);
                    banner.push('\n');
                }
                Err(_) => {
                    let _ = child.kill();
                    let errs: Vec<String> = stderr.try_iter().collect();
                    panic!("no banner from duet serve; stdout:\n{banner}\nstderr:\n{}", errs.join("\n"));
                }
            }
        }
        let field = |label: &str| -> String {
            let line = banner
                .lines()
                .find(|l| l.trim_start().starts_with(label))
                .unwrap_or_else(|| panic!("no {label} in {banner}"));
            line.trim_start()[label.len()..].split_whitespace().next().unwrap().to_owned()
        };
        let listening = |label: &str| -> SocketAddr {
            let line = banner.lines().find(|l| l.trim_start().starts_with(label)).unwrap();
            let at = line.find("listening on ").unwrap() + "listening on ".len();
            line[at..].split([';', ')']).next().unwrap().parse().unwrap()
        };
        let token = banner.lines().last().unwrap().trim().to_owned();
        Self {
            http: listening("HTTP/WebSocket"),
            rtmp: listening("RTMP"),
            app_id: field("AppID").parse().unwrap(),
            token,
            banner,
            child,
            stderr,
        }
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn stop(self) -> ExitStatus {
        self.stop_logged().0
    }

    /// Like [`Server::stop`], also returning everything the server wrote to stderr.
    pub fn stop_logged(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        self.exited(Duration::from_secs(15)).expect("duet did not exit after SIGTERM")
    }

    /// Waits up to `limit` for the server to exit by itself: its exit status and everything it
    /// wrote to stderr, or `None` when it still runs.
    pub fn exited(&mut self, limit: Duration) -> Option<(ExitStatus, String)> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The reader thread ends at EOF: everything written is in the channel now.
                std::thread::sleep(Duration::from_millis(100));
                return Some((status, self.stderr()));
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server with SIGKILL (no chance to clean up), as a crash or `kill -9` would.
    pub fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Everything the server wrote to stderr since the last look.
    pub fn stderr(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }

    /// Whether the server writes `needle` to stderr within 5 s (a log line reaches the test
    /// through a reader thread, a moment after the server wrote it).
    pub fn logs(&self, needle: &str) -> bool {
        self.logs_within(needle, Duration::from_secs(5), &mut String::new())
    }

    /// Whether the server writes `needle` to stderr within `limit`; what it wrote meanwhile is
    /// added to `seen` (for the test's messages, and for needles looked for later).
    pub fn logs_within(&self, needle: &str, limit: Duration, seen: &mut String) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            seen.push_str(&self.stderr());
            seen.push('\n');
            if seen.contains(needle) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A TLS client of `name` that trusts `root` only.
pub fn tls_client(root: &rustls::pki_types::CertificateDer<'static>, name: &str) -> rustls::ClientConnection {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
    rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap()
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP response.
pub struct Response {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

/// Sends a GET over any stream and reads the whole response (the request asks to close).
pub fn get_over(stream: &mut (impl Read + Write), host: &str, path: &str) -> std::io::Result<Response> {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")?;
    read_response(stream)
}

/// POSTs `body` as JSON; `length` overrides the Content-Length header (to announce a body
/// larger than the one sent).
pub fn post(addr: SocketAddr, path: &str, body: &[u8], length: Option<usize>) -> Response {
    request(addr, "POST", path, &[], body, length)
}

/// Sends one HTTP request with a body (JSON unless `headers` name another Content-Type) and
/// extra headers; reads the whole response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
    length: Option<usize>,
) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let len = length.unwrap_or(body.len());
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {len}\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    read_response(&mut s).unwrap()
}

fn read_response(stream: &mut impl Read) -> std::io::Result<Response> {
    let mut raw = Vec::new();
    // A peer that closes without TLS close_notify still sent a complete response: keep it.
    if let Err(e) = stream.read_to_end(&mut raw) {
        if raw.is_empty() {
            return Err(e);
        }
    }
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok(Response { status, headers: head.to_owned(), body: body.to_owned() })
}

/// A counter or gauge from `/metrics`.
pub fn metric(server: &Server, name: &str) -> u64 {
    get(server.http, "/metrics")
        .body
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// Plain HTTP GET.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    get_over(&mut s, &addr.to_string(), path).unwrap()
}

/// A fresh data folder, removed at the end of the test.
pub fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    (dir, data)
}

/// Runs `duet serve` on ephemeral ports with extra arguments, expecting it to refuse to start;
/// returns (status, stderr).
pub fn serve_refused(data: &Path, extra: &[&str]) -> (ExitStatus, String) {
    let (status, _, err) =
        run_bounded(duet(data).args(["serve", "--http", "127.0.0.1:0", "--rtmp", "127.0.0.1:0"]).args(extra));
    (status, err)
}

/// Runs a command that is expected to exit by itself, killing it if it has not after 30 s.
pub fn run_bounded(cmd: &mut Command) -> (ExitStatus, String, String) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("command did not exit: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out.status, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Connects a signaling client and logs `user` into `room` with a token minted by the CLI;
/// returns the client and the login reply's data.
pub async fn join(server: &Server, data: &Path, room: &str, user: &str) -> (duet_client::Client, serde_json::Value) {
    let mut c = duet_client::Client::connect(&format!("ws://{}/ws", server.http)).await.unwrap();
    let tok = ok(data, &["token", "mint", "--app-id", &server.app_id.to_string(), "--user-id", user]);
    let p = duet_client::LoginParams {
        app_id: server.app_id,
        room_id: room,
        token: tok.trim(),
        user_id: user,
        user_name: user,
        user_update: true,
    };
    let reply = c.login(&p).await.unwrap();
    assert_eq!(reply["code"], 0, "{reply}");
    (c, reply["data"].clone())
}

/// Logs into the console with the first-start password from the banner; returns the
/// `Cookie` value of the session.
pub fn console_session(server: &Server) -> String {
    let line = server.banner.lines().find(|l| l.trim_start().starts_with("Console")).unwrap();
    let password = line.split("password ").nth(1).unwrap().split_whitespace().next().unwrap();
    console_session_with(server, password)
}

/// A console session cookie of user `admin` with `password` on `server`.
pub fn console_session_with(server: &Server, password: &str) -> String {
    let body = serde_json::json!({"username": "admin", "password": password}).to_string();
    let res = post(server.http, "/console/api/login", body.as_bytes(), None);
    assert_eq!(res.status, 200, "{}", res.body);
    let cookie = res.headers.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap();
    cookie.split_once(':').unwrap().1.trim().split(';').next().unwrap().to_owned()
}

/// POSTs the JSON `body` to a console API `path` in the console `session`.
pub fn console_post(server: &Server, session: &str, path: &str, body: &str) -> Response {
    request(server.http, "POST", path, &[("Cookie", session.to_owned())], body.as_bytes(), None)
}
