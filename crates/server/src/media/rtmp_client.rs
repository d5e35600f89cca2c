//! A minimal RTMP client: the plain handshake, connect, createStream, then publish or play;
//! messages are read with `duet_rtmp::chunk`. The server relays streams with it
//! (`addPublishCdnUrl`); `duet-bench` loads servers with it (Duet, nginx-rtmp, and, without
//! handshake and commands, the floor sender's raw chunks).

use anyhow::{Context, bail};
use duet_rtmp::amf0::{self, Value};
use duet_rtmp::chunk::{self, Decoder, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OUT_CHUNK: usize = 4096;
const PACKET: usize = 1536;

/// An RTMP URL split for the handshake: `rtmp://host:port/app/stream?query`.
pub struct Target {
    /// `host:port`.
    pub addr: String,
    /// The application (Duet: the AppID).
    pub app: String,
    /// The stream name with its query (Duet: the signature).
    pub stream: String,
    /// `rtmp://host:port/app`.
    pub tc_url: String,
}

impl Target {
    /// Parses an `rtmp://` URL.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let rest = url.strip_prefix("rtmp://").context("not an rtmp:// URL")?;
        let (addr, path) = rest.split_once('/').context("no application in the URL")?;
        let (app, stream) = path.split_once('/').context("no stream name in the URL")?;
        let addr = if addr.contains(':') { addr.to_owned() } else { format!("{addr}:1935") };
        Ok(Self { tc_url: format!("rtmp://{addr}/{app}"), addr, app: app.to_owned(), stream: stream.to_owned() })
    }
}

/// One connection.
pub struct Conn {
    tcp: TcpStream,
    dec: Decoder,
    buf: Vec<u8>,
    start: usize,
    received: u64,
    acked: u64,
    window: u64,
    stream_id: u32,
}

impl Conn {
    /// A connection that only reads raw chunks (the floor sender).
    pub fn raw(tcp: TcpStream) -> Self {
        let mut dec = Decoder::default();
        let _ = dec.set_chunk_size(OUT_CHUNK as u32);
        Self { tcp, dec, buf: Vec::with_capacity(64 * 1024), start: 0, received: 0, acked: 0, window: 0, stream_id: 0 }
    }

    /// Connects, shakes hands, and runs connect + createStream.
    pub async fn open(target: &Target) -> anyhow::Result<Self> {
        let tcp = TcpStream::connect(&target.addr).await.with_context(|| format!("connect {}", target.addr))?;
        tcp.set_nodelay(true)?;
        let mut c = Self {
            tcp,
            dec: Decoder::default(),
            buf: Vec::with_capacity(64 * 1024),
            start: 0,
            received: 0,
            acked: 0,
            window: 0,
            stream_id: 0,
        };
        let mut c0c1 = vec![3u8];
        c0c1.extend_from_slice(&[0u8; PACKET]);
        for (i, b) in c0c1[9..].iter_mut().enumerate() {
            *b = (i * 7 + 13) as u8;
        }
        c.tcp.write_all(&c0c1).await?;
        let mut s0s1s2 = vec![0u8; 1 + 2 * PACKET];
        c.tcp.read_exact(&mut s0s1s2).await.context("handshake")?;
        c.tcp.write_all(&s0s1s2[1..1 + PACKET]).await?;
        let mut out = Vec::new();
        chunk::encode(&mut out, 2, 0, 1, 0, &(OUT_CHUNK as u32).to_be_bytes(), 128);
        c.tcp.write_all(&out).await?;
        let props = amf0::object(&[
            ("app", Value::String(target.app.clone())),
            ("flashVer", Value::String("FMLE/3.0 (compatible; duet-bench)".into())),
            ("tcUrl", Value::String(target.tc_url.clone())),
            ("fpad", Value::Boolean(false)),
            ("capabilities", Value::Number(15.0)),
            ("audioCodecs", Value::Number(3191.0)),
            ("videoCodecs", Value::Number(252.0)),
            ("videoFunction", Value::Number(1.0)),
        ]);
        c.command(0, &[Value::String("connect".into()), Value::Number(1.0), props]).await?;
        c.expect_result(1.0).await.context("connect")?;
        c.command(0, &[Value::String("createStream".into()), Value::Number(2.0), Value::Null]).await?;
        let result = c.expect_result(2.0).await.context("createStream")?;
        c.stream_id = result.get(3).and_then(Value::as_f64).unwrap_or(1.0) as u32;
        Ok(c)
    }

