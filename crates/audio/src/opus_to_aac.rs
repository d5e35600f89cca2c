//! [`OpusToAac`]: Opus packets as received over RTP (WebRTC) in, AAC-LC frames with FLV
//! millisecond timestamps out, for RTMP/FLV players of a WebRTC publisher.
//!
//! **Time.** Positions are counted in 48 kHz samples on the stream's timeline, whose 0 is the
//! first packet's RTP timestamp and is played at the caller's `origin_ms` (see [`OpusToAac::new`]).
//! A packet's samples sit at its RTP timestamp; each AAC frame's timestamp is the position of
//! the first sample a player decodes from it, which lags what went into the encoder by
//! [`AAC_CODEC_DELAY`] samples (libvo-aacenc's look-ahead and the MDCT overlap, measured with a
//! decoder and checked by the tests). The first frames, made of that delay only, are dropped, so
//! the first frame out is stamped `origin_ms` or a few ms later and the audio a player decodes sits
//! at its RTP time within a millisecond.
//!
//! **Gaps.** A packet later than the samples decoded so far (lost packets, DTX, a pause) is
//! preceded by Opus packet-loss concealment (up to 120 ms, fading out) then silence, up to 1 s;
//! a longer jump is not filled: the frame in progress is closed with silence and the next frame
//! starts at the new position (its FLV timestamp jumps forward). Either way the output never
//! drifts from the RTP timestamps. A packet earlier than that (reordered, duplicated) by up to
//! 1 s is dropped; a jump back by more (the sender restarted its clock) is taken as continuing
//! where the stream is, since FLV timestamps must not go back.

use std::collections::VecDeque;

use crate::aacenc_sys::{AAC_FRAME, AacEncoder};
use crate::asc::AudioSpecificConfig;
use crate::{AudioError, flv};

/// Opus's and WebRTC's audio clock.
const RATE: i64 = 48_000;
/// How many samples after a packet's RTP time a player's decoded AAC carries that sample:
/// libvo-aacenc's delay plus the decoder's overlap, measured (`tests/tone.rs` checks it).
pub const AAC_CODEC_DELAY: i64 = 1600;
/// Gaps up to this (1 s) are filled (concealment, then silence); longer ones jump.
const MAX_FILL: i64 = RATE;
/// The longest stretch of Opus packet-loss concealment (120 ms, its largest frame); after it,
/// silence.
const MAX_CONCEAL: i64 = 5760;
/// The largest Opus packet: 120 ms.
const MAX_PACKET: usize = 5760;

/// Settings of an [`OpusToAac`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AacConfig {
    /// AAC bit rate in bit/s, 32 000 to 256 000 (default 96 000: transparent-ish for a voice or
    /// music call in stereo; 64 000 is plenty for mono).
    pub bitrate: u32,
    /// 1 or 2 (default 2). Every Opus packet decodes to either; WebRTC always negotiates
    /// `opus/48000/2` and a browser's packets switch between mono and stereo coding, so the
    /// output's channel count is a choice, not read from the input: 1 when the SDP's fmtp has no
    /// `stereo=1` (browsers send mono then) saves bits and CPU, 2 keeps stereo publishers stereo.
    pub channels: u8,
}

impl Default for AacConfig {
    fn default() -> Self {
        AacConfig { bitrate: 96_000, channels: 2 }
    }
}

/// One AAC frame for FLV/RTMP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AacOut {
    /// The FLV timestamp: milliseconds on the caller's timeline (see [`OpusToAac::new`]).
    pub timestamp_ms: u32,
    /// One raw AAC-LC frame (no ADTS header).
    pub frame: Vec<u8>,
}

impl AacOut {
    /// The FLV/RTMP audio message payload: `[0xAF, 0x01] + frame`.
    pub fn flv_payload(&self) -> Vec<u8> {
        flv::frame(&self.frame)
    }
}

