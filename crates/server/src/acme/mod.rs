//! `server::acme`: the HTTPS/WSS certificate obtained and renewed automatically from an ACME CA
//! (RFC 8555; Let's Encrypt by default) for `--acme-domain`, so a mini-program's required
//! `wss://`/`https://` needs no certificate handling by the operator.
//!
//! Owns: the account at the CA, the order for the configured domains, answering the CA's
//! TLS-ALPN-01 validation (RFC 8737) on Duet's own TLS listener (no port 80, no web server
//! beside), storing what was issued (`store`), serving it (`resolver`, swapped without a
//! restart) and deciding when to renew (`schedule`, pure). The ACME protocol itself is
//! instant-acme's. The HTTP listener is where the CA connects: it must be reachable on port 443
//! of every domain (`--http 0.0.0.0:443`, or a port forwarded from 443).

mod resolver;
mod schedule;
mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::CertifiedKey;
use tokio::sync::watch;

pub use resolver::{ACME_TLS_ALPN, CertResolver};
pub use store::{Issued, Store};

/// Let's Encrypt's production directory, the default CA.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Most domains one certificate names.
pub const MAX_DOMAINS: usize = 20;
/// Longest the CA may take to validate, and then to issue.
const CA_WAIT: Duration = Duration::from_secs(90);
/// Longest sleep between looks at the clock (a suspended machine wakes to a stale timer).
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// `--acme-*`: what to ask for, from whom.
#[derive(Debug, Clone)]
pub struct AcmeSettings {
    /// DNS names the certificate holds (checked, lower case).
    pub domains: Vec<String>,
    /// Contact address the CA writes to about expiry and problems.
    pub email: Option<String>,
    /// The CA's directory URL.
    pub directory: String,
    /// A PEM root the directory's own HTTPS chains to, in place of the public roots (a private
    /// or test CA such as pebble).
    pub ca_root: Option<PathBuf>,
}

/// A DNS name a public CA can validate: letters, digits and hyphens in dot-separated labels of
/// 1-63 characters, at least two labels, not an IP address, no wildcard (TLS-ALPN-01 cannot
/// validate one). Returned in lower case.
pub fn check_domain(domain: &str) -> Result<String, String> {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    if d.starts_with("*.") {
        return Err(format!("{domain:?}: wildcard names need a DNS-01 challenge, which Duet does not answer"));
    }
    let labels: Vec<&str> = d.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if d.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(format!("{domain:?} is not a domain name (like rtc.example.com)"));
    }
    if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!(
            "{domain:?}: an IP address cannot be given a certificate over ACME here; use a domain name"
        ));
    }
    Ok(d)
}

/// A contact address: something@somewhere, without spaces or a `mailto:` of its own.
pub fn check_email(email: &str) -> Result<(), String> {
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
        && !email.bytes().any(|b| b.is_ascii_whitespace() || b == b',' || b == b':');
    if ok { Ok(()) } else { Err(format!("{email:?} is not an email address")) }
}

/// The certificate manager: serves what it holds and renews it in [`Acme::run`].
pub struct Acme {
    settings: AcmeSettings,
    store: Store,
    resolver: Arc<CertResolver>,
    /// Validity of the served certificate (unix seconds), if one is served.
    validity: Option<(i64, i64)>,
}

impl Acme {
    /// Opens `data`/acme and serves the stored certificate when it names every domain and has
    /// not expired (else the first handshakes wait for [`Acme::run`] to obtain one).
    pub fn new(settings: AcmeSettings, data: &Path, now_unix: i64) -> anyhow::Result<Self> {
        let store = Store::open(data)?;
        let mut acme = Self { settings, store, resolver: Arc::default(), validity: None };
        match acme.store.certificate() {
            Some(Ok(issued)) if issued.covers(&acme.settings.domains) && issued.not_after > now_unix => {
                tracing::info!(domains = ?issued.names, not_after = issued.not_after, "serving the stored ACME certificate");
                acme.serve(issued);
            }
            Some(Ok(issued)) => {
                tracing::info!(stored = ?issued.names, wanted = ?acme.settings.domains, "the stored certificate is expired or names other domains; asking for a new one");
            }
            Some(Err(e)) => tracing::warn!("ignoring the stored ACME certificate: {e:#}"),
            None => tracing::info!(domains = ?acme.settings.domains, "no certificate yet; asking the CA for one"),
        }
        Ok(acme)
    }

