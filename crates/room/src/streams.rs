//! Streams: publish intents (reserve a streamID, signed push URL), stop, play intents (signed
//! play URLs), stream extra info, and media events that turn a reservation live (stream ADD,
//! PUBLISHING) or end it (stream DELETE).

use serde_json::{Value, json};

use crate::error::{ErrorCode, Refusal};
use crate::hub::{Audience, Closing, ConnId, EXTERNAL, Hub, Now, Output, PublishEnded, PublishRequest, Stream};
use crate::wire;

type Reply<T = Value> = Result<T, Refusal>;

/// The stream object of roomStreamUpdate: `{streamID, user, extraInfo, urls...}`. Play URLs in
/// room pushes are signed for no particular user.
pub(crate) fn stream_json(hub: &Hub, now: Now, app_id: u32, stream_id: &str, s: &Stream) -> Value {
    let secret = &hub.apps[&app_id].secret;
    let mut v = hub.cfg.urls.play(secret, app_id, stream_id, "", now.unix_s() as u64);
    v["streamID"] = json!(stream_id);
    v["user"] = s.user.to_json();
    v["extraInfo"] = json!(s.extra_info);
    v
}

fn publisher_state(hub: &mut Hub, sid: u64, stream_id: &str, state: &str, code: Option<ErrorCode>) {
    let data = json!({"streamID": stream_id, "state": state, "errorCode": code.map_or(0, ErrorCode::number)});
    hub.send_session(sid, wire::push("publisherStateUpdate", None, data).into());
}

fn owned(hub: &Hub, sid: u64, stream_id: &str) -> Result<u32, Refusal> {
    let app_id = hub.sessions[&sid].app_id;
    match hub.apps.get(&app_id).and_then(|a| a.streams.get(stream_id)) {
        Some(s) if s.owner == sid => Ok(app_id),
        _ => Err(Refusal::new(ErrorCode::StreamNotOwned, format!("this session does not publish {stream_id}"))),
    }
}

/// Publish intent. Replies itself so that the reply precedes the publisher-state push.
#[allow(clippy::too_many_arguments)]
pub(crate) fn publish(
    hub: &mut Hub,
    now: Now,
    conn: ConnId,
    id: u64,
    sid: u64,
    room_id: Option<String>,
    stream_id: String,
    extra_info: String,
) {
    let result = reserve(hub, now, sid, room_id, &stream_id, extra_info);
    let live = result
        .as_ref()
        .ok()
        .and_then(|_| hub.apps[&hub.sessions[&sid].app_id].streams.get(&stream_id))
        .is_some_and(|s| s.live);
    let ok = result.is_ok();
    hub.reply(conn, id, result);
    if ok {
        let state = if live { "PUBLISHING" } else { "PUBLISH_REQUESTING" };
        publisher_state(hub, sid, &stream_id, state, None);
    }
}

fn reserve(hub: &mut Hub, now: Now, sid: u64, room_id: Option<String>, stream_id: &str, extra_info: String) -> Reply {
    let s = &hub.sessions[&sid];
    let room_id = match room_id {
        Some(r) => r,
        None if s.rooms.len() == 1 => s.rooms.keys().next().expect("one room").clone(),
        None => return Err(Refusal::new(ErrorCode::InvalidField, "roomID is required when in several rooms")),
    };
    let m = s
        .rooms
        .get(&room_id)
        .ok_or_else(|| Refusal::new(ErrorCode::NotInRoom, format!("not logged into room {room_id}")))?;
    m.grant.ensure_publish(&room_id, stream_id)?;
    let (app_id, user) = (s.app_id, s.user.clone());
    let app = hub.apps.get_mut(&app_id).expect("session's app");
    match app.streams.get_mut(stream_id) {
        Some(existing) if existing.owner != sid => {
            return Err(Refusal::new(
                ErrorCode::StreamTaken,
                format!("stream {stream_id} is published by another user"),
            ));
        }
        Some(existing) if existing.room_id != room_id => {
            return Err(Refusal::new(
                ErrorCode::StreamTaken,
                format!("stream {stream_id} is already published in room {}", existing.room_id),
            ));
        }
        Some(existing) => existing.extra_info = extra_info,
        None => {
            let mut stream = Stream::new(room_id, sid, user.clone());
            stream.extra_info = extra_info;
            app.streams.insert(stream_id.to_owned(), stream);
        }
    }
    hub.sessions.get_mut(&sid).expect("exists").streams.insert(stream_id.to_owned());
    let secret = &hub.apps[&app_id].secret;
    let url = hub.cfg.urls.publish(secret, app_id, stream_id, &user.user_id, now.unix_s() as u64);
    Ok(json!({"streamID": stream_id, "url": url, "urls": [url]}))
}

