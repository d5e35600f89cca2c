//! `Hub`: every app, room, session and connection of one node, as a sans-IO state machine.
//!
//! Inputs are methods taking [`Now`]: [`Hub::connect`], [`Hub::disconnect`],
//! [`Hub::handle_frame`], [`Hub::admit_publish`], [`Hub::publish_ended`], [`Hub::handle_timeout`]. After any of them,
//! drain [`Hub::poll_output`] until `None`, then sleep until [`Hub::poll_timeout`].
//! The hub never blocks and never reads a clock; the server owns sockets and the app registry.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use duet_token::{AppSecret, Grant};
use serde_json::{Value, json};

use crate::error::{ErrorCode, Refusal};
use crate::timers::{TimerKey, Timers, TokenBucket};
use crate::urls::UrlConfig;
use crate::wire::{self, Frame, FrameError, User};

/// The current time, as both a monotonic instant (timers) and wall-clock milliseconds (stamps,
/// token expiry).
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time.
    pub at: Instant,
    /// Unix time in milliseconds.
    pub unix_ms: u64,
}

impl Now {
    /// Unix seconds.
    pub fn unix_s(&self) -> i64 {
        (self.unix_ms / 1000) as i64
    }

    /// The instant at which wall-clock time reaches `unix_s` (now, if already past).
    pub fn instant_at_unix(&self, unix_s: i64) -> Instant {
        let ms = (unix_s.max(0) as u64).saturating_mul(1000).saturating_sub(self.unix_ms);
        // Absurdly far futures (tokens expiring in the year 292 billion) clamp to a century.
        let far = Duration::from_secs(100 * 365 * 24 * 3600);
        self.at.checked_add(Duration::from_millis(ms).min(far)).unwrap_or(self.at)
    }
}

/// A transport connection, numbered by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// What the hub asks the server to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send a text frame on a connection.
    Send {
        /// Where.
        conn: ConnId,
        /// The JSON text, shared by every recipient of the same push.
        frame: Arc<str>,
    },
    /// Send a `close` push with this code, then close the connection. The hub has forgotten it.
    Close {
        /// Which.
        conn: ConnId,
        /// Why.
        code: ErrorCode,
    },
    /// Cut the media connection publishing this stream (its publisher left or stopped).
    StopMedia {
        /// App.
        app_id: u32,
        /// Stream.
        stream_id: String,
    },
    /// Tell the app's business backend (webhooks).
    Event(HubEvent),
    /// Start (or stop) relaying a stream to an external RTMP URL, whenever it is live.
    Relay {
        /// App.
        app_id: u32,
        /// Stream.
        stream_id: String,
        /// Target.
        url: String,
        /// Start (true) or stop.
        start: bool,
    },
}

/// Which admitted publish carries a stream (unique per publish on a node), so the late end of
/// an earlier connection does not end a stream a newer one carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublisherId(pub u64);

/// A publisher asks to start a stream: every ingest (RTMP today; WHIP, relays, mixer outputs,
/// cluster edges) asks [`Hub::admit_publish`] before it accepts the publish. `user_id` and
/// `room_id` come from the signed publish URL: a stream no session reserved appears in
/// `room_id` (when set) as published by `user_id` (streams pushed by external encoders with
/// `duet url publish --room-id`).
#[derive(Debug, Clone, PartialEq)]
pub struct PublishRequest {
    /// App.
    pub app_id: u32,
    /// Stream.
    pub stream_id: String,
    /// Publisher named in the URL.
    pub user_id: String,
    /// Room named in the URL (may be empty).
    pub room_id: String,
    /// The app's secret (the ingest verified the URL with it; stream URLs are signed with it).
    pub secret: AppSecret,
    /// The publish asking.
    pub publisher: PublisherId,
}

/// An admitted publish ended (the encoder stopped, its connection died, or it was cut).
#[derive(Debug, Clone, PartialEq)]
pub struct PublishEnded {
    /// App.
    pub app_id: u32,
    /// Stream.
    pub stream_id: String,
    /// Media payload bytes the stream carried.
    pub bytes: u64,
    /// The publish that ended (as admitted).
    pub publisher: PublisherId,
}

/// Something that happened in an app, for its business backend (webhooks): `name` is one of
/// `room.created`, `room.closed`, `user.login`, `user.logout`, `stream.created`, `stream.closed`.
#[derive(Debug, Clone, PartialEq)]
pub struct HubEvent {
    /// App.
    pub app_id: u32,
    /// What happened.
    pub name: &'static str,
    /// When, unix milliseconds.
    pub at_ms: u64,
    /// The event's fields (`roomID`, `userID`, ...; docs/http-api.md).
    pub data: Value,
}

