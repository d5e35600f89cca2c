//! Test signals and measurements: gated 1 kHz tone bursts, a Goertzel frequency scan, RMS
//! level, burst onsets, and encoders/decoders for the other side of each transcoder.
#![allow(dead_code)]

use duet_audio::{AAC_FRAME, AacDecoder, AacEncoder, AudioSpecificConfig, OPUS_FRAME};

pub const TONE_HZ: f64 = 1000.0;
/// -12 dBFS peak.
pub const AMPLITUDE: f64 = 0.251_188_6;
/// Bursts: 400 ms of tone, then 100 ms of silence, the first burst after 100 ms of silence.
pub const ON_MS: usize = 400;
pub const OFF_MS: usize = 100;

/// Gated tone bursts, interleaved `channels`, at `rate`, for `ms` milliseconds; the right
/// channel (if any) is the left one at half amplitude, so a channel swap would show.
pub fn bursts(rate: u32, channels: usize, ms: usize) -> Vec<f32> {
    let frames = rate as usize * ms / 1000;
    let mut out = Vec::with_capacity(frames * channels);
    for n in 0..frames {
        let t_ms = n * 1000 / rate as usize;
        let on = t_ms >= OFF_MS && (t_ms - OFF_MS) % (ON_MS + OFF_MS) < ON_MS;
        let v = if on {
            AMPLITUDE * (2.0 * std::f64::consts::PI * TONE_HZ * n as f64 / f64::from(rate)).sin()
        } else {
            0.0
        };
        out.push(v as f32);
        if channels == 2 {
            out.push((v * 0.5) as f32);
        }
    }
    out
}

/// Source sample index (per channel) where each burst starts, up to `frames`.
pub fn burst_onsets(rate: u32, frames: usize) -> Vec<usize> {
    let mut onsets = Vec::new();
    let mut ms = OFF_MS;
    while rate as usize * ms / 1000 < frames {
        onsets.push((rate as usize * ms).div_ceil(1000));
        ms += ON_MS + OFF_MS;
    }
    onsets
}

/// One channel of interleaved samples.
pub fn channel(samples: &[f32], channels: usize, which: usize) -> Vec<f32> {
    samples.iter().skip(which).step_by(channels).copied().collect()
}

pub fn to_i16(samples: &[f32]) -> Vec<i16> {
    samples.iter().map(|&s| (s * 32767.0).round().clamp(-32768.0, 32767.0) as i16).collect()
}

pub fn to_f32(samples: &[i16]) -> Vec<f32> {
    samples.iter().map(|&s| f32::from(s) / 32768.0).collect()
}

