//! What a connection task does to a frame before the hub sees it: [`prepare`] checks a
//! `login` against its app and token (AES decryption and JSON parsing: the expensive part of a
//! login), so that work runs on every core, not on the hub's single task. The hub only accepts
//! a [`Prepared`] frame, and a login in one carries the outcome of that check.
//!
//! The rule "a login is checked against its token" lives here, in two halves: [`prepare`]
//! (protocol, app, token) where the frame is received, and [`LoginCheck::admit`] (expiry at the
//! hub's own `now`, user, room) when the hub handles it. Token renewals are checked in the hub
//! (`rooms::renew_token`): they are rare, and only the hub knows the session's app.

use duet_token::{AppSecret, Claims};

use crate::error::{ErrorCode, Refusal};
use crate::wire::{self, Frame, FrameError, Login, Request};

/// A received frame, ready for [`Hub::handle_frame`](crate::Hub::handle_frame). Made only by
/// [`prepare`], so a login cannot reach the hub unchecked.
#[derive(Debug)]
pub struct Prepared {
    pub(crate) frame: Result<Frame, FrameError>,
    /// For a login: how its check went. `None` for every other frame.
    pub(crate) login: Option<LoginCheck>,
}

impl Prepared {
    /// The app and room of a login whose token checked out where it was received: a login a
    /// cluster routes to its room's home node. `None` for every other frame.
    pub fn login_room(&self) -> Option<(u32, &str)> {
        match (&self.frame, &self.login) {
            (Ok(Frame { request: Request::Login(l), .. }), Some(LoginCheck(Ok(_)))) => Some((l.app_id, &l.room_id)),
            _ => None,
        }
    }

    /// The `sessionID` a resume names: a cluster routes it to the node holding that session.
    pub fn resume_session(&self) -> Option<&str> {
        match &self.frame {
            Ok(Frame { request: Request::Resume { session_id, .. }, .. }) => Some(session_id),
            _ => None,
        }
    }

    /// The stream a `publish` asks to reserve: a cluster refuses a stream live on another node.
    pub fn publish_stream(&self) -> Option<&str> {
        match &self.frame {
            Ok(Frame { request: Request::Publish { stream_id, .. }, .. }) => Some(stream_id),
            _ => None,
        }
    }

    /// The request's ID, when the frame had one.
    pub fn request_id(&self) -> Option<u64> {
        match &self.frame {
            Ok(f) => Some(f.id),
            Err(e) => e.id,
        }
    }
}

/// The outcome of a login's check where it was received.
#[derive(Debug)]
pub(crate) struct LoginCheck(Result<Verified, Refusal>);

/// A login whose app is registered and whose token decrypted to these claims.
#[derive(Debug)]
pub(crate) struct Verified {
    pub secret: AppSecret,
    pub claims: Claims,
}

/// Prepares a parsed frame for the hub, at `now_unix` (unix seconds). `secret` is the app's
/// secret when the request named an app ([`wire::Request::app_to_look_up`]) registered on this
/// server. A login's token is verified here: call this on the connection's task, not the hub's.
pub fn prepare(frame: Result<Frame, FrameError>, secret: Option<AppSecret>, now_unix: i64) -> Prepared {
    let login = match &frame {
        Ok(Frame { request: Request::Login(l), .. }) => Some(LoginCheck(check(l, secret, now_unix))),
        _ => None,
    };
    Prepared { frame, login }
}

/// Protocol, app and token of a login, in the order their refusals take precedence.
fn check(l: &Login, secret: Option<AppSecret>, now_unix: i64) -> Result<Verified, Refusal> {
    if l.protocol != wire::PROTOCOL_VERSION {
        return Err(Refusal::new(
            ErrorCode::UnsupportedProtocol,
            format!("this server speaks protocol {}", wire::PROTOCOL_VERSION),
        ));
    }
    let secret =
        secret.ok_or_else(|| Refusal::new(ErrorCode::UnknownApp, format!("no app with AppID {}", l.app_id)))?;
    let claims = duet_token::verify(&l.token, l.app_id, &secret, now_unix)?;
    Ok(Verified { secret, claims })
}

impl LoginCheck {
    /// The hub's half of the check of login `l`: the token must still be valid at the hub's
    /// `now_unix` (it may have expired since it was verified), and be the user's, for the room.
    pub(crate) fn admit(self, l: &Login, now_unix: i64) -> Result<Verified, Refusal> {
        let verified = self.0?;
        verified.claims.ensure_unexpired(now_unix)?;
        verified.claims.ensure_user(&l.user.user_id)?;
        verified.claims.grant.ensure_login(&l.room_id)?;
        Ok(verified)
    }

