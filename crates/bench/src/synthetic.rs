//! A synthetic H.264 + AAC shaped stream: sequence headers, then video messages sized for the
//! chosen bitrate (a keyframe every `gop_ms`, ten times the size of other frames) at 25 fps and
//! AAC-sized audio every 23 ms (or no audio: [`Synthetic::video_only`]).
//!
//! Video payloads are AVC a server can repackage: the sequence header holds a real SPS and PPS,
//! and each frame is one length-prefixed NAL unit (type 5, IDR, for keyframes; type 1
//! otherwise) whose body starts like a slice header (first_mb_in_slice 0, slice type I or P).
//! After that come the wall-clock send time (unix µs) and the frame's number within the video
//! track, each written 7 bits to a byte with the top bit set, so no run of zero bytes (which
//! Annex-B would read as a start code) ever appears: both survive RTMP, FLV, and the Annex-B
//! and RTP packaging of WebRTC, and a player reads them back from the NAL unit
//! ([`Frame::from_nal`]) to measure relay latency and tell a gap or a skip. Audio payloads carry
//! their number within the audio track the same way. Nothing decodes the pictures.

use std::time::{SystemTime, UNIX_EPOCH};

/// Video frames per second.
pub const FPS: u32 = 25;
const AUDIO_EVERY_MS: u32 = 23;
const AUDIO_BYTES: usize = 180;
/// Bytes of one number written 7 bits to a byte (a u64 needs 10).
const NUMBER: usize = 10;
/// Where a video frame's NAL unit starts in its FLV payload (after the 5-byte AVC header and
/// the 4-byte length).
const NAL_AT: usize = 9;
/// In a frame's NAL unit: the header, the slice header's first byte, then the send time and the
/// frame number.
const STAMP_IN_NAL: usize = 2;
const SEQ_IN_NAL: usize = STAMP_IN_NAL + NUMBER;
const NAL_MIN: usize = SEQ_IN_NAL + NUMBER;
/// Where an audio payload's number is.
const AUDIO_SEQ_AT: usize = 2;
/// Filler bytes (not zero, so they never make a start code).
const FILL: u8 = 0xa5;
/// The NAL unit headers of an IDR and of a non-IDR slice (nal_ref_idc 3 and 2).
const NAL_IDR: u8 = 0x65;
const NAL_SLICE: u8 = 0x41;
/// first_mb_in_slice = 0 (ue `1`), slice_type = 7, I (ue `0001000`).
const SLICE_I: u8 = 0x88;
/// first_mb_in_slice = 0 (ue `1`), slice_type = 5, P (ue `00110`), pic_parameter_set_id 0 (`1`),
/// then a 1 bit.
const SLICE_P: u8 = 0x9b;

/// RTMP message type of audio / video.
pub const AUDIO: u8 = 8;
/// RTMP message type of video.
pub const VIDEO: u8 = 9;

/// One message to send.
pub struct Message {
    /// `AUDIO` or `VIDEO`.
    pub type_id: u8,
    /// Milliseconds since the stream started.
    pub timestamp: u32,
    /// FLV-style payload.
    pub payload: Vec<u8>,
}

