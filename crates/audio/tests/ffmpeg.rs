//! A real peer nobody here wrote: Debian's ffmpeg/ffprobe. OpusToAac's output, written as ADTS
//! and as FLV, is read and decoded by ffmpeg without errors as AAC-LC, 48 kHz, at the FLV
//! timestamps Duet gave it, and the ffmpeg-decoded audio has the tone where the timestamps say;
//! AAC that ffmpeg published in FLV (44.1 kHz) goes through AacToOpus with its tone and level.
//! Each test is skipped, with a message, when ffmpeg is not installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use duet_audio::{AAC_CODEC_DELAY, AacConfig, AacToOpus, AudioSpecificConfig, OPUS_FRAME, OpusConfig, OpusToAac, flv};

fn have_ffmpeg() -> bool {
    let ok = |tool: &str| Command::new(tool).arg("-version").output().is_ok_and(|o| o.status.success());
    if ok("ffmpeg") && ok("ffprobe") {
        return true;
    }
    println!("SKIPPED: ffmpeg/ffprobe not installed (scripts/setup.sh installs them)");
    false
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("duet-audio-{}-{name}", std::process::id()))
}

fn run(tool: &str, args: &[&str]) -> (Vec<u8>, String) {
    let out = Command::new(tool).args(args).output().expect("run the tool");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{tool} {args:?} failed: {stderr}");
    (out.stdout, stderr)
}

/// An FLV file with one audio track: header, then each payload as an audio tag.
fn write_flv(path: &Path, tags: &[(u32, Vec<u8>)]) {
    let mut file = b"FLV\x01\x04\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
    for (ms, payload) in tags {
        let size = payload.len() as u32;
        file.push(8); // audio
        file.extend_from_slice(&size.to_be_bytes()[1..]);
        file.extend_from_slice(&ms.to_be_bytes()[1..]);
        file.push((ms >> 24) as u8);
        file.extend_from_slice(&[0, 0, 0]);
        file.extend_from_slice(payload);
        file.extend_from_slice(&(size + 11).to_be_bytes());
    }
    std::fs::write(path, file).expect("write FLV");
}

