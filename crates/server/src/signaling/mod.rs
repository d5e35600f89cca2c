//! Signaling over WebSocket at `/ws`: one task owns the room [`Hub`]; each connection has a
//! task that parses frames, looks up app secrets, and forwards to the hub through a bounded
//! channel; the hub answers through a bounded per-connection outbox. A connection whose outbox
//! is full is dropped (its session stays resumable); the hub never waits for a socket.
//!
//! Every connection ends with a WebSocket closing handshake, whoever starts it (`close.rs`):
//! a room for the hub's close is reserved in each outbox, and a closing connection reads and
//! discards what the peer still sends until the peer's Close frame, so the kernel never
//! answers unread input with a reset that would destroy the close the peer has not read yet.

mod close;
mod outbox;
pub mod relay;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use duet_media::Hub as MediaHub;
use duet_room::admin::AdminRequest;
use duet_room::{
    ConnId, ErrorCode, Hub, Now, Output, Prepared, PublishEnded, PublishRequest, Refusal, RoomConfig, StreamUnplayable,
    wire,
};
use tokio::sync::{mpsc, oneshot, watch};

use self::outbox::{Mailbox, Outbox, Taken};

use crate::http::AppState;
use crate::metrics::Metrics;
use crate::store::apps::{AppChange, Apps};
use crate::webhooks::Webhooks;

/// Frames queued for one connection before it counts as too slow and is dropped.
pub const OUTBOX: usize = 1024;
/// Inputs queued for the hub.
const HUB_INBOX: usize = 4096;
/// WebSocket messages above this are not read at all: the connection is closed. Between the
/// protocol limit (`limits::MAX_FRAME`) and this, the client gets `frame_too_large`.
pub const MAX_WS_MESSAGE: usize = 64 * 1024;
/// Initial read buffer of a connection.
pub(crate) const READ_BUFFER: usize = 1024;
/// Longest a write to a client may block before the connection is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

enum HubInput {
    Connect(ConnId, Outbox),
    Frame(ConnId, Prepared),
    Disconnect(ConnId),
    AdmitPublish(PublishRequest, oneshot::Sender<Result<(), Refusal>>),
    PublishEnded(PublishEnded),
    StreamUnplayable(StreamUnplayable),
    Admin(u32, AdminRequest, oneshot::Sender<Result<serde_json::Value, Refusal>>),
    /// Whether a connection carries a session.
    HasSession(ConnId, oneshot::Sender<bool>),
    /// Which of these rooms are open.
    OpenRooms(Vec<(u32, String)>, oneshot::Sender<Vec<bool>>),
    /// A room's record from its previous home, for the login that opens it here.
    SeedRoom(u32, String, serde_json::Value),
    Shutdown,
    Drain,
}

/// How often a node looks for room claims no open room uses.
const CLAIM_SWEEP: Duration = Duration::from_secs(30);

/// A handle to the hub task, shared by connection tasks.
#[derive(Clone)]
pub struct Signaling {
    inbox: mpsc::Sender<HubInput>,
    /// Apps and their secrets.
    apps: Apps,
    next_conn: Arc<AtomicU64>,
    /// Connection tasks still running, so shutdown can wait for their farewell frames.
    open: Arc<watch::Sender<usize>>,
    /// Its sender is dropped when the hub task ends.
    hub_alive: watch::Receiver<()>,
    /// This node's cluster: which node is each room's home, and where each session lives.
    cluster: crate::cluster::Cluster,
    /// This node's media bases, for the play URLs of relayed connections.
    bases: Arc<duet_token::MediaBases>,
    metrics: Arc<Metrics>,
    /// Set when the node drains: relayed connections end too.
    draining: Arc<watch::Sender<bool>>,
}

