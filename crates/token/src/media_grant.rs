//! The media URL signature: the HMAC that lets the RTMP/HTTP-FLV servers trust a publish or play
//! request that signaling (or the CLI) authorized, without a database lookup.
//!
//! key = HMAC-SHA256(ServerSecret, "duet/media-url/v1"); the signature is
//! HMAC-SHA256(key, "duet/media-url/v1" | app_id u32 BE | action u8 | len-prefixed stream_id |
//! len-prefixed user_id | len-prefixed room_id | expire u64 BE), written as 64 lowercase hex characters. Every field is
//! fixed-width or length-prefixed, so no two grants share a signed message. Verification is
//! constant-time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::MediaUrlError;
use crate::secret::AppSecret;
use crate::token04::CLOCK_SKEW_SECS;

const DOMAIN: &[u8] = b"duet/media-url/v1";
const SIG_HEX_LEN: usize = 64;

/// What a media URL lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaAction {
    /// Push a stream (RTMP publish).
    Publish,
    /// Pull a stream (RTMP play, HTTP-FLV).
    Play,
}

impl MediaAction {
    fn tag(self) -> u8 {
        match self {
            Self::Publish => 1,
            Self::Play => 2,
        }
    }
}

/// The facts a media URL signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaGrant<'a> {
    /// The app the stream belongs to.
    pub app_id: u32,
    /// The stream.
    pub stream_id: &'a str,
    /// Publish or play.
    pub action: MediaAction,
    /// Who it was issued to (may be empty for anonymous play).
    pub user_id: &'a str,
    /// The room a published stream appears in (empty: none, or the publisher's reservation).
    pub room_id: &'a str,
    /// Expiry, unix seconds.
    pub expire: u64,
}

impl MediaGrant<'_> {
    /// The signature to put in the URL.
    pub fn sign(&self, secret: &AppSecret) -> String {
        crate::hex(&self.mac(secret).finalize().into_bytes())
    }

    /// Checks a signature from a URL at `now_unix`.
    pub fn verify(&self, secret: &AppSecret, signature: &str, now_unix: u64) -> Result<(), MediaUrlError> {
        let tag = decode_hex32(signature).ok_or(MediaUrlError::Malformed)?;
        self.mac(secret).verify_slice(&tag).map_err(|_| MediaUrlError::BadSignature)?;
        if now_unix > self.expire.saturating_add(CLOCK_SKEW_SECS as u64) {
            return Err(MediaUrlError::Expired { expire: self.expire });
        }
        Ok(())
    }

    fn mac(&self, secret: &AppSecret) -> Hmac<Sha256> {
        let mut mac = derived_mac(secret, DOMAIN);
        mac.update(&self.app_id.to_be_bytes());
        mac.update(&[self.action.tag()]);
        for field in [self.stream_id, self.user_id, self.room_id] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        mac.update(&self.expire.to_be_bytes());
        mac
    }
}

/// An HMAC-SHA256 for one kind of signature (`domain`), keyed with a key derived from the
/// app's secret: key = HMAC-SHA256(ServerSecret, domain), and the message starts with `domain`.
pub(crate) fn derived_mac(secret: &AppSecret, domain: &[u8]) -> Hmac<Sha256> {
    let mut kdf = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.key_bytes()).expect("HMAC takes any key length");
    kdf.update(domain);
    let key = kdf.finalize().into_bytes();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(domain);
    mac
}

/// Lowercase hex of a 32-byte tag, back to bytes (`None` for any other form).
pub(crate) fn decode_hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.as_bytes();
    if s.len() != SIG_HEX_LEN {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> AppSecret {
        AppSecret::new(s).unwrap()
    }

    fn grant() -> MediaGrant<'static> {
        MediaGrant {
            app_id: 7,
            stream_id: "s1",
            action: MediaAction::Publish,
            user_id: "u1",
            room_id: "r1",
            expire: 1000,
        }
    }

    #[test]
    fn signed_grant_verifies_until_expiry_plus_skew() {
        let k = secret("fa94dd0f974cf2e293728a526b028271");
        let sig = grant().sign(&k);
        assert_eq!(sig.len(), 64);
        assert_eq!(grant().verify(&k, &sig, 1000), Ok(()));
        assert_eq!(grant().verify(&k, &sig, 1000 + CLOCK_SKEW_SECS as u64), Ok(()));
        assert_eq!(
            grant().verify(&k, &sig, 1001 + CLOCK_SKEW_SECS as u64),
            Err(MediaUrlError::Expired { expire: 1000 })
        );
    }

    #[test]
    fn every_field_is_covered() {
        let k = secret("fa94dd0f974cf2e293728a526b028271");
        let sig = grant().sign(&k);
        let variants = [
            MediaGrant { app_id: 8, ..grant() },
            MediaGrant { stream_id: "s2", ..grant() },
            MediaGrant { action: MediaAction::Play, ..grant() },
            MediaGrant { user_id: "u2", ..grant() },
            MediaGrant { room_id: "r2", ..grant() },
            MediaGrant { user_id: "u1r", room_id: "1", ..grant() },
            MediaGrant { expire: 1001, ..grant() },
            // Moving bytes between fields must not produce the same message.
            MediaGrant { stream_id: "s1u", user_id: "1", ..grant() },
        ];
        for v in variants {
            assert_eq!(v.verify(&k, &sig, 0), Err(MediaUrlError::BadSignature), "{v:?}");
        }
        let other = secret("00000000000000000000000000000000");
        assert_eq!(grant().verify(&other, &sig, 0), Err(MediaUrlError::BadSignature));
    }

    #[test]
    fn malformed_signatures_are_refused() {
        let k = secret("fa94dd0f974cf2e293728a526b028271");
        let sig = grant().sign(&k);
        for bad in ["", "zz", &sig[..63], &format!("{sig}0"), &sig.to_uppercase(), &format!("{}g", &sig[..63])] {
            assert_eq!(grant().verify(&k, bad, 0), Err(MediaUrlError::Malformed), "{bad}");
        }
    }

    #[test]
    fn any_single_character_change_is_refused() {
        let k = secret("fa94dd0f974cf2e293728a526b028271");
        let sig = grant().sign(&k);
        for i in 0..sig.len() {
            for c in "0123456789abcdef".chars() {
                let mut s: Vec<char> = sig.chars().collect();
                if s[i] == c {
                    continue;
                }
                s[i] = c;
                let s: String = s.into_iter().collect();
                assert_eq!(grant().verify(&k, &s, 0), Err(MediaUrlError::BadSignature));
            }
        }
    }
}
