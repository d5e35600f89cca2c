//! Server counters and their Prometheus text rendering for `GET /metrics`.
//!
//! Counters are plain atomics owned by [`Metrics`]; gauges that describe stored state (apps)
//! are read at scrape time and passed to [`Metrics::render`].

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters shared by every task.
#[derive(Debug, Default)]
pub struct Metrics {
    /// HTTP requests answered.
    pub http_requests: AtomicU64,
    /// TLS handshakes that failed or timed out.
    pub tls_handshake_failures: AtomicU64,
    /// RTMP connections closed before any media was accepted.
    pub rtmp_connections_refused: AtomicU64,
}

/// Values read at scrape time.
pub struct Snapshot {
    /// Unix time the server started.
    pub start_time: i64,
    /// Registered apps.
    pub apps: u64,
}

impl Metrics {
    /// Increments a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// Prometheus text exposition format, version 0.0.4.
    pub fn render(&self, s: &Snapshot) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, sample: String| {
            // Writing to a String cannot fail.
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{sample}\n");
        };
        family("duet_build_info", "gauge", "Duet version.", format!("{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION")));
        family("duet_start_time_seconds", "gauge", "Unix time the server started.", format!(" {}", s.start_time));
        family("duet_apps", "gauge", "Registered apps.", format!(" {}", s.apps));
        family(
            "duet_http_requests_total",
            "counter",
            "HTTP requests answered.",
            format!(" {}", self.http_requests.load(Relaxed)),
        );
        family(
            "duet_tls_handshake_failures_total",
            "counter",
            "TLS handshakes that failed or timed out.",
            format!(" {}", self.tls_handshake_failures.load(Relaxed)),
        );
        family(
            "duet_rtmp_connections_refused_total",
            "counter",
            "RTMP connections closed without accepting media.",
            format!(" {}", self.rtmp_connections_refused.load(Relaxed)),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_help_and_type() {
        let m = Metrics::default();
        Metrics::inc(&m.http_requests);
        let text = m.render(&Snapshot { start_time: 5, apps: 2 });
        assert!(text.contains("\nduet_apps 2\n"), "{text}");
        assert!(text.contains("duet_http_requests_total 1\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} has no TYPE");
        }
    }
}