pub(crate) fn stop_publish(hub: &mut Hub, now: Now, sid: u64, stream_id: &str) -> Reply {
    let app_id = owned(hub, sid, stream_id)?;
    release(hub, now, app_id, stream_id, true, "stopped");
    Ok(json!({}))
}

/// Ends a reservation: a live stream is announced DELETE and its media connection cut
/// (`reason` goes into its `stream.closed` event).
pub(crate) fn release(hub: &mut Hub, now: Now, app_id: u32, stream_id: &str, tell_owner: bool, reason: &'static str) {
    let Some(s) = hub.apps.get_mut(&app_id).and_then(|a| a.streams.remove(stream_id)) else { return };
    for url in &s.relays {
        hub.out.push_back(Output::Relay { app_id, stream_id: stream_id.to_owned(), url: url.clone(), start: false });
    }
    if s.live {
        let data = json!({"roomID": s.room_id, "updateType": "DELETE", "streamList": [stream_json_of(hub, now, app_id, stream_id, &s)]});
        hub.room_event(now, app_id, &s.room_id, "roomStreamUpdate", data, Audience::All { except: Some(s.owner) });
        hub.out.push_back(Output::StopMedia { app_id, stream_id: stream_id.to_owned() });
        let closing = Closing {
            room_id: s.room_id.clone(),
            user_id: s.user.user_id.clone(),
            since_ms: s.live_since_ms,
            reason,
            publisher: s.publisher,
        };
        hub.closing.insert((app_id, stream_id.to_owned()), closing);
    }
    if let Some(owner) = hub.sessions.get_mut(&s.owner) {
        owner.streams.remove(stream_id);
    }
    if tell_owner {
        publisher_state(hub, s.owner, stream_id, "NO_PUBLISH", None);
    }
}

fn stream_json_of(hub: &Hub, now: Now, app_id: u32, stream_id: &str, s: &Stream) -> Value {
    stream_json(hub, now, app_id, stream_id, s)
}

pub(crate) fn play(hub: &mut Hub, now: Now, sid: u64, stream_id: &str) -> Reply {
    let s = &hub.sessions[&sid];
    let app = &hub.apps[&s.app_id];
    let mut v = hub.cfg.urls.play(&app.secret, s.app_id, stream_id, &s.user.user_id, now.unix_s() as u64);
    v["streamID"] = json!(stream_id);
    v["url"] = v["urlsRTMP"][0].clone();
    v["live"] = json!(app.streams.get(stream_id).is_some_and(|st| st.live));
    Ok(v)
}

pub(crate) fn set_extra(hub: &mut Hub, now: Now, sid: u64, stream_id: &str, extra_info: String) -> Reply {
    let app_id = owned(hub, sid, stream_id)?;
    let s = hub.apps.get_mut(&app_id).and_then(|a| a.streams.get_mut(stream_id)).expect("owned");
    s.extra_info = extra_info;
    if s.live {
        let room_id = s.room_id.clone();
        let item = json!({"streamID": stream_id, "user": s.user.to_json(), "extraInfo": s.extra_info});
        let data = json!({"roomID": room_id, "streamList": [item]});
        hub.room_event(now, app_id, &room_id, "streamExtraInfoUpdate", data, Audience::All { except: Some(sid) });
    }
    Ok(json!({}))
}

pub(crate) fn admit_publish(hub: &mut Hub, now: Now, req: PublishRequest) -> Reply<()> {
    let app_id = req.app_id;
    let app = hub.app_entry(app_id, req.secret);
    match app.streams.get(&req.stream_id) {
        None if !req.room_id.is_empty() => {
            let user = wire::User { user_id: req.user_id.clone(), user_name: req.user_id.clone() };
            app.streams.insert(req.stream_id.clone(), Stream::new(req.room_id, EXTERNAL, user));
        }
        // A URL signed for another user (an old one of a previous owner of this name) cannot
        // publish into this reservation.
        Some(s) if s.owner != EXTERNAL && !req.user_id.is_empty() && req.user_id != s.user.user_id => {
            return Err(Refusal::new(
                ErrorCode::StreamTaken,
                format!("stream {} is reserved by another user", req.stream_id),
            ));
        }
        _ => {}
    }
    let stream_id = req.stream_id.as_str();
    // A stream no session reserved and no room names is live but announced nowhere.
    let Some(s) = app.streams.get_mut(stream_id) else { return Ok(()) };
    if s.live {
        // A new connection took over before the old one's end was reported.
        s.publisher = req.publisher;
        return Ok(());
    }
    s.live = true;
    s.live_since_ms = now.unix_ms;
    s.publisher = req.publisher;
    let (room_id, user_id, owner) = (s.room_id.clone(), s.user.user_id.clone(), s.owner);
    hub.event(now, app_id, "stream.created", json!({"roomID": room_id, "streamID": stream_id, "userID": user_id}));
    announce(hub, now, app_id, stream_id, "ADD");
    publisher_state(hub, owner, stream_id, "PUBLISHING", None);
    Ok(())
}

