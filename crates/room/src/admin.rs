//! What a business backend may see and steer through the HTTP API: rooms, their members and
//! streams, kicking users out, closing rooms, stopping streams, and speaking into a room as the
//! server. Every request is scoped to one app; another app's rooms do not exist for it.

use serde_json::{Value, json};

use crate::error::{ErrorCode, Refusal};
use crate::hub::Hub;
use crate::ids::Owner;
use crate::io::Now;
use crate::speaker::{Speaker, no_room};
use crate::wire::User;

/// Largest page of `Users`.
pub const MAX_PAGE: usize = 500;

/// The user messages and extra info from the server appear to come from.
pub fn server_user() -> User {
    User { user_id: "$server".to_owned(), user_name: "server".to_owned() }
}

/// One admin request, for one app (see [`Hub::admin`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRequest {
    /// Every open room.
    ListRooms,
    /// Every open room in detail (as [`AdminRequest::Room`] gives one), in one request.
    RoomDetails,
    /// One room: users, live streams, extra info.
    Room {
        /// Room.
        room_id: String,
    },
    /// A page of a room's users, ordered by userID.
    Users {
        /// Room.
        room_id: String,
        /// Users to skip.
        offset: usize,
        /// Page size, 1..=[`MAX_PAGE`].
        limit: usize,
    },
    /// Takes a user out of a room (`kickout` push with `kicked_by_server`).
    Kick {
        /// Room.
        room_id: String,
        /// User.
        user_id: String,
    },
    /// Takes a user out of every room of the app. With `before_ms`, only a session that logged
    /// in before then, told `kicked_out` (the user logged in again elsewhere: a cluster's
    /// nodes ask this of each other); without, told `kicked_by_server`.
    KickUser {
        /// User.
        user_id: String,
        /// Unix ms.
        before_ms: Option<u64>,
    },
    /// Takes everyone out of a room (`kickout` push with `room_closed`).
    CloseRoom {
        /// Room.
        room_id: String,
    },
    /// Every live stream of the app.
    ListStreams,
    /// Ends a live stream: DELETE to the room, media cut, the publisher told.
    StopStream {
        /// Stream.
        stream_id: String,
    },
    /// A broadcast (or barrage) message from the server.
    SendMessage {
        /// Room.
        room_id: String,
        /// Text.
        message: String,
        /// Barrage instead of broadcast.
        barrage: bool,
    },
    /// A custom command from the server to some members (all when empty).
    SendCommand {
        /// Room.
        room_id: String,
        /// Text.
        command: String,
        /// Recipients.
        to_user_ids: Vec<String>,
    },
    /// Sets a room extra-info key as the server.
    SetRoomExtra {
        /// Room.
        room_id: String,
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
}

impl AdminRequest {
    /// The room the request is about, if one.
    pub fn room(&self) -> Option<&str> {
        use AdminRequest as A;
        match self {
            A::Room { room_id }
            | A::Users { room_id, .. }
            | A::Kick { room_id, .. }
            | A::CloseRoom { room_id }
            | A::SendMessage { room_id, .. }
            | A::SendCommand { room_id, .. }
            | A::SetRoomExtra { room_id, .. } => Some(room_id),
            A::ListRooms | A::RoomDetails | A::ListStreams | A::StopStream { .. } | A::KickUser { .. } => None,
        }
    }

    /// The user the request is about when it names no room, if one.
    pub fn user(&self) -> Option<&str> {
        match self {
            AdminRequest::KickUser { user_id, .. } => Some(user_id),
            _ => None,
        }
    }

    /// The stream the request is about, if one.
    pub fn stream(&self) -> Option<&str> {
        match self {
            AdminRequest::StopStream { stream_id } => Some(stream_id),
            _ => None,
        }
    }
}

