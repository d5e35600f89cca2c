//! A cluster's webhook queue, in Redis, so that no event is lost with the node that made it.
//!
//! Each node still writes its events to its SQLite queue first (as a single node does: the hub
//! never waits). A forwarder moves them, oldest first, into one Redis Stream per app
//! (`duet:wh:{app}`, each entry carrying its delivery ID `{node}-{n}` and its body) and records
//! what they open and close in the node's open ledger in Redis (`duet:open:{node}:{boot}`); one
//! script does both, so the two agree. Events of an app without a webhook go no further.
//!
//! Any node delivers: for each app with entries (`duet:wh:apps`), the node holding the app's
//! lease (`duet:wh:lease:{app}`, 15 s, taken at once from a process that is no longer the
//! living one of its name) posts the oldest entry and deletes it once the receiver took it. So
//! each app's events go out one at a time, in order, whichever node made them; delivery is at
//! least once (a node dying between the receiver's answer and the delete sends it again, with
//! the same `X-Duet-Delivery`).
//!
//! A node that is gone (declared dead, or started again under a new boot) leaves its ledger:
//! another node closes out what it lists (`server_crash` closing events, as a single node does
//! at its next start), in the same script that deletes the ledger, so this happens once.
//!
//! While Redis cannot be reached, events wait in the SQLite queue and go on when it is back.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::aio::ConnectionManager;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{AppDelivery, GIVE_UP_SECS, Outcome, QUEUE_CAP, WebhookStats, blocking, ledger, post};
use crate::store::registry::{Change, LeftOpen, OpenStream, OpenUser, Registry};

/// Events forwarded per script call.
const FORWARD_BATCH: usize = 256;
/// How long an app's lease lasts (longer than one delivery attempt, [`super::TIMEOUT`]).
const LEASE: Duration = Duration::from_secs(15);
/// How often a node looks for apps with events and ledgers of gone nodes.
const POLL: Duration = Duration::from_millis(500);
/// How often it looks for ledgers of gone nodes.
const SWEEP: Duration = Duration::from_secs(2);
/// The set of every node's ledger key.
const LEDGERS: &str = "duet:open-ledgers";
const APPS: &str = "duet:wh:apps";

/// Queues events and applies ledger changes: KEYS[1] a ledger; ARGV[1] the batch as JSON
/// (`events`: [app, delivery ID, body]; `changes`: [op, field, ...]; `alive`: unix ms, for this
/// node's own ledger; `take`: [name, boot], to close out a gone node's ledger, refused (0)
/// while that process is the living one of its name or once another node took it); ARGV[2]
/// the most entries kept per app.
const FORWARD: &str = r#"
local b = cjson.decode(ARGV[1])
if b.take then
  if redis.call("HGET", "duet:boots", b.take[1]) == b.take[2] then return 0 end
  if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
  redis.call("DEL", KEYS[1])
  redis.call("SREM", "duet:open-ledgers", KEYS[1])
end
for _, e in ipairs(b.events) do
  redis.call("XADD", "duet:wh:" .. e[1], "MAXLEN", "~", ARGV[2], "*", "id", e[2], "body", e[3])
  redis.call("SADD", "duet:wh:apps", e[1])
end
for _, c in ipairs(b.changes) do
  if c[1] == "set" then redis.call("HSET", KEYS[1], c[2], c[3])
  elseif c[1] == "del" then redis.call("HDEL", KEYS[1], c[2])
  elseif c[1] == "open" then
    redis.call("HINCRBY", KEYS[1], c[2], 1)
    redis.call("HSET", KEYS[1], c[3], c[4])
  elseif c[1] == "close" then
    if redis.call("HINCRBY", KEYS[1], c[2], -1) <= 0 then redis.call("HDEL", KEYS[1], c[2], c[3]) end
  end
end
if b.alive then
  redis.call("HSET", KEYS[1], "alive", b.alive)
  redis.call("SADD", "duet:open-ledgers", KEYS[1])
end
return 1
"#;

/// Takes or renews an app's lease: KEYS[1] the lease; ARGV[1] this process, ARGV[2] ms. 1 when
/// this process holds it now.
const LEASE_SCRIPT: &str = r#"
local held = redis.call("GET", KEYS[1])
if held and held ~= ARGV[1] then
  local name, boot = string.match(held, "^(.*):([^:]*)$")
  if name and redis.call("HGET", "duet:boots", name) == boot then return 0 end
