//! Rooms and sessions of Duet's signaling, as a sans-IO state machine: [`Hub`].
//!
//! The server owns the sockets and the app registry; the hub owns every room, session and
//! stream reservation. Feed it inputs, then drain its outputs ("mutate, then drain"):
//!
//! ```
//! use std::time::Instant;
//! use duet_room::{ConnId, Hub, Now, Output, RoomConfig, UrlConfig, wire};
//!
//! let bases = duet_token::MediaBases { rtmp: "rtmp://127.0.0.1:1935".into(), http: "http://127.0.0.1:8080".into() };
//! let urls = UrlConfig { bases, ttl_secs: 3600 };
//! let mut hub = Hub::new(RoomConfig::new(urls), [7; 32]);
//! let now = Now { at: Instant::now(), unix_ms: 1_790_000_000_000 };
//! hub.connect(now, ConnId(1));
//! // On the connection's task (a login's token is verified there), then on the hub's:
//! let frame = duet_room::prepare(wire::parse(r#"{"id":1,"op":"ping"}"#), None, now.unix_s());
//! hub.handle_frame(now, ConnId(1), frame);
//! while let Some(out) = hub.poll_output() {
//!     match out {
//!         Output::Send { conn, frame } => { /* write `frame` to `conn` */ let _ = (conn, frame); }
//!         Output::Close { conn, code } => { /* send a close push, then close */ let _ = (conn, code); }
//!         Output::StopMedia { .. } => { /* cut the media connection */ }
//!         Output::Event(event) => { /* queue a webhook */ let _ = event; }
//!         Output::Relay { .. } => { /* start or stop pushing a stream to a CDN URL */ }
//!         Output::RoomRecord { .. } => { /* keep it for the room's next home (a cluster) */ }
//!         Output::Mixer { conn, request_id, order } => {
//!             /* carry out `order`, then hub.answer(conn, request_id, result) */
//!             let _ = (conn, request_id, order);
//!         }
//!         Output::Quality { .. } => { /* keep it in the room's quality history */ }
//!     }
//! }
//! let _wake_at = hub.poll_timeout(); // call hub.handle_timeout(now) then
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
mod app;
mod config;
mod error;
pub mod events;
mod hub;
mod ids;
mod io;
pub mod limits;
mod membership;
pub mod mixer;
mod prepare;
pub mod quality;
mod resume;
mod room;
mod rooms;
mod session;
mod speaker;
mod stream;
mod streams;
mod timers;
mod urls;
pub mod wire;

pub use config::RoomConfig;
pub use error::{ErrorCode, Refusal};
pub use hub::{Hub, SEED_TTL};
pub use ids::{ConnId, PublisherId, session_node};
pub use io::{HubEvent, Now, Output, PublishEnded, PublishRequest, StreamUnplayable};
pub use prepare::{Prepared, prepare};
pub use timers::TokenBucket;
pub use urls::{PLAY_URL_FIELDS, PublishUrls, UrlConfig, rebase_play_urls};
