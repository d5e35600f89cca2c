//! Room requests: login (with the room snapshot), logout, token renewal and expiry, messages,
//! custom commands, room extra info, and the coalesced online-count push.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use duet_token::{AppSecret, CLOCK_SKEW_SECS};
use serde_json::{Value, json};

use crate::error::{ErrorCode, Refusal};
use crate::hub::{Audience, ConnId, ExtraInfo, Hub, Membership, Now, Room, Session};
use crate::timers::TimerKey;
use crate::wire::{self, Login};

type Reply = Result<Value, Refusal>;

fn not_in_room(room_id: &str) -> Refusal {
    Refusal::new(ErrorCode::NotInRoom, format!("not logged into room {room_id}"))
}

pub(crate) fn login(hub: &mut Hub, now: Now, conn: ConnId, l: Login, secret: Option<AppSecret>) -> Reply {
    if l.protocol != wire::PROTOCOL_VERSION {
        return Err(Refusal::new(
            ErrorCode::UnsupportedProtocol,
            format!("this server speaks protocol {}", wire::PROTOCOL_VERSION),
        ));
    }
    let secret =
        secret.ok_or_else(|| Refusal::new(ErrorCode::UnknownApp, format!("no app with AppID {}", l.app_id)))?;
    let claims = duet_token::verify(&l.token, l.app_id, &secret, now.unix_s())?;
    claims.ensure_user(&l.user.user_id)?;
    claims.grant.ensure_login(&l.room_id)?;

    let current = hub.conns.get(&conn).and_then(|c| c.session);
    if let Some(s) = current.and_then(|sid| hub.sessions.get(&sid)) {
        if s.app_id != l.app_id || s.user.user_id != l.user.user_id {
            return Err(Refusal::new(ErrorCode::UserMismatch, "this connection is logged in as another user"));
        }
        if s.rooms.contains_key(&l.room_id) {
            return Err(Refusal::new(ErrorCode::AlreadyInRoom, format!("already in room {}", l.room_id)));
        }
        if !(l.multi_room && s.multi_room) {
            return Err(Refusal::new(
                ErrorCode::AlreadyInRoom,
                "already in a room; log out first or enable multi-room",
            ));
        }
    }
    let app = hub.app_entry(l.app_id, secret);
    if let Some(room) = app.rooms.get(&l.room_id) {
        if room.members.len() >= room.max_members as usize {
            return Err(Refusal::new(
                ErrorCode::RoomFull,
                format!("room {} is full ({} members)", l.room_id, room.max_members),
            ));
        }
    }
    if let Some(&other) = app.users.get(&l.user.user_id) {
        if Some(other) != current {
            hub.kick(now, other, ErrorCode::KickedOut);
        }
    }

    let sid = match current {
        Some(sid) => sid,
        None => {
            let sid = hub.next_session;
            hub.next_session += 1;
            hub.sessions.insert(
                sid,
                Session {
                    app_id: l.app_id,
                    user: l.user.clone(),
                    conn: Some(conn),
                    rooms: BTreeMap::new(),
                    multi_room: l.multi_room,
                    grace_until: None,
                    streams: BTreeSet::new(),
                },
            );
            hub.conns.get_mut(&conn).expect("frame came from it").session = Some(sid);
            sid
        }
    };
    let default_max = hub.cfg.default_max_members;
    let app = hub.apps.get_mut(&l.app_id).expect("inserted above");
    app.users.insert(l.user.user_id.clone(), sid);
    let max_members = if l.max_member_count == 0 { default_max } else { l.max_member_count.min(default_max) };
    let created = !app.rooms.contains_key(&l.room_id);
    app.rooms
        .entry(l.room_id.clone())
        .or_insert_with(|| Room {
            members: BTreeSet::new(),
            max_members,
            extra: BTreeMap::new(),
            seq: 0,
            log: VecDeque::new(),
            count_sent: 0,
            count_pending: false,
        })
        .members
        .insert(sid);
    let membership =
        Membership { user_update: l.user_update, grant: claims.grant, token_expire: claims.expire, warned: false };
    hub.sessions.get_mut(&sid).expect("session exists").rooms.insert(l.room_id.clone(), membership);
    schedule_token_timer(hub, now, sid, &l.room_id);
    if created {
        hub.event(now, l.app_id, "room.created", json!({"roomID": l.room_id}));
    }
    let data = json!({"roomID": l.room_id, "userID": l.user.user_id, "userName": l.user.user_name});
    hub.event(now, l.app_id, "user.login", data);

    let data = json!({"roomID": l.room_id, "updateType": "ADD", "userList": [l.user.to_json()]});
    hub.room_event(now, l.app_id, &l.room_id, "roomUserUpdate", data, Audience::UserUpdate { except: Some(sid) });
    mark_count(hub, now, l.app_id, &l.room_id);

    let mut reply = snapshot(hub, now, sid, &l.room_id);
    reply["sessionID"] = json!(sid.to_string());
    reply["resumeToken"] = json!(crate::resume::resume_token(&hub.key, sid));
    reply["tokenExpire"] = json!(claims.expire);
    reply["heartbeatMs"] = json!(hub.cfg.heartbeat.as_millis() as u64);
    Ok(reply)
}

