//! The AAC AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1) as far as Duet transcodes it: AAC-LC,
//! 1 or 2 channels, 1024-sample frames, a sample rate from the AAC table. Parsing refuses every
//! other config with a message saying why; writing makes the 2-byte config an FLV AAC sequence
//! header carries. Also the 7-byte ADTS header, for writing raw frames as an `.aac` file.

use crate::AudioError;

/// The AAC sampling-frequency table (index 0..=12).
const RATES: [u32; 13] = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
/// Audio object type 2: AAC Low Complexity.
const AOT_LC: u8 = 2;

/// An AAC-LC stream's config: what a decoder needs before the first frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// Samples per second per channel, one of the AAC table's rates (8 kHz to 96 kHz).
    pub sample_rate: u32,
    /// 1 (mono) or 2 (stereo).
    pub channels: u8,
}

impl AudioSpecificConfig {
    /// An AAC-LC config; `None` for a rate outside the table (8 kHz to 96 kHz) or channels
    /// other than 1 or 2.
    pub fn lc(sample_rate: u32, channels: u8) -> Option<Self> {
        (rate_index(sample_rate).is_some() && (1..=2).contains(&channels))
            .then_some(AudioSpecificConfig { sample_rate, channels })
    }

    /// Reads a config (the FLV AAC sequence header's payload after its 2-byte tag header).
    /// Anything but AAC-LC, 1-2 channels, 1024-sample frames at a table rate is refused.
    pub fn parse(bytes: &[u8]) -> Result<Self, AudioError> {
        let unsupported = |why: String| Err(AudioError::UnsupportedConfig(why));
        if bytes.len() < 2 {
            return unsupported(format!("{} bytes, an AudioSpecificConfig has at least 2", bytes.len()));
        }
        let mut bits = Bits { bytes, at: 0 };
        let mut object_type = bits.read(5)?;
        if object_type == 31 {
            object_type = 32 + bits.read(6)?;
        }
        match object_type {
            2 => {}
            5 | 29 => return unsupported(format!("HE-AAC (object type {object_type}, SBR/PS); publish AAC-LC")),
            other => return unsupported(format!("object type {other}; only AAC-LC (2) is supported")),
        }
        let index = bits.read(4)? as usize;
        let sample_rate = match index {
            0..=11 => RATES[index],
            15 => {
                let rate = bits.read(24)?;
                if rate_index(rate).is_none() {
                    return unsupported(format!("sample rate {rate} Hz (the AAC table's rates, 8 kHz to 96 kHz)"));
                }
                rate
            }
            other => return unsupported(format!("sampling frequency index {other}")),
        };
        let channels = bits.read(4)? as u8;
        if !(1..=2).contains(&channels) {
            return unsupported(match channels {
                0 => "channel configuration 0 (a program config element)".to_string(),
                n => format!("channel configuration {n}; only mono and stereo are supported"),
            });
        }
        // GASpecificConfig: frameLengthFlag (960-sample frames are not AAC-LC as streamed).
        if bits.read(1)? == 1 {
            return unsupported("960-sample frames".to_string());
        }
        Ok(AudioSpecificConfig { sample_rate, channels })
    }

    /// The 2-byte config: object type 2, the rate's table index, the channel configuration.
    pub fn to_bytes(&self) -> [u8; 2] {
        // `lc` and `parse` only make table rates (a rate from elsewhere writes index 15's
        // neighbour 0xF; never happens through this crate's constructors).
        let index = rate_index(self.sample_rate).unwrap_or(0xF);
        [(AOT_LC << 3) | (index >> 1), ((index & 1) << 7) | (self.channels << 3)]
    }

