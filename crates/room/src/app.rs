//! `App`: one AppID's state on the hub: its secret, open rooms, the session of each logged-in
//! user, and its streams.

use std::collections::HashMap;

use duet_token::AppSecret;

use crate::ids::SessionId;
use crate::room::Room;
use crate::stream::Streams;

/// One app. A user has at most one session in it: logging in again elsewhere kicks the older
/// session out before [`App::bind_user`] names the new one, and a removed session unbinds only
/// itself ([`App::unbind_user`]), never a newer session of the same user.
pub(crate) struct App {
    pub id: u32,
    pub secret: AppSecret,
    pub streams: Streams,
    rooms: HashMap<String, Room>,
    users: HashMap<String, SessionId>,
}

impl App {
    pub(crate) fn new(id: u32, secret: AppSecret) -> Self {
        Self { id, secret, streams: Streams::default(), rooms: HashMap::new(), users: HashMap::new() }
    }

    pub(crate) fn room(&self, room_id: &str) -> Option<&Room> {
        self.rooms.get(room_id)
    }

    pub(crate) fn room_mut(&mut self, room_id: &str) -> Option<&mut Room> {
        self.rooms.get_mut(room_id)
    }

    /// Every open room.
    pub(crate) fn rooms(&self) -> impl Iterator<Item = (&String, &Room)> {
        self.rooms.iter()
    }

    pub(crate) fn rooms_mut(&mut self) -> impl Iterator<Item = &mut Room> {
        self.rooms.values_mut()
    }

    pub(crate) fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// `room_id`, opened with `max_members` if it was not; true when it was just opened. Only
    /// for `Hub::join_room`, which gives it its first member at once.
    pub(crate) fn open_room(&mut self, room_id: &str, max_members: u32) -> (&mut Room, bool) {
        let created = !self.rooms.contains_key(room_id);
        (self.rooms.entry(room_id.to_owned()).or_insert_with(|| Room::new(max_members)), created)
    }

    /// Only for `Hub::leave_room`, when the last member left.
    pub(crate) fn close_room(&mut self, room_id: &str) {
        self.rooms.remove(room_id);
    }

    /// The session `user_id` is logged in with.
    pub(crate) fn session_of(&self, user_id: &str) -> Option<SessionId> {
        self.users.get(user_id).copied()
    }

    /// `user_id` is now logged in as `sid` (any other session of the user was kicked first).
    pub(crate) fn bind_user(&mut self, user_id: &str, sid: SessionId) {
        self.users.insert(user_id.to_owned(), sid);
    }

    /// Session `sid` of `user_id` ended: the user is logged out, unless a newer session took
    /// the user over.
    pub(crate) fn unbind_user(&mut self, user_id: &str, sid: SessionId) {
        if self.users.get(user_id) == Some(&sid) {
            self.users.remove(user_id);
        }
    }
}
