//! `Packet`: one audio, video or metadata message as published: its payload (the RTMP/FLV
//! message body, shared `Bytes`, never copied), kind, timestamp and what a player needs to know
//! (keyframe, decoder configuration). Each wire form a player needs is made from the payload
//! on first use and then shared by every player of that form: RTMP chunks ([`Packet::rtmp`])
//! and the FLV tag ([`Packet::flv`]). A stream nobody plays over RTMP is never chunked.

use std::sync::OnceLock;

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
    /// The RTMP message type id (also the FLV tag type).
    pub fn type_id(self) -> u8 {
        match self {
            Self::Audio => msg::AUDIO,
            Self::Video => msg::VIDEO,
            Self::Metadata => msg::DATA,
        }
    }

    /// The kind of an RTMP audio (8), video (9) or data (18) message.
    pub fn from_type_id(type_id: u8) -> Option<Self> {
        match type_id {
            msg::AUDIO => Some(Self::Audio),
            msg::VIDEO => Some(Self::Video),
            msg::DATA => Some(Self::Metadata),
            _ => None,
        }
    }

    /// The chunk stream Duet sends this kind on.
    pub fn csid(self) -> u8 {
        match self {
            Self::Audio => 4,
            Self::Video => 6,
            Self::Metadata => 5,
        }
    }
}

/// One message of a stream.
#[derive(Debug)]
pub struct Packet {
    /// Audio, video or metadata.
    pub kind: Kind,
    /// Milliseconds, as published.
    pub timestamp: u32,
    /// A video keyframe (a player may start here).
    pub keyframe: bool,
    /// An AVC or AAC sequence header (decoder configuration).
    pub sequence_header: bool,
    /// The message body as published (FLV audio/video tag body, or AMF0 `onMetaData`).
    pub payload: Bytes,
    rtmp: OnceLock<Bytes>,
    flv: OnceLock<Bytes>,
}

impl Packet {
    /// A packet of `payload` (shared, not copied).
    pub fn new(kind: Kind, timestamp: u32, payload: Bytes) -> Self {
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
        Self { kind, timestamp, keyframe, sequence_header, payload, rtmp: OnceLock::new(), flv: OnceLock::new() }
    }

    /// RTMP chunks for players: a type 0 header with the absolute timestamp (so the bytes fit
    /// any player wherever it joined), chunk size [`OUT_CHUNK_SIZE`], message stream
    /// [`MEDIA_STREAM_ID`]. Made on first use, then shared.
    pub fn rtmp(&self) -> &Bytes {
        self.rtmp.get_or_init(|| {
            let len = self.payload.len();
            let mut out = Vec::with_capacity(len + 16 + len / OUT_CHUNK_SIZE);
            let (kind, ts) = (self.kind, self.timestamp);
            chunk::encode(&mut out, kind.csid(), ts, kind.type_id(), MEDIA_STREAM_ID, &self.payload, OUT_CHUNK_SIZE);
            out.into()
        })
    }

    /// The FLV tag with its trailing previous-tag-size. Made on first use, then shared.
    pub fn flv(&self) -> &Bytes {
        self.flv.get_or_init(|| crate::flv::tag(self.kind.type_id(), self.timestamp, &self.payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(kind: Kind, timestamp: u32, payload: &'static [u8]) -> Packet {
        Packet::new(kind, timestamp, Bytes::from_static(payload))
    }

    #[test]
    fn classifies_avc_and_aac() {
        let header = packet(Kind::Video, 0, &[0x17, 0, 0, 0, 0]);
        assert!(header.sequence_header && !header.keyframe);
        let key = packet(Kind::Video, 0, &[0x17, 1, 0, 0, 0]);
        assert!(key.keyframe && !key.sequence_header);
        assert!(!packet(Kind::Video, 0, &[0x27, 1, 0, 0, 0]).keyframe);
        assert!(packet(Kind::Audio, 0, &[0xAF, 0, 0x12, 0x10]).sequence_header);
        assert!(!packet(Kind::Audio, 0, &[0xAF, 1, 1]).sequence_header);
    }

    #[test]
    fn flv_tag_layout() {
        let p = packet(Kind::Audio, 0x0102_0304, &[0xAF, 1, 9]);
        assert_eq!(&p.flv()[..], &[8, 0, 0, 3, 0x02, 0x03, 0x04, 0x01, 0, 0, 0, 0xAF, 1, 9, 0, 0, 0, 14]);
        assert_eq!(&crate::flv_header(true, false)[..5], b"FLV\x01\x04");
    }

    #[test]
    fn forms_are_made_once_and_shared() {
        let p = packet(Kind::Video, 5, &[0x27, 1, 0, 0, 0, 1]);
        assert_eq!(p.flv().as_ptr(), p.flv().as_ptr());
        assert_eq!(p.rtmp().as_ptr(), p.rtmp().as_ptr());
        assert_eq!(&p.payload[..], &[0x27, 1, 0, 0, 0, 1]);
    }

    #[test]
    fn type_ids_round_trip() {
        for kind in [Kind::Audio, Kind::Video, Kind::Metadata] {
            assert_eq!(Kind::from_type_id(kind.type_id()), Some(kind));
        }
        assert_eq!(Kind::from_type_id(20), None);
    }

    #[test]
    fn rtmp_bytes_decode_back() {
        let payload: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let p = Packet::new(Kind::Video, 77, payload.into());
        let mut d = chunk::Decoder::default();
        d.set_chunk_size(OUT_CHUNK_SIZE as u32).unwrap();
        let mut buf = &p.rtmp()[..];
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
