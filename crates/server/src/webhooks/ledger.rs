//! What each event opens or closes for the app's backend (a room, a user in a room, a live
//! stream), kept in the registry's open ledger with the queued events, and the closing events
//! for what a crashed run left open, sent at the next start.

use duet_room::{HubEvent, events};
use serde_json::{Value, json};

use crate::store::registry::{Change, LeftOpen, Registry};

/// The reason of the closing events of a run that ended without closing them.
pub const CRASH: &str = "server_crash";

/// What `event` changes in the ledger (`None`: nothing).
pub fn change(event: &HubEvent) -> Option<Change> {
    change_of(event.name, &event.data, event.at_ms)
}

/// What an event named `name` with `data`, made at `at_ms`, changes in the ledger.
pub fn change_of(name: &str, data: &Value, at_ms: u64) -> Option<Change> {
    let text = |key: &str| data[key].as_str().unwrap_or_default().to_owned();
    let change = match name {
        "room.created" => Change::RoomOpened { room_id: text("roomID") },
        "room.closed" => Change::RoomClosed { room_id: text("roomID") },
        "user.login" => {
            Change::UserIn { room_id: text("roomID"), user_id: text("userID"), user_name: text("userName") }
        }
        "user.logout" => Change::UserOut { room_id: text("roomID"), user_id: text("userID") },
        "stream.created" => Change::StreamLive {
            stream_id: text("streamID"),
            room_id: text("roomID"),
            user_id: text("userID"),
            since_ms: at_ms,
        },
        "stream.closed" => Change::StreamEnded { stream_id: text("streamID") },
        _ => return None,
    };
    Some(change)
}

/// The events that close what a previous run left open, shaped as the hub's own closing events
/// with reason `server_crash`: every stream (`bytes` 0: unknown), then every user, then every
/// room, each dated to the last time the run was known alive (`now_ms` if never recorded).
pub fn close_out(left: &LeftOpen, now_ms: u64) -> Vec<HubEvent> {
    let at_ms = left.alive_ms.unwrap_or(now_ms);
    let event = |app_id, name, data| HubEvent { app_id, name, at_ms, data };
    let streams = left.streams.iter().flat_map(|s| {
        let duration_ms = at_ms.saturating_sub(s.since_ms);
        let data = events::stream_closed(&s.room_id, &s.stream_id, &s.user_id, duration_ms, 0, CRASH);
        std::iter::repeat_n(event(s.app_id, "stream.closed", data), s.opens as usize)
    });
    let users = left
        .users
        .iter()
        .map(|u| event(u.app_id, "user.logout", events::user_logout(&u.room_id, &u.user_id, &u.user_name, CRASH)));
    let rooms = left.rooms.iter().map(|(app_id, room_id)| {
        let mut data: Value = events::room_closed(room_id);
        data["reason"] = json!(CRASH);
        event(*app_id, "room.closed", data)
    });
    streams.chain(users).chain(rooms).collect()
}

/// Queues the closing events of what the previous run left open and empties the ledger; returns
/// how many were queued. Runs at start, before anything new is recorded.
pub fn recover(registry: &Registry, cap: u64) -> anyhow::Result<u64> {
    let now_ms = crate::os::now_unix_ms();
    let close = |left: &LeftOpen| close_out(left, now_ms).iter().map(|e| (e.app_id, super::body(e))).collect();
    registry.close_out_left_open(close, (now_ms / 1000) as i64, cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::registry::{OpenStream, OpenUser};

    /// The closing events of a crash are the hub's own shapes with reason `server_crash`, and
    /// each one undoes what the ledger held.
    #[test]
    fn crash_closings_undo_the_ledger_in_the_hubs_shapes() {
        let left = LeftOpen {
            alive_ms: Some(9_000),
            rooms: vec![(1, "r".into())],
            users: vec![OpenUser { app_id: 1, room_id: "r".into(), user_id: "A".into(), user_name: "Ann".into() }],
            streams: vec![OpenStream {
                app_id: 1,
                stream_id: "s".into(),
                room_id: "r".into(),
                user_id: "A".into(),
                since_ms: 4_000,
                opens: 1,
            }],
        };
        let closings = close_out(&left, 99_999);
        let names: Vec<&str> = closings.iter().map(|e| e.name).collect();
        assert_eq!(names, ["stream.closed", "user.logout", "room.closed"]);
        assert!(closings.iter().all(|e| e.at_ms == 9_000 && e.app_id == 1 && e.data["reason"] == CRASH));
        assert_eq!(closings[0].data, events::stream_closed("r", "s", "A", 5_000, 0, CRASH));
        assert_eq!(closings[1].data, events::user_logout("r", "A", "Ann", CRASH));
        let changes: Vec<Change> = closings.iter().filter_map(change).collect();
        assert_eq!(
            changes,
            [
                Change::StreamEnded { stream_id: "s".into() },
                Change::UserOut { room_id: "r".into(), user_id: "A".into() },
                Change::RoomClosed { room_id: "r".into() },
            ]
        );
    }
}
