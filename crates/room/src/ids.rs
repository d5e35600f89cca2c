//! Identities: connections, sessions, publishes, and who owns a stream. On the wire they stay
//! numbers (and the session ID a decimal string); inside the hub each kind has its own type, so
//! a session can never be looked up by a connection's number.

use std::fmt;

/// A transport connection, numbered by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// A session: one user logged into rooms of one app, attached to a connection or waiting for
/// a resume. The hub numbers sessions from `node·2^32 + 1` (`RoomConfig::node`, 0 for a node
/// alone) and never reuses a number, so a resume token or a remembered kick names one session
/// for good, and any node of a cluster can tell which node holds a session
/// ([`session_node`]). The client sees it as the decimal string `sessionID`; the resume token
/// signs its eight big-endian bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SessionId(u64);

impl SessionId {
    /// The first session of a hub alone.
    #[cfg(test)]
    pub(crate) const FIRST: Self = Self(1);

    /// The first session of the hub numbered `node` in its cluster.
    pub(crate) fn first_of(node: u32) -> Self {
        Self((u64::from(node) << 32) + 1)
    }

    /// The number after this one.
    pub(crate) fn next(self) -> Self {
        Self(self.0 + 1)
    }

    /// Reads a `sessionID` as the client sends it back (the form [`fmt::Display`] writes).
    pub(crate) fn parse(text: &str) -> Option<Self> {
        text.parse::<u64>().ok().map(Self)
    }

    /// The bytes a resume token signs.
    pub(crate) fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
}

/// The number of the node holding the session a client names by its `sessionID` (the node's
/// `RoomConfig::node`), or `None` when the text is no session ID.
pub fn session_node(session_id: &str) -> Option<u32> {
    SessionId::parse(session_id).map(|sid| (sid.0 >> 32) as u32)
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which admitted publish carries a stream (unique per publish on a node), so the late end of
/// an earlier connection does not end a stream a newer one carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublisherId(pub u64);

/// Who holds a stream: the session that reserved it, or nobody on this hub (an external
/// encoder whose signed URL named a room).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// Reserved by this session's publish intent.
    Session(SessionId),
    /// Pushed from outside any session.
    External,
}

impl Owner {
    /// The owning session, if a session owns it: the one to tell about its publisher state and
    /// to leave out of its room's announcements.
    pub(crate) fn session(self) -> Option<SessionId> {
        match self {
            Self::Session(sid) => Some(sid),
            Self::External => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_read_back_what_they_write() {
        let sid = SessionId::FIRST.next();
        assert_eq!(sid.to_string(), "2");
        assert_eq!(SessionId::parse(&sid.to_string()), Some(sid));
        assert_eq!(sid.to_be_bytes(), 2u64.to_be_bytes());
        assert_eq!(SessionId::parse("x"), None);
        let of_node_7 = SessionId::first_of(7).next();
        assert_eq!(of_node_7.to_string(), "30064771074");
        assert_eq!(session_node(&of_node_7.to_string()), Some(7));
        assert_eq!(session_node("2"), Some(0));
        assert_eq!(session_node("x"), None);
        assert_eq!(SessionId::first_of(0), SessionId::FIRST);
    }
}
