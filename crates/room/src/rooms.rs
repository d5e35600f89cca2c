//! Room requests: login (with the room snapshot), logout, token renewal and expiry, what a
//! member says into a room (through a `Speaker`), and the coalesced online-count push.

use duet_token::CLOCK_SKEW_SECS;
use serde_json::{Value, json};

use crate::error::{ErrorCode, Refusal};
use crate::hub::Hub;
use crate::ids::{ConnId, SessionId};
use crate::io::Now;
use crate::prepare::{LoginCheck, Verified};
use crate::room::Audience;
use crate::session::Membership;
use crate::speaker::Speaker;
use crate::timers::TimerKey;
use crate::wire::{self, Login};

type Reply = Result<Value, Refusal>;

pub(crate) fn login(hub: &mut Hub, now: Now, conn: ConnId, l: Login, check: LoginCheck) -> Reply {
    let Verified { secret, claims } = check.admit(&l, now.unix_s())?;

    let current = hub.conns.get(&conn).and_then(|c| c.session);
    if let Some(s) = current.and_then(|sid| hub.sessions.get(sid)) {
        if s.app_id != l.app_id || s.user.user_id != l.user.user_id {
            return Err(Refusal::new(ErrorCode::UserMismatch, "this connection is logged in as another user"));
        }
        if s.rooms().contains_key(&l.room_id) {
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
    if let Some(room) = app.room(&l.room_id) {
        room.check_room_for_one_more(&l.room_id)?;
    }
    if let Some(other) = app.session_of(&l.user.user_id).filter(|&other| Some(other) != current) {
        hub.kick(now, other, ErrorCode::KickedOut);
    }

    // A connection already logged in (as this user: checked above) adds a room to its session.
    let sid = match current {
        Some(sid) => sid,
        None => hub.open_session(now, conn, l.app_id, l.user.clone(), l.multi_room),
    };
    let default_max = hub.cfg.default_max_members;
    let max_members = if l.max_member_count == 0 { default_max } else { l.max_member_count.min(default_max) };
    let membership =
        Membership { user_update: l.user_update, grant: claims.grant, token_expire: claims.expire, warned: false };
    let created = hub.join_room(sid, &l.room_id, membership, max_members);
    schedule_token_timer(hub, now, sid, &l.room_id);
    if created {
        hub.restore_room(now, l.app_id, &l.room_id);
        hub.event(now, l.app_id, "room.created", json!({"roomID": l.room_id}));
    }
    let data = json!({"roomID": l.room_id, "userID": l.user.user_id, "userName": l.user.user_name});
    hub.event(now, l.app_id, "user.login", data);

    let data = json!({"roomID": l.room_id, "updateType": "ADD", "userList": [l.user.to_json()]});
    hub.room_event(now, l.app_id, &l.room_id, "roomUserUpdate", data, Audience::UserUpdate { except: Some(sid) });
    mark_count(hub, now, l.app_id, &l.room_id);

    // The session and the room exist: the session was found or opened and joined the room above.
    let mut reply = snapshot(hub, now, sid, &l.room_id).expect("joined above");
    reply["sessionID"] = json!(sid.to_string());
    reply["resumeToken"] = json!(crate::resume::resume_token(&hub.key, sid));
    reply["tokenExpire"] = json!(claims.expire);
    reply["heartbeatMs"] = json!(hub.cfg.heartbeat.as_millis() as u64);
    reply["logToken"] = json!(log_token(hub, now, sid));
    Ok(reply)
}

/// The session's credential for `POST /httplog` (`duet_token::LogGrant`), valid for
/// `LOG_TOKEN_TTL_SECS` from now; login, resume and token renewal hand out a fresh one.
pub(crate) fn log_token(hub: &Hub, now: Now, sid: SessionId) -> Option<String> {
    let (s, app) = hub.caller_app(sid).ok()?;
    let session_id = sid.to_string();
    let grant = duet_token::LogGrant { app_id: s.app_id, session_id: &session_id, user_id: &s.user.user_id };
    Some(grant.token(&app.secret, (now.unix_s().max(0) as u64).saturating_add(duet_token::LOG_TOKEN_TTL_SECS)))
}

/// What a member sees of a room: users (if it asked for them), live streams with play URLs,
/// extra info, the online count, and the room's event `seq` the snapshot is current to.
/// `None` when `sid` is not a member of an open `room_id`.
pub(crate) fn snapshot(hub: &Hub, now: Now, sid: SessionId, room_id: &str) -> Option<Value> {
    let s = hub.sessions.get(sid)?;
    let app = hub.apps.get(&s.app_id)?;
    let room = app.room(room_id)?;
    let user_update = s.rooms().get(room_id).is_some_and(|m| m.user_update);
    let users: Vec<Value> = if user_update {
        let others = room.members().filter(|&m| m != sid);
        others.filter_map(|m| hub.sessions.get(m)).map(|m| m.user.to_json()).collect()
    } else {
        Vec::new()
    };
    let streams: Vec<Value> =
        app.streams.live_in(room_id).map(|(id, st)| crate::streams::stream_json(&hub.cfg, app, now, id, st)).collect();
    let (seq, extra, count) = (room.seq, room.extra_json(), room.member_count());
    Some(
        json!({"roomID": room_id, "seq": seq, "users": users, "streams": streams, "extraInfo": extra, "onlineCount": count}),
    )
}

pub(crate) fn logout(hub: &mut Hub, now: Now, sid: SessionId, room_id: Option<&str>) -> Reply {
    let rooms = hub.caller(sid)?.rooms_named(room_id)?;
    for r in rooms {
        hub.leave_room(now, sid, &r, "logout");
    }
    if hub.sessions.is_roomless(sid) {
        hub.remove_session(now, sid, "logout");
    }
    Ok(json!({}))
}

pub(crate) fn renew_token(hub: &mut Hub, now: Now, sid: SessionId, token: &str, room_id: Option<&str>) -> Reply {
    let (s, app) = hub.caller_app(sid)?;
    let claims = duet_token::verify(token, s.app_id, &app.secret, now.unix_s())?;
    claims.ensure_user(&s.user.user_id)?;
    let rooms = s.rooms_named(room_id)?;
    for r in &rooms {
        claims.grant.ensure_login(r)?;
    }
    for r in &rooms {
        if let Some(m) = hub.sessions.get_mut(sid).and_then(|s| s.membership_mut(r)) {
            m.grant = claims.grant.clone();
            m.token_expire = claims.expire;
            m.warned = false;
        }
        schedule_token_timer(hub, now, sid, r);
    }
    Ok(json!({"tokenExpire": claims.expire, "logToken": log_token(hub, now, sid)}))
}

/// When the membership's next token event is due: the warning, then the expiry.
fn token_due(hub: &Hub, now: Now, m: &Membership) -> std::time::Instant {
    if m.warned {
        now.instant_at_unix(m.token_expire.saturating_add(CLOCK_SKEW_SECS))
    } else {
        now.instant_at_unix(m.token_expire).checked_sub(hub.cfg.token_warning).unwrap_or(now.at).max(now.at)
    }
}

fn schedule_token_timer(hub: &mut Hub, now: Now, sid: SessionId, room_id: &str) {
    let Some(m) = hub.sessions.get(sid).and_then(|s| s.rooms().get(room_id)) else { return };
    let at = token_due(hub, now, m);
    hub.timers.schedule(at, TimerKey::Token(sid, room_id.to_owned()));
}

/// A token timer fired: warn once, then end the membership when the token has expired.
pub(crate) fn token_timer(hub: &mut Hub, now: Now, sid: SessionId, room_id: &str) {
    let Some(m) = hub.sessions.get(sid).and_then(|s| s.rooms().get(room_id)) else { return };
    if token_due(hub, now, m) > now.at {
        return; // stale entry: the token was renewed and a later timer is scheduled
    }
    if !m.warned {
        let data = json!({"roomID": room_id, "tokenExpire": m.token_expire});
        if let Some(m) = hub.sessions.get_mut(sid).and_then(|s| s.membership_mut(room_id)) {
            m.warned = true;
        }
        hub.send_session(sid, wire::push("tokenWillExpire", None, data).into());
        schedule_token_timer(hub, now, sid, room_id);
        return;
    }
    hub.evict(now, sid, room_id, ErrorCode::TokenExpired);
}

pub(crate) fn send_message(
    hub: &mut Hub,
    now: Now,
    sid: SessionId,
    room_id: &str,
    message: String,
    barrage: bool,
) -> Reply {
    Ok(Speaker::member(hub, sid, room_id)?.message(hub, now, message, barrage))
}

pub(crate) fn send_command(
    hub: &mut Hub,
    now: Now,
    sid: SessionId,
    room_id: &str,
    command: String,
    to: &[String],
) -> Reply {
    Ok(Speaker::member(hub, sid, room_id)?.command(hub, now, command, to))
}

pub(crate) fn set_room_extra(
    hub: &mut Hub,
    now: Now,
    sid: SessionId,
    room_id: &str,
    key: String,
    value: String,
) -> Reply {
    Speaker::member(hub, sid, room_id)?.set_extra(hub, now, key, value)
}

/// Asks for the room's online count to be pushed soon (coalesced to one push per interval).
pub(crate) fn mark_count(hub: &mut Hub, now: Now, app_id: u32, room_id: &str) {
    let interval = hub.cfg.count_interval;
    let Some(room) = hub.room_mut(app_id, room_id) else { return };
    if !room.count_pending {
        room.count_pending = true;
        hub.timers.schedule(now.at + interval, TimerKey::Count(app_id, room_id.to_owned()));
    }
}

/// Pushes `roomOnlineUserCountUpdate` to every member when the count changed.
pub(crate) fn push_count(hub: &mut Hub, app_id: u32, room_id: &str) {
    let Some(room) = hub.room_mut(app_id, room_id) else { return };
    room.count_pending = false;
    if room.member_count() == room.count_sent {
        return;
    }
    room.count_sent = room.member_count();
    let frame: std::sync::Arc<str> =
        wire::push("roomOnlineUserCountUpdate", None, json!({"roomID": room_id, "count": room.count_sent})).into();
    let members: Vec<SessionId> = room.members().collect();
    for sid in members {
        hub.send_session(sid, frame.clone());
    }
}
