//! Fragmented MP4 for Media Source Extensions and HLS (`hls`): turns a stream's packets (H.264
//! in AVCC form and AAC, as RTMP carries them) into an init segment (`ftyp` + `moov`) and one
//! `moof` + `mdat` fragment per sample. Pure: bytes in, bytes out.
//!
//! Both tracks use a 1 ms timescale, so RTMP timestamps map directly; the first media sample is
//! time zero. A sample is written when the next one of its track arrives (its duration is then
//! known), which delays each track by one sample.

use bytes::Bytes;

use crate::packet::{Kind, Packet};

const TIMESCALE: u32 = 1000;
const VIDEO_TRACK: u32 = 1;
const AUDIO_TRACK: u32 = 2;

/// Decoder configuration of the H.264 track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    record: Vec<u8>,
    /// Picture size from the SPS (0 when it could not be read).
    pub width: u16,
    /// Picture height.
    pub height: u16,
}

/// Decoder configuration of the AAC track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AacConfig {
    asc: Vec<u8>,
    object_type: u8,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
}

impl AvcConfig {
    /// From an FLV/RTMP AVC sequence header (video payload with packet type 0).
    pub fn from_sequence_header(payload: &[u8]) -> Option<Self> {
        let record = payload.get(5..)?.to_vec();
        if record.len() < 7 || record[0] != 1 {
            return None;
        }
        let sps_len = usize::from(u16::from_be_bytes([record[6], *record.get(7)?]));
        let sps = record.get(8..8 + sps_len)?;
        let (width, height) = sps_size(sps).unwrap_or((0, 0));
        Some(Self { record, width, height })
    }

    /// The RFC 6381 codec name, e.g. `avc1.42c01e`.
    pub fn codec(&self) -> String {
        format!("avc1.{:02x}{:02x}{:02x}", self.record[1], self.record[2], self.record[3])
    }
}

impl AacConfig {
    /// From an FLV/RTMP AAC sequence header (audio payload with packet type 0).
    pub fn from_sequence_header(payload: &[u8]) -> Option<Self> {
        let asc = payload.get(2..)?.to_vec();
        // Descriptor lengths are written in one byte: a config this long is not AAC anyway.
        if asc.len() < 2 || asc.len() > 64 {
            return None;
        }
        const RATES: [u32; 13] =
            [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
        let object_type = asc[0] >> 3;
        let index = usize::from((asc[0] & 0x07) << 1 | asc[1] >> 7);
        let sample_rate = *RATES.get(index)?;
        let channels = u16::from((asc[1] >> 3) & 0x0f);
        Some(Self { asc, object_type, sample_rate, channels: channels.max(1) })
    }

    /// The RFC 6381 codec name, e.g. `mp4a.40.2`.
    pub fn codec(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }
}

/// Whether fMP4 (and so `.mp4` playback, HLS and recordings) carries `p`: H.264 video and AAC
/// audio (metadata is skipped, so it passes).
pub fn carries(p: &Packet) -> bool {
    match p.kind {
        Kind::Video => p.codec() == crate::packet::Codec::Avc,
        Kind::Audio => p.codec() == crate::packet::Codec::Aac,
        Kind::Metadata => true,
    }
}

/// The MIME type for `MediaSource.addSourceBuffer`, e.g. `video/mp4; codecs="avc1.42c01e,mp4a.40.2"`.
pub fn mime_type(video: Option<&AvcConfig>, audio: Option<&AacConfig>) -> String {
    let codecs: Vec<String> = video.map(AvcConfig::codec).into_iter().chain(audio.map(AacConfig::codec)).collect();
    let kind = if video.is_some() { "video" } else { "audio" };
    format!("{kind}/mp4; codecs=\"{}\"", codecs.join(","))
}

struct Pending {
    timestamp: u32,
    keyframe: bool,
    cto: i32,
    data: Bytes,
}

/// One sample's fragment, with its place on the track's timeline.
#[derive(Debug, Clone)]
pub struct Fragment {
    /// `moof` + `mdat`.
    pub bytes: Bytes,
    /// A video sample (else audio).
    pub video: bool,
    /// Decode time from the first sample, ms.
    pub start_ms: u32,
    /// Its duration, ms.
    pub duration_ms: u32,
    /// A sync sample (every audio sample is).
    pub keyframe: bool,
}

/// The muxer of one player.
pub struct Fmp4Muxer {
    video: Option<AvcConfig>,
    audio: Option<AacConfig>,
    base: Option<u32>,
    sequence: u32,
    pending_video: Option<Pending>,
    pending_audio: Option<Pending>,
}

impl Fmp4Muxer {
    /// A muxer for the tracks given (at least one).
    pub fn new(video: Option<AvcConfig>, audio: Option<AacConfig>) -> Self {
        Self { video, audio, base: None, sequence: 0, pending_video: None, pending_audio: None }
    }