    /// The 7-byte ADTS header (MPEG-4, no CRC) for one raw frame of `frame_len` bytes, so raw
    /// frames can be written as an `.aac` stream that any player reads. `None` if the frame is
    /// longer than ADTS can say (8184 bytes).
    pub fn adts_header(&self, frame_len: usize) -> Option<[u8; 7]> {
        let total = frame_len + 7;
        if total > 0x1FFF {
            return None;
        }
        let index = rate_index(self.sample_rate)?;
        let profile = AOT_LC - 1;
        let full = 0x7FFu16; // buffer fullness: VBR
        Some([
            0xFF,
            0xF1, // syncword end, MPEG-4, layer 0, no CRC
            (profile << 6) | (index << 2) | (self.channels >> 2),
            ((self.channels & 3) << 6) | ((total >> 11) as u8 & 0x3),
            ((total >> 3) & 0xFF) as u8,
            (((total & 7) as u8) << 5) | ((full >> 6) as u8 & 0x1F),
            (((full & 0x3F) as u8) << 2), // one raw data block
        ])
    }
}

fn rate_index(rate: u32) -> Option<u8> {
    RATES[..12].iter().position(|&r| r == rate).map(|i| i as u8)
}

/// A most-significant-bit-first reader over the config's bytes.
struct Bits<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Bits<'_> {
    fn read(&mut self, count: usize) -> Result<u32, AudioError> {
        let mut value = 0u32;
        for _ in 0..count {
            let Some(byte) = self.bytes.get(self.at / 8) else {
                return Err(AudioError::UnsupportedConfig(format!("truncated after {} bits", self.at)));
            };
            value = (value << 1) | u32::from((byte >> (7 - self.at % 8)) & 1);
            self.at += 1;
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lc_configs_round_trip() {
        // 44.1 kHz stereo, what ffmpeg and OBS send: 0x12 0x10.
        let asc = AudioSpecificConfig::parse(&[0x12, 0x10]).expect("LC");
        assert_eq!(asc, AudioSpecificConfig { sample_rate: 44100, channels: 2 });
        assert_eq!(asc.to_bytes(), [0x12, 0x10]);
        let asc = AudioSpecificConfig::lc(48000, 1).expect("table rate");
        assert_eq!(asc.to_bytes(), [0x11, 0x88]);
        assert_eq!(AudioSpecificConfig::parse(&asc.to_bytes()), Ok(asc));
        // An explicit table rate (index 15) is accepted.
        let explicit = [0x17, 0x80, 0x2E, 0xE0, 0x10]; // LC, 0xF, 24000, 2 channels
        assert_eq!(AudioSpecificConfig::parse(&explicit), Ok(AudioSpecificConfig { sample_rate: 24000, channels: 2 }));
    }

    #[test]
    fn refuses_what_is_not_transcoded() {
        for (bytes, needle) in [
            (&[0x2B, 0x92, 0x08, 0x00][..], "HE-AAC"), // object type 5 (SBR)
            (&[0xEB, 0x92][..], "HE-AAC"),             // object type 29 (PS)
            (&[0x0A, 0x10][..], "object type 1"),      // AAC Main
            (&[0x12, 0x30][..], "channel configuration 6"),
            (&[0x12, 0x00][..], "channel configuration 0"),
            (&[0x16, 0x90][..], "sampling frequency index 13"),
            (&[0x17, 0x80, 0x00, 0x00, 0x10][..], "sample rate 0 Hz"), // explicit, absurd
            (&[0x17, 0xFF, 0xFF, 0xFF, 0x90][..], "sample rate"),
            (&[0x12, 0x14][..], "960-sample"),
            (&[0x12][..], "1 bytes"),
            (&[0x17, 0x80][..], "truncated"),
            (&[0xF8, 0x00][..], "object type"), // escape
        ] {
            let err = AudioSpecificConfig::parse(bytes).expect_err("refused");
            assert!(err.to_string().contains(needle), "{bytes:02x?}: {err}");
        }
    }

    #[test]
    fn adts_header_fields() {
        let asc = AudioSpecificConfig::lc(48000, 2).expect("table rate");
        let h = asc.adts_header(100).expect("fits");
        assert_eq!(&h[..2], &[0xFF, 0xF1]);
        assert_eq!((h[2] >> 6) + 1, 2, "object type LC");
        assert_eq!((h[2] >> 2) & 0xF, 3, "48 kHz");
        let len = (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        assert_eq!(len, 107);
        assert!(asc.adts_header(9000).is_none());
    }
}
