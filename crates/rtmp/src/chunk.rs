//! The RTMP chunk stream: reassembling messages from chunks of any legal size (all four header
//! formats, 1-3 byte basic headers, extended timestamps) within memory bounds, and splitting a
//! message into chunks.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};

use crate::error::RtmpError;

/// Largest message accepted (a 24-bit length allows 16 MiB; video keyframes stay far below).
pub const MAX_MESSAGE: usize = 8 * 1024 * 1024;
/// Largest chunk size a peer may set.
pub const MAX_CHUNK_SIZE: usize = 16 * 1024 * 1024;
/// Chunk streams that may be open at once.
pub const MAX_CHUNK_STREAMS: usize = 64;
/// Bytes held in partial messages across all chunk streams.
pub const MAX_BUFFERED: usize = 16 * 1024 * 1024;

/// A whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Chunk stream it arrived on.
    pub csid: u32,
    /// Absolute timestamp, milliseconds (wrapping u32).
    pub timestamp: u32,
    /// Message type id.
    pub type_id: u8,
    /// Message stream id.
    pub stream_id: u32,
    /// Payload.
    pub payload: Bytes,
}

#[derive(Default)]
struct ChunkStream {
    timestamp: u32,
    delta: u32,
    length: usize,
    type_id: u8,
    stream_id: u32,
    extended: bool,
    partial: Option<BytesMut>,
}

/// Reassembles messages.
pub struct Decoder {
    chunk_size: usize,
    streams: HashMap<u32, ChunkStream>,
    buffered: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self { chunk_size: 128, streams: HashMap::new(), buffered: 0 }
    }
}

fn u24(b: &[u8]) -> u32 {
    u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2])
}

