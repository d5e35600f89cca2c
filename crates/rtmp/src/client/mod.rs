//! `ClientSession`: one RTMP connection, client side, as a state machine: the plain handshake,
//! `connect(app, tcUrl)`, `createStream`, then `publish(name)` or `play(name)`; then media
//! messages go out ([`ClientSession::send_media`]) or come in ([`ClientEvent::Message`]).
//! Chunk sizes, acknowledgements and pings are handled here. A refusal (`_error`, or an
//! `onStatus` of level `error`) or a setup that takes too long ends the session with
//! [`ClientEvent::Failed`]. Same shape as the server [`crate::Session`]: `handle_bytes(now, ..)`,
//! `poll_event`, `take_output`, `poll_timeout`/`handle_timeout`.

mod event;

use std::collections::VecDeque;
use std::time::Instant;

pub use event::{ClientConfig, ClientEvent, ClientFailure, Status};

use crate::amf0::{Value, object};
use crate::chunk::Message;
use crate::error::RtmpError;
use crate::handshake;
use crate::link::{CSID_COMMAND, CSID_STREAM, Link, amf_values};
use crate::msg;
use crate::session::OUT_CHUNK_SIZE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshake,
    Connecting,
    CreatingStream,
    Ready,
    Starting,
    Started,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Request {
    Publish(String),
    Play(String),
}

const CONNECT_TID: f64 = 1.0;
const CREATE_STREAM_TID: f64 = 2.0;
const PUBLISH_TID: f64 = 3.0;
const PLAY_TID: f64 = 0.0;

/// One RTMP connection, client side.
pub struct ClientSession {
    config: ClientConfig,
    phase: Phase,
    link: Link,
    events: VecDeque<ClientEvent>,
    app: String,
    tc_url: String,
    request: Option<Request>,
    stream_id: u32,
    deadline: Option<Instant>,
}

impl ClientSession {
    /// A session created at `now` (before the TCP connect, so that counts as setup) that will
    /// connect to `app` with `tc_url`; `random` fills C1. C0+C1 are ready to send.
    pub fn new(config: ClientConfig, random: [u8; handshake::PACKET], now: Instant, app: &str, tc_url: &str) -> Self {
        let mut link = Link::new(2);
        link.send_raw(&handshake::client_hello(&random));
        Self {
            deadline: Some(now + config.setup_timeout),
            config,
            phase: Phase::Handshake,
            link,
            events: VecDeque::new(),
            app: app.to_owned(),
            tc_url: tc_url.to_owned(),
            request: None,
            stream_id: 0,
        }
    }

    /// A reader of pre-packaged chunks at [`OUT_CHUNK_SIZE`] with no handshake and no commands
    /// (a benchmark's floor sender): every message is a [`ClientEvent::Message`].
    pub fn raw(config: ClientConfig) -> Self {
        let mut link = Link::new(2);
        link.set_in_chunk(OUT_CHUNK_SIZE);
        Self {
            config,
            phase: Phase::Started,
            link,
            events: VecDeque::new(),
            app: String::new(),
            tc_url: String::new(),
            request: None,
            stream_id: 0,
            deadline: None,
        }
    }

    /// Asks to publish `name` (query included) once the stream exists; the server's answer is
    /// due within the setup timeout from `now`. Err if publish or play was already asked.
    pub fn publish(&mut self, now: Instant, name: &str) -> Result<(), RtmpError> {
        self.request(now, Request::Publish(name.to_owned()))
    }

    /// Asks to play `name`, like [`ClientSession::publish`].
    pub fn play(&mut self, now: Instant, name: &str) -> Result<(), RtmpError> {
        self.request(now, Request::Play(name.to_owned()))
    }

    fn request(&mut self, now: Instant, request: Request) -> Result<(), RtmpError> {
        if self.request.is_some() || self.phase == Phase::Started {
            return Err(RtmpError::Misuse("publish or play was already asked"));
        }
        if self.phase == Phase::Failed {
            return Err(RtmpError::Misuse("the session failed"));
        }
        self.request = Some(request);
        self.deadline = Some(now + self.config.setup_timeout);
        if self.phase == Phase::Ready {
            self.send_request();
        }
        Ok(())
    }

    /// Sends one audio (csid 4), video (csid 6) or data (csid 5) message on the published
    /// stream. Err before the publish started.
    pub fn send_media(&mut self, type_id: u8, timestamp: u32, payload: &[u8]) -> Result<(), RtmpError> {
        if self.phase != Phase::Started || !matches!(self.request, Some(Request::Publish(_))) {
            return Err(RtmpError::Misuse("media sent before the publish started"));
        }
        let csid = match type_id {
            msg::AUDIO => 4,
            msg::VIDEO => 6,
            _ => CSID_STREAM,
        };
        self.link.send(csid, timestamp, type_id, self.stream_id, payload);
        Ok(())
    }

    /// Processes bytes received at `now` (split anywhere); events follow from
    /// [`ClientSession::poll_event`]. An error is a peer violation: close the connection.
    pub fn handle_bytes(&mut self, now: Instant, data: &[u8]) -> Result<(), RtmpError> {
        if self.phase == Phase::Failed {
            return Ok(());
        }
        // A deadline that passed before these bytes came wins.
        self.handle_timeout(now);
        self.link.receive(data)?;
        let result = self.process();
        self.link.compact();
        if result.is_err() {
            self.phase = Phase::Failed;
        }
        result
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Bytes to write to the server.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.link.take_output()
    }

