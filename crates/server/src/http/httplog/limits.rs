//! How fast log uploads may spend an app's daily quota, per sender: each address may start
//! [`PER_ADDRESS`] uploads (checked before the body is read), each session may store
//! [`PER_SESSION`] bytes and at most [`SESSION_SHARE`] a day, and each app [`PER_APP`] bytes,
//! all token buckets. So the quota lasts at least four hours even when every sender hurries,
//! and one session (a device stuck in a loop) takes at most a sixteenth of it.
//!
//! The tables are bounded: past [`MAX_TRACKED`] senders, idle entries are forgotten, and if
//! none is idle new senders wait.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use duet_room::TokenBucket;

use super::DAILY_QUOTA;

/// A token bucket's shape: `burst` at once, then `per_sec` a second.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Tokens at once.
    pub burst: u32,
    /// Tokens a second after that.
    pub per_sec: u32,
}

impl Rate {
    /// How long an untouched bucket takes to fill up: an entry idle for longer is forgotten.
    fn refill(self) -> Duration {
        Duration::from_secs(u64::from(self.burst.div_ceil(self.per_sec)))
    }
}

/// Uploads one IP address may start: 50 at once, then 10 a second.
pub const PER_ADDRESS: Rate = Rate { burst: 50, per_sec: 10 };
/// Bytes one session may store: 512 KiB at once, then 2 KiB a second.
pub const PER_SESSION: Rate = Rate { burst: 512 * 1024, per_sec: 2 * 1024 };
/// Bytes one session may store in a UTC day: a sixteenth of the app's quota (4 MiB).
pub const SESSION_SHARE: u64 = DAILY_QUOTA / 16;
/// Bytes one app may store: 2 MiB at once, then its daily quota over four hours (4,660 B/s).
pub const PER_APP: Rate = Rate { burst: 2 * 1024 * 1024, per_sec: (DAILY_QUOTA / (4 * 3600)) as u32 };
/// Addresses, and sessions, tracked at most.
pub const MAX_TRACKED: usize = 100_000;

/// Why an upload may not go on now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// 429 `log_rate_limited`: this sender (or the app) is over its rate; retry after this long.
    Rate(Duration),
    /// 429 `log_quota_exceeded`: this session stored its share of the app's day.
    SessionShare,
}

struct SessionUse {
    bucket: TokenBucket,
    day: i64,
    bytes: u64,
    last: Instant,
}

/// The buckets.
#[derive(Default)]
pub struct Limits {
    inner: Mutex<Tables>,
}

#[derive(Default)]
struct Tables {
    addresses: HashMap<IpAddr, (TokenBucket, Instant)>,
    sessions: HashMap<(u32, String), SessionUse>,
    apps: HashMap<u32, TokenBucket>,
}

impl Limits {
    /// One upload from `ip` begins.
    pub fn admit_upload(&self, ip: IpAddr, now: Instant) -> Result<(), Refused> {
        let mut t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !t.addresses.contains_key(&ip) && t.addresses.len() >= MAX_TRACKED {
            t.addresses.retain(|_, (_, last)| now.saturating_duration_since(*last) < PER_ADDRESS.refill());
            if t.addresses.len() >= MAX_TRACKED {
                return Err(Refused::Rate(PER_ADDRESS.refill()));
            }
        }
        let (bucket, last) = t.addresses.entry(ip).or_insert_with(|| (TokenBucket::new(now, PER_ADDRESS.burst), now));
        *last = now;
        bucket.take_n(now, 1, PER_ADDRESS.per_sec, PER_ADDRESS.burst).map_err(Refused::Rate)
    }