end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
return 1
"#;

/// Forgets an app with no entries left: KEYS[1] its stream; ARGV[1] the app.
const EMPTIED: &str = r#"
if redis.call("XLEN", KEYS[1]) == 0 then redis.call("SREM", "duet:wh:apps", ARGV[1]) end
return 0
"#;

static FORWARD_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(FORWARD));
static LEASE_SCRIPT_: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(LEASE_SCRIPT));
static EMPTIED_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(EMPTIED));

fn stream_key(app_id: u32) -> String {
    format!("duet:wh:{app_id}")
}

fn ledger_key(name: &str, boot: &str) -> String {
    format!("duet:open:{name}:{boot}")
}

/// This node's link to the cluster's queue.
#[derive(Clone)]
pub struct ClusterLink {
    pub conn: ConnectionManager,
    /// The node's name (delivery IDs are `{name}-{n}`).
    pub name: String,
    /// This process's boot token.
    pub boot: String,
}

impl ClusterLink {
    fn me(&self) -> String {
        format!("{}:{}", self.name, self.boot)
    }
}

/// One script call's batch.
#[derive(Serialize, Default)]
struct Batch {
    events: Vec<(String, String, String)>,
    changes: Vec<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alive: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    take: Option<(String, String)>,
}

fn field(parts: &[&str]) -> String {
    serde_json::to_string(parts).unwrap_or_default()
}

/// The ledger operations of `change` to an app's ledger.
fn ops(app_id: u32, change: &Change) -> Vec<String> {
    let app = app_id.to_string();
    let s = |v: &str| v.to_owned();
    match change {
        Change::RoomOpened { room_id } => vec![s("set"), field(&["r", &app, room_id]), s("1")],
        Change::RoomClosed { room_id } => vec![s("del"), field(&["r", &app, room_id])],
        Change::UserIn { room_id, user_id, user_name } => {
            vec![s("set"), field(&["u", &app, room_id, user_id]), user_name.clone()]
        }
        Change::UserOut { room_id, user_id } => vec![s("del"), field(&["u", &app, room_id, user_id])],
        Change::StreamLive { stream_id, room_id, user_id, since_ms } => {
            let info = json!({"roomID": room_id, "userID": user_id, "sinceMs": since_ms}).to_string();
            vec![s("open"), field(&["n", &app, stream_id]), field(&["s", &app, stream_id]), info]
        }
        Change::StreamEnded { stream_id } => {
            vec![s("close"), field(&["n", &app, stream_id]), field(&["s", &app, stream_id])]
        }
    }
}

/// What a ledger hash lists, read back.
fn left_open(fields: &HashMap<String, String>) -> LeftOpen {
    let mut left = LeftOpen { alive_ms: fields.get("alive").and_then(|v| v.parse().ok()), ..LeftOpen::default() };
    let mut opens: HashMap<(u32, String), u32> = HashMap::new();
    let mut streams = Vec::new();
    for (key, value) in fields {
        let Ok(parts) = serde_json::from_str::<Vec<String>>(key) else { continue };
        let Some(app_id) = parts.get(1).and_then(|a| a.parse::<u32>().ok()) else { continue };
        match (parts[0].as_str(), &parts[2..]) {
            ("r", [room]) => left.rooms.push((app_id, room.clone())),
            ("u", [room, user]) => left.users.push(OpenUser {
                app_id,
                room_id: room.clone(),
                user_id: user.clone(),
                user_name: value.clone(),
            }),
            ("n", [stream]) => {
                opens.insert((app_id, stream.clone()), value.parse().unwrap_or(1));
            }
            ("s", [stream]) => {
                let info: Value = serde_json::from_str(value).unwrap_or_default();
                let text = |k: &str| info[k].as_str().unwrap_or_default().to_owned();
                streams.push(OpenStream {
                    app_id,
                    stream_id: stream.clone(),
                    room_id: text("roomID"),
                    user_id: text("userID"),
                    since_ms: info["sinceMs"].as_u64().unwrap_or(0),
                    opens: 1,
                });
            }
            _ => {}
        }
    }
    for mut stream in streams {
        stream.opens = opens.get(&(stream.app_id, stream.stream_id.clone())).copied().unwrap_or(1).max(1);
        left.streams.push(stream);
    }
    left.rooms.sort();
    left.users.sort_by(|a, b| (a.app_id, &a.room_id, &a.user_id).cmp(&(b.app_id, &b.room_id, &b.user_id)));
    left.streams.sort_by(|a, b| (a.app_id, &a.stream_id).cmp(&(b.app_id, &b.stream_id)));
    left
}

