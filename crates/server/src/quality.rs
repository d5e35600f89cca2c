//! `server::quality`: a short history of each room's call quality, for the person asking "why
//! did this call stutter?" (the console's room view, `GET /api/v1/rooms/{roomID}/quality`).
//!
//! Two inputs, both from the room hub: its events (who logged in and out, which streams were
//! published and stopped: the room's timeline) and the members' quality reports
//! (`reportQuality`, checked by `duet_room::quality`: bitrate, frame rate, picture size, loss or
//! player cache, stalls and reconnects of each stream a member publishes or plays). Kept in
//! memory for [`WINDOW_MS`], bounded everywhere (rooms, events, streams, reporters, samples);
//! time is an input (`at_ms`), so the history itself reads no clock. One reporter's samples of
//! one stream are at most one per [`MIN_INTERVAL_MS`]: faster ones are dropped and counted. In a
//! cluster each node keeps the rooms it holds (reports go where the room's hub is).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use duet_room::HubEvent;
use duet_room::quality::{Role, StreamQuality};
use serde_json::{Value, json};

/// How far back the history reaches.
pub const WINDOW_MS: u64 = 30 * 60 * 1000;
/// Shortest time between two samples of one reporter and stream.
pub const MIN_INTERVAL_MS: u64 = 4000;
/// Rooms kept at most (the least recently active go first).
pub const MAX_ROOMS: usize = 10_000;
/// Timeline events kept per room.
pub const MAX_EVENTS: usize = 2000;
/// Streams kept per room.
pub const MAX_STREAMS: usize = 64;
/// Reporters kept per stream (its publisher and the first players).
pub const MAX_REPORTERS: usize = 16;
/// Samples kept per reporter and stream (30 minutes at one per [`MIN_INTERVAL_MS`]).
pub const MAX_SAMPLES: usize = (WINDOW_MS / MIN_INTERVAL_MS) as usize;

/// The history, shared by the hub task (writer) and the HTTP handlers (readers), with counters
/// for `/metrics`.
#[derive(Clone, Default)]
pub struct Quality {
    history: Arc<Mutex<History>>,
    counters: Arc<Counters>,
}

/// Totals since start.
#[derive(Default)]
pub struct Counters {
    /// Stream samples kept.
    pub samples: AtomicU64,
    /// Samples dropped (too soon after the previous one, or over a bound).
    pub dropped: AtomicU64,
    /// Stalls reported by players.
    pub stalls: AtomicU64,
    /// Reconnects reported by publishers and players.
    pub reconnects: AtomicU64,
}

