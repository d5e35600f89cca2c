//! An RTMP client over tokio: a thin driver of `duet_rtmp::ClientSession`, which owns the
//! protocol (handshake, connect, createStream, publish or play, chunk sizes, acknowledgements)
//! and its setup deadline. This module only moves bytes and sleeps until the session's
//! `poll_timeout`. The server relays streams with it (`addPublishCdnUrl`); `duet-bench` loads
//! servers with it (Duet, nginx-rtmp, and, with [`Conn::raw`], the floor sender's raw chunks).

use anyhow::{Context, bail};
use duet_rtmp::chunk::Message;
use duet_rtmp::{ClientConfig, ClientEvent, ClientSession};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
    session: ClientSession,
    buf: Vec<u8>,
}

/// The clock given to the session.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl Conn {
    /// A connection that only reads raw chunks (the floor sender).
    pub fn raw(tcp: TcpStream) -> Self {
        Self { tcp, session: ClientSession::raw(ClientConfig::default()), buf: vec![0; 64 * 1024] }
    }

    /// Connects, shakes hands, and runs connect + createStream, all within the session's
    /// setup deadline.
    pub async fn open(target: &Target) -> anyhow::Result<Self> {
        let random = std::array::from_fn(|i| (i * 7 + 13) as u8);
        let mut session = ClientSession::new(ClientConfig::default(), random, now(), &target.app, &target.tc_url);
        let deadline = session.poll_timeout().expect("a new session has a setup deadline");
        let tcp = match tokio::time::timeout_at(deadline.into(), TcpStream::connect(&target.addr)).await {
            Ok(tcp) => tcp.with_context(|| format!("connect {}", target.addr))?,
            Err(_) => {
                session.handle_timeout(now());
                return Err(failure(&mut session).context(format!("connect {}", target.addr)));
            }
        };
        Self::setup(tcp, session).await
    }

    /// Like [`Conn::open`], over a socket already connected to `target` (set up as the caller
    /// needs: buffer sizes, options).
    pub async fn open_over(tcp: TcpStream, target: &Target) -> anyhow::Result<Self> {
        let random = std::array::from_fn(|i| (i * 7 + 13) as u8);
        let session = ClientSession::new(ClientConfig::default(), random, now(), &target.app, &target.tc_url);
        Self::setup(tcp, session).await
    }

    async fn setup(tcp: TcpStream, session: ClientSession) -> anyhow::Result<Self> {
        tcp.set_nodelay(true)?;
        let mut c = Self { tcp, session, buf: vec![0; 64 * 1024] };
        c.until(|e| matches!(e, ClientEvent::Connected)).await.context("RTMP connect")?;
        Ok(c)
    }

    /// Publishes `target.stream`; returns once the server started the publish.
    pub async fn publish(&mut self, target: &Target) -> anyhow::Result<()> {
        self.session.publish(now(), &target.stream)?;
        self.until(|e| matches!(e, ClientEvent::Started)).await.context("publish")
    }

    /// Plays `target.stream`; returns once the server started the play (media follows: read
    /// it with [`Conn::next`]).
    pub async fn play(&mut self, target: &Target) -> anyhow::Result<()> {
        self.session.play(now(), &target.stream)?;
        self.until(|e| matches!(e, ClientEvent::Started)).await.context("play")
    }

    /// Sends one media message on the published stream. What the server sent meanwhile is
    /// taken without waiting, so a refusal or a closed connection shows here.
    pub async fn send_media(&mut self, type_id: u8, timestamp: u32, payload: &[u8]) -> anyhow::Result<()> {
        self.session.send_media(type_id, timestamp, payload)?;
        loop {
            match self.tcp.try_read(&mut self.buf) {
                Ok(0) => bail!("the server closed the connection"),
                Ok(n) => self.session.handle_bytes(now(), &self.buf[..n])?,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        while let Some(event) = self.session.poll_event() {
            if let ClientEvent::Failed(why) = event {
                bail!(why);
            }
        }
        self.flush().await
    }

    /// The next audio, video or data message; `None` when the server closed.
    pub async fn next(&mut self) -> anyhow::Result<Option<Message>> {
        loop {
            while let Some(event) = self.session.poll_event() {
                match event {
                    ClientEvent::Message(m) => return Ok(Some(m)),
                    ClientEvent::Failed(why) => bail!(why),
                    _ => {}
                }
            }
            if !self.step().await? {
                return Ok(None);
            }
        }
    }

    /// Drives the session until an event `done` accepts; fails on a failure or a close.
    async fn until(&mut self, done: impl Fn(&ClientEvent) -> bool) -> anyhow::Result<()> {
        loop {
            while let Some(event) = self.session.poll_event() {
                match event {
                    ClientEvent::Failed(why) => bail!(why),
                    e if done(&e) => return Ok(()),
                    _ => {}
                }
            }
            if !self.step().await? {
                bail!("the server closed the connection during setup");
            }
        }
    }

    /// Sends what the session has, then waits for input or the session's deadline. False
    /// when the server closed the connection.
    async fn step(&mut self) -> anyhow::Result<bool> {
        self.flush().await?;
        let Self { tcp, session, buf } = self;
        let deadline = session.poll_timeout();
        tokio::select! {
            read = tcp.read(buf) => {
                let n = read?;
                if n == 0 {
                    return Ok(false);
                }
                session.handle_bytes(now(), &buf[..n])?;
            }
            () = sleep_until(deadline) => session.handle_timeout(now()),
        }
        Ok(true)
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        let out = self.session.take_output();
        if !out.is_empty() {
            self.tcp.write_all(&out).await?;
        }
        Ok(())
    }
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The failure a session just reported.
fn failure(session: &mut ClientSession) -> anyhow::Error {
    match std::iter::from_fn(|| session.poll_event()).find_map(|e| match e {
        ClientEvent::Failed(why) => Some(why),
        _ => None,
    }) {
        Some(why) => why.into(),
        None => anyhow::anyhow!("the RTMP session ended"),
    }
}
