//! The deadlines of a server [`crate::Session`]: how long each phase may last
//! ([`SessionConfig`]) and why a session closed itself when one passed ([`Timeout`]). Time is
//! an input: the session computes each deadline from the `now` it was given and reports it
//! through [`crate::Session::poll_timeout`].

use std::fmt;
use std::time::Duration;

/// How long a server session waits for its peer in each phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// From creation to the end of the handshake (C2 received).
    pub handshake_timeout: Duration,
    /// How long a connection may hold no role (publisher or player): counted from its creation,
    /// or from the moment it stopped publishing, whatever it sends meanwhile.
    pub no_role_timeout: Duration,
    /// A publisher that sends nothing for this long is taken for dead (a lost network often
    /// leaves no FIN), so its stream ends and the pusher's retry can take the name again.
    pub publisher_silence: Duration,
}

impl Default for SessionConfig {
    /// Handshake 10 s, no role 60 s, publisher silence 20 s. A player has no read deadline.
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            no_role_timeout: Duration::from_secs(60),
            publisher_silence: Duration::from_secs(20),
        }
    }
}

/// A deadline that passed; the session is closed. `Display` is the text servers log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Timeout {
    /// The handshake did not finish in time.
    Handshake,
    /// The connection neither published nor played in time (or stopped publishing and did
    /// nothing else).
    NoRole,
    /// The publisher sent nothing for this long.
    PublisherSilent(Duration),
}

impl Timeout {
    /// True for a peer that never got anywhere (handshake, no role): servers count it as a
    /// refused media request. A silent publisher was not refused; it went away.
    pub fn is_refusal(self) -> bool {
        matches!(self, Self::Handshake | Self::NoRole)
    }
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Handshake => f.write_str("handshake timed out"),
            Self::NoRole => f.write_str("neither published nor played"),
            Self::PublisherSilent(after) => write!(f, "publisher silent for {}s", after.as_secs()),
        }
    }
}
