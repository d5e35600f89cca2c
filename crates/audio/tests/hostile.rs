//! Hostile input: garbage and truncated Opus packets, corrupt AAC frames, configs Duet does not
//! transcode, FLV payloads that are not AAC. Each is a clear error, never a panic, and the next
//! good input goes on where the stream is.

mod common;

use common::*;
use duet_audio::{
    AAC_FRAME, AacConfig, AacToOpus, AudioError, AudioSpecificConfig, OPUS_FRAME, OpusConfig, OpusToAac, flv,
};

/// A tiny deterministic generator (xorshift) for garbage.
struct Noise(u64);

impl Noise {
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0 as u8
            })
            .collect()
    }
}

#[test]
fn garbage_opus_packets_are_errors_and_the_stream_goes_on() {
    let source = bursts(48_000, 2, 2000);
    let packets = opus_packets(&source, 2);
    let mut transcoder = OpusToAac::new(AacConfig::default(), 0).expect("transcoder");
    let mut frames = 0;
    let mut errors = 0;
    for (n, packet) in packets.iter().enumerate() {
        let rtp = (n * OPUS_FRAME) as u32;
        // Every 10th packet is replaced by garbage of the same timestamp: an error, then the
        // stream goes on (its 20 ms concealed).
        let bad: Option<Vec<u8>> = match n % 10 {
            3 => Some(Vec::new()),                                           // empty
            6 => Some(vec![0xFF; 3]),                                        // code 3, truncated frame count
            9 => Some(packet[..1].iter().chain(&[0x03]).copied().collect()), // a TOC and one byte
            _ => None,
        };
        let result = match &bad {
            Some(garbage) => transcoder.push(rtp, garbage),
            None => transcoder.push(rtp, packet),
        };
        match result {
            Ok(out) => frames += out.len(),
            Err(AudioError::OpusDecode(why)) => {
                assert!(bad.is_some(), "good packet {n} refused: {why}");
                assert!(!why.is_empty());
                errors += 1;
            }
            Err(other) => panic!("packet {n}: unexpected {other}"),
        }
    }
    assert!(errors >= 12, "{errors} errors");
    // 2 s of audio: 93 frames, less the encoder's priming; nothing lost to the bad packets.
    assert!(frames >= 90, "{frames} frames");
}

#[test]
fn random_bytes_never_panic_either_transcoder() {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let mut to_aac = OpusToAac::new(AacConfig { bitrate: 64_000, channels: 1 }, 0).expect("transcoder");
    let mut to_opus = AacToOpus::new(OpusConfig::default()).expect("transcoder");
    to_opus.push(0, &flv::sequence_header(&[0x11, 0x90])).expect("48 kHz stereo");
    for n in 0..3000u32 {
        let len = (n as usize * 7) % 300;
        let mut bytes = noise.bytes(len);
        let _ = to_aac.push(n * 960, &bytes);
        // As AAC frames (after a valid FLV header) and as whole FLV payloads.
        let _ = to_opus.push(n * 21, &flv::frame(&bytes));
        if let Some(first) = bytes.first_mut() {
            *first = 0xAF;
        }
        let _ = to_opus.push(n * 21, &bytes);
        // A valid config now and then, since a bad one stops frames until a good one comes.
        if n % 50 == 0 {
            let _ = to_opus.push(n * 21, &flv::sequence_header(&[0x12, 0x10]));
        }
    }
}

