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
    /// Media requests refused (bad or missing signatures, unknown apps or streams, duplicate
    /// publishers, protocol errors, handshake timeouts).
    pub media_refused: AtomicU64,
    /// Open signaling WebSocket connections (gauge).
    pub signaling_connections: AtomicU64,
    /// Signaling connections this node relays to their room's home node (gauge; cluster).
    pub signaling_relayed: AtomicU64,
    /// Signaling sessions, including those waiting for a resume (gauge).
    pub signaling_sessions: AtomicU64,
    /// Open rooms (gauge).
    pub rooms: AtomicU64,
    /// Signaling connections dropped because their outbox was full.
    pub signaling_slow_drops: AtomicU64,
    /// WebRTC peers running: WHIP publishers and WHEP players (gauge).
    pub webrtc_peers: AtomicU64,
    /// The HTTP listener's connections.
    pub http_connections: std::sync::Arc<ConnStats>,
    /// The RTMP listener's connections.
    pub rtmp_connections: std::sync::Arc<ConnStats>,
    /// The ICE-TCP listener's connections.
    pub webrtc_tcp_connections: std::sync::Arc<ConnStats>,
}

/// One listener's connections (`http::limits::Limiter` keeps them).
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Open connections (gauge).
    pub open: AtomicU64,
    /// Connections closed at once because a cap was reached.
    pub refused: AtomicU64,
}

/// Values read at scrape time.
pub struct Snapshot<'a> {
    /// Unix time the server started.
    pub start_time: i64,
    /// Registered apps (`None`: the registry cannot be read now).
    pub apps: Option<u64>,
    /// Live streams now.
    pub live_streams: usize,
    /// Mixer tasks running now, and their engines' failures so far.
    pub mixer: (usize, u64),
    /// Call-quality reports' totals.
    pub quality: &'a crate::quality::Counters,
    /// The media hub's counters.
    pub media: &'a duet_media::MediaStats,
    /// Uploaded SDK logs.
    pub logs: &'a crate::http::httplog::LogStore,
    /// Webhook deliveries.
    pub webhooks: &'a crate::webhooks::WebhookStats,
    /// The cluster as this node sees it (a cluster of one without Redis).
    pub cluster: ClusterGauges,
}

/// The cluster's numbers at one look.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClusterGauges {
    /// Living nodes, this one included.
    pub nodes: usize,
    /// Redis cannot be reached.
    pub degraded: bool,
    /// Deaths of other nodes this node declared.
    pub verdicts: u64,
}

