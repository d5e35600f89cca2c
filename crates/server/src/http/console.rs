//! The web console and the browser debug page, served from assets embedded in the binary:
//! `/` (console), `/debug` (join a room from a browser), `/assets/*`, the Web SDK's bundle at
//! `/sdk/duet-web.js` (sdk/web, readable by pages of any origin: the module authorises
//! nothing), and the console's JSON API under `/console/api/` behind a login (users and
//! password hashes in the registry; sessions are random cookies kept in memory for 12 hours).
//!
//! Cross-site requests cannot act: the cookie is `SameSite=Strict` and every state-changing
//! call must be JSON (a form post cannot send that without a CORS preflight, which is refused).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use duet_room::admin::AdminRequest;
use duet_token::AppSecret;
use serde::Deserialize;
use serde_json::json;

use crate::http::error::HttpError;
use crate::http::{AppState, Peer};
use crate::store::credentials::{OrderError, TokenOrder, mint_order};

const COOKIE: &str = "duet_console";
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Login attempts allowed per minute from one address (each counts until it succeeds).
const FAILURES_PER_MINUTE: usize = 10;
/// Login attempts allowed per minute from all addresses together (bounds the hashing work).
const ATTEMPTS_PER_MINUTE: usize = 120;

/// Console sessions and recent login attempts.
#[derive(Default)]
pub struct ConsoleSessions {
    sessions: Mutex<HashMap<String, (String, Instant)>>,
    attempts: Mutex<Attempts>,
}

#[derive(Default)]
struct Attempts {
    by_ip: HashMap<std::net::IpAddr, Vec<Instant>>,
    all: Vec<Instant>,
}

impl ConsoleSessions {
    fn create(&self, user: &str) -> String {
        let token = duet_token::hex(&crate::os::random::<32>());
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        s.retain(|_, (_, expires)| *expires > now);
        s.insert(token.clone(), (user.to_owned(), now + SESSION_TTL));
        token
    }

    fn user(&self, token: &str) -> Option<String> {
        let s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.get(token).filter(|(_, expires)| *expires > Instant::now()).map(|(u, _)| u.clone())
    }

    fn end(&self, token: &str) {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(token);
    }

    /// Counts an attempt from `ip` (as a failure until [`Self::succeeded`]); false when that
    /// address, or everyone together, tried too often in the last minute.
    fn begin_attempt(&self, ip: std::net::IpAddr) -> bool {
        let mut a = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let recent = |t: &Instant| now.duration_since(*t) < Duration::from_secs(60);
        a.all.retain(recent);
        a.by_ip.retain(|_, v| {
            v.retain(recent);
            !v.is_empty()
        });
        if a.all.len() >= ATTEMPTS_PER_MINUTE || a.by_ip.get(&ip).is_some_and(|v| v.len() >= FAILURES_PER_MINUTE) {
            return false;
        }
        a.all.push(now);
        a.by_ip.entry(ip).or_default().push(now);
        true
    }

    /// A successful login does not count against its address.
    fn succeeded(&self, ip: std::net::IpAddr) {
        let mut a = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = a.by_ip.get_mut(&ip) {
            v.pop();
        }
    }
}

/// The console and debug routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|State(state): State<AppState>| async move { page(&state, CONSOLE_HTML).await }))
        .route("/debug", get(|State(state): State<AppState>| async move { page(&state, DEBUG_HTML).await }))
        .route("/assets/{file}", get(asset))
        .route("/sdk/duet-web.js", get(web_sdk))
        .route("/console/api/login", post(login))
        .route("/console/api/logout", post(logout))
        .route("/console/api/overview", get(overview))
        .route("/console/api/apps", post(create_app))
        .route("/console/api/apps/import", post(import_app))
        .route("/console/api/apps/{app}/secret", get(reveal_secret))
        .route("/console/api/apps/{app}/token", post(mint_token))
        .route("/console/api/apps/{app}/live", get(live))
        .route("/console/api/apps/{app}/quality", get(quality_rooms))
        .route("/console/api/apps/{app}/quality/{room}", get(quality_room))
        .route("/console/api/apps/{app}/webhook", post(set_webhook))
        .route("/console/api/apps/{app}/latency", post(set_latency))
        .route("/console/api/apps/{app}/record", post(set_record))
        .route("/console/api/apps/{app}/origins", post(set_origins))
        .route("/console/api/apps/{app}/webrtc-peers", post(set_webrtc_peers))
}