async fn run_batch(conn: &mut ConnectionManager, ledger: &str, batch: &Batch) -> redis::RedisResult<bool> {
    let json = serde_json::to_string(batch).unwrap_or_default();
    let done: i64 = FORWARD_SCRIPT.key(ledger).arg(json).arg(QUEUE_CAP).invoke_async(conn).await?;
    Ok(done == 1)
}

/// Moves this node's queued events into the cluster's queue (woken by the queue writer, and
/// every second while some wait); until `stop`, then once more.
pub async fn forward(link: ClusterLink, registry: Arc<Registry>, queued: Arc<Notify>, mut stop: oneshot::Receiver<()>) {
    let ledger = ledger_key(&link.name, &link.boot);
    let mut conn = link.conn.clone();
    let mut warned = false;
    loop {
        let stopping = tokio::select! {
            _ = &mut stop => true,
            () = queued.notified() => false,
            () = tokio::time::sleep(Duration::from_secs(1)) => false,
        };
        loop {
            match forward_some(&mut conn, &link.name, &ledger, &registry).await {
                Ok(0) => break,
                Ok(_) => warned = false,
                Err(e) => {
                    if !warned {
                        tracing::warn!(
                            "webhook events wait in this node's queue: the cluster's Redis cannot take them ({e})"
                        );
                        warned = true;
                    }
                    break;
                }
            }
        }
        if stopping {
            // A clean stop closed everything this node opened: its ledger is done with.
            let _: redis::RedisResult<()> = redis::pipe()
                .cmd("DEL")
                .arg(&ledger)
                .cmd("SREM")
                .arg(LEDGERS)
                .arg(&ledger)
                .query_async(&mut conn)
                .await;
            return;
        }
    }
}

/// Forwards up to [`FORWARD_BATCH`] events; how many it took from the SQLite queue.
async fn forward_some(
    conn: &mut ConnectionManager,
    name: &str,
    ledger: &str,
    registry: &Arc<Registry>,
) -> Result<usize, String> {
    let reg = registry.clone();
    let rows = blocking(move || reg.oldest_events(FORWARD_BATCH)).await.ok_or("cannot read the queue")?;
    if rows.is_empty() {
        return Ok(0);
    }
    // Events of apps without a webhook go no further, and open nothing for a backend.
    let mut hooked: HashMap<u32, bool> = HashMap::new();
    for (_, app_id, _) in &rows {
        if !hooked.contains_key(app_id) {
            let (reg, app) = (registry.clone(), *app_id);
            let has =
                blocking(move || Ok(reg.webhook(app)?.is_some())).await.ok_or("cannot read the webhook settings")?;
            hooked.insert(*app_id, has);
        }
    }
    let mut batch = Batch { alive: Some(crate::os::now_unix_ms().to_string()), ..Batch::default() };
    for (id, app_id, body) in &rows {
        if !hooked[app_id] {
            continue;
        }
        batch.events.push((app_id.to_string(), format!("{name}-{id}"), body.clone()));
        let event: Value = serde_json::from_str(body).unwrap_or_default();
        let at_ms = event["time"].as_u64().unwrap_or(0);
        if let Some(change) = ledger::change_of(event["event"].as_str().unwrap_or(""), &event["data"], at_ms) {
            batch.changes.push(ops(*app_id, &change));
        }
    }
    run_batch(conn, ledger, &batch).await.map_err(|e| e.to_string())?;
    let ids: Vec<i64> = rows.iter().map(|(id, _, _)| *id).collect();
    let taken = ids.len();
    let reg = registry.clone();
    blocking(move || reg.remove_events(&ids)).await.ok_or("cannot remove forwarded events")?;
    Ok(taken)
}