    async fn command(&mut self, stream_id: u32, values: &[Value]) -> anyhow::Result<()> {
        let mut out = Vec::new();
        chunk::encode(&mut out, 3, 0, 20, stream_id, &amf0::encode_all(values), OUT_CHUNK);
        self.tcp.write_all(&out).await?;
        Ok(())
    }

    async fn expect_result(&mut self, txn: f64) -> anyhow::Result<Vec<Value>> {
        loop {
            let m = self.next().await?.context("closed during setup")?;
            if m.type_id != 20 {
                continue;
            }
            let v = amf0::decode_all(&m.payload).map_err(|e| anyhow::anyhow!("bad AMF0: {e:?}"))?;
            match (v.first().and_then(Value::as_str), v.get(1).and_then(Value::as_f64)) {
                (Some("_result"), Some(t)) if t == txn => return Ok(v),
                (Some("_error"), Some(t)) if t == txn => bail!("refused: {v:?}"),
                _ => {}
            }
        }
    }

    /// Waits for an `onStatus` whose code starts with `prefix`; fails on error levels.
    async fn expect_status(&mut self, ok_code: &str) -> anyhow::Result<()> {
        loop {
            let m = self.next().await?.context("closed before onStatus")?;
            if m.type_id != 20 {
                continue;
            }
            let v = amf0::decode_all(&m.payload).map_err(|e| anyhow::anyhow!("bad AMF0: {e:?}"))?;
            if v.first().and_then(Value::as_str) != Some("onStatus") {
                continue;
            }
            let info = v.get(3);
            let code = info.and_then(|i| i.get("code")).and_then(Value::as_str).unwrap_or_default().to_owned();
            if code == ok_code {
                return Ok(());
            }
            if info.and_then(|i| i.get("level")).and_then(Value::as_str) == Some("error") {
                bail!("{code}");
            }
        }
    }

    /// Starts publishing `target.stream`.
    pub async fn publish(&mut self, target: &Target) -> anyhow::Result<()> {
        let sid = self.stream_id;
        let cmd = [
            Value::String("publish".into()),
            Value::Number(3.0),
            Value::Null,
            Value::String(target.stream.clone()),
            Value::String("live".into()),
        ];
        self.command(sid, &cmd).await?;
        self.expect_status("NetStream.Publish.Start").await
    }

    /// Asks to play `target.stream` (media follows; read it with [`Conn::next`]).
    pub async fn play(&mut self, target: &Target) -> anyhow::Result<()> {
        let sid = self.stream_id;
        let cmd = [
            Value::String("play".into()),
            Value::Number(0.0),
            Value::Null,
            Value::String(target.stream.clone()),
            Value::Number(-1000.0),
        ];
        self.command(sid, &cmd).await
    }

    /// Sends one media message (csid 4 audio, 6 video) on the published stream.
    pub async fn send_media(&mut self, type_id: u8, timestamp: u32, payload: &[u8]) -> anyhow::Result<()> {
        let mut out = Vec::with_capacity(payload.len() + 64);
        let csid = match type_id {
            8 => 4,
            9 => 6,
            _ => 5,
        };
        chunk::encode(&mut out, csid, timestamp, type_id, self.stream_id, payload, OUT_CHUNK);
        self.tcp.write_all(&out).await?;
        Ok(())
    }

    /// The next whole message; `None` when the server closed. Handles chunk size and acks.
    pub async fn next(&mut self) -> anyhow::Result<Option<Message>> {
        loop {
            if self.start < self.buf.len() {
                let (used, msg) =
                    self.dec.decode(&self.buf[self.start..]).map_err(|e| anyhow::anyhow!("chunk stream: {e}"))?;
                self.start += used;
                if let Some(m) = msg {
                    match m.type_id {
                        1 if m.payload.len() >= 4 => {
                            let size = u32::from_be_bytes(m.payload[..4].try_into()?) & 0x7fff_ffff;
                            self.dec.set_chunk_size(size).map_err(|e| anyhow::anyhow!("{e}"))?;
                        }
                        5 if m.payload.len() >= 4 => {
                            self.window = u64::from(u32::from_be_bytes(m.payload[..4].try_into()?))
                        }
                        _ => {}
                    }
                    return Ok(Some(m));
                }
                if used > 0 {
                    continue;
                }
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let mut tmp = [0u8; 64 * 1024];
            let n = self.tcp.read(&mut tmp).await?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&tmp[..n]);
            self.received += n as u64;
            if self.window > 0 && self.received - self.acked >= self.window / 2 {
                self.acked = self.received;
                let mut out = Vec::new();
                chunk::encode(&mut out, 2, 0, 3, 0, &(self.received as u32).to_be_bytes(), OUT_CHUNK);
                self.tcp.write_all(&out).await?;
            }
        }
    }
}
