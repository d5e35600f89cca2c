//! A webhook receiver for the tests: a local HTTP server that records the deliveries it
//! accepts (2xx), answers 500, or hangs, as the test sets its mode.
#![allow(dead_code)] // each test file uses a different part

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::ok;

const WAIT: Duration = Duration::from_secs(10);
/// The webhook secret the tests set.
pub const SECRET: &str = "whsec_test_0123456789";

/// Accept (200) and record.
pub const ANSWER_OK: u8 = 0;
/// Refuse (500).
pub const ANSWER_500: u8 = 1;
/// Never answer.
pub const HANG: u8 = 2;

pub struct Delivery {
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// A webhook receiver: records what it accepted (2xx) and counts what it refused.
pub struct Receiver {
    pub addr: SocketAddr,
    pub mode: Arc<AtomicU8>,
    pub accepted: Arc<Mutex<Vec<Delivery>>>,
}

impl Receiver {
    pub fn start(mode: u8) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(mode));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let (m, acc) = (mode.clone(), accepted.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (m, acc) = (m.clone(), acc.clone());
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(WAIT));
                    let mut reader = BufReader::new(stream);
                    let mut headers = HashMap::new();
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.trim_end() != "" {
                        if let Some((k, v)) = line.trim_end().split_once(':') {
                            headers.insert(k.to_ascii_lowercase(), v.trim().to_owned());
                        }
                        line.clear();
                    }
                    let len = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let mut stream = reader.into_inner();
                    match m.load(Ordering::SeqCst) {
                        ANSWER_OK => {
                            acc.lock().unwrap().push(Delivery { headers, body: String::from_utf8(body).unwrap() });
                            let _ =
                                stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                        }
                        ANSWER_500 => {
                            let _ = stream
                                .write_all(b"HTTP/1.1 500 Oops\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                        }
                        _ => std::thread::sleep(Duration::from_secs(30)),
                    }
                });
            }
        });
        Self { addr, mode, accepted }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Waits for `n` accepted deliveries and returns their bodies (parsed), each once: a
    /// delivery sent again (the same `X-Duet-Delivery`, as at-least-once allows) counts once.
    pub fn wait_for(&self, n: usize, limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.distinct();
            if got.len() >= n {
                return got.iter().map(|body| serde_json::from_str(body).unwrap()).collect();
            }
            assert!(Instant::now() < deadline, "{} of {n} webhook deliveries arrived: {got:?}", got.len());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The bodies of the accepted deliveries, each delivery once, in order of arrival.
    pub fn distinct(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let got = self.accepted.lock().unwrap();
        got.iter().filter(|d| seen.insert(d.headers["x-duet-delivery"].clone())).map(|d| d.body.clone()).collect()
    }
}

/// Sets the webhook of `app_id` to `url` with [`SECRET`].
pub fn set_webhook(data: &Path, app_id: u32, url: &str) {
    let out = ok(data, &["app", "webhook", "--app-id", &app_id.to_string(), "--url", url, "--secret", SECRET]);
    assert!(out.contains(url), "{out}");
}
