//! FLV framing: the file header and one tag per message (RTMP messages and FLV tags carry
//! the same bodies, so a tag is the payload between an 11-byte header and a 4-byte
//! previous-tag-size).

use bytes::Bytes;

/// The FLV file header (with PreviousTagSize0) announcing the tracks a stream has.
pub fn flv_header(audio: bool, video: bool) -> Bytes {
    let flags = u8::from(audio) << 2 | u8::from(video);
    Bytes::from(vec![b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0])
}

/// One FLV tag of type `type_id` (8 audio, 9 video, 18 script data), then its previous-tag-size.
pub(crate) fn tag(type_id: u8, timestamp: u32, payload: &[u8]) -> Bytes {
    let mut flv = Vec::with_capacity(payload.len() + 15);
    flv.push(type_id);
    flv.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    flv.extend_from_slice(&timestamp.to_be_bytes()[1..]);
    flv.push((timestamp >> 24) as u8);
    flv.extend_from_slice(&[0, 0, 0]);
    flv.extend_from_slice(payload);
    flv.extend_from_slice(&(payload.len() as u32 + 11).to_be_bytes());
    flv.into()
}
