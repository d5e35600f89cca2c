//! `Apps`: the one lookup of registered apps (and so of their secrets) that every request path
//! uses: signaling logins, RTMP connects, HTTP playback, the HTTP API, SDK log uploads.
//!
//! Apps are read from the SQLite registry once and then served from memory. The registry can
//! change under a running server from another process (`duet app rotate-secret`, `app
//! delete`, `app create`), so a refresher polls SQLite's `data_version` every [`REFRESH`] and,
//! when another process committed, reads every cached app again. A secret that changed (or an
//! app that is gone) is announced on [`Apps::changes`]; the signaling hub follows them, so the
//! play and publish URLs it signs use the current secret. A change made in this process calls
//! [`Apps::invalidate`]: every setting read through here (the secret, the latency budget, the
//! allowed origins, the WebRTC peer cap) then applies to the next request. In a cluster the
//! registry's configuration lives in Redis (`store::shared`): its version counter is polled the
//! same way, so a change made on any node or by the CLI applies here within a second.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use duet_token::AppSecret;
use tokio::sync::broadcast;

use crate::store::registry::{App, Registry};

/// How often the refresher asks SQLite whether another process changed the registry.
pub const REFRESH: Duration = Duration::from_secs(1);
/// A cached app not asked for this long is forgotten (read again on its next use).
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Most apps cached (known and unknown AppIDs); beyond, the least recently used go.
const MAX_CACHED: usize = 10_000;
/// Most unknown AppIDs remembered: anyone can name random AppIDs (a login, an RTMP connect, a
/// play URL), and they must not push registered apps out of the cache.
const MAX_UNKNOWN: usize = 1024;
/// Announced changes a slow follower may fall behind by (it then resynchronises).
const CHANGES: usize = 256;

/// An app whose secret changed, or that no longer exists (`secret: None`).
#[derive(Debug, Clone)]
pub struct AppChange {
    /// The app.
    pub app_id: u32,
    /// Its secret now.
    pub secret: Option<AppSecret>,
}

/// The registry could not be read (a broken disk or database); the request fails with
/// `registry_unavailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryUnavailable;

struct Entry {
    app: Option<App>,
    used: Instant,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<u32, Entry>,
    data_version: Option<i64>,
}

/// The cached app lookup, cheap to clone and share.
#[derive(Clone)]
pub struct Apps {
    registry: Arc<Registry>,
    cache: Arc<Mutex<Cache>>,
    changes: broadcast::Sender<AppChange>,
}

impl Apps {
    /// A lookup in front of `registry`. Call [`Apps::refresh_until`] in a task to follow
    /// changes made by other processes.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry, cache: Arc::default(), changes: broadcast::channel(CHANGES).0 }
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        // Updates are single inserts and removals; a panic cannot leave the map inconsistent.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The app, or `None` when no app has this AppID.
    pub async fn get(&self, app_id: u32) -> Result<Option<App>, RegistryUnavailable> {
        if let Some(entry) = self.cache().entries.get_mut(&app_id) {
            entry.used = Instant::now();
            return Ok(entry.app.clone());
        }
        let app = self.read(app_id).await?;
        let mut cache = self.cache();
        if app.is_none() && cache.entries.len() >= MAX_UNKNOWN {
            let unknown = cache.entries.values().filter(|e| e.app.is_none()).count();
            if unknown >= MAX_UNKNOWN {
                cache.entries.retain(|_, e| e.app.is_some());
            }
        }
        if cache.entries.len() >= MAX_CACHED {
            forget_least_used(&mut cache.entries);
        }
        cache.entries.insert(app_id, Entry { app: app.clone(), used: Instant::now() });
        Ok(app)
    }

    /// The app's secret; `None` when there is no such app or the registry cannot be read
    /// (logged).
    pub async fn secret(&self, app_id: u32) -> Option<AppSecret> {
        self.get(app_id).await.ok().flatten().map(|a| a.secret)
    }

    /// The latency budget of the app's streams (the default for an app that cannot be read).
    pub async fn latency(&self, app_id: u32) -> duet_media::LatencyBudget {
        self.get(app_id).await.ok().flatten().map(|a| a.latency).unwrap_or_default()
    }

    /// Whether every stream of the app is recorded (false for an app that cannot be read).
    pub async fn records_all(&self, app_id: u32) -> bool {
        self.get(app_id).await.ok().flatten().is_some_and(|a| a.record_all)
    }

    /// The WebRTC peers the app may hold at once (`None`: no cap of its own, or an app that
    /// cannot be read: the node's cap still holds).
    pub async fn webrtc_max_peers(&self, app_id: u32) -> Option<u32> {
        self.get(app_id).await.ok().flatten().and_then(|a| a.webrtc_max_peers)
    }

    /// This process changed the app (rotated its secret, deleted it): read it again now and
    /// announce the change.
    pub async fn invalidate(&self, app_id: u32) {
        if let Ok(app) = self.read(app_id).await {
            self.store(app_id, app);
        }
    }

    /// Changed secrets and deleted apps, as they are noticed.
    pub fn changes(&self) -> broadcast::Receiver<AppChange> {
        self.changes.subscribe()
    }

