//! The node registry in Redis and this node's heartbeat. Keys:
//! - `duet:node:{name}`: HASH `boot` (a random token per process), `info` (JSON [`NodeInfo`]:
//!   addresses, start, last beat, load); refreshed every [`HEARTBEAT`], expires after
//!   [`ENTRY_TTL`] without one.
//! - `duet:nodes`: ZSET of the names listed in the cluster (score: start time, ms).
//! - `duet:boots`: HASH name → the boot token of the process last listed under it.
//! - `duet:node-numbers`: the counter that numbers each process at its start (its sessions'
//!   IDs carry the number: `duet_room::session_node`).
//! - `duet:dead:{name}:{boot}`: the verdict on a process that stopped, kept an hour.
//! - `duet:drain:{name}`: the boot token of a process asked to drain (`duet node drain`), kept
//!   a minute; the process reads it at its next beat.
//!
//! Each beat writes this node's entry (refused when another live process holds the name) and
//! reads everyone's; a listed node whose entry lapsed is dead ([`super::reaper`]). The verdict
//! is one script (entry absent and still listed → verdict, unlisted), so exactly one node gives
//! it. A process that finds itself declared dead (it stalled) takes a new boot token.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::Health;
use super::load::{CpuSampler, Load, LoadSource};
use super::reaper::Reaper;

/// How often a node refreshes its entry and looks at the others.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A node's entry expires this long after its last heartbeat.
pub const ENTRY_TTL: Duration = Duration::from_secs(3);
/// How long a degraded node waits between two warnings.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// How long a verdict is kept.
const VERDICT_SECS: u64 = 3600;
const NODES: &str = "duet:nodes";
const BOOTS: &str = "duet:boots";

/// Writes the entry unless another process holds the name: KEYS entry, nodes, boots; ARGV
/// name, boot, info, ttl ms, started ms, draining (`1` or `0`). 1 written, 0 refused.
const BEAT: &str = r#"
local held = redis.call("HGET", KEYS[1], "boot")
if held and held ~= ARGV[2] then return 0 end
redis.call("HSET", KEYS[1], "boot", ARGV[2], "info", ARGV[3], "draining", ARGV[6])
redis.call("PEXPIRE", KEYS[1], ARGV[4])
redis.call("ZADD", KEYS[2], ARGV[5], ARGV[1])
redis.call("HSET", KEYS[3], ARGV[1], ARGV[2])
return 1
"#;

/// A clean stop: unlists the node, unless another process holds the name now. KEYS entry,
/// nodes, boots; ARGV name, boot.
const LEAVE: &str = r#"
local held = redis.call("HGET", KEYS[1], "boot")
if held and held ~= ARGV[2] then return 0 end
redis.call("DEL", KEYS[1])
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("HDEL", KEYS[3], ARGV[1])
return 1
"#;

/// The verdict on a node whose entry lapsed: KEYS entry, nodes, boots; ARGV name, declarer,
/// verdict ttl s. 1 when this call gave it.
const VERDICT: &str = r#"
if redis.call("EXISTS", KEYS[1]) == 1 then return 0 end
if not redis.call("ZSCORE", KEYS[2], ARGV[1]) then return 0 end
local boot = redis.call("HGET", KEYS[3], ARGV[1]) or ""
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("HDEL", KEYS[3], ARGV[1])
if redis.call("SET", "duet:dead:" .. ARGV[1] .. ":" .. boot, ARGV[2], "NX", "EX", ARGV[3]) then return 1 end
return 0
"#;

fn entry_key(name: &str) -> String {
    format!("duet:node:{name}")
}

fn drain_key(name: &str) -> String {
    format!("duet:drain:{name}")
}

// The scripts, hashed once (a heartbeat runs one every second).
static BEAT_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(BEAT));
static VERDICT_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(VERDICT));
static LEAVE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(LEAVE));

/// `script` on the registry of node `name`: KEYS its entry, the list, the boots; ARGV[1] its name.
fn on_entry<'a>(script: &'a redis::Script, name: &str) -> redis::ScriptInvocation<'a> {
    let mut invocation = script.key(entry_key(name));
    invocation.key(NODES).key(BOOTS).arg(name);
    invocation
}