    /// When [`ClientSession::handle_timeout`] should next be called: `None` once started or
    /// failed, and while connected and waiting for a publish or play to be asked.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Started | Phase::Failed => None,
            Phase::Ready if self.request.is_none() => None,
            _ => self.deadline,
        }
    }

    /// Fails the session with [`ClientFailure::Timeout`] if its setup deadline passed at `now`;
    /// an early call does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|at| now >= at) {
            self.fail(ClientFailure::Timeout(self.config.setup_timeout));
        }
    }

    /// True once the publish or play started (always, for a raw reader).
    pub fn is_started(&self) -> bool {
        self.phase == Phase::Started
    }

    /// True once the session failed: close the connection.
    pub fn is_failed(&self) -> bool {
        self.phase == Phase::Failed
    }

    fn fail(&mut self, why: ClientFailure) {
        self.phase = Phase::Failed;
        self.events.push_back(ClientEvent::Failed(why));
    }

    fn process(&mut self) -> Result<(), RtmpError> {
        if self.phase == Phase::Handshake {
            let rest = self.link.pending();
            if let Some(&v) = rest.first().filter(|&&v| v != 3) {
                return Err(RtmpError::Version(v));
            }
            if rest.len() < 1 + 2 * handshake::PACKET {
                return Ok(());
            }
            let s1 = rest[1..1 + handshake::PACKET].to_vec();
            self.link.consume(1 + 2 * handshake::PACKET);
            self.link.send_raw(&s1); // C2 echoes S1.
            self.link.set_out_chunk(OUT_CHUNK_SIZE);
            self.send_connect();
            self.phase = Phase::Connecting;
        }
        while self.phase != Phase::Failed {
            let Some(m) = self.link.next_message()? else { break };
            if !self.link.handle_control(&m)? {
                self.handle_message(m)?;
            }
        }
        Ok(())
    }

    fn handle_message(&mut self, m: Message) -> Result<(), RtmpError> {
        match m.type_id {
            msg::COMMAND | msg::COMMAND_AMF3 => self.handle_command(&amf_values(&m)?),
            msg::AUDIO | msg::VIDEO | msg::DATA | msg::DATA_AMF3 => {
                if self.phase == Phase::Starting && matches!(self.request, Some(Request::Play(_))) {
                    self.start();
                }
                if self.phase == Phase::Started {
                    self.events.push_back(ClientEvent::Message(m));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn handle_command(&mut self, v: &[Value]) {
        let name = v.first().and_then(Value::as_str).unwrap_or_default();
        let tid = v.get(1).and_then(Value::as_f64).unwrap_or(0.0);
        match (name, self.phase) {
            ("_result", Phase::Connecting) if tid == CONNECT_TID => {
                let values = [Value::String("createStream".into()), Value::Number(CREATE_STREAM_TID), Value::Null];
                self.link.command(CSID_COMMAND, 0, &values);
                self.phase = Phase::CreatingStream;
            }
            ("_result", Phase::CreatingStream) if tid == CREATE_STREAM_TID => {
                self.stream_id = v.get(3).and_then(Value::as_f64).unwrap_or(1.0) as u32;
                self.phase = Phase::Ready;
                self.events.push_back(ClientEvent::Connected);
                if self.request.is_some() {
                    self.send_request();
                }
            }
            ("_error", _) => {
                let command = if tid == CONNECT_TID {
                    "connect"
                } else if tid == CREATE_STREAM_TID {
                    "createStream"
                } else {
                    self.request_name()
                };
                self.fail(ClientFailure::Refused { command, status: status_of(v.get(3)) });
            }
            ("onStatus", _) => {
                let status = status_of(v.get(3));
                let expected = match self.request {
                    Some(Request::Publish(_)) => "NetStream.Publish.Start",
                    Some(Request::Play(_)) => "NetStream.Play.Start",
                    None => "",
                };
                if status.level == "error" {
                    let command = self.request_name();
                    self.fail(ClientFailure::Refused { command, status });
                } else if self.phase == Phase::Starting && status.code == expected {
                    self.start();
                } else if self.phase == Phase::Started {
                    self.events.push_back(ClientEvent::Status(status));
                }
            }
            _ => {}
        }
    }

    fn start(&mut self) {
        self.phase = Phase::Started;
        self.deadline = None;
        self.events.push_back(ClientEvent::Started);
    }

    fn request_name(&self) -> &'static str {
        match self.request {
            Some(Request::Publish(_)) => "publish",
            Some(Request::Play(_)) => "play",
            None => "command",
        }
    }

    fn send_connect(&mut self) {
        let props = object(&[
            ("app", Value::String(self.app.clone())),
            ("flashVer", Value::String(self.config.flash_ver.clone())),
            ("tcUrl", Value::String(self.tc_url.clone())),
            ("fpad", Value::Boolean(false)),
            ("capabilities", Value::Number(15.0)),
            ("audioCodecs", Value::Number(3191.0)),
            ("videoCodecs", Value::Number(252.0)),
            ("videoFunction", Value::Number(1.0)),
        ]);
        self.link.command(CSID_COMMAND, 0, &[Value::String("connect".into()), Value::Number(CONNECT_TID), props]);
    }

    fn send_request(&mut self) {
        let values = match &self.request {
            Some(Request::Publish(name)) => [
                Value::String("publish".into()),
                Value::Number(PUBLISH_TID),
                Value::Null,
                Value::String(name.clone()),
                Value::String("live".into()),
            ],
            Some(Request::Play(name)) => [
                Value::String("play".into()),
                Value::Number(PLAY_TID),
                Value::Null,
                Value::String(name.clone()),
                Value::Number(-1000.0),
            ],
            None => return,
        };
        self.link.command(CSID_COMMAND, self.stream_id, &values);
        self.phase = Phase::Starting;
    }
}

fn status_of(info: Option<&Value>) -> Status {
    let field = |k: &str| info.and_then(|i| i.get(k)).and_then(Value::as_str).unwrap_or_default().to_owned();
    Status { level: field("level"), code: field("code"), description: field("description") }
}