    /// A login that reached the hub without a check: a bug in the caller, refused.
    pub(crate) fn missing() -> Refusal {
        Refusal::new(ErrorCode::Internal, "the login was not prepared (its token was not verified)")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use duet_token::{Cipher, Grant};
    use serde_json::{Value, json};

    use super::*;
    use crate::{ConnId, Hub, Now, Output, RoomConfig, UrlConfig};

    const APP: u32 = 1234;
    const T0: u64 = 1_790_000_000_000;

    fn secret() -> AppSecret {
        AppSecret::new("fa94dd0f974cf2e293728a526b028271").unwrap()
    }

    #[allow(clippy::disallowed_methods)] // the virtual clock starts at some real instant
    fn hub() -> (Hub, Now) {
        let bases =
            duet_token::MediaBases { rtmp: "rtmp://127.0.0.1:1935".into(), http: "http://127.0.0.1:8080".into() };
        let mut hub = Hub::new(RoomConfig::new(UrlConfig { bases, ttl_secs: 3600 }), [9; 32]);
        let now = Now { at: Instant::now(), unix_ms: T0 };
        hub.connect(now, ConnId(1));
        while hub.poll_output().is_some() {}
        (hub, now)
    }

    /// A login of user `A` into room `r` whose token is not a token at all.
    fn garbage_login() -> Result<Frame, FrameError> {
        let data = json!({"protocol": 1, "appID": APP, "roomID": "r", "token": "not a token",
            "user": {"userID": "A", "userName": "a"}});
        wire::parse(&json!({"id": 1, "op": "login", "data": data}).to_string())
    }

    fn reply(hub: &mut Hub) -> Value {
        let mut replies = std::iter::from_fn(|| hub.poll_output()).filter_map(|out| match out {
            Output::Send { frame, .. } => Some(serde_json::from_str::<Value>(&frame).unwrap()),
            _ => None,
        });
        replies.find(|m| m["id"] == 1).expect("a reply")
    }

    #[test]
    fn the_connection_task_verifies_logins() {
        let prepared = prepare(garbage_login(), Some(secret()), (T0 / 1000) as i64);
        let refusal = prepared.login.expect("a login is checked").0.unwrap_err();
        assert_eq!(refusal.code, ErrorCode::TokenMalformed);
    }

    /// A garbage login arriving with claims for user `A` verified elsewhere, expiring at `expire`.
    fn verified_elsewhere(expire: i64) -> Prepared {
        let claims = Claims {
            app_id: APP,
            user_id: "A".into(),
            nonce: 1,
            ctime: expire - 3600,
            expire,
            payload: String::new(),
            grant: Grant::everything(),
            cipher: Cipher::Gcm,
        };
        let verified = Verified { secret: secret(), claims };
        Prepared { frame: garbage_login(), login: Some(LoginCheck(Ok(verified))) }
    }

    /// The hub trusts the prepared claims and decrypts nothing: a login whose token string is
    /// garbage logs in when it arrives with claims verified elsewhere.
    #[test]
    fn the_hub_decrypts_nothing() {
        let (mut hub, now) = hub();
        hub.handle_frame(now, ConnId(1), verified_elsewhere(now.unix_s() + 3600));
        let r = reply(&mut hub);
        assert_eq!(r["code"], 0, "{r}");
        assert_eq!(r["data"]["tokenExpire"], now.unix_s() + 3600);
        assert_eq!(hub.session_count(), 1);
    }

    /// A token that expired between its verification and the hub's turn is refused, as if the
    /// hub had verified it at its own `now`.
    #[test]
    fn the_hub_checks_expiry_at_its_own_now() {
        let (mut hub, now) = hub();
        let expire = now.unix_s() - duet_token::CLOCK_SKEW_SECS - 1;
        hub.handle_frame(now, ConnId(1), verified_elsewhere(expire));
        let r = reply(&mut hub);
        assert_eq!(r["code"], ErrorCode::TokenExpired.number(), "{r}");
        assert_eq!(hub.session_count(), 0);
    }

    /// Misuse is not a silent success: a login without a check is refused.
    #[test]
    fn an_unprepared_login_is_refused() {
        let (mut hub, now) = hub();
        hub.handle_frame(now, ConnId(1), Prepared { frame: garbage_login(), login: None });
        let r = reply(&mut hub);
        assert_eq!(r["code"], ErrorCode::Internal.number(), "{r}");
        assert_eq!(hub.session_count(), 0);
    }

    #[test]
    fn prepared_frames_cross_threads() {
        fn send<T: Send>() {}
        send::<Prepared>();
    }
}