impl Hub {
    /// Runs an admin request for `app_id`; the reply is the JSON the HTTP API returns.
    pub fn admin(&mut self, now: Now, app_id: u32, request: AdminRequest) -> Result<Value, Refusal> {
        use AdminRequest as A;
        match request {
            A::ListRooms => Ok(self.list_rooms(app_id)),
            A::RoomDetails => {
                let mut ids: Vec<String> =
                    self.apps.get(&app_id).map(|a| a.rooms().map(|(id, _)| id.clone()).collect()).unwrap_or_default();
                ids.sort();
                let rooms: Result<Vec<Value>, Refusal> = ids.iter().map(|r| self.room_detail(now, app_id, r)).collect();
                Ok(json!({"rooms": rooms?}))
            }
            A::Room { room_id } => self.room_detail(now, app_id, &room_id),
            A::Users { room_id, offset, limit } => self.room_users(app_id, &room_id, offset, limit),
            A::Kick { room_id, user_id } => self.kick_user(now, app_id, &room_id, &user_id),
            A::KickUser { user_id, before_ms } => Ok(self.kick_everywhere(now, app_id, &user_id, before_ms)),
            A::CloseRoom { room_id } => self.close_room(now, app_id, &room_id),
            A::ListStreams => Ok(self.list_streams(app_id)),
            A::StopStream { stream_id } => self.stop_stream(now, app_id, &stream_id),
            A::SendMessage { room_id, message, barrage } => {
                Ok(Speaker::server(self, app_id, &room_id)?.message(self, now, message, barrage))
            }
            A::SendCommand { room_id, command, to_user_ids } => {
                Ok(Speaker::server(self, app_id, &room_id)?.command(self, now, command, &to_user_ids))
            }
            A::SetRoomExtra { room_id, key, value } => {
                Speaker::server(self, app_id, &room_id)?.set_extra(self, now, key, value)
            }
        }
    }

    fn list_rooms(&self, app_id: u32) -> Value {
        let Some(app) = self.apps.get(&app_id) else { return json!({"rooms": []}) };
        let mut rooms: Vec<(&String, usize, usize)> =
            app.rooms().map(|(id, r)| (id, r.member_count(), app.streams.live_in(id).count())).collect();
        rooms.sort();
        let rooms: Vec<Value> =
            rooms.into_iter().map(|(id, n, s)| json!({"roomID": id, "onlineCount": n, "streamCount": s})).collect();
        json!({"rooms": rooms})
    }

    fn sorted_users(&self, app_id: u32, room_id: &str) -> Result<Vec<&User>, Refusal> {
        let room = self.room(app_id, room_id).ok_or_else(|| no_room(room_id))?;
        let mut users: Vec<&User> = room.members().filter_map(|sid| self.sessions.get(sid)).map(|s| &s.user).collect();
        users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        Ok(users)
    }

    fn room_detail(&self, now: Now, app_id: u32, room_id: &str) -> Result<Value, Refusal> {
        let users: Vec<Value> = self.sorted_users(app_id, room_id)?.into_iter().map(User::to_json).collect();
        let app = self.apps.get(&app_id).ok_or_else(|| no_room(room_id))?;
        let room = app.room(room_id).ok_or_else(|| no_room(room_id))?;
        let mut streams: Vec<Value> = app
            .streams
            .live_in(room_id)
            .map(|(id, s)| {
                let mut v = crate::streams::stream_json(&self.cfg, app, now, id, s);
                v["webrtcProblem"] = s.webrtc_problem_json();
                v
            })
            .collect();
        streams.sort_by(|a, b| a["streamID"].as_str().cmp(&b["streamID"].as_str()));
        let extra = room.extra_json();
        Ok(
            json!({"roomID": room_id, "onlineCount": users.len(), "users": users, "streams": streams, "extraInfo": extra}),
        )
    }