    /// `ftyp` + `moov`.
    pub fn init_segment(&self) -> Bytes {
        let mut out = Vec::with_capacity(1024);
        bx(&mut out, b"ftyp", |o| {
            o.extend_from_slice(b"isom");
            o.extend_from_slice(&0x200u32.to_be_bytes());
            o.extend_from_slice(b"isomiso6mp41");
            if self.video.is_some() {
                o.extend_from_slice(b"avc1");
            }
        });
        bx(&mut out, b"moov", |o| {
            full(o, b"mvhd", 0, 0, |o| {
                o.extend_from_slice(&[0; 8]); // creation, modification
                o.extend_from_slice(&TIMESCALE.to_be_bytes());
                o.extend_from_slice(&0u32.to_be_bytes()); // duration
                o.extend_from_slice(&0x0001_0000u32.to_be_bytes()); // rate 1.0
                o.extend_from_slice(&0x0100u16.to_be_bytes()); // volume 1.0
                o.extend_from_slice(&[0; 10]);
                matrix(o);
                o.extend_from_slice(&[0; 24]);
                o.extend_from_slice(&3u32.to_be_bytes()); // next track ID
            });
            if let Some(v) = &self.video {
                video_trak(o, v);
            }
            if let Some(a) = &self.audio {
                audio_trak(o, a);
            }
            bx(o, b"mvex", |o| {
                for (track, present) in [(VIDEO_TRACK, self.video.is_some()), (AUDIO_TRACK, self.audio.is_some())] {
                    if present {
                        full(o, b"trex", 0, 0, |o| {
                            o.extend_from_slice(&track.to_be_bytes());
                            o.extend_from_slice(&1u32.to_be_bytes());
                            o.extend_from_slice(&[0; 12]);
                        });
                    }
                }
            });
        });
        out.into()
    }

    /// Whether `p` is a sequence header different from the one in the init segment (an encoder
    /// restart or a resolution change): the player then needs a new init segment.
    pub fn config_changed(&self, p: &Packet) -> bool {
        if !p.sequence_header {
            return false;
        }
        let payload = &p.payload[..];
        match p.kind {
            Kind::Video => self.video.as_ref().is_some_and(|v| payload.get(5..) != Some(&v.record[..])),
            Kind::Audio => self.audio.as_ref().is_some_and(|a| payload.get(2..) != Some(&a.asc[..])),
            Kind::Metadata => false,
        }
    }

    /// Takes one packet; returns the fragment of the previous sample of its track, if any.
    /// Sequence headers and metadata produce nothing (the init segment carries the config).
    pub fn push(&mut self, p: &Packet) -> Option<Bytes> {
        self.push_sample(p).map(|f| f.bytes)
    }

