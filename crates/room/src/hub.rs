//! `Hub`: every app, room, session and connection of one node, as a sans-IO state machine.
//!
//! Inputs are methods taking [`Now`]: [`Hub::connect`], [`Hub::disconnect`],
//! [`Hub::handle_frame`], [`Hub::admit_publish`], [`Hub::publish_ended`], [`Hub::stream_unplayable`],
//! [`Hub::handle_timeout`]. After any of them,
//! drain [`Hub::poll_output`] until `None`, then sleep until [`Hub::poll_timeout`].
//! The hub never blocks and never reads a clock; the server owns sockets and the app registry.
//!
//! The state is split by owner: sessions in `Sessions`, each app's rooms, users and streams in
//! its `App`; the rules that tie sessions to connections, rooms and users are the hub's, in
//! `membership.rs`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use duet_token::AppSecret;
use serde_json::{Value, json};

use crate::app::App;
use crate::config::RoomConfig;
use crate::error::{ErrorCode, Refusal};
use crate::ids::{ConnId, PublisherId, SessionId};
use crate::io::{HubEvent, Now, Output, PublishEnded, PublishRequest, StreamUnplayable};
use crate::prepare::{LoginCheck, Prepared};
use crate::room::{Audience, Room};
use crate::session::{Session, Sessions};
use crate::stream::Closing;
use crate::timers::{TimerKey, Timers, TokenBucket};
use crate::wire;

/// The refusal of a request that needs a session, on a connection without one.
pub(crate) fn not_logged_in() -> Refusal {
    Refusal::new(ErrorCode::NotLoggedIn, "log into a room first")
}

/// A connection the hub knows. Its `session`, when set, is attached to it in turn
/// (`Session::conn`); `Hub::attach`, `Hub::close_conn` and `Hub::remove_session` keep both.
pub(crate) struct Conn {
    pub session: Option<SessionId>,
    pub last_seen: Instant,
    pub bucket: TokenBucket,
    pub violations: u32,
}

/// How long a room record given with [`Hub::seed_room`] waits for the login that opens the room.
pub const SEED_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// The hub. See the module docs for the run loop.
pub struct Hub {
    pub(crate) cfg: RoomConfig,
    pub(crate) key: [u8; 32],
    pub(crate) conns: HashMap<ConnId, Conn>,
    pub(crate) sessions: Sessions,
    pub(crate) apps: HashMap<u32, App>,
    pub(crate) timers: Timers,
    pub(crate) out: VecDeque<Output>,
    pub(crate) next_message_id: u64,
    /// Released live streams waiting for their media end, by app, stream and publish.
    pub(crate) closing: HashMap<(u32, String, PublisherId), Closing>,
    /// Sessions that were kicked out recently, so a resume of one learns why it cannot
    /// (and does not log in again, kicking the other device in turn).
    pub(crate) kicked: HashMap<SessionId, (ErrorCode, Instant)>,
    /// Records of rooms to open with ([`Hub::seed_room`]), with when they were given.
    pub(crate) seeds: HashMap<(u32, String), (Instant, serde_json::Value)>,
    prune_at: Option<Instant>,
    /// [`Hub::shutdown`] ran: nothing new is accepted.
    /// Why the hub stopped (`server_shutdown` or `server_draining`), once it did.
    stopping: Option<ErrorCode>,
    /// The `hello` push, the same for every connection: made once.
    hello: Arc<str>,
}

impl Hub {
    /// A hub with no rooms. `key` (random, from the server) signs resume tokens.
    pub fn new(cfg: RoomConfig, key: [u8; 32]) -> Self {
        let hello = json!({
            "protocol": wire::PROTOCOL_VERSION,
            "server": concat!("duet/", env!("CARGO_PKG_VERSION")),
            "heartbeatMs": cfg.heartbeat.as_millis() as u64,
            "heartbeatTimeoutMs": cfg.heartbeat_timeout.as_millis() as u64,
            "resumeGraceMs": cfg.resume_grace.as_millis() as u64,
            "maxFrameBytes": crate::limits::MAX_FRAME,
        });
        let sessions = Sessions::new(cfg.node);
        Self {
            hello: wire::push("hello", None, hello).into(),
            cfg,
            key,
            conns: HashMap::new(),
            sessions,
            apps: HashMap::new(),
            timers: Timers::default(),
            out: VecDeque::new(),
            next_message_id: 1,
            closing: HashMap::new(),
            kicked: HashMap::new(),
            seeds: HashMap::new(),
            prune_at: None,
            stopping: None,
        }
    }

