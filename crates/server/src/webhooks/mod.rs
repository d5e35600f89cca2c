//! Webhooks: room, user and stream events of an app, POSTed as signed JSON to the app's URL.
//!
//! The hub hands events over with [`Webhooks::offer`], which never waits: a bounded channel
//! feeds a task that writes them, in batches, to the SQLite queue (so a restart loses nothing
//! queued). A dispatcher delivers each app's events in order, one at a time per app, with
//! retries and backoff; a receiver that hangs or fails delays only its own app. Delivery is
//! at least once: a receiver may see an event twice (same `X-Duet-Delivery`).
//!
//! Every batch also updates the open ledger (`ledger`: what each backend was told is open) and
//! the time the server was last known alive, which the writer refreshes every
//! [`ALIVE_EVERY`] too. At start, [`Webhooks::start`] first queues the closing events of what a
//! crashed run left open. At a stop, [`QueueWriter::finish`] stores what the stopped hub handed
//! over before the process exits.

pub mod cluster;
pub mod ledger;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use duet_room::HubEvent;
use serde_json::json;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::store::registry::{QueuedEvent, Registry};

/// Events a full channel refuses beyond this (the hub never waits).
const CHANNEL: usize = 65_536;
/// Undelivered events kept per app; older ones are dropped beyond it.
pub const QUEUE_CAP: u64 = 100_000;
/// One delivery attempt may take this long.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// An event still undelivered after this long is dropped.
pub const GIVE_UP_SECS: i64 = 24 * 3600;
/// Waits between attempts: 1 s doubling to 5 min.
const BACKOFF_SECS: [u64; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 300];
/// How often the server records that it is alive (a crash is dated to the last record).
pub const ALIVE_EVERY: Duration = Duration::from_secs(10);
/// At a stop, deliveries under way may finish for this long (an event a receiver took is not
/// sent again after the restart); the others are cut and sent again.
const FINISH_DELIVERIES: Duration = Duration::from_secs(2);

/// Delivery counters, shown in /metrics.
#[derive(Default)]
pub struct WebhookStats {
    /// Events delivered (2xx).
    pub delivered: AtomicU64,
    /// Attempts that failed (error, timeout, non-2xx).
    pub failed_attempts: AtomicU64,
    /// Events dropped (channel full, queue over its cap, or undeliverable for a day).
    pub dropped: AtomicU64,
}

/// The handle the hub uses.
#[derive(Clone)]
pub struct Webhooks {
    tx: mpsc::Sender<HubEvent>,
    /// Counters.
    pub stats: Arc<WebhookStats>,
}

/// The queue writer and the dispatcher, to stop at exit.
pub struct QueueWriter {
    stop_writer: oneshot::Sender<()>,
    writer: JoinHandle<()>,
    stop_dispatcher: oneshot::Sender<()>,
    dispatcher: JoinHandle<()>,
}

impl QueueWriter {
    /// Stores every event handed to [`Webhooks::offer`] so far (call it once the hub has
    /// stopped and handed over its last events), waiting at most `limit`; then stops the
    /// dispatcher, letting deliveries under way finish for up to [`FINISH_DELIVERIES`].
    pub async fn finish(self, limit: Duration) {
        let _ = self.stop_writer.send(());
        if tokio::time::timeout(limit, self.writer).await.is_err() {
            tracing::warn!("webhook events still unwritten at exit");
        }
        let _ = self.stop_dispatcher.send(());
        let _ = self.dispatcher.await;
    }
}

impl Webhooks {
    /// Queues the closing events of what a previous run left open (`ledger::recover`), then
    /// starts the queue writer and the dispatcher. In a cluster (`link`), the events go on to
    /// the cluster's queue and any node delivers them ([`cluster`]); what a previous run left
    /// open is in its ledger in Redis, closed out by whichever node finds it first.
    pub fn start(registry: Arc<Registry>, link: Option<cluster::ClusterLink>) -> anyhow::Result<(Self, QueueWriter)> {
        let closed = if link.is_some() {
            // The node's own copy of the ledger is not the one that counts in a cluster.
            registry.close_out_left_open(|_| Vec::new(), crate::os::now_unix(), QUEUE_CAP)?;
            0
        } else {
            ledger::recover(&registry, QUEUE_CAP)?
        };
        if closed > 0 {
            tracing::warn!(
                events = closed,
                "the previous run ended without closing its rooms, users and streams; their closing events are queued (reason server_crash)"
            );
        }
        let (tx, rx) = mpsc::channel(CHANNEL);
        let stats = Arc::new(WebhookStats::default());
        let wake = Arc::new(Notify::new());
        let (stop_writer, stop) = oneshot::channel();
        let writer = tokio::spawn(write_queue(rx, stop, registry.clone(), wake.clone(), stats.clone()));
        let (stop_dispatcher, stop) = oneshot::channel();
        let dispatcher = match link {
            None => tokio::spawn(dispatch(registry, wake.clone(), stats.clone(), stop)),
            Some(link) => tokio::spawn(cluster_dispatch(link, registry, wake.clone(), stats.clone(), stop)),
        };
        if closed > 0 {
            wake.notify_one();
        }
        Ok((Self { tx, stats }, QueueWriter { stop_writer, writer, stop_dispatcher, dispatcher }))
    }

