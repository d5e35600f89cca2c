//! Many nodes as one service, on Redis (`--redis-url`; the plan and what is built so far:
//! docs/cluster-design.md). This module owns the node's membership of the cluster: its entry in
//! the node registry (registered at start, refreshed every second with its load), the death of
//! nodes that stop (one verdict each), and the cluster's health as this node sees it (degraded
//! while Redis cannot be reached: the node keeps serving what it holds). Without `--redis-url`
//! the node is a cluster of one: it lists only itself.

pub mod homes;
pub mod load;
pub mod nodes;
pub mod origins;
pub mod peers;
pub mod reaper;
pub mod users;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio::sync::watch;

use self::load::LoadSource;
use self::nodes::{Me, NodeInfo, Shared};

/// How long a Redis command may take before the cluster counts as degraded.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// `--redis-url`.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// `redis://[user:password@]host:port[/db]`.
    pub redis_url: String,
}

/// The cluster's health as this node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase", tag = "state")]
pub enum Health {
    /// Redis answers.
    Healthy,
    /// Redis cannot be reached since `since_ms` (Unix ms): cross-node work waits.
    Degraded { since_ms: u64 },
}

/// This node's place in the cluster, cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    me: Arc<Me>,
    load: LoadSource,
    /// The heartbeat's view, in a cluster.
    shared: Option<Arc<Shared>>,
    /// Commands to the cluster's Redis (a multiplexed connection, cheap to clone).
    redis: Option<redis::aio::ConnectionManager>,
    /// The rooms this node is home of.
    homes: Option<Arc<homes::Homes>>,
    /// This node's publishes starting and ending, written in order by `origins::run`.
    origins: Option<tokio::sync::mpsc::UnboundedSender<origins::Change>>,
    /// The heartbeat task, which leaves the cluster when the node stops.
    heartbeat: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl Cluster {
    /// A node without a cluster.
    pub fn single(me: Me, load: LoadSource) -> Self {
        Self {
            me: Arc::new(me),
            load,
            shared: None,
            redis: None,
            homes: None,
            origins: None,
            heartbeat: Arc::default(),
        }
    }

    /// Joins the cluster on Redis: registers this node (failing when Redis cannot be reached
    /// or another live node has its name) and starts its heartbeat, which runs until `stop`.
    pub async fn join(
        settings: &ClusterSettings,
        mut me: Me,
        load: LoadSource,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Self> {
        let shown = redacted(&settings.redis_url);
        let client = redis::Client::open(settings.redis_url.as_str())
            .with_context(|| format!("--redis-url {shown:?} is not a Redis URL"))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let mut conn = tokio::time::timeout(REDIS_TIMEOUT * 3, client.get_connection_manager_with_config(config))
            .await
            .map_err(|_| anyhow::anyhow!("no answer"))
            .and_then(|c| c.map_err(anyhow::Error::from))
            .with_context(|| format!("cannot reach Redis at {shown} (--redis-url)"))?;
        nodes::register(&mut conn, &mut me).await?;
        tracing::info!(node = %me.name, "joined the cluster on Redis");
        let shared = Arc::new(Shared {
            health: watch::channel(Health::Healthy).0,
            view: Default::default(),
            verdicts: Default::default(),
            draining: Default::default(),
            drain_asked: watch::channel(false).0,
            beat_now: Default::default(),
        });
        let homes = homes::Homes::new(conn.clone(), &me.name, &me.boot, shared.health.subscribe());
        let heartbeat = tokio::spawn(nodes::run(conn.clone(), me.clone(), load.clone(), shared.clone(), stop));
        let (origins, changes) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(origins::run(conn.clone(), me.name.clone(), changes));
        Ok(Self {
            me: Arc::new(me),
            load,
            shared: Some(shared),
            redis: Some(conn),
            homes: Some(homes),
            origins: Some(origins),
            heartbeat: Arc::new(std::sync::Mutex::new(Some(heartbeat))),
        })
    }

    /// Waits (at most `limit`) for the heartbeat to leave the cluster once the node stops.
    pub async fn left(&self, limit: Duration) {
        let task = self.heartbeat.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task
            && tokio::time::timeout(limit, task).await.is_err()
        {
            tracing::warn!("the cluster did not hear this node leave in time; the others see it lapse");
        }
    }

    /// This node's name (`--node-id`).
    pub fn name(&self) -> &str {
        &self.me.name
    }

    /// This process's number in the cluster (0 alone), which its session IDs carry.
    pub fn number(&self) -> u32 {
        self.me.number
    }

    /// The other living node numbered `number`, which holds the sessions whose IDs carry it.
    pub fn node_numbered(&self, number: u32) -> Option<NodeInfo> {
        let shared = self.shared.as_ref()?;
        let view = shared.view.lock().unwrap_or_else(|p| p.into_inner());
        view.iter().find(|n| n.number == number && n.name != self.me.name).cloned()
    }

    /// The cluster's health, or `None` for a node without one.
    pub fn health(&self) -> Option<Health> {
        self.shared.as_ref().map(|s| *s.health.borrow())
    }

    /// The living nodes, this one first (its load read now).
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let mut this = NodeInfo {
            name: self.me.name.clone(),
            number: self.me.number,
            started_ms: self.me.started_ms,
            last_beat_ms: 0,
            addresses: self.me.addresses.clone(),
            internal: self.me.internal.clone(),
            load: self.load.read(0.0),
            draining: self.is_draining(),
        };
        let Some(shared) = &self.shared else { return vec![this] };
        let view = shared.view.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut others = Vec::with_capacity(view.len());
        for node in view {
            if node.name == this.name {
                // The heartbeat's entry carries the CPU use over its interval.
                this.load.cpu = node.load.cpu;
                this.last_beat_ms = node.last_beat_ms;
            } else {
                others.push(node);
            }
        }
        others.sort_by(|a, b| a.name.cmp(&b.name));
        let mut all = vec![this];
        all.extend(others);
        all
    }

    /// Waits until this node is asked to drain (`duet node drain`); never, for a node alone.
    pub async fn drain_asked(&self) {
        match &self.shared {
            Some(shared) => {
                let _ = shared.drain_asked.subscribe().wait_for(|asked| *asked).await;
            }
            None => std::future::pending().await,
        }
    }

    /// This node starts draining: its registry entry says so at once, so no other node makes
    /// it the home of a room any more.
    pub fn start_draining(&self) {
        if let Some(shared) = &self.shared {
            shared.draining.store(true, Relaxed);
            shared.beat_now.notify_one();
        }
    }

    /// Whether this node is draining.
    pub fn is_draining(&self) -> bool {
        self.shared.as_ref().is_some_and(|s| s.draining.load(Relaxed))
    }

    /// Where this node's clients go when it drains: the signaling URLs of the other living
    /// nodes that are not draining, the least loaded first (all of one node's clients get one
    /// order, so members of one room tend to land on one node).
    pub fn elsewhere(&self) -> Vec<String> {
        let mut others: Vec<NodeInfo> =
            self.nodes().into_iter().skip(1).filter(|n| !n.draining && !n.addresses.ws.is_empty()).collect();
        others.sort_by(|a, b| a.load.sessions.cmp(&b.load.sessions).then_with(|| a.name.cmp(&b.name)));
        others.into_iter().map(|n| n.addresses.ws).collect()
    }

    /// The node whose room hub holds `room` of `app_id`, claimed for this one when it has none.
    pub async fn home_of(&self, app_id: u32, room_id: &str) -> homes::Home {
        match &self.homes {
            Some(homes) => homes.home_of(app_id, room_id).await,
            None => homes::Home::Here(None),
        }
    }

    /// The room hub handed out `room`'s record (`None`: the room closed): kept for its next
    /// home. A draining node keeps the records of the rooms it closes.
    pub fn room_record(&self, app_id: u32, room_id: &str, record: Option<serde_json::Value>) {
        if record.is_none() && self.is_draining() {
            return;
        }
        if let Some(homes) = &self.homes {
            homes.record(app_id, room_id, record);
        }
    }

    /// The other living node that is the home of `room`, if one is (nothing is claimed).
    pub async fn home_elsewhere(&self, app_id: u32, room_id: &str) -> Option<NodeInfo> {
        self.homes.as_ref()?.holder(app_id, room_id).await
    }

    /// This node's hub took a login of `user_id` at `login_ms`: the user's session elsewhere in
    /// the cluster, if it logged in before, ends (`users`).
    pub fn user_logged_in(&self, app_id: u32, user_id: &str, login_ms: u64, apps: &crate::store::apps::Apps) {
        if let Some(conn) = &self.redis {
            users::logged_in(conn, &self.me_key(), (app_id, user_id), login_ms, apps.clone());
        }
    }

    /// The other living node holding `user_id`'s session, if one does.
    pub async fn user_elsewhere(&self, app_id: u32, user_id: &str) -> Option<NodeInfo> {
        users::holder(self.redis.as_ref()?, &self.me_key(), app_id, user_id).await
    }

    /// Whether `nonce` of an API request for `app_id` is used for the first time in the
    /// cluster (kept `ttl_secs`); true alone, or while Redis cannot say.
    pub async fn nonce_first_use(&self, app_id: u32, nonce: &str, ttl_secs: u64) -> bool {
        let Some(conn) = &self.redis else { return true };
        let set: redis::RedisResult<Option<String>> = redis::cmd("SET")
            .arg(format!("duet:nonce:{app_id}:{nonce}"))
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(ttl_secs)
            .query_async(&mut conn.clone())
            .await;
        !matches!(set, Ok(None))
    }

    /// `{name}:{boot}`: this process in the cluster's claims.
    fn me_key(&self) -> String {
        format!("{}:{}", self.me.name, self.me.boot)
    }

    /// Rooms this node claimed more than `age` ago, with when (see `Homes::claimed_before`).
    pub fn rooms_claimed_before(&self, age: Duration) -> Vec<((u32, String), std::time::Instant)> {
        self.homes.as_ref().map_or_else(Vec::new, |h| h.claimed_before(age))
    }

    /// Releases a room found unused unless a login claimed it again since `claimed_at`.
    pub fn release_unused(&self, app_id: u32, room_id: &str, claimed_at: std::time::Instant) {
        if let Some(homes) = &self.homes {
            homes.release_unused(app_id, room_id, claimed_at);
        }
    }

    /// `room` closed on this node: its home is free again.
    pub fn room_closed(&self, app_id: u32, room_id: &str) {
        if let Some(homes) = &self.homes {
            homes.closed(app_id, room_id);
        }
    }

    /// Publish `publisher` of `stream` was admitted here with `budget`: the cluster learns this
    /// node is its origin.
    pub fn stream_started(&self, stream: &duet_media::StreamKey, publisher: u64, budget: duet_media::LatencyBudget) {
        self.origin_change(stream, publisher, Some(budget));
    }

    /// Publish `publisher` of `stream` here ended (a takeover's newer publish stays the origin).
    pub fn stream_ended(&self, stream: &duet_media::StreamKey, publisher: u64) {
        self.origin_change(stream, publisher, None);
    }

    fn origin_change(
        &self,
        stream: &duet_media::StreamKey,
        publisher: u64,
        started: Option<duet_media::LatencyBudget>,
    ) {
        if let Some(tx) = &self.origins {
            // The writer only stops with the runtime.
            let _ = tx.send(origins::Change { stream: stream.clone(), publisher, started });
        }
    }

    /// The living node that publishes `stream`, when it is another one, with the publish's budget
    /// (`None` too while Redis cannot say).
    pub async fn origin_of(&self, stream: &duet_media::StreamKey) -> Option<origins::Origin> {
        self.try_origin_of(stream).await.ok().flatten()
    }

    /// As [`Cluster::origin_of`], with an error when Redis cannot say.
    pub async fn try_origin_of(&self, stream: &duet_media::StreamKey) -> redis::RedisResult<Option<origins::Origin>> {
        let Some(conn) = self.redis.clone() else { return Ok(None) };
        let alive = self.nodes();
        origins::origin(conn, &self.me.name, stream, alive).await
    }

    /// This process's link to the cluster's webhook queue, in a cluster.
    pub fn webhook_link(&self) -> Option<crate::webhooks::cluster::ClusterLink> {
        Some(crate::webhooks::cluster::ClusterLink {
            conn: self.redis.clone()?,
            name: self.me.name.clone(),
            boot: self.me.boot.clone(),
        })
    }

    /// Verdicts this node gave on dead nodes.
    pub fn verdicts(&self) -> u64 {
        self.shared.as_ref().map_or(0, |s| s.verdicts.load(Relaxed))
    }
}

