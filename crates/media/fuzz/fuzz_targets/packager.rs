//! A stream of arbitrary audio, video and metadata messages packaged for players never panics:
//! each FLV tag frames exactly its payload (type, 24-bit length, split timestamp, trailing
//! previous-tag-size), and each packet's RTMP chunks decode back to the same message both for a
//! player that joins at that packet and for one that has read the whole stream so far.
#![no_main]
use bytes::Bytes;
use duet_media::{Kind, Packet};
use duet_rtmp::chunk::Decoder;
use duet_rtmp::{MEDIA_STREAM_ID, OUT_CHUNK_SIZE};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// Messages per input, so one input stays fast.
const MAX_MESSAGES: usize = 64;
/// Longest payload: a few chunks of [`OUT_CHUNK_SIZE`].
const MAX_PAYLOAD: usize = 3 * OUT_CHUNK_SIZE + 1;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut follower = decoder();
    for _ in 0..MAX_MESSAGES {
        if u.is_empty() {
            break;
        }
        let Ok((kind, timestamp, payload)) = message(&mut u) else { break };
        let p = Packet::new(kind, timestamp, Bytes::from(payload.clone()));
        assert_eq!(&p.payload[..], &payload[..]);
        assert!(!(p.keyframe && p.sequence_header));
        assert!(!p.keyframe || kind == Kind::Video);
        assert!(!p.sequence_header || kind != Kind::Metadata);
        check_flv(&p, &payload);

        let rtmp = p.rtmp().clone();
        assert_eq!(p.rtmp().as_ptr(), rtmp.as_ptr(), "the chunks are made once");
        let joined = decode_one(&mut decoder(), &rtmp);
        let followed = decode_one(&mut follower, &rtmp);
        for (csid, ts, type_id, stream_id, body) in [joined, followed] {
            assert_eq!(csid, u32::from(kind.csid()));
            assert_eq!(ts, timestamp);
            assert_eq!(type_id, kind.type_id());
            assert_eq!(stream_id, MEDIA_STREAM_ID);
            assert!(body == payload, "RTMP payload differs ({} vs {} bytes)", body.len(), payload.len());
        }
    }
});

/// One message: kind, timestamp (small or anywhere in u32, extended timestamps included), and a
/// payload of up to [`MAX_PAYLOAD`] bytes, its tail repeating the input bytes when the input is
/// shorter (so multi-chunk payloads need no large inputs).
fn message(u: &mut Unstructured) -> Result<(Kind, u32, Vec<u8>)> {
    let kind = [Kind::Audio, Kind::Video, Kind::Metadata][u.int_in_range(0..=2)?];
    let timestamp = if u.arbitrary::<bool>()? { u.arbitrary::<u32>()? } else { u32::from(u.arbitrary::<u16>()?) };
    let len = usize::from(u.arbitrary::<u16>()?) % (MAX_PAYLOAD + 1);
    let head = u.bytes(len.min(u.len()))?;
    let payload = if head.is_empty() { vec![0; len] } else { head.iter().copied().cycle().take(len).collect() };
    Ok((kind, timestamp, payload))
}

fn decoder() -> Decoder {
    let mut d = Decoder::default();
    d.set_chunk_size(OUT_CHUNK_SIZE as u32).expect("OUT_CHUNK_SIZE is a legal chunk size");
    d
}

/// Decodes `wire`, which must hold exactly one whole message.
fn decode_one(d: &mut Decoder, mut wire: &[u8]) -> (u32, u32, u8, u32, Vec<u8>) {
    loop {
        let (n, msg) = d.decode(wire).expect("Duet's own chunks decode");
        assert!(n > 0 && n <= wire.len(), "consumed {n} of {} bytes", wire.len());
        wire = &wire[n..];
        if let Some(m) = msg {
            assert!(wire.is_empty(), "{} bytes after the message", wire.len());
            return (m.csid, m.timestamp, m.type_id, m.stream_id, m.payload.to_vec());
        }
    }
}

fn check_flv(p: &Packet, payload: &[u8]) {
    let tag = p.flv();
    assert_eq!(p.flv().as_ptr(), tag.as_ptr(), "the tag is made once");
    let n = payload.len();
    assert_eq!(tag.len(), 11 + n + 4);
    assert_eq!(tag[0], p.kind.type_id());
    let u24 = |b: &[u8]| u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
    assert_eq!(u24(&tag[1..4]) as usize, n, "DataSize");
    assert_eq!(u24(&tag[4..7]) | u32::from(tag[7]) << 24, p.timestamp, "Timestamp + TimestampExtended");
    assert_eq!(&tag[8..11], &[0, 0, 0], "StreamID");
    assert!(&tag[11..11 + n] == payload, "tag body differs from the payload");
    let previous = u32::from_be_bytes(tag[11 + n..].try_into().expect("4 bytes"));
    assert_eq!(previous as usize, 11 + n, "PreviousTagSize");
}
