//! Rooms, sessions, kick-out, resume, room events and messages: a sans-IO state machine fed
//! with requests, media events and clock ticks that returns replies and pushes. No I/O, no
//! clock. Depends on `duet-token` for claims. Empty until the signaling issue (#3) fills it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