/// Opus (48 kHz RTP) to AAC-LC (48 kHz, FLV milliseconds), one per WebRTC publisher.
pub struct OpusToAac {
    decoder: opus::Decoder,
    encoder: AacEncoder,
    asc: AudioSpecificConfig,
    channels: usize,
    origin_ms: u32,
    /// Timestamps: the last extended RTP time, the first, and the shift a restarted clock added.
    last_rtp: Option<i64>,
    first_rtp: i64,
    shift: i64,
    /// The position just after the last sample decoded (where the next packet should start).
    next: i64,
    /// Decoded samples (interleaved) waiting for a whole AAC frame; the first is at `pending_at`.
    pending: Vec<i16>,
    pending_at: i64,
    /// Position of each frame given to the encoder and not yet past, the first being frame
    /// number `blocks_base`; `fed` frames were given in all.
    blocks: VecDeque<i64>,
    blocks_base: u64,
    fed: u64,
    out: Vec<AacOut>,
    scratch: Vec<i16>,
}

impl OpusToAac {
    /// A transcoder whose first packet (whatever its RTP timestamp) plays at `origin_ms` on the
    /// caller's FLV timeline; every later one at `origin_ms` plus its RTP distance from the first
    /// (in ms). For A/V sync, give the millisecond time the video path gives a video frame
    /// captured at the same instant: from the RTCP sender reports' NTP times of both RTP
    /// streams when known, else from the two first packets' arrival times.
    pub fn new(config: AacConfig, origin_ms: u32) -> Result<Self, AudioError> {
        if !(32_000..=256_000).contains(&config.bitrate) {
            return Err(AudioError::Config(format!("AAC bitrate {} (32000 to 256000)", config.bitrate)));
        }
        let Some(asc) = AudioSpecificConfig::lc(RATE as u32, config.channels) else {
            return Err(AudioError::Config(format!("{} channels (1 or 2)", config.channels)));
        };
        let channels = usize::from(config.channels);
        let layout = if channels == 1 { opus::Channels::Mono } else { opus::Channels::Stereo };
        let decoder = opus::Decoder::new(RATE as u32, layout).map_err(|e| AudioError::OpusDecode(e.to_string()))?;
        let encoder = AacEncoder::new(RATE as u32, channels, config.bitrate)?;
        Ok(OpusToAac {
            decoder,
            encoder,
            asc,
            channels,
            origin_ms,
            last_rtp: None,
            first_rtp: 0,
            shift: 0,
            next: 0,
            pending: Vec::with_capacity(2 * AAC_FRAME * channels),
            pending_at: 0,
            blocks: VecDeque::new(),
            blocks_base: 0,
            fed: 0,
            out: Vec::new(),
            scratch: vec![0; MAX_PACKET * channels],
        })
    }

    /// The AudioSpecificConfig of the output (AAC-LC, 48 kHz, the configured channels): send it
    /// as the FLV AAC sequence header before the first frame. It never changes.
    pub fn audio_specific_config(&self) -> [u8; 2] {
        self.asc.to_bytes()
    }

    /// The FLV/RTMP AAC sequence header payload: `[0xAF, 0x00] + audio_specific_config()`.
    pub fn flv_sequence_header(&self) -> Vec<u8> {
        flv::sequence_header(&self.asc.to_bytes())
    }

    /// Decodes one Opus packet received with RTP timestamp `rtp_ts` (48 kHz) and returns the
    /// AAC frames it completes (zero or more, in order). A packet that cannot be decoded is an
    /// error and counts as lost: the next good packet is preceded by concealment.
    pub fn push(&mut self, rtp_ts: u32, packet: &[u8]) -> Result<Vec<AacOut>, AudioError> {
        let rtp = self.unwrap(rtp_ts);
        if packet.is_empty() {
            return Err(AudioError::OpusDecode("empty packet".into()));
        }
        let samples = opus::packet::get_nb_samples(packet, RATE as u32)
            .map_err(|e| AudioError::OpusDecode(format!("{e} ({} bytes)", packet.len())))?;
        if samples > MAX_PACKET {
            return Err(AudioError::OpusDecode(format!("{samples} samples in one packet (120 ms at most)")));
        }
        let mut at = rtp + self.shift - self.first_rtp;
        let gap = at - self.next;
        if gap < -MAX_FILL {
            // The sender's clock restarted: carry on from where the stream is.
            self.shift -= gap;
            at = self.next;
        } else if gap < 0 {
            // Reordered or repeated: its time has been played (concealed) already.
            return Ok(Vec::new());
        } else if gap > MAX_FILL {
            self.jump(at)?;
        } else if gap > 0 {
            self.fill(gap)?;
        }
        debug_assert_eq!(at, self.next);
        let decoded = self
            .decoder
            .decode(packet, &mut self.scratch, false)
            .map_err(|e| AudioError::OpusDecode(format!("{e} ({} bytes)", packet.len())))?;
        self.pending.extend_from_slice(&self.scratch[..decoded * self.channels]);
        self.next += decoded as i64;
        self.encode_ready()?;
        Ok(std::mem::take(&mut self.out))
    }

