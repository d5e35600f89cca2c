//! Stream requests and media events: publish intents (reserve a streamID, signed push URL),
//! stop, play intents (signed play URLs), stream extra info, relays, and the admission and end
//! of publishes that turn a reservation live (stream ADD, PUBLISHING) or end it (stream DELETE).
//! Who holds which stream is kept by the app's `Streams`.

use serde_json::{Value, json};

use crate::app::App;
use crate::config::RoomConfig;
use crate::error::{ErrorCode, Refusal};
use crate::hub::{Hub, not_logged_in};
use crate::ids::{ConnId, PublisherId, SessionId};
use crate::io::{Now, Output, PublishEnded, PublishRequest, StreamUnplayable};
use crate::room::Audience;
use crate::session::not_in_room;
use crate::stream::{Closing, Stream};
use crate::wire;

type Reply<T = Value> = Result<T, Refusal>;

/// The stream object of roomStreamUpdate: `{streamID, user, extraInfo, urls...}`. Play URLs in
/// room pushes are signed for no particular user.
pub(crate) fn stream_json(cfg: &RoomConfig, app: &App, now: Now, stream_id: &str, s: &Stream) -> Value {
    let mut v = cfg.urls.play(&app.secret, app.id, stream_id, "", now.unix_s() as u64);
    v["streamID"] = json!(stream_id);
    v["user"] = s.user.to_json();
    v["extraInfo"] = json!(s.extra_info);
    v
}

/// Tells the stream's owning session (none: an external stream, nobody to tell) its state.
pub(crate) fn publisher_state(
    hub: &mut Hub,
    to: Option<SessionId>,
    stream_id: &str,
    state: &str,
    code: Option<ErrorCode>,
) {
    let Some(sid) = to else { return };
    let data = json!({"streamID": stream_id, "state": state, "errorCode": code.map_or(0, ErrorCode::number)});
    hub.send_session(sid, wire::push("publisherStateUpdate", None, data).into());
}

/// The stream `sid` owns, with its app.
fn owned<'h>(hub: &'h mut Hub, sid: SessionId, stream_id: &str) -> Reply<(u32, &'h mut Stream)> {
    let app_id = hub.caller(sid)?.app_id;
    let stream = hub.apps.get_mut(&app_id).and_then(|a| a.streams.owned_mut(sid, stream_id));
    let not_owned = || Refusal::new(ErrorCode::StreamNotOwned, format!("this session does not publish {stream_id}"));
    stream.map(|s| (app_id, s)).ok_or_else(not_owned)
}

/// Publish intent. Replies itself so that the reply precedes the publisher-state push.
#[allow(clippy::too_many_arguments)]
pub(crate) fn publish(
    hub: &mut Hub,
    now: Now,
    conn: ConnId,
    id: u64,
    sid: SessionId,
    room_id: Option<String>,
    stream_id: String,
    extra_info: String,
) {
    match reserve(hub, now, sid, room_id, &stream_id, extra_info) {
        Ok((reply, live)) => {
            hub.reply(conn, id, Ok(reply));
            let state = if live { "PUBLISHING" } else { "PUBLISH_REQUESTING" };
            publisher_state(hub, Some(sid), &stream_id, state, None);
        }
        Err(refusal) => hub.reply(conn, id, Err(refusal)),
    }
}

/// Reserves the stream for `sid` and signs its push URL; also says whether it is live already.
fn reserve(
    hub: &mut Hub,
    now: Now,
    sid: SessionId,
    room_id: Option<String>,
    stream_id: &str,
    extra_info: String,
) -> Reply<(Value, bool)> {
    let s = hub.sessions.get(sid).ok_or_else(not_logged_in)?;
    let room_id = match room_id {
        Some(r) => r,
        None if s.rooms().len() == 1 => s.room_ids().remove(0),
        None => return Err(Refusal::new(ErrorCode::InvalidField, "roomID is required when in several rooms")),
    };
    s.membership(&room_id)?.grant.ensure_publish(&room_id, stream_id)?;
    let app = hub.apps.get_mut(&s.app_id).ok_or_else(|| not_in_room(&room_id))?;
    let live = app.streams.reserve(sid, stream_id, room_id, &s.user, extra_info)?.live;
    let urls = hub.cfg.urls.publish(&app.secret, app.id, stream_id, &s.user.user_id, now.unix_s() as u64);
    Ok((json!({"streamID": stream_id, "url": urls.rtmp, "urls": [urls.rtmp], "whipURL": urls.whip}), live))
}

