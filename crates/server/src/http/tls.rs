//! TLS for HTTP and WebSocket: loading the PEM certificate and key. Each connection's task
//! completes its own handshake within the header timeout (`http::server`), so one slow or
//! hostile client delays nobody.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Reads a PEM certificate chain and private key into a server config.
pub fn load_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read TLS certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("TLS certificate {} is not valid PEM", cert.display()))?;
    if certs.is_empty() {
        bail!("TLS certificate {} holds no CERTIFICATE block", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a PEM private key from {}", key.display()))?;
    let mut config =
        builder()?.with_single_cert(certs, key).context("TLS certificate and key do not belong together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The listener's TLS settings before its certificate: ring, the safe protocol versions, no
/// client certificates (a fixed certificate here, ACME's in `server::acme`).
pub fn builder() -> anyhow::Result<rustls::ConfigBuilder<rustls::ServerConfig, rustls::server::WantsServerCert>> {
    Ok(rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("TLS protocol setup failed")?
        .with_no_client_auth())
}
