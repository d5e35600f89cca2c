//! The RTMP listener: one task per connection drives a `duet_rtmp::Session`, checks signed
//! URLs, and either publishes into the media hub (telling signaling when the stream starts and
//! ends) or plays from it. The session owns the protocol's deadlines (handshake, no role,
//! publisher silence: `duet_rtmp::SessionConfig`); this driver sleeps until the session's
//! `poll_timeout` and drops a player that cannot take data for 30 s. Every refusal is logged
//! with its code and counted. The listener holds at most its caps of connections
//! (`http::limits`, shared with the HTTP listener).

use std::net::SocketAddr;
use std::time::Duration;

use duet_media::{Kind, Publisher, StreamKey, Subscriber};
use duet_rtmp::{Event, Session, SessionConfig, handshake};
use duet_token::{AppSecret, MediaAction, MediaUrl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::http::limits::{Acceptor, ConnLimits, Limiter};
use crate::media::error::{MediaRefusal, RtmpEnd};
use crate::media::{MediaContext, admission};
use crate::metrics::Metrics;

/// Longest a write to a peer may block.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts RTMP connections until `stop`, at most `limits` at once (a connection over a cap is
/// closed at once); each session gets `config`'s deadlines.
pub async fn serve(
    listener: TcpListener,
    ctx: MediaContext,
    config: SessionConfig,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
) {
    let limiter = Limiter::new("RTMP", limits, ctx.metrics.rtmp_connections.clone());
    let mut acceptor = Acceptor::new(listener, limiter, b"");
    loop {
        tokio::select! {
            () = async { let _ = stop.wait_for(|s| *s).await; } => return,
            (tcp, peer, permit) = acceptor.accept() => {
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    connection(tcp, peer, &ctx, config).await;
                    drop(permit);
                });
            }
        }
    }
}

enum Role {
    None,
    Publishing(Publisher),
    Playing(Subscriber),
}

struct Conn<'a> {
    ctx: &'a MediaContext,
    peer: String,
    session: Session,
    app: Option<(u32, AppSecret)>,
    /// The `app` of the accepted connect, as sent.
    app_name: String,
    role: Role,
}

/// Runs one connection to its end, which is counted (a refusal) and logged before the socket
/// closes.
async fn connection(mut tcp: TcpStream, peer: SocketAddr, ctx: &MediaContext, config: SessionConfig) {
    let random = crate::os::random::<{ handshake::PACKET }>();
    let mut c = Conn {
        ctx,
        peer: peer.to_string(),
        session: Session::new(config, random, now()),
        app: None,
        app_name: String::new(),
        role: Role::None,
    };
    let Err(end) = c.run(&mut tcp).await;
    if let Role::Publishing(p) = std::mem::replace(&mut c.role, Role::None) {
        admission::end(ctx, p).await;
    }
    if end.is_refusal() {
        Metrics::inc(&ctx.metrics.media_refused);
    }
    if !matches!(end, RtmpEnd::PeerClosed) {
        tracing::info!(%peer, "RTMP connection closed: {end}");
    }
    if !matches!(end, RtmpEnd::PeerClosed | RtmpEnd::ReadFailed(_)) {
        close_gracefully(&mut tcp).await;
    }
}

