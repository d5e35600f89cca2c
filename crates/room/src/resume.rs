//! Resume: a client whose connection dropped takes its session back on a new connection within
//! the grace period. Room events it missed are replayed from each room's log (by the last `seq`
//! the client saw); when the log no longer reaches back that far, a `roomResync` snapshot is
//! sent instead and the client diffs it into ADD/DELETE events.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::error::{ErrorCode, Refusal};
use crate::hub::{ConnId, Hub, Now};
use crate::wire;

/// The secret a client presents to resume session `sid`: HMAC-SHA256(hub key, sid), hex.
pub(crate) fn resume_token(key: &[u8; 32], sid: u64) -> String {
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
    let sid = session_id
        .parse::<u64>()
        .ok()
        .filter(|sid| hub.sessions.contains_key(sid))
        .filter(|&sid| constant_time_eq(resume_token(&hub.key, sid).as_bytes(), token.as_bytes()));
    let Some(sid) = sid else {
        // A session kicked out recently says so (with a valid token), so the client does not
        // log in again and kick the other device in turn.
        let kicked = session_id
            .parse::<u64>()
            .ok()
            .filter(|&sid| constant_time_eq(resume_token(&hub.key, sid).as_bytes(), token.as_bytes()))
            .and_then(|sid| hub.kicked.get(&sid))
            .map(|(code, _)| *code);
        let refusal = match kicked {
            Some(code) => Refusal::new(code, "this session was ended; it cannot be resumed"),
            None => failed("no such session: the grace period is over"),
        };
        hub.reply(conn, id, Err(refusal));
        return;
    };
    // A connection the server still thinks is alive is a dead one the client gave up on.
    if let Some(old) = hub.sessions[&sid].conn {
        hub.close_conn(old, ErrorCode::KickedOut);
    }
    let s = hub.sessions.get_mut(&sid).expect("checked");
    s.conn = Some(conn);
    s.grace_until = None;
    hub.conns.get_mut(&conn).expect("frame came from it").session = Some(sid);

    let app_id = s.app_id;
    let member_rooms: Vec<String> = s.rooms.keys().cloned().collect();
    let mut plan = Vec::new();
    for room_id in &member_rooms {
        let room = &hub.apps[&app_id].rooms[room_id];
        let last = rooms.iter().find(|(r, _)| r == room_id).map(|(_, seq)| *seq);
        let covered = last.is_some_and(|last| {
            last <= room.seq && room.log.front().map_or(last == room.seq, |first| first.seq <= last + 1)
        });
        plan.push((room_id.clone(), if covered { last } else { None }, room.members.len()));
    }
    let listed: Vec<_> = plan
        .iter()
        .map(|(r, last, count)| json!({"roomID": r, "replayed": last.is_some(), "onlineCount": count}))
        .collect();
    hub.reply(conn, id, Ok(json!({"sessionID": sid.to_string(), "rooms": listed})));

    for (room_id, last, _) in plan {
        match last {
            Some(last) => {
                let room = &hub.apps[&app_id].rooms[&room_id];
                let frames: Vec<_> = room
                    .log
                    .iter()
                    .filter(|e| e.seq > last && hub.audience_includes(&e.to, sid, &room_id))
                    .map(|e| e.frame.clone())
                    .collect();
                for f in frames {
                    hub.send(conn, f);
                }
            }
            None => {
                let snap = crate::rooms::snapshot(hub, now, sid, &room_id);
                hub.send(conn, wire::push("roomResync", None, snap).into());
            }
        }
    }
    crate::streams::resend_states(hub, sid);
}
