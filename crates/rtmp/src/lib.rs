//! RTMP as a sans-IO protocol core: the handshake (plain and digest), the chunk stream codec,
//! AMF0, and a server [`Session`] that turns bytes into events (connect, publish, play, media)
//! and the server's decisions into bytes. No I/O, no clock, no other internal crate.
//!
//! ```
//! use duet_rtmp::{Event, Session};
//!
//! let mut session = Session::new([0; 1536]);
//! # let received: &[u8] = &[];
//! session.handle_bytes(received).expect("a peer violation closes the connection");
//! while let Some(event) = session.poll_event().expect("a peer violation closes the connection") {
//!     match event {
//!         Event::Connect { .. } => session.accept_connect(),
//!         Event::Publish { .. } => session.accept_publish("ok"),
//!         _ => {}
//!     }
//! }
//! let _to_send = session.take_output();
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod amf0;
pub mod chunk;
mod error;
pub mod handshake;
mod session;

pub use error::RtmpError;
pub use session::{Event, MEDIA_STREAM_ID, OUT_CHUNK_SIZE, Session, WINDOW_ACK_SIZE, msg};
