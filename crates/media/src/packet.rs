//! `Packet`: one audio, video or metadata message, packaged once for every player: as RTMP
//! chunks (type 0 header with the absolute timestamp, so the bytes fit any player) and as an FLV
//! tag (with its trailing previous-tag-size).

use bytes::Bytes;
use duet_rtmp::{MEDIA_STREAM_ID, OUT_CHUNK_SIZE, chunk, msg};

/// What a packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Audio (RTMP type 8).
    Audio,
    /// Video (RTMP type 9).
    Video,
    /// `onMetaData` (RTMP type 18).
    Metadata,
}

impl Kind {
    fn type_id(self) -> u8 {
        match self {
            Self::Audio => msg::AUDIO,
            Self::Video => msg::VIDEO,
            Self::Metadata => msg::DATA,
        }
    }

    fn csid(self) -> u8 {
        match self {
            Self::Audio => 4,
            Self::Video => 6,
            Self::Metadata => 5,
        }
    }
}

/// A packaged message.
#[derive(Debug, Clone)]
pub struct Packet {
    /// Audio, video or metadata.
    pub kind: Kind,
    /// Milliseconds, as published.
    pub timestamp: u32,
    /// A video keyframe (a player may start here).
    pub keyframe: bool,
    /// An AVC or AAC sequence header (decoder configuration).
    pub sequence_header: bool,
    /// RTMP chunks for players (chunk size [`OUT_CHUNK_SIZE`], message stream [`MEDIA_STREAM_ID`]).
    pub rtmp: Bytes,
    /// FLV tag plus previous-tag-size.
    pub flv: Bytes,
    /// Payload size in bytes.
    pub payload_len: usize,
}

impl Packet {
    /// Packages a payload.
    pub fn new(kind: Kind, timestamp: u32, payload: &[u8]) -> Self {
        let first = payload.first().copied().unwrap_or(0);
        let second = payload.get(1).copied();
        let (keyframe, sequence_header) = match kind {
            // FLV video tag: frame type in the high nibble (1 = key), codec in the low (7 = AVC);
            // AVC packet type 0 = sequence header.
            Kind::Video => {
                let header = first & 0x0f == 7 && second == Some(0);
                (first >> 4 == 1 && !header, header)
            }
            // Sound format 10 = AAC; AAC packet type 0 = sequence header.
            Kind::Audio => (false, first >> 4 == 10 && second == Some(0)),
            Kind::Metadata => (false, false),
        };
        let mut rtmp = Vec::with_capacity(payload.len() + 16 + payload.len() / OUT_CHUNK_SIZE);
        chunk::encode(&mut rtmp, kind.csid(), timestamp, kind.type_id(), MEDIA_STREAM_ID, payload, OUT_CHUNK_SIZE);
        let mut flv = Vec::with_capacity(payload.len() + 15);
        flv.push(kind.type_id());
        flv.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        flv.extend_from_slice(&timestamp.to_be_bytes()[1..]);
        flv.push((timestamp >> 24) as u8);
        flv.extend_from_slice(&[0, 0, 0]);
        flv.extend_from_slice(payload);
        flv.extend_from_slice(&(payload.len() as u32 + 11).to_be_bytes());
        Self {
            kind,
            timestamp,
            keyframe,
            sequence_header,
            rtmp: rtmp.into(),
            flv: flv.into(),
            payload_len: payload.len(),
        }
    }
}

/// The FLV file header (with PreviousTagSize0) announcing the tracks a stream has.
pub fn flv_header(audio: bool, video: bool) -> Bytes {
    let flags = u8::from(audio) << 2 | u8::from(video);
    Bytes::from(vec![b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_avc_and_aac() {
        let header = Packet::new(Kind::Video, 0, &[0x17, 0, 0, 0, 0]);
        assert!(header.sequence_header && !header.keyframe);
        let key = Packet::new(Kind::Video, 0, &[0x17, 1, 0, 0, 0]);
        assert!(key.keyframe && !key.sequence_header);
        assert!(!Packet::new(Kind::Video, 0, &[0x27, 1, 0, 0, 0]).keyframe);
        assert!(Packet::new(Kind::Audio, 0, &[0xAF, 0, 0x12, 0x10]).sequence_header);
        assert!(!Packet::new(Kind::Audio, 0, &[0xAF, 1, 1]).sequence_header);
    }

    #[test]
    fn flv_tag_layout() {
        let p = Packet::new(Kind::Audio, 0x0102_0304, &[0xAF, 1, 9]);
        assert_eq!(&p.flv[..], &[8, 0, 0, 3, 0x02, 0x03, 0x04, 0x01, 0, 0, 0, 0xAF, 1, 9, 0, 0, 0, 14]);
        assert_eq!(&flv_header(true, false)[..5], b"FLV\x01\x04");
    }

    #[test]
    fn rtmp_bytes_decode_back() {
        let payload: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let p = Packet::new(Kind::Video, 77, &payload);
        let mut d = chunk::Decoder::default();
        d.set_chunk_size(OUT_CHUNK_SIZE as u32).unwrap();
        let mut buf = &p.rtmp[..];
        let mut got = None;
        while got.is_none() {
            let (n, m) = d.decode(buf).unwrap();
            buf = &buf[n..];
            got = m;
        }
        let m = got.unwrap();
        assert_eq!((m.timestamp, m.type_id, m.stream_id, m.payload.len()), (77, 9, MEDIA_STREAM_ID, 10_000));
        assert!(buf.is_empty());
    }
}
