//! `CertResolver`: which certificate a TLS handshake gets when the certificate comes from ACME.
//! A client asking for ALPN `acme-tls/1` (the CA validating a TLS-ALPN-01 challenge, RFC 8737)
//! gets the challenge certificate of the name it asked for, while one is pending; every other
//! client gets the current certificate, which a renewal replaces without a restart (the next
//! handshake takes the new one). Before the first certificate is issued, other handshakes fail
//! (there is nothing valid to show).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The ALPN protocol of TLS-ALPN-01 validation.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The served certificate and the pending challenge answers.
#[derive(Debug, Default)]
pub struct CertResolver {
    current: RwLock<Option<Arc<CertifiedKey>>>,
    challenges: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl CertResolver {
    /// Serves `key` from the next handshake on.
    pub fn set_current(&self, key: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(key);
    }

    /// Whether a certificate is served.
    pub fn has_current(&self) -> bool {
        self.current.read().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Answers TLS-ALPN-01 validation of `domain` with `key` until [`CertResolver::clear_challenge`].
    pub fn set_challenge(&self, domain: &str, key: Arc<CertifiedKey>) {
        self.challenges().insert(domain.to_ascii_lowercase(), key);
    }

    /// Stops answering validation of `domain`.
    pub fn clear_challenge(&self, domain: &str) {
        self.challenges().remove(&domain.to_ascii_lowercase());
    }

    fn challenges(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<CertifiedKey>>> {
        self.challenges.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let validation = hello.alpn().is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if validation {
            // Only the challenge certificate answers acme-tls/1 (RFC 8737 section 3), never the
            // served one; no pending challenge for the name: the handshake fails.
            let name = hello.server_name()?.to_ascii_lowercase();
            return self.challenges().get(&name).cloned();
        }
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
