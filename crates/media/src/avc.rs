//! H.264 from WebRTC to FLV/RTMP form: turns access units as a depacketizer gives them
//! (Annex-B: NAL units after `00 00 01` / `00 00 00 01` start codes) with their RTP timestamps
//! into the video payloads the hub carries: an AVC sequence header (an
//! AVCDecoderConfigurationRecord made from the SPS and PPS, sent first and again whenever they
//! change) and one AVCC frame per access unit (4-byte big-endian NAL lengths, the keyframe
//! flag set on IDR). Timestamps become milliseconds from the first frame (the 90 kHz RTP clock,
//! unwrapped across its 32-bit wrap). Frames before the first IDR are dropped (no player could
//! decode them); [`AvcPackager::wants_keyframe`] says so, and the driver asks the sender for
//! one. Pure: bytes and RTP times in, payloads out; no clock.

use bytes::{BufMut, Bytes, BytesMut};

/// NAL unit types that matter here (H.264 table 7-1).
const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;

/// The NAL units of an Annex-B buffer, without their start codes (empty units skipped).
pub fn annexb_nalus(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = skip_start_code(data);
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() {
                return None;
            }
            let (nalu, after) = match find_start_code(rest) {
                Some((at, len)) => (&rest[..at], &rest[at + len..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = after;
            // A zero byte before a 4-byte start code belongs to it, not to the NAL unit.
            let nalu = trim_trailing_zeros(nalu);
            if !nalu.is_empty() {
                return Some(nalu);
            }
        }
    })
}

fn skip_start_code(data: &[u8]) -> &[u8] {
    match find_start_code(data) {
        Some((0, len)) => &data[len..],
        _ => data,
    }
}

/// The first `00 00 01` (or `00 00 00 01`) in `data`: its offset and length.
fn find_start_code(data: &[u8]) -> Option<(usize, usize)> {
    let at = data.windows(3).position(|w| w == [0, 0, 1])?;
    if at > 0 && data[at - 1] == 0 { Some((at - 1, 4)) } else { Some((at, 3)) }
}

fn trim_trailing_zeros(nalu: &[u8]) -> &[u8] {
    let end = nalu.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &nalu[..end]
}

/// The AVCDecoderConfigurationRecord (ISO/IEC 14496-15) for one SPS and one PPS, as an FLV/RTMP
/// AVC sequence header payload (`0x17 00 000000` + record). `None` for an SPS too short to
/// carry its profile and level.
pub fn sequence_header(sps: &[u8], pps: &[u8]) -> Option<Bytes> {
    let (profile, compat, level) = (*sps.get(1)?, *sps.get(2)?, *sps.get(3)?);
    let sps_len = u16::try_from(sps.len()).ok()?;
    let pps_len = u16::try_from(pps.len()).ok()?;
    let mut out = BytesMut::with_capacity(16 + sps.len() + pps.len());
    out.put_slice(&[0x17, 0, 0, 0, 0]);
    // Version 1, profile, compatibility, level, 4-byte NAL lengths, one SPS.
    out.put_slice(&[1, profile, compat, level, 0xff, 0xe1]);
    out.put_u16(sps_len);
    out.put_slice(sps);
    out.put_u8(1);
    out.put_u16(pps_len);
    out.put_slice(pps);
    Some(out.freeze())
}

/// Extends a 32-bit counter that wraps (RTP times, FLV milliseconds) onto a 64-bit line, each
/// step taken as the shorter way round the circle (so it may go back). The first value reads
/// as itself.
#[derive(Debug, Default, Clone)]
pub struct Unwrap32 {
    last: Option<(u32, i64)>,
}

impl Unwrap32 {
    /// `value` on the extended line.
    pub fn extend(&mut self, value: u32) -> i64 {
        let ext = match self.last {
            None => i64::from(value),
            Some((last, ext)) => ext + i64::from(value.wrapping_sub(last) as i32),
        };
        self.last = Some((value, ext));
        ext
    }
}

/// Unwraps a 32-bit RTP clock (90 kHz video by default) into milliseconds since its first
/// reading.
#[derive(Debug, Clone)]
pub struct RtpClock {
    /// Ticks per second.
    hz: i64,
    /// The RTP times, extended, and the first of them.
    unwrap: Unwrap32,
    first: Option<i64>,
}

impl Default for RtpClock {
    fn default() -> Self {
        Self::new(Self::VIDEO_HZ)
    }
}

