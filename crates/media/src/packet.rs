//! `Packet`: one audio, video or metadata message as published: its payload (the RTMP/FLV
//! message body, shared `Bytes`, never copied), kind, timestamp and what a player needs to know
//! (keyframe, decoder configuration). Each wire form a player needs is made from the payload
//! on first use and then shared by every player of that form: RTMP chunks ([`Packet::rtmp`])
//! and the FLV tag ([`Packet::flv`]). A stream nobody plays over RTMP is never chunked.
//!
//! Video and audio are understood as FLV tag bodies: the legacy layout (AVC, codec id 7; HEVC
//! by the common codec-id-12 convention; AAC) and enhanced RTMP (a FourCC: `hvc1`, `av01`,
//! `vp09`, `avc1`; `Opus` and others for audio), so keyframes and decoder configurations of
//! every codec are found and cached. Duet relays any codec over RTMP and FLV; formats that
//! repackage (fMP4) say which [`Codec`]s they serve.

use std::sync::{Arc, OnceLock};

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

/// The codec of an audio or video packet, as far as Duet tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// H.264 (legacy codec id 7, or enhanced `avc1`).
    Avc,
    /// H.265 (enhanced `hvc1`, or legacy codec id 12).
    Hevc,
    /// AV1 (enhanced `av01`).
    Av1,
    /// VP9 (enhanced `vp09`).
    Vp9,
    /// AAC (sound format 10).
    Aac,
    /// Opus (enhanced audio `Opus`).
    Opus,
    /// Anything else (metadata, MP3, an unknown FourCC): relayed as is.
    Unknown,
}

impl Codec {
    fn of_fourcc(fourcc: Option<&[u8]>) -> Self {
        match fourcc {
            Some(b"avc1") => Self::Avc,
            Some(b"hvc1") => Self::Hevc,
            Some(b"av01") => Self::Av1,
            Some(b"vp09") => Self::Vp9,
            Some(b"Opus") => Self::Opus,
            _ => Self::Unknown,
        }
    }
}

/// How a video tag body starts, legacy or enhanced RTMP.
struct VideoHeader {
    keyframe: bool,
    sequence_header: bool,
    codec: Codec,
}

impl VideoHeader {
    fn read(payload: &[u8]) -> Self {
        let first = payload.first().copied().unwrap_or(0);
        let frame_type = first >> 4 & 0x07;
        if first & 0x80 != 0 {
            // Enhanced RTMP: packet type 0 = sequence start, 1 = coded frames, 3 = coded frames
            // without composition time; 2 (sequence end), metadata and the rest are neither.
            let packet_type = first & 0x0f;
            let codec = Codec::of_fourcc(payload.get(1..5));
            let coded = matches!(packet_type, 1 | 3);
            return Self { keyframe: frame_type == 1 && coded, sequence_header: packet_type == 0, codec };
        }
        // Legacy: codec id in the low nibble; AVC and the HEVC convention put a packet type
        // (0 = sequence header) in the second byte.
        let codec = match first & 0x0f {
            7 => Codec::Avc,
            12 => Codec::Hevc,
            _ => Codec::Unknown,
        };
        let header = codec != Codec::Unknown && payload.get(1) == Some(&0);
        Self { keyframe: frame_type == 1 && !header && payload.len() > 1, sequence_header: header, codec }
    }
}