/// Where clients and other nodes reach a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Addresses {
    pub ws: String,
    pub rtmp: String,
    pub http: String,
}

/// A node as the registry lists it (fields a newer or older version lacks read as defaults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeInfo {
    pub name: String,
    /// This process's number in the cluster (`duet:node-numbers`), carried by its session IDs.
    pub number: u32,
    pub started_ms: u64,
    pub last_beat_ms: u64,
    pub addresses: Addresses,
    /// Where the other nodes reach it (`--internal-host`; empty: at `addresses`).
    pub internal: Addresses,
    pub load: Load,
    /// Leaving the cluster: it takes no new sessions or streams (`duet node drain`, SIGTERM).
    pub draining: bool,
}

impl NodeInfo {
    /// The addresses another node uses for it: internal ones when it has them, else its public.
    pub fn reach(&self) -> &Addresses {
        if self.internal.ws.is_empty() { &self.addresses } else { &self.internal }
    }
}

/// This process in the registry.
#[derive(Debug, Clone)]
pub struct Me {
    pub name: String,
    /// A random token of this process: a restart under the same name is another process.
    pub boot: String,
    /// Its number in the cluster, given at registration (0 for a node alone).
    pub number: u32,
    pub started_ms: u64,
    pub addresses: Addresses,
    /// Where the other nodes reach it, when not at `addresses`.
    pub internal: Addresses,
}

/// Puts this node in the registry. A previous process of the same name (a restart after a
/// crash) is waited out until its entry lapses; a live node of the same name is an error.
/// Gives `me` its number.
pub async fn register(conn: &mut ConnectionManager, me: &mut Me) -> anyhow::Result<()> {
    let deadline = Instant::now() + ENTRY_TTL + HEARTBEAT;
    loop {
        let boot: Option<String> =
            redis::cmd("HGET").arg(entry_key(&me.name)).arg("boot").query_async(conn).await.context("Redis")?;
        match boot {
            None => break,
            Some(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(250)).await,
            Some(_) => bail!(
                "another node named {:?} is alive (its heartbeat is under {} s old): give each node its own --node-id",
                me.name,
                ENTRY_TTL.as_secs()
            ),
        }
    }
    let number: u64 = redis::cmd("INCR").arg("duet:node-numbers").query_async(conn).await.context("Redis")?;
    // Session IDs hold the number in their upper 32 bits; wrapping after 4 billion starts is harmless.
    me.number = (number & u64::from(u32::MAX)) as u32;
    if !beat(conn, me, &Load::default(), false).await.context("Redis")? {
        bail!("another node named {:?} registered at the same moment: give each node its own --node-id", me.name);
    }
    Ok(())
}

/// Writes this node's entry; false when another live process holds the name.
async fn beat(conn: &mut ConnectionManager, me: &Me, load: &Load, draining: bool) -> redis::RedisResult<bool> {
    let info = NodeInfo {
        name: me.name.clone(),
        number: me.number,
        started_ms: me.started_ms,
        last_beat_ms: crate::os::now_unix_ms(),
        addresses: me.addresses.clone(),
        internal: me.internal.clone(),
        load: load.clone(),
        draining,
    };
    let info = serde_json::to_string(&info).unwrap_or_default();
    let written: i64 = on_entry(&BEAT_SCRIPT, &me.name)
        .arg(&me.boot)
        .arg(info)
        .arg(ENTRY_TTL.as_millis() as u64)
        .arg(me.started_ms)
        .arg(if draining { "1" } else { "0" })
        .invoke_async(conn)
        .await?;
    Ok(written == 1)
}

/// What one look at the registry found.
struct Look {
    /// Each listed node's entry (`None`: lapsed).
    listed: Vec<(String, Option<(String, NodeInfo)>)>,
    /// This process has been declared dead.
    declared: bool,
    /// This process has been asked to drain.
    drain_asked: bool,
}

