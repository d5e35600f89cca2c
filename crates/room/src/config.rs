//! `RoomConfig`: the hub's tunables and their documented defaults.

use std::time::Duration;

use crate::urls::UrlConfig;

/// Tunables; [`RoomConfig::new`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct RoomConfig {
    /// Heartbeat interval announced to clients.
    pub heartbeat: Duration,
    /// Silence after which a connection is dropped.
    pub heartbeat_timeout: Duration,
    /// How long a dropped session may be resumed.
    pub resume_grace: Duration,
    /// `tokenWillExpire` is pushed this long before expiry.
    pub token_warning: Duration,
    /// Sustained requests per second per connection.
    pub rate_per_sec: u32,
    /// Burst of requests per connection.
    pub rate_burst: u32,
    /// Refused frames (bad or over the rate) after which the connection is closed as abusive.
    pub max_violations: u32,
    /// Member limit of a room when its first login asks for none.
    pub default_max_members: u32,
    /// Room events kept for replay on resume, per room.
    pub replay_events: usize,
    /// Online counts are pushed at most this often per room.
    pub count_interval: Duration,
    /// How long a stopping hub waits for the media side to report the ends of the streams it
    /// cut, so their `stream.closed` carry their bytes; after it they go out without.
    pub shutdown_wait: Duration,
    /// Media URL bases and lifetime.
    pub urls: UrlConfig,
    /// This hub's number in its cluster (0 for a node alone): its session IDs start at
    /// `node·2^32 + 1`, so any node can tell where a session lives (`session_node`).
    pub node: u32,
}

impl RoomConfig {
    /// Defaults: heartbeat 10 s (timeout 30 s), resume grace 30 s, warning 30 s before token
    /// expiry, 20 requests/s (burst 40), 50 violations, 10,000 members, 512 replayable events,
    /// online count at most every second, 2 s for the media ends at shutdown.
    pub fn new(urls: UrlConfig) -> Self {
        Self {
            heartbeat: Duration::from_secs(10),
            heartbeat_timeout: Duration::from_secs(30),
            resume_grace: Duration::from_secs(30),
            token_warning: Duration::from_secs(30),
            rate_per_sec: 20,
            rate_burst: 40,
            max_violations: 50,
            default_max_members: 10_000,
            replay_events: 512,
            count_interval: Duration::from_secs(1),
            shutdown_wait: Duration::from_secs(2),
            urls,
            node: 0,
        }
    }
}