/// Delivers the cluster's events of the apps whose lease this node holds, and closes out the
/// ledgers of gone nodes; until `stop`.
pub async fn deliver(
    link: ClusterLink,
    registry: Arc<Registry>,
    stats: Arc<WebhookStats>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut conn = link.conn.clone();
    let mut deliveries: JoinSet<(u32, Outcome)> = JoinSet::new();
    let mut apps: HashMap<u32, AppDelivery> = HashMap::new();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut swept = Instant::now();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
            Some(Ok((app_id, outcome))) = deliveries.join_next() => {
                if !apps.entry(app_id).or_default().ended(outcome) {
                    apps.remove(&app_id);
                }
            }
        }
        if swept.elapsed() >= SWEEP {
            swept = Instant::now();
            if let Err(e) = close_out_gone(&mut conn, &link).await {
                tracing::debug!("cannot look for the ledgers of gone nodes: {e}");
            }
        }
        let pending: Vec<u32> = match redis::cmd("SMEMBERS").arg(APPS).query_async(&mut conn).await {
            Ok(pending) => pending,
            Err(_) => continue,
        };
        let now = Instant::now();
        for app_id in pending {
            let d = apps.entry(app_id).or_default();
            if d.busy || d.retry_at.is_some_and(|at| at > now) {
                continue;
            }
            let leased: redis::RedisResult<i64> = LEASE_SCRIPT_
                .key(format!("duet:wh:lease:{app_id}"))
                .arg(link.me())
                .arg(LEASE.as_millis() as u64)
                .invoke_async(&mut conn)
                .await;
            if !matches!(leased, Ok(1)) {
                continue;
            }
            d.busy = true;
            let (conn, registry, stats, prefix) = (conn.clone(), registry.clone(), stats.clone(), link.name.clone());
            deliveries.spawn(async move {
                (app_id, deliver_oldest(conn, &registry, app_id, &stats).await.unwrap_or_else(|e| {
                tracing::debug!(app_id, node = %prefix, "webhook delivery from the cluster's queue failed: {e}");
                Outcome::Failed
            }))
            });
        }
    }
    let _ =
        tokio::time::timeout(Duration::from_secs(2), async { while deliveries.join_next().await.is_some() {} }).await;
}

/// Posts the app's oldest entry; deletes it once taken (or too old, or the app has no webhook).
async fn deliver_oldest(
    mut conn: ConnectionManager,
    registry: &Arc<Registry>,
    app_id: u32,
    stats: &WebhookStats,
) -> redis::RedisResult<Outcome> {
    let key = stream_key(app_id);
    let entries: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
        .arg(&key)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query_async::<redis::streams::StreamRangeReply>(&mut conn)
        .await?
        .ids
        .into_iter()
        .map(|e| {
            let fields =
                e.map.iter().filter_map(|(k, v)| Some((k.clone(), redis::from_redis_value(v.clone()).ok()?))).collect();
            (e.id, fields)
        })
        .collect();
    let Some((entry, fields)) = entries.into_iter().next() else {
        let _: i64 = EMPTIED_SCRIPT.key(&key).arg(app_id).invoke_async(&mut conn).await?;
        return Ok(Outcome::Empty);
    };
    let reg = registry.clone();
    let Some(hook) = blocking(move || reg.webhook(app_id)).await else { return Ok(Outcome::Failed) };
    let Some(hook) = hook else {
        // The app's webhook was cleared: its events are dropped here, nowhere else.
        let _: () = redis::pipe().cmd("DEL").arg(&key).cmd("SREM").arg(APPS).arg(app_id).query_async(&mut conn).await?;
        return Ok(Outcome::Empty);
    };
    let made_ms: u64 = entry.split('-').next().and_then(|ms| ms.parse().ok()).unwrap_or(0);
    let expired = made_ms / 1000 < (crate::os::now_unix() - GIVE_UP_SECS).max(0) as u64;
    let delivered = if expired {
        stats.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::error!(app_id, "a webhook event undeliverable for a day; dropped");
        true
    } else {
        let delivery = fields.get("id").cloned().unwrap_or_else(|| entry.clone());
        post(app_id, &hook, &delivery, fields.get("body").cloned().unwrap_or_default(), stats).await
    };
    if !delivered {
        return Ok(Outcome::Failed);
    }
    let _: i64 = redis::cmd("XDEL").arg(&key).arg(&entry).query_async(&mut conn).await?;
    Ok(Outcome::Delivered)
}