/// Wall clock in microseconds.
pub fn now_micros() -> u64 {
    #[allow(clippy::disallowed_methods)]
    let now = SystemTime::now();
    now.duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// The AVC and AAC sequence headers (a Constrained Baseline 320x240 SPS, 44.1 kHz stereo AAC-LC).
pub fn sequence_headers() -> Vec<Message> {
    let mut avc = vec![0x17, 0, 0, 0, 0, 1, 0x42, 0xc0, 0x0c, 0xff, 0xe1, 0, 22];
    avc.extend_from_slice(&[
        0x67, 0x42, 0xc0, 0x0c, 0xda, 0x05, 0x07, 0xec, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x07,
        0xa3, 0xc5, 0x0a, 0xa8,
    ]);
    avc.extend_from_slice(&[1, 0, 4, 0x68, 0xce, 0x0f, 0x2c]);
    vec![
        Message { type_id: VIDEO, timestamp: 0, payload: avc },
        Message { type_id: AUDIO, timestamp: 0, payload: vec![0xaf, 0, 0x12, 0x10] },
    ]
}

/// Produces the messages due at each tick.
pub struct Synthetic {
    frame_bytes: usize,
    key_every: u32,
    audio: bool,
    next_video_ms: u32,
    next_audio_ms: u32,
    frames: u32,
    audios: u64,
}

impl Synthetic {
    /// A stream of about `kbps` kilobits per second with a keyframe every `gop_ms`.
    pub fn new(kbps: u32, gop_ms: u32) -> Self {
        Self::make(kbps, gop_ms, true)
    }

    /// The same without audio: video takes the whole bitrate.
    pub fn video_only(kbps: u32, gop_ms: u32) -> Self {
        Self::make(kbps, gop_ms, false)
    }

    fn make(kbps: u32, gop_ms: u32, audio: bool) -> Self {
        let key_every = (gop_ms * FPS / 1000).max(1);
        // One keyframe (10 units) and key_every - 1 others (1 unit) per GOP.
        let per_gop_bytes = u64::from(kbps) * 1000 / 8 * u64::from(gop_ms) / 1000;
        let audio_per_gop = if audio { (gop_ms / AUDIO_EVERY_MS) as u64 * AUDIO_BYTES as u64 } else { 0 };
        let units = u64::from(key_every) + 9;
        let frame_bytes = (per_gop_bytes.saturating_sub(audio_per_gop) / units).max(64) as usize;
        Self { frame_bytes, key_every, audio, next_video_ms: 0, next_audio_ms: 0, frames: 0, audios: 0 }
    }

    /// Messages whose time is at or before `elapsed_ms`, in timestamp order.
    pub fn due(&mut self, elapsed_ms: u32) -> Vec<Message> {
        let mut out = Vec::new();
        loop {
            let audio_due = self.audio && self.next_audio_ms <= elapsed_ms;
            if self.next_video_ms > elapsed_ms && !audio_due {
                break;
            }
            if self.next_video_ms <= elapsed_ms && (!audio_due || self.next_video_ms <= self.next_audio_ms) {
                let key = self.frames % self.key_every == 0;
                let size = if key { self.frame_bytes * 10 } else { self.frame_bytes };
                let p = video_frame(key, now_micros(), u64::from(self.frames), size);
                out.push(Message { type_id: VIDEO, timestamp: self.next_video_ms, payload: p });
                self.frames += 1;
                self.next_video_ms = self.frames * 1000 / FPS;
            } else {
                let mut p = vec![FILL; AUDIO_BYTES];
                p[0] = 0xaf;
                p[1] = 1;
                put(&mut p[AUDIO_SEQ_AT..], self.audios);
                self.audios += 1;
                out.push(Message { type_id: AUDIO, timestamp: self.next_audio_ms, payload: p });
                self.next_audio_ms += AUDIO_EVERY_MS;
            }
        }
        out
    }
}

/// One video frame as an FLV AVC payload of `size` bytes (at least what the numbers need): one
/// NAL unit carrying the send time `stamp` and the frame number `seq`.
fn video_frame(key: bool, stamp: u64, seq: u64, size: usize) -> Vec<u8> {
    let mut p = vec![FILL; size.max(NAL_AT + NAL_MIN)];
    p[..5].copy_from_slice(&[if key { 0x17 } else { 0x27 }, 1, 0, 0, 0]);
    let nal_len = (p.len() - NAL_AT) as u32;
    p[5..NAL_AT].copy_from_slice(&nal_len.to_be_bytes());
    let nal = &mut p[NAL_AT..];
    nal[0] = if key { NAL_IDR } else { NAL_SLICE };
    nal[1] = if key { SLICE_I } else { SLICE_P };
    put(&mut nal[STAMP_IN_NAL..], stamp);
    put(&mut nal[SEQ_IN_NAL..], seq);
    p
}

/// Writes `v` into `out[..NUMBER]`, 7 bits to a byte, most significant first, top bits set.
fn put(out: &mut [u8], v: u64) {
    for (i, b) in out[..NUMBER].iter_mut().enumerate() {
        *b = 0x80 | (v >> (7 * (NUMBER - 1 - i))) as u8 & 0x7f;
    }
}

/// Reads what [`put`] wrote; `None` when cut short or not written by it.
fn get(data: &[u8]) -> Option<u64> {
    let bytes = data.get(..NUMBER)?;
    bytes.iter().try_fold(0u64, |v, &b| (b & 0x80 != 0).then(|| v << 7 | u64::from(b & 0x7f)))
}

/// What a player reads back from a synthetic media message, whatever carried it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// `AUDIO` or `VIDEO`.
    pub kind: u8,
    /// A video keyframe.
    pub keyframe: bool,
    /// The message's number within its kind.
    pub seq: u64,
    /// The send time of a video frame (unix µs).
    pub stamp: Option<u64>,
}

impl Frame {
    /// From an RTMP/FLV payload of type `kind`; `None` for sequence headers and anything else.
    pub fn from_flv(kind: u8, p: &[u8]) -> Option<Self> {
        match (kind, p.first()?, p.get(1)?) {
            (VIDEO, 0x17 | 0x27, 1) => Self::from_nal(p.get(NAL_AT..)?),
            (AUDIO, 0xaf, 1) => {
                Some(Self { kind: AUDIO, keyframe: false, seq: get(p.get(AUDIO_SEQ_AT..)?)?, stamp: None })
            }
            _ => None,
        }
    }

    /// From a frame's NAL unit (header byte first).
    pub fn from_nal(nal: &[u8]) -> Option<Self> {
        let keyframe = match *nal.first()? {
            NAL_IDR => true,
            NAL_SLICE => false,
            _ => return None,
        };
        let stamp = get(nal.get(STAMP_IN_NAL..)?)?;
        let seq = get(nal.get(SEQ_IN_NAL..)?)?;
        Some(Self { kind: VIDEO, keyframe, seq, stamp: Some(stamp) })
    }