/// How long a closing connection's leftover input is read and dropped.
const LINGER: Duration = Duration::from_secs(2);
/// Most leftover input read while closing.
const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// Closes a connection so the peer reads everything sent before (a refusal's `onStatus`):
/// our side is shut down first, then input the peer sent ahead is read and dropped until it
/// closes too (bounded in time and bytes). Closing a socket with unread input would send a
/// reset, which discards what the peer had not read yet.
async fn close_gracefully(tcp: &mut TcpStream) {
    if tcp.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut dropped = 0;
        while dropped < LINGER_BYTES {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => dropped += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// The clock the sessions are given (tokio's, so paused-time tests could drive it too).
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

impl Conn<'_> {
    /// Drives the connection until it ends, and says why.
    async fn run(&mut self, tcp: &mut TcpStream) -> Result<std::convert::Infallible, RtmpEnd> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            self.flush(tcp).await?;
            if self.session.should_close() {
                return Err(RtmpEnd::Refused);
            }
            let deadline = self.poll_timeout();
            tokio::select! {
                read = tcp.read(&mut buf) => {
                    let n = read.map_err(RtmpEnd::ReadFailed)?;
                    if n == 0 {
                        return Err(RtmpEnd::PeerClosed);
                    }
                    self.session.handle_bytes(now(), &buf[..n]).map_err(RtmpEnd::Protocol)?;
                    self.drain().await?;
                }
                happening = role_event(&mut self.role) => match happening {
                    RoleEvent::Packets(batch) => {
                        let sent = write_batch(tcp, &batch).await?;
                        if let Role::Playing(sub) = &self.role {
                            sub.sent(sent);
                        }
                    }
                    RoleEvent::StreamEnded => {
                        self.role = Role::None;
                        self.session.end_play();
                    }
                    RoleEvent::Cut => return Err(RtmpEnd::Cut),
                },
                () = sleep_until(deadline) => {
                    let now = now();
                    self.session.handle_timeout(now);
                    if let Role::Publishing(p) = &self.role {
                        p.handle_timeout(now);
                    }
                    self.drain().await?;
                }
            }
        }
    }

    /// The next deadline: the session's, or when the published stream's waiting messages must
    /// go out to its players.
    fn poll_timeout(&self) -> Option<std::time::Instant> {
        let session = self.session.poll_timeout();
        let Role::Publishing(p) = &self.role else { return session };
        match (session, p.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Handles every event the session has; a deadline that passed ends the connection.
    async fn drain(&mut self) -> Result<(), RtmpEnd> {
        while let Some(event) = self.session.poll_event().map_err(RtmpEnd::Protocol)? {
            if let Event::TimedOut(why) = event {
                return Err(RtmpEnd::TimedOut(why));
            }
            self.handle(event).await;
        }
        Ok(())
    }

    async fn flush(&mut self, tcp: &mut TcpStream) -> Result<(), RtmpEnd> {
        let out = self.session.take_output();
        if out.is_empty() { Ok(()) } else { write(tcp, &out).await }
    }

    async fn handle(&mut self, event: Event) {
        match event {
            Event::Connect { app, .. } => {
                // The RTMP "app" is the AppID; some clients attach the URL's query to it.
                let secret = match MediaUrl::rtmp_app_id(&app) {
                    Ok(app_id) => self.ctx.secret(app_id).await.map(|s| (app_id, s)),
                    Err(_) => None,
                };
                match secret {
                    Some(found) => {
                        self.app = Some(found);
                        self.app_name = app;
                        self.session.accept_connect();
                    }
                    None => {
                        let r = MediaRefusal::new("unknown_app", format!("no app `{app}`"));
                        self.ctx.refuse(&self.peer, "connect", &r);
                        self.session.reject_connect("unknown app");
                    }
                }
            }
            Event::Publish { name } => {
                let admitted = match self.verify(&name, MediaAction::Publish) {
                    Ok(v) => {
                        admission::admit(self.ctx, &v.url, &v.secret, v.latency.as_deref()).await.map(|p| (p, v.url))
                    }
                    Err(r) => Err(r),
                };
                match admitted {
                    Err(r) => {
                        self.ctx.refuse(&self.peer, "publish", &r);
                        let taken = matches!(r.code, "stream_live" | "stream_taken");
                        let code = if taken { "NetStream.Publish.BadName" } else { "NetStream.Publish.Denied" };
                        self.session.reject_publish(code, &r.message);
                    }
                    Ok((publisher, url)) => {
                        tracing::info!(peer = %self.peer, app_id = url.app_id, stream = %url.stream_id, user = %url.user_id, "publishing");
                        self.role = Role::Publishing(publisher);
                        self.session.accept_publish("Publishing.");
                    }
                }
            }
            Event::Play { name } => match self.verify(&name, MediaAction::Play) {
                Err(r) => {
                    self.ctx.refuse(&self.peer, "play", &r);
                    self.session.reject_play("NetStream.Play.Failed", &r.message);
                }
                Ok(Verified { url: v, .. }) => {
                    match self.ctx.hub.subscribe(&StreamKey { app_id: v.app_id, stream_id: v.stream_id.clone() }) {
                        None => {
                            let r = MediaRefusal::new("stream_not_found", format!("{} is not live", v.stream_id));
                            self.ctx.refuse(&self.peer, "play", &r);
                            self.session.reject_play("NetStream.Play.StreamNotFound", &r.message);
                        }
                        Some(sub) => {
                            self.role = Role::Playing(sub);
                            self.session.accept_play("Playing.");
                        }
                    }
                }
            },
            Event::Media(m) => {
                // The session hands over audio and video messages only.
                if let (Role::Publishing(p), Some(kind)) = (&self.role, Kind::from_type_id(m.type_id)) {
                    p.push(now(), kind, m.timestamp, m.payload);
                }
            }
            Event::Metadata(meta) => {
                if let Role::Publishing(p) = &self.role {
                    p.push(now(), Kind::Metadata, 0, meta);
                }
            }
            Event::Unpublish => {
                if let Role::Publishing(p) = std::mem::replace(&mut self.role, Role::None) {
                    admission::end(self.ctx, p).await;
                }
            }
            _ => {}
        }
    }

    fn verify(&self, name: &str, action: MediaAction) -> Result<Verified, MediaRefusal> {
        let (_, secret) = self.app.clone().ok_or_else(|| MediaRefusal::new("unknown_app", "no connect"))?;
        let unverified = MediaUrl::from_rtmp(&self.app_name, name, action)?;
        let latency = unverified.option("latency");
        let url = unverified.verify(&secret, crate::os::now_unix() as u64)?;
        Ok(Verified { secret, url, latency })
    }
}

/// A publish or play URL whose signature checked out.
struct Verified {
    secret: AppSecret,
    url: MediaUrl,
    /// The latency budget the URL asks for, unchecked (admission decides).
    latency: Option<String>,
}

/// Writes packets with as few system calls as the socket allows (one send for one buffer,
/// vectored writes for several); returns the bytes written.
async fn write_batch(tcp: &mut TcpStream, batch: &[bytes::Bytes]) -> Result<usize, RtmpEnd> {
    let total: usize = batch.iter().map(|b| b.len()).sum();
    if let [one] = batch {
        // One buffer (most writes at call bitrates): a plain send, no iovec to build.
        return write(tcp, one).await.map(|()| total);
    }
    let all = async {
        let (mut index, mut offset) = (0, 0);
        while index < batch.len() {
            let slices: Vec<std::io::IoSlice<'_>> = std::iter::once(std::io::IoSlice::new(&batch[index][offset..]))
                .chain(batch[index + 1..].iter().map(|b| std::io::IoSlice::new(b)))
                .collect();
            let mut n = tcp.write_vectored(&slices).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::WriteZero));
            }
            while n > 0 && index < batch.len() {
                let left = batch[index].len() - offset;
                if n >= left {
                    n -= left;
                    index += 1;
                    offset = 0;
                } else {
                    offset += n;
                    n = 0;
                }
            }
        }
        Ok::<(), std::io::Error>(())
    };
    within_write_timeout(all).await.map(|()| total)
}

