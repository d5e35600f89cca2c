//! `Link`: what both ends of an RTMP connection share once the handshake is done: the input
//! buffer, the chunk decoder, protocol control messages (chunk size, abort, acknowledgement
//! window, ping), acknowledgements, and encoding commands and control messages as chunks.
//! [`crate::Session`] (server) and [`crate::ClientSession`] each own one.

use bytes::Bytes;

use crate::amf0::{self, Value, object};
use crate::chunk::{self, Decoder, Message};
use crate::error::RtmpError;
use crate::msg;

/// Received bytes held unprocessed (beyond one message): more is a violation.
const MAX_INBUF: usize = chunk::MAX_MESSAGE + 64 * 1024;

/// Chunk stream of protocol control messages.
const CSID_CONTROL: u8 = 2;
/// Chunk stream of commands.
pub(crate) const CSID_COMMAND: u8 = 3;
/// Chunk stream of stream-level status and data messages.
pub(crate) const CSID_STREAM: u8 = 5;

/// One connection's chunk stream in both directions.
pub(crate) struct Link {
    inbuf: Vec<u8>,
    start: usize,
    decoder: Decoder,
    out: Vec<u8>,
    out_chunk: usize,
    bytes_in: u64,
    acked: u64,
    peer_window: u32,
    /// An acknowledgement goes out every `peer_window / ack_divisor` bytes.
    ack_divisor: u32,
}

impl Link {
    /// A link at the default chunk size (128) both ways; acknowledgements are sent every
    /// `window / ack_divisor` received bytes once the peer announced a window.
    pub(crate) fn new(ack_divisor: u32) -> Self {
        Self {
            inbuf: Vec::new(),
            start: 0,
            decoder: Decoder::default(),
            out: Vec::new(),
            out_chunk: 128,
            bytes_in: 0,
            acked: 0,
            peer_window: 0,
            ack_divisor: ack_divisor.max(1),
        }
    }

    /// Buffers received bytes, acknowledging them when the peer's window asks for it.
    pub(crate) fn receive(&mut self, data: &[u8]) -> Result<(), RtmpError> {
        if self.inbuf.len() - self.start + data.len() > MAX_INBUF {
            return Err(RtmpError::Protocol("too much unprocessed input"));
        }
        self.inbuf.extend_from_slice(data);
        self.bytes_in += data.len() as u64;
        let every = u64::from(self.peer_window / self.ack_divisor);
        if every > 0 && self.bytes_in - self.acked >= every {
            self.acked = self.bytes_in;
            self.control(msg::ACK, &(self.bytes_in as u32).to_be_bytes());
        }
        Ok(())
    }

    /// Received bytes not yet consumed.
    pub(crate) fn pending(&self) -> &[u8] {
        &self.inbuf[self.start..]
    }

    /// Marks `n` pending bytes consumed (handshake packets).
    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n;
    }

    /// Frees consumed input; call when done processing.
    pub(crate) fn compact(&mut self) {
        self.inbuf.drain(..self.start);
        self.start = 0;
    }

    /// Decodes chunks until a message completes (`None`: need more input).
    pub(crate) fn next_message(&mut self) -> Result<Option<Message>, RtmpError> {
        loop {
            match self.decoder.decode(&self.inbuf[self.start..])? {
                (0, _) => return Ok(None),
                (n, message) => {
                    self.start += n;
                    if message.is_some() {
                        return Ok(message);
                    }
                }
            }
        }
    }

    /// Applies a protocol control message (Set Chunk Size, Abort, Window Acknowledgement Size,
    /// ping); returns false for any other message, which the caller handles.
    pub(crate) fn handle_control(&mut self, m: &Message) -> Result<bool, RtmpError> {
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
            msg::USER_CONTROL => {
                // Ping request (6): answer with a ping response (7) carrying the same timestamp.
                if m.payload.len() >= 6 && m.payload[..2] == [0, 6] {
                    let mut p = vec![0, 7];
                    p.extend_from_slice(&m.payload[2..6]);
                    self.control(msg::USER_CONTROL, &p);
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Sets the chunk size the peer sends with, without waiting for its Set Chunk Size (a raw
    /// reader of pre-packaged chunks).
    pub(crate) fn set_in_chunk(&mut self, size: usize) {
        // The sizes passed are constants within the decoder's range.
        self.decoder.set_chunk_size(size as u32).expect("a valid chunk size");
    }

    /// Sets the chunk size of what this end sends, and tells the peer.
    pub(crate) fn set_out_chunk(&mut self, size: usize) {
        self.control(msg::SET_CHUNK_SIZE, &(size as u32).to_be_bytes());
        self.out_chunk = size;
    }

    /// Sends a protocol control message.
    pub(crate) fn control(&mut self, type_id: u8, payload: &[u8]) {
        self.send(CSID_CONTROL, 0, type_id, 0, payload);
    }

    /// Sends an AMF0 command.
    pub(crate) fn command(&mut self, csid: u8, stream_id: u32, values: &[Value]) {
        self.send(csid, 0, msg::COMMAND, stream_id, &amf0::encode_all(values));
    }

    /// Sends one message as chunks at the current chunk size.
    pub(crate) fn send(&mut self, csid: u8, timestamp: u32, type_id: u8, stream_id: u32, payload: &[u8]) {
        chunk::encode(&mut self.out, csid, timestamp, type_id, stream_id, payload, self.out_chunk);
    }

    /// Queues raw bytes (handshake packets).
    pub(crate) fn send_raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Bytes to write to the peer.
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}

/// The AMF0 values of a command or data message (AMF3-wrapped ones start with a zero byte).
pub(crate) fn amf_values(m: &Message) -> Result<Vec<Value>, RtmpError> {
    let body = match m.type_id {
        msg::COMMAND_AMF3 | msg::DATA_AMF3 => &m.payload[1.min(m.payload.len())..],
        _ => &m.payload[..],
    };
    Ok(amf0::decode_all(body)?)
}

/// An `onStatus` / `_result` info object.
pub(crate) fn status(level: &str, code: &str, description: &str) -> Value {
    object(&[
        ("level", Value::String(level.into())),
        ("code", Value::String(code.into())),
        ("description", Value::String(description.into())),
    ])
}