    /// Follows changes other processes make to the registry until `stop` completes.
    pub async fn refresh_until(&self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => self.refresh().await,
            }
        }
    }

    /// Reads the cached apps again if another process committed since the last look.
    async fn refresh(&self) {
        let registry = self.registry.clone();
        let Ok(Ok(version)) = tokio::task::spawn_blocking(move || registry.data_version()).await else { return };
        let ids: Vec<u32> = {
            let mut cache = self.cache();
            if cache.data_version == Some(version) {
                return;
            }
            cache.entries.retain(|_, e| e.used.elapsed() < FORGET_AFTER);
            cache.entries.keys().copied().collect()
        };
        // One query for all of them: the registry holds few apps next to its other tables.
        let registry = self.registry.clone();
        let all = match tokio::task::spawn_blocking(move || registry.list()).await {
            Ok(Ok(all)) => all,
            failed => {
                tracing::error!(?failed, "cannot read the app registry");
                return;
            }
        };
        let mut now: HashMap<u32, App> = all.into_iter().map(|a| (a.app_id, a)).collect();
        for app_id in ids {
            self.store(app_id, now.remove(&app_id));
        }
        // Recorded once read, so a failed read is tried again at the next tick.
        self.cache().data_version = Some(version);
    }

    /// Caches what was read and announces a changed secret or a deleted app.
    fn store(&self, app_id: u32, app: Option<App>) {
        let mut cache = self.cache();
        let before = cache.entries.get(&app_id).and_then(|e| e.app.as_ref().map(|a| a.secret.clone()));
        let after = app.as_ref().map(|a| a.secret.clone());
        let used = cache.entries.get(&app_id).map_or_else(Instant::now, |e| e.used);
        cache.entries.insert(app_id, Entry { app, used });
        drop(cache);
        if before.is_some() && before != after {
            tracing::info!(app_id, deleted = after.is_none(), "app changed in the registry");
            // No follower is fine.
            let _ = self.changes.send(AppChange { app_id, secret: after });
        }
    }

    async fn read(&self, app_id: u32) -> Result<Option<App>, RegistryUnavailable> {
        let registry = self.registry.clone();
        match tokio::task::spawn_blocking(move || registry.get(app_id)).await {
            Ok(Ok(app)) => Ok(app),
            failed => {
                tracing::error!(app_id, ?failed, "cannot read the app registry");
                Err(RegistryUnavailable)
            }
        }
    }
}

fn forget_least_used(entries: &mut HashMap<u32, Entry>) {
    let mut by_use: Vec<(Instant, u32)> = entries.iter().map(|(id, e)| (e.used, *id)).collect();
    by_use.sort_unstable();
    for (_, id) in by_use.iter().take(entries.len() / 2 + 1) {
        entries.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry in a fresh folder with one app, the lookup in front of it, and its changes.
    fn open() -> (tempfile::TempDir, Arc<Registry>, App, Apps, broadcast::Receiver<AppChange>) {
        let dir = tempfile::tempdir().unwrap();
        let registry = Arc::new(Registry::open(dir.path()).unwrap());
        let app = registry.create("a", 0).unwrap();
        let apps = Apps::new(registry.clone());
        let changes = apps.changes();
        (dir, registry, app, apps, changes)
    }

    #[tokio::test]
    async fn a_rotation_by_another_process_is_noticed_and_announced() {
        let (dir, _registry, app, apps, mut changes) = open();
        assert_eq!(apps.secret(app.app_id).await, Some(app.secret.clone()));
        assert_eq!(apps.get(app.app_id + 1).await, Ok(None), "unknown AppIDs are cached too");
        apps.refresh().await; // the first look only records the version
        // Another process: its own connection to the same file.
        let other = Registry::open(dir.path()).unwrap();
        let rotated = other.rotate_secret(app.app_id, 1).unwrap();
        let created = other.import(app.app_id + 1, app.secret.clone(), "b", 1).unwrap();
        assert_eq!(apps.secret(app.app_id).await, Some(app.secret.clone()), "served from memory until refreshed");
        apps.refresh().await;
        assert_eq!(apps.secret(app.app_id).await, Some(rotated.secret.clone()));
        assert_eq!(apps.get(created.app_id).await.unwrap().map(|a| a.name), Some("b".into()));
        let change = changes.try_recv().unwrap();
        assert_eq!((change.app_id, change.secret), (app.app_id, Some(rotated.secret)));
        assert!(changes.try_recv().is_err(), "a newly known app is no change to announce");
        other.delete(app.app_id).unwrap();
        apps.refresh().await;
        assert_eq!(apps.get(app.app_id).await, Ok(None));
        assert!(changes.try_recv().unwrap().secret.is_none(), "a deleted app is announced");
    }

    #[tokio::test]
    async fn unknown_app_ids_do_not_push_registered_apps_out() {
        let (_dir, _registry, app, apps, _changes) = open();
        apps.get(app.app_id).await.unwrap();
        for id in 0..(MAX_UNKNOWN as u32 + 100) {
            assert_eq!(apps.get(app.app_id.wrapping_add(1 + id)).await, Ok(None));
        }
        let cache = apps.cache();
        assert!(cache.entries.get(&app.app_id).is_some_and(|e| e.app.is_some()), "the app is still cached");
        assert!(cache.entries.len() <= MAX_UNKNOWN + 1);
    }

    #[tokio::test]
    async fn a_change_in_this_process_is_announced_on_invalidate() {
        let (_dir, registry, app, apps, mut changes) = open();
        apps.get(app.app_id).await.unwrap();
        let rotated = registry.rotate_secret(app.app_id, 1).unwrap();
        apps.invalidate(app.app_id).await;
        assert_eq!(apps.secret(app.app_id).await, Some(rotated.secret.clone()));
        assert_eq!(changes.try_recv().unwrap().secret, Some(rotated.secret));
    }
}
