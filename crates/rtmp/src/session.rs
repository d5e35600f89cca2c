//! `Session`: one RTMP connection, server side, as a state machine. Bytes go in through
//! [`Session::handle_bytes`] (split anywhere) and are processed by [`Session::poll_event`], which
//! stops after an event that needs the server's decision (connect, publish, play) until the server
//! answers with `accept_*`/`reject_*`, so replies keep protocol order however the input was split.
//! Bytes to send accumulate for [`Session::take_output`]. After a refusal
//! [`Session::should_close`] turns true: flush, then close.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::amf0::{self, Value, object};
use crate::chunk::{self, Decoder, Message};
use crate::error::RtmpError;
use crate::handshake;

/// Chunk size Duet sends with; media packaged for players uses the same.
pub const OUT_CHUNK_SIZE: usize = 4096;
/// The one message stream id `createStream` hands out; packaged media uses it.
pub const MEDIA_STREAM_ID: u32 = 1;
/// Acknowledgement window Duet announces.
pub const WINDOW_ACK_SIZE: u32 = 2_500_000;

/// Message type ids.
pub mod msg {
    /// Set Chunk Size.
    pub const SET_CHUNK_SIZE: u8 = 1;
    /// Abort Message.
    pub const ABORT: u8 = 2;
    /// Acknowledgement.
    pub const ACK: u8 = 3;
    /// User Control.
    pub const USER_CONTROL: u8 = 4;
    /// Window Acknowledgement Size.
    pub const WINDOW_ACK: u8 = 5;
    /// Set Peer Bandwidth.
    pub const PEER_BANDWIDTH: u8 = 6;
    /// Audio.
    pub const AUDIO: u8 = 8;
    /// Video.
    pub const VIDEO: u8 = 9;
    /// AMF3 data.
    pub const DATA_AMF3: u8 = 15;
    /// AMF3 command.
    pub const COMMAND_AMF3: u8 = 17;
    /// AMF0 data.
    pub const DATA: u8 = 18;
    /// AMF0 command.
    pub const COMMAND: u8 = 20;
}

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitC0C1,
    AwaitC2,
    Connected,
}

/// One RTMP connection.
pub struct Session {
    state: State,
    random: [u8; handshake::PACKET],
    inbuf: Vec<u8>,
    decoder: Decoder,
    out: Vec<u8>,
    out_chunk: usize,
    events: VecDeque<Event>,
    bytes_in: u64,
    acked: u64,
    peer_window: u32,
    connect_tid: f64,
    request_tid: f64,
    publishing: bool,
    playing: bool,
    closing: bool,
    awaiting_decision: bool,
}

/// Received bytes held while the server decides (beyond one message): more is a violation.
const MAX_INBUF: usize = crate::chunk::MAX_MESSAGE + 64 * 1024;