/// How an audio tag body starts: (sequence header, codec).
fn audio_header(payload: &[u8]) -> (bool, Codec) {
    let first = payload.first().copied().unwrap_or(0);
    match first >> 4 {
        // AAC: packet type 0 = sequence header.
        10 => (payload.get(1) == Some(&0), Codec::Aac),
        // Enhanced audio: packet type in the low nibble (0 = sequence start), then a FourCC.
        9 => (first & 0x0f == 0, Codec::of_fourcc(payload.get(1..5))),
        _ => (false, Codec::Unknown),
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
    /// The H.264 access unit a WebRTC player is sent (`rtc_feed`), and whether it is an IDR.
    annex_b: OnceLock<Option<(Arc<[u8]>, bool)>>,
}

impl Packet {
    /// A packet of `payload` (shared, not copied).
    pub fn new(kind: Kind, timestamp: u32, payload: Bytes) -> Self {
        let (keyframe, sequence_header) = match kind {
            Kind::Video => {
                let v = VideoHeader::read(&payload);
                (v.keyframe, v.sequence_header)
            }
            Kind::Audio => (false, audio_header(&payload).0),
            Kind::Metadata => (false, false),
        };
        Self {
            kind,
            timestamp,
            keyframe,
            sequence_header,
            payload,
            rtmp: OnceLock::new(),
            flv: OnceLock::new(),
            annex_b: OnceLock::new(),
        }
    }

    /// The codec of an audio or video packet ([`Codec::Unknown`] for metadata).
    pub fn codec(&self) -> Codec {
        match self.kind {
            Kind::Video => VideoHeader::read(&self.payload).codec,
            Kind::Audio => audio_header(&self.payload).1,
            Kind::Metadata => Codec::Unknown,
        }
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

    /// The Annex-B access unit of an H.264 frame for WebRTC players, made by `make` on first
    /// use (from the stream's decoder configuration, the same for every player of the stream
    /// at this packet), then shared.
    pub(crate) fn annex_b(&self, make: impl FnOnce() -> Option<(Arc<[u8]>, bool)>) -> Option<(Arc<[u8]>, bool)> {
        self.annex_b.get_or_init(make).clone()
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

    /// Enhanced RTMP: `[1 | frame type (3 bits) | packet type (4 bits)]`, then a FourCC.
    fn ex_video(frame_type: u8, packet_type: u8, fourcc: &[u8; 4]) -> Vec<u8> {
        let mut p = vec![0x80 | frame_type << 4 | packet_type];
        p.extend_from_slice(fourcc);
        p.extend_from_slice(&[0, 0, 0, 1, 2, 3]);
        p
    }

    #[test]
    fn classifies_enhanced_rtmp_and_legacy_hevc() {
        let pk = |p: Vec<u8>| Packet::new(Kind::Video, 0, p.into());
        for fourcc in [b"hvc1", b"av01", b"vp09"] {
            let start = pk(ex_video(1, 0, fourcc));
            assert!(start.sequence_header && !start.keyframe, "{fourcc:?} sequence start");
            assert!(pk(ex_video(1, 1, fourcc)).keyframe, "{fourcc:?} coded frames, key");
            assert!(pk(ex_video(1, 3, fourcc)).keyframe, "{fourcc:?} coded frames X, key");
            assert!(!pk(ex_video(2, 1, fourcc)).keyframe, "{fourcc:?} inter frame");
            let end = pk(ex_video(1, 2, fourcc));
            assert!(!end.keyframe && !end.sequence_header, "{fourcc:?} sequence end");
        }
        assert_eq!(pk(ex_video(1, 1, b"hvc1")).codec(), Codec::Hevc);
        assert_eq!(pk(ex_video(1, 1, b"av01")).codec(), Codec::Av1);
        assert_eq!(pk(ex_video(1, 1, b"vp09")).codec(), Codec::Vp9);
        assert_eq!(pk(ex_video(1, 1, b"avc1")).codec(), Codec::Avc);
        assert_eq!(pk(ex_video(1, 1, b"xxxx")).codec(), Codec::Unknown);
        // The legacy convention: codec id 12 with AVC's layout.
        let legacy = pk(vec![0x1c, 0, 0, 0, 0, 1]);
        assert!(legacy.sequence_header && !legacy.keyframe);
        assert!(pk(vec![0x1c, 1, 0, 0, 0, 1]).keyframe);
        assert!(!pk(vec![0x2c, 1, 0, 0, 0, 1]).keyframe);
        assert_eq!(legacy.codec(), Codec::Hevc);
        assert_eq!(pk(vec![0x17, 1, 0, 0, 0]).codec(), Codec::Avc);
        assert!(!pk(vec![0x80]).keyframe, "a truncated header is nothing");
        // Audio: AAC, enhanced (sound format 9) with a FourCC, and others.
        let au = |p: Vec<u8>| Packet::new(Kind::Audio, 0, p.into());
        assert_eq!(au(vec![0xAF, 1, 1]).codec(), Codec::Aac);
        let mut opus = vec![0x90];
        opus.extend_from_slice(b"Opus");
        assert!(au(opus.clone()).sequence_header);
        assert_eq!(au(opus).codec(), Codec::Opus);
        assert_eq!(au(vec![0x2F, 1]).codec(), Codec::Unknown, "MP3 is relayed, not understood");
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