/// The audio tags of an FLV file: (timestamp, payload).
fn read_flv_audio(bytes: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let mut at = u32::from_be_bytes(bytes[5..9].try_into().expect("header")) as usize + 4;
    let mut tags = Vec::new();
    while at + 11 <= bytes.len() {
        let kind = bytes[at];
        let size = u32::from_be_bytes([0, bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let ms = u32::from_be_bytes([bytes[at + 7], bytes[at + 4], bytes[at + 5], bytes[at + 6]]);
        let body = &bytes[at + 11..at + 11 + size];
        if kind == 8 {
            tags.push((ms, body.to_vec()));
        }
        at += 11 + size + 4;
    }
    tags
}

fn probe(path: &Path) -> String {
    let path = path.to_str().expect("utf-8 temp path");
    let (out, _) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,profile,sample_rate,channels",
            "-of",
            "default=nw=1",
            path,
        ],
    );
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes with ffmpeg to interleaved f32 (as many channels as the stream has); ffmpeg must
/// report no error.
fn ffmpeg_decode(path: &Path) -> Vec<f32> {
    let path = path.to_str().expect("utf-8 temp path");
    let (pcm, stderr) = run("ffmpeg", &["-v", "error", "-i", path, "-f", "f32le", "-"]);
    assert!(stderr.trim().is_empty(), "ffmpeg reported: {stderr}");
    pcm.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect()
}

#[test]
fn ffmpeg_reads_opus_to_aac_output_as_aac_lc_48k() {
    if !have_ffmpeg() {
        return;
    }
    let source = bursts(48_000, 1, 3000);
    let mut transcoder = OpusToAac::new(AacConfig { bitrate: 64_000, channels: 1 }, 0).expect("transcoder");
    let asc = AudioSpecificConfig::parse(&transcoder.audio_specific_config()).expect("our config");
    let mut adts = Vec::new();
    let mut tags = vec![(0, transcoder.flv_sequence_header())];
    for (n, packet) in opus_packets(&source, 1).iter().enumerate() {
        for out in transcoder.push((n * OPUS_FRAME) as u32, packet).expect("good packet") {
            adts.extend_from_slice(&asc.adts_header(out.frame.len()).expect("fits"));
            adts.extend_from_slice(&out.frame);
            tags.push((out.timestamp_ms, out.flv_payload()));
        }
    }
    let adts_path = temp_path("out.aac");
    let flv_path = temp_path("out.flv");
    std::fs::write(&adts_path, &adts).expect("write ADTS");
    write_flv(&flv_path, &tags);

    for path in [&adts_path, &flv_path] {
        let info = probe(path);
        for expected in ["codec_name=aac", "profile=LC", "sample_rate=48000", "channels=1"] {
            assert!(info.lines().any(|l| l == expected), "{}: {expected} not in\n{info}", path.display());
        }
    }
    // ffprobe sees the FLV packets at the timestamps Duet gave them.
    let flv = flv_path.to_str().expect("utf-8");
    let (pts, _) = run("ffprobe", &["-v", "error", "-show_entries", "packet=pts", "-of", "csv=p=0", flv]);
    let pts: Vec<u32> = String::from_utf8_lossy(&pts).lines().filter_map(|l| l.trim().parse().ok()).collect();
    let ours: Vec<u32> = tags[1..].iter().map(|(ms, _)| *ms).collect();
    assert_eq!(pts, ours);

    // ffmpeg decodes the ADTS stream (every frame from the first) with the tone where the
    // FLV timestamps say: the first frame is stamped where its decoded audio belongs.
    let decoded = ffmpeg_decode(&adts_path);
    let first_ms = i64::from(tags[1].0);
    let onsets = detect_onsets(&decoded, 48_000);
    // Decoded sample k of the first frame is at first_ms + k; the source's onsets moved by the
    // sender's Opus look-ahead, as in tests/tone.rs.
    let shifted: Vec<usize> = onsets.iter().map(|&o| o + (first_ms * 48) as usize).collect();
    assert_aligned(&shifted, &burst_onsets(48_000, source.len()), 312, 96 + 48, "ffmpeg-decoded ADTS");
    assert_tone(&decoded, 48_000, &onsets, "ffmpeg-decoded ADTS");
    // Sanity of the constant this relies on: the first frame out is the one whose content
    // starts at or after the stream's start.
    assert!(first_ms * 48 < 1024 + AAC_CODEC_DELAY);
    let _ = std::fs::remove_file(adts_path);
    let _ = std::fs::remove_file(flv_path);
}

#[test]
fn ffmpeg_published_flv_aac_goes_through_aac_to_opus() {
    if !have_ffmpeg() {
        return;
    }
    // What an RTMP publisher sends: ffmpeg's AAC-LC at 44.1 kHz stereo in FLV.
    let path = temp_path("published.flv");
    let out = path.to_str().expect("utf-8");
    run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1000:sample_rate=44100:duration=3",
            "-ac",
            "2",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-f",
            "flv",
            out,
        ],
    );
    let tags = read_flv_audio(&std::fs::read(&path).expect("read FLV"));
    // The level to keep: ffmpeg's own decoding of what it published (its mono-to-stereo upmix
    // is 3 dB under the sine's).
    let reference = channel(&ffmpeg_decode(&path), 2, 0);
    let _ = std::fs::remove_file(&path);
    assert!(matches!(flv::parse(&tags[0].1), Ok(flv::FlvAac::SequenceHeader(_))), "sequence header first");
    let mut transcoder = AacToOpus::new(OpusConfig::default()).expect("transcoder");
    let mut packets = Vec::new();
    for (ms, payload) in &tags {
        packets.extend(transcoder.push(*ms, payload).expect("ffmpeg's AAC").into_iter().map(|p| (p.rtp_ts, p.packet)));
    }
    assert!(packets.windows(2).all(|p| p[1].0.wrapping_sub(p[0].0) == OPUS_FRAME as u32), "20 ms steps");
    assert!(packets.len() >= 140, "{} packets for 3 s", packets.len());
    let decoded = decode_opus(&packets, 0, 2);
    let left = channel(&decoded, 2, 0);
    let middle = &left[48_000..96_000];
    assert!((dominant_hz(middle, 48_000) - 1000.0).abs() <= 10.0);
    let expected = rms_db(&reference[44_100..88_200]);
    assert!((rms_db(middle) - expected).abs() <= 1.0, "{:.2} dBFS, expected {expected:.2}", rms_db(middle));
}
