//! The open ledger: what each app's webhook was told is open (rooms, users in rooms, live
//! streams), kept in the same transaction as the queued events that open and close them, and
//! the last time the server was known to be alive. A run that stops cleanly leaves it empty;
//! what a crashed run left in it is closed out at the next start
//! ([`Registry::close_out_left_open`]).
//!
//! Only events that were queued (the app has a webhook) open an entry, so the ledger is the
//! backend's view; closing events always remove theirs. Clearing a webhook or deleting the app
//! forgets its entries.

use rusqlite::{Transaction, params};

use super::{QueuedEvent, Registry};

/// What one webhook event changes in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `room.created`.
    RoomOpened {
        /// Room.
        room_id: String,
    },
    /// `room.closed`.
    RoomClosed {
        /// Room.
        room_id: String,
    },
    /// `user.login`.
    UserIn {
        /// Room.
        room_id: String,
        /// User.
        user_id: String,
        /// Their display name.
        user_name: String,
    },
    /// `user.logout`.
    UserOut {
        /// Room.
        room_id: String,
        /// User.
        user_id: String,
    },
    /// `stream.created`.
    StreamLive {
        /// Stream.
        stream_id: String,
        /// Its room.
        room_id: String,
        /// Its publisher.
        user_id: String,
        /// When it went live, unix ms.
        since_ms: u64,
    },
    /// `stream.closed`.
    StreamEnded {
        /// Stream.
        stream_id: String,
    },
}

/// A user in a room, as a previous run left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenUser {
    /// App.
    pub app_id: u32,
    /// Room.
    pub room_id: String,
    /// User.
    pub user_id: String,
    /// Display name.
    pub user_name: String,
}

/// A live stream, as a previous run left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenStream {
    /// App.
    pub app_id: u32,
    /// Stream.
    pub stream_id: String,
    /// Room.
    pub room_id: String,
    /// Publisher.
    pub user_id: String,
    /// When it (its latest publish) went live, unix ms.
    pub since_ms: u64,
    /// Its publishes without a `stream.closed` (1, unless it was published again before the
    /// end of the previous publish was reported).
    pub opens: u32,
}

/// What a previous run left open, in order (app, then IDs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeftOpen {
    /// When the previous run was last known alive, unix ms.
    pub alive_ms: Option<u64>,
    /// Open rooms: (app, room).
    pub rooms: Vec<(u32, String)>,
    /// Users in rooms.
    pub users: Vec<OpenUser>,
    /// Live streams.
    pub streams: Vec<OpenStream>,
}

impl LeftOpen {
    /// Nothing was left open.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty() && self.users.is_empty() && self.streams.is_empty()
    }
}

impl Registry {
    /// Records that the server is alive at `now_ms` (the time a crash is dated to).
    pub fn mark_alive(&self, now_ms: u64) -> anyhow::Result<()> {
        mark_alive(&self.lock(), now_ms)
    }

    /// What the ledger holds (nothing, after a clean stop).
    pub fn left_open(&self) -> anyhow::Result<LeftOpen> {
        read(&self.lock())
    }

    /// Closes out what a previous run left open, in one transaction: `close` turns it into
    /// events (app, JSON body), which are queued as [`Registry::enqueue_events`] would; then
    /// the ledger is emptied. Returns how many events were queued.
    pub fn close_out_left_open(
        &self,
        close: impl FnOnce(&LeftOpen) -> Vec<(u32, String)>,
        now: i64,
        cap: u64,
    ) -> anyhow::Result<u64> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let left = read(&tx)?;
        if left.is_empty() {
            return Ok(0);
        }
        let events: Vec<QueuedEvent> =
            close(&left).into_iter().map(|(app_id, body)| QueuedEvent { app_id, body, change: None }).collect();
        let (queued, _) = super::queue::queue(&tx, &events, now, cap, self.shared.is_some())?;
        tx.execute_batch("DELETE FROM open_rooms; DELETE FROM open_users; DELETE FROM open_streams;")?;
        tx.commit()?;
        Ok(queued)
    }
}

/// Applies one event's change; `queued` says whether the event went into the queue (only then
/// does it open an entry).
pub(super) fn apply(tx: &Transaction<'_>, app_id: u32, change: &Change, queued: bool) -> rusqlite::Result<()> {
    match change {
        Change::RoomOpened { room_id } if queued => {
            tx.prepare_cached("INSERT OR REPLACE INTO open_rooms (app_id, room_id) VALUES (?1, ?2)")?
                .execute(params![app_id, room_id])?;
        }
        Change::UserIn { room_id, user_id, user_name } if queued => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO open_users (app_id, room_id, user_id, user_name) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![app_id, room_id, user_id, user_name])?;
        }
        Change::StreamLive { stream_id, room_id, user_id, since_ms } if queued => {
            // A stream ID published again before its previous publish's end was reported is
            // open twice (two stream.created, two stream.closed to come).
            tx.prepare_cached(
                "INSERT INTO open_streams (app_id, stream_id, room_id, user_id, since_ms, opens)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1)
                 ON CONFLICT (app_id, stream_id) DO UPDATE SET room_id = excluded.room_id,
                 user_id = excluded.user_id, since_ms = excluded.since_ms, opens = opens + 1",
            )?
            .execute(params![app_id, stream_id, room_id, user_id, *since_ms as i64])?;
        }
        Change::RoomOpened { .. } | Change::UserIn { .. } | Change::StreamLive { .. } => {}
        Change::RoomClosed { room_id } => {
            tx.prepare_cached("DELETE FROM open_rooms WHERE app_id = ?1 AND room_id = ?2")?
                .execute(params![app_id, room_id])?;
        }
        Change::UserOut { room_id, user_id } => {
            tx.prepare_cached("DELETE FROM open_users WHERE app_id = ?1 AND room_id = ?2 AND user_id = ?3")?
                .execute(params![app_id, room_id, user_id])?;
        }
        Change::StreamEnded { stream_id } => {
            tx.prepare_cached("UPDATE open_streams SET opens = opens - 1 WHERE app_id = ?1 AND stream_id = ?2")?
                .execute(params![app_id, stream_id])?;
            tx.prepare_cached("DELETE FROM open_streams WHERE app_id = ?1 AND stream_id = ?2 AND opens <= 0")?
                .execute(params![app_id, stream_id])?;
        }
    }
    Ok(())
}