async fn look(conn: &mut ConnectionManager, me: &Me) -> redis::RedisResult<Look> {
    let (names, declared, drain): (Vec<String>, bool, Option<String>) = redis::pipe()
        .cmd("ZRANGE")
        .arg(NODES)
        .arg(0)
        .arg(-1)
        .cmd("EXISTS")
        .arg(format!("duet:dead:{}:{}", me.name, me.boot))
        .cmd("GET")
        .arg(drain_key(&me.name))
        .query_async(conn)
        .await?;
    let mut pipe = redis::pipe();
    for name in &names {
        pipe.cmd("HGETALL").arg(entry_key(name));
    }
    let entries: Vec<HashMap<String, String>> =
        if names.is_empty() { Vec::new() } else { pipe.query_async(conn).await? };
    let listed = names
        .into_iter()
        .zip(entries)
        .map(|(name, mut fields)| {
            // Alive while the entry exists; an entry this version cannot read shows its name only.
            let entry = fields.remove("boot").map(|boot| {
                let info = fields.remove("info").and_then(|i| serde_json::from_str(&i).ok());
                (boot, info.unwrap_or_else(|| NodeInfo { name: name.clone(), ..NodeInfo::default() }))
            });
            (name, entry)
        })
        .collect();
    Ok(Look { listed, declared, drain_asked: drain.as_deref() == Some(me.boot.as_str()) })
}

/// Asks the living node `name` to drain (`duet node drain`): fails when no node of that name
/// is alive.
pub fn ask_to_drain(conn: &mut redis::Connection, name: &str) -> anyhow::Result<()> {
    let boot: Option<String> = redis::cmd("HGET").arg(entry_key(name)).arg("boot").query(conn).context("Redis")?;
    let Some(boot) = boot else { bail!("no living node is named {name:?} (see GET /api/v1/nodes)") };
    redis::cmd("SET").arg(drain_key(name)).arg(boot).arg("EX").arg(60).query::<()>(conn).context("Redis")?;
    Ok(())
}

/// Gives the verdict on `name` if its entry is still absent: true when this call gave it.
async fn declare_dead(conn: &mut ConnectionManager, me: &Me, name: &str) -> redis::RedisResult<bool> {
    let given: i64 = on_entry(&VERDICT_SCRIPT, name).arg(&me.name).arg(VERDICT_SECS).invoke_async(conn).await?;
    Ok(given == 1)
}

/// A node that stops on purpose takes itself off the list at once: it is gone, not dead.
async fn leave(conn: &mut ConnectionManager, me: &Me) {
    let left: redis::RedisResult<i64> = on_entry(&LEAVE_SCRIPT, &me.name).arg(&me.boot).invoke_async(conn).await;
    match left {
        Ok(_) => tracing::info!(node = %me.name, "left the cluster"),
        Err(e) => {
            tracing::warn!(node = %me.name, "could not leave the cluster cleanly ({e}); the others see this node lapse")
        }
    }
}

/// What the heartbeat task shares with the rest of the node.
pub struct Shared {
    pub health: watch::Sender<Health>,
    /// The living nodes at the last look (this one included).
    pub view: Mutex<Vec<NodeInfo>>,
    /// Verdicts this node gave.
    pub verdicts: std::sync::atomic::AtomicU64,
    /// This node is draining: its entry says so.
    pub draining: std::sync::atomic::AtomicBool,
    /// Set once this node has been asked to drain (`duet node drain`).
    pub drain_asked: watch::Sender<bool>,
    /// Wakes the heartbeat for a beat now (this node started draining).
    pub beat_now: tokio::sync::Notify,
}

