//! `Session`: one RTMP connection, server side, as a state machine. Bytes go in through
//! [`Session::handle_bytes`] (split anywhere) and are processed by [`Session::poll_event`], which
//! stops after an event that needs the server's decision (connect, publish, play) until the server
//! answers with `accept_*`/`reject_*`, so replies keep protocol order however the input was split.
//! Bytes to send accumulate for [`Session::take_output`]. After a refusal
//! [`Session::should_close`] turns true: flush, then close.
//!
//! The session also owns its deadlines (see [`SessionConfig`]): [`Session::poll_timeout`] says
//! when to call [`Session::handle_timeout`], and a deadline that passed closes the session with
//! [`Event::TimedOut`].

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use crate::amf0::{self, Value, object};
use crate::chunk::Message;
use crate::error::RtmpError;
use crate::handshake;
use crate::link::{CSID_COMMAND, CSID_STREAM, Link, amf_values, status};
use crate::msg;
use crate::timeout::{SessionConfig, Timeout};

/// Chunk size Duet sends with; media packaged for players uses the same.
pub const OUT_CHUNK_SIZE: usize = 4096;
/// The one message stream id `createStream` hands out; packaged media uses it.
pub const MEDIA_STREAM_ID: u32 = 1;
/// Acknowledgement window Duet announces.
pub const WINDOW_ACK_SIZE: u32 = 2_500_000;

/// What happened on the connection.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The client asked to connect to `app`; answer with accept/reject_connect.
    Connect {
        /// The application (Duet: the AppID), query included if the client put one there.
        app: String,
        /// The tcUrl the client sent.
        tc_url: String,
    },
    /// The client asked to publish `name` (stream name, query included); answer with accept/reject_publish.
    Publish {
        /// Stream name as sent.
        name: String,
    },
    /// The client asked to play `name`; answer with accept/reject_play.
    Play {
        /// Stream name as sent.
        name: String,
    },
    /// Audio or video of the published stream.
    Media(Message),
    /// Stream metadata: AMF0 `"onMetaData", {...}` (without `@setDataFrame`).
    Metadata(Bytes),
    /// The publisher stopped publishing (deleteStream, FCUnpublish, closeStream).
    Unpublish,
    /// A deadline passed (see [`SessionConfig`]); the session is closed: flush, then close.
    TimedOut(Timeout),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitC0C1,
    AwaitC2,
    Connected,
}

/// One RTMP connection.
pub struct Session {
    config: SessionConfig,
    state: State,
    random: [u8; handshake::PACKET],
    link: Link,
    events: VecDeque<Event>,
    connect_tid: f64,
    request_tid: f64,
    publishing: bool,
    playing: bool,
    closing: bool,
    awaiting_decision: bool,
    /// When the session was created.
    started: Instant,
    /// When bytes last arrived.
    last_read: Instant,
    /// When the connection last lost its role (its creation if it never had one).
    roleless_since: Instant,
}

impl Session {
    /// A session created at `now` (the connection's accept); `random` fills the handshake
    /// packets.
    pub fn new(config: SessionConfig, random: [u8; handshake::PACKET], now: Instant) -> Self {
        Self {
            config,
            state: State::AwaitC0C1,
            random,
            link: Link::new(1),
            events: VecDeque::new(),
            connect_tid: 1.0,
            request_tid: 0.0,
            publishing: false,
            playing: false,
            closing: false,
            awaiting_decision: false,
            started: now,
            last_read: now,
            roleless_since: now,
        }
    }

    /// True once the handshake is complete.
    pub fn handshake_done(&self) -> bool {
        self.state == State::Connected
    }

    /// True when the connection should be closed once output is flushed.
    pub fn should_close(&self) -> bool {
        self.closing
    }

