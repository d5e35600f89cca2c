//! What a WebRTC (WHEP) player is sent: a stream's packets, as the hub carries them (FLV/RTMP
//! payloads, millisecond timestamps), turned into media an RTP writer takes: each H.264 frame
//! as one Annex-B access unit (start codes; the SPS and PPS from the sequence header put before
//! every IDR that lacks them; access unit delimiters dropped), on a millisecond clock of the
//! player's own, on which its RTP times are made. Audio reaches WebRTC players as Opus beside
//! the hub; [`RtcFeed::audio_time`] puts it on the same clock.
//!
//! A player starts at the cached keyframe. Sent at their own times, the cached frames would
//! make a browser's jitter buffer play them out in real time and stay that far behind the live
//! edge for good; so a *burst* (the cached start, or the cache again after the player asked
//! for a keyframe) is squeezed: its frames go out 1 ms apart, ending at the newest one's time,
//! and the browser decodes them at once and shows the live picture. Audio of a burst is
//! dropped (it is in the past). Times only move forward on each track: a burst that would go
//! back in time (a keyframe request answered from the cache) is sent just after the last frame,
//! 1 ms apart, and the live frames that follow are back on the stream's time as soon as they are
//! past it (the clock never drifts from the stream's).
//!
//! Pure: packets in, media out; no clock.

use std::sync::Arc;

use crate::avc::Unwrap32;
use crate::packet::{Codec, Kind, Packet};

/// NAL unit types that matter here (H.264 table 7-1).
const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;
const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// One H.264 access unit for a WebRTC player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcFrame {
    /// Milliseconds on the player's clock.
    pub time: u64,
    /// An IDR frame, with SPS and PPS before it.
    pub keyframe: bool,
    /// The access unit (Annex-B), shared by every WebRTC player of the stream.
    pub data: Arc<[u8]>,
}

/// The decoder configuration of an H.264 stream, from its AVCDecoderConfigurationRecord.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct AvcConfig {
    /// Bytes of each NAL unit's length prefix (1, 2 or 4).
    length_size: usize,
    /// SPS and PPS units, each after a start code.
    parameter_sets: Vec<u8>,
}

impl AvcConfig {
    /// From a record (the sequence header payload after its 5-byte FLV header).
    fn parse(record: &[u8]) -> Option<Self> {
        let length_size = usize::from(*record.get(4)? & 0x03) + 1;
        if length_size == 3 {
            return None;
        }
        let mut at = 5;
        let mut parameter_sets = Vec::new();
        for _ in 0..2 {
            // The SPS count's low 5 bits, then the PPS count's whole byte.
            let mut count = usize::from(*record.get(at)?);
            if parameter_sets.is_empty() {
                count &= 0x1f;
            }
            at += 1;
            for _ in 0..count {
                let len = usize::from(u16::from_be_bytes([*record.get(at)?, *record.get(at + 1)?]));
                let unit = record.get(at + 2..at + 2 + len)?;
                parameter_sets.extend_from_slice(&START_CODE);
                parameter_sets.extend_from_slice(unit);
                at += 2 + len;
            }
        }
        Some(Self { length_size, parameter_sets })
    }
}

/// Where an H.264 video payload's data starts: the sequence header's record or a frame's NAL
/// units (legacy codec id 7, or enhanced RTMP `avc1`).
enum AvcPayload<'a> {
    Config(&'a [u8]),
    Frame(&'a [u8]),
    Other,
}

fn avc_payload(payload: &[u8]) -> AvcPayload<'_> {
    let Some(&first) = payload.first() else { return AvcPayload::Other };
    if first & 0x80 != 0 {
        if payload.get(1..5) != Some(b"avc1") {
            return AvcPayload::Other;
        }
        return match first & 0x0f {
            0 => payload.get(5..).map_or(AvcPayload::Other, AvcPayload::Config),
            1 => payload.get(8..).map_or(AvcPayload::Other, AvcPayload::Frame),
            3 => payload.get(5..).map_or(AvcPayload::Other, AvcPayload::Frame),
            _ => AvcPayload::Other,
        };
    }
    if first & 0x0f != 7 {
        return AvcPayload::Other;
    }
    match (payload.get(1), payload.get(5..)) {
        (Some(0), Some(record)) => AvcPayload::Config(record),
        (Some(1), Some(units)) => AvcPayload::Frame(units),
        _ => AvcPayload::Other,
    }
}

