//! Signatures of the server HTTP API and of webhooks. No I/O, no clock: the caller passes the
//! time and checks freshness and nonces itself.
//!
//! API request: `X-Duet-Signature` = lowercase hex of HMAC-SHA256, keyed with the app's
//! ServerSecret (its 32 characters as bytes), over
//! `"{appID}\n{timestamp}\n{nonce}\n{METHOD}\n{path and query}\n{hex SHA-256 of the body}"`.
//! Webhook: `X-Duet-Signature` = `sha256=` + lowercase hex of HMAC-SHA256, keyed with the
//! webhook secret, over `"{timestamp}.{body}"`. Both can be computed with `openssl dgst -hmac`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::secret::AppSecret;

/// The parts of an API request the signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRequest<'a> {
    /// `X-Duet-AppID`.
    pub app_id: u32,
    /// `X-Duet-Timestamp`, unix seconds.
    pub timestamp: i64,
    /// `X-Duet-Nonce`.
    pub nonce: &'a str,
    /// HTTP method, upper case.
    pub method: &'a str,
    /// Path and query exactly as sent, e.g. `/api/v1/rooms/r1/users?limit=10`.
    pub path: &'a str,
    /// The request body (empty for GET).
    pub body: &'a [u8],
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 0x0f)]));
    }
    out
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac
}

impl ApiRequest<'_> {
    fn mac(&self, secret: &AppSecret) -> Hmac<Sha256> {
        let head = format!("{}\n{}\n{}\n{}\n{}\n", self.app_id, self.timestamp, self.nonce, self.method, self.path);
        let body = hex(&Sha256::digest(self.body));
        hmac(secret.key_bytes(), &[head.as_bytes(), body.as_bytes()])
    }

    /// The signature a client sends.
    pub fn sign(&self, secret: &AppSecret) -> String {
        hex(&self.mac(secret).finalize().into_bytes())
    }

    /// Whether `signature` (lowercase hex) is right, compared in constant time.
    pub fn verify(&self, secret: &AppSecret, signature: &str) -> bool {
        match decode_hex(signature) {
            Some(tag) => self.mac(secret).verify_slice(&tag).is_ok(),
            None => false,
        }
    }
}

/// The proof a cluster node adds when it passes a signed API request on to another node
/// (`X-Duet-Passed-On`): lowercase hex of HMAC-SHA256, keyed with the app's ServerSecret, over
/// `"duet/passed-on/v1\n{signature}"`. Only a holder of the secret makes it, so a client
/// cannot use it to replay its request at a second node.
pub fn passed_on_proof(secret: &AppSecret, signature: &str) -> String {
    hex(&hmac(secret.key_bytes(), &[b"duet/passed-on/v1\n", signature.as_bytes()]).finalize().into_bytes())
}

/// Whether `proof` is [`passed_on_proof`] of `signature`, compared in constant time.
pub fn verify_passed_on(secret: &AppSecret, signature: &str, proof: &str) -> bool {
    match decode_hex(proof) {
        Some(tag) => {
            hmac(secret.key_bytes(), &[b"duet/passed-on/v1\n", signature.as_bytes()]).verify_slice(&tag).is_ok()
        }
        None => false,
    }
}

/// The `X-Duet-Signature` header of a webhook delivery.
pub fn webhook_signature(webhook_secret: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = format!("{timestamp}.");
    format!("sha256={}", hex(&hmac(webhook_secret.as_bytes(), &[ts.as_bytes(), body]).finalize().into_bytes()))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    s.as_bytes().chunks_exact(2).map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> AppSecret {
        AppSecret::new("fa94dd0f974cf2e293728a526b028271").unwrap()
    }

    fn request(body: &[u8]) -> ApiRequest<'_> {
        ApiRequest {
            app_id: 7,
            timestamp: 1_790_000_000,
            nonce: "n0nce",
            method: "POST",
            path: "/api/v1/rooms/r/kick",
            body,
        }
    }

    #[test]
    fn a_passed_on_proof_needs_the_secret_and_the_signature() {
        let proof = passed_on_proof(&secret(), "abc");
        assert!(verify_passed_on(&secret(), "abc", &proof));
        assert!(!verify_passed_on(&secret(), "abd", &proof));
        let other = AppSecret::new("00000000000000000000000000000000").unwrap();
        assert!(!verify_passed_on(&other, "abc", &proof));
        assert!(!verify_passed_on(&secret(), "abc", "zz"));
    }

    #[test]
    fn matches_an_independent_hmac() {
        // What `openssl dgst -sha256 -hmac SECRET` prints for the documented string.
        let body = br#"{"userID":"u"}"#;
        let canonical = format!("7\n1790000000\nn0nce\nPOST\n/api/v1/rooms/r/kick\n{}", hex(&Sha256::digest(body)));
        let expected = hex(&hmac(b"fa94dd0f974cf2e293728a526b028271", &[canonical.as_bytes()]).finalize().into_bytes());
        assert_eq!(request(body).sign(&secret()), expected);
        assert!(request(body).verify(&secret(), &expected));
    }

    #[test]
    fn any_change_is_refused() {
        let body = br#"{"userID":"u"}"#;
        let sig = request(body).sign(&secret());
        let variants = [
            ApiRequest { app_id: 8, ..request(body) },
            ApiRequest { timestamp: 1_790_000_001, ..request(body) },
            ApiRequest { nonce: "n0ncf", ..request(body) },
            ApiRequest { method: "GET", ..request(body) },
            ApiRequest { path: "/api/v1/rooms/q/kick", ..request(body) },
            request(br#"{"userID":"v"}"#),
        ];
        for v in variants {
            assert!(!v.verify(&secret(), &sig), "{v:?}");
        }
        assert!(!request(body).verify(&secret(), &sig.to_uppercase()));
        assert!(!request(body).verify(&secret(), "short"));
        let other = AppSecret::new("00000000000000000000000000000000").unwrap();
        assert!(!request(body).verify(&other, &sig));
    }

    #[test]
    fn webhook_signature_covers_time_and_body() {
        let a = webhook_signature("whsec", 1, b"{}");
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64);
        assert_ne!(a, webhook_signature("whsec", 2, b"{}"));
        assert_ne!(a, webhook_signature("whsec", 1, b"{ }"));
        assert_ne!(a, webhook_signature("other", 1, b"{}"));
    }
}
