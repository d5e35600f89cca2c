//! `Pair`: a [`ClientSession`] and a server [`Session`] wired together in memory on a virtual
//! clock. Each step moves whatever one side wrote to the other and drains every event; the
//! server answers requests as its [`Answer`]s say. No sockets, no real time.

use std::time::{Duration, Instant};

use duet_rtmp::{
    ClientConfig, ClientEvent, ClientSession, Event, MEDIA_STREAM_ID, OUT_CHUNK_SIZE, Session, SessionConfig, chunk,
};

/// How the server answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// accept_*.
    Accept,
    /// reject_* (publish: `NetStream.Publish.BadName`, play: `NetStream.Play.StreamNotFound`).
    Reject,
    /// Say nothing (the server is still deciding).
    Silent,
}

/// A client and a server session connected back to back.
pub struct Pair {
    /// The virtual clock.
    pub now: Instant,
    /// The client side.
    pub client: ClientSession,
    /// The server side.
    pub server: Session,
    /// Every event the client produced, in order.
    pub client_events: Vec<ClientEvent>,
    /// Every event the server produced, in order.
    pub server_events: Vec<Event>,
    /// How the server answers connect, publish and play.
    pub connect: Answer,
    /// See [`Answer`].
    pub request: Answer,
    /// Bytes the client sent, all of them.
    pub client_sent: Vec<u8>,
    /// Bytes the server sent, all of them.
    pub server_sent: Vec<u8>,
    /// Bytes waiting to reach the client (media "packaged by the hub" goes here too).
    pub to_client: Vec<u8>,
    to_server: Vec<u8>,
}

impl Pair {
    /// A client for app `1234` and a server with default settings, both created at `now`.
    pub fn new(now: Instant) -> Self {
        Self::with(now, ClientConfig::default(), SessionConfig::default())
    }

    /// A pair with the given settings.
    pub fn with(now: Instant, client: ClientConfig, server: SessionConfig) -> Self {
        Self {
            now,
            client: ClientSession::new(client, [0x5A; 1536], now, "1234", "rtmp://h/1234"),
            server: Session::new(server, [7; 1536], now),
            client_events: Vec::new(),
            server_events: Vec::new(),
            connect: Answer::Accept,
            request: Answer::Accept,
            client_sent: Vec::new(),
            server_sent: Vec::new(),
            to_client: Vec::new(),
            to_server: Vec::new(),
        }
    }

    /// Moves bytes one way, then the other, draining events; false when nothing moved.
    pub fn step(&mut self) -> bool {
        let out = self.client.take_output();
        self.client_sent.extend_from_slice(&out);
        self.to_server.extend(out);
        let to_server = std::mem::take(&mut self.to_server);
        if !to_server.is_empty() {
            self.server.handle_bytes(self.now, &to_server).expect("the client speaks RTMP");
        }
        self.drain_server();
        let out = self.server.take_output();
        self.server_sent.extend_from_slice(&out);
        self.to_client.extend(out);
        let to_client = std::mem::take(&mut self.to_client);
        if !to_client.is_empty() {
            self.client.handle_bytes(self.now, &to_client).expect("the server speaks RTMP");
        }
        self.drain_client();
        !to_server.is_empty() || !to_client.is_empty()
    }

    /// Steps until nothing moves; panics after `max` steps (a livelock).
    pub fn drive_bounded(&mut self, max: usize) {
        for _ in 0..max {
            if !self.step() {
                return;
            }
        }
        panic!("still busy after {max} steps: livelock");
    }

    /// Steps until quiet (at most 100 steps).
    pub fn drive(&mut self) {
        self.drive_bounded(100);
    }

    /// Moves the virtual clock forward by `by`, fires both sides' timeouts, and drives.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.drain_client();
        self.drain_server();
        self.drive();
    }

    /// Appends a media message to what the client receives, packaged as the media hub does
    /// (a self-contained type 0 header at [`OUT_CHUNK_SIZE`] on the media stream).
    pub fn package(&mut self, type_id: u8, timestamp: u32, payload: &[u8]) {
        let csid = if type_id == duet_rtmp::msg::AUDIO { 4 } else { 6 };
        chunk::encode(&mut self.to_client, csid, timestamp, type_id, MEDIA_STREAM_ID, payload, OUT_CHUNK_SIZE);
    }

    fn drain_client(&mut self) {
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
    }

    fn drain_server(&mut self) {
        while let Some(e) = self.server.poll_event().expect("the client speaks RTMP") {
            match (&e, self.connect, self.request) {
                (Event::Connect { .. }, Answer::Accept, _) => self.server.accept_connect(),
                (Event::Connect { .. }, Answer::Reject, _) => self.server.reject_connect("unknown app"),
                (Event::Publish { .. }, _, Answer::Accept) => self.server.accept_publish("go"),
                (Event::Publish { .. }, _, Answer::Reject) => {
                    self.server.reject_publish("NetStream.Publish.BadName", "taken")
                }
                (Event::Play { .. }, _, Answer::Accept) => self.server.accept_play("Playing."),
                (Event::Play { .. }, _, Answer::Reject) => {
                    self.server.reject_play("NetStream.Play.StreamNotFound", "not live")
                }
                _ => {}
            }
            self.server_events.push(e);
        }
    }
}
