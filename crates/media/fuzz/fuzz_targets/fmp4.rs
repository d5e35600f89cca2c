//! fMP4 from arbitrary sequence headers and samples never panics, and what it writes is
//! well-formed: the init segment is `ftyp` + `moov` whose boxes (and `esds` descriptors) tile
//! their parents exactly, and every fragment is `moof` + `mdat` for the previous sample of the
//! pushed packet's track, numbered in order, with a data offset into its `mdat`, and the
//! decode time and duration the module documents (1 ms units from the first sample written,
//! audio before the first video keyframe dropped).
//!
//! The unit test `random_sequence_headers_and_samples_never_panic` in fmp4.rs throws random
//! bytes at the same code; this target steers the bytes by coverage and checks the output.
#![no_main]
use bytes::Bytes;
use duet_media::fmp4::{AacConfig, AvcConfig, Fmp4Muxer, mime_type};
use duet_media::{Kind, Packet};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const MAX_PACKETS: usize = 64;
const VIDEO_TRACK: u32 = 1;
const AUDIO_TRACK: u32 = 2;

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});

/// A sample waiting for the next one of its track, as the muxer should hold it.
struct Sample {
    timestamp: u32,
    keyframe: bool,
    cto: i32,
    data: Vec<u8>,
}

fn run(u: &mut Unstructured) -> Result<()> {
    let tracks: u8 = u.arbitrary()?;
    let avc_len = usize::from(u.arbitrary::<u16>()? % 512);
    let mut avc_header = u.bytes(avc_len.min(u.len()))?.to_vec();
    if tracks & 4 != 0 {
        avc_header = shaped_avc_header(&avc_header);
    }
    let aac_len = usize::from(u.arbitrary::<u8>()? % 80);
    let aac_header = u.bytes(aac_len.min(u.len()))?.to_vec();
    let video = AvcConfig::from_sequence_header(&avc_header).filter(|_| tracks & 1 == 0);
    let audio = AacConfig::from_sequence_header(&aac_header).filter(|_| tracks & 2 == 0);
    if let Some(v) = &video {
        let codec = v.codec();
        assert!(codec.len() == 11 && codec.starts_with("avc1."), "{codec}");
    }
    if let Some(a) = &audio {
        assert!(a.codec().starts_with("mp4a.40."));
        assert!(a.channels >= 1 && a.sample_rate >= 7350);
    }
    if video.is_none() && audio.is_none() {
        return Ok(());
    }
    let _ = mime_type(video.as_ref(), audio.as_ref());
    let mut m = Fmp4Muxer::new(video.clone(), audio.clone());
    check_init(&m.init_segment(), video.is_some().then(|| &avc_header[5..]), audio.is_some().then(|| &aac_header[2..]));
    for (kind, header) in [(Kind::Video, &avc_header), (Kind::Audio, &aac_header)] {
        assert!(!m.config_changed(&Packet::new(kind, 0, Bytes::from(header.clone()))), "its own header changed");
    }

    // The model: the first sample written (time zero), the waiting sample per track.
    let mut base: Option<u32> = None;
    let mut pending: [Option<Sample>; 2] = [None, None];
    let mut sequence = 0u32;
    let mut timestamp: u32 = u.arbitrary()?;
    for _ in 0..MAX_PACKETS {
        if u.is_empty() {
            break;
        }
        let kind = [Kind::Video, Kind::Audio, Kind::Metadata][u.int_in_range(0..=2)?];
        timestamp = timestamp.wrapping_add_signed(i32::from(u.arbitrary::<i16>()?));
        let len = usize::from(u.arbitrary::<u16>()? % 1024);
        let payload = u.bytes(len.min(u.len()))?.to_vec();
        let p = Packet::new(kind, timestamp, Bytes::from(payload.clone()));

        let changed = m.config_changed(&p);
        let expect_changed = p.sequence_header
            && match kind {
                Kind::Video => video.is_some() && payload.get(5..) != avc_header.get(5..),
                Kind::Audio => audio.is_some() && payload.get(2..) != aac_header.get(2..),
                Kind::Metadata => false,
            };
        assert_eq!(changed, expect_changed, "config_changed");

        let out = m.push(&p);
        let sample = match kind {
            _ if p.sequence_header => None,
            Kind::Video if video.is_some() && payload.len() > 5 => {
                let cto = i32::from_be_bytes([0, payload[2], payload[3], payload[4]]) << 8 >> 8;
                Some((VIDEO_TRACK, Sample { timestamp, keyframe: p.keyframe, cto, data: payload[5..].to_vec() }))
            }
            Kind::Audio if audio.is_some() && payload.len() > 2 => {
                Some((AUDIO_TRACK, Sample { timestamp, keyframe: true, cto: 0, data: payload[2..].to_vec() }))
            }
            _ => None,
        };
        let starts = |track: u32, s: &Sample| track == VIDEO_TRACK && s.keyframe || video.is_none();
        let expected = match sample {
            Some((track, s)) if base.is_some() || starts(track, &s) => {
                let base = *base.get_or_insert(timestamp);
                pending[track as usize - 1].replace(s).map(|previous| (track, base, previous))
            }
            _ => None,
        };
        match (out, expected) {
            (None, None) => {}
            (Some(fragment), Some((track, base, previous))) => {
                sequence += 1;
                let duration = timestamp.saturating_sub(previous.timestamp).max(1);
                let decode_time = previous.timestamp.saturating_sub(base);
                check_fragment(&fragment, sequence, track, decode_time, duration, &previous);
            }
            (out, expected) => panic!(
                "push of {kind:?} at {timestamp} ({} bytes): fragment {}, expected {}",
                payload.len(),
                out.is_some(),
                expected.is_some()
            ),
        }
    }
    Ok(())
}

