//! Whether browsers could play a stream over WebRTC as it is published: a verdict per live
//! stream ([`PlayProblem`], or none), kept up to date from the packets its publisher pushes.
//!
//! WebRTC playback (WHEP) passes H.264 through as it is, in decode order, and browsers render
//! each frame as it is decoded: H.264 with B-frames (frames shown in another order than they
//! are decoded) comes out broken or stuttering, and other video codecs (HEVC, AV1, VP9 from
//! enhanced RTMP, legacy FLV codecs) cannot be sent on the H.264-only path at all. Audio must be
//! AAC (transcoded to Opus) or Opus.
//!
//! B-frames are found cheaply from the FLV AVC packets: each frame's presentation time is its
//! timestamp plus its composition time offset (the 3-byte CTS of a NALU packet); a frame shown
//! before the frame decoded just before it means reordering. A constant offset (some encoders
//! delay every frame alike) is not reordering and is not reported. The verdict only gets worse
//! during a stream's life: a problem once seen stays.

use crate::packet::{Codec, Kind, Packet};

/// Why WebRTC players cannot play a stream as it is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlayProblem {
    /// Video other than H.264 (the codec's name).
    VideoCodec(&'static str),
    /// H.264 with B-frames: frames reordered between decoding and display.
    BFrames,
    /// Audio other than AAC and Opus (the codec's name).
    AudioCodec(&'static str),
}

impl PlayProblem {
    /// A stable code: `video_codec`, `bframes` or `audio_codec`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::VideoCodec(_) => "video_codec",
            Self::BFrames => "bframes",
            Self::AudioCodec(_) => "audio_codec",
        }
    }

    /// What is wrong and what to do, for people.
    pub fn reason(&self) -> String {
        match self {
            Self::VideoCodec(name) => format!("{name} video cannot be played over WebRTC (H.264 only)"),
            Self::BFrames => "H.264 with B-frames: WebRTC players would show a broken picture; set the encoder to \
                              baseline or -bf 0"
                .to_owned(),
            Self::AudioCodec(name) => {
                format!("{name} audio cannot be played over WebRTC (AAC or Opus only)")
            }
        }
    }

    /// How bad: nothing plays (3), a broken picture (2), no sound (1).
    fn rank(&self) -> u8 {
        match self {
            Self::VideoCodec(_) => 3,
            Self::BFrames => 2,
            Self::AudioCodec(_) => 1,
        }
    }
}

impl std::fmt::Display for PlayProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.reason())
    }
}

/// The verdict of one stream, fed with each packet its publisher pushes.
#[derive(Debug, Default)]
pub(crate) struct Playability {
    problem: Option<PlayProblem>,
    /// The previous H.264 frame's timestamp and presentation time (timestamp + CTS).
    previous: Option<(u32, i64)>,
}

impl Playability {
    /// The worst problem seen so far.
    pub(crate) fn problem(&self) -> Option<PlayProblem> {
        self.problem
    }

    /// A new publisher feeds the stream (a takeover): a new encoder, judged afresh (one that
    /// republishes with B-frames turned off is playable again); its frames are not compared
    /// with the previous encoder's.
    pub(crate) fn new_publisher(&mut self) {
        *self = Self::default();
    }

    /// Looks at one packet; the new verdict when it made it worse.
    pub(crate) fn check(&mut self, packet: &Packet) -> Option<PlayProblem> {
        let found = match packet.kind {
            Kind::Video => self.video(packet),
            Kind::Audio => audio_problem(packet),
            Kind::Metadata => None,
        }?;
        if self.problem.is_some_and(|p| p.rank() >= found.rank()) {
            return None;
        }
        self.problem = Some(found);
        self.problem
    }

    fn video(&mut self, packet: &Packet) -> Option<PlayProblem> {
        let first = *packet.payload.first()?;
        if packet.codec() != Codec::Avc {
            return Some(PlayProblem::VideoCodec(video_name(packet.codec(), first)));
        }
        let cts = avc_composition_time(&packet.payload)?;
        let pts = i64::from(packet.timestamp) + i64::from(cts);
        let previous = self.previous.replace((packet.timestamp, pts));
        // A timestamp going back (a new encoder, a wrap) starts the comparison again.
        match previous {
            Some((ts, previous_pts)) if packet.timestamp >= ts && pts < previous_pts => Some(PlayProblem::BFrames),
            _ => None,
        }
    }
}

/// The composition time offset (ms) of an H.264 frame, `None` for anything else (sequence
/// headers, end of sequence, command frames).
fn avc_composition_time(payload: &[u8]) -> Option<i32> {
    let first = *payload.first()?;
    let i24 = |b: &[u8]| (i32::from(b[0]) << 24 | i32::from(b[1]) << 16 | i32::from(b[2]) << 8) >> 8;
    if first & 0x80 != 0 {
        // Enhanced RTMP `avc1`: packet type 1 (coded frames) carries a CTS after the FourCC,
        // 3 (coded frames X) has none (0).
        return match first & 0x0f {
            1 => payload.get(5..8).map(i24),
            3 => Some(0),
            _ => None,
        };
    }
    // Legacy: frame type 5 is a command, AVC packet type 1 a NALU with its CTS.
    if first >> 4 == 5 || payload.get(1) != Some(&1) {
        return None;
    }
    payload.get(2..5).map(i24)
}

fn video_name(codec: Codec, first: u8) -> &'static str {
    match codec {
        Codec::Hevc => "HEVC",
        Codec::Av1 => "AV1",
        Codec::Vp9 => "VP9",
        _ if first & 0x80 != 0 => "This",
        _ => match first & 0x0f {
            2 => "Sorenson H.263",
            3 | 6 => "Screen video",
            4 | 5 => "VP6",
            _ => "This",
        },
    }
}