impl Metrics {
    /// Increments a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// Prometheus text exposition format, version 0.0.4.
    pub fn render(&self, s: &Snapshot<'_>) -> String {
        let counters: [(&str, &str, &str, &AtomicU64); 18] = [
            ("duet_http_requests_total", "counter", "HTTP requests answered.", &self.http_requests),
            (
                "duet_tls_handshake_failures_total",
                "counter",
                "TLS handshakes that failed or timed out.",
                &self.tls_handshake_failures,
            ),
            (
                "duet_media_refused_total",
                "counter",
                "Media requests refused (signature, app, stream, duplicate publisher, protocol, timeout).",
                &self.media_refused,
            ),
            ("duet_media_players", "gauge", "Players attached to live streams (RTMP and HTTP-FLV).", &s.media.players),
            (
                "duet_media_bytes_in_total",
                "counter",
                "Media payload bytes received from publishers.",
                &s.media.bytes_in,
            ),
            ("duet_media_bytes_out_total", "counter", "Media bytes sent to players.", &s.media.bytes_out),
            (
                "duet_media_keyframe_skips_total",
                "counter",
                "Times a player fell behind and skipped to the next keyframe.",
                &s.media.keyframe_skips,
            ),
            (
                "duet_signaling_connections",
                "gauge",
                "Open signaling WebSocket connections.",
                &self.signaling_connections,
            ),
            (
                "duet_signaling_relayed_connections",
                "gauge",
                "Signaling connections relayed to the node holding their room or session (cluster).",
                &self.signaling_relayed,
            ),
            (
                "duet_signaling_sessions",
                "gauge",
                "Signaling sessions, including those waiting for a resume.",
                &self.signaling_sessions,
            ),
            ("duet_rooms", "gauge", "Open rooms.", &self.rooms),
            (
                "duet_webrtc_peers",
                "gauge",
                "WebRTC peers running: WHIP publishers and WHEP players.",
                &self.webrtc_peers,
            ),
            (
                "duet_signaling_slow_drops_total",
                "counter",
                "Signaling connections dropped because they could not keep up.",
                &self.signaling_slow_drops,
            ),
            ("duet_httplog_entries_total", "counter", "SDK log entries stored from POST /httplog.", &s.logs.entries),
            (
                "duet_httplog_refused_total",
                "counter",
                "SDK log uploads refused (malformed, unknown app, too large, over quota).",
                &s.logs.refused,
            ),
            ("duet_webhook_delivered_total", "counter", "Webhook events delivered (2xx).", &s.webhooks.delivered),
            (
                "duet_webhook_failed_attempts_total",
                "counter",
                "Webhook delivery attempts that failed (error, timeout, non-2xx); they are retried.",
                &s.webhooks.failed_attempts,
            ),
            (
                "duet_webhook_dropped_total",
                "counter",
                "Webhook events dropped (queue full, or undeliverable for a day).",
                &s.webhooks.dropped,
            ),
        ];
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, sample: String| {
            // Writing to a String cannot fail.
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{sample}\n");
        };
        family("duet_build_info", "gauge", "Duet version.", format!("{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION")));
        family("duet_start_time_seconds", "gauge", "Unix time the server started.", format!(" {}", s.start_time));
        if let Some(apps) = s.apps {
            family("duet_apps", "gauge", "Registered apps.", format!(" {apps}"));
        }
        family("duet_media_live_streams", "gauge", "Live streams.", format!(" {}", s.live_streams));
        family("duet_mixer_tasks", "gauge", "Mixer tasks running on this node.", format!(" {}", s.mixer.0));
        family(
            "duet_mixer_failures_total",
            "counter",
            "Times a mixer task's engine ended or could not start (each is restarted with backoff).",
            format!(" {}", s.mixer.1),
        );
        let quality = [
            (
                "duet_quality_samples_total",
                "Stream quality samples the SDKs reported and the server kept.",
                &s.quality.samples,
            ),
            (
                "duet_quality_samples_dropped_total",
                "Quality samples dropped (sent sooner than 4 s after the previous one, or over a bound).",
                &s.quality.dropped,
            ),
            ("duet_quality_stalls_total", "Stalls the players reported.", &s.quality.stalls),
            ("duet_quality_reconnects_total", "Reconnects the publishers and players reported.", &s.quality.reconnects),
        ];
        for (name, help, value) in quality {
            family(name, "counter", help, format!(" {}", value.load(Relaxed)));
        }
        family(
            "duet_cluster_nodes",
            "gauge",
            "Living nodes of the cluster, this one included (1 without Redis).",
            format!(" {}", s.cluster.nodes),
        );
        family(
            "duet_cluster_degraded",
            "gauge",
            "1 while this node cannot reach the cluster's Redis (it serves what it holds).",
            format!(" {}", u8::from(s.cluster.degraded)),
        );
        family(
            "duet_cluster_verdicts_total",
            "counter",
            "Deaths of other nodes this node declared (their heartbeats stopped).",
            format!(" {}", s.cluster.verdicts),
        );
        for (name, kind, help, value) in counters {
            family(name, kind, help, format!(" {}", value.load(Relaxed)));
        }
        // One sample per listener; `family` writes the name before the first.
        let listeners = |name: &str, value: fn(&ConnStats) -> &AtomicU64| {
            [
                ("http", &self.http_connections),
                ("rtmp", &self.rtmp_connections),
                ("webrtc-tcp", &self.webrtc_tcp_connections),
            ]
            .map(|(l, c)| format!("{{listener=\"{l}\"}} {}", value(c).load(Relaxed)))
            .join(&format!("\n{name}"))
        };
        family(
            "duet_connections",
            "gauge",
            "Open connections per listener.",
            listeners("duet_connections", |c| &c.open),
        );
        family(
            "duet_connections_refused_total",
            "counter",
            "Connections closed at once because the listener was at its total or per-address cap.",
            listeners("duet_connections_refused_total", |c| &c.refused),
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
        let media = duet_media::MediaStats::default();
        let logs = crate::http::httplog::LogStore::new(std::path::Path::new("/nonexistent"));
        let hooks = crate::webhooks::WebhookStats::default();
        let quality = crate::quality::Counters::default();
        quality.stalls.store(4, Relaxed);
        let text = m.render(&Snapshot {
            start_time: 5,
            apps: Some(2),
            live_streams: 0,
            mixer: (1, 2),
            quality: &quality,
            media: &media,
            logs: &logs,
            webhooks: &hooks,
            cluster: ClusterGauges { nodes: 3, degraded: true, verdicts: 1 },
        });
        assert!(text.contains("\nduet_apps 2\n"), "{text}");
        assert!(text.contains("\nduet_quality_stalls_total 4\n"), "{text}");
        assert!(text.contains("\nduet_mixer_tasks 1\n") && text.contains("\nduet_mixer_failures_total 2\n"), "{text}");
        assert!(
            text.contains("\nduet_cluster_nodes 3\nduet_cluster_degraded 1\n")
                || text.contains("\nduet_cluster_degraded 1\n"),
            "{text}"
        );
        assert!(text.contains("\nduet_cluster_verdicts_total 1\n"), "{text}");
        assert!(text.contains("duet_http_requests_total 1\n"));
        assert!(text.contains("\nduet_connections_refused_total{listener=\"rtmp\"} 0\n"), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} has no TYPE");
        }
    }
}
