//! Connection caps for the listeners (HTTP and RTMP): how many connections one listener holds
//! in total and per client address, derived by default from the process's open-file limit so
//! that the listeners together never use up the descriptors (one listener's exhaustion never
//! starves the other, nor SQLite, logs and outgoing requests). [`Acceptor`] accepts under the
//! caps: a connection over a cap is closed at once and counted, and accept errors (out of file
//! descriptors) back off from 50 ms to 1 s instead of spinning. Each accepted connection holds a
//! [`Permit`] until its socket is dropped.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::config::CapSettings;
use crate::metrics::{ConnStats, Metrics};

/// Default cap on one listener's connections from one address (or IPv6 /64).
pub const DEFAULT_PER_ADDR: usize = 256;
/// Assumed open-file limit when `/proc/self/limits` cannot be read.
pub const ASSUMED_OPEN_FILES: u64 = 1024;
/// The largest cap a setting or the derivation gives.
pub const MAX_CAP: usize = 1_000_000;
/// First wait after a failed accept; doubles up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Longest wait after failed accepts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// A listener at a cap warns at most this often (each refusal is a debug line and a count).
const WARN_EVERY: Duration = Duration::from_secs(60);

/// One listener's caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Connections open at once.
    pub total: usize,
    /// Connections open at once from one address (IPv6: one /64).
    pub per_addr: usize,
}

impl ConnLimits {
    /// The caps set, else the defaults: `budget` in total, [`DEFAULT_PER_ADDR`] per address (never
    /// more than the total).
    pub fn resolve(set: CapSettings, budget: usize) -> Self {
        let total = set.total.unwrap_or(budget);
        Self { total, per_addr: set.per_addr.unwrap_or(DEFAULT_PER_ADDR).min(total) }
    }
}

/// The soft open-file limit (`RLIMIT_NOFILE`) of this process, from `/proc/self/limits`;
/// `None` where that file does not exist or says something unexpected.
pub fn open_file_limit() -> Option<u64> {
    parse_open_files(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

fn parse_open_files(limits: &str) -> Option<u64> {
    let soft = limits.lines().find_map(|l| l.strip_prefix("Max open files"))?.split_whitespace().next()?;
    if soft == "unlimited" { Some(u64::MAX) } else { soft.parse().ok() }
}

/// The default cap of each of the two listeners under an open-file limit of `nofile`: an
/// eighth (at least 64, at most 1024) stays for the registry, logs, webhooks and relays, and
/// the listeners share the rest equally.
pub fn listener_budget(nofile: u64) -> usize {
    let reserve = (nofile / 8).clamp(64, 1024);
    let each = nofile.saturating_sub(reserve) / 2;
    usize::try_from(each).unwrap_or(MAX_CAP).clamp(1, MAX_CAP)
}

/// The caps of the HTTP and RTMP listeners: those set, the rest derived from the open-file
/// limit; logged, with a warning when the caps set need more descriptors than the limit gives.
pub fn listener_caps(http: CapSettings, rtmp: CapSettings) -> (ConnLimits, ConnLimits) {
    let nofile = open_file_limit();
    let budget = listener_budget(nofile.unwrap_or(ASSUMED_OPEN_FILES));
    let (h, r) = (ConnLimits::resolve(http, budget), ConnLimits::resolve(rtmp, budget));
    let limit = nofile.map_or_else(|| format!("unknown (assumed {ASSUMED_OPEN_FILES})"), |n| n.to_string());
    tracing::info!(
        "open-file limit {limit}: HTTP takes up to {} connections ({} per address), RTMP up to {} ({} per address)",
        h.total,
        h.per_addr,
        r.total,
        r.per_addr
    );
    if h.total.saturating_add(r.total) > budget.saturating_mul(2) {
        tracing::warn!(
            "the connection caps ({} + {}) exceed the {} descriptors the open-file limit leaves for connections: \
             raise the limit (ulimit -n, systemd LimitNOFILE=) or lower the caps",
            h.total,
            r.total,
            budget * 2
        );
    }
    (h, r)
}

/// The key a per-address cap counts by: the IPv4 address, or the /64 of an IPv6 one (a single
/// host usually holds a whole /64).
fn addr_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The listener's total.
    Total,
    /// The address's share.
    PerAddr,
}

/// Counts one listener's open connections against its caps.
pub struct Limiter {
    name: &'static str,
    limits: ConnLimits,
    open: Mutex<Open>,
    stats: Arc<ConnStats>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_addr: HashMap<IpAddr, usize>,
    last_warning: Option<Instant>,
}

impl Limiter {
    /// A limiter for the listener `name` ("HTTP", "RTMP"), counting into `stats`.
    pub fn new(name: &'static str, limits: ConnLimits, stats: Arc<ConnStats>) -> Arc<Self> {
        Arc::new(Self { name, limits, open: Mutex::default(), stats })
    }

    /// Admits a connection from `ip`, or says which cap is full (and counts the refusal).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Full> {
        let key = addr_key(ip);
        let mut open = self.lock();
        let from_addr = open.by_addr.get(&key).copied().unwrap_or(0);
        let full = if open.total >= self.limits.total {
            Some(Full::Total)
        } else if from_addr >= self.limits.per_addr {
            Some(Full::PerAddr)
        } else {
            None
        };
        if let Some(full) = full {
            Metrics::inc(&self.stats.refused);
            let now = Instant::now();
            if open.last_warning.is_none_or(|at| now.duration_since(at) >= WARN_EVERY) {
                open.last_warning = Some(now);
                let (what, cap) = match full {
                    Full::Total => ("connections", self.limits.total),
                    Full::PerAddr => ("connections from one address", self.limits.per_addr),
                };
                tracing::warn!(listener = self.name, %ip, "{} listener at its cap of {cap} {what}; refusing connections (counted in duet_connections_refused_total, this warning repeats at most once a minute)", self.name);
            } else {
                tracing::debug!(listener = self.name, %ip, ?full, "connection refused");
            }
            return Err(full);
        }
        open.total += 1;
        *open.by_addr.entry(key).or_insert(0) += 1;
        self.stats.open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Permit { limiter: self.clone(), key })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        // The counts stay consistent even if a holder panicked: every update is one step.
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One admitted connection; dropping it frees its place.
pub struct Permit {
    limiter: Arc<Limiter>,
    key: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.limiter.lock();
        open.total -= 1;
        if let Some(n) = open.by_addr.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.by_addr.remove(&self.key);
            }
        }
        self.limiter.stats.open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How long to wait after each failed accept: [`BACKOFF_MIN`], doubling to [`BACKOFF_MAX`],
