//! A cluster's configuration in Redis (`--redis-url`): its apps and their settings, webhook
//! settings and console users, one source of truth for every node and for the CLI on any
//! machine. `Registry` keeps its methods and asks this store for them when it has one (the
//! webhook queue and the open ledger stay in each node's SQLite file). Why Redis: the cluster
//! needs it anyway, the data is small and read from each node's cache, and one more server (a
//! SQL one) would be one more thing to run and fail over; run Redis with persistence
//! (`appendonly yes`). Keys:
//! - `duet:app:{id}` HASH `name`, `secret`, `created_at`, `secret_rotated_at`, `latency`,
//!   `allowed_origins`, `webrtc_max_peers`; `duet:apps` ZSET (id by creation time);
//! - `duet:hook:{id}` HASH `url`, `secret`;
//! - `duet:admin:{username}` HASH `salt`, `hash` (hex), `iterations`; `duet:admins` SET;
//! - `duet:config:ver`: incremented by every change, so a node's cache knows to read again.
//!
//! Calls are blocking (like SQLite's; callers already run them off the async threads), on one
//! connection made again after an error, each bounded by [`TIMEOUT`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use duet_media::LatencyBudget;
use duet_token::AppSecret;

use super::registry::{App, Webhook};
use crate::http::cors::AllowedOrigins;

/// How long one Redis call may take.
const TIMEOUT: Duration = Duration::from_secs(2);
const APPS: &str = "duet:apps";
const ADMINS: &str = "duet:admins";
const VERSION: &str = "duet:config:ver";

/// Adds an app unless its AppID is taken: KEYS app, apps, version; ARGV id, created_at, then
/// field/value pairs. 1 added, 0 taken.
const INSERT_APP: &str = r#"
if redis.call("EXISTS", KEYS[1]) == 1 then return 0 end
if ARGV[3] == "--first" then
  if redis.call("ZCARD", KEYS[2]) > 0 then return 0 end
  table.remove(ARGV, 3)
end
redis.call("HSET", KEYS[1], unpack(ARGV, 3))
redis.call("ZADD", KEYS[2], ARGV[2], ARGV[1])
redis.call("INCR", KEYS[3])
return 1
"#;

/// Changes an existing app's fields: KEYS app, version; ARGV field/value pairs (set) or a lone
/// field after "--del" (removed). 1 changed, 0 no such app.
const SET_FIELDS: &str = r#"
if redis.call("HEXISTS", KEYS[1], "name") == 0 then return 0 end
if ARGV[1] == "--del" then redis.call("HDEL", KEYS[1], ARGV[2]) else redis.call("HSET", KEYS[1], unpack(ARGV)) end
redis.call("INCR", KEYS[2])
return 1
"#;

fn app_key(app_id: u32) -> String {
    format!("duet:app:{app_id}")
}

fn hook_key(app_id: u32) -> String {
    format!("duet:hook:{app_id}")
}

fn admin_key(username: &str) -> String {
    format!("duet:admin:{username}")
}

/// After a failure, calls fail at once for this long instead of each waiting out a timeout.
const BACK_OFF: Duration = Duration::from_secs(2);

/// The configuration store on Redis.
pub struct SharedConfig {
    client: redis::Client,
    conn: Mutex<Slot>,
}

/// The connection, and when the last call failed.
#[derive(Default)]
struct Slot {
    conn: Option<redis::Connection>,
    failed: Option<std::time::Instant>,
}

impl SharedConfig {
    /// Connects to `url` (`redis://…`); fails when Redis cannot be reached.
    pub fn connect(url: &str) -> anyhow::Result<Self> {
        let shown = crate::cluster::redacted(url);
        let client = redis::Client::open(url).with_context(|| format!("--redis-url {shown:?} is not a Redis URL"))?;
        let store = Self { client, conn: Mutex::new(Slot::default()) };
        store
            .run(|c| redis::cmd("PING").query::<String>(c))
            .with_context(|| format!("cannot reach Redis at {shown}"))?;
        Ok(store)
    }

    /// Runs `f` on the connection (made if needed; dropped after an error, made again next time).
    fn run<T>(&self, f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>) -> anyhow::Result<T> {
        let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if slot.failed.is_some_and(|at| at.elapsed() < BACK_OFF) {
            bail!("the cluster's Redis could not be reached a moment ago");
        }
        let result = (|| {
            if slot.conn.is_none() {
                let conn = self.client.get_connection_with_timeout(TIMEOUT)?;
                conn.set_read_timeout(Some(TIMEOUT))?;
                conn.set_write_timeout(Some(TIMEOUT))?;
                slot.conn = Some(conn);
            }
            f(slot.conn.as_mut().expect("made above"))
        })();
        match &result {
            Ok(_) => slot.failed = None,
            Err(_) => (slot.conn, slot.failed) = (None, Some(std::time::Instant::now())),
        }
        Ok(result?)
    }