    /// A connection opened; it is greeted with `hello` (or closed with the reason the hub
    /// stopped, once it did).
    pub fn connect(&mut self, now: Now, conn: ConnId) {
        if let Some(code) = self.stopping {
            self.out.push_back(Output::Close { conn, code });
            return;
        }
        let bucket = TokenBucket::new(now.at, self.cfg.rate_burst);
        self.conns.insert(conn, Conn { session: None, last_seen: now.at, bucket, violations: 0 });
        self.timers.schedule(now.at + self.cfg.heartbeat_timeout, TimerKey::Heartbeat(conn));
        self.send(conn, self.hello.clone());
    }

    /// A connection closed (by the peer or the network). Its session, if any, waits for a resume.
    pub fn disconnect(&mut self, now: Now, conn: ConnId) {
        self.timers.cancel(&TimerKey::Heartbeat(conn));
        if let Some(c) = self.conns.remove(&conn) {
            if let Some(sid) = c.session {
                self.detach(now, sid);
            }
        }
    }

    /// One received frame, parsed by [`wire::parse`] and prepared by [`prepare`](crate::prepare)
    /// (which verified a login's token on the caller's task).
    pub fn handle_frame(&mut self, now: Now, conn: ConnId, prepared: Prepared) {
        let Prepared { frame, login } = prepared;
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.last_seen = now.at;
        let allowed = c.bucket.take(now.at, self.cfg.rate_per_sec, self.cfg.rate_burst);
        let (id, result) = match (frame, allowed) {
            (Err(e), _) => (e.id, Err(e.refusal)),
            (Ok(f), false) => (Some(f.id), Err(Refusal::new(ErrorCode::RateLimited, "too many requests; slow down"))),
            (Ok(f), true) => {
                c.violations = c.violations.saturating_sub(1);
                (Some(f.id), Ok(f.request))
            }
        };
        match result {
            Ok(request) => self.dispatch(now, conn, id.unwrap_or_default(), request, login),
            Err(refusal) => {
                self.send(conn, wire::reply_err(id, &refusal).into());
                let c = self.conns.get_mut(&conn).expect("checked above");
                c.violations += 1;
                if c.violations > self.cfg.max_violations {
                    if let Some(sid) = self.close_conn(conn, ErrorCode::Abusive) {
                        self.remove_session(now, sid, ErrorCode::Abusive.name());
                    }
                }
            }
        }
    }

    /// Admission of a publish: `Ok` means the stream is live now (its room hears
    /// `roomStreamUpdate ADD`, its owner `PUBLISHING`); a refusal means nothing changed and the
    /// ingest must refuse the publish. A stream no room announces is admitted silently.
    pub fn admit_publish(&mut self, now: Now, request: PublishRequest) -> Result<(), Refusal> {
        if let Some(code) = self.stopping {
            return Err(Refusal::new(code, "the server is stopping"));
        }
        crate::streams::admit_publish(self, now, request)
    }

    /// An admitted publish ended.
    pub fn publish_ended(&mut self, now: Now, ended: PublishEnded) {
        crate::streams::publish_ended(self, now, ended);
    }

    /// A live stream cannot be played over WebRTC as published: the stream's info shows it
    /// (`webrtcProblem` in the API's stream list and room detail) until its publish ends or is taken over, and
    /// the backend hears `stream.unplayable`. A report of a stream no room announces, or of a
    /// publish that no longer carries the stream, changes nothing.
    pub fn stream_unplayable(&mut self, now: Now, report: StreamUnplayable) {
        crate::streams::unplayable(self, now, report);
    }

    /// Answers request `request_id` of `conn` that the server carried out (a mixer request,
    /// `Output::Mixer`); a connection that has gone since is not answered.
    pub fn answer(&mut self, conn: ConnId, request_id: u64, result: Result<serde_json::Value, Refusal>) {
        if self.conns.contains_key(&conn) {
            self.reply(conn, request_id, result);
        }
    }

