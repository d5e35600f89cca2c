//! Connection limits of the real `duet serve` on loopback: header and idle timeouts on HTTP
//! connections, per-address and total caps on both listeners, and one listener's exhaustion
//! never starving the other. Timings are asserted with wide margins ("closed within", "not
//! closed at once"), never exactly.

mod common;
#[path = "common/peers.rs"]
mod peers;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, Server, data_dir, get, get_over, ok};
use serde_json::json;

/// How the server ended a connection we watched.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Closed (EOF or reset) after this long; `answer` is what it sent first, if anything.
    Closed { after: Duration, answer: String },
    /// Still open when we stopped watching.
    Open,
}

/// Reads until the server closes the connection or `limit` passes.
fn watch(s: &mut TcpStream, limit: Duration) -> Outcome {
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Outcome::Open;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return Outcome::Open,
            Err(_) => break, // reset: closed too
        }
    }
    Outcome::Closed { after: started.elapsed(), answer: String::from_utf8_lossy(&answer).into_owned() }
}

/// Asserts the server closes `s` after at least `not_before` and within `within`.
fn closed_between(s: &mut TcpStream, not_before: Duration, within: Duration, what: &str) {
    match watch(s, within) {
        Outcome::Closed { after, .. } => assert!(after >= not_before, "{what}: closed too early, after {after:?}"),
        Outcome::Open => panic!("{what}: still open after {within:?}"),
    }
}

/// Asserts the server refuses `s` promptly: closed (possibly after a 503) within a few seconds.
fn refused(s: &mut TcpStream, what: &str) {
    match watch(s, Duration::from_secs(5)) {
        Outcome::Closed { answer, .. } => {
            assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 503"), "{what}: {answer}")
        }
        Outcome::Open => panic!("{what}: a connection over the cap was kept open"),
    }
}

/// A TCP connection from a chosen loopback address (all of 127/8 is local on Linux).
fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    // Bounded: a server that stops accepting fills its backlog and connects would hang.
    s.connect_timeout(&to.into(), Duration::from_secs(10)).unwrap();
    s.into()
}

fn healthz_from(from: Ipv4Addr, server: &Server) -> u16 {
    let mut s = connect_from(from, server.http);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    get_over(&mut s, &server.http.to_string(), "/healthz").map(|r| r.status).unwrap_or(0)
}

/// `/metrics` fetched from `from`, so a full 127.0.0.1 does not stop the test reading it.
fn metric_from(from: Ipv4Addr, server: &Server, name: &str) -> u64 {
    let mut s = connect_from(from, server.http);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = get_over(&mut s, &server.http.to_string(), "/metrics").unwrap().body;
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

/// Retries `/healthz` from `from` until it answers 200 (the server notices closed peers at once,
/// but the test must not race it).
fn served_again(from: Ipv4Addr, server: &Server) {
    let end = Instant::now() + Duration::from_secs(10);
    while healthz_from(from, server) != 200 {
        assert!(Instant::now() < end, "HTTP never answered {from} again");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Completes an RTMP handshake (C0+C1 → S0+S1+S2) on a fresh connection.
fn rtmp_handshake(from: Ipv4Addr, addr: SocketAddr) -> std::io::Result<()> {
    let mut s = connect_from(from, addr);
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut c0c1 = vec![3u8];
    c0c1.extend_from_slice(&[0u8; 1536]);
    s.write_all(&c0c1)?;
    let mut s0s1s2 = vec![0u8; 1 + 2 * 1536];
    s.read_exact(&mut s0s1s2)?;
    assert_eq!(s0s1s2[0], 3, "RTMP version");
    Ok(())
}

const LOCAL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const OTHER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

#[test]
fn an_idle_connection_is_closed_at_the_default_header_timeout() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let mut idle = TcpStream::connect(server.http).unwrap();
    // The default header timeout is 10 s.
    closed_between(&mut idle, Duration::from_secs(5), Duration::from_secs(30), "an idle connection");
}

#[test]
fn a_dribbled_request_head_is_closed_at_the_header_timeout() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &["--http-header-timeout-secs", "2"]);
    let mut s = TcpStream::connect(server.http).unwrap();
    let started = Instant::now();
    let head =
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut cut = None;
    for byte in head.iter() {
        if s.write_all(&[*byte]).is_err() {
            cut = Some(started.elapsed());
            break;
        }
        if let Outcome::Closed { after, .. } = watch(&mut s, Duration::from_millis(300)) {
            cut = Some(started.elapsed() - Duration::from_millis(300) + after);
            break;
        }
    }
    let after = cut.expect("a head dribbled for 20 s was never cut");
    assert!(after >= Duration::from_secs(1) && after < Duration::from_secs(12), "cut after {after:?}");
}

#[test]
fn a_keep_alive_connection_idle_after_a_response_is_closed() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &["--http-header-timeout-secs", "2"]);
    let mut s = TcpStream::connect(server.http).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    // The response (small, one read is enough on loopback), then silence until the server closes.
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    closed_between(&mut s, Duration::from_secs(1), Duration::from_secs(12), "an idle keep-alive connection");
}

#[test]
fn a_stalled_request_body_is_closed_at_the_idle_timeout() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &["--http-idle-timeout-secs", "2"]);
    let mut s = TcpStream::connect(server.http).unwrap();
    // A body announced at 1000 bytes, 10 sent, then nothing.
    let head = format!(
        "POST /httplog HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
        server.http
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(b"{\"appID\": ").unwrap();
    match watch(&mut s, Duration::from_secs(15)) {
        Outcome::Closed { after, .. } => assert!(after >= Duration::from_secs(1), "closed after {after:?}"),
        Outcome::Open => panic!("a stalled request body held its connection for 15 s"),
    }
}

