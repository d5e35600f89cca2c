//! The live-stream hub: streams keyed by (AppID, streamID), each message kept as its payload
//! and packaged once per wire form a player needs (RTMP chunks, FLV tag) and shared by every
//! player of that form, a GOP cache so players start at the latest
//! keyframe, and a bounded ring per stream so a slow player skips ahead instead of slowing the
//! publisher or other players. Talks to the server through channels and handles only.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod flv;
pub mod fmp4;
mod hub;
mod packet;

pub use flv::flv_header;
pub use hub::{AlreadyLive, Hub, MAX_GOP_PACKETS, MediaStats, Publisher, RING, StreamKey, Subscriber};
pub use packet::{Codec, Kind, Packet};