pub(crate) fn publish_ended(hub: &mut Hub, now: Now, ended: PublishEnded) {
    let (app_id, stream_id) = (ended.app_id, ended.stream_id.as_str());
    let key = (app_id, ended.stream_id.clone());
    if hub.closing.get(&key).is_some_and(|c| c.publisher == ended.publisher) {
        let c = hub.closing.remove(&key).expect("checked");
        closed_event(hub, now, app_id, stream_id, &c.room_id, &c.user_id, c.since_ms, ended.bytes, c.reason);
    }
    let Some(s) = hub.apps.get_mut(&app_id).and_then(|a| a.streams.get_mut(stream_id)) else { return };
    if !s.live || s.publisher != ended.publisher {
        return; // not live, or the end of a connection that no longer carries it
    }
    let (room_id, user_id, since, owner) = (s.room_id.clone(), s.user.user_id.clone(), s.live_since_ms, s.owner);
    closed_event(hub, now, app_id, stream_id, &room_id, &user_id, since, ended.bytes, "media_ended");
    announce(hub, now, app_id, stream_id, "DELETE");
    if owner == EXTERNAL {
        // Nobody holds a reservation for it: it is gone.
        hub.apps.get_mut(&app_id).and_then(|a| a.streams.remove(stream_id));
        return;
    }
    if let Some(s) = hub.apps.get_mut(&app_id).and_then(|a| a.streams.get_mut(stream_id)) {
        s.live = false;
    }
    // The reservation stays: <live-pusher> retries and the stream may come back.
    publisher_state(hub, owner, stream_id, "PUBLISH_REQUESTING", Some(ErrorCode::PublishInterrupted));
}

/// `roomStreamUpdate` (ADD or DELETE) of a stream to its room, except its owner.
fn announce(hub: &mut Hub, now: Now, app_id: u32, stream_id: &str, kind: &str) {
    let s = &hub.apps[&app_id].streams[stream_id];
    let (room_id, owner) = (s.room_id.clone(), s.owner);
    let data =
        json!({"roomID": room_id, "updateType": kind, "streamList": [stream_json(hub, now, app_id, stream_id, s)]});
    hub.room_event(now, app_id, &room_id, "roomStreamUpdate", data, Audience::All { except: Some(owner) });
}

#[allow(clippy::too_many_arguments)]
fn closed_event(
    hub: &mut Hub,
    now: Now,
    app_id: u32,
    stream_id: &str,
    room_id: &str,
    user_id: &str,
    since_ms: u64,
    bytes: u64,
    reason: &str,
) {
    let data = json!({
        "roomID": room_id, "streamID": stream_id, "userID": user_id,
        "durationMs": now.unix_ms.saturating_sub(since_ms), "bytes": bytes, "reason": reason,
    });
    hub.event(now, app_id, "stream.closed", data);
}

/// Publisher states of a session's streams (sent after a resume).
pub(crate) fn resend_states(hub: &mut Hub, sid: u64) {
    let Some(s) = hub.sessions.get(&sid) else { return };
    let app_id = s.app_id;
    let states: Vec<(String, bool)> = s
        .streams
        .iter()
        .filter_map(|id| hub.apps.get(&app_id).and_then(|a| a.streams.get(id)).map(|st| (id.clone(), st.live)))
        .collect();
    for (id, live) in states {
        publisher_state(hub, sid, &id, if live { "PUBLISHING" } else { "PUBLISH_REQUESTING" }, None);
    }
}

/// Most relay targets per stream.
pub const MAX_RELAYS: usize = 4;

/// `addPublishCdnUrl` / `removePublishCdnUrl`: the publisher asks the server to push its
/// stream to an external RTMP URL (a CDN) whenever it is live.
pub(crate) fn relay(hub: &mut Hub, sid: u64, stream_id: &str, url: String, add: bool) -> Reply {
    let app_id = owned(hub, sid, stream_id)?;
    let s = hub.apps.get_mut(&app_id).and_then(|a| a.streams.get_mut(stream_id)).expect("owned");
    let changed = if add {
        if !s.relays.contains(&url) && s.relays.len() >= MAX_RELAYS {
            return Err(Refusal::new(
                ErrorCode::TooManyRelays,
                format!("a stream is relayed to at most {MAX_RELAYS} URLs"),
            ));
        }
        s.relays.insert(url.clone())
    } else {
        s.relays.remove(&url)
    };
    if changed {
        hub.out.push_back(Output::Relay { app_id, stream_id: stream_id.to_owned(), url, start: add });
    }
    Ok(json!({}))
}
