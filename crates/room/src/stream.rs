//! `Stream` (a reserved or live stream of an app) and `Streams`, an app's table of them, which
//! keeps the index of the streams each session owns.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};

use crate::error::{ErrorCode, Refusal};
use crate::ids::{Owner, PublisherId, SessionId};
use crate::wire::User;

/// A stream ID held in a room: reserved by a session's publish intent or pushed by an external
/// encoder, live while media arrives.
#[derive(Debug)]
pub(crate) struct Stream {
    pub room_id: String,
    /// Fixed for the stream's life: [`Streams`] indexes by it.
    owner: Owner,
    pub user: User,
    pub extra_info: String,
    pub live: bool,
    /// When media started arriving (unix ms), while live.
    pub live_since_ms: u64,
    /// The publish carrying it, while live.
    pub publisher: PublisherId,
    /// External RTMP URLs it is relayed to.
    pub relays: BTreeSet<String>,
    /// Why browsers cannot play it over WebRTC (code, reason), while live.
    pub webrtc_problem: Option<(&'static str, String)>,
}

impl Stream {
    /// A reservation (or an external stream) that is not live yet.
    fn new(room_id: String, owner: Owner, user: User) -> Self {
        Self {
            room_id,
            owner,
            user,
            extra_info: String::new(),
            live: false,
            live_since_ms: 0,
            publisher: PublisherId(0),
            relays: BTreeSet::new(),
            webrtc_problem: None,
        }
    }

    pub(crate) fn owner(&self) -> Owner {
        self.owner
    }

    /// `{"code", "reason"}` of its WebRTC problem, or `null`.
    pub(crate) fn webrtc_problem_json(&self) -> serde_json::Value {
        match &self.webrtc_problem {
            Some((code, reason)) => serde_json::json!({"code": code, "reason": reason}),
            None => serde_json::Value::Null,
        }
    }
}

/// An app's streams by ID. A stream ID is held by one owner in one room at a time, and the
/// streams a session owns are exactly those indexed under it (so a session's streams are found
/// without a scan, and end with it): only [`Streams::reserve`], [`Streams::admit`] and
/// [`Streams::remove`] add or take streams, and they keep the index.
#[derive(Default)]
pub(crate) struct Streams {
    by_id: HashMap<String, Stream>,
    by_owner: HashMap<SessionId, BTreeSet<String>>,
}

impl Streams {
    pub(crate) fn get(&self, stream_id: &str) -> Option<&Stream> {
        self.by_id.get(stream_id)
    }

    pub(crate) fn get_mut(&mut self, stream_id: &str) -> Option<&mut Stream> {
        self.by_id.get_mut(stream_id)
    }

    /// `stream_id`, if `sid` owns it.
    pub(crate) fn owned_mut(&mut self, sid: SessionId, stream_id: &str) -> Option<&mut Stream> {
        self.by_id.get_mut(stream_id).filter(|s| s.owner == Owner::Session(sid))
    }

    /// The IDs of the streams `sid` owns, in order.
    pub(crate) fn owned_by(&self, sid: SessionId) -> Vec<String> {
        self.by_owner.get(&sid).map(|ids| ids.iter().cloned().collect()).unwrap_or_default()
    }

    /// The IDs of the streams `sid` owns in `room_id`, in order.
    pub(crate) fn owned_in(&self, sid: SessionId, room_id: &str) -> Vec<String> {
        let mut ids = self.owned_by(sid);
        ids.retain(|id| self.by_id.get(id).is_some_and(|s| s.room_id == room_id));
        ids
    }

    /// Every stream.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &Stream)> {
        self.by_id.iter()
    }

