//! `Grant`: what a token04 payload allows (room, login, publish, stream IDs), and its JSON form.
//!
//! An empty payload grants login and publish in every room of the app. A non-empty payload is
//! `{"room_id": str, "privilege": {"1": 0|1, "2": 0|1}, "stream_id_list": [str] | null}`:
//! privilege "1" is login, "2" is publish; a missing privilege is denied; an empty or missing
//! `room_id` means any room; a non-empty `stream_id_list` limits which streams may be published.

use serde::{Deserialize, Serialize};

use crate::error::TokenError;

/// The rights a token carries, decoded from its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The only room this token may be used in; `None` = any room.
    pub room_id: Option<String>,
    /// Privilege 1: may log into a room.
    pub login: bool,
    /// Privilege 2: may publish streams.
    pub publish: bool,
    /// When set, the only stream IDs that may be published.
    pub stream_ids: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize)]
struct PayloadJson {
    #[serde(default)]
    room_id: Option<String>,
    #[serde(default)]
    privilege: PrivilegeJson,
    #[serde(default)]
    stream_id_list: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize, Default)]
struct PrivilegeJson {
    #[serde(rename = "1", default)]
    login: u8,
    #[serde(rename = "2", default)]
    publish: u8,
}

impl Grant {
    /// What an empty payload grants: everything, everywhere in the app.
    pub fn everything() -> Self {
        Self { room_id: None, login: true, publish: true, stream_ids: None }
    }

    /// Decodes a token's payload string.
    pub fn from_payload(payload: &str) -> Result<Self, TokenError> {
        if payload.is_empty() {
            return Ok(Self::everything());
        }
        let malformed = TokenError::Malformed("payload is not the documented JSON object");
        // serde would also read a struct from a JSON array; the format is an object.
        if !payload.trim_start().starts_with('{') {
            return Err(malformed);
        }
        let raw: PayloadJson = serde_json::from_str(payload).map_err(|_| malformed)?;
        let flag = |v: u8| match v {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(TokenError::Malformed("privilege values must be 0 or 1")),
        };
        Ok(Self {
            room_id: raw.room_id.filter(|r| !r.is_empty()),
            login: flag(raw.privilege.login)?,
            publish: flag(raw.privilege.publish)?,
            stream_ids: raw.stream_id_list.filter(|l| !l.is_empty()),
        })
    }

    /// Encodes the grant as a payload string; the full grant encodes as `""`.
    pub fn to_payload(&self) -> String {
        if *self == Self::everything() {
            return String::new();
        }
        let raw = PayloadJson {
            room_id: Some(self.room_id.clone().unwrap_or_default()),
            privilege: PrivilegeJson { login: self.login.into(), publish: self.publish.into() },
            stream_id_list: self.stream_ids.clone(),
        };
        // Serializing plain strings, integers and lists cannot fail.
        serde_json::to_string(&raw).expect("payload serializes")
    }

    /// May the holder log into `room_id`?
    pub fn ensure_login(&self, room_id: &str) -> Result<(), TokenError> {
        if !self.login {
            return Err(TokenError::LoginDenied);
        }
        self.ensure_room(room_id)
    }

    /// May the holder publish `stream_id` in `room_id`?
    pub fn ensure_publish(&self, room_id: &str, stream_id: &str) -> Result<(), TokenError> {
        if !self.publish {
            return Err(TokenError::PublishDenied);
        }
        self.ensure_room(room_id)?;
        match &self.stream_ids {
            Some(list) if !list.iter().any(|s| s == stream_id) => Err(TokenError::StreamNotAllowed),
            _ => Ok(()),
        }
    }

    fn ensure_room(&self, room_id: &str) -> Result<(), TokenError> {
        match &self.room_id {
            Some(r) if r != room_id => Err(TokenError::RoomMismatch),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_payload_grants_everything() {
        let g = Grant::from_payload("").unwrap();
        assert_eq!(g, Grant::everything());
        assert_eq!(g.ensure_login("any"), Ok(()));
        assert_eq!(g.ensure_publish("any", "s"), Ok(()));
        assert_eq!(g.to_payload(), "");
    }

    #[test]
    fn room_payload_limits_room_and_privileges() {
        let g = Grant::from_payload(r#"{"room_id":"demo","privilege":{"1":1,"2":0},"stream_id_list":null}"#).unwrap();
        assert_eq!(g.ensure_login("demo"), Ok(()));
        assert_eq!(g.ensure_login("other"), Err(TokenError::RoomMismatch));
        assert_eq!(g.ensure_publish("demo", "s"), Err(TokenError::PublishDenied));
    }

    #[test]
    fn stream_list_limits_publishing() {
        let g =
            Grant::from_payload(r#"{"room_id":"","privilege":{"1":1,"2":1},"stream_id_list":["s1","s2"]}"#).unwrap();
        assert_eq!(g.room_id, None);
        assert_eq!(g.ensure_publish("r", "s2"), Ok(()));
        assert_eq!(g.ensure_publish("r", "s3"), Err(TokenError::StreamNotAllowed));
    }

    #[test]
    fn missing_privileges_are_denied() {
        let g = Grant::from_payload(r#"{"room_id":"r"}"#).unwrap();
        assert_eq!(g.ensure_login("r"), Err(TokenError::LoginDenied));
        assert_eq!(g.ensure_publish("r", "s"), Err(TokenError::PublishDenied));
    }

    #[test]
    fn odd_payloads_are_malformed() {
        for p in ["x", "[]", r#"{"privilege":{"1":2}}"#, r#"{"privilege":{"1":"1"}}"#, r#"{"room_id":5}"#] {
            assert!(matches!(Grant::from_payload(p), Err(TokenError::Malformed(_))), "{p}");
        }
    }

    #[test]
    fn payload_round_trips() {
        let g = Grant { room_id: Some("room".into()), login: true, publish: false, stream_ids: Some(vec!["a".into()]) };
        assert_eq!(Grant::from_payload(&g.to_payload()).unwrap(), g);
    }
}