    /// An app's secret changed (rotated while its users are logged in): URLs signed from now
    /// on use it. An app the hub does not know yet is left alone (its first login brings it).
    pub fn update_app_secret(&mut self, app_id: u32, secret: AppSecret) {
        if let Some(app) = self.apps.get_mut(&app_id) {
            app.secret = secret;
        }
    }

    /// Fires every deadline that is due.
    pub fn handle_timeout(&mut self, now: Now) {
        for (at, key) in self.timers.due(now.at) {
            match key {
                TimerKey::Heartbeat(conn) => {
                    let Some(last_seen) = self.conns.get(&conn).map(|c| c.last_seen) else { continue };
                    let deadline = last_seen + self.cfg.heartbeat_timeout;
                    if deadline <= now.at {
                        // The session stays resumable: the client may be on a flaky network.
                        if let Some(sid) = self.close_conn(conn, ErrorCode::HeartbeatTimeout) {
                            self.detach(now, sid);
                        }
                    } else {
                        self.timers.schedule(deadline, TimerKey::Heartbeat(conn));
                    }
                }
                TimerKey::Grace(sid) => {
                    let expired = self.sessions.get(sid).is_some_and(|s| s.conn.is_none() && s.grace_until == Some(at));
                    if expired {
                        self.remove_session(now, sid, "timeout");
                    }
                }
                TimerKey::Token(sid, room) => crate::rooms::token_timer(self, now, sid, &room),
                TimerKey::Count(app_id, room) => crate::rooms::push_count(self, app_id, &room),
                TimerKey::Prune => {
                    self.prune_at = None;
                    self.prune_logs(now);
                }
                TimerKey::Shutdown => crate::streams::close_unreported(self, now),
            }
        }
    }

    /// The next output to carry out, if any.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Hub::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// `record` (an [`Output::RoomRecord`] a lost home handed out) is what `room_id` of
    /// `app_id` starts from when a login opens it within [`SEED_TTL`]; ignored while the room
    /// is open here.
    pub fn seed_room(&mut self, now: Now, app_id: u32, room_id: &str, record: serde_json::Value) {
        if self.has_room(app_id, room_id) {
            return;
        }
        self.seeds.retain(|_, (at, _)| now.at.saturating_duration_since(*at) < SEED_TTL);
        self.seeds.insert((app_id, room_id.to_owned()), (now.at, record));
    }

    /// A room just opened by a login takes the record it was seeded with, if any is fresh.
    pub(crate) fn restore_room(&mut self, now: Now, app_id: u32, room_id: &str) {
        let Some((at, record)) = self.seeds.remove(&(app_id, room_id.to_owned())) else { return };
        if now.at.saturating_duration_since(at) >= SEED_TTL {
            return;
        }
        let cap = self.cfg.default_max_members;
        if let Some(room) = self.room_mut(app_id, room_id) {
            room.restore(&record, cap);
        }
    }

    /// The server is stopping: every connection is closed with `server_shutdown`, every
    /// session ends (`user.logout`, `room.closed`) and every stream is released, external ones
    /// too (`Output::StopMedia`). Their `stream.closed` go out as the media side reports their
    /// ends ([`Hub::publish_ended`], with their bytes), or when `shutdown_wait` runs out. From
    /// now on connections are closed at once and publishes refused. Keep feeding the hub until
    /// [`Hub::is_stopped`], so every event a backend was told of has its closing event.
    /// A second call (or one after [`Hub::drain`]) does nothing.
    pub fn shutdown(&mut self, now: Now) {
        self.stop(now, ErrorCode::ServerShutdown);
    }

    /// The node is leaving a cluster and its clients go to the others: as [`Hub::shutdown`],
    /// with `server_draining` as the reason (the server tells each client where else to go).
    pub fn drain(&mut self, now: Now) {
        self.stop(now, ErrorCode::ServerDraining);
    }

