//! The `/api/v1` client of the tests: requests signed the documented way, as a business
//! backend would, and the ServerSecret the first start printed.
#![allow(dead_code)] // each test file uses a different part

use std::net::SocketAddr;

use crate::common::{Response, Server, request};
use duet_token::{ApiRequest, AppSecret};
use serde_json::Value;

/// Signs requests for one app, as a business backend would.
pub struct Api {
    pub addr: SocketAddr,
    pub app_id: u32,
    pub secret: AppSecret,
    pub nonce: u64,
}

impl Api {
    pub fn new(server: &Server, app_id: u32, secret: &str) -> Self {
        Self { addr: server.http, app_id, secret: AppSecret::new(secret).unwrap(), nonce: 0 }
    }

    pub fn headers(&mut self, method: &str, path: &str, body: &[u8], timestamp: i64) -> Vec<(&'static str, String)> {
        self.nonce += 1;
        let nonce = format!("test-nonce-{}", self.nonce);
        let sig = ApiRequest { app_id: self.app_id, timestamp, nonce: &nonce, method, path, body }.sign(&self.secret);
        vec![
            ("X-Duet-AppID", self.app_id.to_string()),
            ("X-Duet-Timestamp", timestamp.to_string()),
            ("X-Duet-Nonce", nonce),
            ("X-Duet-Signature", sig),
        ]
    }

    pub fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let headers = self.headers(method, path, body.as_bytes(), now());
        parsed(request(self.addr, method, path, &headers, body.as_bytes(), None))
    }

    pub fn ok(&mut self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, body);
        assert_eq!(status, 200, "{method} {path}: {v}");
        v
    }
}

pub fn parsed(r: Response) -> (u16, Value) {
    (r.status, serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("not JSON: {}", r.body)))
}

#[allow(clippy::disallowed_methods)]
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The ServerSecret the first start printed.
pub fn banner_secret(server: &Server) -> String {
    let line = server.banner.lines().find(|l| l.trim_start().starts_with("ServerSecret")).unwrap();
    line.split_whitespace().nth(1).unwrap().to_owned()
}
