//! Session lifecycle: detaching when a connection drops, removal (grace over, logout,
//! kick-out), leaving one room, and kicking a session out.

use serde_json::json;

use crate::error::ErrorCode;
use crate::hub::{Audience, Hub, Now};
use crate::timers::TimerKey;
use crate::wire;

impl Hub {
    /// The session's connection is gone; it may be resumed until the grace period ends.
    pub(crate) fn detach(&mut self, now: Now, sid: u64) {
        let grace = self.cfg.resume_grace;
        let Some(s) = self.sessions.get_mut(&sid) else { return };
        s.conn = None;
        if s.rooms.is_empty() {
            self.remove_session(now, sid, "logout");
            return;
        }
        let until = now.at + grace;
        s.grace_until = Some(until);
        self.timers.schedule(until, TimerKey::Grace(sid));
    }

    /// Ends a session: it leaves every room (others see user DELETE and its streams end).
    /// `reason` is what the `user.logout` events say.
    pub(crate) fn remove_session(&mut self, now: Now, sid: u64, reason: &'static str) {
        let Some(rooms) = self.sessions.get(&sid).map(|s| s.rooms.keys().cloned().collect::<Vec<_>>()) else { return };
        for room in rooms {
            self.leave_room(now, sid, &room, reason);
        }
        let Some(s) = self.sessions.remove(&sid) else { return };
        for stream in &s.streams {
            crate::streams::release(self, now, s.app_id, stream, false, reason);
        }
        if let Some(app) = self.apps.get_mut(&s.app_id) {
            if app.users.get(&s.user.user_id) == Some(&sid) {
                app.users.remove(&s.user.user_id);
            }
        }
        if let Some(c) = s.conn.and_then(|conn| self.conns.get_mut(&conn)) {
            c.session = None;
        }
    }

    /// Takes a session out of one room; the room closes when its last member leaves.
    pub(crate) fn leave_room(&mut self, now: Now, sid: u64, room_id: &str, reason: &'static str) {
        let Some(s) = self.sessions.get_mut(&sid) else { return };
        if s.rooms.remove(room_id).is_none() {
            return;
        }
        self.timers.cancel(&TimerKey::Token(sid, room_id.to_owned()));
        let (app_id, user) = (s.app_id, s.user.clone());
        let data = json!({"roomID": room_id, "userID": user.user_id, "userName": user.user_name, "reason": reason});
        self.event(now, app_id, "user.logout", data);
        let published: Vec<String> = self
            .apps
            .get(&app_id)
            .map(|a| {
                a.streams
                    .iter()
                    .filter(|(_, st)| st.owner == sid && st.room_id == room_id)
                    .map(|(id, _)| id.clone())
                    .collect()
            })
            .unwrap_or_default();
        for stream in published {
            crate::streams::release(self, now, app_id, &stream, false, reason);
        }
        let Some(room) = self.apps.get_mut(&app_id).and_then(|a| a.rooms.get_mut(room_id)) else { return };
        room.members.remove(&sid);
        if room.members.is_empty() {
            self.apps.get_mut(&app_id).expect("app of a room").rooms.remove(room_id);
            self.event(now, app_id, "room.closed", json!({"roomID": room_id}));
            return;
        }
        let data = json!({"roomID": room_id, "updateType": "DELETE", "userList": [user.to_json()]});
        self.room_event(now, app_id, room_id, "roomUserUpdate", data, Audience::UserUpdate { except: None });
        crate::rooms::mark_count(self, now, app_id, room_id);
    }

    /// Tells the session why it is out of each room, closes its connection, and removes it.
    pub(crate) fn kick(&mut self, now: Now, sid: u64, code: ErrorCode) {
        let Some(s) = self.sessions.get(&sid) else { return };
        let rooms: Vec<String> = s.rooms.keys().cloned().collect();
        for room in rooms {
            let data = json!({"roomID": room, "code": code.number(), "reason": code.name()});
            self.send_session(sid, wire::push("kickout", None, data).into());
        }
        if let Some(conn) = self.sessions.get(&sid).and_then(|s| s.conn) {
            self.close_conn(conn, code);
        }
        self.remember_kick(now, sid, code);
        self.remove_session(now, sid, code.name());
    }
}
