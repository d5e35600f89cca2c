//! Message type ids of the RTMP chunk stream.

/// Set Chunk Size.
pub const SET_CHUNK_SIZE: u8 = 1;
/// Abort Message.
pub const ABORT: u8 = 2;
/// Acknowledgement.
pub const ACK: u8 = 3;
/// User Control.
pub const USER_CONTROL: u8 = 4;
/// Window Acknowledgement Size.
pub const WINDOW_ACK: u8 = 5;
/// Set Peer Bandwidth.
pub const PEER_BANDWIDTH: u8 = 6;
/// Audio.
pub const AUDIO: u8 = 8;
/// Video.
pub const VIDEO: u8 = 9;
/// AMF3 data.
pub const DATA_AMF3: u8 = 15;
/// AMF3 command.
pub const COMMAND_AMF3: u8 = 17;
/// AMF0 data.
pub const DATA: u8 = 18;
/// AMF0 command.
pub const COMMAND: u8 = 20;