    /// Bytes to write to the peer.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.link.take_output()
    }

    /// The next event, processing buffered input as needed. An error is a peer violation:
    /// close the connection.
    pub fn poll_event(&mut self) -> Result<Option<Event>, RtmpError> {
        if self.events.is_empty() && !self.awaiting_decision && !self.closing {
            self.process()?;
        }
        Ok(self.events.pop_front())
    }

    /// Buffers bytes received at `now` (call [`Session::poll_event`] next). Bytes that arrive
    /// after the session closed are dropped.
    pub fn handle_bytes(&mut self, now: Instant, data: &[u8]) -> Result<(), RtmpError> {
        if self.closing {
            return Ok(());
        }
        self.last_read = now;
        self.link.receive(data)
    }

    /// When [`Session::handle_timeout`] should next be called: the handshake deadline, the
    /// deadline for taking a role, or a publisher's silence deadline. `None` for a player and
    /// for a closing session.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline().map(|(at, _)| at)
    }

    /// Closes the session with [`Event::TimedOut`] if its deadline passed at `now`; an early
    /// call does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some((at, why)) = self.deadline() {
            if now >= at {
                self.closing = true;
                self.events.push_back(Event::TimedOut(why));
            }
        }
    }

    fn deadline(&self) -> Option<(Instant, Timeout)> {
        let c = &self.config;
        match () {
            _ if self.closing || self.playing => None,
            _ if self.publishing => {
                Some((self.last_read + c.publisher_silence, Timeout::PublisherSilent(c.publisher_silence)))
            }
            _ if self.state != State::Connected => Some((self.started + c.handshake_timeout, Timeout::Handshake)),
            _ => Some((self.roleless_since + c.no_role_timeout, Timeout::NoRole)),
        }
    }

    fn process(&mut self) -> Result<(), RtmpError> {
        let result = self.process_pending();
        self.link.compact();
        result
    }

    fn process_pending(&mut self) -> Result<(), RtmpError> {
        loop {
            if self.awaiting_decision || !self.events.is_empty() && self.state == State::Connected {
                return Ok(());
            }
            let rest = self.link.pending();
            match self.state {
                State::AwaitC0C1 => {
                    if let Some(&v) = rest.first().filter(|&&v| v != 3) {
                        return Err(RtmpError::Version(v));
                    }
                    if rest.len() < 1 + handshake::PACKET {
                        return Ok(());
                    }
                    let c1: [u8; handshake::PACKET] =
                        rest[1..1 + handshake::PACKET].try_into().expect("length checked");
                    self.link.send_raw(&handshake::respond(&c1, &self.random));
                    self.link.consume(1 + handshake::PACKET);
                    self.state = State::AwaitC2;
                }
                State::AwaitC2 => {
                    if rest.len() < handshake::PACKET {
                        return Ok(());
                    }
                    self.link.consume(handshake::PACKET);
                    self.state = State::Connected;
                }
                State::Connected => match self.link.next_message()? {
                    None => return Ok(()),
                    Some(m) => self.handle_message(m)?,
                },
            }
        }
    }

    fn handle_message(&mut self, m: Message) -> Result<(), RtmpError> {
        if self.link.handle_control(&m)? {
            return Ok(());
        }
        match m.type_id {
            msg::AUDIO | msg::VIDEO if self.publishing => self.events.push_back(Event::Media(m)),
            msg::DATA | msg::DATA_AMF3 if self.publishing => {
                let values = amf_values(&m)?;
                let values = match values.first().and_then(Value::as_str) {
                    Some("@setDataFrame") => &values[1..],
                    _ => &values[..],
                };
                if values.first().and_then(Value::as_str) == Some("onMetaData") {
                    self.events.push_back(Event::Metadata(Bytes::from(amf0::encode_all(values))));
                }
            }
            msg::COMMAND | msg::COMMAND_AMF3 => self.handle_command(&amf_values(&m)?),
            _ => {}
        }
        Ok(())
    }

    fn handle_command(&mut self, v: &[Value]) {
        let name = v.first().and_then(Value::as_str).unwrap_or_default();
        let tid = v.get(1).and_then(Value::as_f64).unwrap_or(0.0);
        let arg = |i: usize| v.get(i).and_then(Value::as_str).unwrap_or_default().to_owned();
        match name {
            "connect" => {
                self.connect_tid = tid;
                self.awaiting_decision = true;
                let cmd = v.get(2);
                let field = |k: &str| cmd.and_then(|c| c.get(k)).and_then(Value::as_str).unwrap_or_default().to_owned();
                self.events.push_back(Event::Connect { app: field("app"), tc_url: field("tcUrl") });
            }
            "releaseStream" | "FCPublish" | "getStreamLength" => {
                self.command(&[Value::String("_result".into()), Value::Number(tid), Value::Null, Value::Undefined])
            }
            "createStream" => self.command(&[
                Value::String("_result".into()),
                Value::Number(tid),
                Value::Null,
                Value::Number(f64::from(MEDIA_STREAM_ID)),
            ]),
            "publish" if !self.publishing && !self.playing => {
                self.request_tid = tid;
                self.awaiting_decision = true;
                self.events.push_back(Event::Publish { name: arg(3) });
            }
            "play" if !self.publishing && !self.playing => {
                self.request_tid = tid;
                self.awaiting_decision = true;
                self.events.push_back(Event::Play { name: arg(3) });
            }
            "deleteStream" | "FCUnpublish" | "closeStream" if self.publishing => {
                self.publishing = false;
                self.roleless_since = self.last_read;
                self.events.push_back(Event::Unpublish);
            }
            _ => {}
        }
    }

    /// Accepts the connect request.
    pub fn accept_connect(&mut self) {
        self.awaiting_decision = false;
        self.control(msg::WINDOW_ACK, &WINDOW_ACK_SIZE.to_be_bytes());
        let mut bw = WINDOW_ACK_SIZE.to_be_bytes().to_vec();
        bw.push(2); // dynamic
        self.control(msg::PEER_BANDWIDTH, &bw);
        self.link.set_out_chunk(OUT_CHUNK_SIZE);
        let props = object(&[("fmsVer", Value::String("FMS/3,0,1,123".into())), ("capabilities", Value::Number(31.0))]);
        let info = object(&[
            ("level", Value::String("status".into())),
            ("code", Value::String("NetConnection.Connect.Success".into())),
            ("description", Value::String("Connection succeeded.".into())),
            ("objectEncoding", Value::Number(0.0)),
        ]);
        self.command(&[Value::String("_result".into()), Value::Number(self.connect_tid), props, info]);
    }

    /// Refuses the connect request (`NetConnection.Connect.Rejected`) and closes.
    pub fn reject_connect(&mut self, description: &str) {
        self.awaiting_decision = false;
        let info = status("error", "NetConnection.Connect.Rejected", description);
        self.command(&[Value::String("_error".into()), Value::Number(self.connect_tid), Value::Null, info]);
        self.closing = true;
    }

    /// Accepts the publish request (`NetStream.Publish.Start`).
    pub fn accept_publish(&mut self, description: &str) {
        self.awaiting_decision = false;
        self.publishing = true;
        self.stream_begin();
        self.on_status("status", "NetStream.Publish.Start", description);
    }

    /// Refuses the publish request with `code` (e.g. `NetStream.Publish.BadName`) and closes.
    pub fn reject_publish(&mut self, code: &str, description: &str) {
        self.awaiting_decision = false;
        self.on_status("error", code, description);
        self.closing = true;
    }

    /// Accepts the play request (`NetStream.Play.Reset`, `NetStream.Play.Start`); packaged
    /// media may follow.
    pub fn accept_play(&mut self, description: &str) {
        self.awaiting_decision = false;
        self.playing = true;
        self.stream_begin();
        self.on_status("status", "NetStream.Play.Reset", description);
        self.on_status("status", "NetStream.Play.Start", description);
        let access =
            amf0::encode_all(&[Value::String("|RtmpSampleAccess".into()), Value::Boolean(true), Value::Boolean(true)]);
        self.link.send(CSID_STREAM, 0, msg::DATA, MEDIA_STREAM_ID, &access);
    }

    /// Refuses the play request with `code` (e.g. `NetStream.Play.StreamNotFound`) and closes.
    pub fn reject_play(&mut self, code: &str, description: &str) {
        self.awaiting_decision = false;
        self.on_status("error", code, description);
        self.closing = true;
    }

    /// The played stream ended: `NetStream.Play.UnpublishNotify`, Stream EOF, then close.
    pub fn end_play(&mut self) {
        self.on_status("status", "NetStream.Play.UnpublishNotify", "The stream ended.");
        let mut p = vec![0, 1];
        p.extend_from_slice(&MEDIA_STREAM_ID.to_be_bytes());
        self.control(msg::USER_CONTROL, &p);
        self.playing = false;
        self.closing = true;
    }

    fn stream_begin(&mut self) {
        let mut p = vec![0, 0];
        p.extend_from_slice(&MEDIA_STREAM_ID.to_be_bytes());
        self.control(msg::USER_CONTROL, &p);
    }

    fn on_status(&mut self, level: &str, code: &str, description: &str) {
        let info = status(level, code, description);
        let values = [Value::String("onStatus".into()), Value::Number(self.request_tid), Value::Null, info];
        self.link.command(CSID_STREAM, MEDIA_STREAM_ID, &values);
    }

    fn command(&mut self, values: &[Value]) {
        self.link.command(CSID_COMMAND, 0, values);
    }

    fn control(&mut self, type_id: u8, payload: &[u8]) {
        self.link.control(type_id, payload);
    }
}
