//! The server HTTP API under `/api/v1` for business backends: see and steer rooms, users and
//! streams of one app, speak into rooms as the server, mint tokens. Requests are signed with
//! the app's ServerSecret ([`auth`]); the room work is done by the signaling hub
//! (`duet_room::admin`). docs/http-api.md documents every call; `/api/v1/openapi.json`
//! describes them.

pub mod auth;
pub mod mixer;
pub mod recordings;

use crate::store::credentials::{OrderError, TokenOrder, mint_order};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use duet_room::admin::{AdminRequest, MAX_PAGE};
use duet_room::{Refusal, limits};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use self::auth::Signed;
use crate::http::AppState;
use crate::http::error::HttpError;

/// The `/api/v1` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/rooms", get(list_rooms))
        .route("/api/v1/rooms/{room}", get(room))
        .route("/api/v1/rooms/{room}/users", get(users))
        .route("/api/v1/rooms/{room}/quality", get(quality))
        .route("/api/v1/rooms/{room}/kick", post(kick))
        .route("/api/v1/rooms/{room}/close", post(close))
        .route("/api/v1/rooms/{room}/messages", post(message))
        .route("/api/v1/rooms/{room}/commands", post(command))
        .route("/api/v1/rooms/{room}/extra-info", put(extra_info))
        .route("/api/v1/users/{user}/kick", post(kick_user))
        .route("/api/v1/streams", get(list_streams))
        .route("/api/v1/streams/{stream}/stop", post(stop_stream))
        .route("/api/v1/streams/{stream}/record", post(recordings::record))
        .route("/api/v1/recordings", get(recordings::list))
        .route("/api/v1/recording-policy", put(recordings::set_policy))
        .route("/api/v1/recordings/{stream}/{file}", axum::routing::delete(recordings::delete))
        .route("/api/v1/mixer-tasks", get(mixer::list).post(mixer::start))
        .route("/api/v1/mixer-tasks/{task}", axum::routing::delete(mixer::stop))
        .route("/api/v1/tokens", post(mint_token))
        .route("/api/v1/nodes", get(nodes))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("openapi.json")).into_response()
}

/// What a handler answers.
pub(crate) type Answer = Result<Response, HttpError>;

/// Parses a JSON body into `T` (unknown fields are refused).
pub(crate) fn parse<T: DeserializeOwned>(signed: &Signed) -> Result<T, HttpError> {
    serde_json::from_slice(&signed.body)
        .map_err(|e| HttpError::invalid_json(format!("the body is not the expected JSON: {e}")))
}

/// A field that breaks its limits is `invalid_field`, whatever the room crate calls it.
pub(crate) fn check(result: Result<(), Refusal>) -> Result<(), HttpError> {
    result.map_err(|r| HttpError::invalid_field(r.message))
}

/// Runs a request on the node whose hub holds its room (or stream): here, or, in a cluster,
/// another node, to which the signed request is passed on as it came.
async fn run(state: &AppState, signed: &Signed, request: AdminRequest) -> Answer {
    let app_id = signed.app.app_id;
    if !signed.passed.relayed {
        let home = match (request.room(), request.stream(), request.user()) {
            (Some(room), _, _) => state.cluster.home_elsewhere(app_id, room).await,
            (None, Some(stream), _) => {
                let key = duet_media::StreamKey { app_id, stream_id: stream.to_owned() };
                state.cluster.origin_of(&key).await.map(|o| o.node)
            }
            (None, None, Some(user)) => state.cluster.user_elsewhere(app_id, user).await,
            (None, None, None) => None,
        };
        if let Some(node) = home {
            return pass_on(&node, signed).await;
        }
    }
    let list = match request {
        AdminRequest::ListRooms | AdminRequest::RoomDetails => Some(LIST_ROOMS),
        AdminRequest::ListStreams => Some(LIST_STREAMS),
        _ => None,
    };
    let mut answer = state.signaling.admin(app_id, request).await?;
    // A list passed on by another node is this node's part of it only.
    if let Some(list) = list
        && state.cluster.health().is_some()
        && !signed.passed.relayed
    {
        let ask = |node: crate::cluster::nodes::NodeInfo| async move {
            let answer = pass_on(&node, signed).await.map_err(|_| "no answer".to_owned())?;
            if !answer.status().is_success() {
                return Err(format!("answered {}", answer.status()));
            }
            let body = axum::body::to_bytes(answer.into_body(), MAX_PART).await.map_err(|e| e.to_string())?;
            serde_json::from_slice(&body).map_err(|e| e.to_string())
        };
        answer = whole_cluster(state, answer, list, ask).await;
    }
    Ok(Json(answer).into_response())
}

/// A cluster-wide list: its field, and the field of each item's ID (the order).
pub type List = (&'static str, &'static str);
pub const LIST_ROOMS: List = ("rooms", "roomID");
pub const LIST_STREAMS: List = ("streams", "streamID");
/// The largest answer read from another node for its part of a list.
const MAX_PART: usize = 16 * 1024 * 1024;