    /// Queues an event without waiting; counted and logged as dropped when the channel is full.
    pub fn offer(&self, event: HubEvent) {
        if self.tx.try_send(event).is_err() {
            self.stats.dropped.fetch_add(1, Relaxed);
            tracing::warn!("webhook event dropped: the queue writer is behind");
        }
    }
}

/// A new random webhook signing secret.
pub fn new_secret() -> String {
    format!("whsec_{}", duet_token::hex(&crate::os::random::<24>()))
}

/// The JSON body of one event.
pub fn body(event: &HubEvent) -> String {
    json!({"event": event.name, "appID": event.app_id, "time": event.at_ms, "data": event.data}).to_string()
}

fn queued(e: &HubEvent) -> QueuedEvent {
    QueuedEvent { app_id: e.app_id, body: body(e), change: ledger::change(e) }
}

/// Writes events to the queue in batches, and the alive time every [`ALIVE_EVERY`]; on `stop`,
/// writes what the channel still holds and ends.
async fn write_queue(
    mut rx: mpsc::Receiver<HubEvent>,
    mut stop: oneshot::Receiver<()>,
    registry: Arc<Registry>,
    wake: Arc<Notify>,
    stats: Arc<WebhookStats>,
) {
    let mut alive = tokio::time::interval(ALIVE_EVERY);
    alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            biased;
            event = rx.recv() => match event {
                Some(e) => e,
                None => break,
            },
            _ = &mut stop => break,
            _ = alive.tick() => {
                let reg = registry.clone();
                blocking(move || reg.mark_alive(crate::os::now_unix_ms())).await;
                continue;
            }
        };
        write_batch(first, &mut rx, &registry, &wake, &stats).await;
    }
    // Stopping: the hub has handed over its last events.
    while let Ok(first) = rx.try_recv() {
        write_batch(first, &mut rx, &registry, &wake, &stats).await;
    }
}

/// Writes `first` and up to 511 more waiting events in one transaction.
async fn write_batch(
    first: HubEvent,
    rx: &mut mpsc::Receiver<HubEvent>,
    registry: &Arc<Registry>,
    wake: &Notify,
    stats: &WebhookStats,
) {
    let mut batch = vec![queued(&first)];
    while batch.len() < 512 {
        match rx.try_recv() {
            Ok(e) => batch.push(queued(&e)),
            Err(_) => break,
        }
    }
    let batch = Arc::new(batch);
    // SQLite may be busy (another process writing): retry, then give up counting the loss.
    for attempt in 0..5u32 {
        let (registry, events) = (registry.clone(), batch.clone());
        let now_ms = crate::os::now_unix_ms();
        match tokio::task::spawn_blocking(move || registry.enqueue_events(&events, now_ms, QUEUE_CAP)).await {
            Ok(Ok((queued, dropped))) => {
                if dropped > 0 {
                    stats.dropped.fetch_add(dropped, Relaxed);
                    tracing::warn!(dropped, "webhook queue over {QUEUE_CAP} events for an app; dropped the oldest");
                }
                if queued > 0 {
                    wake.notify_one();
                }
                break;
            }
            failed if attempt == 4 => {
                stats.dropped.fetch_add(batch.len() as u64, Relaxed);
                tracing::error!(?failed, events = batch.len(), "cannot queue webhook events; dropped");
            }
            _ => tokio::time::sleep(Duration::from_millis(200 << attempt)).await,
        }
    }
}

/// One app's deliveries as a dispatcher sees them.
#[derive(Default)]
pub(crate) struct AppDelivery {
    /// An attempt is under way.
    pub busy: bool,
    attempts: u32,
    /// No attempt before then (backing off after failures).
    pub retry_at: Option<Instant>,
}

impl AppDelivery {
    /// Records how an attempt ended; false when the app has nothing left to deliver.
    pub fn ended(&mut self, outcome: Outcome) -> bool {
        self.busy = false;
        match outcome {
            Outcome::Delivered => (self.attempts, self.retry_at) = (0, None),
            Outcome::Failed => {
                let wait = BACKOFF_SECS[(self.attempts as usize).min(BACKOFF_SECS.len() - 1)];
                self.attempts += 1;
                self.retry_at = Some(Instant::now() + Duration::from_secs(wait));
            }
            Outcome::Empty => return false,
        }
        true
    }
}

/// How one delivery attempt ended.
pub(crate) enum Outcome {
    Delivered,
    Failed,
    Empty,
}

pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> Option<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "webhook queue: cannot read the registry");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "webhook queue: the registry task failed");
            None
        }
    }
}