/// Tunables; [`RoomConfig::new`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct RoomConfig {
    /// Heartbeat interval announced to clients.
    pub heartbeat: Duration,
    /// Silence after which a connection is dropped.
    pub heartbeat_timeout: Duration,
    /// How long a dropped session may be resumed.
    pub resume_grace: Duration,
    /// `tokenWillExpire` is pushed this long before expiry.
    pub token_warning: Duration,
    /// Sustained requests per second per connection.
    pub rate_per_sec: u32,
    /// Burst of requests per connection.
    pub rate_burst: u32,
    /// Refused frames (bad or over the rate) after which the connection is closed as abusive.
    pub max_violations: u32,
    /// Member limit of a room when its first login asks for none.
    pub default_max_members: u32,
    /// Room events kept for replay on resume, per room.
    pub replay_events: usize,
    /// Online counts are pushed at most this often per room.
    pub count_interval: Duration,
    /// Media URL bases and lifetime.
    pub urls: UrlConfig,
}

impl RoomConfig {
    /// Defaults: heartbeat 10 s (timeout 30 s), resume grace 30 s, warning 30 s before token
    /// expiry, 20 requests/s (burst 40), 50 violations, 10,000 members, 512 replayable events,
    /// online count at most every second.
    pub fn new(urls: UrlConfig) -> Self {
        Self {
            heartbeat: Duration::from_secs(10),
            heartbeat_timeout: Duration::from_secs(30),
            resume_grace: Duration::from_secs(30),
            token_warning: Duration::from_secs(30),
            rate_per_sec: 20,
            rate_burst: 40,
            max_violations: 50,
            default_max_members: 10_000,
            replay_events: 512,
            count_interval: Duration::from_secs(1),
            urls,
        }
    }
}

pub(crate) struct Conn {
    pub session: Option<u64>,
    pub last_seen: Instant,
    pub bucket: TokenBucket,
    pub violations: u32,
}

pub(crate) struct Membership {
    pub user_update: bool,
    pub grant: Grant,
    pub token_expire: i64,
    pub warned: bool,
}

pub(crate) struct Session {
    pub app_id: u32,
    pub user: User,
    pub conn: Option<ConnId>,
    pub rooms: BTreeMap<String, Membership>,
    pub multi_room: bool,
    pub grace_until: Option<Instant>,
    pub streams: BTreeSet<String>,
}

/// Who receives a room event.
#[derive(Debug, Clone)]
pub(crate) enum Audience {
    /// Every member but one.
    All { except: Option<u64> },
    /// Members that asked for user updates, but one.
    UserUpdate { except: Option<u64> },
    /// These sessions.
    Only(BTreeSet<u64>),
}

pub(crate) struct LogEntry {
    pub seq: u64,
    pub at: Instant,
    pub frame: Arc<str>,
    pub to: Audience,
}

pub(crate) struct ExtraInfo {
    pub value: String,
    pub update_user: User,
    pub update_time: u64,
}

pub(crate) struct Room {
    pub members: BTreeSet<u64>,
    pub max_members: u32,
    pub extra: BTreeMap<String, ExtraInfo>,
    pub seq: u64,
    pub log: VecDeque<LogEntry>,
    pub count_sent: usize,
    pub count_pending: bool,
}

/// Owner of streams published from outside any session (external encoders).
pub(crate) const EXTERNAL: u64 = 0;

pub(crate) struct Stream {
    pub room_id: String,
    /// The publishing session, or [`EXTERNAL`].
    pub owner: u64,
    pub user: User,
    pub extra_info: String,
    pub live: bool,
    /// When media started arriving (unix ms), while live.
    pub live_since_ms: u64,
    /// The publish carrying it, while live.
    pub publisher: PublisherId,
    /// External RTMP URLs it is relayed to.
    pub relays: BTreeSet<String>,
}

impl Stream {
    /// A reservation (or an external stream) that is not live yet.
    pub(crate) fn new(room_id: String, owner: u64, user: User) -> Self {
        Self {
            room_id,
            owner,
            user,
            extra_info: String::new(),
            live: false,
            live_since_ms: 0,
            publisher: PublisherId(0),
            relays: BTreeSet::new(),
        }
    }
}

