//! [`AacToOpus`]: FLV/RTMP AAC audio payloads (sequence header and raw AAC-LC frames, with
//! millisecond timestamps) in, 20 ms Opus packets at 48 kHz with RTP timestamps out, for
//! WebRTC players of an RTMP publisher.
//!
//! **Time.** The output's RTP clock is the input's millisecond clock × 48, moved to start at
//! the configured `rtp_offset`: content that the input places at `t` ms plays at RTP time
//! `rtp_offset + 48 × (t − t0)`, `t0` being the first frame's timestamp. Each packet's RTP
//! timestamp is the time of the first sample a receiver decodes from it, which is the encoder's
//! input [`OPUS_LOOKAHEAD`] samples (6.5 ms) earlier, so the first packet carries
//! `rtp_offset − 312` (wrapping). A 44.1 kHz (or other) stream is resampled with its delay
//! trimmed, so no resampler delay remains either.
//!
//! **Gaps.** Samples are counted from the start of a *segment*; a frame whose timestamp is
//! within 30 ms of where the count puts it continues the segment (FLV millisecond timestamps
//! jitter by a rounding, some publishers' by more). A frame further ahead, or more than 1 s
//! behind (a publisher that restarted its clock), ends the segment — the resampler is drained,
//! the last packet padded with silence — and starts a new one at its own timestamp: the RTP
//! timestamps jump with it, and the receiver's jitter buffer conceals the gap, as for DTX.
//! A frame 30 ms to 1 s behind (overlapping what was sent) is decoded, to keep the decoder's
//! state, and dropped. A corrupt frame is an error and becomes one frame of silence.

use crate::AudioError;
use crate::aacdec::AacDecoder;
use crate::aacenc_sys::AAC_FRAME;
use crate::asc::AudioSpecificConfig;
use crate::flv::{self, FlvAac};
use crate::resample::{OUTPUT_RATE, Resampler};

/// Samples per Opus packet: 20 ms at 48 kHz.
pub const OPUS_FRAME: usize = 960;
/// libopus's look-ahead at 48 kHz (application `Audio`): 6.5 ms. The encoder reports it; this
/// is what it reports, for callers' arithmetic.
pub const OPUS_LOOKAHEAD: u32 = 312;
/// How far (48 kHz samples) a frame's timestamp may be from the sample count: 30 ms.
const TOLERANCE: i64 = 30 * 48;
/// How far behind a frame is dropped rather than starting a new segment: 1 s.
const MAX_BEHIND: i64 = 48_000;
/// Room for one encoded packet (libopus's recommended maximum).
const MAX_OPUS_PACKET: usize = 4000;

/// Settings of an [`AacToOpus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusConfig {
    /// Opus bit rate in bit/s, 16 000 to 256 000 (default 64 000).
    pub bitrate: u32,
    /// The RTP timestamp of the first input frame's time (default 0; see the module docs).
    pub rtp_offset: u32,
}

impl Default for OpusConfig {
    fn default() -> Self {
        OpusConfig { bitrate: 64_000, rtp_offset: 0 }
    }
}

/// One 20 ms Opus packet for an RTP writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusOut {
    /// RTP timestamp, 48 kHz.
    pub rtp_ts: u32,
    /// The Opus packet (one 20 ms frame, mono or stereo as the AAC input).
    pub packet: Vec<u8>,
}

/// AAC-LC (FLV) to Opus (48 kHz RTP), one per RTMP publisher with WebRTC players.
pub struct AacToOpus {
    config: OpusConfig,
    stream: Option<Stream>,
    encoder: Option<(opus::Encoder, usize)>,
    /// The last extended input timestamp and the first frame's.
    last_ms: Option<i64>,
    first_ms: Option<i64>,
    segment: Option<Segment>,
    out: Vec<OpusOut>,
    silence: Vec<f32>,
}

/// What a sequence header set up.
struct Stream {
    decoder: AacDecoder,
    resampler: Option<Resampler>,
    channels: usize,
}