impl Decoder {
    /// Applies the peer's Set Chunk Size.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), RtmpError> {
        let size = size as usize;
        if size == 0 || size > MAX_CHUNK_SIZE {
            return Err(RtmpError::Protocol("chunk size out of range"));
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Drops the partial message of a chunk stream (Abort Message).
    pub fn abort(&mut self, csid: u32) {
        if let Some(partial) = self.streams.get_mut(&csid).and_then(|s| s.partial.take()) {
            self.buffered -= partial.len();
        }
    }

    /// Reads one chunk from the front of `buf` if it is complete. Returns the bytes consumed
    /// (0 = need more input) and the message the chunk completed, if any.
    pub fn decode(&mut self, buf: &[u8]) -> Result<(usize, Option<Message>), RtmpError> {
        let Some(&b0) = buf.first() else { return Ok((0, None)) };
        let fmt = b0 >> 6;
        let (csid, mut pos) = match b0 & 0x3f {
            0 if buf.len() >= 2 => (64 + u32::from(buf[1]), 2),
            1 if buf.len() >= 3 => (64 + u32::from(buf[1]) + 256 * u32::from(buf[2]), 3),
            0 | 1 => return Ok((0, None)),
            n => (u32::from(n), 1),
        };
        let header_len = [11, 7, 3, 0][usize::from(fmt)];
        if buf.len() < pos + header_len {
            return Ok((0, None));
        }
        if !self.streams.contains_key(&csid) {
            if fmt != 0 {
                return Err(RtmpError::Protocol("first chunk of a chunk stream must have a full header"));
            }
            if self.streams.len() >= MAX_CHUNK_STREAMS {
                return Err(RtmpError::Protocol("too many chunk streams"));
            }
        }
        let h = &buf[pos..pos + header_len];
        pos += header_len;
        let prev = self.streams.get(&csid);
        let ts_field = if fmt < 3 { u24(&h[0..3]) } else { 0 };
        let extended = if fmt < 3 { ts_field == 0xFF_FFFF } else { prev.is_some_and(|p| p.extended) };
        let mut ext = 0;
        if extended {
            if buf.len() < pos + 4 {
                return Ok((0, None));
            }
            ext = u32::from_be_bytes(buf[pos..pos + 4].try_into().expect("4 bytes"));
            pos += 4;
        }
        let field = if extended { ext } else { ts_field };
        let length = if fmt <= 1 { u24(&h[3..6]) as usize } else { prev.map_or(0, |p| p.length) };
        if length > MAX_MESSAGE {
            return Err(RtmpError::MessageTooLarge(length));
        }
        let in_progress = prev.and_then(|p| p.partial.as_ref()).map_or(0, BytesMut::len);
        if in_progress > 0 && fmt != 3 {
            return Err(RtmpError::Protocol("new message header inside an unfinished message"));
        }
        let take = (length - in_progress).min(self.chunk_size);
        if buf.len() < pos + take {
            return Ok((0, None));
        }

        // The chunk is complete: commit.
        let s = self.streams.entry(csid).or_default();
        match fmt {
            0 => {
                s.timestamp = field;
                s.delta = 0;
                s.length = length;
                s.type_id = h[6];
                s.stream_id = u32::from_le_bytes(h[7..11].try_into().expect("4 bytes"));
            }
            1 => {
                s.delta = field;
                s.timestamp = s.timestamp.wrapping_add(field);
                s.length = length;
                s.type_id = h[6];
            }
            2 => {
                s.delta = field;
                s.timestamp = s.timestamp.wrapping_add(field);
            }
            _ if in_progress == 0 => s.timestamp = s.timestamp.wrapping_add(s.delta),
            _ => {}
        }
        if fmt < 3 {
            s.extended = extended;
        }
        let data = &buf[pos..pos + take];
        if take == length {
            let msg = Message {
                csid,
                timestamp: s.timestamp,
                type_id: s.type_id,
                stream_id: s.stream_id,
                payload: Bytes::copy_from_slice(data),
            };
            return Ok((pos + take, Some(msg)));
        }
        if self.buffered + take > MAX_BUFFERED {
            return Err(RtmpError::Protocol("too much data in unfinished messages"));
        }
        self.buffered += take;
        // Grow with the data: a header announcing a large message reserves nothing up front.
        let partial = s.partial.get_or_insert_with(|| BytesMut::with_capacity(length.min(64 * 1024)));
        partial.extend_from_slice(data);
        if partial.len() < length {
            return Ok((pos + take, None));
        }
        let payload = s.partial.take().expect("just filled").freeze();
        self.buffered -= payload.len();
        let msg = Message { csid, timestamp: s.timestamp, type_id: s.type_id, stream_id: s.stream_id, payload };
        Ok((pos + take, Some(msg)))
    }
}

/// Appends `payload` as chunks: a full (type 0) header with the absolute timestamp, then
/// type 3 continuation headers. Every message is self-contained, so the same bytes are valid
/// for any receiver using `chunk_size`. `csid` must be 2..=63.
pub fn encode(
    out: &mut Vec<u8>,
    csid: u8,
    timestamp: u32,
    type_id: u8,
    stream_id: u32,
    payload: &[u8],
    chunk_size: usize,
) {
    debug_assert!((2..64).contains(&csid));
    let extended = timestamp >= 0xFF_FFFF;
    out.push(csid);
    let ts = if extended { 0xFF_FFFF } else { timestamp };
    out.extend_from_slice(&ts.to_be_bytes()[1..]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.push(type_id);
    out.extend_from_slice(&stream_id.to_le_bytes());
    if extended {
        out.extend_from_slice(&timestamp.to_be_bytes());
    }
    let mut chunks = payload.chunks(chunk_size.max(1));
    if let Some(first) = chunks.next() {
        out.extend_from_slice(first);
    }
    for chunk in chunks {
        out.push(0xC0 | csid);
        if extended {
            out.extend_from_slice(&timestamp.to_be_bytes());
        }
        out.extend_from_slice(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(d: &mut Decoder, mut buf: &[u8]) -> Vec<Message> {
        let mut out = Vec::new();
        loop {
            let (n, msg) = d.decode(buf).unwrap();
            out.extend(msg);
            if n == 0 {
                return out;
            }
            buf = &buf[n..];
        }
    }

    #[test]
    fn a_type0_chunk_from_hex() {
        // csid 3, ts 0, length 5, type 20, stream 0, payload "hello".
        let bytes = [0x03, 0, 0, 0, 0, 0, 5, 20, 0, 0, 0, 0, b'h', b'e', b'l', b'l', b'o'];
        let msgs = decode_all(&mut Decoder::default(), &bytes);
        assert_eq!(
            msgs,
            vec![Message { csid: 3, timestamp: 0, type_id: 20, stream_id: 0, payload: Bytes::from_static(b"hello") }]
        );
    }

    #[test]
    fn round_trips_at_any_chunk_size_and_any_split() {
        for chunk_size in [1, 128, 4096, 70_000] {
            for ts in [0u32, 1000, 0xFF_FFFF, 0xFFFF_FFF0] {
                let payload: Vec<u8> = (0..9000u32).map(|i| i as u8).collect();
                let mut wire = Vec::new();
                encode(&mut wire, 6, ts, 9, 1, &payload, chunk_size);
                encode(&mut wire, 4, ts + 5, 8, 1, b"aac", chunk_size);
                // Feed in pieces split at every 97th offset (and whole).
                for step in [wire.len(), 97, 1] {
                    if chunk_size == 1 && step == 1 {
                        continue; // quadratic; covered by the other steps
                    }
                    let mut d = Decoder::default();
                    d.set_chunk_size(chunk_size as u32).unwrap();
                    let mut held = Vec::new();
                    let mut msgs = Vec::new();
                    for piece in wire.chunks(step) {
                        held.extend_from_slice(piece);
                        loop {
                            let (n, m) = d.decode(&held).unwrap();
                            msgs.extend(m);
                            if n == 0 {
                                break;
                            }
                            held.drain(..n);
                        }
                    }
                    assert!(held.is_empty());
                    assert_eq!(msgs.len(), 2, "chunk {chunk_size} ts {ts} step {step}");
                    assert_eq!((msgs[0].timestamp, msgs[0].type_id, msgs[0].payload.as_ref()), (ts, 9, &payload[..]));
                    assert_eq!((msgs[1].timestamp, msgs[1].payload.as_ref()), (ts + 5, &b"aac"[..]));
                }
            }
        }
    }

    #[test]
    fn delta_headers_accumulate() {
        // type 0 at ts 100, then type 2 (delta 40) and type 3 (same delta) on csid 4.
        let mut wire = vec![0x04, 0, 0, 100, 0, 0, 1, 8, 1, 0, 0, 0, b'a'];
        wire.extend_from_slice(&[0x84, 0, 0, 40, b'b']);
        wire.extend_from_slice(&[0xC4, b'c']);
        let ts: Vec<u32> = decode_all(&mut Decoder::default(), &wire).iter().map(|m| m.timestamp).collect();
        assert_eq!(ts, [100, 140, 180]);
    }

    #[test]
    fn hostile_chunks_are_refused() {
        let mut d = Decoder::default();
        assert!(d.decode(&[0x43, 0, 0, 0, 0, 0, 1, 8]).is_err(), "type 1 without a prior header");
        let too_big = [0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0];
        assert_eq!(Decoder::default().decode(&too_big).unwrap_err(), RtmpError::MessageTooLarge(0xFF_FFFF));
        assert!(Decoder::default().set_chunk_size(0).is_err());
        assert!(Decoder::default().set_chunk_size(0x7FFF_FFFF).is_err());
        let mut d = Decoder::default();
        let mut opened = 0;
        for n in 0..100u8 {
            // Each opens a chunk stream (2-byte basic header) with an unfinished 1000-byte message.
            let mut c = vec![0x00, n, 0, 0, 0, 0, 0x03, 0xE8, 9, 1, 0, 0, 0];
            c.extend_from_slice(&[0; 128]);
            match d.decode(&c) {
                Ok(_) => opened += 1,
                Err(_) => break,
            }
        }
        assert_eq!(opened, MAX_CHUNK_STREAMS);
    }
}