    /// Session `session_id` of `app_id` wants to store `bytes` on UTC `day`.
    pub fn admit_bytes(
        &self,
        app_id: u32,
        session_id: &str,
        bytes: u64,
        day: i64,
        now: Instant,
    ) -> Result<(), Refused> {
        let n = u32::try_from(bytes).unwrap_or(u32::MAX);
        let mut t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = (app_id, session_id.to_owned());
        if !t.sessions.contains_key(&key) && t.sessions.len() >= MAX_TRACKED {
            let idle = PER_SESSION.refill();
            t.sessions.retain(|_, s| s.day == day && now.saturating_duration_since(s.last) < idle);
            if t.sessions.len() >= MAX_TRACKED {
                return Err(Refused::Rate(idle));
            }
        }
        let s = t.sessions.entry(key).or_insert_with(|| SessionUse {
            bucket: TokenBucket::new(now, PER_SESSION.burst),
            day,
            bytes: 0,
            last: now,
        });
        s.last = now;
        if s.day != day {
            (s.day, s.bytes) = (day, 0);
        }
        if s.bytes + bytes > SESSION_SHARE {
            return Err(Refused::SessionShare);
        }
        s.bucket.take_n(now, n, PER_SESSION.per_sec, PER_SESSION.burst).map_err(Refused::Rate)?;
        s.bytes += bytes;
        let app = t.apps.entry(app_id).or_insert_with(|| TokenBucket::new(now, PER_APP.burst));
        app.take_n(now, n, PER_APP.per_sec, PER_APP.burst).map_err(Refused::Rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_burst_then_its_rate() {
        let limits = Limits::default();
        let (ip, t0) = (IpAddr::from([10, 0, 0, 1]), Instant::now());
        for _ in 0..PER_ADDRESS.burst {
            assert_eq!(limits.admit_upload(ip, t0), Ok(()));
        }
        assert_eq!(limits.admit_upload(ip, t0), Err(Refused::Rate(Duration::from_millis(100))));
        assert_eq!(limits.admit_upload(IpAddr::from([10, 0, 0, 2]), t0), Ok(()), "other addresses are unaffected");
        assert_eq!(limits.admit_upload(ip, t0 + Duration::from_millis(100)), Ok(()));
    }

    #[test]
    fn a_session_gets_its_burst_and_its_share_of_the_day() {
        let limits = Limits::default();
        let t0 = Instant::now();
        let chunk = 64 * 1024;
        for _ in 0..PER_SESSION.burst / chunk {
            assert_eq!(limits.admit_bytes(1, "s1", chunk.into(), 100, t0), Ok(()));
        }
        assert_eq!(limits.admit_bytes(1, "s1", chunk.into(), 100, t0), Err(Refused::Rate(Duration::from_secs(32))));
        assert_eq!(limits.admit_bytes(1, "s2", chunk.into(), 100, t0), Ok(()), "other sessions are unaffected");
        // Patiently, a session stores its share of the day and no more.
        let mut at = t0;
        let mut stored = u64::from(PER_SESSION.burst);
        while stored + u64::from(chunk) <= SESSION_SHARE {
            at += Duration::from_secs(32);
            assert_eq!(limits.admit_bytes(1, "s1", chunk.into(), 100, at), Ok(()));
            stored += u64::from(chunk);
        }
        at += Duration::from_secs(3600);
        assert_eq!(limits.admit_bytes(1, "s1", chunk.into(), 100, at), Err(Refused::SessionShare));
        assert_eq!(limits.admit_bytes(1, "s1", chunk.into(), 101, at), Ok(()), "a new day, a new share");
    }

    #[test]
    fn an_app_cannot_spend_its_quota_in_a_burst() {
        let limits = Limits::default();
        let t0 = Instant::now();
        let chunk = 256 * 1024u64;
        let mut stored = 0;
        for s in 0..100 {
            if limits.admit_bytes(1, &s.to_string(), chunk, 100, t0).is_ok() {
                stored += chunk;
            }
        }
        assert_eq!(stored, u64::from(PER_APP.burst), "a hundred sessions at once store the app's burst");
        let hours = DAILY_QUOTA / u64::from(PER_APP.per_sec) / 3600;
        assert!(hours >= 4, "the quota lasts at least {hours} hours at full rate");
    }
}
