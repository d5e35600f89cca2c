//! The app registry: AppIDs, names and ServerSecrets in a SQLite file under the data folder.
//!
//! The file is created with owner-only permissions. Schema changes go through `MIGRATIONS`,
//! keyed by SQLite's `user_version`. Secrets leave this module only as `AppSecret`, whose
//! `Debug` is redacted.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use duet_media::LatencyBudget;
use duet_token::AppSecret;
use rusqlite::{Connection, OptionalExtension, params};

use crate::http::cors::AllowedOrigins;

mod ledger;
mod queue;
pub use ledger::{Change, LeftOpen, OpenStream, OpenUser};

/// File name of the registry inside the data folder.
pub const DB_FILE: &str = "duet.sqlite3";

/// Longest app name accepted.
pub const MAX_NAME_LEN: usize = 128;

const MIGRATIONS: &[&str] = &[
    "CREATE TABLE apps (
        app_id INTEGER PRIMARY KEY CHECK (app_id BETWEEN 1 AND 4294967295),
        name TEXT NOT NULL,
        server_secret TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        secret_rotated_at INTEGER
    ) STRICT;",
    "CREATE TABLE webhooks (
        app_id INTEGER PRIMARY KEY,
        url TEXT NOT NULL,
        secret TEXT NOT NULL
    ) STRICT;
    CREATE TABLE webhook_queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        app_id INTEGER NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX webhook_queue_by_app ON webhook_queue (app_id, id);",
    "CREATE TABLE admins (
        username TEXT PRIMARY KEY,
        salt BLOB NOT NULL,
        hash BLOB NOT NULL,
        iterations INTEGER NOT NULL
    ) STRICT;",
    // The open ledger (`ledger.rs`).
    "CREATE TABLE open_rooms (
        app_id INTEGER NOT NULL,
        room_id TEXT NOT NULL,
        PRIMARY KEY (app_id, room_id)
    ) STRICT;
    CREATE TABLE open_users (
        app_id INTEGER NOT NULL,
        room_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        user_name TEXT NOT NULL,
        PRIMARY KEY (app_id, room_id, user_id)
    ) STRICT;
    CREATE TABLE open_streams (
        app_id INTEGER NOT NULL,
        stream_id TEXT NOT NULL,
        room_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        since_ms INTEGER NOT NULL,
        opens INTEGER NOT NULL,
        PRIMARY KEY (app_id, stream_id)
    ) STRICT;
    CREATE TABLE alive (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        at_ms INTEGER NOT NULL
    ) STRICT;",
    "ALTER TABLE apps ADD COLUMN latency TEXT NOT NULL DEFAULT 'frame';",
    // `http::cors::AllowedOrigins` as written (`*`, `none`, origins); the WebRTC peers the app
    // may hold at once (NULL: no cap beyond the node's).
    "ALTER TABLE apps ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '*';
    ALTER TABLE apps ADD COLUMN webrtc_max_peers INTEGER;",
    // Whether every stream of the app is recorded (1) or none is unless asked (0).
    "ALTER TABLE apps ADD COLUMN record INTEGER NOT NULL DEFAULT 0;",
];

/// The columns `row_to_app` reads, in its order.
const APP_COLUMNS: &str =
    "app_id, name, server_secret, created_at, secret_rotated_at, latency, allowed_origins, webrtc_max_peers, record";

/// One registered app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// The AppID (a u32, never 0).
    pub app_id: u32,
    /// A label for people.
    pub name: String,
    /// The ServerSecret.
    pub secret: AppSecret,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last secret rotation.
    pub secret_rotated_at: Option<i64>,
    /// The latency budget of the app's streams, unless a publish URL asks for another.
    pub latency: LatencyBudget,
    /// Which web pages may call the app's media endpoints from a browser (`http::cors`).
    pub allowed_origins: AllowedOrigins,
    /// The WebRTC peers the app may hold at once (`None`: no cap beyond the node's).
    pub webrtc_max_peers: Option<u32>,
    /// Every stream of the app is recorded (policy `all`; else `none`: only streams the HTTP
    /// API asks for).
    pub record_all: bool,
}

