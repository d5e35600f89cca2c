//! The live-stream hub: streams keyed by (AppID, streamID), GOP cache, fan-out of shared
//! buffers to bounded per-player queues, FLV (later fMP4/TS) packaging. Talks to the server
//! only through channels. Empty until the media server issue (#4) fills it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
