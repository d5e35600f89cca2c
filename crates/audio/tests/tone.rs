//! Gated 1 kHz tone bursts (-12 dBFS) through each transcoder, encoded on the input side with
//! the other codec and decoded on the output side: the tone stays 1 kHz, its level within 1 dB,
//! and every burst comes out where the input's timestamps put it (within a few ms), also across
//! lost packets, a publisher pause and a 32-bit RTP timestamp wrap.

mod common;

use common::*;
use duet_audio::{
    AAC_CODEC_DELAY, AAC_FRAME, AacConfig, AacDecoder, AacToOpus, AudioSpecificConfig, OPUS_FRAME, OPUS_LOOKAHEAD,
    OpusConfig, OpusToAac, flv,
};

/// The sender's Opus encoder (in the test, libopus at 48 kHz) delays its content by its look-ahead;
/// receivers do not compensate it (WebRTC's own receivers do not either).
const SENDER_OPUS_DELAY: i64 = OPUS_LOOKAHEAD as i64;
/// Onset detection: the sine needs ~2 samples to pass a quarter of its amplitude; codecs smear
/// an onset by a few more. 2 ms.
const TOLERANCE: i64 = 96;

/// Runs Opus packets (20 ms, RTP from `rtp_base`) through OpusToAac, skipping the packets
/// `lost` says; returns the decoded output placed by its FLV timestamps (48 kHz, from
/// `origin_ms`) and the frames' timestamps.
fn opus_to_aac(
    source: &[f32],
    channels: usize,
    rtp_base: u32,
    origin_ms: u32,
    lost: impl Fn(usize) -> bool,
) -> (Vec<f32>, Vec<u32>) {
    let mut transcoder =
        OpusToAac::new(AacConfig { bitrate: 64_000 * channels as u32, channels: channels as u8 }, origin_ms)
            .expect("transcoder");
    let asc = transcoder.audio_specific_config();
    assert_eq!(
        AudioSpecificConfig::parse(&asc),
        Ok(AudioSpecificConfig { sample_rate: 48_000, channels: channels as u8 })
    );
    assert_eq!(transcoder.flv_sequence_header(), flv::sequence_header(&asc));
    let mut frames = Vec::new();
    for (n, packet) in opus_packets(source, channels).into_iter().enumerate() {
        if lost(n) {
            continue;
        }
        let rtp = rtp_base.wrapping_add((n * OPUS_FRAME) as u32);
        for out in transcoder.push(rtp, &packet).expect("good packet") {
            assert_eq!(out.flv_payload()[..2], [0xAF, 0x01]);
            frames.push((out.timestamp_ms, out.frame));
        }
    }
    let stamps = frames.iter().map(|(ms, _)| *ms).collect();
    (decode_aac_at_ms(&frames, origin_ms, &asc), stamps)
}

/// FLV timestamps step by one frame (21 or 22 ms), except across `jump_after` (a jump).
fn assert_continuous(stamps: &[u32], label: &str) {
    for (i, pair) in stamps.windows(2).enumerate() {
        let step = pair[1].wrapping_sub(pair[0]);
        // Frame i+1 starts 1024 samples after frame i: 21.33 ms, rounded.
        let exact = (i as f64 + 1.0) * 1024.0 / 48.0 - i as f64 * 1024.0 / 48.0;
        assert!((f64::from(step) - exact).abs() <= 1.0, "{label}: step {step} ms after frame {i}");
    }
}

#[test]
fn aac_codec_delay_is_what_opus_to_aac_assumes() {
    // libvo-aacenc → AAC decoder: content comes out AAC_CODEC_DELAY samples later.
    let source = bursts(48_000, 1, 3000);
    let mut decoder = AacDecoder::new(AudioSpecificConfig::lc(48_000, 1).expect("config")).expect("decoder");
    let mut decoded = Vec::new();
    for frame in aac_frames(&source, 48_000, 1) {
        decoded.extend_from_slice(decoder.decode(&frame).expect("decodes"));
    }
    let onsets = burst_onsets(48_000, source.len());
    assert_aligned(&detect_onsets(&decoded, 48_000), &onsets, AAC_CODEC_DELAY, 8, "vo-aacenc round trip");
}