    /// The TLS configuration of the HTTP listener: certificates from this manager, and the
    /// `acme-tls/1` protocol beside HTTP/1.1 for the CA's validation.
    pub fn server_config(&self) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let mut config = crate::http::tls::builder()?.with_cert_resolver(self.resolver.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()];
        Ok(Arc::new(config))
    }

    fn serve(&mut self, issued: Issued) {
        self.validity = Some((issued.not_before, issued.not_after));
        self.resolver.set_current(issued.key);
    }

    /// Obtains a certificate when none is served, renews it when due, until `stop` turns true.
    /// Failures are logged with the CA's explanation and tried again with backoff.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut failures = 0u32;
        loop {
            let wait = schedule::next_attempt(crate::os::now_unix(), self.validity, failures);
            if !wait.is_zero() {
                tokio::select! {
                    _ = stop.changed() => return,
                    () = tokio::time::sleep(wait.min(MAX_SLEEP)) => {}
                }
                if wait > MAX_SLEEP {
                    continue; // look at the clock again
                }
            }
            if *stop.borrow() {
                return;
            }
            let attempt = tokio::select! {
                _ = stop.changed() => return,
                attempt = self.obtain() => attempt,
            };
            match attempt {
                Ok(issued) => {
                    failures = 0;
                    tracing::info!(domains = ?issued.names, not_after = issued.not_after, "ACME certificate issued and served");
                    self.serve(issued);
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let next = schedule::next_attempt(crate::os::now_unix(), self.validity, failures);
                    tracing::error!(
                        directory = %self.settings.directory,
                        retry_secs = next.as_secs(),
                        "cannot obtain a certificate over ACME: {e:#}"
                    );
                }
            }
        }
    }

    /// One order: account, validation of every domain over TLS-ALPN-01, finalize, store.
    async fn obtain(&self) -> anyhow::Result<Issued> {
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = self.settings.domains.iter().map(|d| Identifier::Dns(d.clone())).collect();
        let mut order = account.new_order(&NewOrder::new(&identifiers)).await.context("the CA refused the order")?;
        let mut answering = Answering { resolver: &self.resolver, domains: Vec::new() };
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.context("cannot read an authorization")?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => bail!("the CA's authorization of {} is {other:?}", authz.identifier()),
            }
            let Identifier::Dns(domain) = authz.identifier().identifier.clone() else {
                bail!("the CA asked to validate {}, which is not a domain name", authz.identifier())
            };
            let mut challenge = authz
                .challenge(ChallengeType::TlsAlpn01)
                .with_context(|| format!("the CA offers no tls-alpn-01 challenge for {domain}"))?;
            let answer = challenge_certificate(&domain, challenge.key_authorization().digest().as_ref())?;
            answering.add(&domain, answer);
            challenge.set_ready().await.with_context(|| format!("cannot start the validation of {domain}"))?;
        }
        let retry = RetryPolicy::new().timeout(CA_WAIT);
        let status = order
            .poll_ready(&retry)
            .await
            .with_context(|| format!("the CA did not validate {}", self.settings.domains.join(", ")))?;
        drop(answering);
        if status != OrderStatus::Ready {
            let problems = order_problems(&mut order).await;
            bail!("the CA did not validate the domains (order {status:?}){problems}");
        }
        let key = order.finalize().await.context("the CA refused to finalize the order")?;
        let chain = order.poll_certificate(&retry).await.context("the CA did not issue the certificate")?;
        let issued = Issued::from_pem(&chain, &key).context("the CA's certificate")?;
        if !issued.covers(&self.settings.domains) {
            bail!("the CA's certificate names {:?}, not {:?}", issued.names, self.settings.domains);
        }
        self.store.save_certificate(&chain, &key)?;
        Ok(issued)
    }

    /// The account at the CA: the stored one, or a new one (stored).
    async fn account(&self) -> anyhow::Result<Account> {
        let directory = &self.settings.directory;
        let builder = || match &self.settings.ca_root {
            Some(root) => Account::builder_with_root(root)
                .with_context(|| format!("--acme-ca-root {}: cannot read a PEM certificate", root.display())),
            None => Account::builder().context("cannot set up the HTTPS client"),
        };
        if let Some(stored) = self.store.account(directory) {
            let credentials: AccountCredentials = serde_json::from_str(&stored).context("acme/account.json")?;
            return builder()?.from_credentials(credentials).await.context("cannot use the stored ACME account");
        }
        let contact: Vec<String> = self.settings.email.iter().map(|e| format!("mailto:{e}")).collect();
        let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
        let new = NewAccount { contact: &contact, terms_of_service_agreed: true, only_return_existing: false };
        let (account, credentials) = builder()?
            .create(&new, directory.clone(), None)
            .await
            .with_context(|| format!("cannot create an account at {directory}"))?;
        self.store.save_account(directory, serde_json::to_value(&credentials)?)?;
        tracing::info!(%directory, id = account.id(), "ACME account created");
        Ok(account)
    }
}