impl App {
    /// A new app with every setting at its default.
    fn new(app_id: u32, name: &str, secret: AppSecret, now: i64) -> Self {
        Self {
            app_id,
            name: name.to_owned(),
            secret,
            created_at: now,
            secret_rotated_at: None,
            latency: LatencyBudget::default(),
            allowed_origins: AllowedOrigins::default(),
            webrtc_max_peers: None,
            record_all: false,
        }
    }
}

/// Where an app's events are POSTed, and the secret that signs them.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    /// `http://` or `https://` URL.
    pub url: String,
    /// HMAC key of the `X-Duet-Signature` header.
    pub secret: String,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook").field("url", &self.url).field("secret", &"<redacted>").finish()
    }
}

/// An event to queue: its app, JSON body, and what it changes in the open ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEvent {
    /// App.
    pub app_id: u32,
    /// The delivery's body.
    pub body: String,
    /// What it opens or closes.
    pub change: Option<Change>,
}

/// Held while `duet serve` runs ([`Registry::claim_for_serving`]); released when dropped or
/// when the process ends, however it ends.
#[derive(Debug)]
pub struct ServeLock {
    _held: Connection,
}

/// The registry, safe to share between threads.
pub struct Registry {
    conn: Mutex<Connection>,
    path: PathBuf,
    /// A cluster's configuration (`--redis-url`): apps, webhook settings and console users live
    /// there instead of in this file, which keeps the webhook queue and the open ledger.
    shared: Option<super::shared::SharedConfig>,
}

impl Registry {
    /// Opens (creating when missing) the registry in `data_dir`.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .with_context(|| format!("cannot create data folder {}", data_dir.display()))?;
        let path = data_dir.join(DB_FILE);
        let conn = open_owner_only(&path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .with_context(|| format!("{} is not a usable SQLite database", path.display()))?;
        migrate(&conn).with_context(|| format!("cannot prepare {}", path.display()))?;
        Ok(Self { conn: Mutex::new(conn), path, shared: None })
    }

    /// This registry with a cluster's shared configuration: apps, webhook settings and console
    /// users are read from and written to it (docs/cluster-design.md).
    pub fn with_shared(mut self, shared: super::shared::SharedConfig) -> Self {
        self.shared = Some(shared);
        self
    }

    /// A number that changes when another process (the CLI) commits to the database, so a
    /// cache can tell when to read again (SQLite's `data_version`).
    pub fn data_version(&self) -> anyhow::Result<i64> {
        if let Some(shared) = &self.shared {
            return shared.version();
        }
        Ok(self.lock().pragma_query_value(None, "data_version", |row| row.get(0))?)
    }