    /// Extends a 32-bit RTP timestamp to 64 bits, following wraps either way.
    fn unwrap(&mut self, rtp_ts: u32) -> i64 {
        let rtp = match self.last_rtp {
            None => {
                self.first_rtp = i64::from(rtp_ts);
                i64::from(rtp_ts)
            }
            Some(last) => last + i64::from(rtp_ts.wrapping_sub(last as u32) as i32),
        };
        self.last_rtp = Some(rtp);
        rtp
    }

    /// Fills `gap` samples: packet-loss concealment first, then silence.
    fn fill(&mut self, gap: i64) -> Result<(), AudioError> {
        // Concealment comes in multiples of 2.5 ms (120 samples).
        let conceal = (gap.min(MAX_CONCEAL) / 120 * 120) as usize;
        let mut concealed = 0;
        if conceal > 0 {
            // Should concealment fail (it does not with a valid length), silence stands in.
            let got = self.decoder.decode(&[], &mut self.scratch[..conceal * self.channels], false).unwrap_or(0);
            concealed = got.min(conceal);
            self.pending.extend_from_slice(&self.scratch[..concealed * self.channels]);
        }
        let silence = gap as usize - concealed;
        self.pending.resize(self.pending.len() + silence * self.channels, 0);
        self.next += gap;
        self.encode_ready()
    }

    /// A jump forward past `MAX_FILL`: close the frame in progress with silence, start over at `at`.
    fn jump(&mut self, at: i64) -> Result<(), AudioError> {
        if !self.pending.is_empty() {
            let whole = AAC_FRAME * self.channels;
            self.pending.resize(self.pending.len().div_ceil(whole) * whole, 0);
            self.encode_ready()?;
        }
        self.pending_at = at;
        self.next = at;
        Ok(())
    }

    /// Encodes every whole frame waiting and stamps the frames that come out.
    fn encode_ready(&mut self) -> Result<(), AudioError> {
        let whole = AAC_FRAME * self.channels;
        while self.pending.len() >= whole {
            self.blocks.push_back(self.pending_at);
            let number = self.fed;
            self.fed += 1;
            let encoded = self.encoder.encode(&self.pending[..whole]);
            self.pending.drain(..whole);
            self.pending_at += AAC_FRAME as i64;
            let frame = encoded?;
            // Frame `number` decodes to the encoder's input `AAC_CODEC_DELAY` samples earlier.
            let first = number as i64 * AAC_FRAME as i64 - AAC_CODEC_DELAY;
            if first < 0 {
                continue; // the encoder's priming: nothing of the stream yet
            }
            let block = (first / AAC_FRAME as i64) as u64;
            while self.blocks_base < block {
                self.blocks.pop_front();
                self.blocks_base += 1;
            }
            let Some(&block_at) = self.blocks.front() else {
                unreachable!("the block holding `first` was pushed and not popped");
            };
            let at = block_at + first % AAC_FRAME as i64;
            let ms = (at * 1000 + RATE / 2) / RATE;
            self.out.push(AacOut { timestamp_ms: self.origin_ms.wrapping_add(ms as u32), frame });
        }
        Ok(())
    }
}