/// The challenge answers being served; withdrawn when dropped, on every path out of an order.
struct Answering<'a> {
    resolver: &'a CertResolver,
    domains: Vec<String>,
}

impl Answering<'_> {
    fn add(&mut self, domain: &str, answer: Arc<CertifiedKey>) {
        self.resolver.set_challenge(domain, answer);
        self.domains.push(domain.to_owned());
    }
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        for d in &self.domains {
            self.resolver.clear_challenge(d);
        }
    }
}

/// The certificate that answers TLS-ALPN-01 for `domain`: self-signed, naming `domain` only,
/// with the `acmeIdentifier` extension holding the key authorization's SHA-256 `digest`.
fn challenge_certificate(domain: &str, digest: &[u8]) -> anyhow::Result<Arc<CertifiedKey>> {
    let mut params = rcgen::CertificateParams::new(vec![domain.to_owned()]).context("challenge certificate")?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate().context("challenge key")?;
    let cert = params.self_signed(&key).context("challenge certificate")?;
    let der = PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let signing = rustls::crypto::ring::sign::any_supported_type(&der).context("challenge key")?;
    Ok(Arc::new(CertifiedKey::new(vec![cert.der().clone()], signing)))
}

/// The CA's explanation of failed authorizations, for the log (empty when it gives none).
async fn order_problems(order: &mut instant_acme::Order) -> String {
    let mut out = String::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(authz)) = authorizations.next().await {
        for c in &authz.challenges {
            if let Some(e) = &c.error {
                out.push_str(&format!("; {}: {}", authz.identifier(), e.detail.as_deref().unwrap_or("(no detail)")));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_checked() {
        assert_eq!(check_domain("RTC.Example.com.").unwrap(), "rtc.example.com");
        assert_eq!(check_domain("a-b.example.co").unwrap(), "a-b.example.co");
        for bad in ["localhost", "*.example.com", "-a.example.com", "a..example.com", "203.0.113.7", "a b.com", ""] {
            assert!(check_domain(bad).is_err(), "{bad}");
        }
        assert!(check_domain(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn emails_are_checked() {
        assert!(check_email("ops@example.com").is_ok());
        for bad in
            ["ops", "@example.com", "ops@localhost", "a b@example.com", "mailto:ops@example.com", "a@b.com,c@d.com"]
        {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_challenge_certificate_answers_only_acme_tls() {
        let digest = [7u8; 32];
        let answer = challenge_certificate("rtc.example.com", &digest).unwrap();
        let (_, leaf) = x509_parser::parse_x509_certificate(&answer.cert[0]).unwrap();
        // id-pe-acmeIdentifier (1.3.6.1.5.5.7.1.31), critical, an OCTET STRING of the digest.
        let ext = leaf.extensions().iter().find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31").unwrap();
        assert!(ext.critical);
        assert_eq!(&ext.value[2..], &digest);
    }
}