/// Turns length-prefixed NAL units into one Annex-B access unit; `None` when the units are
/// cut short or there are none.
fn annex_b(config: &AvcConfig, mut units: &[u8]) -> Option<(Vec<u8>, bool)> {
    let mut out = Vec::with_capacity(units.len() + config.parameter_sets.len() + 16);
    let (mut idr, mut has_sps) = (false, false);
    let mut nalus = Vec::new();
    while !units.is_empty() {
        let prefix = units.get(..config.length_size)?;
        let len = prefix.iter().fold(0usize, |n, &b| n << 8 | usize::from(b));
        let nalu = units.get(config.length_size..config.length_size + len)?;
        units = &units[config.length_size + len..];
        let Some(&header) = nalu.first() else { continue };
        match header & 0x1f {
            NAL_AUD => continue,
            NAL_IDR => idr = true,
            NAL_SPS | NAL_PPS => has_sps = true,
            _ => {}
        }
        nalus.push(nalu);
    }
    if nalus.is_empty() {
        return None;
    }
    if idr && !has_sps {
        out.extend_from_slice(&config.parameter_sets);
    }
    for nalu in nalus {
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(nalu);
    }
    Some((out, idr))
}

/// A player's view of a stream for WebRTC (see the module doc).
#[derive(Debug, Default)]
pub struct RtcFeed {
    config: Option<AvcConfig>,
    /// The stream's 32-bit milliseconds (which wrap after 49 days), extended.
    unwrap: Unwrap32,
    /// Added to the stream's time to make the player's.
    offset: i64,
    /// The last time sent on each track.
    last_video: Option<i64>,
    last_audio: Option<i64>,
    /// Frames are dropped until a keyframe comes.
    waiting_keyframe: bool,
    /// The stream carries video that is not H.264 (nothing of it can be sent).
    other_video: bool,
}

impl RtcFeed {
    /// A feed for a new player.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the player has no keyframe to start from yet (its frames are being dropped):
    /// the publisher should be asked for one.
    pub fn wants_keyframe(&self) -> bool {
        self.waiting_keyframe || self.last_video.is_none()
    }

    /// Whether video came that is not H.264 (which a WebRTC player here cannot be sent).
    pub fn has_other_video(&self) -> bool {
        self.other_video
    }

    /// A burst: the stream's cached start (metadata, sequence headers, the GOP so far), sent
    /// at once and squeezed so that the newest frame is at the live edge. Its audio is
    /// dropped; when it holds no keyframe, frames are dropped until one comes.
    pub fn burst(&mut self, packets: &[Arc<Packet>]) -> Vec<RtcFrame> {
        let mut frames = Vec::new();
        let mut newest = None;
        for p in packets {
            match p.kind {
                Kind::Video => {
                    let t = self.unwrap.extend(p.timestamp);
                    if let Some((data, keyframe)) = self.video(p) {
                        if keyframe {
                            frames.clear();
                        }
                        if keyframe || !frames.is_empty() {
                            frames.push((data, keyframe));
                        }
                        newest = Some(t);
                    }
                }
                Kind::Audio => {
                    self.unwrap.extend(p.timestamp);
                }
                Kind::Metadata => {}
            }
        }
        let (Some(newest), Some(&(_, true))) = (newest, frames.first()) else {
            self.waiting_keyframe = true;
            return Vec::new();
        };
        self.waiting_keyframe = false;
        let n = frames.len() as i64;
        frames
            .into_iter()
            .enumerate()
            .map(|(i, (data, keyframe))| {
                let time = self.video_time(newest - (n - 1 - i as i64));
                RtcFrame { time, keyframe, data }
            })
            .collect()
    }

    /// A live packet: the frame to send for it, if any (audio and metadata are not sent from
    /// here).
    pub fn push(&mut self, p: &Arc<Packet>) -> Option<RtcFrame> {
        let t = self.unwrap.extend(p.timestamp);
        if p.kind != Kind::Video {
            return None;
        }
        let (data, keyframe) = self.video(p)?;
        if self.waiting_keyframe && !keyframe {
            return None;
        }
        self.waiting_keyframe = false;
        Some(RtcFrame { time: self.video_time(t), keyframe, data })
    }