    /// The streams held in `room_id`, live or not.
    pub(crate) fn in_room<'a>(&'a self, room_id: &'a str) -> impl Iterator<Item = (&'a String, &'a Stream)> {
        self.by_id.iter().filter(move |(_, s)| s.room_id == room_id)
    }

    /// The live streams of `room_id`.
    pub(crate) fn live_in<'a>(&'a self, room_id: &'a str) -> impl Iterator<Item = (&'a String, &'a Stream)> {
        self.in_room(room_id).filter(|(_, s)| s.live)
    }

    /// `sid`'s publish intent for `stream_id` in `room_id`: a new reservation, or its own
    /// again (its extra info replaced). A stream of another owner or in another room is
    /// `stream_taken`.
    pub(crate) fn reserve(
        &mut self,
        sid: SessionId,
        stream_id: &str,
        room_id: String,
        user: &User,
        extra_info: String,
    ) -> Result<&Stream, Refusal> {
        let stream = match self.by_id.entry(stream_id.to_owned()) {
            Entry::Occupied(held) if held.get().owner != Owner::Session(sid) => {
                return Err(Refusal::new(
                    ErrorCode::StreamTaken,
                    format!("stream {stream_id} is published by another user"),
                ));
            }
            Entry::Occupied(held) if held.get().room_id != room_id => {
                return Err(Refusal::new(
                    ErrorCode::StreamTaken,
                    format!("stream {stream_id} is already published in room {}", held.get().room_id),
                ));
            }
            Entry::Occupied(held) => held.into_mut(),
            Entry::Vacant(free) => {
                self.by_owner.entry(sid).or_default().insert(stream_id.to_owned());
                free.insert(Stream::new(room_id, Owner::Session(sid), user.clone()))
            }
        };
        stream.extra_info = extra_info;
        Ok(stream)
    }

    /// A publish of `stream_id` from a URL naming `user_id` and `room_id` (either may be
    /// empty) asks to start. A stream nobody holds becomes an external one of `room_id` when
    /// the URL names a room; a session's reservation refuses a URL of another user (an old one
    /// of a previous owner of the name). `None`: a stream no room announces.
    pub(crate) fn admit(
        &mut self,
        stream_id: &str,
        user_id: &str,
        room_id: &str,
    ) -> Result<Option<&mut Stream>, Refusal> {
        match self.by_id.get(stream_id) {
            None if !room_id.is_empty() => {
                let user = User { user_id: user_id.to_owned(), user_name: user_id.to_owned() };
                self.by_id.insert(stream_id.to_owned(), Stream::new(room_id.to_owned(), Owner::External, user));
            }
            Some(s) if s.owner != Owner::External && !user_id.is_empty() && user_id != s.user.user_id => {
                return Err(Refusal::new(
                    ErrorCode::StreamTaken,
                    format!("stream {stream_id} is reserved by another user"),
                ));
            }
            _ => {}
        }
        Ok(self.by_id.get_mut(stream_id))
    }

    /// Takes a stream out (its owner no longer holds it).
    pub(crate) fn remove(&mut self, stream_id: &str) -> Option<Stream> {
        let stream = self.by_id.remove(stream_id)?;
        if let Owner::Session(sid) = stream.owner {
            if let Some(ids) = self.by_owner.get_mut(&sid) {
                ids.remove(stream_id);
                if ids.is_empty() {
                    self.by_owner.remove(&sid);
                }
            }
        }
        Some(stream)
    }
}

/// A live stream whose reservation ended (stop, logout, kick) while its media connection is
/// being cut: `stream.closed` goes out when the media side reports the end, with its bytes.
pub(crate) struct Closing {
    pub room_id: String,
    pub user_id: String,
    pub since_ms: u64,
    pub reason: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> User {
        User { user_id: id.to_owned(), user_name: String::new() }
    }

    #[test]
    fn a_sessions_streams_are_indexed_until_removed() {
        let (a, b) = (SessionId::FIRST, SessionId::FIRST.next());
        let mut streams = Streams::default();
        streams.reserve(a, "s2", "r".into(), &user("ua"), String::new()).unwrap();
        streams.reserve(a, "s1", "r".into(), &user("ua"), String::new()).unwrap();
        assert_eq!(
            streams.reserve(b, "s1", "r".into(), &user("ub"), String::new()).unwrap_err().code,
            ErrorCode::StreamTaken
        );
        assert_eq!(
            streams.reserve(a, "s1", "q".into(), &user("ua"), String::new()).unwrap_err().code,
            ErrorCode::StreamTaken
        );
        assert_eq!(streams.reserve(a, "s1", "r".into(), &user("ua"), "x".into()).unwrap().extra_info, "x");
        assert!(streams.admit("ext", "e", "r").unwrap().is_some_and(|s| s.owner() == Owner::External));
        assert_eq!(streams.owned_by(a), ["s1", "s2"]);
        assert!(streams.owned_by(b).is_empty());
        assert!(streams.owned_mut(b, "s1").is_none());
        streams.remove("s1");
        streams.remove("s2");
        streams.remove("ext");
        assert!(streams.owned_by(a).is_empty() && streams.by_owner.is_empty() && streams.by_id.is_empty());
    }
}
