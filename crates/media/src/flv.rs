//! FLV framing: the file header and one tag per message (RTMP messages and FLV tags carry
//! the same bodies, so a tag is the payload between an 11-byte header and a 4-byte
//! previous-tag-size). [`FlvReader`] reads an FLV byte stream back into tags (a child
//! process's output, fed in pieces as they arrive).

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

/// A tag read back from an FLV stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    /// 8 audio, 9 video, 18 script data.
    pub type_id: u8,
    /// Milliseconds (the extended byte included).
    pub timestamp: u32,
    /// The tag body.
    pub payload: Bytes,
}

/// Why an FLV stream cannot be read on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlvError {
    /// The stream does not start with an FLV header.
    NotFlv,
    /// A tag is larger than the reader accepts.
    TagTooLarge(usize),
}

impl std::fmt::Display for FlvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFlv => f.write_str("the stream does not start with an FLV header"),
            Self::TagTooLarge(n) => write!(f, "an FLV tag of {n} bytes is over the limit"),
        }
    }
}

impl std::error::Error for FlvError {}

/// Reads FLV from bytes arriving in pieces split anywhere (sans-IO: [`FlvReader::push`] the
/// bytes, then take tags with [`FlvReader::next_tag`] until it gives `None`).
#[derive(Debug, Default)]
pub struct FlvReader {
    buf: bytes::BytesMut,
    header_read: bool,
}

/// Largest tag body [`FlvReader`] accepts (a keyframe of a high-bitrate stream fits easily).
pub const MAX_FLV_TAG: usize = 8 << 20;

impl FlvReader {
    /// Adds bytes as they arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete tag, `Ok(None)` until more bytes arrive, or why the stream is wrong
    /// (the reader is of no further use then).
    pub fn next_tag(&mut self) -> Result<Option<FlvTag>, FlvError> {
        if !self.header_read {
            // "FLV", version, flags, header size (u32), PreviousTagSize0 (u32).
            if self.buf.len() < 9 {
                return Ok(None);
            }
            if &self.buf[..3] != b"FLV" {
                return Err(FlvError::NotFlv);
            }
            let size = u32::from_be_bytes([self.buf[5], self.buf[6], self.buf[7], self.buf[8]]) as usize;
            if !(9..=1024).contains(&size) {
                return Err(FlvError::NotFlv);
            }
            if self.buf.len() < size + 4 {
                return Ok(None);
            }
            let _ = self.buf.split_to(size + 4);
            self.header_read = true;
        }
        if self.buf.len() < 11 {
            return Ok(None);
        }
        let b = &self.buf;
        let size = u32::from_be_bytes([0, b[1], b[2], b[3]]) as usize;
        if size > MAX_FLV_TAG {
            return Err(FlvError::TagTooLarge(size));
        }
        if b.len() < 11 + size + 4 {
            return Ok(None);
        }
        let (type_id, timestamp) = (b[0] & 0x1f, u32::from_be_bytes([b[7], b[4], b[5], b[6]]));
        let mut tag = self.buf.split_to(11 + size + 4);
        let _ = tag.split_to(11);
        tag.truncate(size);
        Ok(Some(FlvTag { type_id, timestamp, payload: tag.freeze() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_writes_split_anywhere() {
        let mut stream = flv_header(true, true).to_vec();
        stream.extend_from_slice(&tag(9, 0x0123_4567, &[0x17, 0, 0, 0, 0, 1, 2, 3]));
        stream.extend_from_slice(&tag(8, 40, &[0xaf, 1, 9]));
        stream.extend_from_slice(&tag(18, 0, &[]));
        for split in 0..stream.len() {
            let mut r = FlvReader::default();
            let mut tags = Vec::new();
            for piece in [&stream[..split], &stream[split..]] {
                r.push(piece);
                while let Some(t) = r.next_tag().unwrap() {
                    tags.push(t);
                }
            }
            assert_eq!(tags.len(), 3, "split at {split}");
            assert_eq!((tags[0].type_id, tags[0].timestamp), (9, 0x0123_4567));
            assert_eq!(&tags[0].payload[..], &[0x17, 0, 0, 0, 0, 1, 2, 3]);
            assert_eq!((tags[1].type_id, tags[1].timestamp, &tags[1].payload[..]), (8, 40, &[0xaf, 1, 9][..]));
            assert!(tags[2].payload.is_empty());
        }
    }

    #[test]
    fn refuses_what_is_not_flv_or_too_large() {
        let mut r = FlvReader::default();
        r.push(b"GIF89a\0\0\0\0\0");
        assert_eq!(r.next_tag(), Err(FlvError::NotFlv));
        let mut r = FlvReader::default();
        r.push(&flv_header(false, true));
        r.push(&[9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(r.next_tag(), Err(FlvError::TagTooLarge(0xff_ffff)));
    }
}
