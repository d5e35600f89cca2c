//! What is said into a room, by a member (requests) or by the server (admin API): broadcast
//! and barrage messages, custom commands, and room extra info.

use serde_json::{Value, json};

use crate::admin::server_user;
use crate::error::{ErrorCode, Refusal};
use crate::hub::Hub;
use crate::ids::SessionId;
use crate::io::Now;
use crate::room::{Audience, ExtraInfo};
use crate::wire::User;

/// No open room of that name (admin requests).
pub(crate) fn no_room(room_id: &str) -> Refusal {
    Refusal::new(ErrorCode::RoomNotFound, format!("no open room {room_id}"))
}

/// Who speaks into an open room: a member, who does not hear itself, or the server. Made only
/// by [`Speaker::member`] and [`Speaker::server`], which check that the room is open.
pub(crate) struct Speaker<'r> {
    app_id: u32,
    room_id: &'r str,
    user: User,
    except: Option<SessionId>,
}

impl<'r> Speaker<'r> {
    /// Session `sid`, which must be a member of `room_id`.
    pub(crate) fn member(hub: &Hub, sid: SessionId, room_id: &'r str) -> Result<Self, Refusal> {
        let s = hub.caller(sid)?;
        s.membership(room_id)?;
        Ok(Self { app_id: s.app_id, room_id, user: s.user.clone(), except: Some(sid) })
    }

    /// The app's business server, into an open room.
    pub(crate) fn server(hub: &Hub, app_id: u32, room_id: &'r str) -> Result<Self, Refusal> {
        hub.room(app_id, room_id).ok_or_else(|| no_room(room_id))?;
        Ok(Self { app_id, room_id, user: server_user(), except: None })
    }

    /// A broadcast (or barrage) message to every other member.
    pub(crate) fn message(self, hub: &mut Hub, now: Now, message: String, barrage: bool) -> Value {
        let message_id = hub.next_message_id;
        hub.next_message_id += 1;
        let item = json!({"fromUser": self.user.to_json(), "message": message, "sendTime": now.unix_ms, "messageID": message_id});
        let name = if barrage { "IMRecvBarrageMessage" } else { "IMRecvBroadcastMessage" };
        let data = json!({"roomID": self.room_id, "messageList": [item]});
        hub.room_event(now, self.app_id, self.room_id, name, data, Audience::All { except: self.except });
        json!({"messageID": message_id})
    }

    /// A custom command to the members named by userID (every other member when none is).
    pub(crate) fn command(self, hub: &mut Hub, now: Now, command: String, to: &[String]) -> Value {
        let (app, room) = match hub.apps.get(&self.app_id) {
            Some(app) => (app, app.room(self.room_id)),
            None => return json!({"delivered": 0}),
        };
        let audience = if to.is_empty() {
            Audience::All { except: self.except }
        } else {
            let named = to.iter().filter_map(|u| app.session_of(u));
            Audience::Only(named.filter(|&t| room.is_some_and(|r| r.has_member(t))).collect())
        };
        let delivered = match &audience {
            Audience::Only(set) => set.len(),
            _ => room.map_or(0, |r| r.members().filter(|&m| Some(m) != self.except).count()),
        };
        let data = json!({"roomID": self.room_id, "fromUser": self.user.to_json(), "command": command});
        hub.room_event(now, self.app_id, self.room_id, "IMRecvCustomCommand", data, audience);
        json!({"delivered": delivered})
    }

    /// Sets one room extra-info key and tells every other member.
    pub(crate) fn set_extra(self, hub: &mut Hub, now: Now, key: String, value: String) -> Result<Value, Refusal> {
        let info = ExtraInfo { value, update_user: self.user, update_time: now.unix_ms };
        let room = hub.room_mut(self.app_id, self.room_id).ok_or_else(|| no_room(self.room_id))?;
        let item = room.set_extra(key, info)?;
        room.recorded = true;
        let record = Some(room.saved());
        hub.out.push_back(crate::Output::RoomRecord { app_id: self.app_id, room_id: self.room_id.to_owned(), record });
        let data = json!({"roomID": self.room_id, "roomExtraInfoList": [item]});
        hub.room_event(
            now,
            self.app_id,
            self.room_id,
            "roomExtraInfoUpdate",
            data,
            Audience::All { except: self.except },
        );
        Ok(json!({}))
    }
}
