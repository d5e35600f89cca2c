//! The HTTP surface: routes and the state they share, the listener (`server`: plain or TLS,
//! under the connection caps of `limits`, the header and idle timeouts and the write
//! deadline), the business-server API (`api`), the console and debug page (`console`) and
//! SDK log uploads (`httplog`). `/ws` and `/live/*` route to `signaling` and `media`. Handlers
//! stay thin, call the piece that owns the concern, and fail with [`error::HttpError`]; which
//! web pages may call what is `cors`'s decision alone.

pub mod api;
pub mod console;
pub mod cors;
pub mod deadlines;
pub mod error;
pub mod httplog;
pub mod limits;
pub mod server;
pub mod tls;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::http::error::HttpError;
use crate::metrics::{Metrics, Snapshot};
use crate::store::registry::Registry;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The app registry (the console's reads and writes).
    pub registry: Arc<Registry>,
    /// The cached app lookup every other request uses.
    pub apps: crate::store::apps::Apps,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Unix time the server started.
    pub start_time: i64,
    /// The signaling hub.
    pub signaling: crate::signaling::Signaling,
    /// The media hub and what media requests share.
    pub media: crate::media::MediaContext,
    /// Where uploaded SDK logs go.
    pub logs: Arc<crate::http::httplog::LogStore>,
    /// Webhook delivery (its counters).
    pub webhooks: crate::webhooks::Webhooks,
    /// API nonces seen within the timestamp window.
    pub nonces: Arc<crate::http::api::auth::Nonces>,
    /// Console logins.
    pub console: Arc<crate::http::console::ConsoleSessions>,
    /// The public addresses clients use.
    pub urls: crate::public_url::PublicUrls,
    /// Whether HTTP is served over TLS (console cookies are then `Secure`).
    pub tls: bool,
    /// This node's place in its cluster (a cluster of one without `--redis-url`).
    pub cluster: crate::cluster::Cluster,
    /// This node's mixer tasks.
    pub mixer: crate::mix::Mixer,
    /// Rooms' call-quality history (reports and timelines).
    pub quality: crate::quality::Quality,
}

/// The remote address of an HTTP connection, plain or TLS (`ConnectInfo<Peer>`, set by
/// `server` on every request).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub std::net::SocketAddr);

/// All routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/ws", get(crate::signaling::upgrade))
        .route("/live/{app}/{file}", get(crate::media::http_play::play).options(cors::play_preflight))
        .route("/live/{app}/{stream}/{file}", get(crate::media::http_play::hls_file).options(cors::play_preflight))
        .route("/recordings/{app}/{stream}/{file}", get(crate::http::api::recordings::download))
        .route("/httplog", post(crate::http::httplog::upload))
        .route("/whip/{app}/{stream}", post(crate::media::whip::publish).options(cors::webrtc_preflight))
        .route("/whip/{app}/{stream}/{resource}", delete(crate::media::whip::stop).options(cors::webrtc_preflight))
        .route("/whep/{app}/{stream}", post(crate::media::whep::play).options(cors::webrtc_preflight))
        .route("/whep/{app}/{stream}/{resource}", delete(crate::media::whep::stop).options(cors::webrtc_preflight))
        .merge(crate::http::api::routes())
        .merge(crate::http::console::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), count_requests))
        .with_state(state)
}

async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    Metrics::inc(&state.metrics.http_requests);
    res
}

/// `ok` while the node serves; in a cluster, also the node's name and the cluster's health as
/// it sees it (`degraded` while Redis cannot be reached: the node still serves what it holds).
/// `200 {"status": "ok"}`, or `503 {"status": "draining"}` while the node drains (load
/// balancers stop sending it clients); with the node's view of its cluster.
async fn healthz(State(state): State<AppState>) -> Response {
    let draining = state.cluster.is_draining();
    let mut body = json!({"status": if draining { "draining" } else { "ok" }, "version": env!("CARGO_PKG_VERSION")});
    if let Some(health) = state.cluster.health() {
        let mut cluster = serde_json::to_value(health).unwrap_or_default();
        cluster["node"] = json!(state.cluster.name());
        cluster["nodes"] = json!(state.cluster.nodes().len());
        body["cluster"] = cluster;
    }
    let status = if draining { axum::http::StatusCode::SERVICE_UNAVAILABLE } else { axum::http::StatusCode::OK };
    (status, Json(body)).into_response()
}

/// The node's metrics; `duet_apps` is left out while the app registry cannot be read (a
/// cluster's Redis away), the rest is this node's own and always there.
async fn metrics(State(state): State<AppState>) -> Response {
    let registry = state.registry.clone();
    let apps = match tokio::task::spawn_blocking(move || registry.count()).await {
        Ok(Ok(apps)) => Some(apps),
        failed => {
            tracing::warn!(?failed, "metrics: cannot read the app registry; duet_apps left out");
            None
        }
    };
    let snapshot = Snapshot {
        start_time: state.start_time,
        apps,
        live_streams: state.media.hub.live_count(),
        mixer: (state.mixer.count(), state.mixer.failures()),
        quality: state.quality.counters(),
        media: &state.media.hub.stats,
        logs: &state.logs,
        webhooks: &state.webhooks.stats,
        cluster: crate::metrics::ClusterGauges {
            nodes: state.cluster.nodes().len(),
            degraded: matches!(state.cluster.health(), Some(crate::cluster::Health::Degraded { .. })),
            verdicts: state.cluster.verdicts(),
        },
    };
    let body = state.metrics.render(&snapshot);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

async fn not_found() -> HttpError {
    HttpError::not_found("no such endpoint")
}