/// A list of this node's (rooms or streams) joined with every other living node's (its part
/// got by `ask`), each item naming its node, ordered by ID; a node that does not answer is
/// left out and named in `unreachable`.
pub async fn whole_cluster<F, Fut>(state: &AppState, mine: Value, (field, id): List, ask: F) -> Value
where
    F: Fn(crate::cluster::nodes::NodeInfo) -> Fut,
    Fut: std::future::Future<Output = Result<Value, String>>,
{
    let mut items = Vec::new();
    let mut unreachable = Vec::new();
    let mut add = |node: &str, list: &Value| {
        for item in list[field].as_array().into_iter().flatten() {
            let mut item = item.clone();
            item["node"] = json!(node);
            items.push(item);
        }
    };
    add(state.cluster.name(), &mine);
    for node in state.cluster.nodes().into_iter().skip(1) {
        let name = node.name.clone();
        match ask(node).await {
            Ok(part) => add(&name, &part),
            Err(e) => {
                tracing::warn!(node = %name, "a node did not give its part of a cluster-wide list: {e}");
                unreachable.push(name);
            }
        }
    }
    items.sort_by(|a, b| a[id].as_str().cmp(&b[id].as_str()));
    json!({ field: items, "unreachable": unreachable })
}

/// Sends `signed` to `node` as it came, and its answer back.
async fn pass_on(node: &crate::cluster::nodes::NodeInfo, signed: &Signed) -> Answer {
    let url = format!("{}{}", node.reach().http.trim_end_matches('/'), signed.passed.path);
    let headers = signed.passed.headers_to_pass_on(&signed.app.secret);
    let method = signed.passed.method.clone();
    let answered =
        crate::http_client::call(method, &url, &headers, signed.body.clone(), std::time::Duration::from_secs(5)).await;
    match answered {
        Ok((status, body)) => {
            let status = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
            Ok((status, [(header::CONTENT_TYPE, "application/json")], body).into_response())
        }
        Err(e) => {
            tracing::warn!(node = %node.name, "cannot pass an API request on to the node holding its room: {e}");
            Err(HttpError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                "node_unreachable",
                format!("the room's node {} did not answer; try again", node.name),
            ))
        }
    }
}

