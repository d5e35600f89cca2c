//! Where sessions meet connections, rooms and users: the hub keeps each rule that ties them
//! here, once.
//!
//! - A connection's session is attached to that connection, and the other way round
//!   ([`Hub::attach`], [`Hub::close_conn`], [`Hub::detach`], [`Hub::remove_session`]).
//! - A room's members are exactly the sessions that list the room, and a room is open while
//!   it has a member ([`Hub::join_room`], [`Hub::leave_room`]).
//! - A user has one session per app ([`Hub::open_session`] binds it, [`Hub::remove_session`]
//!   unbinds it); a session's streams end when it leaves their room or ends.

use std::sync::Arc;

use serde_json::json;

use crate::error::ErrorCode;
use crate::hub::Hub;
use crate::ids::{ConnId, SessionId};
use crate::io::{Now, Output};
use crate::room::Audience;
use crate::session::{Membership, Session};
use crate::timers::TimerKey;
use crate::wire::{self, User};

/// The `kickout` push telling a session it is out of `room_id`.
fn kickout(room_id: &str, code: ErrorCode) -> Arc<str> {
    wire::push("kickout", None, json!({"roomID": room_id, "code": code.number(), "reason": code.name()})).into()
}

impl Hub {
    /// A new session of `user` on `conn`, attached to it and bound as the user's session in the
    /// app (the caller kicked out any other session of the user first).
    pub(crate) fn open_session(
        &mut self,
        now: Now,
        conn: ConnId,
        app_id: u32,
        user: User,
        multi_room: bool,
    ) -> SessionId {
        let user_id = user.user_id.clone();
        let sid = self.sessions.open(Session::new(app_id, user, conn, multi_room, now.unix_ms));
        self.attach(sid, conn);
        if let Some(app) = self.apps.get_mut(&app_id) {
            app.bind_user(&user_id, sid);
        }
        sid
    }

    /// Attaches a session to a connection. A connection it was still attached to is one the
    /// client gave up on: it is closed.
    pub(crate) fn attach(&mut self, sid: SessionId, conn: ConnId) {
        if let Some(old) = self.sessions.conn(sid).filter(|&old| old != conn) {
            self.close_conn(old, ErrorCode::KickedOut);
        }
        if let Some(s) = self.sessions.get_mut(sid) {
            s.conn = Some(conn);
            s.grace_until = None;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session = Some(sid);
        }
    }

    /// Closes a connection from the server side and returns the session that was on it, now
    /// detached; the caller either lets it wait for a resume or removes it.
    pub(crate) fn close_conn(&mut self, conn: ConnId, code: ErrorCode) -> Option<SessionId> {
        self.timers.cancel(&TimerKey::Heartbeat(conn));
        let c = self.conns.remove(&conn)?;
        self.out.push_back(Output::Close { conn, code });
        let sid = c.session?;
        if let Some(s) = self.sessions.get_mut(sid) {
            s.conn = None;
        }
        Some(sid)
    }

    /// The session's connection is gone; it may be resumed until the grace period ends.
    pub(crate) fn detach(&mut self, now: Now, sid: SessionId) {
        let grace = self.cfg.resume_grace;
        let Some(s) = self.sessions.get_mut(sid) else { return };
        s.conn = None;
        if s.rooms().is_empty() {
            self.remove_session(now, sid, "logout");
            return;
        }
        let until = now.at + grace;
        s.grace_until = Some(until);
        self.timers.schedule(until, TimerKey::Grace(sid));
    }