    /// An H.264 frame as an access unit (updating the configuration on a sequence header).
    fn video(&mut self, p: &Packet) -> Option<(Arc<[u8]>, bool)> {
        if p.codec() != Codec::Avc {
            self.other_video = true;
            return None;
        }
        match avc_payload(&p.payload) {
            AvcPayload::Config(record) => {
                self.config = AvcConfig::parse(record);
                None
            }
            AvcPayload::Frame(units) => {
                let config = self.config.as_ref()?;
                p.annex_b(|| annex_b(config, units).map(|(data, idr)| (data.into(), idr)))
            }
            AvcPayload::Other => None,
        }
    }

    /// The player's time for a video frame at stream time `t`: later than the last one sent.
    fn video_time(&mut self, t: i64) -> u64 {
        if t + self.offset < 0 {
            // Only the first frames can be here: the clock starts at 0.
            self.offset = -t;
        }
        // A frame that would not come after the last one sent (a burst's) goes just after it;
        // the clock itself does not move, so the frames after a burst are back on time within
        // the burst's few milliseconds.
        let out = (t + self.offset).max(self.last_video.map_or(0, |last| last + 1));
        self.last_video = Some(out);
        out as u64
    }

    /// The player's time for audio at the stream's time `timestamp` (milliseconds, as the
    /// hub's): on the video's clock, never before the last audio sent.
    pub fn audio_time(&mut self, timestamp: u32) -> u64 {
        let t = self.unwrap.extend(timestamp);
        let out = (t + self.offset).max(self.last_audio.map_or(0, |last| last + 1));
        self.last_audio = Some(out);
        out as u64
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    const SPS: &[u8] = &[0x67, 0x42, 0xc0, 0x1f, 0xaa];
    const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];

    fn header() -> Arc<Packet> {
        let payload = crate::avc::sequence_header(SPS, PPS).unwrap();
        Arc::new(Packet::new(Kind::Video, 0, payload))
    }

    /// A legacy AVC frame of length-prefixed units.
    fn frame(ts: u32, key: bool, units: &[&[u8]]) -> Arc<Packet> {
        let mut p = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
        for u in units {
            p.extend_from_slice(&(u.len() as u32).to_be_bytes());
            p.extend_from_slice(u);
        }
        Arc::new(Packet::new(Kind::Video, ts, Bytes::from(p)))
    }

    fn audio(ts: u32) -> Arc<Packet> {
        Arc::new(Packet::new(Kind::Audio, ts, Bytes::from_static(&[0xAF, 1, 0x21])))
    }

    fn times(frames: &[RtcFrame]) -> Vec<u64> {
        frames.iter().map(|f| f.time).collect()
    }

    #[test]
    fn frames_become_annex_b_with_parameter_sets_before_each_idr() {
        let mut feed = RtcFeed::new();
        let burst = feed.burst(&[header(), frame(0, true, &[&[9, 0xf0], &[0x65, 1, 2]])]);
        assert!(burst[0].keyframe);
        let want = [&START_CODE[..], SPS, &START_CODE, PPS, &START_CODE, &[0x65, 1, 2]].concat();
        assert_eq!(&burst[0].data[..], &want[..], "SPS and PPS first, the delimiter dropped");
        let next = feed.push(&frame(40, false, &[&[0x41, 7]])).unwrap();
        assert!(!next.keyframe);
        assert_eq!(&next.data[..], &[&START_CODE[..], &[0x41, 7]].concat()[..]);
        // An IDR that carries its own parameter sets gets none added.
        let own = feed.push(&frame(80, true, &[&[0x67, 1], &[0x68, 2], &[0x65, 3]])).unwrap();
        assert_eq!(own.data.windows(4).filter(|w| *w == START_CODE).count(), 3);
    }