#[tokio::test]
async fn a_websocket_outlives_the_header_and_idle_timeouts() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &["--http-header-timeout-secs", "1", "--http-idle-timeout-secs", "1"]);
    let (mut c, _) = common::join(&server, &data, "room", "quiet").await;
    // Silent for longer than both timeouts, well within three heartbeats (30 s).
    tokio::time::sleep(Duration::from_secs(4)).await;
    c.ok("ping", json!({})).await.expect("the WebSocket is governed by its heartbeat, not the HTTP timeouts");
    assert!(c.closed.is_none());
}

#[test]
fn a_playing_http_flv_response_outlives_the_idle_timeout() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &["--http-header-timeout-secs", "1", "--http-idle-timeout-secs", "1"]);
    let (app, rtmp, http) =
        (server.app_id.to_string(), format!("rtmp://{}", server.rtmp), format!("http://{}", server.http));
    let publish_url = ok(&data, &["url", "publish", "--app-id", &app, "--stream-id", "s", "--public-rtmp-url", &rtmp]);
    let _ffmpeg = peers::publish(publish_url.trim(), peers::Content::AudioVideo, 30);
    let play = ok(
        &data,
        &["url", "play", "--app-id", &app, "--stream-id", "s", "--format", "flv", "--public-http-url", &http],
    );
    let path = play.trim().strip_prefix(&http).unwrap().to_owned();
    let end = Instant::now() + Duration::from_secs(20);
    while !get(server.http, "/metrics").body.contains("\nduet_media_live_streams 1\n") {
        assert!(Instant::now() < end, "the stream never went live");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut s = TcpStream::connect(server.http).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    // Bytes keep flowing for 4 s (4 idle timeouts): the response is not idle.
    assert_eq!(watch(&mut s, Duration::from_secs(4)), Outcome::Open, "a live HTTP-FLV response was cut");
}

#[test]
fn connections_over_the_per_address_cap_are_refused_and_others_still_served() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &["--http-max-connections-per-ip", "5", "--http-header-timeout-secs", "60"]);
    let held: Vec<TcpStream> = (0..5).map(|_| connect_from(LOCAL, server.http)).collect();
    let mut sixth = connect_from(LOCAL, server.http);
    refused(&mut sixth, "a sixth connection from 127.0.0.1");
    assert_eq!(healthz_from(OTHER, &server), 200, "another address is still served");
    assert!(metric_from(OTHER, &server, "duet_connections_refused_total{listener=\"http\"}") >= 1);
    drop(held);
    served_again(LOCAL, &server);
}

#[test]
fn connections_over_the_total_cap_are_refused_then_served_again() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &["--http-max-connections", "8", "--http-header-timeout-secs", "60"]);
    let held: Vec<TcpStream> = (1..=8).map(|i| connect_from(Ipv4Addr::new(127, 0, 1, i), server.http)).collect();
    let mut ninth = connect_from(OTHER, server.http);
    refused(&mut ninth, "a ninth connection");
    drop(held);
    served_again(OTHER, &server);
    assert!(metric_from(OTHER, &server, "duet_connections_refused_total{listener=\"http\"}") >= 1);
}

#[test]
fn rtmp_connections_over_the_caps_are_refused() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &["--rtmp-max-connections-per-ip", "3", "--rtmp-max-connections", "6"]);
    let mut held: Vec<TcpStream> = (0..3).map(|_| connect_from(LOCAL, server.rtmp)).collect();
    let mut fourth = connect_from(LOCAL, server.rtmp);
    refused(&mut fourth, "a fourth RTMP connection from 127.0.0.1");
    rtmp_handshake(OTHER, server.rtmp).expect("another address completes a handshake");
    // That connection is gone once the server has seen it close: wait (bounded) so the next
    // three fill the total of 6 exactly.
    let open = || common::metric(&server, "duet_connections{listener=\"rtmp\"}");
    for _ in 0..100 {
        if open() == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(open(), 3, "the handshake's connection was let go");
    held.extend((1..=3).map(|i| connect_from(Ipv4Addr::new(127, 0, 2, i), server.rtmp)));
    let mut seventh = connect_from(OTHER, server.rtmp);
    refused(&mut seventh, "a seventh RTMP connection");
    assert!(common::metric(&server, "duet_connections_refused_total{listener=\"rtmp\"}") >= 2);
}

/// `duet serve` with its open-file limit lowered to `nofile` (the shell's `ulimit`).
fn serve_with_nofile(data: &std::path::Path, nofile: u32) -> Server {
    let mut cmd = Command::new("sh");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("DUET_")) {
        cmd.env_remove(k);
    }
    cmd.args(["-c", &format!("ulimit -n {nofile} && exec \"$0\" \"$@\""), BIN, "--data"])
        .arg(data)
        .args(["serve", "--http", "127.0.0.1:0", "--rtmp", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null());
    Server::start_cmd(&mut cmd)
}

#[test]
fn a_full_http_port_never_starves_rtmp() {
    let (_tmp, data) = data_dir();
    let server = serve_with_nofile(&data, 256);
    // More idle connections than the server has file descriptors, from many addresses.
    let held: Vec<TcpStream> = (0..400u32)
        .map(|i| connect_from(Ipv4Addr::new(127, 0, 3 + (i / 200) as u8, (i % 200) as u8 + 1), server.http))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    for i in 1..=3 {
        rtmp_handshake(Ipv4Addr::new(127, 0, 9, i), server.rtmp).expect("RTMP completes handshakes while HTTP is full");
    }
    drop(held);
    served_again(OTHER, &server);
    let log = server.stderr();
    assert!(log.contains("open-file limit 256"), "the derived caps are logged: {log}");
    assert!(log.matches("accept failed").count() < 20, "accept errors back off: {log}");
}