#[test]
fn opus_to_aac_keeps_tone_level_and_time() {
    let source = bursts(48_000, 2, 3000);
    // RTP timestamps wrap 1 s in; the first packet plays at 5000 ms on the FLV timeline.
    let (out, stamps) = opus_to_aac(&source, 2, u32::MAX - 48_000, 5000, |_| false);
    assert_continuous(&stamps, "opus→aac");
    // The first frame out is the stream's start (plus the part of a frame the delay took).
    let first = stamps[0] - 5000;
    assert!(first <= 22, "first frame at +{first} ms");
    let left = channel(&out, 2, 0);
    let onsets = detect_onsets(&left, 48_000);
    let delays =
        assert_aligned(&onsets, &burst_onsets(48_000, source.len() / 2), SENDER_OPUS_DELAY, TOLERANCE, "opus→aac");
    println!("opus→aac burst delays (48 kHz samples, sender's Opus look-ahead {SENDER_OPUS_DELAY}): {delays:?}");
    assert_tone(&left, 48_000, &onsets, "opus→aac left");
    // The right channel is the left at half amplitude: 6 dB under, still 1 kHz.
    let right = channel(&out, 2, 1);
    let middle = &right[onsets[1] + 4800..onsets[1] + 14_400];
    assert!((dominant_hz(middle, 48_000) - 1000.0).abs() <= 10.0);
    let expected = 20.0 * (AMPLITUDE / 2.0 / 2f64.sqrt()).log10();
    assert!((rms_db(middle) - expected).abs() <= 1.0, "right {:.2} dBFS", rms_db(middle));
}

#[test]
fn opus_to_aac_mono_output() {
    let source = bursts(48_000, 1, 2000);
    let (out, stamps) = opus_to_aac(&source, 1, 1234, 0, |_| false);
    assert_continuous(&stamps, "opus→aac mono");
    let onsets = detect_onsets(&out, 48_000);
    assert_aligned(&onsets, &burst_onsets(48_000, source.len()), SENDER_OPUS_DELAY, TOLERANCE, "opus→aac mono");
    assert_tone(&out, 48_000, &onsets, "opus→aac mono");
}

#[test]
fn opus_to_aac_lost_packets_and_a_pause_do_not_drift() {
    let source = bursts(48_000, 1, 7500);
    // Packets 60..65 are lost (100 ms mid-burst, concealed); 2520 ms to 4520 ms is never sent
    // (a 2 s pause, from one silence to another: a jump).
    let (out, stamps) = opus_to_aac(&source, 1, 7, 0, |n| (60..65).contains(&n) || (126..226).contains(&n));
    let jumps: Vec<_> = stamps.windows(2).filter(|p| p[1] - p[0] > 22).collect();
    assert_eq!(jumps.len(), 1, "one timestamp jump, at the pause: {jumps:?}");
    let onsets = detect_onsets(&out, 48_000);
    // Bursts after the pause are where the RTP timestamps say, not pulled earlier.
    let late = onsets.iter().filter(|&&o| o > 226 * OPUS_FRAME).count();
    assert!(late >= 4, "{late} bursts after the pause");
    assert_aligned(&onsets, &burst_onsets(48_000, source.len()), SENDER_OPUS_DELAY, TOLERANCE, "opus→aac with gaps");
}