/// The frequency (10 Hz steps, 100 Hz to 8 kHz) with the most energy (Goertzel).
pub fn dominant_hz(samples: &[f32], rate: u32) -> f64 {
    let mut best = (0.0, 0.0);
    let mut hz = 100.0;
    while hz <= 8000.0 {
        let w = 2.0 * std::f64::consts::PI * hz / f64::from(rate);
        let coeff = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &x in samples {
            let s0 = f64::from(x) + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
        if power > best.1 {
            best = (hz, power);
        }
        hz += 10.0;
    }
    best.0
}

pub fn rms_db(samples: &[f32]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    10.0 * (sum / samples.len() as f64).log10()
}

/// Where each burst starts in `samples` (one channel): the first sample above a quarter of the
/// tone's amplitude after at least 50 ms under it.
pub fn detect_onsets(samples: &[f32], rate: u32) -> Vec<usize> {
    let threshold = (AMPLITUDE / 4.0) as f32;
    let quiet_needed = rate as usize / 20;
    let mut quiet = 0;
    let mut onsets = Vec::new();
    for (n, &s) in samples.iter().enumerate() {
        if s.abs() > threshold {
            if quiet >= quiet_needed {
                onsets.push(n);
            }
            quiet = 0;
        } else {
            quiet += 1;
        }
    }
    onsets
}

/// Checks the tone: 1 kHz dominant and the RMS of the middle of every burst within 1 dB of
/// the source's (-15 dBFS for a -12 dBFS peak sine; the right channel 6 dB under).
pub fn assert_tone(samples: &[f32], rate: u32, onsets: &[usize], label: &str) {
    assert!(onsets.len() >= 3, "{label}: {} bursts found", onsets.len());
    let source_db = 20.0 * (AMPLITUDE / 2f64.sqrt()).log10();
    for &onset in onsets {
        let start = onset + rate as usize * 100 / 1000;
        let end = onset + rate as usize * 300 / 1000;
        let Some(middle) = samples.get(start..end) else { continue };
        let hz = dominant_hz(middle, rate);
        assert!((hz - TONE_HZ).abs() <= 10.0, "{label}: dominant {hz} Hz in the burst at {onset}");
        let db = rms_db(middle);
        assert!((db - source_db).abs() <= 1.0, "{label}: burst at {onset} is {db:.2} dBFS, source {source_db:.2}");
    }
}

/// Checks each detected onset against the source's, `expected_delay` samples later, within
/// `tolerance` samples; returns the measured delays.
pub fn assert_aligned(
    detected: &[usize],
    source: &[usize],
    expected_delay: i64,
    tolerance: i64,
    label: &str,
) -> Vec<i64> {
    assert!(detected.len() >= 3, "{label}: {} onsets detected", detected.len());
    let mut delays = Vec::new();
    for &d in detected {
        // The source burst this one belongs to: the nearest.
        let s = source.iter().min_by_key(|&&s| (d as i64 - s as i64 - expected_delay).abs()).expect("bursts");
        let delay = d as i64 - *s as i64;
        assert!(
            (delay - expected_delay).abs() <= tolerance,
            "{label}: burst at {s} came out at {d}: delay {delay}, expected {expected_delay} ± {tolerance}"
        );
        delays.push(delay);
    }
    delays
}

/// Places decoded chunks on a timeline by their start (samples from the timeline's 0), zeros
/// between.
pub fn place(chunks: &[(i64, Vec<f32>)], channels: usize) -> Vec<f32> {
    let end = chunks.iter().map(|(at, pcm)| (*at + (pcm.len() / channels) as i64).max(0) as usize).max().unwrap_or(0);
    let mut out = vec![0.0; end * channels];
    for (at, pcm) in chunks {
        // What falls before the timeline's 0 is cut.
        let cut = (-*at).max(0) as usize * channels;
        let from = (*at).max(0) as usize * channels;
        let pcm = &pcm[cut.min(pcm.len())..];
        out[from..from + pcm.len()].copy_from_slice(pcm);
    }
    out
}

/// Encodes interleaved samples with libopus in 20 ms packets (what a browser sends).
pub fn opus_packets(samples: &[f32], channels: usize) -> Vec<Vec<u8>> {
    let layout = if channels == 1 { opus::Channels::Mono } else { opus::Channels::Stereo };
    let mut encoder = opus::Encoder::new(48_000, layout, opus::Application::Audio).expect("opus encoder");
    encoder.set_bitrate(opus::Bitrate::Bits(96_000)).expect("bitrate");
    samples
        .chunks_exact(OPUS_FRAME * channels)
        .map(|chunk| encoder.encode_vec_float(chunk, 4000).expect("encode"))
        .collect()
}

/// Decodes Opus packets placed by their RTP timestamps relative to `base`.
pub fn decode_opus(packets: &[(u32, Vec<u8>)], base: u32, channels: usize) -> Vec<f32> {
    let layout = if channels == 1 { opus::Channels::Mono } else { opus::Channels::Stereo };
    let mut decoder = opus::Decoder::new(48_000, layout).expect("opus decoder");
    let mut chunks = Vec::new();
    let mut pcm = vec![0i16; 5760 * channels];
    for (ts, packet) in packets {
        let n = decoder.decode(packet, &mut pcm, false).expect("our own Opus decodes");
        chunks.push((i64::from(ts.wrapping_sub(base) as i32), to_f32(&pcm[..n * channels])));
    }
    place(&chunks, channels)
}

/// Encodes interleaved samples with libvo-aacenc: raw frames (what an RTMP publisher sends).
pub fn aac_frames(samples: &[f32], rate: u32, channels: usize) -> Vec<Vec<u8>> {
    let mut encoder = AacEncoder::new(rate, channels, 64_000 * channels as u32).expect("aac encoder");
    to_i16(samples).chunks_exact(AAC_FRAME * channels).map(|chunk| encoder.encode(chunk).expect("encode")).collect()
}

/// Decodes AAC frames placed by their millisecond timestamps (relative to `base_ms`, at 48 kHz).
pub fn decode_aac_at_ms(frames: &[(u32, Vec<u8>)], base_ms: u32, asc: &[u8]) -> Vec<f32> {
    let asc = AudioSpecificConfig::parse(asc).expect("our own config");
    let mut decoder = AacDecoder::new(asc).expect("decoder");
    let channels = usize::from(asc.channels);
    let rate = i64::from(asc.sample_rate);
    let mut next: Option<i64> = None;
    let chunks: Vec<_> = frames
        .iter()
        .map(|(ms, frame)| {
            let mut at = i64::from(ms.wrapping_sub(base_ms)) * rate / 1000;
            // Millisecond timestamps round a frame's time: one within a millisecond of the
            // previous frame's end continues it.
            if let Some(next) = next
                && (at - next).abs() <= rate / 1000 + 1
            {
                at = next;
            }
            next = Some(at + AAC_FRAME as i64);
            (at, decoder.decode(frame).expect("our own AAC decodes").to_vec())
        })
        .collect();
    place(&chunks, channels)
}
