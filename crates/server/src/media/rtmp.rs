//! The RTMP listener: one task per connection drives a `duet_rtmp::Session`, checks signed
//! URLs, and either publishes into the media hub (telling signaling when the stream starts and
//! ends) or plays from it. The session owns the protocol's deadlines (handshake, no role,
//! publisher silence: `duet_rtmp::SessionConfig`); this driver sleeps until the session's
//! `poll_timeout` and drops a player that cannot take data for 30 s. Every refusal is logged
//! with its code and counted. The listener holds at most its caps of connections
//! (`http::limits`, shared with the HTTP listener).

use std::net::SocketAddr;

use std::sync::Arc;

use duet_media::{Kind, Publisher, StreamId, StreamKey};
use duet_rtmp::{Event, Session, SessionConfig, handshake};
use duet_token::{AppSecret, MediaAction, MediaUrl};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::http::limits::{Acceptor, ConnLimits, Limiter};
use crate::media::error::{MediaRefusal, RtmpEnd};
use crate::media::sink::{Form, Sink, Trouble};
use crate::media::{MediaContext, admission, now};
use crate::metrics::Metrics;

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
    /// Playing through the stream's writer (`fanout`).
    Playing(StreamId),
}

struct Conn<'a> {
    ctx: &'a MediaContext,
    peer: String,
    session: Session,
    app: Option<(u32, AppSecret)>,
    /// The `app` of the accepted connect, as sent.
    app_name: String,
    role: Role,
    tcp: Arc<TcpStream>,
    /// Every byte to the peer goes through it, in order (shared with the writer when playing).
    sink: Arc<Sink>,
}

/// Runs one connection to its end, which is counted (a refusal) and logged before the socket
/// closes.
async fn connection(tcp: TcpStream, peer: SocketAddr, ctx: &MediaContext, config: SessionConfig) {
    let random = crate::os::random::<{ handshake::PACKET }>();
    let tcp = Arc::new(tcp);
    let mut c = Conn {
        ctx,
        peer: peer.to_string(),
        session: Session::new(config, random, now()),
        app: None,
        app_name: String::new(),
        role: Role::None,
        sink: Arc::new(Sink::new(tcp.clone(), Form::Rtmp)),
        tcp,
    };
    let Err(end) = c.run().await;
    match std::mem::replace(&mut c.role, Role::None) {
        Role::Publishing(p) => admission::end(ctx, p).await,
        Role::Playing(stream) => ctx.fanout.remove(stream, &c.sink),
        Role::None => {}
    }
    if end.is_refusal() {
        Metrics::inc(&ctx.metrics.media_refused);
    }
    if !matches!(end, RtmpEnd::PeerClosed) {
        tracing::info!(%peer, "RTMP connection closed: {end}");
    }
    if !matches!(end, RtmpEnd::PeerClosed | RtmpEnd::ReadFailed(_) | RtmpEnd::WriteFailed(_) | RtmpEnd::StoppedReading)
    {
        c.sink.close().await;
    }
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The earlier of two deadlines.
fn earliest(a: Option<std::time::Instant>, b: Option<std::time::Instant>) -> Option<std::time::Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Completes when the hub asks this connection's publisher to stop; pending otherwise.
async fn cut_requested(role: &Role) {
    match role {
        Role::Publishing(p) => p.cut_requested().await,
        _ => std::future::pending().await,
    }
}

impl Conn<'_> {
    /// Drives the connection until it ends, and says why.
    async fn run(&mut self) -> Result<std::convert::Infallible, RtmpEnd> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            self.flush();
            if let Some(e) = self.sink.failed() {
                return Err(RtmpEnd::WriteFailed(e));
            }
            if self.session.should_close() {
                return Err(RtmpEnd::Refused);
            }
            if self.sink.take_ended() {
                // The played stream ended: the player hears it after everything it was sent.
                if let Role::Playing(_) = std::mem::replace(&mut self.role, Role::None) {
                    self.sink.unfollow();
                    self.session.end_play();
                }
                continue;
            }
            let deadline = self.poll_timeout();
            tokio::select! {
                ready = self.tcp.readable() => {
                    ready.map_err(RtmpEnd::ReadFailed)?;
                    match self.tcp.try_read(&mut buf) {
                        Ok(0) => return Err(RtmpEnd::PeerClosed),
                        Ok(n) => {
                            self.session.handle_bytes(now(), &buf[..n]).map_err(RtmpEnd::Protocol)?;
                            self.drain().await?;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(RtmpEnd::ReadFailed(e)),
                    }
                }
                tended = self.sink.tend() => tended.map_err(|t| match t {
                    Trouble::Write(e) => RtmpEnd::WriteFailed(e),
                    Trouble::Stalled => RtmpEnd::StoppedReading,
                })?,
                () = cut_requested(&self.role) => return Err(RtmpEnd::Cut),
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
        let publisher = match &self.role {
            Role::Publishing(p) => p.poll_timeout(),
            _ => None,
        };
        earliest(self.session.poll_timeout(), publisher)
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

    /// Sends what the session has to say, after what waits.
    fn flush(&mut self) {
        let out = self.session.take_output();
        if !out.is_empty() {
            self.sink.send(out.into());
        }
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
                    let key = StreamKey { app_id: v.app_id, stream_id: v.stream_id.clone() };
                    match crate::media::edge::subscribe(self.ctx, &key, false).await {
                        None => {
                            let r = MediaRefusal::new("stream_not_found", format!("{} is not live", v.stream_id));
                            self.ctx.refuse(&self.peer, "play", &r);
                            self.session.reject_play("NetStream.Play.StreamNotFound", &r.message);
                        }
                        Some(sub) => {
                            self.session.accept_play("Playing.");
                            self.flush();
                            // The start goes out at once, before any flush; then the stream's
                            // writer takes over.
                            let follower = sub.into_follower();
                            self.role = Role::Playing(follower.stream());
                            self.ctx.fanout.add(follower, &self.sink);
                        }
                    }
                }
            },
            Event::Media(m) => {
                // The session hands over audio and video messages only.
                if let (Role::Publishing(p), Some(kind)) = (&self.role, Kind::from_type_id(m.type_id)) {
                    if let Some(problem) = p.push(now(), kind, m.timestamp, m.payload) {
                        admission::unplayable(self.ctx, p, problem).await;
                    }
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
