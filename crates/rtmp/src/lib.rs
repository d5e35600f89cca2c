//! RTMP as a sans-IO protocol core: the handshake (plain and digest), the chunk stream codec,
//! AMF0, a server [`Session`] that turns bytes into events (connect, publish, play, media)
//! and the server's decisions into bytes, and a [`ClientSession`] that publishes or plays.
//! No I/O, no clock, no other internal crate: time comes in as `now`, and each session says
//! when it next needs it ([`Session::poll_timeout`]).
//!
//! Mutate, then drain: after every `handle_*` call or decision, poll events until `None`, send
//! what `take_output` returns, and sleep until `poll_timeout`.
//!
//! ```
//! use std::time::Instant;
//! use duet_rtmp::{Event, Session, SessionConfig};
//!
//! let mut session = Session::new(SessionConfig::default(), [0; 1536], Instant::now());
//! # let received: &[u8] = &[];
//! session.handle_bytes(Instant::now(), received).expect("a peer violation closes the connection");
//! while let Some(event) = session.poll_event().expect("a peer violation closes the connection") {
//!     match event {
//!         Event::Connect { .. } => session.accept_connect(),
//!         Event::Publish { .. } => session.accept_publish("ok"),
//!         Event::TimedOut(why) => { /* log `why`, flush, close */ let _ = why; }
//!         _ => {}
//!     }
//! }
//! let _to_send = session.take_output();
//! let _wake_at = session.poll_timeout(); // then session.handle_timeout(now) and drain again
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod amf0;
pub mod chunk;
mod client;
mod error;
pub mod handshake;
mod link;
pub mod msg;
mod session;
mod timeout;

pub use client::{ClientConfig, ClientEvent, ClientFailure, ClientSession, Status};
pub use error::RtmpError;
pub use session::{Event, MEDIA_STREAM_ID, OUT_CHUNK_SIZE, Session, WINDOW_ACK_SIZE};
pub use timeout::{SessionConfig, Timeout};