    /// A number that changes with every change to the configuration.
    pub fn version(&self) -> anyhow::Result<i64> {
        Ok(self.run(|c| redis::cmd("GET").arg(VERSION).query::<Option<i64>>(c))?.unwrap_or(0))
    }

    /// Adds `app` unless its AppID is taken (or, `first_only`, unless any app exists), in one
    /// atomic step; false when it was not added.
    pub fn insert_app(&self, app: &App, first_only: bool) -> anyhow::Result<bool> {
        let insert = redis::Script::new(INSERT_APP);
        let added: i64 = self.run(|c| {
            let mut script = insert.key(app_key(app.app_id));
            script.key(APPS).key(VERSION).arg(app.app_id).arg(app.created_at);
            if first_only {
                script.arg("--first");
            }
            script
                .arg("name")
                .arg(&app.name)
                .arg("secret")
                .arg(app.secret.expose())
                .arg("created_at")
                .arg(app.created_at)
                .arg("latency")
                .arg(app.latency.to_string())
                .arg("allowed_origins")
                .arg(app.allowed_origins.to_string())
                .invoke(c)
        })?;
        Ok(added == 1)
    }

    /// Every app, oldest first.
    pub fn list(&self) -> anyhow::Result<Vec<App>> {
        let ids: Vec<u32> = self.run(|c| redis::cmd("ZRANGE").arg(APPS).arg(0).arg(-1).query(c))?;
        let mut apps = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(app) = self.get(id)? {
                apps.push(app);
            }
        }
        apps.sort_by_key(|a| (a.created_at, a.app_id));
        Ok(apps)
    }

    /// The app, if registered.
    pub fn get(&self, app_id: u32) -> anyhow::Result<Option<App>> {
        let fields: HashMap<String, String> = self.run(|c| redis::cmd("HGETALL").arg(app_key(app_id)).query(c))?;
        if !fields.contains_key("name") {
            return Ok(None); // absent, or an AppID claimed a moment ago and not yet filled in
        }
        read_app(app_id, &fields).map(Some)
    }

    /// Sets fields of an app (`None`: removes it), in one atomic step; false when there is
    /// no such app.
    pub fn set(&self, app_id: u32, fields: &[(&str, Option<String>)]) -> anyhow::Result<bool> {
        let mut changed = true;
        let sets: Vec<(&str, &String)> = fields.iter().filter_map(|(f, v)| v.as_ref().map(|v| (*f, v))).collect();
        if !sets.is_empty() {
            changed &= self.fields(app_id, |script| {
                for (f, v) in &sets {
                    script.arg(*f).arg(*v);
                }
            })?;
        }
        for (f, _) in fields.iter().filter(|(_, v)| v.is_none()) {
            changed &= self.fields(app_id, |script| {
                script.arg("--del").arg(*f);
            })?;
        }
        Ok(changed)
    }

    fn fields(&self, app_id: u32, args: impl Fn(&mut redis::ScriptInvocation<'_>)) -> anyhow::Result<bool> {
        let script = redis::Script::new(SET_FIELDS);
        let changed: i64 = self.run(|c| {
            let mut invocation = script.key(app_key(app_id));
            invocation.key(VERSION);
            args(&mut invocation);
            invocation.invoke(c)
        })?;
        Ok(changed == 1)
    }

    /// Removes an app and its webhook; false when there was none.
    pub fn delete(&self, app_id: u32) -> anyhow::Result<bool> {
        let (removed, ..): (u32, u32, u32, i64) = self.run(|c| {
            redis::pipe()
                .atomic()
                .cmd("DEL")
                .arg(app_key(app_id))
                .cmd("DEL")
                .arg(hook_key(app_id))
                .cmd("ZREM")
                .arg(APPS)
                .arg(app_id)
                .cmd("INCR")
                .arg(VERSION)
                .query(c)
        })?;
        Ok(removed > 0)
    }

    /// The app's webhook.
    pub fn webhook(&self, app_id: u32) -> anyhow::Result<Option<Webhook>> {
        let mut f: HashMap<String, String> = self.run(|c| redis::cmd("HGETALL").arg(hook_key(app_id)).query(c))?;
        Ok(match (f.remove("url"), f.remove("secret")) {
            (Some(url), Some(secret)) => Some(Webhook { url, secret }),
            _ => None,
        })
    }

    /// Sets (or replaces) the app's webhook.
    pub fn set_webhook(&self, app_id: u32, hook: &Webhook) -> anyhow::Result<()> {
        self.run(|c| {
            redis::pipe()
                .atomic()
                .cmd("HSET")
                .arg(hook_key(app_id))
                .arg("url")
                .arg(&hook.url)
                .arg("secret")
                .arg(&hook.secret)
                .ignore()
                .cmd("INCR")
                .arg(VERSION)
                .ignore()
                .query::<()>(c)
        })
    }

    /// Removes the app's webhook; false when it had none.
    pub fn clear_webhook(&self, app_id: u32) -> anyhow::Result<bool> {
        let (removed, _): (u32, i64) =
            self.run(|c| redis::pipe().atomic().cmd("DEL").arg(hook_key(app_id)).cmd("INCR").arg(VERSION).query(c))?;
        Ok(removed > 0)
    }

    /// Which of `apps` have a webhook.
    pub fn apps_with_webhooks(&self, apps: &[u32]) -> anyhow::Result<Vec<u32>> {
        let mut with = Vec::new();
        for &app_id in apps {
            let has: bool = self.run(|c| redis::cmd("EXISTS").arg(hook_key(app_id)).query(c))?;
            if has {
                with.push(app_id);
            }
        }
        Ok(with)
    }

    /// Stores a console user's salted hash.
    pub fn set_admin(&self, username: &str, salt: &[u8], hash: &[u8], iterations: u32) -> anyhow::Result<()> {
        self.run(|c| {
            redis::pipe()
                .atomic()
                .cmd("HSET")
                .arg(admin_key(username))
                .arg("salt")
                .arg(duet_token::hex(salt))
                .arg("hash")
                .arg(duet_token::hex(hash))
                .arg("iterations")
                .arg(iterations)
                .ignore()
                .cmd("SADD")
                .arg(ADMINS)
                .arg(username)
                .ignore()
                .query::<()>(c)
        })
    }

    /// Stores the first console user, unless there is one already (one atomic step): true
    /// when this call made it.
    pub fn set_first_admin(&self, username: &str, salt: &[u8], hash: &[u8], iterations: u32) -> anyhow::Result<bool> {
        const FIRST: &str = r#"
if redis.call("SCARD", KEYS[1]) > 0 then return 0 end
redis.call("SADD", KEYS[1], ARGV[1])
redis.call("HSET", KEYS[2], "salt", ARGV[2], "hash", ARGV[3], "iterations", ARGV[4])
return 1
"#;
        let made: i64 = self.run(|c| {
            redis::Script::new(FIRST)
                .key(ADMINS)
                .key(admin_key(username))
                .arg(username)
                .arg(duet_token::hex(salt))
                .arg(duet_token::hex(hash))
                .arg(iterations)
                .invoke(c)
        })?;
        Ok(made == 1)
    }

    /// A console user's stored password.
    pub fn admin(&self, username: &str) -> anyhow::Result<Option<StoredPassword>> {
        let f: HashMap<String, String> = self.run(|c| redis::cmd("HGETALL").arg(admin_key(username)).query(c))?;
        let (Some(salt), Some(hash), Some(iterations)) = (f.get("salt"), f.get("hash"), f.get("iterations")) else {
            return Ok(None);
        };
        Ok(Some((unhex(salt)?, unhex(hash)?, iterations.parse().context("stored iterations")?)))
    }

    /// How many console users exist.
    pub fn admin_count(&self) -> anyhow::Result<u64> {
        self.run(|c| redis::cmd("SCARD").arg(ADMINS).query(c))
    }

    /// How many apps are registered.
    pub fn count(&self) -> anyhow::Result<u64> {
        self.run(|c| redis::cmd("ZCARD").arg(APPS).query(c))
    }
}