/// In a cluster: forwards this node's events to the cluster's queue and delivers from it, until
/// `stop` (then forwards what is left).
async fn cluster_dispatch(
    link: cluster::ClusterLink,
    registry: Arc<Registry>,
    wake: Arc<Notify>,
    stats: Arc<WebhookStats>,
    stop: oneshot::Receiver<()>,
) {
    let (stop_forward, forward_stop) = oneshot::channel();
    let (stop_deliver, deliver_stop) = oneshot::channel();
    let forward = tokio::spawn(cluster::forward(link.clone(), registry.clone(), wake, forward_stop));
    let deliver = tokio::spawn(cluster::deliver(link, registry, stats, deliver_stop));
    let _ = stop.await;
    let _ = (stop_forward.send(()), stop_deliver.send(()));
    let _ = tokio::join!(forward, deliver);
}

/// Delivers each app's events, one at a time per app, until `stop`; its deliveries end with it.
async fn dispatch(
    registry: Arc<Registry>,
    wake: Arc<Notify>,
    stats: Arc<WebhookStats>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut deliveries: JoinSet<(u32, Outcome)> = JoinSet::new();
    let mut apps: HashMap<u32, AppDelivery> = HashMap::new();
    loop {
        let now = Instant::now();
        let reg = registry.clone();
        let pending = blocking(move || reg.apps_with_events()).await.unwrap_or_default();
        // An app whose queue emptied some other way (webhook cleared, app deleted) is forgotten,
        // so its old retry time cannot keep waking this loop.
        apps.retain(|app_id, d| d.busy || pending.contains(app_id));
        for app_id in pending {
            let d = apps.entry(app_id).or_default();
            if d.busy || d.retry_at.is_some_and(|at| at > now) {
                continue;
            }
            d.busy = true;
            let (registry, stats) = (registry.clone(), stats.clone());
            deliveries.spawn(async move { (app_id, deliver_oldest(&registry, app_id, &stats).await) });
        }
        let next_retry = apps.values().filter(|d| !d.busy).filter_map(|d| d.retry_at).min();
        tokio::select! {
            _ = &mut stop => break,
            () = wake.notified() => {}
            Some(Ok((app_id, outcome))) = deliveries.join_next() => {
                if !apps.entry(app_id).or_default().ended(outcome) {
                    apps.remove(&app_id);
                }
            }
            () = async { match next_retry { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => {}
        }
    }
    let _ = tokio::time::timeout(FINISH_DELIVERIES, async { while deliveries.join_next().await.is_some() {} }).await;
}

/// One delivery attempt of an event of `app_id` (its `body`) to `hook`, as `delivery`; counted
/// in `stats`. True when the receiver took it (2xx).
async fn post(
    app_id: u32,
    hook: &crate::store::registry::Webhook,
    delivery: &str,
    body: String,
    stats: &WebhookStats,
) -> bool {
    let timestamp = crate::os::now_unix();
    let event =
        serde_json::from_str::<serde_json::Value>(&body).ok().and_then(|v| v["event"].as_str().map(str::to_owned));
    let headers = [
        ("x-duet-event", event.unwrap_or_default()),
        ("x-duet-delivery", delivery.to_owned()),
        ("x-duet-timestamp", timestamp.to_string()),
        ("x-duet-signature", duet_token::webhook_signature(&hook.secret, timestamp, body.as_bytes())),
    ];
    let result = crate::http_client::post_json(&hook.url, &headers, body, TIMEOUT).await;
    let delivered = matches!(result, Ok(status) if (200..300).contains(&status));
    if delivered {
        stats.delivered.fetch_add(1, Relaxed);
    } else {
        stats.failed_attempts.fetch_add(1, Relaxed);
        let target = crate::http_client::origin(&hook.url);
        tracing::warn!(app_id, delivery, %target, result = ?result, "webhook delivery failed; will retry");
    }
    delivered
}

async fn deliver_oldest(registry: &Arc<Registry>, app_id: u32, stats: &WebhookStats) -> Outcome {
    let reg = registry.clone();
    let cutoff = crate::os::now_unix() - GIVE_UP_SECS;
    let found = blocking(move || {
        let expired = reg.drop_events_before(app_id, cutoff)?;
        let hook = reg.webhook(app_id)?;
        if hook.is_none() {
            // Events of an app without a webhook (cleared while they were being queued, or
            // queued by a cluster node that does not ask): dropped here, nowhere else.
            reg.purge_events(app_id)?;
        }
        Ok((expired, reg.oldest_event(app_id)?, hook))
    })
    .await;
    let Some((expired, oldest, hook)) = found else { return Outcome::Failed };
    if expired > 0 {
        stats.dropped.fetch_add(expired, Relaxed);
        tracing::error!(app_id, expired, "webhook events undeliverable for a day; dropped");
    }
    let (Some((id, body, _)), Some(hook)) = (oldest, hook) else { return Outcome::Empty };
    let delivered = post(app_id, &hook, &id.to_string(), body, stats).await;
    if delivered {
        let reg = registry.clone();
        if blocking(move || reg.remove_event(id)).await.is_none() {
            return Outcome::Failed;
        }
    }
    if delivered { Outcome::Delivered } else { Outcome::Failed }
}
