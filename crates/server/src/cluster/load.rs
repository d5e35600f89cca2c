//! This node's load, as the node registry publishes it: signaling sessions and rooms, live
//! streams and their players, WebRTC peers, and the process's CPU use over the last interval
//! (from `/proc/self/stat`; 0 where there is none).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use serde::Serialize;

use crate::metrics::Metrics;

/// A node's load at one heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Load {
    pub sessions: u64,
    pub rooms: u64,
    pub streams: u64,
    pub players: u64,
    pub webrtc_peers: u64,
    /// CPU time used per second of wall time, in cores (1.0: one core busy).
    pub cpu: f64,
}

/// Where the load is read from.
#[derive(Clone)]
pub struct LoadSource {
    pub metrics: Arc<Metrics>,
    pub media: Arc<duet_media::Hub>,
}

impl LoadSource {
    /// The counters now, with `cpu` from the sampler.
    pub fn read(&self, cpu: f64) -> Load {
        let m = &self.metrics;
        Load {
            sessions: m.signaling_sessions.load(Relaxed),
            rooms: m.rooms.load(Relaxed),
            streams: self.media.live_count() as u64,
            players: self.media.stats.players.load(Relaxed),
            webrtc_peers: m.webrtc_peers.load(Relaxed),
            cpu,
        }
    }
}

/// CPU use between two looks.
#[derive(Debug, Default)]
pub struct CpuSampler {
    last: Option<(Instant, f64)>,
}

impl CpuSampler {
    /// Cores used since the previous call (0 on the first, or without `/proc`).
    pub fn sample(&mut self, now: Instant) -> f64 {
        let Some(used) = std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| cpu_seconds(&s)) else {
            return 0.0;
        };
        let cores = match self.last {
            Some((at, before)) if now > at => ((used - before) / now.duration_since(at).as_secs_f64()).max(0.0),
            _ => 0.0,
        };
        self.last = Some((now, used));
        (cores * 100.0).round() / 100.0
    }
}

/// User plus system CPU seconds from a `/proc/<pid>/stat` line (fields 14 and 15, in clock
/// ticks of 1/100 s on Linux; the command name in parentheses may hold spaces).
fn cpu_seconds(stat: &str) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Field 3 (state) is fields[0] here, so utime (14) and stime (15) are [11] and [12].
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_seconds_are_read_past_a_name_with_spaces() {
        let stat = "1234 (duet (serve) x) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 150 0 0 20 0 9 0 100 0 0";
        assert_eq!(cpu_seconds(stat), Some(4.0));
        assert_eq!(cpu_seconds("garbage"), None);
        assert_eq!(cpu_seconds("1 (x) S 1 2"), None);
    }
}