/// The heartbeat: every [`HEARTBEAT`], write this node's entry, read the others, give verdicts
/// on the dead, and keep [`Shared`] current; until `stop` completes.
pub async fn run(
    mut conn: ConnectionManager,
    mut me: Me,
    load: LoadSource,
    shared: Arc<Shared>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut cpu = CpuSampler::default();
    let mut reaper = Reaper::default();
    let mut warned: Option<Instant> = None;
    let mut name_taken: Option<Instant> = None;
    loop {
        tokio::select! {
            () = &mut stop => return leave(&mut conn, &me).await,
            _ = tick.tick() => {}
            () = shared.beat_now.notified() => {}
        }
        let now = Instant::now();
        let draining = shared.draining.load(std::sync::atomic::Ordering::Relaxed);
        let round = async {
            let written = beat(&mut conn, &me, &load.read(cpu.sample(now)), draining).await?;
            Ok::<_, redis::RedisError>((written, look(&mut conn, &me).await?))
        };
        let (written, Look { listed, declared, drain_asked }) = match round.await {
            Ok(found) => found,
            Err(e) => {
                reaper.round(now, false, &me.name, [], |_| false);
                let since = match *shared.health.borrow() {
                    Health::Degraded { since_ms } => since_ms,
                    Health::Healthy => crate::os::now_unix_ms(),
                };
                if warned.is_none_or(|at| now.duration_since(at) >= WARN_EVERY) {
                    tracing::warn!("cluster degraded: Redis cannot be reached ({e}); serving what this node holds");
                    warned = Some(now);
                }
                shared.health.send_replace(Health::Degraded { since_ms: since });
                continue;
            }
        };
        if warned.take().is_some() {
            tracing::info!("cluster healthy again: Redis answers");
        }
        shared.health.send_replace(Health::Healthy);
        if drain_asked && !*shared.drain_asked.borrow() {
            tracing::info!(node = %me.name, "asked to drain (duet node drain)");
            shared.drain_asked.send_replace(true);
        }
        if declared {
            // It stalled past its entry's life and was declared dead: it lives on as a new
            // process of the name, so a later death of it gets its own verdict.
            tracing::error!(node = %me.name, "this node was declared dead by the cluster (it missed its heartbeats); registering again");
            me.boot = super::boot().0;
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(entry_key(&me.name)).query_async(&mut conn).await;
        }
        if !written && name_taken.is_none_or(|at| now.duration_since(at) >= WARN_EVERY) {
            tracing::error!(node = %me.name, "another live process uses this node's name (--node-id); this node is not listed");
            name_taken = Some(now);
        }
        // A round slower than a heartbeat may have let this node's own view go stale: no verdicts.
        let slow = now.elapsed() > HEARTBEAT;
        let dead = reaper.round(now, !slow, &me.name, listed.iter().map(|(n, _)| n.as_str()), |name| {
            listed.iter().any(|(n, e)| n == name && e.is_some())
        });
        for name in dead {
            match declare_dead(&mut conn, &me, name).await {
                Ok(true) => {
                    shared.verdicts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(node = %name, "node is dead: no heartbeat for {} s", ENTRY_TTL.as_secs());
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(node = %name, "cannot record a node's death: {e}"),
            }
        }
        let alive = listed.into_iter().filter_map(|(_, e)| e.map(|(_, info)| info)).collect();
        *shared.view.lock().unwrap_or_else(|p| p.into_inner()) = alive;
    }
}

/// The living node, other than `me` (`{name}:{boot}`), that `key`'s value names, with its
/// registry entry; `None` when it names this process, nobody, a process that is gone, or
/// Redis does not answer.
pub async fn living_holder(conn: &mut ConnectionManager, key: &str, me: &str) -> Option<NodeInfo> {
    let held: Option<String> = redis::cmd("GET").arg(key).query_async(conn).await.ok()?;
    living(conn, &held?, me).await
}

/// The living node, other than `me`, that `held` (`{name}:{boot}`) names.
pub async fn living(conn: &mut ConnectionManager, held: &str, me: &str) -> Option<NodeInfo> {
    if held == me {
        return None;
    }
    let (name, boot) = held.rsplit_once(':')?;
    let (live_boot, info): (Option<String>, Option<String>) =
        redis::cmd("HMGET").arg(format!("duet:node:{name}")).arg("boot").arg("info").query_async(conn).await.ok()?;
    if live_boot.as_deref() != Some(boot) {
        return None;
    }
    serde_json::from_str::<NodeInfo>(&info?).ok().filter(|n| !n.reach().http.is_empty())
}
