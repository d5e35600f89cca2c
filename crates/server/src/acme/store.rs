//! What ACME leaves in the data folder, under `acme/`: the CA account's credentials
//! (`account.json`, one per directory URL), and the certificate chain and its private key
//! (`cert.pem`, `key.pem`). Files are written whole (a temporary file renamed over the old) and
//! readable by the server's user only. A stored certificate is used at start when it names every
//! configured domain and has not expired.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// A certificate chain with its key, as served, and what Duet needs to know of it.
pub struct Issued {
    /// Chain and key, ready for TLS.
    pub key: Arc<CertifiedKey>,
    /// The DNS names the leaf certificate holds.
    pub names: Vec<String>,
    /// Its validity, unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl Issued {
    /// Parses a PEM chain (leaf first) and its PEM private key.
    pub fn from_pem(chain: &str, key: &str) -> anyhow::Result<Self> {
        let certs = CertificateDer::pem_slice_iter(chain.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .context("the certificate chain is not valid PEM")?;
        let Some(leaf) = certs.first() else { bail!("the certificate chain holds no certificate") };
        let (_, parsed) = x509_parser::parse_x509_certificate(leaf).context("the certificate is not valid X.509")?;
        let validity = parsed.validity();
        let names = match parsed.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).context("the private key is not valid PEM")?;
        let signing = rustls::crypto::ring::sign::any_supported_type(&key).context("unsupported private key")?;
        let (not_before, not_after) = (validity.not_before.timestamp(), validity.not_after.timestamp());
        Ok(Self { key: Arc::new(CertifiedKey::new(certs, signing)), names, not_before, not_after })
    }

    /// Whether it names every one of `domains`.
    pub fn covers(&self, domains: &[String]) -> bool {
        domains.iter().all(|d| self.names.iter().any(|n| n == d))
    }
}

/// The `acme/` folder of a data folder.
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The folder under `data`, made if missing.
    pub fn open(data: &Path) -> anyhow::Result<Self> {
        let dir = data.join("acme");
        fs::create_dir_all(&dir).with_context(|| format!("cannot make {}", dir.display()))?;
        Ok(Self { dir })
    }

    /// The stored certificate, if there is one that parses.
    pub fn certificate(&self) -> Option<anyhow::Result<Issued>> {
        let chain = fs::read_to_string(self.dir.join("cert.pem")).ok()?;
        let key = match fs::read_to_string(self.dir.join("key.pem")) {
            Ok(key) => key,
            Err(e) => return Some(Err(anyhow::anyhow!("cert.pem without key.pem: {e}"))),
        };
        Some(Issued::from_pem(&chain, &key))
    }

    /// Stores a certificate chain and its key (the key first: a chain never waits without it).
    pub fn save_certificate(&self, chain: &str, key: &str) -> anyhow::Result<()> {
        self.write("key.pem", key.as_bytes())?;
        self.write("cert.pem", chain.as_bytes())
    }

    /// The account credentials stored for `directory`, as JSON.
    pub fn account(&self, directory: &str) -> Option<String> {
        let all: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(self.dir.join("account.json")).ok()?).ok()?;
        all.get(directory).map(|c| c.to_string())
    }

    /// Stores account credentials for `directory` beside those of other directories.
    pub fn save_account(&self, directory: &str, credentials: serde_json::Value) -> anyhow::Result<()> {
        let path = self.dir.join("account.json");
        let mut all: serde_json::Map<String, serde_json::Value> =
            fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
        all.insert(directory.to_owned(), credentials);
        self.write("account.json", serde_json::to_string_pretty(&all)?.as_bytes())
    }

    fn write(&self, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("cannot replace {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let ck = rcgen::generate_simple_self_signed(names).unwrap();
        (ck.cert.pem(), ck.signing_key.serialize_pem())
    }

    #[test]
    fn a_certificate_is_read_with_its_names_and_validity() {
        let (chain, key) = self_signed(&["rtc.example.com", "Alt.Example.com"]);
        let issued = Issued::from_pem(&chain, &key).unwrap();
        assert_eq!(issued.names, ["rtc.example.com", "alt.example.com"]);
        assert!(issued.not_after > issued.not_before);
        assert!(issued.covers(&["rtc.example.com".into()]));
        assert!(issued.covers(&["rtc.example.com".into(), "alt.example.com".into()]));
        assert!(!issued.covers(&["rtc.example.com".into(), "other.example.com".into()]));
    }

    #[test]
    fn hostile_or_broken_files_are_errors_not_panics() {
        let (chain, key) = self_signed(&["rtc.example.com"]);
        assert!(Issued::from_pem("", &key).is_err());
        assert!(Issued::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", &key).is_err());
        assert!(Issued::from_pem(&chain, "not a key").is_err());
        let mut cut = chain.clone();
        cut.truncate(chain.len() / 2);
        assert!(Issued::from_pem(&cut, &key).is_err());
    }

    #[test]
    fn files_are_stored_whole_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        assert!(store.certificate().is_none());
        let (chain, key) = self_signed(&["rtc.example.com"]);
        store.save_certificate(&chain, &key).unwrap();
        assert!(store.certificate().unwrap().unwrap().covers(&["rtc.example.com".into()]));
        let mode = fs::metadata(tmp.path().join("acme/key.pem")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        store.save_account("https://a/dir", serde_json::json!({"id": "1"})).unwrap();
        store.save_account("https://b/dir", serde_json::json!({"id": "2"})).unwrap();
        assert_eq!(store.account("https://a/dir").unwrap(), r#"{"id":"1"}"#);
        assert_eq!(store.account("https://b/dir").unwrap(), r#"{"id":"2"}"#);
        assert!(store.account("https://c/dir").is_none());
    }
}