/// A live stream whose reservation ended (stop, logout, kick) while its media connection is
/// being cut: `stream.closed` goes out when the media side reports the end, with its bytes.
pub(crate) struct Closing {
    pub room_id: String,
    pub user_id: String,
    pub since_ms: u64,
    pub reason: &'static str,
    pub publisher: PublisherId,
}

pub(crate) struct App {
    pub secret: AppSecret,
    pub rooms: HashMap<String, Room>,
    pub users: HashMap<String, u64>,
    pub streams: HashMap<String, Stream>,
}

/// The hub. See the module docs for the run loop.
pub struct Hub {
    pub(crate) cfg: RoomConfig,
    pub(crate) key: [u8; 32],
    pub(crate) conns: HashMap<ConnId, Conn>,
    pub(crate) sessions: HashMap<u64, Session>,
    pub(crate) next_session: u64,
    pub(crate) apps: HashMap<u32, App>,
    pub(crate) timers: Timers,
    pub(crate) out: VecDeque<Output>,
    pub(crate) next_message_id: u64,
    pub(crate) closing: HashMap<(u32, String), Closing>,
    /// Sessions that were kicked out recently, so a resume of one learns why it cannot
    /// (and does not log in again, kicking the other device in turn).
    pub(crate) kicked: HashMap<u64, (ErrorCode, Instant)>,
    prune_at: Option<Instant>,
}

impl Hub {
    /// A hub with no rooms. `key` (random, from the server) signs resume tokens.
    pub fn new(cfg: RoomConfig, key: [u8; 32]) -> Self {
        Self {
            cfg,
            key,
            conns: HashMap::new(),
            sessions: HashMap::new(),
            next_session: 1,
            apps: HashMap::new(),
            timers: Timers::default(),
            out: VecDeque::new(),
            next_message_id: 1,
            closing: HashMap::new(),
            kicked: HashMap::new(),
            prune_at: None,
        }
    }

    /// A connection opened; it is greeted with `hello`.
    pub fn connect(&mut self, now: Now, conn: ConnId) {
        let bucket = TokenBucket::new(now.at, self.cfg.rate_burst);
        self.conns.insert(conn, Conn { session: None, last_seen: now.at, bucket, violations: 0 });
        self.timers.schedule(now.at + self.cfg.heartbeat_timeout, TimerKey::Heartbeat(conn.0));
        let hello = json!({
            "protocol": wire::PROTOCOL_VERSION,
            "server": concat!("duet/", env!("CARGO_PKG_VERSION")),
            "heartbeatMs": self.cfg.heartbeat.as_millis() as u64,
            "heartbeatTimeoutMs": self.cfg.heartbeat_timeout.as_millis() as u64,
            "resumeGraceMs": self.cfg.resume_grace.as_millis() as u64,
            "maxFrameBytes": crate::limits::MAX_FRAME,
        });
        self.send(conn, wire::push("hello", None, hello).into());
    }

    /// A connection closed (by the peer or the network). Its session, if any, waits for a resume.
    pub fn disconnect(&mut self, now: Now, conn: ConnId) {
        self.timers.cancel(&TimerKey::Heartbeat(conn.0));
        if let Some(c) = self.conns.remove(&conn) {
            if let Some(sid) = c.session {
                self.detach(now, sid);
            }
        }
    }

    /// One received frame, already parsed by [`wire::parse`]. `secret` is the app's secret
    /// when the request named an app ([`wire::Request::app_to_look_up`]) registered on this server.
    pub fn handle_frame(
        &mut self,
        now: Now,
        conn: ConnId,
        frame: Result<Frame, FrameError>,
        secret: Option<AppSecret>,
    ) {
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
            Ok(request) => self.dispatch(now, conn, id.unwrap_or_default(), request, secret),
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
        crate::streams::admit_publish(self, now, request)
    }