/// A console user's password as stored: (salt, PBKDF2 hash, iterations).
pub type StoredPassword = (Vec<u8>, Vec<u8>, u32);

fn read_app(app_id: u32, f: &HashMap<String, String>) -> anyhow::Result<App> {
    let field = |name: &str| f.get(name).map(String::as_str).unwrap_or_default();
    let secret =
        AppSecret::new(field("secret")).with_context(|| format!("stored ServerSecret of AppID {app_id} is invalid"))?;
    let latency = field("latency").parse().unwrap_or_else(|e| {
        tracing::warn!(app_id, "stored latency budget is invalid ({e}); using the default");
        LatencyBudget::default()
    });
    let allowed_origins =
        f.get("allowed_origins").map_or(Ok(AllowedOrigins::default()), |o| o.parse()).unwrap_or_else(|e| {
            tracing::warn!(app_id, "stored allowed origins are invalid ({e}); allowing no page");
            AllowedOrigins::Only(Vec::new())
        });
    Ok(App {
        app_id,
        name: field("name").to_owned(),
        secret,
        created_at: field("created_at").parse().unwrap_or_default(),
        secret_rotated_at: f.get("secret_rotated_at").and_then(|v| v.parse().ok()),
        latency,
        allowed_origins,
        webrtc_max_peers: f.get("webrtc_max_peers").and_then(|v| v.parse().ok()).filter(|&n: &u32| n > 0),
        record_all: field("record") == "1",
    })
}

fn unhex(s: &str) -> anyhow::Result<Vec<u8>> {
    if s.len() % 2 != 0 {
        bail!("stored hex has an odd length");
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).context("stored hex")).collect()
}
