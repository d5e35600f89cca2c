//! The data of the webhook events that close something (docs/http-api.md), built in one place:
//! the hub emits them, and the server closes out what a crashed run left open with the same
//! shapes.

use serde_json::{Value, json};

/// `user.logout`: a user left a room.
pub fn user_logout(room_id: &str, user_id: &str, user_name: &str, reason: &str) -> Value {
    json!({"roomID": room_id, "userID": user_id, "userName": user_name, "reason": reason})
}

/// `stream.closed`: a live stream ended after `duration_ms`, having carried `bytes` of media.
pub fn stream_closed(
    room_id: &str,
    stream_id: &str,
    user_id: &str,
    duration_ms: u64,
    bytes: u64,
    reason: &str,
) -> Value {
    json!({
        "roomID": room_id, "streamID": stream_id, "userID": user_id,
        "durationMs": duration_ms, "bytes": bytes, "reason": reason,
    })
}

/// `room.closed`: a room's last member left.
pub fn room_closed(room_id: &str) -> Value {
    json!({"roomID": room_id})
}