/// back to the start after an accept succeeds.
#[derive(Debug)]
pub struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(BACKOFF_MIN)
    }
}

impl Backoff {
    /// The wait after one more failure.
    pub fn failed(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        wait
    }

    /// An accept succeeded.
    pub fn reset(&mut self) {
        self.0 = BACKOFF_MIN;
    }
}

/// A listening socket that accepts under a [`Limiter`].
pub struct Acceptor {
    listener: TcpListener,
    limiter: Arc<Limiter>,
    refusal: &'static [u8],
    backoff: Backoff,
}

impl Acceptor {
    /// Accepts on `listener` under `limiter`; a refused connection is sent `refusal` (best
    /// effort, without waiting) before it is closed.
    pub fn new(listener: TcpListener, limiter: Arc<Limiter>, refusal: &'static [u8]) -> Self {
        queue_deeply(&listener);
        Self { listener, limiter, refusal, backoff: Backoff::default() }
    }

    /// The next admitted connection, with TCP_NODELAY set.
    pub async fn accept(&mut self) -> (TcpStream, SocketAddr, Permit) {
        loop {
            match self.listener.accept().await {
                Ok((tcp, peer)) => {
                    self.backoff.reset();
                    match self.limiter.admit(peer.ip()) {
                        Ok(permit) => {
                            let _ = tcp.set_nodelay(true);
                            return (tcp, peer, permit);
                        }
                        Err(_) => self.refuse(tcp),
                    }
                }
                Err(e) => {
                    let wait = self.backoff.failed();
                    tracing::warn!(error = %e, "{} accept failed; retrying in {} ms", self.limiter.name, wait.as_millis());
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Writes the refusal if the socket takes it at once, then closes the connection.
    fn refuse(&self, tcp: TcpStream) {
        if self.refusal.is_empty() {
            return;
        }
        // A just-accepted socket has room in its send buffer; a nonblocking write never waits.
        if let Ok(std) = tcp.into_std() {
            let _ = io::Write::write(&mut &std, self.refusal);
        }
    }
}

/// Connections the kernel holds for the listener until they are accepted (capped by the
/// system's `somaxconn`).
pub const BACKLOG: i32 = 1024;

/// Makes room in the kernel's queue of connections waiting to be accepted for [`BACKLOG`]; the
/// listener was bound with 128, which a burst of clients (hundreds of WebSocket logins, or players
/// connecting to a stream, at once)
/// overflows while the accepting task is busy, and each dropped SYN costs its client a
/// retransmission a second later. Listening again on a listening socket only sets its backlog.
fn queue_deeply(listener: &TcpListener) {
    if let Err(e) = socket2::SockRef::from(listener).listen(BACKLOG) {
        tracing::warn!(error = %e, "cannot enlarge a listener's backlog");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(total: usize, per_addr: usize) -> Arc<Limiter> {
        Limiter::new("test", ConnLimits { total, per_addr }, Arc::default())
    }

    #[test]
    fn caps_per_address_and_in_total_and_permits_free_their_place() {
        let l = limiter(3, 2);
        let (a, b, c) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap());
        let a1 = l.admit(a).unwrap();
        let _a2 = l.admit(a).unwrap();
        assert_eq!(l.admit(a).err(), Some(Full::PerAddr));
        let _b1 = l.admit(b).unwrap();
        assert_eq!(l.admit(c).err(), Some(Full::Total));
        drop(a1);
        let _c1 = l.admit(c).unwrap();
        assert_eq!(l.stats.refused.load(std::sync::atomic::Ordering::Relaxed), 2);
        assert_eq!(l.stats.open.load(std::sync::atomic::Ordering::Relaxed), 3);
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_ipv4_as_ipv4() {
        let l = limiter(10, 1);
        let _p = l.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert_eq!(l.admit("2001:db8:1:2:ffff::9".parse().unwrap()).err(), Some(Full::PerAddr));
        let _q = l.admit("2001:db8:1:3::1".parse().unwrap()).unwrap();
        let _r = l.admit("192.0.2.7".parse().unwrap()).unwrap();
        assert_eq!(l.admit("::ffff:192.0.2.7".parse().unwrap()).err(), Some(Full::PerAddr));
    }

    #[test]
    fn defaults_derive_from_the_open_file_limit() {
        assert_eq!(listener_budget(256), 96);
        assert_eq!(listener_budget(1024), 448);
        assert_eq!(listener_budget(65_536), 32_256);
        assert_eq!(listener_budget(u64::MAX), MAX_CAP);
        assert_eq!(listener_budget(10), 1);
        let unset = CapSettings::default();
        assert_eq!(ConnLimits::resolve(unset, 96), ConnLimits { total: 96, per_addr: 96 });
        assert_eq!(ConnLimits::resolve(unset, 4000), ConnLimits { total: 4000, per_addr: DEFAULT_PER_ADDR });
        let set = CapSettings { total: Some(10), per_addr: Some(3) };
        assert_eq!(ConnLimits::resolve(set, 4000), ConnLimits { total: 10, per_addr: 3 });
    }

    #[test]
    fn reads_the_soft_limit() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max processes             96365                96365                processes \n\
                    Max open files            1024                 1048576              files     \n";
        assert_eq!(parse_open_files(text), Some(1024));
        assert_eq!(
            parse_open_files("Max open files            unlimited            unlimited            files"),
            Some(u64::MAX)
        );
        assert_eq!(parse_open_files("nothing"), None);
        assert!(open_file_limit().is_some_and(|n| n > 0), "Linux has /proc/self/limits");
    }

    #[test]
    fn backoff_doubles_to_a_second_and_resets() {
        let mut b = Backoff::default();
        let waits: Vec<u128> = (0..7).map(|_| b.failed().as_millis()).collect();
        assert_eq!(waits, [50, 100, 200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.failed(), BACKOFF_MIN);
    }

    /// Connections arriving faster than they are accepted wait in the kernel's queue: a SYN
    /// dropped for a full queue costs its client a retransmission a second later.
    #[tokio::test]
    async fn a_burst_of_connections_waits_to_be_accepted() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        queue_deeply(&listener);
        let addr = listener.local_addr().unwrap();
        let mut waiting = Vec::new();
        for i in 0..300 {
            let connect = tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr)).await;
            waiting.push(connect.unwrap_or_else(|_| panic!("connection {i} was not queued")).unwrap());
        }
    }
}