    /// As [`Fmp4Muxer::push`], with the sample's timing.
    pub fn push_sample(&mut self, p: &Packet) -> Option<Fragment> {
        if p.sequence_header || p.kind == Kind::Metadata {
            return None;
        }
        let payload = &p.payload[..];
        let (sample, track) = match p.kind {
            Kind::Video if self.video.is_some() && payload.len() > 5 => {
                let cto = i32::from_be_bytes([0, payload[2], payload[3], payload[4]]) << 8 >> 8;
                let data = p.payload.slice(5..);
                (Pending { timestamp: p.timestamp, keyframe: p.keyframe, cto, data }, VIDEO_TRACK)
            }
            Kind::Audio if self.audio.is_some() && payload.len() > 2 => {
                let data = p.payload.slice(2..);
                (Pending { timestamp: p.timestamp, keyframe: true, cto: 0, data }, AUDIO_TRACK)
            }
            _ => return None,
        };
        // A player starts at a keyframe: audio before the first one is dropped.
        if self.base.is_none() && !(track == VIDEO_TRACK && sample.keyframe || self.video.is_none()) {
            return None;
        }
        let base = *self.base.get_or_insert(p.timestamp);
        let slot = if track == VIDEO_TRACK { &mut self.pending_video } else { &mut self.pending_audio };
        let previous = slot.replace(sample)?;
        let duration = p.timestamp.saturating_sub(previous.timestamp).max(1);
        self.sequence += 1;
        let start_ms = previous.timestamp.saturating_sub(base);
        Some(Fragment {
            bytes: fragment(self.sequence, track, start_ms, duration, &previous),
            video: track == VIDEO_TRACK,
            start_ms,
            duration_ms: duration,
            keyframe: previous.keyframe,
        })
    }
}

impl Fmp4Muxer {
    /// The samples still held back (each waits for the next of its track to know its
    /// duration), ended at `end` (ms, the stream's timeline): what a file closed now must
    /// still get.
    pub fn flush(&mut self, end: u32) -> Vec<Bytes> {
        let Some(base) = self.base else { return Vec::new() };
        let mut out = Vec::new();
        for (track, slot) in [(VIDEO_TRACK, self.pending_video.take()), (AUDIO_TRACK, self.pending_audio.take())] {
            if let Some(s) = slot {
                let duration = end.saturating_sub(s.timestamp).max(1);
                self.sequence += 1;
                out.push(fragment(self.sequence, track, s.timestamp.saturating_sub(base), duration, &s));
            }
        }
        out
    }
}

/// What differs between a video and an audio `trak`: the track header's fields, the handler,
/// the media header box, and the sample entry.
struct TrakKind<'a> {
    track: u32,
    volume: u16,
    size: (u16, u16),
    handler: (&'a [u8; 4], &'a [u8]),
    media_header: (&'a [u8; 4], u16, &'a [u8]),
}

/// `trak` → `tkhd`, `mdia` → `mdhd`, `hdlr`, `minf` → media header, `dinf`, `stbl` → the
/// sample entry that `entry` writes.
fn trak(o: &mut Vec<u8>, k: &TrakKind<'_>, entry: impl FnOnce(&mut Vec<u8>)) {
    bx(o, b"trak", |o| {
        tkhd(o, k.track, k.volume, k.size.0, k.size.1);
        bx(o, b"mdia", |o| {
            mdhd(o);
            hdlr(o, k.handler.0, k.handler.1);
            bx(o, b"minf", |o| {
                let (name, flags, body) = k.media_header;
                full(o, name, 0, u32::from(flags), |o| o.extend_from_slice(body));
                dinf(o);
                stbl(o, entry);
            });
        });
    });
}

fn video_trak(o: &mut Vec<u8>, v: &AvcConfig) {
    let kind = TrakKind {
        track: VIDEO_TRACK,
        volume: 0,
        size: (v.width, v.height),
        handler: (b"vide", b"VideoHandler\0"),
        media_header: (b"vmhd", 1, &[0; 8]),
    };
    trak(o, &kind, |o| {
        bx(o, b"avc1", |o| {
            o.extend_from_slice(&[0; 6]);
            o.extend_from_slice(&1u16.to_be_bytes()); // data reference index
            o.extend_from_slice(&[0; 16]);
            o.extend_from_slice(&v.width.to_be_bytes());
            o.extend_from_slice(&v.height.to_be_bytes());
            o.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // 72 dpi
            o.extend_from_slice(&0x0048_0000u32.to_be_bytes());
            o.extend_from_slice(&[0; 4]);
            o.extend_from_slice(&1u16.to_be_bytes()); // frame count
            o.extend_from_slice(&[0; 32]); // compressor name
            o.extend_from_slice(&0x0018u16.to_be_bytes()); // depth
            o.extend_from_slice(&0xffffu16.to_be_bytes());
            bx(o, b"avcC", |o| o.extend_from_slice(&v.record));
        });
    });
}

