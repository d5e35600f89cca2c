//! A synthetic H.264 + AAC shaped stream: sequence headers, then video messages sized for the
//! chosen bitrate (a keyframe every `gop_ms`, ten times the size of other frames) at 25 fps and
//! AAC-sized audio every 23 ms. Video payloads carry the wall-clock send time (unix µs) at bytes
//! 5..13, so players can measure relay latency, and every media payload carries its number
//! within its kind at bytes 13..21, so players can tell a gap or a skip. Nothing decodes it; servers only relay it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Video frames per second.
pub const FPS: u32 = 25;
const AUDIO_EVERY_MS: u32 = 23;
const AUDIO_BYTES: usize = 180;
/// Where a media payload's message number ends (it is at bytes 13..21).
const SEQ_END: usize = 21;

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
    next_video_ms: u32,
    next_audio_ms: u32,
    frames: u32,
    audios: u64,
}

impl Synthetic {
    /// A stream of about `kbps` kilobits per second with a keyframe every `gop_ms`.
    pub fn new(kbps: u32, gop_ms: u32) -> Self {
        let key_every = (gop_ms * FPS / 1000).max(1);
        // One keyframe (10 units) and key_every - 1 others (1 unit) per GOP.
        let per_gop_bytes = u64::from(kbps) * 1000 / 8 * u64::from(gop_ms) / 1000;
        let audio_per_gop = (gop_ms / AUDIO_EVERY_MS) as u64 * AUDIO_BYTES as u64;
        let units = u64::from(key_every) + 9;
        let frame_bytes = (per_gop_bytes.saturating_sub(audio_per_gop) / units).max(64) as usize;
        Self { frame_bytes, key_every, next_video_ms: 0, next_audio_ms: 0, frames: 0, audios: 0 }
    }

    /// Messages whose time is at or before `elapsed_ms`, in timestamp order.
    pub fn due(&mut self, elapsed_ms: u32) -> Vec<Message> {
        let mut out = Vec::new();
        while self.next_video_ms <= elapsed_ms || self.next_audio_ms <= elapsed_ms {
            if self.next_video_ms <= self.next_audio_ms {
                let key = self.frames % self.key_every == 0;
                let size = if key { self.frame_bytes * 10 } else { self.frame_bytes };
                let mut p = vec![0u8; size.max(SEQ_END)];
                p[0] = if key { 0x17 } else { 0x27 };
                p[1] = 1;
                p[5..13].copy_from_slice(&now_micros().to_be_bytes());
                p[13..SEQ_END].copy_from_slice(&u64::from(self.frames).to_be_bytes());
                out.push(Message { type_id: VIDEO, timestamp: self.next_video_ms, payload: p });
                self.frames += 1;
                self.next_video_ms = self.frames * 1000 / FPS;
            } else {
                let mut p = vec![0u8; AUDIO_BYTES];
                p[0] = 0xaf;
                p[1] = 1;
                p[13..SEQ_END].copy_from_slice(&self.audios.to_be_bytes());
                self.audios += 1;
                out.push(Message { type_id: AUDIO, timestamp: self.next_audio_ms, payload: p });
                self.next_audio_ms += AUDIO_EVERY_MS;
            }
        }
        out
    }
}

/// Whether a video payload is a keyframe (not a sequence header).
pub fn is_keyframe(p: &[u8]) -> bool {
    p.len() >= 13 && p[0] == 0x17 && p[1] == 1
}

/// The number of a media message within its kind (0, 1, 2, ... for video frames and for audio
/// messages); `None` for sequence headers.
pub fn seq(p: &[u8]) -> Option<u64> {
    if p.len() >= SEQ_END && p[1] == 1 && matches!(p[0], 0x17 | 0x27 | 0xaf) {
        Some(u64::from_be_bytes(p[13..SEQ_END].try_into().ok()?))
    } else {
        None
    }
}

/// The send time stamped into a video payload.
pub fn stamp(p: &[u8]) -> Option<u64> {
    if p.len() >= 13 && p[1] == 1 && (p[0] == 0x17 || p[0] == 0x27) {
        Some(u64::from_be_bytes(p[5..13].try_into().ok()?))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitrate_and_keyframes() {
        let mut s = Synthetic::new(1000, 2000);
        let msgs = s.due(9_999);
        let bytes: usize = msgs.iter().map(|m| m.payload.len()).sum();
        let kbps = bytes * 8 / 10 / 1000;
        assert!((900..=1100).contains(&kbps), "{kbps} kbit/s");
        let keys = msgs.iter().filter(|m| m.type_id == VIDEO && is_keyframe(&m.payload)).count();
        assert_eq!(keys, 5);
        assert!(msgs.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    }

    #[test]
    fn every_message_carries_its_number_within_its_kind() {
        let mut s = Synthetic::new(1000, 2000);
        let mut msgs = s.due(1_000);
        msgs.extend(s.due(2_000));
        for kind in [VIDEO, AUDIO] {
            let seqs: Vec<u64> = msgs.iter().filter(|m| m.type_id == kind).map(|m| seq(&m.payload).unwrap()).collect();
            assert!(seqs.len() > 40, "{kind}: {}", seqs.len());
            assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "{kind}");
        }
        let video = msgs.iter().find(|m| m.type_id == VIDEO).unwrap();
        assert!(stamp(&video.payload).is_some());
        assert_eq!(seq(&sequence_headers()[0].payload), None, "sequence headers carry no number");
        assert_eq!(seq(&sequence_headers()[1].payload), None);
    }
}