pub(crate) fn stop_publish(hub: &mut Hub, now: Now, sid: SessionId, stream_id: &str) -> Reply {
    let (app_id, _) = owned(hub, sid, stream_id)?;
    release(hub, now, app_id, stream_id, true, "stopped");
    Ok(json!({}))
}

/// Ends a reservation (or an external stream): a live stream is announced DELETE and its
/// media connection cut (`reason` goes into its `stream.closed` event).
pub(crate) fn release(hub: &mut Hub, now: Now, app_id: u32, stream_id: &str, tell_owner: bool, reason: &'static str) {
    let Some(app) = hub.apps.get_mut(&app_id) else { return };
    let Some(s) = app.streams.remove(stream_id) else { return };
    let item = s.live.then(|| stream_json(&hub.cfg, app, now, stream_id, &s));
    for url in &s.relays {
        hub.out.push_back(Output::Relay { app_id, stream_id: stream_id.to_owned(), url: url.clone(), start: false });
    }
    let owner = s.owner().session();
    if let Some(item) = item {
        let data = json!({"roomID": s.room_id, "updateType": "DELETE", "streamList": [item]});
        hub.room_event(now, app_id, &s.room_id, "roomStreamUpdate", data, Audience::All { except: owner });
        hub.out.push_back(Output::StopMedia { app_id, stream_id: stream_id.to_owned() });
        let closing = Closing { room_id: s.room_id, user_id: s.user.user_id, since_ms: s.live_since_ms, reason };
        hub.closing.insert((app_id, stream_id.to_owned(), s.publisher), closing);
    }
    if tell_owner {
        publisher_state(hub, owner, stream_id, "NO_PUBLISH", None);
    }
}

pub(crate) fn play(hub: &mut Hub, now: Now, sid: SessionId, stream_id: &str) -> Reply {
    let (s, app) = hub.caller_app(sid)?;
    let mut v = hub.cfg.urls.play(&app.secret, s.app_id, stream_id, &s.user.user_id, now.unix_s() as u64);
    v["streamID"] = json!(stream_id);
    v["url"] = v["urlsRTMP"][0].clone();
    v["live"] = json!(app.streams.get(stream_id).is_some_and(|st| st.live));
    Ok(v)
}

pub(crate) fn set_extra(hub: &mut Hub, now: Now, sid: SessionId, stream_id: &str, extra_info: String) -> Reply {
    let (app_id, s) = owned(hub, sid, stream_id)?;
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
    let stream_id = req.stream_id.as_str();
    let app = hub.app_entry(app_id, req.secret);
    // A stream no session reserved and no room names is live but announced nowhere.
    let Some(s) = app.streams.admit(stream_id, &req.user_id, &req.room_id)? else { return Ok(()) };
    if s.live {
        // A new connection took over before the old one's end was reported: a new encoder,
        // whose WebRTC verdict is its own.
        s.publisher = req.publisher;
        s.webrtc_problem = None;
        return Ok(());
    }
    s.live = true;
    s.live_since_ms = now.unix_ms;
    s.publisher = req.publisher;
    s.webrtc_problem = None;
    let (room_id, user_id, owner) = (s.room_id.clone(), s.user.user_id.clone(), s.owner());
    hub.event(now, app_id, "stream.created", json!({"roomID": room_id, "streamID": stream_id, "userID": user_id}));
    announce(hub, now, app_id, stream_id, "ADD");
    publisher_state(hub, owner.session(), stream_id, "PUBLISHING", None);
    Ok(())
}