fn audio_trak(o: &mut Vec<u8>, a: &AacConfig) {
    let kind = TrakKind {
        track: AUDIO_TRACK,
        volume: 0x0100,
        size: (0, 0),
        handler: (b"soun", b"SoundHandler\0"),
        media_header: (b"smhd", 0, &[0; 4]),
    };
    trak(o, &kind, |o| {
        bx(o, b"mp4a", |o| {
            o.extend_from_slice(&[0; 6]);
            o.extend_from_slice(&1u16.to_be_bytes());
            o.extend_from_slice(&[0; 8]);
            o.extend_from_slice(&a.channels.to_be_bytes());
            o.extend_from_slice(&16u16.to_be_bytes()); // sample size
            o.extend_from_slice(&[0; 4]);
            o.extend_from_slice(&(a.sample_rate.min(0xffff) << 16).to_be_bytes());
            full(o, b"esds", 0, 0, |o| esds(o, &a.asc));
        });
    });
}

/// ES_Descriptor with the DecoderConfigDescriptor (AAC) and an SLConfigDescriptor.
fn esds(o: &mut Vec<u8>, asc: &[u8]) {
    let dsi_len = asc.len();
    let dcd_len = 13 + 2 + dsi_len;
    let es_len = 3 + 2 + dcd_len + 3;
    o.extend_from_slice(&[0x03, es_len as u8, 0, AUDIO_TRACK as u8, 0]);
    o.extend_from_slice(&[0x04, dcd_len as u8, 0x40, 0x15, 0, 0, 0]);
    o.extend_from_slice(&[0; 8]); // max and average bitrate
    o.extend_from_slice(&[0x05, dsi_len as u8]);
    o.extend_from_slice(asc);
    o.extend_from_slice(&[0x06, 0x01, 0x02]);
}

fn tkhd(o: &mut Vec<u8>, track: u32, volume: u16, width: u16, height: u16) {
    full(o, b"tkhd", 0, 3, |o| {
        o.extend_from_slice(&[0; 8]);
        o.extend_from_slice(&track.to_be_bytes());
        o.extend_from_slice(&[0; 4]);
        o.extend_from_slice(&0u32.to_be_bytes()); // duration
        o.extend_from_slice(&[0; 8]);
        o.extend_from_slice(&[0; 4]); // layer, alternate group
        o.extend_from_slice(&volume.to_be_bytes());
        o.extend_from_slice(&[0; 2]);
        matrix(o);
        o.extend_from_slice(&(u32::from(width) << 16).to_be_bytes());
        o.extend_from_slice(&(u32::from(height) << 16).to_be_bytes());
    });
}

fn mdhd(o: &mut Vec<u8>) {
    full(o, b"mdhd", 0, 0, |o| {
        o.extend_from_slice(&[0; 8]);
        o.extend_from_slice(&TIMESCALE.to_be_bytes());
        o.extend_from_slice(&0u32.to_be_bytes());
        o.extend_from_slice(&0x55c4u16.to_be_bytes()); // "und"
        o.extend_from_slice(&[0; 2]);
    });
}

fn hdlr(o: &mut Vec<u8>, handler: &[u8; 4], name: &[u8]) {
    full(o, b"hdlr", 0, 0, |o| {
        o.extend_from_slice(&[0; 4]);
        o.extend_from_slice(handler);
        o.extend_from_slice(&[0; 12]);
        o.extend_from_slice(name);
    });
}

fn dinf(o: &mut Vec<u8>) {
    bx(o, b"dinf", |o| {
        full(o, b"dref", 0, 0, |o| {
            o.extend_from_slice(&1u32.to_be_bytes());
            full(o, b"url ", 0, 1, |_| {});
        });
    });
}

/// `stbl` with one sample entry and empty tables (the samples are in fragments).
fn stbl(o: &mut Vec<u8>, entry: impl FnOnce(&mut Vec<u8>)) {
    bx(o, b"stbl", |o| {
        full(o, b"stsd", 0, 0, |o| {
            o.extend_from_slice(&1u32.to_be_bytes());
            entry(o);
        });
        for kind in [b"stts", b"stsc", b"stco"] {
            full(o, kind, 0, 0, |o| o.extend_from_slice(&0u32.to_be_bytes()));
        }
        full(o, b"stsz", 0, 0, |o| o.extend_from_slice(&[0; 8]));
    });
}

