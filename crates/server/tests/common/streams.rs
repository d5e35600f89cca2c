//! Helpers of the media tests: signed URLs from `duet url`, waiting for live streams, an RTMP
//! publisher, a raw HTTP-FLV player and reading its body.
#![allow(dead_code)] // each test file uses a different part

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use crate::common::{Server, get, ok};

/// How long a test waits for media.
pub const WAIT: Duration = Duration::from_secs(10);

/// A signed URL from `duet url` (`args` start with publish or play) for `server`.
pub fn url(data: &Path, server: &Server, args: &[&str]) -> String {
    let (app_id, rtmp_base, http_base) =
        (server.app_id.to_string(), format!("rtmp://{}", server.rtmp), format!("http://{}", server.http));
    let mut full = vec!["url"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--app-id", &app_id, "--public-rtmp-url", &rtmp_base]);
    if args[0] == "play" {
        full.extend_from_slice(&["--public-http-url", &http_base]);
    }
    ok(data, &full).trim().to_owned()
}

/// Waits until `/metrics` shows `n` live streams.
pub fn wait_live(server: &Server, n: usize) {
    for _ in 0..200 {
        if get(server.http, "/metrics").body.contains(&format!("\nduet_media_live_streams {n}\n")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{n} live streams never showed in /metrics");
}

/// An RTMP client publishing with `url` (accepted).
pub async fn rtmp_publisher(url: &str) -> duet_client::rtmp::Conn {
    let target = duet_client::rtmp::Target::parse(url).unwrap();
    let mut conn = duet_client::rtmp::Conn::open(&target).await.unwrap();
    conn.publish(&target).await.unwrap();
    conn
}

/// A raw HTTP-FLV player of `flv_url` (its body is read with `read_until`).
pub fn flv_player(server: &Server, flv_url: &str) -> TcpStream {
    let mut s = TcpStream::connect(server.http).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let head = format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", &flv_url[flv_url.find("/live/").unwrap()..]);
    s.write_all(head.as_bytes()).unwrap();
    s
}

/// Where `needle` starts in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads `stream` into `seen` until `needle` shows up (bounded by the read timeout).
pub fn read_until(stream: &mut TcpStream, seen: &mut Vec<u8>, needle: &[u8]) {
    let mut buf = [0u8; 4096];
    while find(seen, needle).is_none() {
        let n = stream.read(&mut buf).expect("more data before the timeout");
        assert!(n > 0, "the body ended");
        seen.extend_from_slice(&buf[..n]);
    }
}