/// A stretch of contiguous output.
struct Segment {
    /// Where it starts, in 48 kHz samples from the first frame's time.
    start: i64,
    /// Input frames (at the input's rate) taken, and packets made.
    taken: u64,
    packets: u64,
    /// 48 kHz interleaved samples waiting for a whole packet.
    pending: Vec<f32>,
}

impl AacToOpus {
    /// A transcoder; nothing comes out until a sequence header and then frames arrive.
    pub fn new(config: OpusConfig) -> Result<Self, AudioError> {
        if !(16_000..=256_000).contains(&config.bitrate) {
            return Err(AudioError::Config(format!("Opus bitrate {} (16000 to 256000)", config.bitrate)));
        }
        Ok(AacToOpus {
            config,
            stream: None,
            encoder: None,
            last_ms: None,
            first_ms: None,
            segment: None,
            out: Vec::new(),
            silence: Vec::new(),
        })
    }

    /// Takes one FLV/RTMP audio payload (`0xAF 0x00` + AudioSpecificConfig, or `0xAF 0x01` +
    /// raw AAC frame) with its timestamp in ms and returns the Opus packets it completes, in
    /// order. A refused input is an error and the transcoder goes on with the next: a corrupt
    /// frame becomes silence (its packets come out with the next call), an unsupported config
    /// stops output until a supported one arrives.
    pub fn push(&mut self, timestamp_ms: u32, flv_aac_payload: &[u8]) -> Result<Vec<OpusOut>, AudioError> {
        match flv::parse(flv_aac_payload)? {
            FlvAac::SequenceHeader(asc) => self.configure(asc)?,
            FlvAac::Frame(frame) => self.frame(timestamp_ms, frame)?,
        }
        Ok(std::mem::take(&mut self.out))
    }

    /// Takes a raw AAC frame (no FLV header) with its timestamp in ms, after
    /// [`configure`](Self::configure): [`push`](Self::push) without the FLV header.
    pub fn push_frame(&mut self, timestamp_ms: u32, frame: &[u8]) -> Result<Vec<OpusOut>, AudioError> {
        self.frame(timestamp_ms, frame)?;
        Ok(std::mem::take(&mut self.out))
    }

    /// Takes an AudioSpecificConfig (the sequence header without its FLV header). The same
    /// config again changes nothing; another ends the current segment and starts the new
    /// stream; an unsupported one is an error and frames are refused until a good one comes.
    pub fn configure(&mut self, asc: &[u8]) -> Result<(), AudioError> {
        let parsed = AudioSpecificConfig::parse(asc);
        if let (Ok(asc), Some(stream)) = (&parsed, &self.stream)
            && stream.decoder.config() == *asc
        {
            return Ok(());
        }
        self.end_segment()?;
        self.stream = None;
        let asc = parsed?;
        let channels = usize::from(asc.channels);
        let resampler =
            if asc.sample_rate == OUTPUT_RATE { None } else { Some(Resampler::new(asc.sample_rate, channels)?) };
        self.stream = Some(Stream { decoder: AacDecoder::new(asc)?, resampler, channels });
        Ok(())
    }

    fn frame(&mut self, timestamp_ms: u32, frame: &[u8]) -> Result<(), AudioError> {
        let Some(stream) = &self.stream else {
            return Err(AudioError::NoConfig);
        };
        let rate = i64::from(stream.decoder.config().sample_rate);
        let ms = self.unwrap(timestamp_ms);
        let first = *self.first_ms.get_or_insert(ms);
        let at = (ms - first) * 48;
        let mut drop = false;
        if let Some(segment) = &self.segment {
            let expected = segment.start + segment.taken as i64 * i64::from(OUTPUT_RATE) / rate;
            let off = at - expected;
            if !(-MAX_BEHIND..=TOLERANCE).contains(&off) {
                self.end_segment()?;
                // The decoder's overlap from the last frame does not belong before this one.
                if let Some(stream) = &mut self.stream {
                    stream.decoder.reset();
                }
            } else if off < -TOLERANCE {
                drop = true;
            }
        }
        let Some(stream) = &mut self.stream else { unreachable!("checked above") };
        let channels = stream.channels;
        let decoded = stream.decoder.decode(frame);
        if drop {
            return decoded.map(|_| ());
        }
        let segment = self.segment.get_or_insert_with(|| Segment {
            start: at,
            taken: 0,
            packets: 0,
            pending: Vec::with_capacity(4 * OPUS_FRAME * channels),
        });
        self.silence.resize(AAC_FRAME * channels, 0.0);
        let (pcm, error) = match decoded {
            Ok(pcm) => (pcm, None),
            Err(e) => (&self.silence[..], Some(e)),
        };
        match &mut stream.resampler {
            Some(resampler) => resampler.push(pcm, &mut segment.pending)?,
            None => segment.pending.extend_from_slice(pcm),
        }
        segment.taken += AAC_FRAME as u64;
        // A corrupt frame's silence is encoded with the next call: an error returns no packets.
        match error {
            Some(e) => Err(e),
            None => self.encode_ready(),
        }
    }