    /// Where the database file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Claims the data folder for one `duet serve`: the webhook queue's delivery and the open
    /// ledger assume a single server (a second one would deliver every event again, and take
    /// the first one's open rooms for a crash's leftovers). One-shot commands need no claim.
    pub fn claim_for_serving(&self) -> anyhow::Result<ServeLock> {
        let path = self.path.with_extension("serve-lock");
        let conn = open_owner_only(&path)?;
        conn.busy_timeout(Duration::ZERO)?;
        // In exclusive locking mode SQLite keeps the lock of its first write until the
        // connection closes, or the process ends however it ends.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        match conn.execute_batch("BEGIN EXCLUSIVE; PRAGMA user_version = 1; COMMIT;") {
            Ok(()) => Ok(ServeLock { _held: conn }),
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
                let data = self.path.parent().unwrap_or(&self.path).display();
                bail!("another `duet serve` is using the data folder {data} (stop it, or give this one another --data)")
            }
            Err(e) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
        }
    }

    /// Creates an app with a fresh random AppID and ServerSecret.
    pub fn create(&self, name: &str, now: i64) -> anyhow::Result<App> {
        check_name(name)?;
        // Random 10-digit AppIDs, like the hosted clouds issue; retry on the rare collision.
        for _ in 0..16 {
            let app_id = 1_000_000_000 + u32::from_be_bytes(crate::os::random()) % 3_000_000_000;
            let app = App::new(app_id, name, AppSecret::from_random(crate::os::random()), now);
            if let Some(shared) = &self.shared {
                if shared.insert_app(&app, false)? {
                    return Ok(app);
                }
                continue;
            }
            let conn = self.lock();
            if find(&conn, app_id)?.is_some() {
                continue;
            }
            insert(&conn, &app)?;
            return Ok(app);
        }
        bail!("could not find a free AppID")
    }

    /// Creates an app named `name` if there is none at all (several nodes of a cluster may
    /// start at once on an empty registry: one of them makes it); `None` when one exists.
    pub fn create_first(&self, name: &str, now: i64) -> anyhow::Result<Option<App>> {
        let Some(shared) = &self.shared else {
            return if self.count()? == 0 { self.create(name, now).map(Some) } else { Ok(None) };
        };
        let app_id = 1_000_000_000 + u32::from_be_bytes(crate::os::random()) % 3_000_000_000;
        let app = App::new(app_id, name, AppSecret::from_random(crate::os::random()), now);
        Ok(shared.insert_app(&app, true)?.then_some(app))
    }

    /// Registers an AppID and ServerSecret that already exist elsewhere.
    pub fn import(&self, app_id: u32, secret: AppSecret, name: &str, now: i64) -> anyhow::Result<App> {
        check_name(name)?;
        if app_id == 0 {
            bail!("AppID must be between 1 and 4294967295");
        }
        let app = App::new(app_id, name, secret, now);
        if let Some(shared) = &self.shared {
            if !shared.insert_app(&app, false)? {
                bail!("AppID {app_id} is already registered");
            }
            return Ok(app);
        }
        let conn = self.lock();
        if find(&conn, app_id)?.is_some() {
            bail!("AppID {app_id} is already registered");
        }
        insert(&conn, &app)?;
        Ok(app)
    }

    /// Every app, oldest first.
    pub fn list(&self) -> anyhow::Result<Vec<App>> {
        if let Some(shared) = &self.shared {
            return shared.list();
        }
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!("SELECT {APP_COLUMNS} FROM apps ORDER BY created_at, app_id"))?;
        let rows = stmt.query_map([], row_to_app)?;
        rows.map(|r| r?).collect()
    }

    /// The app with this AppID, if registered.
    pub fn get(&self, app_id: u32) -> anyhow::Result<Option<App>> {
        if let Some(shared) = &self.shared {
            return shared.get(app_id);
        }
        find(&self.lock(), app_id)
    }

    /// Like [`Registry::get`], but an unknown AppID is an error.
    pub fn require(&self, app_id: u32) -> anyhow::Result<App> {
        self.get(app_id)?.with_context(|| format!("no app with AppID {app_id} (see `duet app list`)"))
    }

    /// Replaces an app's ServerSecret with a fresh one. Tokens signed with the old one stop verifying.
    pub fn rotate_secret(&self, app_id: u32, now: i64) -> anyhow::Result<App> {
        let secret = AppSecret::from_random(crate::os::random());
        if let Some(shared) = &self.shared {
            let fields = [("secret", Some(secret.expose().to_owned())), ("secret_rotated_at", Some(now.to_string()))];
            if !shared.set(app_id, &fields)? {
                bail!("no app with AppID {app_id} (see `duet app list`)");
            }
            return self.require(app_id);
        }
        let changed = self.lock().execute(
            "UPDATE apps SET server_secret = ?1, secret_rotated_at = ?2 WHERE app_id = ?3",
            params![secret.expose(), now, app_id],
        )?;
        if changed == 0 {
            bail!("no app with AppID {app_id} (see `duet app list`)");
        }
        self.require(app_id)
    }

    /// Sets the latency budget of the app's streams (streams published from now on).
    pub fn set_latency(&self, app_id: u32, latency: LatencyBudget) -> anyhow::Result<App> {
        self.set(app_id, "latency", Some(latency.to_string()))
    }

    /// Sets which web pages may call the app's media endpoints (the next request on).
    pub fn set_allowed_origins(&self, app_id: u32, origins: &AllowedOrigins) -> anyhow::Result<App> {
        self.set(app_id, "allowed_origins", Some(origins.to_string()))
    }

    /// Sets whether every stream of the app is recorded (streams published from now on).
    pub fn set_record_all(&self, app_id: u32, all: bool) -> anyhow::Result<App> {
        self.set(app_id, "record", Some(i64::from(all)))
    }

    /// Sets the WebRTC peers the app may hold at once (`None`: no cap beyond the node's).
    pub fn set_webrtc_max_peers(&self, app_id: u32, max: Option<u32>) -> anyhow::Result<App> {
        self.set(app_id, "webrtc_max_peers", max)
    }

    /// Sets one setting `column` of an app (a name from this file, never from input).
    fn set<T: rusqlite::ToSql + ToString>(
        &self,
        app_id: u32,
        column: &'static str,
        value: Option<T>,
    ) -> anyhow::Result<App> {
        if let Some(shared) = &self.shared {
            if !shared.set(app_id, &[(column, value.as_ref().map(ToString::to_string))])? {
                bail!("no app with AppID {app_id} (see `duet app list`)");
            }
            return self.require(app_id);
        }
        let sql = format!("UPDATE apps SET {column} = ?1 WHERE app_id = ?2");
        if self.lock().execute(&sql, params![value, app_id])? == 0 {
            bail!("no app with AppID {app_id} (see `duet app list`)");
        }
        self.require(app_id)
    }

    /// Removes an app.
    pub fn delete(&self, app_id: u32) -> anyhow::Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let changed = match &self.shared {
            Some(shared) => usize::from(shared.delete(app_id)?),
            None => tx.execute("DELETE FROM apps WHERE app_id = ?1", params![app_id])?,
        };
        if changed == 0 {
            bail!("no app with AppID {app_id} (see `duet app list`)");
        }
        tx.execute("DELETE FROM webhooks WHERE app_id = ?1", params![app_id])?;
        queue::forget(&tx, app_id)?;
        tx.commit()?;
        Ok(())
    }

    /// The app's webhook, if one is set.
    pub fn webhook(&self, app_id: u32) -> anyhow::Result<Option<Webhook>> {
        if let Some(shared) = &self.shared {
            return shared.webhook(app_id);
        }
        let row = self
            .lock()
            .query_row("SELECT url, secret FROM webhooks WHERE app_id = ?1", params![app_id], |r| {
                Ok(Webhook { url: r.get(0)?, secret: r.get(1)? })
            })
            .optional()?;
        Ok(row)
    }

    /// Sets (or replaces) the app's webhook.
    pub fn set_webhook(&self, app_id: u32, hook: &Webhook) -> anyhow::Result<()> {
        self.require(app_id)?;
        if let Some(shared) = &self.shared {
            return shared.set_webhook(app_id, hook);
        }
        self.lock().execute(
            "INSERT INTO webhooks (app_id, url, secret) VALUES (?1, ?2, ?3)
             ON CONFLICT (app_id) DO UPDATE SET url = excluded.url, secret = excluded.secret",
            params![app_id, hook.url, hook.secret],
        )?;
        Ok(())
    }

    /// Removes the app's webhook and drops its undelivered events and its open ledger (in one
    /// transaction).
    pub fn clear_webhook(&self, app_id: u32) -> anyhow::Result<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let had = match &self.shared {
            Some(shared) => shared.clear_webhook(app_id)?,
            None => tx.execute("DELETE FROM webhooks WHERE app_id = ?1", params![app_id])? > 0,
        };
        queue::forget(&tx, app_id)?;
        tx.commit()?;
        Ok(had)
    }

    /// Sets a console user's password (creating the user).
    pub fn set_admin_password(&self, username: &str, password: &str) -> anyhow::Result<()> {
        if username.is_empty() || username.len() > 64 || !username.bytes().all(|b| b.is_ascii_graphic()) {
            bail!("the username must be 1 to 64 printable ASCII characters");
        }
        if password.chars().count() < 10 {
            bail!("the password must be at least 10 characters");
        }
        let salt = crate::os::random::<16>();
        let hash = crate::store::password::pbkdf2(password, &salt, crate::store::password::ITERATIONS);
        if let Some(shared) = &self.shared {
            return shared.set_admin(username, &salt, &hash, crate::store::password::ITERATIONS);
        }
        self.lock().execute(
            "INSERT INTO admins (username, salt, hash, iterations) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (username) DO UPDATE SET salt = excluded.salt, hash = excluded.hash, iterations = excluded.iterations",
            params![username, salt.as_slice(), hash.as_slice(), crate::store::password::ITERATIONS],
        )?;
        Ok(())
    }

    /// Creates the first console user with `password`, unless one exists (several nodes of a
    /// cluster may start at once: one of them makes it). True when this call made it.
    pub fn create_first_admin(&self, username: &str, password: &str) -> anyhow::Result<bool> {
        let salt = crate::os::random::<16>();
        let hash = crate::store::password::pbkdf2(password, &salt, crate::store::password::ITERATIONS);
        if let Some(shared) = &self.shared {
            return shared.set_first_admin(username, &salt, &hash, crate::store::password::ITERATIONS);
        }
        let conn = self.lock();
        let made = conn.execute(
            "INSERT INTO admins (username, salt, hash, iterations)
             SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM admins)",
            params![username, salt.as_slice(), hash.as_slice(), crate::store::password::ITERATIONS],
        )?;
        Ok(made > 0)
    }

    /// Whether the console user exists and the password is right.
    pub fn check_admin(&self, username: &str, password: &str) -> anyhow::Result<bool> {
        let row: Option<super::shared::StoredPassword> = match &self.shared {
            Some(shared) => shared.admin(username)?,
            None => self
                .lock()
                .query_row("SELECT salt, hash, iterations FROM admins WHERE username = ?1", params![username], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?,
        };
        // Unknown users cost the same time as wrong passwords.
        let (salt, hash, iterations) =
            row.unwrap_or_else(|| (vec![0; 16], vec![1; 32], crate::store::password::ITERATIONS));
        Ok(crate::store::password::verify(password, &salt, &hash, iterations))
    }

    /// How many console users exist.
    pub fn admin_count(&self) -> anyhow::Result<u64> {
        if let Some(shared) = &self.shared {
            return shared.admin_count();
        }
        let n: i64 = self.lock().query_row("SELECT count(*) FROM admins", [], |r| r.get(0))?;
        Ok(n.unsigned_abs())
    }

    /// How many apps are registered.
    pub fn count(&self) -> anyhow::Result<u64> {
        if let Some(shared) = &self.shared {
            return shared.count();
        }
        let n: i64 = self.lock().query_row("SELECT count(*) FROM apps", [], |r| r.get(0))?;
        Ok(n.unsigned_abs())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (each call is one
        // statement or transaction), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn check_name(name: &str) -> anyhow::Result<()> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        bail!("app name must be 1 to {MAX_NAME_LEN} characters without control characters");
    }
    Ok(())
}

fn migrate(conn: &Connection) -> anyhow::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        bail!("database schema version {version} is newer than this duet understands; upgrade duet");
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn insert(conn: &Connection, app: &App) -> anyhow::Result<()> {
    conn.execute(
        &format!("INSERT INTO apps ({APP_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            app.app_id,
            app.name,
            app.secret.expose(),
            app.created_at,
            app.secret_rotated_at,
            app.latency.to_string(),
            app.allowed_origins.to_string(),
            app.webrtc_max_peers,
            i64::from(app.record_all),
        ],
    )?;
    Ok(())
}

/// Opens (creating when missing) an SQLite file that is owner-only from its first byte.
fn open_owner_only(path: &Path) -> anyhow::Result<Connection> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    Connection::open(path).with_context(|| format!("cannot open {}", path.display()))
}