    /// From an H.264 access unit in Annex-B form (as WebRTC delivers it): the first frame NAL
    /// unit after a start code, skipping parameter sets.
    pub fn from_annex_b(au: &[u8]) -> Option<Self> {
        let mut i = 0;
        while i + 3 <= au.len() {
            if au[i..i + 3] == [0, 0, 1] {
                if let Some(f) = Self::from_nal(&au[i + 3..]) {
                    return Some(f);
                }
                i += 3;
            } else {
                i += 1;
            }
        }
        None
    }
}

/// Whether an FLV video payload is a keyframe (not a sequence header).
pub fn is_keyframe(p: &[u8]) -> bool {
    Frame::from_flv(VIDEO, p).is_some_and(|f| f.keyframe)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use duet_media::{Kind, Packet, RtcFeed};

    use super::*;

    #[test]
    fn bitrate_and_keyframes() {
        for (mut s, audio) in [(Synthetic::new(1000, 2000), true), (Synthetic::video_only(1000, 2000), false)] {
            let msgs = s.due(9_999);
            let bytes: usize = msgs.iter().map(|m| m.payload.len()).sum();
            let kbps = bytes * 8 / 10 / 1000;
            assert!((900..=1100).contains(&kbps), "{kbps} kbit/s");
            let keys = msgs.iter().filter(|m| m.type_id == VIDEO && is_keyframe(&m.payload)).count();
            assert_eq!(keys, 5);
            assert_eq!(msgs.iter().any(|m| m.type_id == AUDIO), audio);
            assert!(msgs.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
        }
    }

    #[test]
    fn every_message_carries_its_number_within_its_kind() {
        let mut s = Synthetic::new(1000, 2000);
        let mut msgs = s.due(1_000);
        msgs.extend(s.due(2_000));
        let frames: Vec<Frame> = msgs.iter().map(|m| Frame::from_flv(m.type_id, &m.payload).unwrap()).collect();
        for kind in [VIDEO, AUDIO] {
            let seqs: Vec<u64> = frames.iter().filter(|f| f.kind == kind).map(|f| f.seq).collect();
            assert!(seqs.len() > 40, "{kind}: {}", seqs.len());
            assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "{kind}");
        }
        let video = frames.iter().find(|f| f.kind == VIDEO).unwrap();
        let stamp = video.stamp.unwrap();
        assert!(stamp.abs_diff(now_micros()) < 10_000_000, "{stamp}");
        for m in sequence_headers() {
            assert_eq!(Frame::from_flv(m.type_id, &m.payload), None, "sequence headers carry no number");
        }
    }

    #[test]
    fn numbers_round_trip_without_zero_bytes() {
        for v in [0, 1, 127, 128, 0x0100, 1_700_000_000_000_000, u64::MAX] {
            let mut b = [0u8; NUMBER];
            put(&mut b, v);
            assert!(b.iter().all(|&x| x & 0x80 != 0), "{b:?}");
            assert_eq!(get(&b), Some(v));
        }
        assert_eq!(get(&[0x80; NUMBER - 1]), None, "cut short");
        assert_eq!(get(&[0; NUMBER]), None, "not written by put");
    }

    /// The frames are AVC a WebRTC player is sent: Duet's own repackaging (`RtcFeed`) turns
    /// them into Annex-B access units from which the numbers read back, with no stray start
    /// code inside a frame.
    #[test]
    fn frames_survive_annex_b_repackaging() {
        let mut s = Synthetic::video_only(232, 2000);
        let mut packets: Vec<Arc<Packet>> = sequence_headers()
            .into_iter()
            .filter(|m| m.type_id == VIDEO)
            .map(|m| Arc::new(Packet::new(Kind::Video, m.timestamp, Bytes::from(m.payload))))
            .collect();
        let msgs = s.due(1_000);
        packets.extend(
            msgs.iter().map(|m| Arc::new(Packet::new(Kind::Video, m.timestamp, Bytes::from(m.payload.clone())))),
        );
        let mut feed = RtcFeed::new();
        let mut got = feed.burst(&packets[..2]);
        got.extend(packets[2..].iter().filter_map(|p| feed.push(p)));
        assert_eq!(got.len(), msgs.len());
        for (i, m) in got.iter().enumerate() {
            let (data, keyframe) = (&m.data[..], m.keyframe);
            let f = Frame::from_annex_b(data).unwrap_or_else(|| panic!("frame {i}: {data:02x?}"));
            assert_eq!((f.seq, f.keyframe, keyframe), (i as u64, i == 0, i == 0));
            let starts = data.windows(3).filter(|w| *w == [0, 0, 1]).count();
            assert_eq!(starts, if i == 0 { 3 } else { 1 }, "SPS, PPS and the IDR; or the slice alone");
        }
    }
}