pub(crate) fn publish_ended(hub: &mut Hub, now: Now, ended: PublishEnded) {
    let (app_id, stream_id) = (ended.app_id, ended.stream_id.as_str());
    if let Some(c) = hub.closing.remove(&(app_id, ended.stream_id.clone(), ended.publisher)) {
        closed_event(hub, now, app_id, stream_id, &c.room_id, &c.user_id, c.since_ms, ended.bytes, c.reason);
    }
    let Some(s) = hub.apps.get_mut(&app_id).and_then(|a| a.streams.get_mut(stream_id)) else { return };
    if !s.live || s.publisher != ended.publisher {
        return; // not live, or the end of a connection that no longer carries it
    }
    let (room_id, user_id, since, owner) = (s.room_id.clone(), s.user.user_id.clone(), s.live_since_ms, s.owner());
    closed_event(hub, now, app_id, stream_id, &room_id, &user_id, since, ended.bytes, "media_ended");
    announce(hub, now, app_id, stream_id, "DELETE");
    let Some(sid) = owner.session() else {
        // Nobody holds a reservation for it: it is gone.
        hub.apps.get_mut(&app_id).and_then(|a| a.streams.remove(stream_id));
        return;
    };
    if let Some(s) = hub.apps.get_mut(&app_id).and_then(|a| a.streams.get_mut(stream_id)) {
        s.live = false;
        s.webrtc_problem = None;
    }
    // The reservation stays: <live-pusher> retries and the stream may come back.
    publisher_state(hub, Some(sid), stream_id, "PUBLISH_REQUESTING", Some(ErrorCode::PublishInterrupted));
}

/// The media side's verdict that browsers cannot play a live stream over WebRTC: kept on the
/// stream (its info shows it) and told to the backend (`stream.unplayable`).
pub(crate) fn unplayable(hub: &mut Hub, now: Now, report: StreamUnplayable) {
    let app_id = report.app_id;
    let Some(s) = hub.apps.get_mut(&app_id).and_then(|a| a.streams.get_mut(&report.stream_id)) else { return };
    if !s.live || s.publisher != report.publisher {
        return;
    }
    s.webrtc_problem = Some((report.code, report.reason.clone()));
    let data = json!({
        "roomID": s.room_id, "streamID": report.stream_id, "userID": s.user.user_id,
        "code": report.code, "reason": report.reason,
    });
    hub.event(now, app_id, "stream.unplayable", data);
}

/// `stream.closed` of every released stream whose media end was not reported in time (the
/// server is stopping): they carry no bytes (0).
pub(crate) fn close_unreported(hub: &mut Hub, now: Now) {
    let mut closing: Vec<((u32, String, PublisherId), Closing)> = hub.closing.drain().collect();
    closing.sort_by(|a, b| a.0.cmp(&b.0));
    for ((app_id, stream_id, _), c) in closing {
        closed_event(hub, now, app_id, &stream_id, &c.room_id, &c.user_id, c.since_ms, 0, c.reason);
    }
}

/// `roomStreamUpdate` (ADD or DELETE) of a stream to its room, except its owner.
fn announce(hub: &mut Hub, now: Now, app_id: u32, stream_id: &str, kind: &str) {
    let Some(app) = hub.apps.get(&app_id) else { return };
    let Some(s) = app.streams.get(stream_id) else { return };
    let (room_id, owner) = (s.room_id.clone(), s.owner().session());
    let item = stream_json(&hub.cfg, app, now, stream_id, s);
    let data = json!({"roomID": room_id, "updateType": kind, "streamList": [item]});
    hub.room_event(now, app_id, &room_id, "roomStreamUpdate", data, Audience::All { except: owner });
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
    let duration_ms = now.unix_ms.saturating_sub(since_ms);
    let data = crate::events::stream_closed(room_id, stream_id, user_id, duration_ms, bytes, reason);
    hub.event(now, app_id, "stream.closed", data);
}

/// Publisher states of a session's streams (sent after a resume).
pub(crate) fn resend_states(hub: &mut Hub, sid: SessionId) {
    let Some(app) = hub.sessions.get(sid).and_then(|s| hub.apps.get(&s.app_id)) else { return };
    let states: Vec<(String, bool)> =
        app.streams.owned_by(sid).into_iter().filter_map(|id| app.streams.get(&id).map(|st| (id, st.live))).collect();
    for (id, live) in states {
        publisher_state(hub, Some(sid), &id, if live { "PUBLISHING" } else { "PUBLISH_REQUESTING" }, None);
    }
}

/// Most relay targets per stream.
pub const MAX_RELAYS: usize = 4;

/// `addPublishCdnUrl` / `removePublishCdnUrl`: the publisher asks the server to push its
/// stream to an external RTMP URL (a CDN) whenever it is live.
pub(crate) fn relay(hub: &mut Hub, sid: SessionId, stream_id: &str, url: String, add: bool) -> Reply {
    let (app_id, s) = owned(hub, sid, stream_id)?;
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
