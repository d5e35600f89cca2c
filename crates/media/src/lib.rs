//! The live-stream hub: streams keyed by (AppID, streamID), each message packaged once (RTMP
//! chunks and FLV tag) and shared by every player, a GOP cache so players start at the latest
//! keyframe, and a bounded ring per stream so a slow player skips ahead instead of slowing the
//! publisher or other players. Talks to the server through channels and handles only.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod fmp4;
mod hub;
mod packet;

pub use hub::{AlreadyLive, Hub, MAX_GOP_PACKETS, MediaStats, Publisher, RING, StreamKey, Subscriber};
pub use packet::{Kind, Packet, flv_header};
