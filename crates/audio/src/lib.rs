//! Audio transcoding between WebRTC and RTMP/FLV, once per stream: [`OpusToAac`] for a WebRTC
//! publisher's RTMP/FLV players, [`AacToOpus`] for an RTMP publisher's WebRTC players. Sans-IO:
//! no I/O, no clock, no threads; timestamps come in with the media and go out with the result,
//! derived from the input's timestamps (never from a count of outputs alone), with the codecs'
//! delays taken out, so audio stays with the video it came with. Each module's doc says how it
//! keeps time and fills gaps; docs/audio.md has the choices, licences and measured cost.
//!
//! Push an input, take what it completes. An error refuses that one input; the transcoder goes
//! on with the next.
//!
//! ```
//! use duet_audio::{AacConfig, AacToOpus, OpusConfig, OpusToAac};
//!
//! // WebRTC publisher → RTMP/FLV: Opus packets with their RTP timestamps in.
//! let mut to_aac = OpusToAac::new(AacConfig::default(), 0).expect("libvo-aacenc");
//! let _sequence_header = to_aac.flv_sequence_header(); // send first: [0xAF, 0x00, ASC]
//! # let (rtp_ts, opus_packet) = (0u32, [0xFCu8, 0xFF, 0xFE]);
//! match to_aac.push(rtp_ts, &opus_packet) {
//!     Ok(frames) => for aac in frames {
//!         let (_ms, _payload) = (aac.timestamp_ms, aac.flv_payload()); // [0xAF, 0x01, frame]
//!     },
//!     Err(e) => eprintln!("dropped an Opus packet: {e}"),
//! }
//!
//! // RTMP publisher → WebRTC: FLV AAC payloads with their ms timestamps in.
//! let mut to_opus = AacToOpus::new(OpusConfig::default()).expect("bitrate in range");
//! # let (ms, flv_payload) = (0u32, [0xAFu8, 0x00, 0x11, 0x90]);
//! for opus in to_opus.push(ms, &flv_payload).unwrap_or_default() {
//!     let (_rtp_ts, _packet) = (opus.rtp_ts, opus.packet); // 20 ms at 48 kHz
//! }
//! ```
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod aac_to_opus;
mod aacdec;
#[allow(unsafe_code)]
mod aacenc_sys;
mod asc;
mod error;
pub mod flv;
mod opus_to_aac;
mod resample;

pub use aac_to_opus::{AacToOpus, OPUS_FRAME, OPUS_LOOKAHEAD, OpusConfig, OpusOut};
pub use aacdec::AacDecoder;
pub use aacenc_sys::{AAC_FRAME, AacEncoder};
pub use asc::AudioSpecificConfig;
pub use error::AudioError;
pub use opus_to_aac::{AAC_CODEC_DELAY, AacConfig, AacOut, OpusToAac};