    /// Extends a 32-bit millisecond timestamp, following wraps.
    fn unwrap(&mut self, timestamp_ms: u32) -> i64 {
        let ms = match self.last_ms {
            None => i64::from(timestamp_ms),
            Some(last) => last + i64::from(timestamp_ms.wrapping_sub(last as u32) as i32),
        };
        self.last_ms = Some(ms);
        ms
    }

    /// Closes the current segment: what the resampler holds, then silence to a whole packet.
    fn end_segment(&mut self) -> Result<(), AudioError> {
        let Some(segment) = &mut self.segment else { return Ok(()) };
        if let Some(Stream { resampler: Some(resampler), .. }) = &mut self.stream {
            resampler.flush(&mut segment.pending)?;
        }
        let channels = self.stream.as_ref().map_or(1, |s| s.channels);
        let whole = OPUS_FRAME * channels;
        if !segment.pending.is_empty() {
            segment.pending.resize(segment.pending.len().div_ceil(whole) * whole, 0.0);
        }
        let result = self.encode_ready();
        self.segment = None;
        result
    }

    /// Encodes every whole packet waiting in the segment.
    fn encode_ready(&mut self) -> Result<(), AudioError> {
        let (Some(segment), Some(stream)) = (&mut self.segment, &self.stream) else { return Ok(()) };
        let channels = stream.channels;
        let whole = OPUS_FRAME * channels;
        if segment.pending.len() < whole {
            return Ok(());
        }
        if self.encoder.as_ref().is_none_or(|(_, c)| *c != channels) {
            self.encoder = Some((make_encoder(self.config.bitrate, channels)?, channels));
        }
        let Some((encoder, _)) = &mut self.encoder else { unreachable!("made above") };
        let mut buf = [0u8; MAX_OPUS_PACKET];
        let mut done = 0;
        while segment.pending.len() - done >= whole {
            let len = encoder
                .encode_float(&segment.pending[done..done + whole], &mut buf)
                .map_err(|e| AudioError::OpusEncode(e.to_string()))?;
            let at = segment.start + (segment.packets * OPUS_FRAME as u64) as i64;
            let rtp_ts = self.config.rtp_offset.wrapping_add(at as u32).wrapping_sub(OPUS_LOOKAHEAD);
            self.out.push(OpusOut { rtp_ts, packet: buf[..len].to_vec() });
            segment.packets += 1;
            done += whole;
        }
        segment.pending.drain(..done);
        Ok(())
    }
}

fn make_encoder(bitrate: u32, channels: usize) -> Result<opus::Encoder, AudioError> {
    let layout = if channels == 1 { opus::Channels::Mono } else { opus::Channels::Stereo };
    let fail = |e: opus::Error| AudioError::OpusEncode(e.to_string());
    let mut encoder = opus::Encoder::new(OUTPUT_RATE, layout, opus::Application::Audio).map_err(fail)?;
    encoder.set_bitrate(opus::Bitrate::Bits(bitrate as i32)).map_err(fail)?;
    let lookahead = encoder.get_lookahead().map_err(fail)?;
    if lookahead != OPUS_LOOKAHEAD as i32 {
        return Err(AudioError::OpusEncode(format!("libopus's look-ahead is {lookahead}, not {OPUS_LOOKAHEAD}")));
    }
    Ok(encoder)
}