async fn write(tcp: &mut TcpStream, bytes: &[u8]) -> Result<(), RtmpEnd> {
    within_write_timeout(tcp.write_all(bytes)).await
}

/// A write that fails, or takes longer than [`WRITE_TIMEOUT`], ends the connection.
async fn within_write_timeout(write: impl Future<Output = std::io::Result<()>>) -> Result<(), RtmpEnd> {
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(result) => result.map_err(RtmpEnd::WriteFailed),
        Err(_) => Err(RtmpEnd::StoppedReading),
    }
}

enum RoleEvent {
    /// RTMP bytes for a player, one or more packets.
    Packets(Vec<bytes::Bytes>),
    /// The played stream ended.
    StreamEnded,
    /// Signaling asked to stop this publisher.
    Cut,
}

/// What the connection's role brings next: a packet to play, the end of the played stream, or
/// a request to cut the publisher. Pending forever for a connection that does neither.
async fn role_event(role: &mut Role) -> RoleEvent {
    match role {
        Role::Playing(sub) => {
            // Everything ready goes out in one write: a caught-up player's flush is one buffer.
            match sub.next_batch().await {
                Some(batch) => RoleEvent::Packets(batch.rtmp()),
                None => RoleEvent::StreamEnded,
            }
        }
        Role::Publishing(p) => {
            p.cut_requested().await;
            RoleEvent::Cut
        }
        Role::None => std::future::pending().await,
    }
}