#[test]
fn corrupt_aac_frames_are_errors_and_become_silence() {
    let source = bursts(48_000, 1, 2000);
    let frames = aac_frames(&source, 48_000, 1);
    let mut transcoder = AacToOpus::new(OpusConfig::default()).expect("transcoder");
    let asc = AudioSpecificConfig::lc(48_000, 1).expect("config").to_bytes();
    transcoder.push(0, &flv::sequence_header(&asc)).expect("config");
    let mut packets = Vec::new();
    let mut errors = 0;
    let mut noise = Noise(7);
    for (n, frame) in frames.iter().enumerate() {
        let ms = (n * AAC_FRAME * 1000 / 48_000) as u32;
        let bad = match n % 8 {
            2 => Some(frame[..frame.len() / 3].to_vec()), // truncated
            5 => Some(noise.bytes(frame.len())),          // garbage
            7 => Some(Vec::new()),                        // empty
            _ => None,
        };
        match transcoder.push(ms, &flv::frame(bad.as_deref().unwrap_or(frame))) {
            Ok(out) => packets.extend(out.into_iter().map(|p| (p.rtp_ts, p.packet))),
            Err(AudioError::AacDecode(_)) if bad.is_some() => errors += 1,
            Err(e) => panic!("frame {n} (bad: {}): {e}", bad.is_some()),
        }
    }
    // Random bytes can decode as a valid (odd) frame; truncated and empty ones cannot.
    assert!(errors >= 2 * frames.len() / 8, "{errors} errors");
    // Every frame, bad ones as silence, keeps its place: 2 s of 20 ms packets, no RTP jump.
    let steps_ok = packets.windows(2).all(|p| p[1].0.wrapping_sub(p[0].0) == OPUS_FRAME as u32);
    assert!(steps_ok, "contiguous RTP timestamps");
    let expected = frames.len() * AAC_FRAME / OPUS_FRAME;
    assert!(packets.len() + 2 >= expected, "{} packets, expected about {expected}", packets.len());
    // And the good frames still carry the tone.
    let decoded = decode_opus(&packets, packets[0].0, 1);
    let middle = &decoded[9600..19200];
    assert!((dominant_hz(middle, 48_000) - 1000.0).abs() <= 10.0);
}

#[test]
fn configs_duet_does_not_transcode_are_refused_until_a_good_one() {
    let mut transcoder = AacToOpus::new(OpusConfig::default()).expect("transcoder");
    // A frame before any config.
    assert_eq!(transcoder.push(0, &flv::frame(&[0x21, 0x10])), Err(AudioError::NoConfig));
    for (asc, needle) in [
        (&[0x2B, 0x92, 0x08, 0x00][..], "HE-AAC"),
        (&[0xEB, 0x92][..], "HE-AAC"),
        (&[0x12, 0x30][..], "channel configuration 6"),
        (&[0x17, 0x80, 0x00, 0x00, 0x10][..], "sample rate 0 Hz"),
        (&[0x16, 0x90][..], "sampling frequency index 13"),
        (&[][..], "0 bytes"),
    ] {
        match transcoder.push(0, &flv::sequence_header(asc)) {
            Err(e @ AudioError::UnsupportedConfig(_)) => assert!(e.to_string().contains(needle), "{e}"),
            other => panic!("{asc:02x?}: {other:?}"),
        }
        assert_eq!(transcoder.push(0, &flv::frame(&[0x21, 0x10])), Err(AudioError::NoConfig));
    }
    // Not AAC at all: MP3 (sound format 2), Speex (11); too short.
    for payload in [&[0x2F, 0x01, 0, 0][..], &[0xB2, 0x01, 0][..], &[0xAF][..], &[][..]] {
        assert!(matches!(transcoder.push(0, payload), Err(AudioError::BadFlvAudio(_))), "{payload:02x?}");
    }
    // A good config, then good frames: packets come out.
    let source = bursts(44_100, 2, 500);
    transcoder.push(0, &flv::sequence_header(&[0x12, 0x10])).expect("44.1 kHz stereo");
    let mut packets = 0;
    for (n, frame) in aac_frames(&source, 44_100, 2).iter().enumerate() {
        packets += transcoder.push((n * 1024 * 1000 / 44_100) as u32, &flv::frame(frame)).expect("good").len();
    }
    assert!(packets >= 20, "{packets} packets");
}

#[test]
fn bad_configurations_are_refused() {
    assert!(matches!(OpusToAac::new(AacConfig { bitrate: 96_000, channels: 3 }, 0), Err(AudioError::Config(_))));
    assert!(matches!(OpusToAac::new(AacConfig { bitrate: 96_000, channels: 0 }, 0), Err(AudioError::Config(_))));
    assert!(matches!(OpusToAac::new(AacConfig { bitrate: 1_000_000, channels: 2 }, 0), Err(AudioError::Config(_))));
    assert!(matches!(AacToOpus::new(OpusConfig { bitrate: 1, rtp_offset: 0 }), Err(AudioError::Config(_))));
}

#[test]
fn transcoders_can_move_between_threads() {
    fn is_send<T: Send>() {}
    is_send::<OpusToAac>();
    is_send::<AacToOpus>();
}