fn matrix(o: &mut Vec<u8>) {
    for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        o.extend_from_slice(&v.to_be_bytes());
    }
}

fn fragment(sequence: u32, track: u32, decode_time: u32, duration: u32, s: &Pending) -> Bytes {
    let mut out = Vec::with_capacity(s.data.len() + 128);
    let mut offset_at = 0;
    bx(&mut out, b"moof", |o| {
        full(o, b"mfhd", 0, 0, |o| o.extend_from_slice(&sequence.to_be_bytes()));
        bx(o, b"traf", |o| {
            full(o, b"tfhd", 0, 0x02_0000, |o| o.extend_from_slice(&track.to_be_bytes())); // base is moof
            full(o, b"tfdt", 1, 0, |o| o.extend_from_slice(&u64::from(decode_time).to_be_bytes()));
            // data offset, duration, size, flags, composition offset
            full(o, b"trun", 1, 0x0f01, |o| {
                o.extend_from_slice(&1u32.to_be_bytes());
                offset_at = o.len();
                o.extend_from_slice(&0u32.to_be_bytes());
                o.extend_from_slice(&duration.to_be_bytes());
                o.extend_from_slice(&(s.data.len() as u32).to_be_bytes());
                let flags: u32 = if s.keyframe { 0x0200_0000 } else { 0x0101_0000 };
                o.extend_from_slice(&flags.to_be_bytes());
                o.extend_from_slice(&s.cto.to_be_bytes());
            });
        });
    });
    let moof_len = out.len() as u32;
    out[offset_at..offset_at + 4].copy_from_slice(&(moof_len + 8).to_be_bytes());
    out.extend_from_slice(&(s.data.len() as u32 + 8).to_be_bytes());
    out.extend_from_slice(b"mdat");
    out.extend_from_slice(&s.data);
    out.into()
}