/// Counts a connection task as open while it lives.
struct OpenGuard(Arc<watch::Sender<usize>>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// Where the room hub's outputs go, besides the connections.
pub struct HubOutlets {
    /// The apps' events (and what is kept of them).
    pub webhooks: Webhooks,
    /// Room homes, records and events in a cluster.
    pub cluster: crate::cluster::Cluster,
    /// Mixer requests.
    pub mixer: crate::mix::Mixer,
    /// Quality reports and the rooms' timelines.
    pub quality: crate::quality::Quality,
}

impl Signaling {
    /// Starts the hub task; `media` is asked to cut publishers whose session released a stream,
    /// `outlets` get the apps' events and the requests the hub hands on.
    pub fn start(
        config: RoomConfig,
        apps: Apps,
        metrics: Arc<Metrics>,
        media: Arc<MediaHub>,
        outlets: HubOutlets,
    ) -> Self {
        let HubOutlets { webhooks, cluster, mixer, quality } = outlets;
        let (inbox, rx) = mpsc::channel(HUB_INBOX);
        let bases = Arc::new(config.urls.bases.clone());
        let mut config = config;
        config.node = cluster.number();
        let hub = Hub::new(config, crate::os::random());
        let relays = crate::media::relay::Relays::new(media.clone());
        let (alive, hub_alive) = watch::channel(());
        let sinks = Sinks {
            metrics: metrics.clone(),
            media,
            webhooks,
            relays,
            cluster: cluster.clone(),
            apps: apps.clone(),
            mixer,
            quality,
        };
        let changes = apps.changes();
        tokio::spawn(async move {
            run_hub(hub, rx, changes, sinks).await;
            drop(alive);
        });
        let open = Arc::new(watch::Sender::new(0));
        tokio::spawn(sweep_claims(inbox.downgrade(), cluster.clone()));
        let draining = Arc::new(watch::Sender::new(false));
        Self { inbox, apps, next_conn: Arc::new(AtomicU64::new(1)), open, hub_alive, cluster, bases, metrics, draining }
    }

    /// Asks the room hub to admit a publish (`media::admission` asks, for every ingest).
    pub async fn admit_publish(&self, request: PublishRequest) -> Result<(), Refusal> {
        let (tx, rx) = oneshot::channel();
        let gone = || Refusal::new(ErrorCode::Internal, "the signaling hub is not running");
        self.inbox.send(HubInput::AdmitPublish(request, tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Reports the end of an admitted publish.
    pub async fn publish_ended(&self, ended: PublishEnded) {
        let _ = self.inbox.send(HubInput::PublishEnded(ended)).await;
    }

    /// Reports that browsers cannot play a live stream over WebRTC as it is published.
    pub async fn stream_unplayable(&self, report: StreamUnplayable) {
        let _ = self.inbox.send(HubInput::StreamUnplayable(report)).await;
    }

    /// Whether connection `conn` carries a session (after the frames it sent before).
    async fn has_session(&self, conn: ConnId) -> bool {
        let (tx, rx) = oneshot::channel();
        self.inbox.send(HubInput::HasSession(conn, tx)).await.is_ok() && rx.await.unwrap_or(false)
    }

    /// Runs an HTTP API request against the rooms of `app_id`.
    pub async fn admin(&self, app_id: u32, request: AdminRequest) -> Result<serde_json::Value, Refusal> {
        let (tx, rx) = oneshot::channel();
        let gone = || Refusal::new(ErrorCode::Internal, "the signaling hub is not running");
        self.inbox.send(HubInput::Admin(app_id, request, tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Tells every client the server is going away and closes their connections; every
    /// session and stream ends (`Hub::shutdown`). The hub task ends once the media side has
    /// reported the streams' ends (or the hub's `shutdown_wait` ran out): see
    /// [`Signaling::stopped`].
    pub async fn shutdown(&self) {
        let _ = self.inbox.send(HubInput::Shutdown).await;
    }

    /// The node drains: as [`Signaling::shutdown`], but every client (relayed ones too) is
    /// told `server_draining` with the other nodes' URLs, so it reconnects there.
    pub async fn drain(&self) {
        self.draining.send_replace(true);
        let _ = self.inbox.send(HubInput::Drain).await;
    }

    /// Waits until the hub task has ended, having handed its last events to the webhooks.
    pub async fn stopped(&self) {
        let mut alive = self.hub_alive.clone();
        while alive.changed().await.is_ok() {}
    }

    /// Waits until every connection task has ended (after [`Signaling::shutdown`]).
    pub async fn all_closed(&self) {
        let _ = self.open.subscribe().wait_for(|n| *n == 0).await;
    }
}

/// Releases the room claims of logins that failed (a claim is made before the hub decides),
/// so a client cannot pin rooms to this node by failing to log into them.
async fn sweep_claims(inbox: mpsc::WeakSender<HubInput>, cluster: crate::cluster::Cluster) {
    loop {
        tokio::time::sleep(CLAIM_SWEEP).await;
        let rooms = cluster.rooms_claimed_before(CLAIM_SWEEP / 3);
        if rooms.is_empty() {
            continue;
        }
        let Some(inbox) = inbox.upgrade() else { return };
        let (tx, rx) = oneshot::channel();
        let asked = rooms.iter().map(|(room, _)| room.clone()).collect();
        if inbox.send(HubInput::OpenRooms(asked, tx)).await.is_err() {
            return;
        }
        drop(inbox);
        let Ok(open) = rx.await else { return };
        for (((app_id, room_id), claimed_at), open) in rooms.iter().zip(open) {
            if !open {
                cluster.release_unused(*app_id, room_id, *claimed_at);
            }
        }
    }
}

fn now() -> Now {
    Now { at: Instant::now(), unix_ms: crate::os::now_unix_ms() }
}

/// Where the hub's outputs go besides connections.
struct Sinks {
    metrics: Arc<Metrics>,
    media: Arc<MediaHub>,
    webhooks: Webhooks,
    relays: crate::media::relay::Relays,
    cluster: crate::cluster::Cluster,
    apps: Apps,
    mixer: crate::mix::Mixer,
    quality: crate::quality::Quality,
}

async fn run_hub(
    mut hub: Hub,
    mut rx: mpsc::Receiver<HubInput>,
    mut apps: tokio::sync::broadcast::Receiver<AppChange>,
    sinks: Sinks,
) {
    let mut outboxes: HashMap<ConnId, Outbox> = HashMap::new();
    // Whether app changes can still come (not once every `Apps` handle is gone, at exit).
    let mut following = true;
    // After `Shutdown`, the hub still hears the media ends of the streams it stopped.
    while !hub.is_stopped() {
        let deadline = hub.poll_timeout().map(tokio::time::Instant::from_std);
        let input = tokio::select! {
            input = rx.recv() => input,
            change = apps.recv(), if following => {
                match change {
                    Ok(AppChange { app_id, secret: Some(secret) }) => hub.update_app_secret(app_id, secret),
                    // A lagging follower missed changes it will see at the apps' next logins.
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => following = false,
                }
                continue;
            }
            () = sleep_until(deadline) => {
                hub.handle_timeout(now());
                drain(&mut hub, &mut outboxes, &sinks);
                continue;
            }
        };
        let now = now();
        match input {
            None => return,
            Some(HubInput::Connect(conn, outbox)) => {
                outboxes.insert(conn, outbox);
                hub.connect(now, conn);
            }
            Some(HubInput::Frame(conn, frame)) => hub.handle_frame(now, conn, frame),
            Some(HubInput::Disconnect(conn)) => {
                outboxes.remove(&conn);
                hub.disconnect(now, conn);
            }
            Some(HubInput::AdmitPublish(request, reply)) => {
                let _ = reply.send(hub.admit_publish(now, request));
            }
            Some(HubInput::PublishEnded(ended)) => hub.publish_ended(now, ended),
            Some(HubInput::StreamUnplayable(report)) => hub.stream_unplayable(now, report),
            Some(HubInput::Admin(app_id, request, reply)) => {
                let _ = reply.send(hub.admin(now, app_id, request));
            }
            Some(HubInput::HasSession(conn, reply)) => {
                let _ = reply.send(hub.has_session(conn));
            }
            Some(HubInput::OpenRooms(rooms, reply)) => {
                let _ = reply.send(rooms.iter().map(|(app, room)| hub.has_room(*app, room)).collect());
            }
            Some(HubInput::SeedRoom(app_id, room_id, record)) => hub.seed_room(now, app_id, &room_id, record),
            Some(HubInput::Shutdown) => hub.shutdown(now),
            Some(HubInput::Drain) => hub.drain(now),
        }
        drain(&mut hub, &mut outboxes, &sinks);
    }
}

/// What the cluster learns from the hub's events: a room that closed here is free again; a
/// user who logged in here is logged out wherever else the user was.
fn follow_in_cluster(event: &duet_room::HubEvent, sinks: &Sinks) {
    match (event.name, event.data["roomID"].as_str(), event.data["userID"].as_str()) {
        ("room.closed", Some(room_id), _) => sinks.cluster.room_closed(event.app_id, room_id),
        ("user.login", _, Some(user_id)) => {
            sinks.cluster.user_logged_in(event.app_id, user_id, event.at_ms, &sinks.apps);
        }
        _ => {}
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Carries out everything the hub asked for; a connection that cannot keep up is dropped,
/// which may produce more outputs, so this repeats until the hub is quiet.
fn drain(hub: &mut Hub, outboxes: &mut HashMap<ConnId, Outbox>, sinks: &Sinks) {
    let (metrics, media) = (&sinks.metrics, &sinks.media);
    // A push to many members comes out as consecutive sends of one `Arc<str>`: convert it to
    // WebSocket bytes once and share them.
    let mut last: Option<(Arc<str>, Utf8Bytes)> = None;
    loop {
        let mut too_slow = Vec::new();
        while let Some(out) = hub.poll_output() {
            match out {
                Output::Send { conn, frame } => {
                    let bytes = match &last {
                        Some((text, bytes)) if Arc::ptr_eq(text, &frame) => bytes.clone(),
                        _ => {
                            let bytes = Utf8Bytes::from(frame.as_ref());
                            last = Some((frame, bytes.clone()));
                            bytes
                        }
                    };
                    if outboxes.get(&conn).is_some_and(|o| !o.push(bytes)) {
                        too_slow.push(conn);
                    }
                }
                Output::Close { conn, code } => {
                    if let Some(outbox) = outboxes.remove(&conn) {
                        outbox.close(code);
                    }
                }
                Output::StopMedia { app_id, stream_id } => {
                    media.cut(&duet_media::StreamKey { app_id, stream_id });
                }
                Output::Event(event) => {
                    follow_in_cluster(&event, sinks);
                    sinks.quality.event(&event);
                    sinks.webhooks.offer(event);
                }
                Output::Relay { app_id, stream_id, url, start } => sinks.relays.set(app_id, stream_id, url, start),
                Output::RoomRecord { app_id, room_id, record } => sinks.cluster.room_record(app_id, &room_id, record),
                Output::Quality { app_id, room_id, user_id, at_ms, streams } => {
                    sinks.quality.report(app_id, &room_id, &user_id, at_ms, &streams);
                }
                // The mixer answers at once (its tasks start in the background).
                Output::Mixer { conn, request_id, order } => hub.answer(conn, request_id, sinks.mixer.order(*order)),
            }
        }
        if too_slow.is_empty() {
            break;
        }
        for conn in too_slow {
            // Dropping the outbox ends the connection task; the session waits for a resume.
            if outboxes.remove(&conn).is_some() {
                Metrics::inc(&metrics.signaling_slow_drops);
                tracing::info!(conn = conn.0, "signaling connection dropped: it could not keep up");
                hub.disconnect(now(), conn);
            }
        }
    }
    metrics.signaling_connections.store(hub.conn_count() as u64, Relaxed);
    metrics.signaling_sessions.store(hub.session_count() as u64, Relaxed);
    metrics.rooms.store(hub.room_count() as u64, Relaxed);
}

/// `GET /ws`: upgrades and runs one connection.
pub async fn upgrade(State(state): State<AppState>, headers: axum::http::HeaderMap, ws: WebSocketUpgrade) -> Response {
    let signaling = state.signaling.clone();
    let apps = state.signaling.apps.clone();
    // Relayed here by another node (how many times: relayed on at most to `MAX_RELAY_HOPS`).
    let hops = headers.get(relay::RELAY_HOPS).and_then(|v| v.to_str().ok()?.parse::<u8>().ok()).unwrap_or(0);
    ws.max_message_size(MAX_WS_MESSAGE)
        .max_frame_size(MAX_WS_MESSAGE)
        // Idle sessions are most of a server's sessions: small buffers (they grow when needed).
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |socket| connection(socket, signaling, apps, hops))
}

async fn connection(mut socket: WebSocket, signaling: Signaling, apps: Apps, hops: u8) {
    signaling.open.send_modify(|n| *n += 1);
    let _open = OpenGuard(signaling.open.clone());
    let conn = ConnId(signaling.next_conn.fetch_add(1, Relaxed));
    let (outbox, mut mailbox) = outbox::pair();
    let end = if signaling.inbox.send(HubInput::Connect(conn, outbox)).await.is_err() {
        // The hub has stopped: a draining node still sends the client elsewhere.
        let stopped = if *signaling.draining.borrow() { ErrorCode::ServerDraining } else { ErrorCode::ServerShutdown };
        Served::Ended(close::End::Hub(stopped))
    } else {
        let end = serve(&mut socket, conn, &signaling, &apps, &mut mailbox, hops).await;
        let _ = signaling.inbox.send(HubInput::Disconnect(conn)).await;
        end
    };
    let end = match end {
        Served::Ended(end) => end,
        Served::ToHome(home, first) => {
            // What this node's hub still had for the client (its hello) goes out first.
            if !flush(&mut socket, &mut mailbox).await {
                return;
            }
            tracing::debug!(conn = conn.0, home = %home.name, "signaling relayed to the room's home node");
            let relayed = &signaling.metrics.signaling_relayed;
            relayed.fetch_add(1, Relaxed);
            let draining = signaling.draining.subscribe();
            let end =
                relay::run(&mut socket, (signaling.cluster.name(), hops), &signaling.bases, &home, first, draining)
                    .await;
            relayed.fetch_sub(1, Relaxed);
            end
        }
    };
    let end = match end {
        close::End::Hub(ErrorCode::ServerDraining) => close::End::Draining(signaling.cluster.elsewhere()),
        end => end,
    };
    close::finish(&mut socket, end).await;
}

/// Sends what the hub queued for a connection it has let go, until the hub drops it.
async fn flush(socket: &mut WebSocket, mailbox: &mut Mailbox) -> bool {
    let mut batch = VecDeque::new();
    while let Taken::Frames = mailbox.take(&mut batch).await {
        for frame in std::mem::take(&mut batch) {
            if !send(socket, Message::Text(frame)).await {
                return false;
            }
        }
    }
    true
}

/// How [`serve`] ended.
enum Served {
    Ended(close::End),
    /// The session belongs on another node: relay the connection there, starting with this frame.
    ToHome(Box<crate::cluster::nodes::NodeInfo>, Utf8Bytes),
}

/// Where a login or resume belongs: another node, or `None` for this one.
async fn home_of(signaling: &Signaling, frame: &Prepared) -> Option<Box<crate::cluster::nodes::NodeInfo>> {
    if let Some((app_id, room_id)) = frame.login_room() {
        return match signaling.cluster.home_of(app_id, room_id).await {
            crate::cluster::homes::Home::Here(None) => None,
            crate::cluster::homes::Home::Here(Some(record)) => {
                // The room's previous home is gone: the login that opens it here starts from
                // what that home recorded (sent ahead of the login).
                let seed = HubInput::SeedRoom(app_id, room_id.to_owned(), record);
                let _ = signaling.inbox.send(seed).await;
                None
            }
            crate::cluster::homes::Home::There(node) => Some(node),
        };
    }
    let number = duet_room::session_node(frame.resume_session()?)?;
    if number == signaling.cluster.number() {
        return None;
    }
    // A node that is gone took the session with it: this hub answers resume_failed.
    signaling.cluster.node_numbered(number).map(Box::new)
}

/// Carries frames both ways until one side ends the connection; says how it ended.
async fn serve(
    socket: &mut WebSocket,
    conn: ConnId,
    signaling: &Signaling,
    apps: &Apps,
    mailbox: &mut Mailbox,
    hops: u8,
) -> Served {
    use close::End;
    let mut batch = VecDeque::new();
    // The app of this connection's logins (a connection's sessions are of one app).
    let mut app: Option<u32> = None;
    loop {
        tokio::select! {
            msg = socket.recv() => {
                let text = match msg {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Binary(_))) => {
                        let refusal = duet_room::Refusal::new(ErrorCode::BadFrame, "binary frames are not part of the protocol");
                        let frame = duet_room::prepare(Err(wire::FrameError { id: None, refusal }), None, now().unix_s());
                        if signaling.inbox.send(HubInput::Frame(conn, frame)).await.is_err() { return Served::Ended(End::Dropped) }
                        continue;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) => return Served::Ended(End::PeerClosed),
                    // Failed, or over MAX_WS_MESSAGE.
                    Some(Err(e)) => return Served::Ended(End::ReadFailed(e)),
                    None => return Served::Ended(End::Gone),
                };
                let frame = wire::parse(text.as_str());
                let looked_up = match frame.as_ref().ok().and_then(|f| f.request.app_to_look_up()) {
                    Some(app_id) => apps.get(app_id).await.map(|a| a.map(|a| a.secret)),
                    None => Ok(None),
                };
                // A login's token is verified here, on this connection's task, so logins use
                // every core rather than the hub's one. An app that cannot be read now is not
                // called unknown: the login is refused with a code that says try again.
                let unreadable = looked_up.is_err();
                let mut frame = duet_room::prepare(frame, looked_up.unwrap_or(None), now().unix_s());
                if unreadable {
                    let message = "cannot read the app registry now; try again";
                    frame = refused(&frame, duet_room::Refusal::new(ErrorCode::RegistryUnavailable, message));
                }
                if let Some((app_id, _)) = frame.login_room() {
                    app = Some(app_id);
                }
                // In a cluster, a connection without a session whose login or resume belongs
                // on another node is relayed there; one with a session keeps its rooms here.
                if signaling.cluster.health().is_some()
                    && (frame.login_room().is_some() || frame.resume_session().is_some())
                    && let Some(home) = home_of(signaling, &frame).await
                {
                    match (signaling.has_session(conn).await, hops < relay::MAX_RELAY_HOPS) {
                        (false, true) => return Served::ToHome(home, text),
                        // Relayed too often (nodes disagree for a moment): the client reconnects.
                        (false, false) => return Served::Ended(End::Dropped),
                        (true, _) if frame.login_room().is_some() => frame = room_on_other_node(&frame, &home),
                        (true, _) => {}
                    }
                }
                if let (Some(app_id), Some(stream)) = (app, frame.publish_stream())
                    && let Some(origin) = live_elsewhere(signaling, app_id, stream).await
                {
                    let refusal = Refusal::new(ErrorCode::StreamTaken, format!("stream {stream} is live on node {origin}"));
                    frame = refused(&frame, refusal);
                }
                if signaling.inbox.send(HubInput::Frame(conn, frame)).await.is_err() {
                    return Served::Ended(End::Dropped);
                }
            }
            taken = mailbox.take(&mut batch) => match taken {
                Taken::Frames => {
                    // Taken whole, so an idle connection keeps no queue buffer.
                    for frame in std::mem::take(&mut batch) {
                        if !send(socket, Message::Text(frame)).await {
                            return Served::Ended(End::Gone);
                        }
                    }
                }
                Taken::Close(code) => return Served::Ended(End::Hub(code)),
                // The hub dropped us (too slow) or is gone.
                Taken::Dropped => return Served::Ended(End::Dropped),
            },
        }
    }
}

/// A second login of a connection (multi-room) into a room another node holds: refused, as the
/// connection's rooms all live on the node of its first.
fn room_on_other_node(frame: &Prepared, home: &crate::cluster::nodes::NodeInfo) -> Prepared {
    let refusal = Refusal::new(
        ErrorCode::RoomOnOtherNode,
        format!("this room lives on node {}; log into it on a connection of its own", home.name),
    );
    refused(frame, refusal)
}

/// The name of the other node of the cluster where `stream` of `app_id` is live, if one is: a
/// stream ID has one publisher in the whole cluster.
async fn live_elsewhere(signaling: &Signaling, app_id: u32, stream: &str) -> Option<String> {
    signaling.cluster.health()?;
    let key = duet_media::StreamKey { app_id, stream_id: stream.to_owned() };
    signaling.cluster.origin_of(&key).await.map(|o| o.node.name)
}

/// `frame` answered with `refusal` instead of being carried out.
fn refused(frame: &Prepared, refusal: Refusal) -> Prepared {
    duet_room::prepare(Err(wire::FrameError { id: frame.request_id(), refusal }), None, now().unix_s())
}

/// Sends one message; false when the peer is gone or has not taken it within [`WRITE_TIMEOUT`]
/// (a client that stopped reading must not hold its task and socket forever).
async fn send(socket: &mut WebSocket, msg: Message) -> bool {
    matches!(tokio::time::timeout(WRITE_TIMEOUT, socket.send(msg)).await, Ok(Ok(())))
}

/// Settings the hub takes from the server's configuration.
pub fn room_config(urls: &crate::public_url::PublicUrls, heartbeat: Duration, resume_grace: Duration) -> RoomConfig {
    let mut cfg = RoomConfig::new(duet_room::UrlConfig { bases: urls.media_bases(), ttl_secs: 3600 });
    cfg.heartbeat = heartbeat;
    cfg.heartbeat_timeout = heartbeat * 3;
    cfg.resume_grace = resume_grace;
    cfg
}