    fn stop(&mut self, now: Now, code: ErrorCode) {
        if self.stopping.is_some() {
            return;
        }
        self.stopping = Some(code);
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.close_conn(conn, code);
        }
        for sid in self.sessions.ids() {
            self.remove_session(now, sid, code.name());
        }
        let external: Vec<(u32, String)> = self
            .apps
            .iter()
            .flat_map(|(&app_id, a)| a.streams.iter().map(move |(id, _)| (app_id, id.clone())))
            .collect();
        for (app_id, stream_id) in external {
            crate::streams::release(self, now, app_id, &stream_id, false, code.name());
        }
        if !self.closing.is_empty() {
            self.timers.schedule(now.at + self.cfg.shutdown_wait, TimerKey::Shutdown);
        }
    }

    /// True once [`Hub::shutdown`] ran and every stream it ended has had its `stream.closed`.
    pub fn is_stopped(&self) -> bool {
        self.stopping.is_some() && self.closing.is_empty()
    }

    /// Pending deadlines (one per live connection, grace period, membership token, ...).
    pub fn timer_count(&self) -> usize {
        self.timers.len()
    }

    /// Sessions (attached or waiting for resume).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Open rooms across all apps.
    pub fn room_count(&self) -> usize {
        self.apps.values().map(App::room_count).sum()
    }

    /// Whether connection `conn` carries a session.
    pub fn has_session(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.session.is_some())
    }

    /// Whether `room_id` of `app_id` is open here.
    pub fn has_room(&self, app_id: u32, room_id: &str) -> bool {
        self.apps.get(&app_id).is_some_and(|app| app.room(room_id).is_some())
    }

    /// Connections known to the hub.
    pub fn conn_count(&self) -> usize {
        self.conns.len()
    }

    // ----- plumbing used by the request modules -----

    /// The app's state, created on first use; the secret is refreshed (it may have been rotated).
    pub(crate) fn app_entry(&mut self, app_id: u32, secret: AppSecret) -> &mut App {
        let app = self.apps.entry(app_id).or_insert_with(|| App::new(app_id, secret.clone()));
        app.secret = secret;
        app
    }

    /// Queues a webhook event.
    pub(crate) fn event(&mut self, now: Now, app_id: u32, name: &'static str, data: Value) {
        self.out.push_back(Output::Event(HubEvent { app_id, name, at_ms: now.unix_ms, data }));
    }

    pub(crate) fn send(&mut self, conn: ConnId, frame: Arc<str>) {
        self.out.push_back(Output::Send { conn, frame });
    }

    /// The session a request came from: the one attached to the request's connection.
    pub(crate) fn caller(&self, sid: SessionId) -> Result<&Session, Refusal> {
        self.sessions.get(sid).ok_or_else(not_logged_in)
    }

    /// The calling session and its app (an app outlives its sessions).
    pub(crate) fn caller_app(&self, sid: SessionId) -> Result<(&Session, &App), Refusal> {
        let s = self.caller(sid)?;
        Ok((s, self.apps.get(&s.app_id).ok_or_else(not_logged_in)?))
    }

    /// An app's open room.
    pub(crate) fn room(&self, app_id: u32, room_id: &str) -> Option<&Room> {
        self.apps.get(&app_id).and_then(|a| a.room(room_id))
    }

    pub(crate) fn room_mut(&mut self, app_id: u32, room_id: &str) -> Option<&mut Room> {
        self.apps.get_mut(&app_id).and_then(|a| a.room_mut(room_id))
    }

    /// Sends to the session's connection, if it has one (a session waiting for a resume gets
    /// what it missed from the room logs).
    pub(crate) fn send_session(&mut self, sid: SessionId, frame: Arc<str>) {
        if let Some(conn) = self.sessions.conn(sid) {
            self.send(conn, frame);
        }
    }

    pub(crate) fn reply(&mut self, conn: ConnId, id: u64, result: Result<Value, Refusal>) {
        let text = match result {
            Ok(data) => wire::reply_ok(id, data),
            Err(r) => wire::reply_err(Some(id), &r),
        };
        self.send(conn, text.into());
    }

    /// Records a room event (for replay) and delivers it to the attached members it is for.
    pub(crate) fn room_event(&mut self, now: Now, app_id: u32, room_id: &str, name: &str, data: Value, to: Audience) {
        let keep = self.cfg.replay_events;
        let Some(room) = self.room_mut(app_id, room_id) else { return };
        let frame = room.record(now.at, name, data, to.clone(), keep);
        let recipients: Vec<SessionId> = room.members().collect();
        for sid in recipients {
            if self.audience_includes(&to, sid, room_id) {
                self.send_session(sid, frame.clone());
            }
        }
        if self.prune_at.is_none() {
            let at = now.at + self.log_horizon();
            self.prune_at = Some(at);
            self.timers.schedule(at, TimerKey::Prune);
        }
    }

    /// Whether member `sid` of `room_id` receives an event for `to`.
    pub(crate) fn audience_includes(&self, to: &Audience, sid: SessionId, room_id: &str) -> bool {
        match to {
            Audience::All { except } => *except != Some(sid),
            Audience::UserUpdate { except } => {
                *except != Some(sid)
                    && self.sessions.get(sid).and_then(|s| s.rooms().get(room_id)).is_some_and(|m| m.user_update)
            }
            Audience::Only(set) => set.contains(&sid),
        }
    }

    /// Remembers that `sid` was kicked out with `code`, for as long as it could try a resume.
    pub(crate) fn remember_kick(&mut self, now: Now, sid: SessionId, code: ErrorCode) {
        let horizon = self.log_horizon();
        self.kicked.retain(|_, (_, at)| now.at.saturating_duration_since(*at) <= horizon);
        self.kicked.insert(sid, (code, now.at));
    }

    /// Room events older than this can no longer be asked for by a resume.
    pub(crate) fn log_horizon(&self) -> Duration {
        self.cfg.heartbeat_timeout + self.cfg.resume_grace + Duration::from_secs(5)
    }

    fn prune_logs(&mut self, now: Now) {
        let horizon = self.log_horizon();
        let mut any = false;
        for room in self.apps.values_mut().flat_map(App::rooms_mut) {
            any |= room.prune(now.at, horizon);
        }
        if any {
            let at = now.at + horizon;
            self.prune_at = Some(at);
            self.timers.schedule(at, TimerKey::Prune);
        }
    }

    fn dispatch(&mut self, now: Now, conn: ConnId, id: u64, request: wire::Request, login: Option<LoginCheck>) {
        use wire::Request as R;
        let session = self.conns.get(&conn).and_then(|c| c.session);
        let result = match (request, session) {
            (R::Ping, _) => Ok(json!({"serverTime": now.unix_ms})),
            (R::Login(l), _) => match login {
                Some(check) => crate::rooms::login(self, now, conn, *l, check),
                None => Err(LoginCheck::missing()),
            },
            (R::Resume { session_id, resume_token, rooms }, _) => {
                // The resume module replies itself: replayed pushes must follow the reply.
                crate::resume::resume(self, now, conn, id, &session_id, &resume_token, &rooms);
                return;
            }
            (_, None) => Err(not_logged_in()),
            (R::Logout { room_id }, Some(sid)) => crate::rooms::logout(self, now, sid, room_id.as_deref()),
            (R::RenewToken { token, room_id }, Some(sid)) => {
                crate::rooms::renew_token(self, now, sid, &token, room_id.as_deref())
            }
            (R::SendMessage { room_id, message, barrage }, Some(sid)) => {
                crate::rooms::send_message(self, now, sid, &room_id, message, barrage)
            }
            (R::SendCustomCommand { room_id, command, to_user_ids }, Some(sid)) => {
                crate::rooms::send_command(self, now, sid, &room_id, command, &to_user_ids)
            }
            (R::SetRoomExtraInfo { room_id, key, value }, Some(sid)) => {
                crate::rooms::set_room_extra(self, now, sid, &room_id, key, value)
            }
            (R::SetStreamExtraInfo { stream_id, extra_info }, Some(sid)) => {
                crate::streams::set_extra(self, now, sid, &stream_id, extra_info)
            }
            (R::Publish { room_id, stream_id, extra_info }, Some(sid)) => {
                crate::streams::publish(self, now, conn, id, sid, room_id, stream_id, extra_info);
                return;
            }
            (R::StopPublish { stream_id }, Some(sid)) => crate::streams::stop_publish(self, now, sid, &stream_id),
            (R::Play { stream_id }, Some(sid)) => crate::streams::play(self, now, sid, &stream_id),
            (R::Relay { stream_id, target_url, add }, Some(sid)) => {
                crate::streams::relay(self, sid, &stream_id, target_url, add)
            }
            (R::ReportQuality(report), Some(sid)) => crate::quality::report(self, now, sid, report),
            // Answered by the server's mixer (`answer`).
            (R::Mixer(call), Some(sid)) => match crate::mixer::order(self, conn, id, sid, call) {
                Ok(()) => return,
                Err(refusal) => Err(refusal),
            },
        };
        self.reply(conn, id, result);
    }
}