    /// An admitted publish ended.
    pub fn publish_ended(&mut self, now: Now, ended: PublishEnded) {
        crate::streams::publish_ended(self, now, ended);
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
                TimerKey::Heartbeat(c) => {
                    let conn = ConnId(c);
                    let Some(last_seen) = self.conns.get(&conn).map(|c| c.last_seen) else { continue };
                    let deadline = last_seen + self.cfg.heartbeat_timeout;
                    if deadline <= now.at {
                        // The session stays resumable: the client may be on a flaky network.
                        if let Some(sid) = self.close_conn(conn, ErrorCode::HeartbeatTimeout) {
                            self.detach(now, sid);
                        }
                    } else {
                        self.timers.schedule(deadline, TimerKey::Heartbeat(c));
                    }
                }
                TimerKey::Grace(sid) => {
                    let expired =
                        self.sessions.get(&sid).is_some_and(|s| s.conn.is_none() && s.grace_until == Some(at));
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

    /// The server is stopping: every connection is closed with `server_shutdown` and every
    /// session ends (their `user.logout`, `stream.closed` and `room.closed` events go out).
    pub fn shutdown(&mut self, now: Now) {
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.close_conn(conn, ErrorCode::ServerShutdown);
        }
        let sessions: Vec<u64> = self.sessions.keys().copied().collect();
        for sid in sessions {
            self.remove_session(now, sid, ErrorCode::ServerShutdown.name());
        }
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
        self.apps.values().map(|a| a.rooms.len()).sum()
    }

    /// Connections known to the hub.
    pub fn conn_count(&self) -> usize {
        self.conns.len()
    }

    // ----- plumbing used by the request modules -----

    /// The app's state, created on first use; the secret is refreshed (it may have been rotated).
    pub(crate) fn app_entry(&mut self, app_id: u32, secret: AppSecret) -> &mut App {
        let app = self.apps.entry(app_id).or_insert_with(|| App {
            secret: secret.clone(),
            rooms: HashMap::new(),
            users: HashMap::new(),
            streams: HashMap::new(),
        });
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

    pub(crate) fn send_session(&mut self, sid: u64, frame: Arc<str>) {
        if let Some(conn) = self.sessions.get(&sid).and_then(|s| s.conn) {
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
        let Some(room) = self.apps.get_mut(&app_id).and_then(|a| a.rooms.get_mut(room_id)) else { return };
        room.seq += 1;
        let frame: Arc<str> = wire::push(name, Some(room.seq), data).into();
        let recipients: Vec<u64> = room.members.iter().copied().collect();
        room.log.push_back(LogEntry { seq: room.seq, at: now.at, frame: frame.clone(), to: to.clone() });
        if room.log.len() > self.cfg.replay_events {
            room.log.pop_front();
        }
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

    pub(crate) fn audience_includes(&self, to: &Audience, sid: u64, room_id: &str) -> bool {
        match to {
            Audience::All { except } => *except != Some(sid),
            Audience::UserUpdate { except } => {
                *except != Some(sid)
                    && self.sessions.get(&sid).and_then(|s| s.rooms.get(room_id)).is_some_and(|m| m.user_update)
            }
            Audience::Only(set) => set.contains(&sid),
        }
    }

    /// Remembers that `sid` was kicked out with `code`, for as long as it could try a resume.
    pub(crate) fn remember_kick(&mut self, now: Now, sid: u64, code: ErrorCode) {
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
        for app in self.apps.values_mut() {
            for room in app.rooms.values_mut() {
                while room.log.front().is_some_and(|e| now.at.saturating_duration_since(e.at) > horizon) {
                    room.log.pop_front();
                }
                any |= !room.log.is_empty();
            }
        }
        if any {
            let at = now.at + horizon;
            self.prune_at = Some(at);
            self.timers.schedule(at, TimerKey::Prune);
        }
    }

    /// Closes a connection from the server side and returns the session that was on it, now
    /// detached; the caller either lets it wait for a resume or removes it.
    pub(crate) fn close_conn(&mut self, conn: ConnId, code: ErrorCode) -> Option<u64> {
        self.timers.cancel(&TimerKey::Heartbeat(conn.0));
        let c = self.conns.remove(&conn)?;
        self.out.push_back(Output::Close { conn, code });
        let sid = c.session?;
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.conn = None;
        }
        Some(sid)
    }

    fn dispatch(&mut self, now: Now, conn: ConnId, id: u64, request: wire::Request, secret: Option<AppSecret>) {
        use wire::Request as R;
        let session = self.conns.get(&conn).and_then(|c| c.session);
        let result = match (request, session) {
            (R::Ping, _) => Ok(json!({"serverTime": now.unix_ms})),
            (R::Login(login), _) => crate::rooms::login(self, now, conn, *login, secret),
            (R::Resume { session_id, resume_token, rooms }, _) => {
                // The resume module replies itself: replayed pushes must follow the reply.
                crate::resume::resume(self, now, conn, id, &session_id, &resume_token, &rooms);
                return;
            }
            (_, None) => Err(Refusal::new(ErrorCode::NotLoggedIn, "log into a room first")),
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
        };
        self.reply(conn, id, result);
    }
}