/// Forgets an app's entries (its webhook is gone, or the app).
pub(super) fn forget(tx: &Transaction<'_>, app_id: u32) -> rusqlite::Result<()> {
    for table in ["open_rooms", "open_users", "open_streams"] {
        tx.execute(&format!("DELETE FROM {table} WHERE app_id = ?1"), params![app_id])?;
    }
    Ok(())
}

pub(super) fn mark_alive(conn: &rusqlite::Connection, now_ms: u64) -> anyhow::Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO alive (id, at_ms) VALUES (1, ?1)")?.execute(params![now_ms as i64])?;
    Ok(())
}

fn read(conn: &rusqlite::Connection) -> anyhow::Result<LeftOpen> {
    use rusqlite::OptionalExtension;
    let alive_ms: Option<i64> = conn.query_row("SELECT at_ms FROM alive WHERE id = 1", [], |r| r.get(0)).optional()?;
    let rooms = conn
        .prepare("SELECT app_id, room_id FROM open_rooms ORDER BY app_id, room_id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let users = conn
        .prepare("SELECT app_id, room_id, user_id, user_name FROM open_users ORDER BY app_id, room_id, user_id")?
        .query_map([], |r| {
            Ok(OpenUser { app_id: r.get(0)?, room_id: r.get(1)?, user_id: r.get(2)?, user_name: r.get(3)? })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let streams = conn
        .prepare(
            "SELECT app_id, stream_id, room_id, user_id, since_ms, opens FROM open_streams ORDER BY app_id, stream_id",
        )?
        .query_map([], |r| {
            Ok(OpenStream {
                app_id: r.get(0)?,
                stream_id: r.get(1)?,
                room_id: r.get(2)?,
                user_id: r.get(3)?,
                since_ms: r.get::<_, i64>(4)?.unsigned_abs(),
                opens: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(LeftOpen { alive_ms: alive_ms.map(i64::unsigned_abs), rooms, users, streams })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::registry::Webhook;

    fn event(app_id: u32, change: Change) -> QueuedEvent {
        QueuedEvent { app_id, body: "{}".into(), change: Some(change) }
    }

    fn user_in(room: &str, user: &str) -> Change {
        Change::UserIn { room_id: room.into(), user_id: user.into(), user_name: format!("name-{user}") }
    }

    #[test]
    fn the_ledger_holds_what_was_queued_and_not_closed() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(dir.path()).unwrap();
        let (hooked, silent) = (reg.create("a", 0).unwrap().app_id, reg.create("b", 0).unwrap().app_id);
        reg.set_webhook(hooked, &Webhook { url: "http://127.0.0.1:9/".into(), secret: "s".into() }).unwrap();
        let stream = |id: &str| Change::StreamLive {
            stream_id: id.into(),
            room_id: "r".into(),
            user_id: "A".into(),
            since_ms: 5,
        };
        let events = [
            event(hooked, Change::RoomOpened { room_id: "r".into() }),
            event(hooked, user_in("r", "A")),
            event(hooked, user_in("r", "B")),
            event(hooked, stream("s1")),
            event(hooked, stream("s2")),
            event(hooked, Change::StreamEnded { stream_id: "s1".into() }),
            event(hooked, stream("s3")),
            event(hooked, stream("s3")),
            event(hooked, Change::StreamEnded { stream_id: "s3".into() }),
            event(hooked, Change::UserOut { room_id: "r".into(), user_id: "B".into() }),
            // An app without a webhook: its backend hears nothing, so nothing is open for it.
            event(silent, Change::RoomOpened { room_id: "q".into() }),
            event(silent, user_in("q", "C")),
        ];
        assert_eq!(reg.enqueue_events(&events, 7_000, 100).unwrap(), (10, 0));
        let left = reg.left_open().unwrap();
        assert_eq!(left.alive_ms, Some(7_000));
        assert_eq!(left.rooms, [(hooked, "r".to_owned())]);
        let users: Vec<_> = left.users.iter().map(|u| (u.user_id.as_str(), u.user_name.as_str())).collect();
        assert_eq!(users, [("A", "name-A")]);
        let streams: Vec<_> = left.streams.iter().map(|s| (s.stream_id.as_str(), s.since_ms, s.opens)).collect();
        assert_eq!(streams, [("s2", 5, 1), ("s3", 5, 1)]);

        // Closing out queues what `close` makes, once, and empties the ledger.
        let before = reg.queued_events().unwrap();
        let queued = reg.close_out_left_open(|l| vec![(hooked, format!("{}", l.users.len()))], 8, 100).unwrap();
        assert_eq!((queued, reg.queued_events().unwrap()), (1, before + 1));
        assert!(reg.left_open().unwrap().is_empty());
        assert_eq!(reg.close_out_left_open(|_| panic!("nothing left"), 9, 100).unwrap(), 0);

        // Clearing the webhook forgets the app's entries with its queue.
        reg.enqueue_events(&[event(hooked, user_in("r", "D"))], 10_000, 100).unwrap();
        reg.clear_webhook(hooked).unwrap();
        assert!(reg.left_open().unwrap().is_empty());
    }
}
