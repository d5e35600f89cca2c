//! The log upload credential (`logToken`): signaling hands it to a session in its `login`
//! reply, and the session's SDK presents it to `POST /httplog`, so knowing an AppID is not
//! enough to spend the app's log quota.
//!
//! The token is `<expire>.<sig>`: `expire` in unix seconds, and `sig` the lowercase hex of
//! HMAC-SHA256(key, "duet/log-upload/v1" | app_id u32 BE | len-prefixed session_id |
//! len-prefixed user_id | expire u64 BE) with key = HMAC-SHA256(ServerSecret,
//! "duet/log-upload/v1"). It needs no server state: any node that knows the app's secret
//! verifies it, a restart does not invalidate it, and rotating the secret does.

use hmac::Mac;

use crate::error::LogTokenError;
use crate::media_grant::{decode_hex32, derived_mac};
use crate::secret::AppSecret;
use crate::token04::CLOCK_SKEW_SECS;

const DOMAIN: &[u8] = b"duet/log-upload/v1";

/// How long a log token is valid after it is issued: a day, so the uploads a session makes
/// after its logout (the SDK's last batch) still count, and a new login brings a new one.
pub const LOG_TOKEN_TTL_SECS: u64 = 24 * 3600;

/// Whom a log token is issued to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogGrant<'a> {
    /// The app whose quota the uploads spend.
    pub app_id: u32,
    /// The signaling session (`sessionID`).
    pub session_id: &'a str,
    /// The session's user.
    pub user_id: &'a str,
}

impl LogGrant<'_> {
    /// The token, valid until `expire` (unix seconds).
    pub fn token(&self, secret: &AppSecret, expire: u64) -> String {
        let tag = self.mac(secret, expire).finalize().into_bytes();
        format!("{expire}.{}", crate::hex(&tag))
    }

    /// Checks a token presented for this grant at `now_unix`; returns its expiry.
    pub fn verify(&self, secret: &AppSecret, token: &str, now_unix: u64) -> Result<u64, LogTokenError> {
        let (expire, sig) = token.split_once('.').ok_or(LogTokenError::Malformed)?;
        if expire.is_empty() || !expire.bytes().all(|b| b.is_ascii_digit()) {
            return Err(LogTokenError::Malformed);
        }
        let expire: u64 = expire.parse().map_err(|_| LogTokenError::Malformed)?;
        let tag = decode_hex32(sig).ok_or(LogTokenError::Malformed)?;
        self.mac(secret, expire).verify_slice(&tag).map_err(|_| LogTokenError::BadSignature)?;
        if now_unix > expire.saturating_add(CLOCK_SKEW_SECS as u64) {
            return Err(LogTokenError::Expired { expire });
        }
        Ok(expire)
    }

    fn mac(&self, secret: &AppSecret, expire: u64) -> hmac::Hmac<sha2::Sha256> {
        let mut mac = derived_mac(secret, DOMAIN);
        mac.update(&self.app_id.to_be_bytes());
        for field in [self.session_id, self.user_id] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        mac.update(&expire.to_be_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRANT: LogGrant<'static> = LogGrant { app_id: 7, session_id: "17", user_id: "alice" };

    fn secret() -> AppSecret {
        AppSecret::new("fa94dd0f974cf2e293728a526b028271").unwrap()
    }

    #[test]
    fn a_token_verifies_for_its_grant_until_expiry_plus_skew() {
        let token = GRANT.token(&secret(), 1000);
        assert!(token.starts_with("1000."), "{token}");
        assert_eq!(GRANT.verify(&secret(), &token, 1000 + CLOCK_SKEW_SECS as u64), Ok(1000));
        assert_eq!(
            GRANT.verify(&secret(), &token, 1001 + CLOCK_SKEW_SECS as u64),
            Err(LogTokenError::Expired { expire: 1000 })
        );
    }

    #[test]
    fn every_field_and_the_secret_are_covered() {
        let token = GRANT.token(&secret(), 1000);
        let others = [
            LogGrant { app_id: 8, ..GRANT },
            LogGrant { session_id: "18", ..GRANT },
            LogGrant { user_id: "bob", ..GRANT },
            // Moving bytes between fields must not produce the same message.
            LogGrant { session_id: "17a", user_id: "lice", ..GRANT },
        ];
        for g in others {
            assert_eq!(g.verify(&secret(), &token, 0), Err(LogTokenError::BadSignature), "{g:?}");
        }
        let other = AppSecret::new("00000000000000000000000000000000").unwrap();
        assert_eq!(GRANT.verify(&other, &token, 0), Err(LogTokenError::BadSignature));
        // A later expiry cannot be written over the signed one.
        let (_, sig) = token.split_once('.').unwrap();
        assert_eq!(GRANT.verify(&secret(), &format!("9999999999.{sig}"), 0), Err(LogTokenError::BadSignature));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let token = GRANT.token(&secret(), 1000);
        let (expire, sig) = token.split_once('.').unwrap();
        for bad in
            ["", ".", expire, sig, &format!(".{sig}"), &format!("+1000.{sig}"), &format!("{expire}.{}", &sig[1..])]
        {
            assert_eq!(GRANT.verify(&secret(), bad, 0), Err(LogTokenError::Malformed), "{bad}");
        }
    }
}