/// The cluster's living nodes with their addresses and load, this node first (a node without
/// Redis lists itself), and the cluster's health as this node sees it.
async fn nodes(State(state): State<AppState>, _signed: Signed) -> Json<serde_json::Value> {
    let health = state.cluster.health();
    Json(serde_json::json!({
        "node": state.cluster.name(),
        "cluster": health.map_or("none", |h| if matches!(h, crate::cluster::Health::Healthy) { "healthy" } else { "degraded" }),
        "nodes": state.cluster.nodes(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoomsQuery {
    /// Each room in full (users, streams, extra info), as `GET /api/v1/rooms/{roomID}` gives it.
    #[serde(default)]
    details: bool,
}

async fn list_rooms(
    State(state): State<AppState>,
    query: Result<Query<RoomsQuery>, axum::extract::rejection::QueryRejection>,
    signed: Signed,
) -> Answer {
    let Ok(Query(q)) = query else {
        return Err(HttpError::invalid_field("the only parameter is details=true|false"));
    };
    let request = if q.details { AdminRequest::RoomDetails } else { AdminRequest::ListRooms };
    run(&state, &signed, request).await
}

async fn room(State(state): State<AppState>, Path(room_id): Path<String>, signed: Signed) -> Answer {
    check(limits::room_id(&room_id))?;
    run(&state, &signed, AdminRequest::Room { room_id }).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    #[serde(default)]
    offset: usize,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

async fn users(
    State(state): State<AppState>,
    Path(room_id): Path<String>,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
    signed: Signed,
) -> Answer {
    check(limits::room_id(&room_id))?;
    let Ok(Query(page)) = page else {
        return Err(HttpError::invalid_field(format!("offset and limit must be numbers; limit 1..={MAX_PAGE}")));
    };
    run(&state, &signed, AdminRequest::Users { room_id, offset: page.offset, limit: page.limit }).await
}

/// `GET /api/v1/rooms/{room}/quality`: the room's last 30 minutes (`server::quality`): members,
/// timeline, and what each member reported of each stream; asked of the room's node.
async fn quality(State(state): State<AppState>, Path(room_id): Path<String>, signed: Signed) -> Answer {
    check(limits::room_id(&room_id))?;
    // In a cluster the room's home node keeps its history (reports go where its hub is).
    if !signed.passed.relayed
        && let Some(node) = state.cluster.home_elsewhere(signed.app.app_id, &room_id).await
    {
        return pass_on(&node, &signed).await;
    }
    match state.quality.room(signed.app.app_id, &room_id, crate::os::now_unix_ms()) {
        Some(history) => Ok(Json(history).into_response()),
        None => Err(HttpError::new(
            axum::http::StatusCode::NOT_FOUND,
            "room_not_found",
            "no call in this room in the last 30 minutes (on this node)",
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KickBody {
    #[serde(rename = "userID")]
    user_id: String,
}

async fn kick(State(state): State<AppState>, Path(room_id): Path<String>, signed: Signed) -> Answer {
    check(limits::room_id(&room_id))?;
    let body: KickBody = parse(&signed)?;
    check(limits::user_id(&body.user_id))?;
    run(&state, &signed, AdminRequest::Kick { room_id, user_id: body.user_id }).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KickUserBody {
    #[serde(rename = "beforeMs")]
    before_ms: Option<u64>,
}

async fn kick_user(State(state): State<AppState>, Path(user_id): Path<String>, signed: Signed) -> Answer {
    check(limits::user_id(&user_id))?;
    let body: KickUserBody = if signed.body.is_empty() { KickUserBody { before_ms: None } } else { parse(&signed)? };
    run(&state, &signed, AdminRequest::KickUser { user_id, before_ms: body.before_ms }).await
}

async fn close(State(state): State<AppState>, Path(room_id): Path<String>, signed: Signed) -> Answer {
    check(limits::room_id(&room_id))?;
    run(&state, &signed, AdminRequest::CloseRoom { room_id }).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    message: String,
    #[serde(default)]
    barrage: bool,
}

async fn message(State(state): State<AppState>, Path(room_id): Path<String>, signed: Signed) -> Answer {
    check(limits::room_id(&room_id))?;
    let body: MessageBody = parse(&signed)?;
    check(limits::text("message", &body.message, 1, limits::MAX_MESSAGE))?;
    run(&state, &signed, AdminRequest::SendMessage { room_id, message: body.message, barrage: body.barrage }).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    command: String,
    #[serde(rename = "toUserIDList", default)]
    to_user_ids: Vec<String>,
}

async fn command(State(state): State<AppState>, Path(room_id): Path<String>, signed: Signed) -> Answer {
    check(limits::room_id(&room_id))?;
    let body: CommandBody = parse(&signed)?;
    check(limits::text("command", &body.command, 1, limits::MAX_MESSAGE))?;
    if body.to_user_ids.len() > limits::MAX_COMMAND_TARGETS {
        let most = limits::MAX_COMMAND_TARGETS;
        return Err(HttpError::invalid_field(format!("toUserIDList holds at most {most} userIDs")));
    }
    for u in &body.to_user_ids {
        check(limits::user_id(u))?;
    }
    let request = AdminRequest::SendCommand { room_id, command: body.command, to_user_ids: body.to_user_ids };
    run(&state, &signed, request).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtraBody {
    key: String,
    value: String,
}

async fn extra_info(State(state): State<AppState>, Path(room_id): Path<String>, signed: Signed) -> Answer {
    check(limits::room_id(&room_id))?;
    let body: ExtraBody = parse(&signed)?;
    check(limits::text("key", &body.key, 1, limits::MAX_EXTRA_KEY))?;
    check(limits::text("value", &body.value, 0, limits::MAX_EXTRA_VALUE))?;
    run(&state, &signed, AdminRequest::SetRoomExtra { room_id, key: body.key, value: body.value }).await
}

async fn list_streams(State(state): State<AppState>, signed: Signed) -> Answer {
    run(&state, &signed, AdminRequest::ListStreams).await
}

async fn stop_stream(State(state): State<AppState>, Path(stream_id): Path<String>, signed: Signed) -> Answer {
    check(limits::stream_id(&stream_id))?;
    run(&state, &signed, AdminRequest::StopStream { stream_id }).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    #[serde(rename = "userID")]
    user_id: String,
    #[serde(rename = "roomID")]
    room_id: Option<String>,
    #[serde(default)]
    privileges: Option<Privileges>,
    #[serde(rename = "streamIDs")]
    stream_ids: Option<Vec<String>>,
    #[serde(default = "default_ttl")]
    ttl: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Privileges {
    #[serde(default = "yes")]
    login: bool,
    #[serde(default = "yes")]
    publish: bool,
}

fn yes() -> bool {
    true
}

fn default_ttl() -> u32 {
    3600
}

async fn mint_token(signed: Signed) -> Answer {
    let body: TokenBody = parse(&signed)?;
    let privileges = body.privileges.unwrap_or(Privileges { login: true, publish: true });
    let user_id = body.user_id.clone();
    let order = TokenOrder {
        user_id: body.user_id,
        room_id: body.room_id,
        login: privileges.login,
        publish: privileges.publish,
        stream_ids: body.stream_ids,
        ttl: body.ttl,
    };
    let (token, expire) = mint_order(&signed.app, order).map_err(|e| match e {
        OrderError::Invalid(message) => HttpError::invalid_field(message),
        OrderError::Failed(e) => {
            tracing::error!(error = %e, "api: cannot mint a token");
            HttpError::internal("cannot mint a token")
        }
    })?;
    Ok(Json(json!({"token": token, "expire": expire, "userID": user_id})).into_response())
}