fn find(conn: &Connection, app_id: u32) -> anyhow::Result<Option<App>> {
    conn.query_row(&format!("SELECT {APP_COLUMNS} FROM apps WHERE app_id = ?1"), params![app_id], row_to_app)
        .optional()?
        .transpose()
}

/// Reads one row ([`APP_COLUMNS`]); a secret that is no longer valid (edited by hand) is an
/// error, not a panic; such a budget is replaced by the default, such origins by none (the
/// operator meant to restrict them: no page rather than any).
fn row_to_app(row: &rusqlite::Row<'_>) -> rusqlite::Result<anyhow::Result<App>> {
    let app_id: u32 = row.get(0)?;
    let (secret, latency, origins): (String, String, String) = (row.get(2)?, row.get(5)?, row.get(6)?);
    let read = || {
        let secret =
            AppSecret::new(&secret).with_context(|| format!("stored ServerSecret of AppID {app_id} is invalid"))?;
        // A budget edited by hand into something else must not take the app down: the default.
        let latency = latency.parse().unwrap_or_else(|e| {
            tracing::warn!(app_id, "stored latency budget is invalid ({e}); using the default");
            LatencyBudget::default()
        });
        let allowed_origins = origins.parse().unwrap_or_else(|e| {
            tracing::warn!(app_id, "stored allowed origins are invalid ({e}); allowing no page");
            AllowedOrigins::Only(Vec::new())
        });
        Ok(App {
            app_id,
            name: row.get(1).unwrap_or_default(),
            secret,
            created_at: row.get(3).unwrap_or_default(),
            secret_rotated_at: row.get(4).unwrap_or_default(),
            latency,
            allowed_origins,
            webrtc_max_peers: row.get::<_, Option<u32>>(7).unwrap_or_default().filter(|&n| n > 0),
            record_all: row.get::<_, i64>(8).unwrap_or_default() == 1,
        })
    };
    Ok(read())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let secret = AppSecret::new("fa94dd0f974cf2e293728a526b028271").unwrap();
        {
            let reg = Registry::open(dir.path()).unwrap();
            reg.import(1, secret.clone(), "imported", 10).unwrap();
            reg.create("made", 11).unwrap();
        }
        let reg = Registry::open(dir.path()).unwrap();
        let apps = reg.list().unwrap();
        assert_eq!(apps.len(), 2);
        assert_eq!((apps[0].app_id, &apps[0].secret), (1, &secret));
        assert_eq!(apps[1].name, "made");
        assert!(apps[1].app_id >= 1_000_000_000);
    }

    #[test]
    fn refuses_duplicates_unknown_ids_and_bad_names() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(dir.path()).unwrap();
        let secret = AppSecret::new("fa94dd0f974cf2e293728a526b028271").unwrap();
        reg.import(5, secret.clone(), "a", 0).unwrap();
        assert!(reg.import(5, secret.clone(), "b", 0).unwrap_err().to_string().contains("already registered"));
        assert!(reg.import(0, secret.clone(), "b", 0).is_err());
        assert!(reg.import(6, secret, "", 0).is_err());
        assert!(reg.rotate_secret(7, 0).is_err());
        assert!(reg.delete(7).is_err());
        assert!(reg.require(7).unwrap_err().to_string().contains("no app with AppID 7"));
    }

    #[test]
    fn rotation_changes_the_secret_and_delete_removes() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(dir.path()).unwrap();
        let app = reg.create("x", 1).unwrap();
        let rotated = reg.rotate_secret(app.app_id, 2).unwrap();
        assert_ne!(rotated.secret, app.secret);
        assert_eq!(rotated.secret_rotated_at, Some(2));
        reg.delete(app.app_id).unwrap();
        assert_eq!(reg.count().unwrap(), 0);
    }

    #[test]
    fn browser_settings_are_kept_and_a_broken_list_allows_no_page() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(dir.path()).unwrap();
        let app = reg.create("x", 1).unwrap();
        assert_eq!((&app.allowed_origins, app.webrtc_max_peers), (&AllowedOrigins::Any, None));
        let origins: AllowedOrigins = "https://call.example.com".parse().unwrap();
        assert_eq!(reg.set_allowed_origins(app.app_id, &origins).unwrap().allowed_origins, origins);
        assert_eq!(reg.set_webrtc_max_peers(app.app_id, Some(3)).unwrap().webrtc_max_peers, Some(3));
        assert!(reg.set_webrtc_max_peers(app.app_id + 1, None).is_err(), "no such app");
        let edited = "UPDATE apps SET allowed_origins = 'call.example.com', webrtc_max_peers = 0";
        reg.lock().execute(edited, []).unwrap();
        let app = reg.require(app.app_id).unwrap();
        assert_eq!((app.allowed_origins, app.webrtc_max_peers), (AllowedOrigins::Only(vec![]), None));
    }

    #[test]
    fn database_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(&dir.path().join("data")).unwrap();
        let mode = std::fs::metadata(reg.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }

    #[test]
    fn garbage_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DB_FILE), b"this is not sqlite, just some bytes that go on for a while....")
            .unwrap();
        let err = Registry::open(dir.path()).err().expect("refused");
        assert!(format!("{err:#}").contains("duet.sqlite3"), "{err:#}");
    }
}