const CONSOLE_HTML: &str = include_str!("../../../../web/console.html");
const DEBUG_HTML: &str = include_str!("../../../../web/debug.html");
const ASSETS: &[(&str, &str, &str)] = &[
    ("style.css", "text/css; charset=utf-8", include_str!("../../../../web/style.css")),
    ("console.js", "text/javascript; charset=utf-8", include_str!("../../../../web/console.js")),
    ("quality.js", "text/javascript; charset=utf-8", include_str!("../../../../web/quality.js")),
    ("debug.js", "text/javascript; charset=utf-8", include_str!("../../../../web/debug.js")),
    // The chart library, copied from web/node_modules at build time (build.rs).
    ("uplot.js", "text/javascript; charset=utf-8", include_str!(concat!(env!("OUT_DIR"), "/uplot.js"))),
    ("uplot.css", "text/css; charset=utf-8", include_str!(concat!(env!("OUT_DIR"), "/uplot.css"))),
];

/// The Web SDK as one ES module (sdk/web/dist, built and committed by `npm run build` there).
const WEB_SDK: &str = include_str!("../../../../sdk/web/dist/duet-web.js");

/// The pages' policy: scripts, styles and fetches from Duet's own origin and its public HTTP
/// address (the debug page's WHIP/WHEP offers and SDK log uploads go there, which is another
/// origin when the page is opened at `localhost` and the address says `127.0.0.1`),
/// WebSockets for signaling. Played and captured media are `MediaStream`s given to
/// `srcObject`, which the policy does not govern.
fn security_headers(public_http: &str) -> [(header::HeaderName, String); 3] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            format!("default-src 'self'; connect-src 'self' {public_http} ws: wss:; img-src 'self' data:"),
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (header::X_FRAME_OPTIONS, "DENY".to_owned()),
    ]
}

async fn page(state: &AppState, html: &'static str) -> Response {
    let public_http = state.urls.http.to_string();
    (security_headers(public_http.trim_end_matches('/')), [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html)
        .into_response()
}

async fn asset(Path(file): Path<String>) -> Result<Response, HttpError> {
    let (_, mime, body) =
        ASSETS.iter().find(|(name, _, _)| *name == file).ok_or_else(|| HttpError::not_found("no such asset"))?;
    Ok(([(header::CONTENT_TYPE, *mime), (header::CACHE_CONTROL, "no-cache")], *body).into_response())
}

/// A page on any origin may `import` the SDK: cross-origin module scripts need CORS.
async fn web_sdk() -> Response {
    let headers = [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")];
    (crate::http::cors::CorsHeaders::any(), headers, WEB_SDK).into_response()
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(header::COOKIE)?.to_str().ok()?;
    raw.split(';').filter_map(|c| c.trim().split_once('=')).find(|(k, _)| *k == COOKIE).map(|(_, v)| v.to_owned())
}

/// A request from a logged-in console user.
pub struct ConsoleUser(pub String);

impl FromRequestParts<AppState> for ConsoleUser {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        let user = cookie(&parts.headers).and_then(|t| state.console.user(&t));
        user.map(ConsoleUser).ok_or_else(|| HttpError::unauthorized("login_required", "log into the console"))
    }
}

/// The JSON body of a console call. Anything not sent as JSON is refused (a cross-site form
/// cannot send it), and so is JSON of another shape.
struct JsonBody<T>(T);

impl<T: serde::de::DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    /// An unreadable body keeps axum's own answer.
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let body = Bytes::from_request(req, state).await.map_err(IntoResponse::into_response)?;
        if !is_json {
            let refused = HttpError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "json_required", "send application/json");
            return Err(refused.into_response());
        }
        serde_json::from_slice(&body)
            .map(JsonBody)
            .map_err(|e| HttpError::invalid_json(format!("not the expected JSON: {e}")).into_response())
    }
}

