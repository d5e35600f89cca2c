//! CPU cost per second of audio, each direction (the server runs one transcoder per stream).
//! Ignored by default; run in release:
//! `cargo test --release -p duet-audio --test bench -- --ignored --nocapture`
//! It measures the calling thread's CPU time (`/proc/thread-self/schedstat`), not wall time.

mod common;

use common::*;
use duet_audio::{AAC_FRAME, AacConfig, AacToOpus, AudioSpecificConfig, OPUS_FRAME, OpusConfig, OpusToAac, flv};

const SECONDS: usize = 30;

/// This thread's CPU time so far, in ns.
fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux schedstat");
    stat.split_whitespace().next().and_then(|ns| ns.parse().ok()).expect("CPU time in ns")
}

fn report(label: &str, cpu_ns: u64) {
    let per_second_ms = cpu_ns as f64 / 1e6 / SECONDS as f64;
    println!("bench {label}: {per_second_ms:.2} ms CPU per second of audio ({:.0}× real time)", 1000.0 / per_second_ms);
}

#[test]
#[ignore = "a measurement: run in release with --ignored --nocapture"]
fn bench_opus_to_aac() {
    for channels in [2usize, 1] {
        let packets = opus_packets(&bursts(48_000, channels, SECONDS * 1000), channels);
        let config = AacConfig { bitrate: if channels == 2 { 96_000 } else { 64_000 }, channels: channels as u8 };
        let mut transcoder = OpusToAac::new(config, 0).expect("transcoder");
        let start = thread_cpu_ns();
        let mut frames = 0;
        for (n, packet) in packets.iter().enumerate() {
            frames += transcoder.push((n * OPUS_FRAME) as u32, packet).expect("good").len();
        }
        let cpu = thread_cpu_ns() - start;
        assert!(frames > SECONDS * 46);
        report(&format!("opus→aac {channels} ch, AAC {} kbit/s", config.bitrate / 1000), cpu);
    }
}

#[test]
#[ignore = "a measurement: run in release with --ignored --nocapture"]
fn bench_aac_to_opus() {
    for (rate, channels) in [(48_000u32, 2usize), (44_100, 2), (44_100, 1)] {
        let frames = aac_frames(&bursts(rate, channels, SECONDS * 1000), rate, channels);
        let mut transcoder = AacToOpus::new(OpusConfig::default()).expect("transcoder");
        let asc = AudioSpecificConfig::lc(rate, channels as u8).expect("config").to_bytes();
        transcoder.push(0, &flv::sequence_header(&asc)).expect("config");
        let payloads: Vec<_> = frames.iter().map(|f| flv::frame(f)).collect();
        let start = thread_cpu_ns();
        let mut packets = 0;
        for (n, payload) in payloads.iter().enumerate() {
            let ms = (n as u64 * AAC_FRAME as u64 * 1000 / u64::from(rate)) as u32;
            packets += transcoder.push(ms, payload).expect("good").len();
        }
        let cpu = thread_cpu_ns() - start;
        assert!(packets > SECONDS * 49);
        report(&format!("aac→opus {} kHz {channels} ch, Opus 64 kbit/s", f64::from(rate) / 1000.0), cpu);
    }
}