/// Writes a box: size, type, then what `body` writes.
fn bx(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(kind);
    body(out);
    let size = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// Writes a full box (version and flags first).
fn full(out: &mut Vec<u8>, kind: &[u8; 4], version: u8, flags: u32, body: impl FnOnce(&mut Vec<u8>)) {
    bx(out, kind, |o| {
        o.extend_from_slice(&(u32::from(version) << 24 | (flags & 0x00ff_ffff)).to_be_bytes());
        body(o);
    });
}

/// Bits of an RBSP (emulation prevention bytes removed), read MSB first.
struct Bits {
    data: Vec<u8>,
    pos: usize,
}

impl Bits {
    fn new(nal: &[u8]) -> Self {
        let mut data = Vec::with_capacity(nal.len());
        let mut zeros = 0;
        for &b in nal {
            if zeros >= 2 && b == 3 {
                zeros = 0;
                continue;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            data.push(b);
        }
        Self { data, pos: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some(acc << 1 | self.bit()?))
    }

    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        ((1u32 << zeros) - 1).checked_add(self.bits(zeros)?)
    }

    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// Width and height from an H.264 SPS NAL unit (None when it uses features not read here).
fn sps_size(sps: &[u8]) -> Option<(u16, u16)> {
    let mut b = Bits::new(sps.get(1..)?);
    let profile = b.bits(8)?;
    b.bits(16)?; // constraint flags, level
    b.ue()?; // seq_parameter_set_id
    let mut chroma = 1;
    if matches!(profile, 100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135) {
        chroma = b.ue()?;
        if chroma == 3 {
            b.bit()?;
        }
        b.ue()?;
        b.ue()?;
        b.bit()?;
        if b.bit()? == 1 {
            return None; // scaling matrices: not read
        }
    }
    b.ue()?; // log2_max_frame_num
    match b.ue()? {
        0 => {
            b.ue()?;
        }
        1 => {
            b.bit()?;
            b.se()?;
            b.se()?;
            for _ in 0..b.ue()?.min(256) {
                b.se()?;
            }
        }
        _ => {}
    }
    b.ue()?; // max_num_ref_frames
    b.bit()?;
    let width_mbs = b.ue()?.checked_add(1)?;
    let height_units = b.ue()?.checked_add(1)?;
    let frame_mbs_only = b.bit()?;
    if frame_mbs_only == 0 {
        b.bit()?;
    }
    b.bit()?;
    let (mut cl, mut cr, mut ct, mut cb) = (0, 0, 0, 0);
    if b.bit()? == 1 {
        (cl, cr, ct, cb) = (b.ue()?, b.ue()?, b.ue()?, b.ue()?);
    }
    let (crop_x, crop_y): (u32, u32) = match chroma {
        0 => (1, 2 - frame_mbs_only),
        1 => (2, 2 * (2 - frame_mbs_only)),
        2 => (2, 2 - frame_mbs_only),
        _ => (1, 2 - frame_mbs_only),
    };
    let crop_w = crop_x.checked_mul(cl.checked_add(cr)?)?;
    let crop_h = crop_y.checked_mul(ct.checked_add(cb)?)?;
    let width = width_mbs.checked_mul(16)?.checked_sub(crop_w)?;
    let height = (2 - frame_mbs_only).checked_mul(height_units)?.checked_mul(16)?.checked_sub(crop_h)?;
    Some((u16::try_from(width).ok()?, u16::try_from(height).ok()?))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn pk(kind: Kind, timestamp: u32, payload: &[u8]) -> Packet {
        Packet::new(kind, timestamp, Bytes::copy_from_slice(payload))
    }

    // SPSs x264 wrote for a 320x240 test pattern: yuv420p (Constrained Baseline) and yuv444p
    // (High 4:4:4 Predictive, which ffmpeg picks for RGB sources).
    pub(crate) const SPS_320X240: &[u8] = &[
        0x67, 0x42, 0xc0, 0x0c, 0xda, 0x05, 0x07, 0xec, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x07,
        0xa3, 0xc5, 0x0a, 0xa8,
    ];
    const SPS_444: &[u8] = &[
        0x67, 0xf4, 0x00, 0x0c, 0x91, 0x96, 0x81, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00,
        0x03, 0x01, 0xe8, 0xf1, 0x42, 0xaa,
    ];

    /// The AVC sequence header RTMP carries for `SPS_320X240`.
    pub(crate) fn avc_header() -> Vec<u8> {
        let mut p = vec![0x17, 0, 0, 0, 0, 1, 0x42, 0xc0, 0x0c, 0xff, 0xe1];
        p.extend_from_slice(&(SPS_320X240.len() as u16).to_be_bytes());
        p.extend_from_slice(SPS_320X240);
        p.extend_from_slice(&[1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb]);
        p
    }

    #[test]
    fn reads_codec_strings_and_picture_size() {
        let v = AvcConfig::from_sequence_header(&avc_header()).unwrap();
        assert_eq!(v.codec(), "avc1.42c00c");
        assert_eq!((v.width, v.height), (320, 240));
        assert_eq!(sps_size(SPS_444), Some((320, 240)));
        let a = AacConfig::from_sequence_header(&[0xaf, 0, 0x12, 0x10]).unwrap();
        assert_eq!((a.codec(), a.sample_rate, a.channels), ("mp4a.40.2".to_owned(), 44100, 2));
        assert_eq!(mime_type(Some(&v), Some(&a)), "video/mp4; codecs=\"avc1.42c00c,mp4a.40.2\"");
        assert_eq!(mime_type(None, Some(&a)), "audio/mp4; codecs=\"mp4a.40.2\"");
        assert!(AvcConfig::from_sequence_header(&[0x17, 0, 0]).is_none());
        assert!(AacConfig::from_sequence_header(&[0xaf, 0, 0x17, 0x90]).is_none(), "sample rate index 15");
        let mut long = vec![0xaf, 0, 0x12, 0x10];
        long.resize(200, 0);
        assert!(AacConfig::from_sequence_header(&long).is_none(), "too long for one-byte descriptor lengths");
        let m = Fmp4Muxer::new(Some(v.clone()), Some(a.clone()));
        assert!(!m.config_changed(&pk(Kind::Video, 0, &avc_header())));
        let mut other = avc_header();
        *other.last_mut().unwrap() ^= 1;
        assert!(m.config_changed(&pk(Kind::Video, 0, &other)));
        assert!(m.config_changed(&pk(Kind::Audio, 0, &[0xaf, 0, 0x11, 0x90])));
    }

    fn boxes(mut data: &[u8]) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        while data.len() >= 8 {
            let size = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
            out.push((String::from_utf8_lossy(&data[4..8]).into_owned(), size));
            data = &data[size..];
        }
        out
    }

    #[test]
    fn segments_are_well_formed_boxes() {
        let v = AvcConfig::from_sequence_header(&avc_header()).unwrap();
        let a = AacConfig::from_sequence_header(&[0xaf, 0, 0x12, 0x10]).unwrap();
        let mut m = Fmp4Muxer::new(Some(v), Some(a));
        let init = m.init_segment();
        let top: Vec<String> = boxes(&init).into_iter().map(|b| b.0).collect();
        assert_eq!(top, ["ftyp", "moov"]);
        assert_eq!(boxes(&init).iter().map(|b| b.1).sum::<usize>(), init.len());

        assert!(m.push(&pk(Kind::Audio, 990, &[0xaf, 1, 1, 2])).is_none(), "audio before a keyframe");
        assert!(m.push(&pk(Kind::Video, 1000, &[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65])).is_none());
        assert!(m.push(&pk(Kind::Audio, 1010, &[0xaf, 1, 1, 2])).is_none());
        let frag = m.push(&pk(Kind::Video, 1040, &[0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41])).unwrap();
        let parts = boxes(&frag);
        assert_eq!(parts.iter().map(|b| b.0.as_str()).collect::<Vec<_>>(), ["moof", "mdat"]);
        assert_eq!(parts[1].1, 8 + 5, "the keyframe's AVCC NAL unit");
        let moof = &frag[..parts[0].1];
        let tfdt = moof.windows(4).position(|w| w == b"tfdt").unwrap();
        assert_eq!(
            u64::from_be_bytes(moof[tfdt + 8..tfdt + 16].try_into().unwrap()),
            0,
            "the first keyframe is time 0"
        );
        let trun = moof.windows(4).position(|w| w == b"trun").unwrap();
        let offset = u32::from_be_bytes(moof[trun + 12..trun + 16].try_into().unwrap()) as usize;
        assert_eq!(offset, parts[0].1 + 8, "data offset points into mdat");
        assert_eq!(u32::from_be_bytes(moof[trun + 16..trun + 20].try_into().unwrap()), 40, "duration");
        let audio = m.push(&pk(Kind::Audio, 1033, &[0xaf, 1, 3])).unwrap();
        let moof = &audio[..boxes(&audio)[0].1];
        let tfdt = moof.windows(4).position(|w| w == b"tfdt").unwrap();
        assert_eq!(u64::from_be_bytes(moof[tfdt + 8..tfdt + 16].try_into().unwrap()), 10);
    }

    #[test]
    fn random_sequence_headers_and_samples_never_panic() {
        // xorshift: deterministic, no dependency.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..20_000 {
            let len = (next() % 64) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if round % 2 == 0 && bytes.len() > 11 {
                // Keep the avcC shape often enough to reach the SPS reader.
                bytes[..7].copy_from_slice(&[0x17, 0, 0, 0, 0, 1, 0x64]);
                bytes[11] = 0x67;
            }
            let v = AvcConfig::from_sequence_header(&bytes);
            let a = AacConfig::from_sequence_header(&bytes);
            if v.is_some() || a.is_some() {
                let mut m = Fmp4Muxer::new(v, a);
                let _ = m.init_segment();
                for kind in [Kind::Video, Kind::Audio, Kind::Metadata] {
                    let _ = m.push(&pk(kind, next() as u32, &bytes));
                    let _ = m.config_changed(&pk(kind, 0, &bytes));
                }
            }
        }
    }

    #[test]
    fn hostile_sps_does_not_panic() {
        for n in 0..SPS_320X240.len() {
            let _ = sps_size(&SPS_320X240[..n]);
        }
        let _ = sps_size(&[0x67, 0x64, 0, 0, 0, 0, 0, 0, 0, 0]);
        let _ = sps_size(&[0x67, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    }
}
