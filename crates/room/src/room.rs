//! `Room`: one open room of an app: its members, extra info, and the log of room events kept
//! for replay on resume. Who receives an event is an [`Audience`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::error::{ErrorCode, Refusal};
use crate::ids::SessionId;
use crate::limits::MAX_EXTRA_KEYS;
use crate::wire::{self, User};

/// Who receives a room event.
#[derive(Debug, Clone)]
pub(crate) enum Audience {
    /// Every member but one (none: every member).
    All { except: Option<SessionId> },
    /// Members that asked for user updates, but one.
    UserUpdate { except: Option<SessionId> },
    /// These sessions.
    Only(BTreeSet<SessionId>),
}

pub(crate) struct LogEntry {
    pub seq: u64,
    pub at: Instant,
    pub frame: Arc<str>,
    pub to: Audience,
}

pub(crate) struct ExtraInfo {
    pub value: String,
    pub update_user: User,
    pub update_time: u64,
}

impl ExtraInfo {
    /// An item of `roomExtraInfoUpdate` and of room snapshots.
    pub(crate) fn to_json(&self, key: &str) -> Value {
        json!({"key": key, "value": self.value, "updateUser": self.update_user.to_json(), "updateTime": self.update_time})
    }
}

/// An open room. Its members are exactly the sessions that list it among their rooms, and it
/// is open while it has one: `Hub::join_room` and `Hub::leave_room` keep both sides, and are
/// the only callers of [`Room::join`] and [`Room::leave`].
pub(crate) struct Room {
    members: BTreeSet<SessionId>,
    pub max_members: u32,
    pub extra: BTreeMap<String, ExtraInfo>,
    pub seq: u64,
    pub log: VecDeque<LogEntry>,
    pub count_sent: usize,
    pub count_pending: bool,
    /// A record of it was handed out ([`Room::saved`]): forget it when the room closes.
    pub recorded: bool,
}

impl Room {
    /// An empty room.
    pub(crate) fn new(max_members: u32) -> Self {
        Self {
            members: BTreeSet::new(),
            max_members,
            extra: BTreeMap::new(),
            seq: 0,
            log: VecDeque::new(),
            count_sent: 0,
            count_pending: false,
            recorded: false,
        }
    }

    /// What its next home starts from if this one is lost: member limit and extra info.
    pub(crate) fn saved(&self) -> Value {
        json!({"maxMembers": self.max_members, "extraInfo": self.extra_json()})
    }

    /// Takes over `record` (as [`Room::saved`] made it, read back from outside: checked
    /// against the limits, what does not fit is left out); `max_members` stays at most `cap`.
    pub(crate) fn restore(&mut self, record: &Value, cap: u32) {
        if let Some(max) = record["maxMembers"].as_u64().filter(|&m| m > 0) {
            self.max_members = (max.min(u64::from(cap))) as u32;
        }
        for item in record["extraInfo"].as_array().into_iter().flatten().take(MAX_EXTRA_KEYS) {
            let (Some(key), Some(value)) = (item["key"].as_str(), item["value"].as_str()) else { continue };
            use crate::limits::{MAX_EXTRA_KEY, MAX_EXTRA_VALUE, text};
            if text("key", key, 1, MAX_EXTRA_KEY).is_err() || text("value", value, 0, MAX_EXTRA_VALUE).is_err() {
                continue;
            }
            let user = item["updateUser"].clone();
            let update_user = User {
                user_id: user["userID"].as_str().unwrap_or_default().to_owned(),
                user_name: user["userName"].as_str().unwrap_or_default().to_owned(),
            };
            let info = ExtraInfo {
                value: value.to_owned(),
                update_user,
                update_time: item["updateTime"].as_u64().unwrap_or(0),
            };
            self.extra.insert(key.to_owned(), info);
        }
        self.recorded = true;
    }

    /// Its members, in ID order.
    pub(crate) fn members(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.members.iter().copied()
    }

    pub(crate) fn has_member(&self, sid: SessionId) -> bool {
        self.members.contains(&sid)
    }

    pub(crate) fn member_count(&self) -> usize {
        self.members.len()
    }

    /// Refuses a newcomer when the room is at its member limit.
    pub(crate) fn check_room_for_one_more(&self, room_id: &str) -> Result<(), Refusal> {
        if self.members.len() >= self.max_members as usize {
            return Err(Refusal::new(
                ErrorCode::RoomFull,
                format!("room {room_id} is full ({} members)", self.max_members),
            ));
        }
        Ok(())
    }

    /// Only for `Hub::join_room`.
    pub(crate) fn join(&mut self, sid: SessionId) {
        self.members.insert(sid);
    }

    /// Only for `Hub::leave_room`; true when the room is now empty.
    pub(crate) fn leave(&mut self, sid: SessionId) -> bool {
        self.members.remove(&sid);
        self.members.is_empty()
    }

    /// Sets an extra-info key, refusing a new key beyond [`MAX_EXTRA_KEYS`]; returns the item
    /// to push.
    pub(crate) fn set_extra(&mut self, key: String, info: ExtraInfo) -> Result<Value, Refusal> {
        if !self.extra.contains_key(&key) && self.extra.len() >= MAX_EXTRA_KEYS {
            return Err(Refusal::new(ErrorCode::TooManyKeys, format!("a room holds at most {MAX_EXTRA_KEYS} keys")));
        }
        let item = info.to_json(&key);
        self.extra.insert(key, info);
        Ok(item)
    }

    /// Its extra info, as room snapshots list it.
    pub(crate) fn extra_json(&self) -> Vec<Value> {
        self.extra.iter().map(|(k, e)| e.to_json(k)).collect()
    }

    /// Numbers a room event and keeps it for replay (at most `keep` of them); returns the push.
    pub(crate) fn record(&mut self, at: Instant, name: &str, data: Value, to: Audience, keep: usize) -> Arc<str> {
        self.seq += 1;
        let frame: Arc<str> = wire::push(name, Some(self.seq), data).into();
        self.log.push_back(LogEntry { seq: self.seq, at, frame: frame.clone(), to });
        if self.log.len() > keep {
            self.log.pop_front();
        }
        frame
    }

    /// Forgets events older than `horizon`; true while some remain.
    pub(crate) fn prune(&mut self, now: Instant, horizon: Duration) -> bool {
        while self.log.front().is_some_and(|e| now.saturating_duration_since(e.at) > horizon) {
            self.log.pop_front();
        }
        !self.log.is_empty()
    }

    /// Whether the log still holds every event after `last` (the last `seq` a resuming client
    /// saw), so they can be replayed instead of a snapshot.
    pub(crate) fn replays_from(&self, last: u64) -> bool {
        last <= self.seq && self.log.front().map_or(last == self.seq, |first| first.seq <= last + 1)
    }
}
