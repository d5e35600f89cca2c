//! The AAC-LC decoder: symphonia-codec-aac (pure Rust, MPL-2.0, used unmodified) behind
//! [`AacDecoder`], which takes a validated [`AudioSpecificConfig`] and raw frames and gives
//! interleaved `f32` samples, 1024 per channel per frame.
//!
//! Peer bytes never panic Duet: symphonia returns errors for the corrupt frames it recognises,
//! and a panic inside it on a frame it does not (an indexing bug on hostile input) is caught
//! here, reported as [`AudioError::AacDecode`], and the decoder is made anew from the config.
//! (The panic hook still prints the panic; that needs the default `panic = "unwind"`.)

use std::panic::{AssertUnwindSafe, catch_unwind};

use symphonia_codec_aac::AacDecoder as Symphonia;
use symphonia_core::codecs::audio::well_known::CODEC_ID_AAC;
use symphonia_core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia_core::packet::PacketRef;
use symphonia_core::units::{Duration, Timestamp};

use crate::AudioError;
use crate::aacenc_sys::AAC_FRAME;
use crate::asc::AudioSpecificConfig;

/// An AAC-LC decoder for one stream's config.
pub struct AacDecoder {
    asc: AudioSpecificConfig,
    inner: Symphonia,
    pcm: Vec<f32>,
}

impl AacDecoder {
    /// A decoder for `asc` (already checked by [`AudioSpecificConfig::parse`]).
    pub fn new(asc: AudioSpecificConfig) -> Result<Self, AudioError> {
        Ok(AacDecoder { asc, inner: make(asc)?, pcm: Vec::with_capacity(AAC_FRAME * 2) })
    }

    /// The config this decoder decodes.
    pub fn config(&self) -> AudioSpecificConfig {
        self.asc
    }

    /// Forgets the previous frame (its overlap with the next): for a frame that does not follow
    /// the last one decoded.
    pub fn reset(&mut self) {
        self.inner.reset();
    }

    /// Decodes one raw AAC frame to interleaved samples in [-1, 1] (1024 per channel).
    pub fn decode(&mut self, frame: &[u8]) -> Result<&[f32], AudioError> {
        if frame.is_empty() {
            return Err(AudioError::AacDecode("empty frame".into()));
        }
        let channels = usize::from(self.asc.channels);
        let inner = &mut self.inner;
        let pcm = &mut self.pcm;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let packet = PacketRef::new(0, Timestamp::new(0), Duration::new(AAC_FRAME as u64), frame);
            let decoded = inner.decode_ref(&packet).map_err(|e| AudioError::AacDecode(e.to_string()))?;
            if decoded.num_planes() != channels || decoded.frames() != AAC_FRAME {
                return Err(AudioError::AacDecode(format!(
                    "decoded {} channels × {} samples, expected {channels} × {AAC_FRAME}",
                    decoded.num_planes(),
                    decoded.frames()
                )));
            }
            decoded.copy_to_vec_interleaved(pcm);
            Ok(())
        }));
        match outcome {
            Ok(Ok(())) => Ok(&self.pcm),
            Ok(Err(e)) => {
                self.inner.reset();
                Err(e)
            }
            Err(_) => {
                // The decoder's state is unknown after a panic: start over from the config.
                self.inner = make(self.asc)?;
                Err(AudioError::AacDecode("the decoder failed on this frame (caught panic)".into()))
            }
        }
    }
}

fn make(asc: AudioSpecificConfig) -> Result<Symphonia, AudioError> {
    let mut params = AudioCodecParameters::new();
    params.for_codec(CODEC_ID_AAC).with_extra_data(Box::new(asc.to_bytes()));
    Symphonia::try_new(&params, &AudioDecoderOptions::default())
        .map_err(|e| AudioError::UnsupportedConfig(format!("the AAC decoder refused it: {e}")))
}
