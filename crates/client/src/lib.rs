//! Rust clients of Duet's protocols. At the root, the signaling client (docs/protocol.md):
//! connect, send requests and await their replies, and read server pushes. [`rtmp`] publishes
//! and plays RTMP. Used by tests, the benchmark, the server's relay and bots.
//!
//! Pushes that arrive while waiting for a reply are queued, never lost; [`Client::push`] takes
//! the next push of a given name (keeping others queued), [`Client::next_push`] the next of any.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod rtmp;

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a request waits for its reply by default.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// One signaling connection.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    queued: VecDeque<Value>,
    replies: VecDeque<Value>,
    /// The server's `hello` push.
    pub hello: Value,
    /// Set once the server closed the connection: the `close` push's data, if it sent one.
    pub closed: Option<Value>,
    /// Per room, the last room event `seq` received (what a resume asks to replay from).
    pub seqs: std::collections::BTreeMap<String, u64>,
}

/// What a login needs.
#[derive(Debug, Clone)]
pub struct LoginParams<'a> {
    /// AppID.
    pub app_id: u32,
    /// Room.
    pub room_id: &'a str,
    /// token04.
    pub token: &'a str,
    /// userID.
    pub user_id: &'a str,
    /// userName.
    pub user_name: &'a str,
    /// Ask for roomUserUpdate pushes.
    pub user_update: bool,
}

impl Client {
    /// Connects to `ws://host:port/ws` and waits for `hello`.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        // Signaling frames are small: a 4 KiB read buffer (it grows for a larger frame), where
        // the library's default of 128 KiB is allocated and zeroed for every connection (the
        // benchmark's thousands of clients spent their core on it). Requests go out at once.
        let config = WebSocketConfig::default().read_buffer_size(4 * 1024).write_buffer_size(0);
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        let mut c = Self {
            ws,
            next_id: 1,
            queued: VecDeque::new(),
            replies: VecDeque::new(),
            hello: Value::Null,
            closed: None,
            seqs: Default::default(),
        };
        c.hello = c.push("hello", REPLY_TIMEOUT).await?;
        Ok(c)
    }

    /// Sends a request and returns the whole reply (`code`, `data` or `reason`/`message`).
    pub async fn request(&mut self, op: &str, data: Value) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send_text(json!({"id": id, "op": op, "data": data}).to_string()).await?;
        self.reply(id).await
    }

    /// Like [`Client::request`], but a non-zero code is an error.
    pub async fn ok(&mut self, op: &str, data: Value) -> anyhow::Result<Value> {
        let reply = self.request(op, data).await?;
        if reply["code"] != 0 {
            bail!("{op} refused: {reply}");
        }
        Ok(reply["data"].clone())
    }

    /// Logs into a room; returns the reply.
    pub async fn login(&mut self, p: &LoginParams<'_>) -> anyhow::Result<Value> {
        let data = json!({"protocol": 1, "appID": p.app_id, "roomID": p.room_id, "token": p.token,
            "user": {"userID": p.user_id, "userName": p.user_name}, "userUpdate": p.user_update});
        let reply = self.request("login", data).await?;
        if let Some(seq) = reply["data"]["seq"].as_u64() {
            self.seqs.insert(p.room_id.to_owned(), seq);
        }
        Ok(reply)
    }

    /// Sends any text frame as is (for protocol tests).
    pub async fn send_text(&mut self, text: String) -> anyhow::Result<()> {
        self.ws.send(Message::Text(text.into())).await.context("send failed")
    }

    /// Waits for the reply with this id.
    pub async fn reply(&mut self, id: u64) -> anyhow::Result<Value> {
        loop {
            if let Some(at) = self.replies.iter().position(|r| r["id"] == id) {
                return Ok(self.replies.remove(at).expect("found"));
            }
            self.read_one(REPLY_TIMEOUT)
                .await?
                .with_context(|| format!("connection closed while waiting for reply {id}"))?;
        }
    }

    /// Waits for the next reply whatever its id (for frames sent with [`Client::send_text`]).
    pub async fn any_reply(&mut self) -> anyhow::Result<Value> {
        loop {
            if let Some(r) = self.replies.pop_front() {
                return Ok(r);
            }
            self.read_one(REPLY_TIMEOUT).await?.context("connection closed while waiting for a reply")?;
        }
    }

    /// Takes the next push named `name`, waiting up to `timeout`; other pushes stay queued.
    pub async fn push(&mut self, name: &str, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(at) = self.queued.iter().position(|p| p["push"] == name) {
                return Ok(self.queued.remove(at).expect("found"));
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                bail!("no {name} push within {timeout:?}; queued: {:?}", self.queued);
            }
            if self.read_one(left).await?.is_none() {
                bail!("connection closed while waiting for {name}; closed with {:?}", self.closed);
            }
        }
    }

    /// Takes the next push of any name, if one arrives within `timeout`.
    pub async fn next_push(&mut self, timeout: Duration) -> anyhow::Result<Option<Value>> {
        if let Some(p) = self.queued.pop_front() {
            return Ok(Some(p));
        }
        match self.read_one(timeout).await {
            Ok(Some(())) => Ok(self.queued.pop_front()),
            Ok(None) => Ok(None),
            Err(_) => Ok(None),
        }
    }

    /// Every push received and not yet taken.
    pub fn queued(&self) -> &VecDeque<Value> {
        &self.queued
    }

    /// Waits until the server closes the connection; returns the `close` push's data.
    pub async fn closed(&mut self, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.closed.is_none() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                bail!("the server did not close the connection within {timeout:?}");
            }
            let _ = self.read_one(left).await;
        }
        Ok(self.closed.clone().unwrap_or(Value::Null))
    }

    /// Closes the connection without logging out (as a network loss would).
    pub async fn drop_connection(mut self) {
        let _ = self.ws.close(None).await;
    }

    /// Reads one frame into the queues. `Ok(None)`: the connection is closed. Err: timeout.
    async fn read_one(&mut self, timeout: Duration) -> anyhow::Result<Option<()>> {
        if self.closed.is_some() {
            return Ok(None);
        }
        let msg = tokio::time::timeout(timeout, self.ws.next()).await.context("timed out")?;
        match msg {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).context("server sent invalid JSON")?;
                if v.get("push").is_some() {
                    if v["push"] == "close" {
                        self.closed = Some(v["data"].clone());
                    }
                    if let (Some(seq), Some(room)) = (v["seq"].as_u64(), v["data"]["roomID"].as_str()) {
                        self.seqs.insert(room.to_owned(), seq);
                    }
                    self.queued.push_back(v);
                } else {
                    self.replies.push_back(v);
                }
                Ok(Some(()))
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                self.closed.get_or_insert(Value::Null);
                Ok(None)
            }
            Some(Ok(_)) => Ok(Some(())),
        }
    }
}