impl Session {
    /// A session; `random` fills the handshake packets.
    pub fn new(random: [u8; handshake::PACKET]) -> Self {
        Self {
            state: State::AwaitC0C1,
            random,
            inbuf: Vec::new(),
            decoder: Decoder::default(),
            out: Vec::new(),
            out_chunk: 128,
            events: VecDeque::new(),
            bytes_in: 0,
            acked: 0,
            peer_window: 0,
            connect_tid: 1.0,
            request_tid: 0.0,
            publishing: false,
            playing: false,
            closing: false,
            awaiting_decision: false,
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
        std::mem::take(&mut self.out)
    }

    /// The next event, processing buffered input as needed. An error is a peer violation:
    /// close the connection.
    pub fn poll_event(&mut self) -> Result<Option<Event>, RtmpError> {
        if self.events.is_empty() && !self.awaiting_decision {
            self.process()?;
        }
        Ok(self.events.pop_front())
    }

    /// Buffers received bytes (call [`Session::poll_event`] next).
    pub fn handle_bytes(&mut self, data: &[u8]) -> Result<(), RtmpError> {
        if self.inbuf.len() + data.len() > MAX_INBUF {
            return Err(RtmpError::Protocol("too much input before the server answered"));
        }
        self.inbuf.extend_from_slice(data);
        self.bytes_in += data.len() as u64;
        if self.peer_window > 0 && self.bytes_in - self.acked >= u64::from(self.peer_window) {
            self.acked = self.bytes_in;
            self.control(msg::ACK, &(self.bytes_in as u32).to_be_bytes());
        }
        Ok(())
    }

    fn process(&mut self) -> Result<(), RtmpError> {
        let mut pos = 0;
        let result = loop {
            if self.awaiting_decision || !self.events.is_empty() && self.state == State::Connected {
                break Ok(());
            }
            let rest = &self.inbuf[pos..];
            match self.state {
                State::AwaitC0C1 => {
                    if let Some(&v) = rest.first().filter(|&&v| v != 3) {
                        break Err(RtmpError::Version(v));
                    }
                    if rest.len() < 1 + handshake::PACKET {
                        break Ok(());
                    }
                    let c1: [u8; handshake::PACKET] =
                        rest[1..1 + handshake::PACKET].try_into().expect("length checked");
                    self.out.extend_from_slice(&handshake::respond(&c1, &self.random));
                    pos += 1 + handshake::PACKET;
                    self.state = State::AwaitC2;
                }
                State::AwaitC2 => {
                    if rest.len() < handshake::PACKET {
                        break Ok(());
                    }
                    pos += handshake::PACKET;
                    self.state = State::Connected;
                }
                State::Connected => match self.decoder.decode(rest) {
                    Err(e) => break Err(e),
                    Ok((0, _)) => break Ok(()),
                    Ok((n, message)) => {
                        pos += n;
                        if let Some(m) = message {
                            if let Err(e) = self.handle_message(m) {
                                break Err(e);
                            }
                        }
                    }
                },
            }
        };
        self.inbuf.drain(..pos);
        result
    }

    fn handle_message(&mut self, m: Message) -> Result<(), RtmpError> {
        let u32_at = |p: &Bytes| p.get(..4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")));
        match m.type_id {
            msg::SET_CHUNK_SIZE => {
                let size = u32_at(&m.payload).ok_or(RtmpError::Protocol("short Set Chunk Size"))?;
                self.decoder.set_chunk_size(size & 0x7FFF_FFFF)?;
            }
            msg::ABORT => {
                let csid = u32_at(&m.payload).ok_or(RtmpError::Protocol("short Abort"))?;
                self.decoder.abort(csid);
            }
            msg::WINDOW_ACK => {
                self.peer_window = u32_at(&m.payload).ok_or(RtmpError::Protocol("short Window Ack Size"))?
            }
            msg::ACK | msg::PEER_BANDWIDTH => {}
            msg::USER_CONTROL
                // Ping request (6): answer with a ping response (7) carrying the same timestamp.
                if m.payload.len() >= 6 && m.payload[..2] == [0, 6] => {
                    let mut p = vec![0, 7];
                    p.extend_from_slice(&m.payload[2..6]);
                    self.control(msg::USER_CONTROL, &p);
                }
            msg::AUDIO | msg::VIDEO if self.publishing => self.events.push_back(Event::Media(m)),
            msg::DATA | msg::DATA_AMF3 if self.publishing => {
                let body = if m.type_id == msg::DATA_AMF3 {
                    m.payload.slice(1.min(m.payload.len())..)
                } else {
                    m.payload.clone()
                };
                let values = amf0::decode_all(&body)?;
                let values = match values.first().and_then(Value::as_str) {
                    Some("@setDataFrame") => &values[1..],
                    _ => &values[..],
                };
                if values.first().and_then(Value::as_str) == Some("onMetaData") {
                    self.events.push_back(Event::Metadata(Bytes::from(amf0::encode_all(values))));
                }
            }
            msg::COMMAND | msg::COMMAND_AMF3 => {
                let body = if m.type_id == msg::COMMAND_AMF3 {
                    m.payload.slice(1.min(m.payload.len())..)
                } else {
                    m.payload.clone()
                };
                self.handle_command(&amf0::decode_all(&body)?);
            }
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
                self.command(0, &[Value::String("_result".into()), Value::Number(tid), Value::Null, Value::Undefined])
            }
            "createStream" => self.command(
                0,
                &[
                    Value::String("_result".into()),
                    Value::Number(tid),
                    Value::Null,
                    Value::Number(f64::from(MEDIA_STREAM_ID)),
                ],
            ),
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
        self.control(msg::SET_CHUNK_SIZE, &(OUT_CHUNK_SIZE as u32).to_be_bytes());
        self.out_chunk = OUT_CHUNK_SIZE;
        let props = object(&[("fmsVer", Value::String("FMS/3,0,1,123".into())), ("capabilities", Value::Number(31.0))]);
        let info = object(&[
            ("level", Value::String("status".into())),
            ("code", Value::String("NetConnection.Connect.Success".into())),
            ("description", Value::String("Connection succeeded.".into())),
            ("objectEncoding", Value::Number(0.0)),
        ]);
        self.command(0, &[Value::String("_result".into()), Value::Number(self.connect_tid), props, info]);
    }

    /// Refuses the connect request (`NetConnection.Connect.Rejected`) and closes.
    pub fn reject_connect(&mut self, description: &str) {
        self.awaiting_decision = false;
        let info = status("error", "NetConnection.Connect.Rejected", description);
        self.command(0, &[Value::String("_error".into()), Value::Number(self.connect_tid), Value::Null, info]);
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
        chunk::encode(&mut self.out, 5, 0, msg::DATA, MEDIA_STREAM_ID, &access, self.out_chunk);
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
        chunk::encode(&mut self.out, 5, 0, msg::COMMAND, MEDIA_STREAM_ID, &amf0::encode_all(&values), self.out_chunk);
    }

    fn command(&mut self, stream_id: u32, values: &[Value]) {
        chunk::encode(&mut self.out, 3, 0, msg::COMMAND, stream_id, &amf0::encode_all(values), self.out_chunk);
    }

    fn control(&mut self, type_id: u8, payload: &[u8]) {
        chunk::encode(&mut self.out, 2, 0, type_id, 0, payload, self.out_chunk);
    }
}

fn status(level: &str, code: &str, description: &str) -> Value {
    object(&[
        ("level", Value::String(level.into())),
        ("code", Value::String(code.into())),
        ("description", Value::String(description.into())),
    ])
}
