//! Which node is the home of each room: the one node whose room hub holds the room (its
//! members, streams, extra info, and the one `seq` order of its events). Members connected to
//! other nodes reach it through their node (`signaling::relay`).
//!
//! Key `duet:room:{app}:{room}` → `{node}:{boot}` of the home process. The first login of a room
//! anywhere claims it for the node it arrived at; it stays there while that process lives (a
//! claim naming a process whose registry entry lapsed, or an earlier process of the name, is
//! taken over by the next login) and is released when the room closes there. A node that was
//! cut from Redis claims again the rooms it served meanwhile once Redis answers.
//!
//! A room with extra info has a record, `duet:roomrec:{app}:{room}` (its member limit and extra
//! info, written behind by its home at each change, deleted when it closes, kept a day): the
//! node that claims the room next gets it with the claim and opens the room from it, so a room
//! whose home died or drained keeps its state.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use tokio::sync::watch;

use super::Health;
use super::nodes::NodeInfo;

/// Gets or takes the home of a room: KEYS the room's key, its record's; ARGV this node's name,
/// its boot. Returns `{holder, its entry's info JSON, the room's record}` (the record when this
/// process holds it now, else ""); the holder is this process when it was free,
/// held by an earlier process of this name, or held by a process whose entry lapsed or that is
/// draining. (It reads the holder's registry entry besides its key: on Redis Cluster this check
/// would be two steps.)
const CLAIM: &str = r#"
local me = ARGV[1] .. ":" .. ARGV[2]
local held = redis.call("GET", KEYS[1])
if held and held ~= me then
  local name, boot = string.match(held, "^(.*):([^:]*)$")
  if name and name ~= ARGV[1] then
    local entry = "duet:node:" .. name
    if redis.call("HGET", entry, "boot") == boot and redis.call("HGET", entry, "draining") ~= "1" then
      return {held, redis.call("HGET", entry, "info") or "", ""}
    end
  end
end
redis.call("SET", KEYS[1], me)
return {me, "", redis.call("GET", KEYS[2]) or ""}
"#;

/// Releases a room this process holds: KEYS the room's key; ARGV this process.
const RELEASE: &str = r#"
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0
"#;

static CLAIM_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(CLAIM));
static RELEASE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(RELEASE));

fn room_key(app_id: u32, room_id: &str) -> String {
    format!("duet:room:{app_id}:{room_id}")
}

fn record_key(app_id: u32, room_id: &str) -> String {
    format!("duet:roomrec:{app_id}:{room_id}")
}

/// How long a room's record outlives its last change.
const RECORD_SECS: u64 = 24 * 3600;

/// Where a room lives.
#[derive(Debug, Clone, PartialEq)]
pub enum Home {
    /// On this node (always, for a node alone or while Redis cannot be reached), with the
    /// record to open it from when it has one.
    Here(Option<serde_json::Value>),
    /// On another living node.
    There(Box<NodeInfo>),
}

/// This node's claims, kept to be made again after an outage.
pub struct Homes {
    conn: ConnectionManager,
    /// `{name}:{boot}` of this process.
    me: String,
    name: String,
    boot: String,
    health: watch::Receiver<Health>,
    /// The rooms this node serves as home (claimed, or served while Redis was away), with when
    /// a login last claimed each.
    held: Mutex<HashMap<(u32, String), Instant>>,
    /// Room records to write (`Some`) or delete, in order ([`write_records`]).
    records: tokio::sync::mpsc::UnboundedSender<((u32, String), Option<serde_json::Value>)>,
}

impl Homes {
    pub fn new(conn: ConnectionManager, name: &str, boot: &str, health: watch::Receiver<Health>) -> Arc<Self> {
        let (records, to_write) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(write_records(conn.clone(), to_write));
        let homes = Arc::new(Self {
            conn,
            me: format!("{name}:{boot}"),
            name: name.to_owned(),
            boot: boot.to_owned(),
            health,
            held: Mutex::default(),
            records,
        });
        tokio::spawn(reclaim_after_outages(Arc::downgrade(&homes)));
        homes
    }

    /// The home of `room` of `app_id`, claimed for this node when it has none.
    pub async fn home_of(&self, app_id: u32, room_id: &str) -> Home {
        if matches!(*self.health.borrow(), Health::Degraded { .. }) {
            // Serve it here; the claim is made when Redis answers again.
            self.hold(app_id, room_id);
            return Home::Here(None);
        }
        match self.claim(app_id, room_id).await {
            Ok(Claim::There(info)) => Home::There(info),
            Ok(Claim::Here(record)) => Home::Here(record),
            Err(e) => {
                tracing::warn!(app_id, room = room_id, "cannot learn a room's home ({e}); serving it here");
                self.hold(app_id, room_id);
                Home::Here(None)
            }
        }
    }

    /// Keeps (or, `None`, deletes) the record of a room this node is home of.
    pub fn record(&self, app_id: u32, room_id: &str, record: Option<serde_json::Value>) {
        // The writer only stops with the runtime.
        let _ = self.records.send(((app_id, room_id.to_owned()), record));
    }

