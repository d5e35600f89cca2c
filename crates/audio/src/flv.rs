//! FLV/RTMP AAC audio payloads: the 2-byte audio tag header (`0xAF`: AAC, 44 kHz flag, 16-bit,
//! stereo flag — always so for AAC, the real format is in the AudioSpecificConfig) followed by
//! `0x00` + AudioSpecificConfig (the sequence header) or `0x01` + one raw AAC frame.

use crate::AudioError;

/// The FLV sound format of AAC (upper nibble of the audio tag header).
const SOUND_FORMAT_AAC: u8 = 10;
/// The audio tag header byte every AAC message carries.
pub const AAC_TAG: u8 = 0xAF;

/// The payload of an FLV/RTMP AAC sequence header: `[0xAF, 0x00] + asc`.
pub fn sequence_header(asc: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(2 + asc.len());
    payload.extend_from_slice(&[AAC_TAG, 0x00]);
    payload.extend_from_slice(asc);
    payload
}

/// The payload of an FLV/RTMP AAC frame message: `[0xAF, 0x01] + frame`.
pub fn frame(raw: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(2 + raw.len());
    payload.extend_from_slice(&[AAC_TAG, 0x01]);
    payload.extend_from_slice(raw);
    payload
}

/// What an FLV/RTMP AAC audio payload holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlvAac<'a> {
    /// An AudioSpecificConfig (AAC packet type 0).
    SequenceHeader(&'a [u8]),
    /// One raw AAC frame (AAC packet type 1).
    Frame(&'a [u8]),
}

/// Splits an FLV/RTMP audio payload; anything but AAC (or too short) is an error.
pub fn parse(payload: &[u8]) -> Result<FlvAac<'_>, AudioError> {
    let [tag, kind, rest @ ..] = payload else {
        return Err(AudioError::BadFlvAudio(format!("{} bytes, shorter than the AAC header", payload.len())));
    };
    if tag >> 4 != SOUND_FORMAT_AAC {
        return Err(AudioError::BadFlvAudio(format!("sound format {} is not AAC (10)", tag >> 4)));
    }
    match kind {
        0 => Ok(FlvAac::SequenceHeader(rest)),
        1 => Ok(FlvAac::Frame(rest)),
        other => Err(AudioError::BadFlvAudio(format!("AAC packet type {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        assert_eq!(sequence_header(&[0x11, 0x90]), [0xAF, 0x00, 0x11, 0x90]);
        assert_eq!(frame(&[1, 2, 3]), [0xAF, 0x01, 1, 2, 3]);
        assert_eq!(parse(&[0xAF, 0x00, 0x11, 0x90]), Ok(FlvAac::SequenceHeader(&[0x11, 0x90])));
        assert_eq!(parse(&[0xAE, 0x01, 7]), Ok(FlvAac::Frame(&[7])), "mono flag: still AAC");
        assert!(parse(&[0xAF]).is_err());
        assert!(parse(&[0x2F, 0x01, 0]).unwrap_err().to_string().contains("sound format 2"));
        assert!(parse(&[0xAF, 0x02]).is_err());
    }
}