impl RtpClock {
    /// Ticks per second of video RTP timestamps.
    pub const VIDEO_HZ: i64 = 90_000;
    /// Ticks per second of Opus RTP timestamps (always 48 kHz, RFC 7587).
    pub const OPUS_HZ: i64 = 48_000;

    /// A clock of `hz` ticks per second.
    pub fn new(hz: i64) -> Self {
        Self { hz: hz.max(1), unwrap: Unwrap32::default(), first: None }
    }

    /// Milliseconds of `rtp` since the first timestamp seen, negative before it.
    pub fn signed_millis(&mut self, rtp: u32) -> i64 {
        let ext = self.unwrap.extend(rtp);
        (ext - *self.first.get_or_insert(ext)).div_euclid(self.hz / 1000)
    }

    /// Milliseconds of `rtp` since the first timestamp seen (a timestamp before the first
    /// reads as 0), on a 32-bit clock.
    pub fn millis(&mut self, rtp: u32) -> u32 {
        (self.signed_millis(rtp).max(0) & 0xffff_ffff) as u32
    }
}

/// What one access unit became.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Packaged {
    /// Milliseconds since the stream's first access unit.
    pub timestamp: u32,
    /// A new AVC sequence header, to push before the frame.
    pub sequence_header: Option<Bytes>,
    /// The AVCC frame (video payload), `None` when the unit was dropped (no keyframe yet).
    pub frame: Option<Bytes>,
    /// Whether the frame is a keyframe (IDR).
    pub keyframe: bool,
}

/// Turns a stream's H.264 access units into FLV/RTMP video payloads (see the module doc).
#[derive(Debug, Default)]
pub struct AvcPackager {
    clock: RtpClock,
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    /// The (SPS, PPS) last announced in a sequence header.
    announced: Option<(Vec<u8>, Vec<u8>)>,
    /// A keyframe went out (frames may follow it).
    started: bool,
}

impl AvcPackager {
    /// A packager for a new stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether frames are being dropped until a keyframe (with its SPS and PPS) arrives.
    pub fn wants_keyframe(&self) -> bool {
        !self.started
    }

    /// Packages one access unit (Annex-B) with its RTP timestamp.
    pub fn push(&mut self, rtp_time: u32, access_unit: &[u8]) -> Packaged {
        let timestamp = self.clock.millis(rtp_time);
        let mut keyframe = false;
        let mut body = BytesMut::with_capacity(access_unit.len() + 16);
        for nalu in annexb_nalus(access_unit) {
            match nalu[0] & 0x1f {
                NAL_SPS => self.sps = Some(nalu.to_vec()),
                NAL_PPS => self.pps = Some(nalu.to_vec()),
                NAL_AUD => {}
                kind => {
                    keyframe |= kind == NAL_IDR;
                    let Ok(len) = u32::try_from(nalu.len()) else { continue };
                    body.put_u32(len);
                    body.put_slice(nalu);
                }
            }
        }
        let sequence_header = self.announce();
        let ready = self.announced.is_some() && (self.started || keyframe);
        if !ready || body.is_empty() {
            return Packaged { timestamp, sequence_header, frame: None, keyframe: false };
        }
        self.started = true;
        let mut frame = BytesMut::with_capacity(5 + body.len());
        // Frame type (1 key, 2 inter) + codec 7 (AVC), NALU packet, composition time 0.
        frame.put_slice(&[if keyframe { 0x17 } else { 0x27 }, 1, 0, 0, 0]);
        frame.put_slice(&body);
        Packaged { timestamp, sequence_header, frame: Some(frame.freeze()), keyframe }
    }

