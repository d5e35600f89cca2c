//! The live-stream hub: streams keyed by (AppID, streamID), each message kept as its payload
//! and packaged once per wire form a player needs (RTMP chunks, FLV tag) and shared by every
//! player of that form; a latency budget per stream (`budget`) that releases messages to
//! players together, one flush at a time, packaged as one buffer per form (`ring`); a GOP cache
//! so players start at the latest keyframe; and a bounded ring per stream so a slow player
//! skips ahead instead of slowing the publisher or other players (`subscriber`). Takes time as
//! an input; talks to the server through handles only. `avc` turns WebRTC H.264 access units
//! into the FLV/RTMP video payloads the hub carries (`lipsync` places their audio on the video's
//! clock); `rtc_feed` turns a stream's packets into what
//! a WebRTC player is sent. `playable` keeps each stream's verdict on WebRTC playback
//! ([`PlayProblem`]: B-frames, a codec WebRTC cannot carry).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod avc;
mod budget;
mod cache;
mod flv;
pub mod fmp4;
mod follower;
pub mod hls;
mod hub;
mod lipsync;
mod packet;
mod playable;
mod ring;
mod rtc_feed;
mod skip;
mod subscriber;

pub use budget::{BadBudget, Batcher, FRAME_CAP, LatencyBudget, MAX_WINDOW};
pub use flv::{FlvError, FlvReader, FlvTag, MAX_FLV_TAG, flv_header};
pub use follower::{Feed, Follower, StreamId, Take};
pub use hub::{AlreadyLive, Hub, MAX_GOP_PACKETS, MediaStats, Publisher, StreamKey};
pub use lipsync::{LipSync, Placed, REPORT_WAIT, SenderClock};
pub use packet::{Codec, Kind, Packet};
pub use playable::PlayProblem;
pub use ring::{Flush, RING};
pub use rtc_feed::{RtcFeed, RtcFrame};
pub use subscriber::{Batch, Subscriber};