/// Runs registry work off the async threads; what the registry refuses is `refused`.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> Result<T, HttpError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(HttpError::new(StatusCode::BAD_REQUEST, "refused", format!("{e:#}"))),
        Err(_) => Err(HttpError::internal("the registry task failed")),
    }
}

/// What a console call answers.
type Answer = Result<Json<serde_json::Value>, HttpError>;

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    JsonBody(b): JsonBody<LoginBody>,
) -> Result<Response, HttpError> {
    if !state.console.begin_attempt(peer.ip()) {
        let message = "too many login attempts; wait a minute";
        return Err(HttpError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message));
    }
    let registry = state.registry.clone();
    let username = b.username.clone();
    if !blocking(move || registry.check_admin(&username, &b.password)).await? {
        // The typed name is not logged: people sometimes type a password there.
        tracing::warn!(peer = %peer.ip(), "console login failed");
        return Err(HttpError::unauthorized("bad_credentials", "wrong username or password"));
    }
    state.console.succeeded(peer.ip());
    let token = state.console.create(&b.username);
    let secure = if state.tls { "; Secure" } else { "" };
    let set = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", SESSION_TTL.as_secs());
    Ok(([(header::SET_COOKIE, set)], Json(json!({"username": b.username}))).into_response())
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(t) = cookie(&headers) {
        state.console.end(&t);
    }
    let clear = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, clear)], Json(json!({}))).into_response()
}