/// An AVC sequence header whose one SPS is `sps` (after the NAL header byte): the fuzzer's
/// bytes then go to the SPS reader instead of being spent on the avcC layout.
fn shaped_avc_header(sps: &[u8]) -> Vec<u8> {
    let profile = |i: usize| sps.get(i).copied().unwrap_or(0);
    let mut p = vec![0x17, 0, 0, 0, 0, 1, profile(0), profile(1), profile(2), 0xff, 0xe1];
    p.extend_from_slice(&(sps.len() as u16 + 1).to_be_bytes());
    p.push(0x67);
    p.extend_from_slice(sps);
    p.extend_from_slice(&[1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb]);
    p
}

/// Splits `data` into boxes (type, body) whose sizes tile it exactly.
fn boxes(mut data: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    while !data.is_empty() {
        assert!(data.len() >= 8, "{} bytes left, too few for a box header", data.len());
        let size = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
        assert!((8..=data.len()).contains(&size), "box size {size} with {} bytes left", data.len());
        out.push((data[4..8].try_into().unwrap(), &data[8..size]));
        data = &data[size..];
    }
    out
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// `ftyp` + `moov`; the containers' children tile them; `avcC` is the AVC record and `esds`
/// carries the AudioSpecificConfig in descriptors whose one-byte lengths add up.
fn check_init(init: &[u8], avc_record: Option<&[u8]>, asc: Option<&[u8]>) {
    let top = boxes(init);
    assert_eq!(top.iter().map(|b| &b.0).collect::<Vec<_>>(), [b"ftyp", b"moov"]);
    let mut seen = Vec::new();
    walk(top[1].1, &mut seen, avc_record, asc);
    let count = |kind: &[u8; 4]| seen.iter().filter(|k| *k == kind).count();
    let tracks = usize::from(avc_record.is_some()) + usize::from(asc.is_some());
    assert_eq!((count(b"trak"), count(b"trex")), (tracks, tracks));
    assert_eq!(count(b"avcC"), usize::from(avc_record.is_some()));
    assert_eq!(count(b"esds"), usize::from(asc.is_some()));
}

fn walk(data: &[u8], seen: &mut Vec<[u8; 4]>, avc_record: Option<&[u8]>, asc: Option<&[u8]>) {
    for (kind, body) in boxes(data) {
        seen.push(kind);
        // Bytes before the children: full box header (+ entry count), sample entry fields.
        let children = match &kind {
            b"moov" | b"trak" | b"mdia" | b"minf" | b"stbl" | b"mvex" | b"dinf" => Some(0),
            b"stsd" | b"dref" => Some(8),
            b"avc1" => Some(78),
            b"mp4a" => Some(28),
            _ => None,
        };
        if let Some(skip) = children {
            assert!(body.len() >= skip, "{} too short", String::from_utf8_lossy(&kind));
            walk(&body[skip..], seen, avc_record, asc);
        }
        match &kind {
            b"avcC" => assert_eq!(Some(body), avc_record),
            b"esds" => check_esds(&body[4..], asc.expect("esds without audio")),
            _ => {}
        }
    }
}

/// Splits one MPEG-4 descriptor with a one-byte length: (tag, body, rest).
fn descriptor(d: &[u8]) -> (u8, &[u8], &[u8]) {
    assert!(d.len() >= 2 && d[1] < 0x80, "descriptor length must fit one byte");
    let len = usize::from(d[1]);
    assert!(d.len() >= 2 + len, "descriptor longer than its parent");
    (d[0], &d[2..2 + len], &d[2 + len..])
}

fn check_esds(d: &[u8], asc: &[u8]) {
    let (tag, es, rest) = descriptor(d);
    assert_eq!((tag, rest.len()), (0x03, 0), "ES_Descriptor fills esds");
    let (tag, dcd, rest) = descriptor(&es[3..]);
    assert_eq!(tag, 0x04);
    let (tag, _, rest) = descriptor(rest);
    assert_eq!((tag, rest.len()), (0x06, 0), "SLConfigDescriptor ends the ES_Descriptor");
    let (tag, dsi, rest) = descriptor(&dcd[13..]);
    assert_eq!((tag, rest.len()), (0x05, 0));
    assert_eq!(dsi, asc);
}

fn check_fragment(fragment: &[u8], sequence: u32, track: u32, decode_time: u32, duration: u32, s: &Sample) {
    let parts = boxes(fragment);
    assert_eq!(parts.iter().map(|b| &b.0).collect::<Vec<_>>(), [b"moof", b"mdat"]);
    let (moof, mdat) = (parts[0].1, parts[1].1);
    assert!(mdat == &s.data[..], "mdat is not the previous sample of the track");
    let moof_size = moof.len() + 8;
    let inner = boxes(moof);
    assert_eq!(inner.iter().map(|b| &b.0).collect::<Vec<_>>(), [b"mfhd", b"traf"]);
    assert_eq!(u32_at(inner[0].1, 4), sequence, "fragments are numbered 1, 2, 3, ...");
    let traf = boxes(inner[1].1);
    assert_eq!(traf.iter().map(|b| &b.0).collect::<Vec<_>>(), [b"tfhd", b"tfdt", b"trun"]);
    assert_eq!(u32_at(traf[0].1, 4), track, "tfhd track");
    let tfdt = traf[1].1;
    assert_eq!(tfdt.len(), 12);
    assert_eq!(u64::from_be_bytes(tfdt[4..12].try_into().unwrap()), u64::from(decode_time), "tfdt");
    let trun = traf[2].1;
    assert_eq!(trun.len(), 4 + 4 + 4 + 16);
    assert_eq!(u32_at(trun, 4), 1, "sample count");
    assert_eq!(u32_at(trun, 8) as usize, moof_size + 8, "data offset is the start of mdat's data");
    assert_eq!(u32_at(trun, 12), duration, "duration");
    assert_eq!(u32_at(trun, 16) as usize, s.data.len(), "sample size");
    let flags = u32_at(trun, 20);
    assert_eq!(flags & 0x0001_0000 == 0, s.keyframe, "sample_is_non_sync_sample");
    assert_eq!(u32_at(trun, 24) as i32, s.cto, "composition offset");
}