    /// The living other node that holds `room`, without claiming it (`None`: here, nobody, or
    /// unknown while Redis cannot be reached).
    pub async fn holder(&self, app_id: u32, room_id: &str) -> Option<NodeInfo> {
        super::nodes::living_holder(&mut self.conn.clone(), &room_key(app_id, room_id), &self.me).await
    }

    /// Claims `room`: held here now (with its record, if it has one), or by another living node.
    async fn claim(&self, app_id: u32, room_id: &str) -> redis::RedisResult<Claim> {
        let (holder, info, record): (String, String, String) = CLAIM_SCRIPT
            .key(room_key(app_id, room_id))
            .key(record_key(app_id, room_id))
            .arg(&self.name)
            .arg(&self.boot)
            .invoke_async(&mut self.conn.clone())
            .await?;
        if holder == self.me {
            self.hold(app_id, room_id);
            return Ok(Claim::Here(serde_json::from_str(&record).ok()));
        }
        match serde_json::from_str::<NodeInfo>(&info) {
            Ok(node) if !node.reach().ws.is_empty() => Ok(Claim::There(Box::new(node))),
            _ => {
                tracing::warn!(
                    app_id,
                    room = room_id,
                    holder,
                    "a room's home has no readable address; serving it here"
                );
                Ok(Claim::Here(None))
            }
        }
    }

    fn hold(&self, app_id: u32, room_id: &str) {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).insert((app_id, room_id.to_owned()), Instant::now());
    }

    /// Rooms claimed here more than `age` ago, with when: those not open on this node's hub
    /// were claimed by logins that failed (or their close was missed), and are released by the
    /// caller with [`Homes::release_unused`].
    pub fn claimed_before(&self, age: Duration) -> Vec<((u32, String), Instant)> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.iter().filter(|(_, at)| at.elapsed() > age).map(|(room, at)| (room.clone(), *at)).collect()
    }

    /// Releases `room` found unused, unless a login claimed it again since `claimed_at`.
    pub fn release_unused(&self, app_id: u32, room_id: &str, claimed_at: Instant) {
        let key = (app_id, room_id.to_owned());
        let again = self.held.lock().unwrap_or_else(|p| p.into_inner()).get(&key) != Some(&claimed_at);
        if !again {
            self.closed(app_id, room_id);
        }
    }

    /// The room closed here: another node may be its home next time.
    pub fn closed(&self, app_id: u32, room_id: &str) {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner()).remove(&(app_id, room_id.to_owned()));
        if held.is_none() {
            return;
        }
        let (mut conn, me, key) = (self.conn.clone(), self.me.clone(), room_key(app_id, room_id));
        tokio::spawn(async move {
            let released: redis::RedisResult<i64> = RELEASE_SCRIPT.key(key).arg(me).invoke_async(&mut conn).await;
            if let Err(e) = released {
                // The claim stays until this process is gone; logins still find the room here.
                tracing::debug!("cannot release a closed room's home: {e}");
            }
        });
    }

    /// Claims again every room this node serves (after Redis was away, or came back empty).
    async fn reclaim(&self) {
        let rooms: Vec<(u32, String)> = self.held.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect();
        let mut split = 0;
        for (app_id, room_id) in &rooms {
            match self.claim(*app_id, room_id).await {
                Ok(Claim::Here(_)) => {}
                Ok(Claim::There(other)) => {
                    split += 1;
                    tracing::warn!(app_id, room = %room_id, home = %other.name,
                        "a room served here while Redis was away has its home on another node: members here and there do not see each other until they reconnect");
                }
                Err(e) => return tracing::warn!("cannot claim this node's rooms again yet: {e}"),
            }
        }
        tracing::info!(rooms = rooms.len(), split, "claimed this node's rooms again");
    }
}

/// What a claim found.
enum Claim {
    Here(Option<serde_json::Value>),
    There(Box<NodeInfo>),
}

/// Writes room records in the order their rooms changed, until the sender is dropped.
async fn write_records(
    mut conn: ConnectionManager,
    mut records: tokio::sync::mpsc::UnboundedReceiver<((u32, String), Option<serde_json::Value>)>,
) {
    while let Some(((app_id, room_id), record)) = records.recv().await {
        let key = record_key(app_id, &room_id);
        let written: redis::RedisResult<()> = match record {
            Some(record) => {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(record.to_string())
                    .arg("EX")
                    .arg(RECORD_SECS)
                    .query_async(&mut conn)
                    .await
            }
            None => redis::cmd("DEL").arg(&key).query_async(&mut conn).await,
        };
        if let Err(e) = written {
            tracing::debug!(app_id, room = %room_id, "cannot write a room's record ({e}); its next home may start it afresh");
        }
    }
}

/// Each time the cluster turns healthy after being degraded, claims this node's rooms again.
async fn reclaim_after_outages(homes: std::sync::Weak<Homes>) {
    let Some(mut health) = homes.upgrade().map(|h| h.health.clone()) else { return };
    let mut degraded = false;
    while health.changed().await.is_ok() {
        let now_degraded = matches!(*health.borrow_and_update(), Health::Degraded { .. });
        if degraded && !now_degraded {
            let Some(homes) = homes.upgrade() else { return };
            homes.reclaim().await;
        }
        degraded = now_degraded;
    }
}