/// `wss://host/ws` → `wss://host`: what goes into WeChat's legal-domain lists.
fn domain_of(url: &str) -> String {
    match url.find("://") {
        Some(i) => match url[i + 3..].find('/') {
            Some(j) => url[..i + 3 + j].to_owned(),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

async fn overview(State(state): State<AppState>, ConsoleUser(user): ConsoleUser) -> Answer {
    let registry = state.registry.clone();
    let apps = blocking(move || {
        let mut out = Vec::new();
        for a in registry.list()? {
            let hook = registry.webhook(a.app_id)?.map(|h| h.url);
            out.push(json!({"appID": a.app_id, "name": a.name, "createdAt": a.created_at, "webhookURL": hook,
                "latency": a.latency.to_string(), "allowedOrigins": a.allowed_origins.to_string(),
                "webrtcMaxPeers": a.webrtc_max_peers, "recordAll": a.record_all}));
        }
        Ok(out)
    })
    .await?;
    let u = &state.urls;
    let log_url = format!("{}/httplog", u.http.as_str().trim_end_matches('/'));
    Ok(Json(json!({
        "user": user,
        "addresses": {
            "server": u.ws.as_str(),
            "socketDomain": domain_of(u.ws.as_str()),
            "logURL": log_url,
            "requestDomain": domain_of(&log_url),
            "rtmp": u.rtmp.as_str(),
            "http": u.http.as_str(),
        },
        "apps": apps,
        "cluster": state.cluster.health().map_or("none", |h| match h {
            crate::cluster::Health::Healthy => "healthy",
            crate::cluster::Health::Degraded { .. } => "degraded",
        }),
        "nodes": state.cluster.nodes(),
    })))
}

#[derive(Deserialize)]
struct CreateBody {
    name: String,
}

async fn create_app(State(state): State<AppState>, _u: ConsoleUser, JsonBody(b): JsonBody<CreateBody>) -> Answer {
    let registry = state.registry.clone();
    let app = blocking(move || registry.create(&b.name, crate::os::now_unix())).await?;
    state.apps.invalidate(app.app_id).await;
    Ok(Json(json!({"appID": app.app_id, "name": app.name, "serverSecret": app.secret.expose()})))
}

#[derive(Deserialize)]
struct ImportBody {
    #[serde(rename = "appID")]
    app_id: u32,
    #[serde(rename = "serverSecret")]
    server_secret: String,
    name: String,
}

async fn import_app(State(state): State<AppState>, _u: ConsoleUser, JsonBody(b): JsonBody<ImportBody>) -> Answer {
    let secret =
        AppSecret::new(&b.server_secret).map_err(|_| HttpError::invalid_field("serverSecret must be 32 characters"))?;
    if b.app_id == 0 {
        return Err(HttpError::invalid_field("appID must be 1 to 4294967295"));
    }
    let registry = state.registry.clone();
    let app = blocking(move || registry.import(b.app_id, secret, &b.name, crate::os::now_unix())).await?;
    state.apps.invalidate(app.app_id).await;
    Ok(Json(json!({"appID": app.app_id, "name": app.name})))
}

async fn reveal_secret(
    State(state): State<AppState>,
    ConsoleUser(user): ConsoleUser,
    Path(app_id): Path<u32>,
) -> Answer {
    let registry = state.registry.clone();
    let app = blocking(move || registry.require(app_id)).await?;
    tracing::info!(%user, app_id, "console: ServerSecret revealed");
    Ok(Json(json!({"appID": app_id, "serverSecret": app.secret.expose()})))
}

#[derive(Deserialize)]
struct TokenBody {
    #[serde(rename = "userID")]
    user_id: String,
    #[serde(rename = "roomID", default)]
    room_id: String,
    #[serde(default = "yes")]
    login: bool,
    #[serde(default = "yes")]
    publish: bool,
    #[serde(default = "hour")]
    ttl: u32,
}

fn yes() -> bool {
    true
}

fn hour() -> u32 {
    3600
}

async fn mint_token(
    State(state): State<AppState>,
    _u: ConsoleUser,
    Path(app_id): Path<u32>,
    JsonBody(b): JsonBody<TokenBody>,
) -> Answer {
    let user_id = b.user_id.clone();
    let order = TokenOrder {
        user_id: b.user_id,
        room_id: Some(b.room_id).filter(|r| !r.is_empty()),
        login: b.login,
        publish: b.publish,
        stream_ids: None,
        ttl: b.ttl,
    };
    let registry = state.registry.clone();
    let minted = blocking(move || Ok(mint_order(&registry.require(app_id)?, order))).await?;
    let (token, expire) = minted.map_err(|e| match e {
        OrderError::Invalid(message) => HttpError::invalid_field(message),
        OrderError::Failed(e) => HttpError::internal(format!("{e:#}")),
    })?;
    Ok(Json(json!({"token": token, "userID": user_id, "expire": expire})))
}

/// Rooms of an app with their users and live streams (with play URLs); in a cluster, every
/// node's, each room naming its node (asked of each with the app's secret, as
/// `GET /api/v1/rooms?details=true`), and `unreachable` the nodes that did not answer. The hub
/// refuses only when it is not running (`internal`, 500).
async fn live(State(state): State<AppState>, _u: ConsoleUser, Path(app_id): Path<u32>) -> Answer {
    let mut v = state.signaling.admin(app_id, AdminRequest::RoomDetails).await?;
    if state.cluster.health().is_some()
        && let Some(secret) = state.apps.secret(app_id).await
    {
        let ask = |node: crate::cluster::nodes::NodeInfo| {
            let secret = secret.clone();
            async move {
                let get = hyper::Method::GET;
                let path = "/api/v1/rooms?details=true";
                let (status, body) =
                    crate::cluster::peers::call(&node, (app_id, &secret), get, path, Default::default()).await?;
                if status != 200 {
                    return Err(format!("answered {status}"));
                }
                serde_json::from_slice(&body).map_err(|e| e.to_string())
            }
        };
        v = crate::http::api::whole_cluster(&state, v, crate::http::api::LIST_ROOMS, ask).await;
    }
    v["appID"] = json!(app_id);
    Ok(Json(v))
}

/// The app's rooms with a call-quality history on this node (`server::quality`).
async fn quality_rooms(State(state): State<AppState>, _u: ConsoleUser, Path(app_id): Path<u32>) -> Answer {
    Ok(Json(json!({"appID": app_id, "rooms": state.quality.rooms(app_id, crate::os::now_unix_ms())})))
}

/// One room's call-quality history: members, timeline, samples (404 without one).
async fn quality_room(
    State(state): State<AppState>,
    _u: ConsoleUser,
    Path((app_id, room_id)): Path<(u32, String)>,
) -> Answer {
    duet_room::limits::room_id(&room_id).map_err(HttpError::from)?;
    // In a cluster the room's home keeps its history: ask it through its API.
    if let Some(node) = state.cluster.home_elsewhere(app_id, &room_id).await
        && let Some(secret) = state.apps.secret(app_id).await
    {
        let path = format!("/api/v1/rooms/{}/quality", duet_token::percent_encode(&room_id));
        let (status, body) =
            crate::cluster::peers::call(&node, (app_id, &secret), hyper::Method::GET, &path, Default::default())
                .await
                .map_err(|e| HttpError::new(axum::http::StatusCode::BAD_GATEWAY, "node_unreachable", e))?;
        if status == 404 {
            return Err(HttpError::not_found("no call in this room in the last 30 minutes"));
        }
        let v = serde_json::from_slice(&body)
            .map_err(|e| HttpError::new(axum::http::StatusCode::BAD_GATEWAY, "node_unreachable", e.to_string()))?;
        return Ok(Json(v));
    }
    state
        .quality
        .room(app_id, &room_id, crate::os::now_unix_ms())
        .map(Json)
        .ok_or_else(|| HttpError::not_found("no call in this room in the last 30 minutes on this node"))
}

#[derive(Deserialize)]
struct WebhookBody {
    url: String,
    #[serde(default)]
    secret: Option<String>,
}

async fn set_webhook(
    State(state): State<AppState>,
    _u: ConsoleUser,
    Path(app_id): Path<u32>,
    JsonBody(b): JsonBody<WebhookBody>,
) -> Answer {
    if b.url.is_empty() {
        let registry = state.registry.clone();
        blocking(move || registry.clear_webhook(app_id)).await?;
        return Ok(Json(json!({"appID": app_id, "url": null})));
    }
    crate::http_client::check_url(&b.url).map_err(HttpError::invalid_field)?;
    let secret = b.secret.filter(|s| !s.is_empty()).unwrap_or_else(crate::webhooks::new_secret);
    let hook = crate::store::registry::Webhook { url: b.url.clone(), secret: secret.clone() };
    let registry = state.registry.clone();
    blocking(move || registry.set_webhook(app_id, &hook)).await?;
    Ok(Json(json!({"appID": app_id, "url": b.url, "secret": secret})))
}

#[derive(Deserialize)]
struct LatencyBody {
    latency: String,
}

/// Sets the latency budget of the app's streams (those published from now on; docs/media.md).
async fn set_latency(
    State(state): State<AppState>,
    _u: ConsoleUser,
    Path(app_id): Path<u32>,
    JsonBody(b): JsonBody<LatencyBody>,
) -> Answer {
    let budget: duet_media::LatencyBudget =
        b.latency.trim().parse().map_err(|e: duet_media::BadBudget| HttpError::invalid_field(e.to_string()))?;
    let registry = state.registry.clone();
    let app = blocking(move || registry.set_latency(app_id, budget)).await?;
    state.apps.invalidate(app_id).await;
    Ok(Json(json!({"appID": app.app_id, "latency": app.latency.to_string()})))
}

#[derive(Deserialize)]
struct RecordBody {
    policy: String,
}

/// Sets the app's recording policy: `all` (every stream published from now on) or `none`.
async fn set_record(
    State(state): State<AppState>,
    _u: ConsoleUser,
    Path(app_id): Path<u32>,
    JsonBody(b): JsonBody<RecordBody>,
) -> Answer {
    let all = crate::http::api::recordings::policy(&b.policy)?;
    let registry = state.registry.clone();
    let app = blocking(move || registry.set_record_all(app_id, all)).await?;
    state.apps.invalidate(app_id).await;
    Ok(Json(json!({"appID": app.app_id, "policy": if app.record_all { "all" } else { "none" }})))
}

#[derive(Deserialize)]
struct OriginsBody {
    origins: String,
}

/// Sets which web pages may call the app's media endpoints (`*`, `none`, or origins separated
/// by spaces or commas; refused with `bad_origin`). Applies to the next request.
async fn set_origins(
    State(state): State<AppState>,
    _u: ConsoleUser,
    Path(app_id): Path<u32>,
    JsonBody(b): JsonBody<OriginsBody>,
) -> Answer {
    let origins: crate::http::cors::AllowedOrigins = b
        .origins
        .parse()
        .map_err(|e: crate::http::cors::BadOrigin| HttpError::new(StatusCode::BAD_REQUEST, e.code(), e.reason()))?;
    let registry = state.registry.clone();
    let app = blocking(move || registry.set_allowed_origins(app_id, &origins)).await?;
    state.apps.invalidate(app_id).await;
    Ok(Json(json!({"appID": app.app_id, "origins": app.allowed_origins.to_string()})))
}

#[derive(Deserialize)]
struct WebRtcPeersBody {
    #[serde(rename = "maxPeers")]
    max_peers: Option<u32>,
}

/// Sets the WebRTC peers the app may hold at once (`null` or 0: no cap beyond the node's).
async fn set_webrtc_peers(
    State(state): State<AppState>,
    _u: ConsoleUser,
    Path(app_id): Path<u32>,
    JsonBody(b): JsonBody<WebRtcPeersBody>,
) -> Answer {
    let max = b.max_peers.filter(|&n| n > 0);
    if max.is_some_and(|n| u64::from(n) > crate::config::MAX_WEBRTC_PEERS) {
        let limit = crate::config::MAX_WEBRTC_PEERS;
        return Err(HttpError::invalid_field(format!("maxPeers must be 1 to {limit}, or null")));
    }
    let registry = state.registry.clone();
    let app = blocking(move || registry.set_webrtc_max_peers(app_id, max)).await?;
    state.apps.invalidate(app_id).await;
    Ok(Json(json!({"appID": app.app_id, "maxPeers": app.webrtc_max_peers})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legal_domains_drop_the_path() {
        assert_eq!(domain_of("wss://rtc.example.com/ws"), "wss://rtc.example.com");
        assert_eq!(domain_of("https://rtc.example.com:8443/httplog"), "https://rtc.example.com:8443");
        assert_eq!(domain_of("ws://127.0.0.1:8080"), "ws://127.0.0.1:8080");
    }

    #[test]
    fn sessions_expire_and_end() {
        let s = ConsoleSessions::default();
        let t = s.create("admin");
        assert_eq!(s.user(&t).as_deref(), Some("admin"));
        assert_eq!(s.user("forged"), None);
        s.end(&t);
        assert_eq!(s.user(&t), None);
        let (a, b): (std::net::IpAddr, std::net::IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..FAILURES_PER_MINUTE {
            assert!(s.begin_attempt(a));
        }
        assert!(!s.begin_attempt(a), "this address is over its limit");
        assert!(s.begin_attempt(b), "others are not locked out");
        s.succeeded(b);
        assert_eq!(s.attempts.lock().unwrap().by_ip[&b].len(), 0);
    }
}
