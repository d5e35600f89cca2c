//! RTMP as a sans-IO protocol core: handshake, chunk stream codec, AMF0, command messages;
//! bytes in, events and bytes out. No I/O, no clock, no other internal crate. Empty until the
//! media server issue (#4) fills it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
