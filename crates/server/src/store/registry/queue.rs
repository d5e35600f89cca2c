//! The webhook queue of this node: events waiting for delivery per app, oldest first, with at
//! most a cap per app (the oldest dropped beyond), queued in the same transaction that applies
//! their changes to the open ledger. It stays in this node's SQLite file in a cluster too.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{QueuedEvent, Registry, ledger};

impl Registry {
    /// Drops this node's queued events and open ledger of the app (it has no webhook); the
    /// webhook setting itself is not touched.
    pub fn purge_events(&self, app_id: u32) -> anyhow::Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        forget(&tx, app_id)?;
        tx.commit()?;
        Ok(())
    }

    /// Drops the app's events queued before `cutoff` (unix seconds); returns how many.
    pub fn drop_events_before(&self, app_id: u32, cutoff: i64) -> anyhow::Result<u64> {
        let n = self
            .lock()
            .execute("DELETE FROM webhook_queue WHERE app_id = ?1 AND created_at < ?2", params![app_id, cutoff])?;
        Ok(n as u64)
    }

    /// Queues events of apps that have a webhook and applies their ledger changes, in one
    /// transaction that also marks the server alive at `now_ms`; keeps at most `cap` events
    /// per app by dropping the oldest. Returns (queued, dropped).
    pub fn enqueue_events(&self, events: &[QueuedEvent], now_ms: u64, cap: u64) -> anyhow::Result<(u64, u64)> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let counts = queue(&tx, events, (now_ms / 1000) as i64, cap, self.shared.is_some())?;
        ledger::mark_alive(&tx, now_ms)?;
        tx.commit()?;
        Ok(counts)
    }

    /// Apps with undelivered events.
    pub fn apps_with_events(&self) -> anyhow::Result<Vec<u32>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached("SELECT DISTINCT app_id FROM webhook_queue")?;
        let apps = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<Vec<u32>>>()?;
        Ok(apps)
    }

    /// The app's oldest undelivered event: (id, body, queued at).
    pub fn oldest_event(&self, app_id: u32) -> anyhow::Result<Option<(i64, String, i64)>> {
        let row = self
            .lock()
            .query_row(
                "SELECT id, body, created_at FROM webhook_queue WHERE app_id = ?1 ORDER BY id LIMIT 1",
                params![app_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(row)
    }

    /// Removes a delivered (or abandoned) event.
    pub fn remove_event(&self, id: i64) -> anyhow::Result<()> {
        self.lock().execute("DELETE FROM webhook_queue WHERE id = ?1", params![id])?;
        Ok(())
    }

    /// Up to `limit` undelivered events of every app, oldest first: (id, app, body).
    pub fn oldest_events(&self, limit: usize) -> anyhow::Result<Vec<(i64, u32, String)>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached("SELECT id, app_id, body FROM webhook_queue ORDER BY id LIMIT ?1")?;
        let rows = stmt.query_map(params![limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Removes events handed on (a cluster's queue took them), in one transaction.
    pub fn remove_events(&self, ids: &[i64]) -> anyhow::Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        {
            let mut delete = tx.prepare_cached("DELETE FROM webhook_queue WHERE id = ?1")?;
            for id in ids {
                delete.execute(params![id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// How many events wait, over all apps.
    pub fn queued_events(&self) -> anyhow::Result<u64> {
        let n: i64 = self.lock().query_row("SELECT count(*) FROM webhook_queue", [], |r| r.get(0))?;
        Ok(n.unsigned_abs())
    }
}

/// Queues `events` inside `tx` (see [`Registry::enqueue_events`]); returns (queued, dropped).
/// `all`: queue every event (a cluster's webhook settings are in Redis, which the queue does
/// not wait for: delivery drops the events of an app without a webhook); else only those of
/// apps this file lists a webhook for.
pub(super) fn queue(
    tx: &Transaction<'_>,
    events: &[QueuedEvent],
    now: i64,
    cap: u64,
    all: bool,
) -> anyhow::Result<(u64, u64)> {
    let (mut queued, mut dropped) = (0u64, 0u64);
    let mut insert = tx.prepare_cached(
        "INSERT INTO webhook_queue (app_id, body, created_at)
         SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM webhooks WHERE app_id = ?1)",
    )?;
    let mut insert_any =
        tx.prepare_cached("INSERT INTO webhook_queue (app_id, body, created_at) VALUES (?1, ?2, ?3)")?;
    for e in events {
        let n = if all {
            insert_any.execute(params![e.app_id, e.body, now])?
        } else {
            insert.execute(params![e.app_id, e.body, now])?
        };
        queued += n as u64;
        if let Some(change) = &e.change {
            ledger::apply(tx, e.app_id, change, n > 0)?;
        }
    }
    let mut apps: Vec<u32> = events.iter().map(|e| e.app_id).collect();
    apps.sort_unstable();
    apps.dedup();
    for app_id in apps {
        let n: i64 =
            tx.query_row("SELECT count(*) FROM webhook_queue WHERE app_id = ?1", params![app_id], |r| r.get(0))?;
        let over = n.unsigned_abs().saturating_sub(cap);
        if over > 0 {
            dropped += tx.execute(
                "DELETE FROM webhook_queue WHERE id IN
                 (SELECT id FROM webhook_queue WHERE app_id = ?1 ORDER BY id LIMIT ?2)",
                params![app_id, over as i64],
            )? as u64;
        }
    }
    Ok((queued, dropped))
}

/// Drops the app's queued events and its open ledger inside `tx` (its webhook is gone, or the
/// app itself).
pub(super) fn forget(tx: &Transaction<'_>, app_id: u32) -> anyhow::Result<()> {
    tx.execute("DELETE FROM webhook_queue WHERE app_id = ?1", params![app_id])?;
    ledger::forget(tx, app_id)?;
    Ok(())
}