    /// Ends a session: it leaves every room (others see user DELETE and its streams end).
    /// `reason` is what the `user.logout` events say.
    pub(crate) fn remove_session(&mut self, now: Now, sid: SessionId, reason: &'static str) {
        let Some(rooms) = self.sessions.get(sid).map(Session::room_ids) else { return };
        for room in rooms {
            self.leave_room(now, sid, &room, reason);
        }
        let Some(s) = self.sessions.remove(sid) else { return };
        let owned = self.apps.get(&s.app_id).map(|a| a.streams.owned_by(sid)).unwrap_or_default();
        for stream in owned {
            crate::streams::release(self, now, s.app_id, &stream, false, reason);
        }
        if let Some(app) = self.apps.get_mut(&s.app_id) {
            app.unbind_user(&s.user.user_id, sid);
        }
        if let Some(c) = s.conn.and_then(|conn| self.conns.get_mut(&conn)) {
            c.session = None;
        }
    }

    /// Puts a session in a room, opening the room (with `max_members`) if needed; true when
    /// the room was just opened.
    pub(crate) fn join_room(
        &mut self,
        sid: SessionId,
        room_id: &str,
        membership: Membership,
        max_members: u32,
    ) -> bool {
        let Some(s) = self.sessions.get_mut(sid) else { return false };
        let Some(app) = self.apps.get_mut(&s.app_id) else { return false };
        let (room, created) = app.open_room(room_id, max_members);
        room.join(sid);
        s.enter(room_id.to_owned(), membership);
        created
    }

    /// Takes a session out of one room; its streams there end, and the room closes when its
    /// last member leaves.
    pub(crate) fn leave_room(&mut self, now: Now, sid: SessionId, room_id: &str, reason: &'static str) {
        let Some(s) = self.sessions.get_mut(sid) else { return };
        if !s.exit(room_id) {
            return;
        }
        self.timers.cancel(&TimerKey::Token(sid, room_id.to_owned()));
        let (app_id, user) = (s.app_id, s.user.clone());
        let data = crate::events::user_logout(room_id, &user.user_id, &user.user_name, reason);
        self.event(now, app_id, "user.logout", data);
        let published = self.apps.get(&app_id).map(|a| a.streams.owned_in(sid, room_id)).unwrap_or_default();
        for stream in published {
            crate::streams::release(self, now, app_id, &stream, false, reason);
        }
        let Some(app) = self.apps.get_mut(&app_id) else { return };
        let Some(room) = app.room_mut(room_id) else { return };
        if room.leave(sid) {
            let recorded = room.recorded;
            app.close_room(room_id);
            if recorded {
                self.out.push_back(Output::RoomRecord { app_id, room_id: room_id.to_owned(), record: None });
            }
            self.event(now, app_id, "room.closed", crate::events::room_closed(room_id));
            return;
        }
        let data = json!({"roomID": room_id, "updateType": "DELETE", "userList": [user.to_json()]});
        self.room_event(now, app_id, room_id, "roomUserUpdate", data, Audience::UserUpdate { except: None });
        crate::rooms::mark_count(self, now, app_id, room_id);
    }

    /// Tells the session why it is out of each room, closes its connection, and removes it.
    pub(crate) fn kick(&mut self, now: Now, sid: SessionId, code: ErrorCode) {
        let Some(rooms) = self.sessions.get(sid).map(Session::room_ids) else { return };
        for room in rooms {
            self.send_session(sid, kickout(&room, code));
        }
        self.end_kicked(now, sid, code);
    }

    /// Takes one session out of one room, telling it why; the session ends with its last room.
    pub(crate) fn evict(&mut self, now: Now, sid: SessionId, room_id: &str, code: ErrorCode) {
        self.send_session(sid, kickout(room_id, code));
        self.leave_room(now, sid, room_id, code.name());
        if self.sessions.is_roomless(sid) {
            self.end_kicked(now, sid, code);
        }
    }

    /// Closes a kicked session's connection and removes it, remembering why for its resume.
    fn end_kicked(&mut self, now: Now, sid: SessionId, code: ErrorCode) {
        if let Some(conn) = self.sessions.conn(sid) {
            self.close_conn(conn, code);
        }
        self.remember_kick(now, sid, code);
        self.remove_session(now, sid, code.name());
    }
}