/// Closes out the ledgers of processes that are no longer the living ones of their names.
async fn close_out_gone(conn: &mut ConnectionManager, link: &ClusterLink) -> redis::RedisResult<()> {
    let ledgers: Vec<String> = redis::cmd("SMEMBERS").arg(LEDGERS).query_async(conn).await?;
    let mine = ledger_key(&link.name, &link.boot);
    for ledger in ledgers.into_iter().filter(|l| *l != mine) {
        let Some((name, boot)) = ledger.strip_prefix("duet:open:").and_then(|rest| rest.rsplit_once(':')) else {
            continue;
        };
        let living: Option<String> = redis::cmd("HGET").arg("duet:boots").arg(name).query_async(conn).await?;
        if living.as_deref() == Some(boot) {
            continue;
        }
        let fields: HashMap<String, String> = redis::cmd("HGETALL").arg(&ledger).query_async(conn).await?;
        let closing = ledger::close_out(&left_open(&fields), crate::os::now_unix_ms());
        let mut batch = Batch { take: Some((name.to_owned(), boot.to_owned())), ..Batch::default() };
        for (i, event) in closing.iter().enumerate() {
            batch.events.push((event.app_id.to_string(), format!("{name}-crash-{boot}-{i}"), super::body(event)));
        }
        if run_batch(conn, &ledger, &batch).await? && !closing.is_empty() {
            tracing::warn!(
                node = name,
                events = closing.len(),
                "a gone node left rooms, users or streams open; their closing events are queued (reason server_crash)"
            );
        }
    }
    Ok(())
}

/// The closing events a gone node's ledger would produce (for tests).
#[cfg(test)]
fn closing_of(fields: &HashMap<String, String>) -> Vec<duet_room::HubEvent> {
    ledger::close_out(&left_open(fields), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ledger operations read back give what was left open (a stream published twice
    /// counts two opens; a closed user is gone).
    #[test]
    fn a_ledger_reads_back_what_its_operations_left_open() {
        let mut hash: HashMap<String, String> = HashMap::new();
        let apply = |hash: &mut HashMap<String, String>, op: Vec<String>| match op[0].as_str() {
            "set" => {
                hash.insert(op[1].clone(), op[2].clone());
            }
            "del" => {
                hash.remove(&op[1]);
            }
            "open" => {
                let n: i64 = hash.get(&op[1]).and_then(|v| v.parse().ok()).unwrap_or(0) + 1;
                hash.insert(op[1].clone(), n.to_string());
                hash.insert(op[2].clone(), op[3].clone());
            }
            _ => unreachable!(),
        };
        let room = "room:with\"odd chars".to_owned();
        apply(&mut hash, ops(7, &Change::RoomOpened { room_id: room.clone() }));
        apply(&mut hash, ops(7, &Change::UserIn { room_id: room.clone(), user_id: "a".into(), user_name: "A".into() }));
        apply(&mut hash, ops(7, &Change::UserIn { room_id: room.clone(), user_id: "b".into(), user_name: "B".into() }));
        apply(&mut hash, ops(7, &Change::UserOut { room_id: room.clone(), user_id: "b".into() }));
        let live =
            Change::StreamLive { stream_id: "s".into(), room_id: room.clone(), user_id: "a".into(), since_ms: 5 };
        apply(&mut hash, ops(7, &live));
        apply(&mut hash, ops(7, &live));
        hash.insert("alive".into(), "9000".into());
        let left = left_open(&hash);
        assert_eq!(left.alive_ms, Some(9000));
        assert_eq!(left.rooms, [(7, room.clone())]);
        assert_eq!(left.users.len(), 1);
        assert_eq!(
            (left.streams[0].opens, left.streams[0].since_ms, left.streams[0].room_id.as_str()),
            (2, 5, room.as_str())
        );
        let names: Vec<&str> = closing_of(&hash).iter().map(|e| e.name).collect();
        assert_eq!(names, ["stream.closed", "stream.closed", "user.logout", "room.closed"]);
    }
}