/// What a member sees of a room: users (if it asked for them), live streams with play URLs,
/// extra info, the online count, and the room's event `seq` the snapshot is current to.
pub(crate) fn snapshot(hub: &Hub, now: Now, sid: u64, room_id: &str) -> Value {
    let s = &hub.sessions[&sid];
    let app = &hub.apps[&s.app_id];
    let room = &app.rooms[room_id];
    let user_update = s.rooms.get(room_id).is_some_and(|m| m.user_update);
    let users: Vec<Value> = if user_update {
        room.members
            .iter()
            .filter(|&&m| m != sid)
            .filter_map(|m| hub.sessions.get(m))
            .map(|m| m.user.to_json())
            .collect()
    } else {
        Vec::new()
    };
    let streams: Vec<Value> = app
        .streams
        .iter()
        .filter(|(_, st)| st.live && st.room_id == room_id)
        .map(|(id, st)| crate::streams::stream_json(hub, now, s.app_id, id, st))
        .collect();
    let extra: Vec<Value> = room.extra.iter().map(|(k, e)| extra_json(k, e)).collect();
    json!({"roomID": room_id, "seq": room.seq, "users": users, "streams": streams, "extraInfo": extra, "onlineCount": room.members.len()})
}

fn extra_json(key: &str, e: &ExtraInfo) -> Value {
    json!({"key": key, "value": e.value, "updateUser": e.update_user.to_json(), "updateTime": e.update_time})
}

pub(crate) fn logout(hub: &mut Hub, now: Now, sid: u64, room_id: Option<&str>) -> Reply {
    let rooms: Vec<String> = match room_id {
        Some(r) if !hub.sessions[&sid].rooms.contains_key(r) => return Err(not_in_room(r)),
        Some(r) => vec![r.to_owned()],
        None => hub.sessions[&sid].rooms.keys().cloned().collect(),
    };
    for r in rooms {
        hub.leave_room(now, sid, &r, "logout");
    }
    if hub.sessions.get(&sid).is_some_and(|s| s.rooms.is_empty()) {
        hub.remove_session(now, sid, "logout");
    }
    Ok(json!({}))
}

pub(crate) fn renew_token(hub: &mut Hub, now: Now, sid: u64, token: &str, room_id: Option<&str>) -> Reply {
    let s = &hub.sessions[&sid];
    let secret = &hub.apps[&s.app_id].secret;
    let claims = duet_token::verify(token, s.app_id, secret, now.unix_s())?;
    claims.ensure_user(&s.user.user_id)?;
    let rooms: Vec<String> = match room_id {
        Some(r) if !s.rooms.contains_key(r) => return Err(not_in_room(r)),
        Some(r) => vec![r.to_owned()],
        None => s.rooms.keys().cloned().collect(),
    };
    for r in &rooms {
        claims.grant.ensure_login(r)?;
    }
    for r in &rooms {
        let m = hub.sessions.get_mut(&sid).and_then(|s| s.rooms.get_mut(r)).expect("checked membership");
        m.grant = claims.grant.clone();
        m.token_expire = claims.expire;
        m.warned = false;
        schedule_token_timer(hub, now, sid, r);
    }
    Ok(json!({"tokenExpire": claims.expire}))
}

/// When the membership's next token event is due: the warning, then the expiry.
fn token_due(hub: &Hub, now: Now, m: &Membership) -> std::time::Instant {
    if m.warned {
        now.instant_at_unix(m.token_expire.saturating_add(CLOCK_SKEW_SECS))
    } else {
        now.instant_at_unix(m.token_expire).checked_sub(hub.cfg.token_warning).unwrap_or(now.at).max(now.at)
    }
}

fn schedule_token_timer(hub: &mut Hub, now: Now, sid: u64, room_id: &str) {
    let Some(m) = hub.sessions.get(&sid).and_then(|s| s.rooms.get(room_id)) else { return };
    let at = token_due(hub, now, m);
    hub.timers.schedule(at, TimerKey::Token(sid, room_id.to_owned()));
}

/// A token timer fired: warn once, then end the membership when the token has expired.
pub(crate) fn token_timer(hub: &mut Hub, now: Now, sid: u64, room_id: &str) {
    let Some(m) = hub.sessions.get(&sid).and_then(|s| s.rooms.get(room_id)) else { return };
    if token_due(hub, now, m) > now.at {
        return; // stale entry: the token was renewed and a later timer is scheduled
    }
    if !m.warned {
        let data = json!({"roomID": room_id, "tokenExpire": m.token_expire});
        hub.sessions.get_mut(&sid).and_then(|s| s.rooms.get_mut(room_id)).expect("checked").warned = true;
        hub.send_session(sid, wire::push("tokenWillExpire", None, data).into());
        schedule_token_timer(hub, now, sid, room_id);
        return;
    }
    let code = ErrorCode::TokenExpired;
    let data = json!({"roomID": room_id, "code": code.number(), "reason": code.name()});
    hub.send_session(sid, wire::push("kickout", None, data).into());
    hub.leave_room(now, sid, room_id, code.name());
    if hub.sessions.get(&sid).is_some_and(|s| s.rooms.is_empty()) {
        if let Some(conn) = hub.sessions.get(&sid).and_then(|s| s.conn) {
            hub.close_conn(conn, code);
        }
        hub.remember_kick(now, sid, code);
        hub.remove_session(now, sid, code.name());
    }
}

