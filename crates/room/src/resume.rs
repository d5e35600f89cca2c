//! Resume: a client whose connection dropped takes its session back on a new connection within
//! the grace period. Room events it missed are replayed from each room's log (by the last `seq`
//! the client saw); when the log no longer reaches back that far, a `roomResync` snapshot is
//! sent instead and the client diffs it into ADD/DELETE events.

use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::error::{ErrorCode, Refusal};
use crate::hub::Hub;
use crate::ids::{ConnId, SessionId};
use crate::io::Now;
use crate::wire;

/// The secret a client presents to resume session `sid`: HMAC-SHA256(hub key, sid), hex.
pub(crate) fn resume_token(key: &[u8; 32], sid: SessionId) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(b"duet/resume/v1");
    mac.update(&sid.to_be_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn resume(
    hub: &mut Hub,
    now: Now,
    conn: ConnId,
    id: u64,
    session_id: &str,
    token: &str,
    rooms: &[(String, u64)],
) {
    let failed = |why: &str| Refusal::new(ErrorCode::ResumeFailed, why.to_owned());
    if hub.conns.get(&conn).is_some_and(|c| c.session.is_some()) {
        hub.reply(conn, id, Err(failed("resume on a fresh connection, before any login")));
        return;
    }
    let signed = SessionId::parse(session_id)
        .filter(|&sid| constant_time_eq(resume_token(&hub.key, sid).as_bytes(), token.as_bytes()));
    let Some(sid) = signed.filter(|&sid| hub.sessions.get(sid).is_some()) else {
        // A session kicked out recently says so (with a valid token), so the client does not
        // log in again and kick the other device in turn.
        let kicked = signed.and_then(|sid| hub.kicked.get(&sid)).map(|(code, _)| *code);
        let refusal = match kicked {
            Some(code) => Refusal::new(code, "this session was ended; it cannot be resumed"),
            None => failed("no such session: the grace period is over"),
        };
        hub.reply(conn, id, Err(refusal));
        return;
    };
    hub.attach(sid, conn);

    let Some(s) = hub.sessions.get(sid) else { return };
    let app_id = s.app_id;
    let Some(app) = hub.apps.get(&app_id) else { return };
    let mut plan = Vec::new();
    for (room_id, room) in s.rooms().keys().filter_map(|r| Some((r, app.room(r)?))) {
        let last = rooms.iter().find(|(r, _)| r == room_id).map(|(_, seq)| *seq);
        let replayed = last.filter(|&last| room.replays_from(last));
        plan.push((room_id.clone(), replayed, room.member_count()));
    }
    let listed: Vec<_> = plan
        .iter()
        .map(|(r, last, count)| json!({"roomID": r, "replayed": last.is_some(), "onlineCount": count}))
        .collect();
    let log_token = crate::rooms::log_token(hub, now, sid);
    hub.reply(conn, id, Ok(json!({"sessionID": sid.to_string(), "rooms": listed, "logToken": log_token})));

    for (room_id, last, _) in plan {
        let frames: Vec<Arc<str>> = match last {
            Some(last) => hub.room(app_id, &room_id).map_or_else(Vec::new, |room| {
                let missed = room.log.iter().filter(|e| e.seq > last && hub.audience_includes(&e.to, sid, &room_id));
                missed.map(|e| e.frame.clone()).collect()
            }),
            None => crate::rooms::snapshot(hub, now, sid, &room_id)
                .map(|snap| wire::push("roomResync", None, snap).into())
                .into_iter()
                .collect(),
        };
        for f in frames {
            hub.send(conn, f);
        }
    }
    crate::streams::resend_states(hub, sid);
}