    fn room_users(&self, app_id: u32, room_id: &str, offset: usize, limit: usize) -> Result<Value, Refusal> {
        if limit == 0 || limit > MAX_PAGE {
            return Err(Refusal::new(ErrorCode::InvalidField, format!("limit must be 1..={MAX_PAGE}")));
        }
        let users = self.sorted_users(app_id, room_id)?;
        let total = users.len();
        let page: Vec<Value> = users.into_iter().skip(offset).take(limit).map(User::to_json).collect();
        let next = (offset.saturating_add(page.len()) < total).then(|| offset + page.len());
        Ok(json!({"roomID": room_id, "total": total, "users": page, "nextOffset": next}))
    }

    fn kick_user(&mut self, now: Now, app_id: u32, room_id: &str, user_id: &str) -> Result<Value, Refusal> {
        let room = self.room(app_id, room_id).ok_or_else(|| no_room(room_id))?;
        let sid = self
            .apps
            .get(&app_id)
            .and_then(|a| a.session_of(user_id))
            .filter(|&sid| room.has_member(sid))
            .ok_or_else(|| Refusal::new(ErrorCode::UserNotFound, format!("{user_id} is not in room {room_id}")))?;
        self.evict(now, sid, room_id, ErrorCode::KickedByServer);
        Ok(json!({}))
    }

    fn kick_everywhere(&mut self, now: Now, app_id: u32, user_id: &str, before_ms: Option<u64>) -> Value {
        let sid = self.apps.get(&app_id).and_then(|a| a.session_of(user_id));
        let sid = sid
            .filter(|&sid| before_ms.is_none_or(|before| self.sessions.get(sid).is_some_and(|s| s.login_ms < before)));
        let Some(sid) = sid else { return json!({"kicked": 0}) };
        let code = if before_ms.is_some() { ErrorCode::KickedOut } else { ErrorCode::KickedByServer };
        self.kick(now, sid, code);
        json!({"kicked": 1})
    }

    fn close_room(&mut self, now: Now, app_id: u32, room_id: &str) -> Result<Value, Refusal> {
        let room = self.room(app_id, room_id).ok_or_else(|| no_room(room_id))?;
        let members: Vec<_> = room.members().collect();
        for &sid in &members {
            self.evict(now, sid, room_id, ErrorCode::RoomClosed);
        }
        // Streams pushed into the room by external encoders end with it.
        let external: Vec<String> = self.apps.get(&app_id).map_or_else(Vec::new, |a| {
            a.streams.in_room(room_id).filter(|(_, s)| s.owner() == Owner::External).map(|(id, _)| id.clone()).collect()
        });
        for stream_id in external {
            crate::streams::release(self, now, app_id, &stream_id, false, ErrorCode::RoomClosed.name());
        }
        Ok(json!({"kicked": members.len()}))
    }

    fn list_streams(&self, app_id: u32) -> Value {
        let Some(app) = self.apps.get(&app_id) else { return json!({"streams": []}) };
        let mut streams: Vec<Value> = app
            .streams
            .iter()
            .filter(|(_, s)| s.live)
            .map(|(id, s)| {
                json!({
                    "streamID": id, "roomID": s.room_id, "user": s.user.to_json(), "extraInfo": s.extra_info,
                    "since": s.live_since_ms, "webrtcProblem": s.webrtc_problem_json(),
                })
            })
            .collect();
        streams.sort_by(|a, b| a["streamID"].as_str().cmp(&b["streamID"].as_str()));
        json!({"streams": streams})
    }

    fn stop_stream(&mut self, now: Now, app_id: u32, stream_id: &str) -> Result<Value, Refusal> {
        let live = self.apps.get(&app_id).and_then(|a| a.streams.get(stream_id)).filter(|s| s.live);
        let Some(s) = live else {
            return Err(Refusal::new(ErrorCode::StreamNotFound, format!("stream {stream_id} is not live")));
        };
        let owner = s.owner().session();
        crate::streams::release(self, now, app_id, stream_id, false, ErrorCode::StoppedByServer.name());
        crate::streams::publisher_state(self, owner, stream_id, "NO_PUBLISH", Some(ErrorCode::StoppedByServer));
        Ok(json!({}))
    }
}