fn audio_problem(packet: &Packet) -> Option<PlayProblem> {
    let first = *packet.payload.first()?;
    let name = match packet.codec() {
        Codec::Aac | Codec::Opus => return None,
        _ => match first >> 4 {
            0 | 3 => "PCM",
            1 => "ADPCM",
            2 | 14 => "MP3",
            4..=6 => "Nellymoser",
            7 | 8 => "G.711",
            11 => "Speex",
            _ => "This",
        },
    };
    Some(PlayProblem::AudioCodec(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// A legacy AVC NALU packet (inter frame) with composition time `cts`.
    fn avc(timestamp: u32, cts: i32) -> Packet {
        let c = cts.to_be_bytes();
        let payload = vec![0x27, 1, c[1], c[2], c[3], 0, 0, 0, 1, 0x41];
        Packet::new(Kind::Video, timestamp, Bytes::from(payload))
    }

    fn feed(p: &mut Playability, packets: impl IntoIterator<Item = Packet>) -> Vec<Option<&'static str>> {
        packets.into_iter().map(|pk| p.check(&pk).map(|x| x.code())).collect()
    }

    #[test]
    fn reordered_frames_are_bframes_and_stay() {
        let mut p = Playability::default();
        let header = Packet::new(Kind::Video, 0, Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]));
        // As ffmpeg's x264 with -bf 2 writes them: I (shown at 80), P (at 200), B (at 120).
        let got = feed(&mut p, [header, avc(0, 80), avc(40, 160), avc(80, 40), avc(120, 40), avc(160, 0)]);
        assert_eq!(got, [None, None, None, Some("bframes"), None, None], "reported once");
        assert_eq!(p.problem(), Some(PlayProblem::BFrames));
        assert!(p.problem().unwrap().reason().contains("-bf 0"));
        assert_eq!(feed(&mut p, [avc(200, 0), avc(240, 0)]), [None, None]);
        assert_eq!(p.problem(), Some(PlayProblem::BFrames), "the verdict stays for the publish's life");
        p.new_publisher();
        assert_eq!(feed(&mut p, [avc(0, 0), avc(40, 0)]), [None, None]);
        assert_eq!(p.problem(), None, "a new publisher (a fixed encoder) is judged afresh");
    }

    #[test]
    fn frames_in_order_are_fine_even_with_an_offset() {
        let mut p = Playability::default();
        assert_eq!(feed(&mut p, [avc(0, 0), avc(40, 0), avc(80, 0)]), [None; 3]);
        assert_eq!(feed(&mut p, [avc(120, 40), avc(160, 40), avc(200, 41), avc(240, 40)]), [None; 4]);
        // Timestamps starting again (a new encoder's) are not reordering.
        assert_eq!(feed(&mut p, [avc(0, 0), avc(40, 0)]), [None; 2]);
        assert_eq!(p.problem(), None);
    }

    #[test]
    fn enhanced_avc_frames_are_read_too() {
        let mut p = Playability::default();
        let ex = |ts: u32, packet_type: u8, cts: u8| {
            let payload = vec![0xA0 | packet_type, b'a', b'v', b'c', b'1', 0, 0, cts, 0, 0, 0, 1, 0x41];
            Packet::new(Kind::Video, ts, Bytes::from(payload))
        };
        assert_eq!(feed(&mut p, [ex(0, 1, 80), ex(40, 3, 0), ex(80, 1, 0)]), [None, Some("bframes"), None]);
    }

    #[test]
    fn other_video_codecs_are_video_codec_and_outrank_the_rest() {
        let mut p = Playability::default();
        let mp3 = Packet::new(Kind::Audio, 0, Bytes::from_static(&[0x2F, 0xFF, 0xFB]));
        let got = p.check(&mp3).unwrap();
        assert_eq!(
            (got.code(), got.reason().as_str()),
            ("audio_codec", "MP3 audio cannot be played over WebRTC (AAC or Opus only)")
        );
        // Enhanced RTMP HEVC: sequence start, then coded frames.
        let hevc = Packet::new(Kind::Video, 0, Bytes::from_static(b"\x90hvc1\x01\x02"));
        let got = p.check(&hevc).unwrap();
        assert_eq!(
            (got.code(), got.reason().as_str()),
            ("video_codec", "HEVC video cannot be played over WebRTC (H.264 only)")
        );
        assert_eq!(p.check(&Packet::new(Kind::Video, 0, Bytes::from_static(b"\x91hvc1\0\0\0\x26"))), None);
        assert_eq!(p.check(&mp3), None, "a lesser problem does not replace it");
        assert_eq!(p.problem().map(|x| x.code()), Some("video_codec"));
        let vp6 = Packet::new(Kind::Video, 0, Bytes::from_static(&[0x14, 0, 0]));
        assert_eq!(Playability::default().check(&vp6), Some(PlayProblem::VideoCodec("VP6")));
    }

    #[test]
    fn aac_opus_and_metadata_are_fine() {
        let mut p = Playability::default();
        let mut opus = vec![0x91];
        opus.extend_from_slice(b"Opus");
        let packets = [
            Packet::new(Kind::Metadata, 0, Bytes::from_static(b"meta")),
            Packet::new(Kind::Audio, 0, Bytes::from_static(&[0xAF, 0, 0x12, 0x10])),
            Packet::new(Kind::Audio, 0, Bytes::from_static(&[0xAF, 1, 7])),
            Packet::new(Kind::Audio, 0, Bytes::from(opus)),
            Packet::new(Kind::Video, 0, Bytes::new()),
        ];
        assert_eq!(feed(&mut p, packets), [None; 5]);
    }
}