fn member_room<'a>(hub: &'a Hub, sid: u64, room_id: &str) -> Result<&'a Session, Refusal> {
    let s = &hub.sessions[&sid];
    if s.rooms.contains_key(room_id) { Ok(s) } else { Err(not_in_room(room_id)) }
}

pub(crate) fn send_message(hub: &mut Hub, now: Now, sid: u64, room_id: &str, message: String, barrage: bool) -> Reply {
    let s = member_room(hub, sid, room_id)?;
    let (app_id, from) = (s.app_id, s.user.to_json());
    let message_id = hub.next_message_id;
    hub.next_message_id += 1;
    let item = json!({"fromUser": from, "message": message, "sendTime": now.unix_ms, "messageID": message_id});
    let name = if barrage { "IMRecvBarrageMessage" } else { "IMRecvBroadcastMessage" };
    let data = json!({"roomID": room_id, "messageList": [item]});
    hub.room_event(now, app_id, room_id, name, data, Audience::All { except: Some(sid) });
    Ok(json!({"messageID": message_id}))
}

pub(crate) fn send_command(hub: &mut Hub, now: Now, sid: u64, room_id: &str, command: String, to: &[String]) -> Reply {
    let s = member_room(hub, sid, room_id)?;
    let (app_id, from) = (s.app_id, s.user.to_json());
    let app = &hub.apps[&app_id];
    let room = &app.rooms[room_id];
    let audience = if to.is_empty() {
        Audience::All { except: Some(sid) }
    } else {
        Audience::Only(
            to.iter().filter_map(|u| app.users.get(u)).copied().filter(|t| room.members.contains(t)).collect(),
        )
    };
    let delivered = match &audience {
        Audience::Only(set) => set.len(),
        _ => room.members.len() - 1,
    };
    let data = json!({"roomID": room_id, "fromUser": from, "command": command});
    hub.room_event(now, app_id, room_id, "IMRecvCustomCommand", data, audience);
    Ok(json!({"delivered": delivered}))
}

pub(crate) fn set_room_extra(hub: &mut Hub, now: Now, sid: u64, room_id: &str, key: String, value: String) -> Reply {
    let s = member_room(hub, sid, room_id)?;
    let (app_id, user) = (s.app_id, s.user.clone());
    let room = hub.apps.get_mut(&app_id).and_then(|a| a.rooms.get_mut(room_id)).expect("member of it");
    if !room.extra.contains_key(&key) && room.extra.len() >= crate::limits::MAX_EXTRA_KEYS {
        return Err(Refusal::new(
            ErrorCode::TooManyKeys,
            format!("a room holds at most {} keys", crate::limits::MAX_EXTRA_KEYS),
        ));
    }
    let info = ExtraInfo { value, update_user: user, update_time: now.unix_ms };
    let item = extra_json(&key, &info);
    room.extra.insert(key, info);
    let data = json!({"roomID": room_id, "roomExtraInfoList": [item]});
    hub.room_event(now, app_id, room_id, "roomExtraInfoUpdate", data, Audience::All { except: Some(sid) });
    Ok(json!({}))
}

/// Asks for the room's online count to be pushed soon (coalesced to one push per interval).
pub(crate) fn mark_count(hub: &mut Hub, now: Now, app_id: u32, room_id: &str) {
    let interval = hub.cfg.count_interval;
    let Some(room) = hub.apps.get_mut(&app_id).and_then(|a| a.rooms.get_mut(room_id)) else { return };
    if !room.count_pending {
        room.count_pending = true;
        hub.timers.schedule(now.at + interval, TimerKey::Count(app_id, room_id.to_owned()));
    }
}

/// Pushes `roomOnlineUserCountUpdate` to every member when the count changed.
pub(crate) fn push_count(hub: &mut Hub, app_id: u32, room_id: &str) {
    let Some(room) = hub.apps.get_mut(&app_id).and_then(|a| a.rooms.get_mut(room_id)) else { return };
    room.count_pending = false;
    if room.members.len() == room.count_sent {
        return;
    }
    room.count_sent = room.members.len();
    let frame: std::sync::Arc<str> =
        wire::push("roomOnlineUserCountUpdate", None, json!({"roomID": room_id, "count": room.count_sent})).into();
    let members: Vec<u64> = room.members.iter().copied().collect();
    for sid in members {
        hub.send_session(sid, frame.clone());
    }
}