/// `url` with any user and password hidden, for messages and logs.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}***@{}", &url[..scheme + 3], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// A node name: 1–64 characters of `[A-Za-z0-9._-]`.
pub fn check_node_name(name: &str) -> Result<(), String> {
    let ok =
        !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not a node name: 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-'"))
    }
}

/// A host for `--internal-host`: a name or IPv4 address (letters, digits, '.', '-'), or an
/// IPv6 address in brackets; no scheme, port or path.
pub fn check_host(host: &str) -> Result<(), String> {
    let bracketed = host.len() > 2
        && host.starts_with('[')
        && host.ends_with(']')
        && host[1..host.len() - 1].parse::<std::net::Ipv6Addr>().is_ok();
    let plain =
        !host.is_empty() && host.len() <= 253 && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b));
    if bracketed || plain {
        Ok(())
    } else {
        Err(format!(
            "{host:?} is not a host: a name, an IPv4 address or a bracketed IPv6 address, without scheme or port"
        ))
    }
}

/// The machine's host name, the default node name.
pub fn default_node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    if check_node_name(host).is_ok() { host.to_owned() } else { "duet".to_owned() }
}

/// A random boot token and the time now, for [`Me`].
pub fn boot() -> (String, u64) {
    (duet_token::hex(&crate::os::random::<8>()), crate::os::now_unix_ms())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_hosts_are_names_or_addresses() {
        for ok in ["10.0.0.5", "node-a.internal", "[::1]", "[fd00::5]"] {
            assert_eq!(check_host(ok), Ok(()), "{ok}");
        }
        for bad in ["", "10.0.0.5:8080", "http://node-a", "node a", "[not-v6]", "node/a"] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(redacted("redis://app:s3cret@10.0.0.5:6379/0"), "redis://***@10.0.0.5:6379/0");
        assert_eq!(redacted("redis://10.0.0.5:6379"), "redis://10.0.0.5:6379");
        assert_eq!(redacted("not a url @ all"), "not a url @ all");
    }
}
