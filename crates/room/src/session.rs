//! `Session` (one user logged into rooms of one app) and `Sessions`, the hub's table of them.
//! What ties a session to its connection, its rooms and its app's user map is kept by the
//! hub's methods in `membership.rs`; the streams it owns are indexed by its app's `Streams`.

use std::collections::HashMap;
use std::time::Instant;

use duet_token::Grant;

use crate::error::{ErrorCode, Refusal};
use crate::ids::{ConnId, SessionId};
use crate::wire::User;

/// A session's place in one room.
pub(crate) struct Membership {
    /// It asked for `roomUserUpdate` pushes.
    pub user_update: bool,
    /// What its token allows in this room.
    pub grant: Grant,
    /// When its token expires (unix seconds).
    pub token_expire: i64,
    /// `tokenWillExpire` was pushed for the current token.
    pub warned: bool,
}

/// One user logged into rooms of one app.
pub(crate) struct Session {
    pub app_id: u32,
    pub user: User,
    /// The connection it is attached to; none while it waits for a resume.
    pub conn: Option<ConnId>,
    pub multi_room: bool,
    /// When it logged in (unix ms): a login of the user on another node of a cluster ends the
    /// sessions that logged in before it.
    pub login_ms: u64,
    pub grace_until: Option<Instant>,
    /// Its rooms; changed only by `Hub::join_room` and `Hub::leave_room`, which change the
    /// rooms' member sets with them.
    rooms: RoomsOf,
}

impl Session {
    /// A session in no room yet, attached to `conn`.
    pub(crate) fn new(app_id: u32, user: User, conn: ConnId, multi_room: bool, login_ms: u64) -> Self {
        Self { app_id, user, conn: Some(conn), multi_room, login_ms, grace_until: None, rooms: RoomsOf::default() }
    }

    /// Its rooms, by ID.
    pub(crate) fn rooms(&self) -> &RoomsOf {
        &self.rooms
    }

    /// The IDs of its rooms, in order.
    pub(crate) fn room_ids(&self) -> Vec<String> {
        self.rooms.keys().cloned().collect()
    }

    /// Its membership of `room_id`, or `not_in_room`.
    pub(crate) fn membership(&self, room_id: &str) -> Result<&Membership, Refusal> {
        self.rooms.get(room_id).ok_or_else(|| not_in_room(room_id))
    }

    /// Its membership of `room_id`, to renew or warn.
    pub(crate) fn membership_mut(&mut self, room_id: &str) -> Option<&mut Membership> {
        self.rooms.get_mut(room_id)
    }

    /// The rooms a request names: `room_id` (which must be one of its rooms), or all of them.
    pub(crate) fn rooms_named(&self, room_id: Option<&str>) -> Result<Vec<String>, Refusal> {
        match room_id {
            Some(r) => self.membership(r).map(|_| vec![r.to_owned()]),
            None => Ok(self.room_ids()),
        }
    }

    /// Only for `Hub::join_room`.
    pub(crate) fn enter(&mut self, room_id: String, membership: Membership) {
        self.rooms.insert(room_id, membership);
    }

    /// Only for `Hub::leave_room`; false when it was not in the room.
    pub(crate) fn exit(&mut self, room_id: &str) -> bool {
        self.rooms.remove(room_id).is_some()
    }
}

/// A session's rooms, ordered by ID: a map kept as a sorted vector of exactly its length, since
/// almost every session is in one room (an ordered tree map allocates room for eleven).
#[derive(Default)]
pub(crate) struct RoomsOf(Vec<(String, Membership)>);

impl RoomsOf {
    fn find(&self, room_id: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(id, _)| id.as_str().cmp(room_id))
    }

    pub(crate) fn get(&self, room_id: &str) -> Option<&Membership> {
        self.find(room_id).ok().map(|i| &self.0[i].1)
    }

    fn get_mut(&mut self, room_id: &str) -> Option<&mut Membership> {
        self.find(room_id).ok().map(|i| &mut self.0[i].1)
    }

    pub(crate) fn contains_key(&self, room_id: &str) -> bool {
        self.find(room_id).is_ok()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The room IDs, in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(id, _)| id)
    }

    fn insert(&mut self, room_id: String, membership: Membership) {
        match self.find(&room_id) {
            Ok(i) => self.0[i].1 = membership,
            Err(i) => {
                self.0.reserve_exact(1);
                self.0.insert(i, (room_id, membership));
            }
        }
    }

    fn remove(&mut self, room_id: &str) -> Option<Membership> {
        self.find(room_id).ok().map(|i| self.0.remove(i).1)
    }
}

/// The refusal of a request naming a room the session is not in.
pub(crate) fn not_in_room(room_id: &str) -> Refusal {
    Refusal::new(ErrorCode::NotInRoom, format!("not logged into room {room_id}"))
}

/// Every session of a hub, by ID. It hands out the IDs: from [`SessionId::first_of`] its node
/// up, never one twice.
pub(crate) struct Sessions {
    map: HashMap<SessionId, Session>,
    next: SessionId,
}

impl Sessions {
    /// No sessions yet on the hub numbered `node`.
    pub(crate) fn new(node: u32) -> Self {
        Self { map: HashMap::new(), next: SessionId::first_of(node) }
    }

    /// Adds a session under a new ID.
    pub(crate) fn open(&mut self, session: Session) -> SessionId {
        let sid = self.next;
        self.next = sid.next();
        self.map.insert(sid, session);
        sid
    }

    pub(crate) fn get(&self, sid: SessionId) -> Option<&Session> {
        self.map.get(&sid)
    }

    pub(crate) fn get_mut(&mut self, sid: SessionId) -> Option<&mut Session> {
        self.map.get_mut(&sid)
    }

    pub(crate) fn remove(&mut self, sid: SessionId) -> Option<Session> {
        self.map.remove(&sid)
    }

    /// The connection `sid` is attached to.
    pub(crate) fn conn(&self, sid: SessionId) -> Option<ConnId> {
        self.get(sid).and_then(|s| s.conn)
    }

    /// Whether `sid` exists and is in no room (a session ends with its last room).
    pub(crate) fn is_roomless(&self, sid: SessionId) -> bool {
        self.get(sid).is_some_and(|s| s.rooms.is_empty())
    }

    pub(crate) fn ids(&self) -> Vec<SessionId> {
        self.map.keys().copied().collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}
