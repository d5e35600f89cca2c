//! The node registry in Redis and this node's heartbeat. Keys:
//! - `duet:node:{name}`: HASH `boot` (a random token per process), `info` (JSON [`NodeInfo`]:
//!   addresses, start, last beat, load); refreshed every [`HEARTBEAT`], expires after
//!   [`ENTRY_TTL`] without one.
//! - `duet:nodes`: ZSET of the names listed in the cluster (score: start time, ms).
//! - `duet:dead:{name}:{boot}`: the verdict on a process that stopped (`SET NX`, so one node
//!   gives it), kept an hour.
//!
//! Each beat writes this node's entry and reads everyone's; a listed node whose entry lapsed
//! is dead ([`super::reaper`]): the first node to set its verdict logs it and unlists it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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

fn entry_key(name: &str) -> String {
    format!("duet:node:{name}")
}

/// Where clients and other nodes reach a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Addresses {
    pub ws: String,
    pub rtmp: String,
    pub http: String,
}

/// A node as the registry lists it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    pub name: String,
    pub started_ms: u64,
    pub last_beat_ms: u64,
    pub addresses: Addresses,
    pub load: Load,
}

/// This process in the registry.
#[derive(Debug, Clone)]
pub struct Me {
    pub name: String,
    /// A random token of this process: a restart under the same name is another process.
    pub boot: String,
    pub started_ms: u64,
    pub addresses: Addresses,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Puts this node in the registry. A previous process of the same name (a restart after a
/// crash) is waited out until its entry lapses; a live node of the same name is an error.
pub async fn register(conn: &mut ConnectionManager, me: &Me) -> anyhow::Result<()> {
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
    beat(conn, me, &Load::default()).await.context("Redis")?;
    Ok(())
}

/// Writes this node's entry (one pipeline).
async fn beat(conn: &mut ConnectionManager, me: &Me, load: &Load) -> redis::RedisResult<()> {
    let info = NodeInfo {
        name: me.name.clone(),
        started_ms: me.started_ms,
        last_beat_ms: now_ms(),
        addresses: me.addresses.clone(),
        load: load.clone(),
    };
    let info = serde_json::to_string(&info).unwrap_or_default();
    redis::pipe()
        .cmd("HSET")
        .arg(entry_key(&me.name))
        .arg("boot")
        .arg(&me.boot)
        .arg("info")
        .arg(info)
        .ignore()
        .cmd("PEXPIRE")
        .arg(entry_key(&me.name))
        .arg(ENTRY_TTL.as_millis() as u64)
        .ignore()
        .cmd("ZADD")
        .arg(NODES)
        .arg(me.started_ms)
        .arg(&me.name)
        .ignore()
        .query_async(conn)
        .await
}

/// What one look at the registry found: each listed node's entry (`None`: lapsed), and whether
/// this process has been declared dead.
async fn look(
    conn: &mut ConnectionManager,
    me: &Me,
) -> redis::RedisResult<(Vec<(String, Option<(String, NodeInfo)>)>, bool)> {
    let (names, declared): (Vec<String>, bool) = redis::pipe()
        .cmd("ZRANGE")
        .arg(NODES)
        .arg(0)
        .arg(-1)
        .cmd("EXISTS")
        .arg(format!("duet:dead:{}:{}", me.name, me.boot))
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
            let entry = match (fields.remove("boot"), fields.remove("info").and_then(|i| serde_json::from_str(&i).ok()))
            {
                (Some(boot), Some(info)) => Some((boot, info)),
                _ => None,
            };
            (name, entry)
        })
        .collect();
    Ok((listed, declared))
}

/// Gives the verdict on `name` (its process `boot`): true when this node set it first.
async fn declare_dead(conn: &mut ConnectionManager, me: &Me, name: &str, boot: &str) -> redis::RedisResult<bool> {
    let set: Option<String> = redis::cmd("SET")
        .arg(format!("duet:dead:{name}:{boot}"))
        .arg(&me.name)
        .arg("NX")
        .arg("EX")
        .arg(VERDICT_SECS)
        .query_async(conn)
        .await?;
    if set.is_some() {
        // A node that comes back under this name lists itself again at its next beat.
        let _: i64 = redis::cmd("ZREM").arg(NODES).arg(name).query_async(conn).await?;
    }
    Ok(set.is_some())
}

/// A node that stops on purpose takes itself off the list at once: it is gone, not dead.
async fn leave(conn: &mut ConnectionManager, me: &Me) {
    let left: redis::RedisResult<()> = redis::pipe()
        .cmd("DEL")
        .arg(entry_key(&me.name))
        .ignore()
        .cmd("ZREM")
        .arg(NODES)
        .arg(&me.name)
        .ignore()
        .query_async(conn)
        .await;
    match left {
        Ok(()) => tracing::info!(node = %me.name, "left the cluster"),
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
}

/// The heartbeat: every [`HEARTBEAT`], write this node's entry, read the others, give verdicts
/// on the dead, and keep [`Shared`] current; until `stop` completes.
pub async fn run(
    mut conn: ConnectionManager,
    me: Me,
    load: LoadSource,
    shared: Arc<Shared>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut cpu = CpuSampler::default();
    let mut reaper = Reaper::default();
    // The last process seen under each name, for the verdict's key once its entry is gone.
    let mut boots: HashMap<String, String> = HashMap::new();
    let mut warned: Option<Instant> = None;
    let mut told_dead = false;
    loop {
        tokio::select! {
            () = &mut stop => return leave(&mut conn, &me).await,
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        let round = async {
            beat(&mut conn, &me, &load.read(cpu.sample(now))).await?;
            look(&mut conn, &me).await
        };
        let (listed, declared) = match round.await {
            Ok(found) => found,
            Err(e) => {
                reaper.round(now, false, &me.name, [], |_| false);
                let since = match *shared.health.borrow() {
                    Health::Degraded { since_ms } => since_ms,
                    Health::Healthy => now_ms(),
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
        if declared && !told_dead {
            tracing::error!(node = %me.name, "this node was declared dead by the cluster (it missed its heartbeats)");
        }
        told_dead = declared;
        for (name, entry) in &listed {
            if let Some((boot, _)) = entry {
                boots.insert(name.clone(), boot.clone());
            }
        }
        let dead = reaper.round(now, true, &me.name, listed.iter().map(|(n, _)| n.as_str()), |name| {
            listed.iter().any(|(n, e)| n == name && e.is_some())
        });
        for name in dead {
            let boot = boots.get(name).cloned().unwrap_or_default();
            match declare_dead(&mut conn, &me, name, &boot).await {
                Ok(true) => {
                    shared.verdicts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(node = %name, "node is dead: no heartbeat for {} s", ENTRY_TTL.as_secs());
                    boots.remove(name);
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(node = %name, "cannot record a node's death: {e}"),
            }
        }
        let alive = listed.into_iter().filter_map(|(_, e)| e.map(|(_, info)| info)).collect();
        *shared.view.lock().unwrap_or_else(|p| p.into_inner()) = alive;
    }
}