/// Runs AAC frames (from libvo-aacenc at `rate`, stamped as an RTMP publisher does, from
/// `first_ms`) through AacToOpus, skipping the frames `lost` says; returns the Opus output
/// decoded and placed by RTP timestamp (from the first input's RTP time, `rtp_offset`), and the
/// packets' RTP timestamps.
fn aac_to_opus(
    source: &[f32],
    rate: u32,
    channels: usize,
    first_ms: u32,
    lost: impl Fn(usize) -> bool,
) -> (Vec<f32>, Vec<u32>) {
    let rtp_offset = 90_000;
    let mut transcoder = AacToOpus::new(OpusConfig { bitrate: 64_000, rtp_offset }).expect("transcoder");
    let asc = AudioSpecificConfig::lc(rate, channels as u8).expect("config").to_bytes();
    assert!(transcoder.push(first_ms, &flv::sequence_header(&asc)).expect("config").is_empty());
    let mut packets = Vec::new();
    for (n, frame) in aac_frames(source, rate, channels).into_iter().enumerate() {
        if lost(n) {
            continue;
        }
        let ms = first_ms.wrapping_add((n as u64 * AAC_FRAME as u64 * 1000 / u64::from(rate)) as u32);
        for out in transcoder.push(ms, &flv::frame(&frame)).expect("good frame") {
            packets.push((out.rtp_ts, out.packet));
        }
    }
    let stamps: Vec<u32> = packets.iter().map(|(ts, _)| *ts).collect();
    // The first packet starts the look-ahead before the first input's time.
    assert_eq!(stamps[0], rtp_offset - OPUS_LOOKAHEAD);
    (decode_opus(&packets, rtp_offset, channels), stamps)
}

/// The publisher's AAC encoder delay, in 48 kHz samples, for a stream at `rate`.
fn publisher_aac_delay(rate: u32) -> i64 {
    AAC_CODEC_DELAY * 48_000 / i64::from(rate)
}

#[test]
fn aac_to_opus_keeps_tone_level_and_time() {
    let source = bursts(48_000, 2, 3000);
    let (out, stamps) = aac_to_opus(&source, 48_000, 2, 1000, |_| false);
    assert!(stamps.windows(2).all(|p| p[1].wrapping_sub(p[0]) == OPUS_FRAME as u32), "20 ms steps");
    // Decoding starts at rtp_offset, the first packet 312 earlier: index 0 here is the input's first ms.
    let left = channel(&out, 2, 0);
    let onsets = detect_onsets(&left, 48_000);
    let delays = assert_aligned(
        &onsets,
        &burst_onsets(48_000, source.len() / 2),
        publisher_aac_delay(48_000),
        TOLERANCE,
        "aac→opus",
    );
    println!(
        "aac→opus burst delays (48 kHz samples, the publisher's AAC delay {}): {delays:?}",
        publisher_aac_delay(48_000)
    );
    assert_tone(&left, 48_000, &onsets, "aac→opus left");
}

#[test]
fn aac_44100_is_resampled_keeping_tone_level_and_time() {
    let source = bursts(44_100, 1, 3000);
    let (out, _) = aac_to_opus(&source, 44_100, 1, 0, |_| false);
    let onsets = detect_onsets(&out, 48_000);
    let source_onsets: Vec<usize> = burst_onsets(44_100, source.len()).iter().map(|&s| s * 48_000 / 44_100).collect();
    let delays = assert_aligned(&onsets, &source_onsets, publisher_aac_delay(44_100), TOLERANCE, "aac 44.1k→opus");
    println!("aac 44.1 kHz→opus burst delays: {delays:?} (publisher's AAC delay {})", publisher_aac_delay(44_100));
    assert_tone(&out, 48_000, &onsets, "aac 44.1k→opus");
}