impl Quality {
    fn history(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A hub event: the room's timeline.
    pub fn event(&self, e: &HubEvent) {
        self.history().event(e);
    }

    /// A member's accepted report.
    pub fn report(&self, app_id: u32, room_id: &str, user_id: &str, at_ms: u64, streams: &[StreamQuality]) {
        let kept = self.history().report(app_id, room_id, user_id, at_ms, streams);
        let c = &self.counters;
        c.samples.fetch_add(kept as u64, Relaxed);
        c.dropped.fetch_add((streams.len() - kept) as u64, Relaxed);
        c.stalls.fetch_add(streams.iter().map(|s| u64::from(s.stalls)).sum(), Relaxed);
        c.reconnects.fetch_add(streams.iter().map(|s| u64::from(s.reconnects)).sum(), Relaxed);
    }

    /// The room's history as JSON (`None`: nothing in the window).
    pub fn room(&self, app_id: u32, room_id: &str, now_ms: u64) -> Option<Value> {
        self.history().room(app_id, room_id, now_ms)
    }

    /// The app's rooms with a history, most recent first.
    pub fn rooms(&self, app_id: u32, now_ms: u64) -> Vec<Value> {
        self.history().rooms(app_id, now_ms)
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
}

#[derive(Debug, Clone)]
struct Event {
    at_ms: u64,
    kind: &'static str,
    user_id: String,
    stream_id: Option<String>,
    reason: Option<String>,
}

/// Who reported a series: the member and whether it published or played.
type Reporter = (String, Role);
/// A reporter's samples with their times (unix ms), oldest first.
type Samples = VecDeque<(u64, StreamQuality)>;

#[derive(Debug, Default)]
struct StreamHistory {
    publisher: Option<String>,
    series: Vec<(Reporter, Samples)>,
    last_ms: u64,
}

#[derive(Debug, Default)]
struct RoomHistory {
    events: VecDeque<Event>,
    streams: HashMap<String, StreamHistory>,
    last_ms: u64,
}

impl RoomHistory {
    fn prune(&mut self, now_ms: u64) {
        let from = now_ms.saturating_sub(WINDOW_MS);
        while self.events.front().is_some_and(|e| e.at_ms < from) {
            self.events.pop_front();
        }
        for s in self.streams.values_mut() {
            for (_, samples) in &mut s.series {
                while samples.front().is_some_and(|(at, _)| *at < from) {
                    samples.pop_front();
                }
            }
            s.series.retain(|(_, samples)| !samples.is_empty());
        }
        self.streams.retain(|_, s| s.last_ms >= from);
    }
}

/// The rooms' histories (no clock, no locks: [`Quality`] wraps it).
#[derive(Debug, Default)]
pub struct History {
    rooms: HashMap<(u32, String), RoomHistory>,
}

impl History {
    fn room_mut(&mut self, app_id: u32, room_id: &str, at_ms: u64) -> &mut RoomHistory {
        let key = (app_id, room_id.to_owned());
        if !self.rooms.contains_key(&key) && self.rooms.len() >= MAX_ROOMS {
            // Forget the least recently active room.
            if let Some(oldest) = self.rooms.iter().min_by_key(|(_, r)| r.last_ms).map(|(k, _)| k.clone()) {
                self.rooms.remove(&oldest);
            }
        }
        let room = self.rooms.entry(key).or_default();
        room.last_ms = room.last_ms.max(at_ms);
        room.prune(at_ms);
        room
    }

    /// Records a hub event of a room's timeline (others are ignored).
    pub fn event(&mut self, e: &HubEvent) {
        let kind = match e.name {
            "user.login" => "user.login",
            "user.logout" => "user.logout",
            "stream.created" => "stream.created",
            "stream.closed" => "stream.closed",
            _ => return,
        };
        let text = |k: &str| e.data.get(k).and_then(Value::as_str).map(str::to_owned);
        let (Some(room_id), Some(user_id)) = (text("roomID"), text("userID")) else { return };
        let stream_id = text("streamID");
        let room = self.room_mut(e.app_id, &room_id, e.at_ms);
        if room.events.len() >= MAX_EVENTS {
            room.events.pop_front();
        }
        if let Some(stream) = &stream_id
            && (room.streams.contains_key(stream) || room.streams.len() < MAX_STREAMS)
        {
            let s = room.streams.entry(stream.clone()).or_default();
            s.publisher = Some(user_id.clone());
            s.last_ms = s.last_ms.max(e.at_ms);
        }
        room.events.push_back(Event { at_ms: e.at_ms, kind, user_id, stream_id, reason: text("reason") });
    }

    /// Records a report; returns how many of its samples were kept.
    pub fn report(
        &mut self,
        app_id: u32,
        room_id: &str,
        user_id: &str,
        at_ms: u64,
        streams: &[StreamQuality],
    ) -> usize {
        let room = self.room_mut(app_id, room_id, at_ms);
        let mut kept = 0;
        for q in streams {
            if !room.streams.contains_key(&q.stream_id) && room.streams.len() >= MAX_STREAMS {
                continue;
            }
            let s = room.streams.entry(q.stream_id.clone()).or_default();
            let key = (user_id.to_owned(), q.role);
            let series = match s.series.iter().position(|(k, _)| *k == key) {
                Some(i) => &mut s.series[i].1,
                None if s.series.len() < MAX_REPORTERS => {
                    s.series.push((key, VecDeque::new()));
                    &mut s.series.last_mut().expect("just pushed").1
                }
                None => continue,
            };
            if series.back().is_some_and(|(at, _)| at_ms < at + MIN_INTERVAL_MS) {
                continue;
            }
            if series.len() >= MAX_SAMPLES {
                series.pop_front();
            }
            series.push_back((at_ms, q.clone()));
            s.last_ms = s.last_ms.max(at_ms);
            kept += 1;
        }
        kept
    }

    /// The room's last [`WINDOW_MS`] before `now_ms`: members (with when they joined and
    /// left), timeline events, and each stream's samples per reporter.
    pub fn room(&mut self, app_id: u32, room_id: &str, now_ms: u64) -> Option<Value> {
        let room = self.rooms.get_mut(&(app_id, room_id.to_owned()))?;
        room.prune(now_ms);
        if room.events.is_empty() && room.streams.is_empty() {
            return None;
        }
        let mut members: Vec<(String, Option<u64>, Option<u64>)> = Vec::new();
        for e in &room.events {
            match e.kind {
                "user.login" => members.push((e.user_id.clone(), Some(e.at_ms), None)),
                "user.logout" => match members.iter_mut().rev().find(|m| m.0 == e.user_id && m.2.is_none()) {
                    Some(m) => m.2 = Some(e.at_ms),
                    // Logged in before the window began.
                    None => members.push((e.user_id.clone(), None, Some(e.at_ms))),
                },
                _ => {}
            }
        }
        let events: Vec<Value> = room
            .events
            .iter()
            .map(|e| {
                let mut v = json!({"at": e.at_ms, "type": e.kind, "userID": e.user_id});
                if let Some(s) = &e.stream_id {
                    v["streamID"] = json!(s);
                }
                if let Some(r) = &e.reason {
                    v["reason"] = json!(r);
                }
                v
            })
            .collect();
        let mut streams: Vec<(&String, &StreamHistory)> = room.streams.iter().collect();
        streams.sort_by(|a, b| a.0.cmp(b.0));
        let streams: Vec<Value> = streams
            .into_iter()
            .map(|(id, s)| {
                let series: Vec<Value> = s
                    .series
                    .iter()
                    .map(|((user, role), samples)| {
                        let samples: Vec<Value> = samples
                            .iter()
                            .map(|(at, q)| {
                                let mut v = serde_json::to_value(q).unwrap_or_default();
                                if let Some(o) = v.as_object_mut() {
                                    o.remove("streamID");
                                    o.remove("role");
                                    o.insert("at".into(), json!(at));
                                }
                                v
                            })
                            .collect();
                        json!({"userID": user, "role": role, "samples": samples})
                    })
                    .collect();
                json!({"streamID": id, "userID": s.publisher, "series": series})
            })
            .collect();
        let members: Vec<Value> = members
            .into_iter()
            .map(|(u, joined, left)| json!({"userID": u, "joinedAt": joined, "leftAt": left}))
            .collect();
        Some(json!({
            "roomID": room_id,
            "from": now_ms.saturating_sub(WINDOW_MS),
            "to": now_ms,
            "members": members,
            "events": events,
            "streams": streams,
        }))
    }

    /// The app's rooms with a history in the window, most recently active first.
    pub fn rooms(&mut self, app_id: u32, now_ms: u64) -> Vec<Value> {
        let from = now_ms.saturating_sub(WINDOW_MS);
        let mut rooms: Vec<(&String, u64, usize)> = self
            .rooms
            .iter()
            .filter(|((app, _), r)| *app == app_id && r.last_ms >= from)
            .map(|((_, id), r)| (id, r.last_ms, r.streams.len()))
            .collect();
        rooms.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        rooms.into_iter().map(|(id, last, streams)| json!({"roomID": id, "lastAt": last, "streams": streams})).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &'static str, at_ms: u64, data: Value) -> HubEvent {
        HubEvent { app_id: 1, name, at_ms, data }
    }

    fn sample(stream: &str, role: Role, kbps: f64) -> StreamQuality {
        StreamQuality {
            stream_id: stream.into(),
            role,
            video_kbps: kbps,
            audio_kbps: 48.0,
            fps: 15.0,
            width: 640,
            height: 360,
            rtt_ms: None,
            loss_pct: None,
            cache_ms: Some(120.0),
            stalls: 0,
            reconnects: 0,
        }
    }

    #[test]
    fn a_call_becomes_a_timeline_and_series() {
        let mut h = History::default();
        h.event(&event("user.login", 1000, json!({"roomID": "r", "userID": "alice"})));
        h.event(&event("user.login", 2000, json!({"roomID": "r", "userID": "bob"})));
        h.event(&event("stream.created", 3000, json!({"roomID": "r", "userID": "bob", "streamID": "bob-cam"})));
        assert_eq!(h.report(1, "r", "alice", 10_000, &[sample("bob-cam", Role::Play, 790.0)]), 1);
        assert_eq!(h.report(1, "r", "bob", 10_000, &[sample("bob-cam", Role::Publish, 800.0)]), 1);
        // Too soon after alice's previous sample: dropped.
        assert_eq!(h.report(1, "r", "alice", 12_000, &[sample("bob-cam", Role::Play, 10.0)]), 0);
        assert_eq!(h.report(1, "r", "alice", 15_000, &[sample("bob-cam", Role::Play, 780.0)]), 1);
        h.event(&event(
            "stream.closed",
            20_000,
            json!({"roomID": "r", "userID": "bob", "streamID": "bob-cam", "reason": "stop"}),
        ));
        h.event(&event("user.logout", 21_000, json!({"roomID": "r", "userID": "bob", "reason": "logout"})));

        let v = h.room(1, "r", 30_000).unwrap();
        assert_eq!(
            v["members"],
            json!([
                {"userID": "alice", "joinedAt": 1000, "leftAt": null},
                {"userID": "bob", "joinedAt": 2000, "leftAt": 21000},
            ])
        );
        assert_eq!(v["events"].as_array().unwrap().len(), 5);
        assert_eq!(
            v["events"][3],
            json!({"at": 20000, "type": "stream.closed", "userID": "bob", "streamID": "bob-cam", "reason": "stop"})
        );
        let s = &v["streams"][0];
        assert_eq!((s["streamID"].as_str(), s["userID"].as_str()), (Some("bob-cam"), Some("bob")));
        let alice = s["series"].as_array().unwrap().iter().find(|x| x["userID"] == "alice").unwrap();
        assert_eq!(alice["role"], "play");
        let kbps: Vec<f64> =
            alice["samples"].as_array().unwrap().iter().map(|x| x["videoKbps"].as_f64().unwrap()).collect();
        assert_eq!(kbps, [790.0, 780.0]);
        assert_eq!(alice["samples"][0]["at"], 10_000);
        assert_eq!(alice["samples"][0]["cacheMs"], 120.0);
        assert!(alice["samples"][0].get("rttMs").is_none());
        assert_eq!(h.rooms(1, 30_000), [json!({"roomID": "r", "lastAt": 21000, "streams": 1})]);
        assert!(h.room(2, "r", 30_000).is_none(), "another app's room");
    }

    #[test]
    fn the_window_and_the_bounds_hold() {
        let mut h = History::default();
        h.event(&event("user.login", 0, json!({"roomID": "r", "userID": "a"})));
        for i in 0..(MAX_SAMPLES as u64 + 50) {
            h.report(1, "r", "a", 1 + i * MIN_INTERVAL_MS, &[sample("s", Role::Publish, i as f64)]);
        }
        let now = 1 + (MAX_SAMPLES as u64 + 49) * MIN_INTERVAL_MS;
        let v = h.room(1, "r", now).unwrap();
        let samples = v["streams"][0]["series"][0]["samples"].as_array().unwrap();
        assert!(samples.len() <= MAX_SAMPLES);
        assert!(samples[0]["at"].as_u64().unwrap() >= now - WINDOW_MS, "older samples are gone");
        assert!(v["events"].as_array().unwrap().is_empty(), "the login left the window");
        // Reporters per stream, streams per room.
        let mut h = History::default();
        for r in 0..MAX_REPORTERS + 5 {
            h.report(1, "r", &format!("u{r}"), 1000, &[sample("s", Role::Play, 1.0)]);
        }
        for s in 0..MAX_STREAMS + 5 {
            h.report(1, "r", "u", 1000, &[sample(&format!("s{s}"), Role::Play, 1.0)]);
        }
        let v = h.room(1, "r", 2000).unwrap();
        assert_eq!(v["streams"].as_array().unwrap().len(), MAX_STREAMS);
        let s = v["streams"].as_array().unwrap().iter().find(|s| s["streamID"] == "s").unwrap();
        assert_eq!(s["series"].as_array().unwrap().len(), MAX_REPORTERS);
        // Nothing left in the window: no room.
        assert!(h.room(1, "r", 2000 + WINDOW_MS + 1).is_none());
    }
}
