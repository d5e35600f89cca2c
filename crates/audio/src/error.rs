//! `AudioError`: why one input (packet, frame, sequence header) or a configuration was refused.
//! Every error leaves the transcoder usable: the next good input goes on from where it is.

/// A refused input or configuration. The message says what was wrong, for a log line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// An Opus packet libopus could not decode (garbage, truncated, empty).
    #[error("bad Opus packet: {0}")]
    OpusDecode(String),
    /// libopus refused to make an encoder or to encode (not expected with valid settings).
    #[error("Opus encoder: {0}")]
    OpusEncode(String),
    /// An AAC frame the decoder could not decode (corrupt, truncated, empty). It is replaced by
    /// one frame of silence so the timeline stays put.
    #[error("bad AAC frame: {0}")]
    AacDecode(String),
    /// libvo-aacenc refused to start or to encode.
    #[error("AAC encoder: {0}")]
    AacEncode(String),
    /// An AudioSpecificConfig Duet does not transcode: HE-AAC (SBR/PS) or another object type
    /// than AAC-LC, more than 2 channels, a sample rate outside the AAC table, 960-sample frames,
    /// or too few bytes.
    #[error("unsupported AAC config: {0}")]
    UnsupportedConfig(String),
    /// An FLV audio payload that is not AAC, or too short to hold its header.
    #[error("bad FLV audio payload: {0}")]
    BadFlvAudio(String),
    /// An AAC frame before any sequence header (AudioSpecificConfig): nothing to decode it with.
    #[error("AAC frame before the AAC sequence header")]
    NoConfig,
    /// A configuration the transcoder cannot run with (the message names the field).
    #[error("bad audio configuration: {0}")]
    Config(String),
    /// The resampler refused its settings or a chunk (not expected).
    #[error("resampler: {0}")]
    Resample(String),
}