    #[test]
    fn a_burst_is_squeezed_to_the_live_edge_and_audio_follows_its_clock() {
        let mut feed = RtcFeed::new();
        let start = [
            header(),
            frame(1000, true, &[&[0x65]]),
            audio(1010),
            frame(1040, false, &[&[0x41]]),
            audio(1050),
            frame(1080, false, &[&[0x41]]),
        ];
        let burst = feed.burst(&start);
        assert_eq!(times(&burst), [1078, 1079, 1080], "1 ms apart, ending at the newest");
        assert!(!feed.wants_keyframe());
        // Live media follows at its own times; audio is not sent from here, but timed alike.
        assert!(feed.push(&audio(1090)).is_none());
        assert_eq!(feed.audio_time(1090), 1090);
        assert_eq!(times(&[feed.push(&frame(1120, false, &[&[0x41]])).unwrap()]), [1120]);
        // A keyframe request: the cache again (now up to 1120), just after the live edge; the
        // frames after it are back on the stream's time: no drift, however many requests.
        let mut cache = start.to_vec();
        cache.push(frame(1120, false, &[&[0x41]]));
        assert_eq!(times(&feed.burst(&cache)), [1121, 1122, 1123, 1124]);
        assert_eq!(times(&[feed.push(&frame(1160, false, &[&[0x41]])).unwrap()]), [1160]);
        assert_eq!(feed.audio_time(1170), 1170);
        for round in 0..50u32 {
            let t = 1200 + round * 40;
            cache.push(frame(t, false, &[&[0x41]]));
            feed.burst(&cache);
        }
        let late = feed.push(&frame(4000, false, &[&[0x41]])).unwrap();
        assert_eq!(late.time, 4000, "50 bursts later the clock is the stream's");
    }

    #[test]
    fn every_player_of_a_stream_shares_a_frame_s_access_unit() {
        let (mut one, mut two) = (RtcFeed::new(), RtcFeed::new());
        let start = [header(), frame(0, true, &[&[0x65, 1]])];
        let (a, b) = (one.burst(&start), two.burst(&start));
        assert!(Arc::ptr_eq(&a[0].data, &b[0].data), "made once, shared");
    }

    #[test]
    fn without_a_keyframe_frames_wait_for_one() {
        let mut feed = RtcFeed::new();
        assert!(feed.burst(&[header()]).is_empty());
        assert!(feed.wants_keyframe());
        assert!(feed.push(&frame(40, false, &[&[0x41]])).is_none());
        assert!(feed.push(&frame(80, true, &[&[0x65]])).is_some());
        assert!(!feed.wants_keyframe());
        assert!(feed.push(&frame(120, false, &[&[0x41]])).is_some());
    }

    #[test]
    fn hostile_payloads_are_dropped() {
        let mut feed = RtcFeed::new();
        feed.burst(&[header()]);
        // A length prefix past the end, an empty payload, a config with 3-byte lengths.
        let mut cut = vec![0x17, 1, 0, 0, 0, 0, 0, 0, 9, 0x65];
        assert!(feed.push(&Arc::new(Packet::new(Kind::Video, 0, Bytes::from(cut.clone())))).is_none());
        cut.truncate(1);
        assert!(feed.push(&Arc::new(Packet::new(Kind::Video, 0, Bytes::from(cut)))).is_none());
        assert_eq!(AvcConfig::parse(&[1, 0x42, 0, 0x1f, 0xfe, 0xe0, 0]), None);
        assert_eq!(AvcConfig::parse(&[1, 0x42, 0, 0x1f, 0xff, 0xe1, 0, 9, 0x67]), None);
        // HEVC is not H.264.
        let hevc = Arc::new(Packet::new(Kind::Video, 0, Bytes::from_static(&[0x9c, b'h', b'v', b'c', b'1', 1])));
        assert!(feed.push(&hevc).is_none());
        assert!(feed.has_other_video());
    }

    #[test]
    fn enhanced_rtmp_avc1_frames_are_read() {
        let mut feed = RtcFeed::new();
        feed.burst(&[header()]);
        let mut p = vec![0x93];
        p.extend_from_slice(b"avc1");
        p.extend_from_slice(&[0, 0, 0, 2, 0x65, 5]);
        let got = feed.push(&Arc::new(Packet::new(Kind::Video, 0, Bytes::from(p))));
        assert!(got.is_some_and(|f| f.keyframe));
    }
}