    /// A sequence header when the SPS/PPS pair is complete and differs from the last announced.
    fn announce(&mut self) -> Option<Bytes> {
        let (sps, pps) = (self.sps.as_ref()?, self.pps.as_ref()?);
        if self.announced.as_ref().is_some_and(|(s, p)| s == sps && p == pps) {
            return None;
        }
        let header = sequence_header(sps, pps)?;
        self.announced = Some((sps.clone(), pps.clone()));
        Some(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::AvcConfig;
    use crate::fmp4::tests::SPS_320X240;
    use crate::packet::{Kind, Packet};

    const PPS: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb];

    fn annexb(units: &[&[u8]]) -> Vec<u8> {
        units
            .iter()
            .enumerate()
            .flat_map(|(i, u)| [if i % 2 == 0 { &[0, 0, 0, 1][..] } else { &[0, 0, 1] }, u].concat())
            .collect()
    }

    #[test]
    fn splits_annexb_with_both_start_codes() {
        let data = annexb(&[&[0x09, 0xf0], SPS_320X240, PPS, &[0x65, 1, 2, 0, 3]]);
        let units: Vec<&[u8]> = annexb_nalus(&data).collect();
        assert_eq!(units, vec![&[0x09, 0xf0][..], SPS_320X240, PPS, &[0x65, 1, 2, 0, 3]]);
        assert_eq!(annexb_nalus(&[0x41, 7]).collect::<Vec<_>>(), vec![&[0x41, 7][..]], "no start code: one unit");
        assert_eq!(annexb_nalus(&[0, 0, 1, 0, 0, 0, 1]).count(), 0);
    }

    #[test]
    fn the_sequence_header_is_a_record_the_fmp4_muxer_reads() {
        let header = sequence_header(SPS_320X240, PPS).unwrap();
        let config = AvcConfig::from_sequence_header(&header).unwrap();
        assert_eq!((config.codec().as_str(), config.width, config.height), ("avc1.42c00c", 320, 240));
        let p = Packet::new(Kind::Video, 0, header);
        assert!(p.sequence_header && !p.keyframe);
        assert_eq!(sequence_header(&[0x67, 0x42], PPS), None);
    }

    #[test]
    fn frames_wait_for_a_keyframe_and_headers_follow_changes() {
        let mut p = AvcPackager::new();
        assert!(p.wants_keyframe());
        let inter = p.push(1000, &annexb(&[&[0x41, 9, 9]]));
        assert_eq!((inter.timestamp, inter.frame, inter.sequence_header), (0, None, None));
        let key = p.push(1000 + 3000, &annexb(&[&[0x09, 0x10], SPS_320X240, PPS, &[0x65, 1, 2]]));
        assert_eq!(key.timestamp, 33);
        assert!(key.keyframe && key.sequence_header.is_some() && !p.wants_keyframe());
        let frame = key.frame.unwrap();
        assert_eq!(&frame[..], &[0x17, 1, 0, 0, 0, 0, 0, 0, 3, 0x65, 1, 2], "AUD, SPS, PPS left out");
        assert!(Packet::new(Kind::Video, 0, frame).keyframe);
        let next = p.push(1000 + 6000, &annexb(&[&[0x41, 5], &[0x41, 6]]));
        assert_eq!((next.timestamp, next.sequence_header, next.keyframe), (66, None, false));
        assert_eq!(&next.frame.unwrap()[..], &[0x27, 1, 0, 0, 0, 0, 0, 0, 2, 0x41, 5, 0, 0, 0, 2, 0x41, 6]);
        let same = p.push(1000 + 9000, &annexb(&[SPS_320X240, PPS, &[0x65, 3]]));
        assert_eq!(same.sequence_header, None, "unchanged parameter sets are not announced again");
        let other_pps = [0x68, 0xce, 0x3c, 0x80];
        let changed = p.push(1000 + 12000, &annexb(&[SPS_320X240, &other_pps, &[0x65, 4]]));
        assert_eq!(changed.sequence_header, sequence_header(SPS_320X240, &other_pps));
    }

    #[test]
    fn rtp_time_unwraps_and_starts_at_zero() {
        let mut c = RtpClock::default();
        let start = u32::MAX - 90 * 10;
        assert_eq!(c.millis(start), 0);
        assert_eq!(c.millis(start.wrapping_add(90 * 40)), 40, "across the wrap");
        assert_eq!(c.millis(start.wrapping_add(90 * 1000 * 3600)), 3_600_000);
        let mut back = RtpClock::default();
        back.millis(90_000);
        assert_eq!(back.millis(0), 0, "before the first reads as 0");
        let mut opus = RtpClock::new(RtpClock::OPUS_HZ);
        opus.signed_millis(0);
        assert_eq!(opus.signed_millis(u32::MAX - 311), -7, "signed: a look-ahead before time 0");
        assert_eq!(opus.signed_millis(48 * 20), 20);
        let mut u = Unwrap32::default();
        assert_eq!((u.extend(5), u.extend(u32::MAX), u.extend(3)), (5, -1, 3));
    }

    #[test]
    fn hostile_units_never_panic() {
        let mut p = AvcPackager::new();
        let mut seed = 7u32;
        for len in 0..300 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    [0u8, 0, 1, 0x67, 0x68, 0x65, (seed >> 16) as u8][(seed >> 8) as usize % 7]
                })
                .collect();
            let _ = p.push(seed, &data);
        }
    }
}
