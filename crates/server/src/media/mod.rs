//! The media edge: everything that moves audio and video in and out of the node's live-stream
//! hub (`duet_media::Hub`). `rtmp` drives RTMP connections (publish and play); `http_play`
//! serves HTTP-FLV and fMP4 through the router; `flv_direct` serves HTTP-FLV on plain
//! connections through the stream's writer; `fanout` is that writer (one per live stream, for
//! RTMP and direct FLV players) and `sink` each connection's sending side; `admission` admits
//! publishers; `error` says why a request was refused or a connection ended; `relay` pushes
//! live streams to external RTMP URLs with `duet_client::rtmp`; `whip` and `whep` take
//! browsers' WebRTC publishes and plays over HTTP, and `webrtc` runs those peers (H.264 video,
//! one UDP socket for every peer).

pub mod admission;
pub mod edge;
pub mod error;
pub mod fanout;
pub mod flv_direct;
pub mod hls;
pub mod http_play;
pub mod record;
pub mod relay;
pub mod rtmp;
pub mod sink;
pub mod webrtc;
pub mod whep;
pub mod whip;

use std::sync::Arc;

use duet_media::Hub as MediaHub;
use duet_token::AppSecret;

use crate::media::error::MediaRefusal;
use crate::metrics::Metrics;
use crate::signaling::Signaling;
use crate::store::apps::Apps;

/// The media edge's clock: tokio's, so paused-time tests could drive it (the RTMP sessions,
/// publishers' latency budgets and the sinks' write deadlines all read this one).
pub fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// What every media connection (RTMP, HTTP playback) shares.
#[derive(Clone)]
pub struct MediaContext {
    /// Live streams.
    pub hub: Arc<MediaHub>,
    /// The writers that hand each stream's flushes to its RTMP and plain-HTTP FLV players.
    pub fanout: Arc<fanout::Fanout>,
    /// Apps and secrets.
    pub apps: Apps,
    /// Where stream start/stop goes.
    pub signaling: Signaling,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// WebRTC peers (WHIP).
    pub webrtc: webrtc::WebRtc,
    /// This node in its cluster: where streams published elsewhere are (a cluster of one
    /// without Redis).
    pub cluster: crate::cluster::Cluster,
    /// Streams pulled from their origin node for players here.
    pub edges: Arc<edge::Edges>,
    /// Streams packaged for HLS players here.
    pub hls: Arc<hls::HlsStreams>,
    /// Streams being recorded here.
    pub recorders: Arc<record::Recorders>,
    /// The apps' webhooks (recording events).
    pub webhooks: crate::webhooks::Webhooks,
}

impl MediaContext {
    /// Tells the app's backend (webhooks) of a media event.
    pub fn event(&self, app_id: u32, name: &'static str, data: serde_json::Value) {
        self.webhooks.offer(duet_room::HubEvent { app_id, name, at_ms: crate::os::now_unix_ms(), data });
    }

    /// The secret of a registered app.
    pub async fn secret(&self, app_id: u32) -> Option<AppSecret> {
        self.apps.secret(app_id).await
    }

    /// Logs and counts a refused media request.
    pub fn refuse(&self, peer: &str, what: &str, r: &MediaRefusal) {
        Metrics::inc(&self.metrics.media_refused);
        tracing::warn!(%peer, code = r.code, "{what} refused: {}", r.message);
    }
}
