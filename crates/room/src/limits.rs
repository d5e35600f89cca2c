//! Limits on what clients send: ID lengths and characters, message and extra-info sizes.
//! docs/protocol.md repeats these numbers; change both together.

use crate::error::{ErrorCode, Refusal};

/// roomID: 1..=128 bytes of printable ASCII, no space.
pub const MAX_ROOM_ID: usize = 128;
/// userID: 1..=64 bytes of printable ASCII, no space.
pub const MAX_USER_ID: usize = 64;
/// userName: 0..=256 bytes of UTF-8 without control characters.
pub const MAX_USER_NAME: usize = 256;
/// streamID: 1..=256 bytes of `[0-9A-Za-z_-]` (the rule is `duet_token::is_stream_id`'s).
pub const MAX_STREAM_ID: usize = duet_token::MAX_STREAM_ID;
/// Broadcast and barrage messages, custom commands: 1..=1024 bytes.
pub const MAX_MESSAGE: usize = 1024;
/// Room extra-info key: 1..=128 bytes; value: 0..=4096 bytes.
pub const MAX_EXTRA_KEY: usize = 128;
/// Room extra-info value.
pub const MAX_EXTRA_VALUE: usize = 4096;
/// Distinct room extra-info keys per room.
pub const MAX_EXTRA_KEYS: usize = 32;
/// Stream extra info: 0..=1024 bytes.
pub const MAX_STREAM_EXTRA: usize = 1024;
/// Recipients of one custom command.
pub const MAX_COMMAND_TARGETS: usize = 100;
/// Largest frame the protocol answers with an error instead of closing the connection.
pub const MAX_FRAME: usize = 16 * 1024;

fn invalid(field: &str, rule: &str) -> Refusal {
    Refusal::new(ErrorCode::InvalidField, format!("{field} {rule}"))
}

fn printable_id(field: &str, s: &str, max: usize) -> Result<(), Refusal> {
    if s.is_empty() || s.len() > max {
        return Err(invalid(field, &format!("must be 1 to {max} bytes")));
    }
    if !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(field, "must be printable ASCII without spaces"));
    }
    Ok(())
}

/// Checks a roomID.
pub fn room_id(s: &str) -> Result<(), Refusal> {
    printable_id("roomID", s, MAX_ROOM_ID)
}

/// Checks a userID. A leading `$` is reserved (`$server` is the business server speaking
/// through the HTTP API), so no client can pose as it.
pub fn user_id(s: &str) -> Result<(), Refusal> {
    printable_id("userID", s, MAX_USER_ID)?;
    if s.starts_with('$') {
        return Err(invalid("userID", "must not start with `$` (reserved for the server)"));
    }
    Ok(())
}

/// Checks a userName.
pub fn user_name(s: &str) -> Result<(), Refusal> {
    if s.len() > MAX_USER_NAME || s.chars().any(char::is_control) {
        return Err(invalid("userName", &format!("must be at most {MAX_USER_NAME} bytes without control characters")));
    }
    Ok(())
}

/// Checks a streamID.
pub fn stream_id(s: &str) -> Result<(), Refusal> {
    if !duet_token::is_stream_id(s) {
        return Err(invalid("streamID", &format!("must be 1 to {MAX_STREAM_ID} bytes of [0-9A-Za-z_-]")));
    }
    Ok(())
}

/// Checks a text field's size bounds.
pub fn text(field: &str, s: &str, min: usize, max: usize) -> Result<(), Refusal> {
    if s.len() < min || s.len() > max {
        return Err(invalid(field, &format!("must be {min} to {max} bytes")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(room_id("room-1").is_ok());
        assert!(room_id("").is_err());
        assert!(room_id("a b").is_err());
        assert!(room_id(&"r".repeat(129)).is_err());
        assert!(user_id("用户").is_err());
        assert!(user_name("张三").is_ok());
        assert!(user_name("a\nb").is_err());
        assert!(stream_id("streamID_xxx-1").is_ok());
        assert!(stream_id(&"s".repeat(256)).is_ok());
        assert!(stream_id(&"s".repeat(257)).is_err());
        assert!(stream_id("a.b").is_err());
        assert!(stream_id("../x").is_err());
    }
}