#[test]
fn aac_to_opus_a_pause_does_not_drift() {
    let source = bursts(44_100, 1, 7500);
    // 2510 ms to 4540 ms never sent (a 2 s pause, the AAC delay after it still silent): the RTP
    // timestamps jump with the input's. The input's millisecond clock wraps before the pause.
    let ms = |n: usize| n * AAC_FRAME * 1000 / 44_100;
    let (out, stamps) = aac_to_opus(&source, 44_100, 1, 4_294_966_000, |n| (2510..4540).contains(&ms(n)));
    let jumps: Vec<_> = stamps.windows(2).filter(|p| p[1].wrapping_sub(p[0]) != OPUS_FRAME as u32).collect();
    assert_eq!(jumps.len(), 1, "one RTP jump, at the pause: {jumps:?}");
    let onsets = detect_onsets(&out, 48_000);
    let late = onsets.iter().filter(|&&o| o > 4540 * 48).count();
    assert!(late >= 4, "{late} bursts after the pause");
    let source_onsets: Vec<usize> = burst_onsets(44_100, source.len()).iter().map(|&s| s * 48_000 / 44_100).collect();
    assert_aligned(&onsets, &source_onsets, publisher_aac_delay(44_100), TOLERANCE, "aac→opus with a pause");
}

#[test]
fn aac_config_change_mid_stream_keeps_time() {
    // 2 s of 48 kHz stereo, then the publisher switches to 44.1 kHz mono (a new sequence
    // header) for 3 s more, its timestamps going on.
    let first = bursts(48_000, 2, 2000);
    let second = bursts(44_100, 1, 5000);
    let mut transcoder = AacToOpus::new(OpusConfig::default()).expect("transcoder");
    let mut packets = Vec::new();
    let stereo = AudioSpecificConfig::lc(48_000, 2).expect("config").to_bytes();
    transcoder.push(0, &flv::sequence_header(&stereo)).expect("config");
    for (n, frame) in aac_frames(&first, 48_000, 2).iter().enumerate() {
        let ms = (n * AAC_FRAME * 1000 / 48_000) as u32;
        packets
            .extend(transcoder.push(ms, &flv::frame(frame)).expect("good").into_iter().map(|p| (p.rtp_ts, p.packet)));
    }
    let mono = AudioSpecificConfig::lc(44_100, 1).expect("config").to_bytes();
    transcoder.push(2000, &flv::sequence_header(&mono)).expect("new config");
    let mut mono_packets = Vec::new();
    // The second stream's frames from 2500 ms of its own signal on (a silence), at 2000 ms on.
    let frames = aac_frames(&second, 44_100, 1);
    let skip = 2500 * 44_100 / 1000 / AAC_FRAME + 1;
    for (n, frame) in frames.iter().enumerate().skip(skip) {
        let ms = 2000 + ((n - skip) * AAC_FRAME * 1000 / 44_100) as u32;
        mono_packets
            .extend(transcoder.push(ms, &flv::frame(frame)).expect("good").into_iter().map(|p| (p.rtp_ts, p.packet)));
    }
    assert!(mono_packets.len() > 100, "{} mono packets", mono_packets.len());
    // The stereo stream was closed (drained, padded) before the new one, which starts where its
    // first frame is: 2000 ms.
    assert_eq!(mono_packets[0].0, 2000 * 48 - OPUS_LOOKAHEAD);
    let last_stereo = packets.last().expect("stereo packets").0;
    assert!(last_stereo + OPUS_FRAME as u32 <= mono_packets[0].0, "stereo ends at {last_stereo}");
    assert!(packets.len() >= 99, "{} stereo packets for 1984 ms", packets.len());
    let decoded = decode_opus(&mono_packets, 2000 * 48, 1);
    let onsets = detect_onsets(&decoded, 48_000);
    // The second signal's bursts, relative to the frame that became 2000 ms.
    let offset = (skip * AAC_FRAME * 48_000 / 44_100) as i64;
    let source: Vec<usize> = burst_onsets(44_100, second.len())
        .iter()
        .map(|&s| (s * 48_000 / 44_100) as i64 - offset)
        .filter(|&s| s > 0)
        .map(|s| s as usize)
        .collect();
    assert_aligned(&onsets, &source, publisher_aac_delay(44_100), TOLERANCE, "after the config change");
    assert_tone(&decoded, 48_000, &onsets, "after the config change");
}
