//! The HTTP API's mixer calls (docs/http-api.md, docs/mixing.md), the business server's way to
//! the same tasks the SDKs' `startMixerTask` start (`crate::mix`):
//! - `POST /api/v1/mixer-tasks` with the task's config (the SDKs' shape; `roomID` names the
//!   room whose members hear of the outputs): start it, or change it when its taskID runs;
//! - `DELETE /api/v1/mixer-tasks/{taskID}`: stop it;
//! - `GET /api/v1/mixer-tasks`: the app's tasks on this node, with their state.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use duet_room::mixer::{MixerCall, MixerConfig, MixerOrder};
use serde_json::{Value, json};

use super::Answer;
use super::auth::Signed;
use crate::http::AppState;
use crate::http::error::HttpError;

fn order(signed: &Signed, room_id: String, call: MixerCall) -> MixerOrder {
    MixerOrder {
        app_id: signed.app.app_id,
        secret: signed.app.secret.clone(),
        user_id: "$server".into(),
        room_id,
        call,
    }
}

/// `POST /api/v1/mixer-tasks`.
pub async fn start(State(state): State<AppState>, signed: Signed) -> Answer {
    let body: Value = serde_json::from_slice(&signed.body)
        .map_err(|e| HttpError::invalid_json(format!("the body is not a JSON object: {e}")))?;
    let config = MixerConfig::parse(&body)?;
    let room_id = config.room_id.clone().unwrap_or_default();
    let reply = state.mixer.order(order(&signed, room_id, MixerCall::Start(Box::new(config))))?;
    Ok(Json(reply).into_response())
}

/// `DELETE /api/v1/mixer-tasks/{taskID}`.
pub async fn stop(State(state): State<AppState>, Path(task_id): Path<String>, signed: Signed) -> Answer {
    duet_room::mixer::task_id(&task_id)?;
    let reply = state.mixer.order(order(&signed, String::new(), MixerCall::Stop { task_id }))?;
    Ok(Json(reply).into_response())
}

/// `GET /api/v1/mixer-tasks`.
pub async fn list(State(state): State<AppState>, signed: Signed) -> Answer {
    Ok(Json(json!({"tasks": state.mixer.list(signed.app.app_id)})).into_response())
}
