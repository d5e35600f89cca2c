//! `duet serve --acme-domain`: a certificate issued by a real ACME CA, Debian's `pebble`, after
//! it validated the domain over TLS-ALPN-01 on Duet's own listener (`pebble-challtestsrv`
//! answers the CA's DNS: every name is 127.0.0.1). The certificate is then used for `wss://`
//! (a WebSocket upgrade and the server's `hello` over TLS, trusted through pebble's root only),
//! is kept in the data folder and served at the next start, and is renewed before it expires
//! (pebble issues 30-second certificates here) without a restart.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, data_dir, get_over};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

const DOMAIN: &str = "rtc.duet.test";
/// Seconds pebble's certificates are valid: Duet renews after two thirds (20 s).
const VALIDITY_SECS: u64 = 30;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_listening(addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// pebble and its DNS on loopback ports; `tls_port` is where the CA validates TLS-ALPN-01.
struct Pebble {
    directory: String,
    management: SocketAddr,
    /// The self-signed certificate of pebble's own HTTPS (Duet's `--acme-ca-root`).
    https_root: std::path::PathBuf,
    https_der: CertificateDer<'static>,
    _dns: Process,
    _ca: Process,
}

impl Pebble {
    fn start(dir: &Path, tls_port: u16) -> Self {
        let dns_port = free_port();
        let dns = Command::new("pebble-challtestsrv")
            .args(["-management", &format!("127.0.0.1:{}", free_port())])
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble-challtestsrv runs (scripts/setup.sh installs pebble)");
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        let (cert, key) = (dir.join("pebble.crt"), dir.join("pebble.key"));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let management: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let config = serde_json::json!({"pebble": {
            "listenAddress": listen.to_string(),
            "managementListenAddress": management.to_string(),
            "certificate": cert,
            "privateKey": key,
            "httpPort": free_port(),
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "certificateValidityPeriod": VALIDITY_SECS,
        }});
        let config_path = dir.join("pebble.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let ca = Command::new("pebble")
            .arg("-config")
            .arg(&config_path)
            .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
            // No random validation delays, no nonces refused on purpose: the test is about Duet.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble runs (scripts/setup.sh installs it)");
        wait_listening(listen, "pebble");
        Self {
            directory: format!("https://{listen}/dir"),
            management,
            https_root: cert,
            https_der: ck.cert.der().clone(),
            _dns: Process(dns),
            _ca: Process(ca),
        }
    }

    /// The root its certificates chain to (from its management interface).
    fn issuing_root(&self) -> CertificateDer<'static> {
        let mut tls = tls_stream(self.management, "localhost", &self.https_der);
        let res = get_over(&mut tls, "localhost", "/roots/0").unwrap();
        assert_eq!(res.status, 200, "{}", res.body);
        CertificateDer::from_pem_slice(res.body.as_bytes()).unwrap()
    }
}

/// A TLS stream to `addr` for `name`, trusting `root` only.
fn tls_stream(
    addr: SocketAddr,
    name: &str,
    root: &CertificateDer<'static>,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    rustls::StreamOwned::new(common::tls_client(root, name), tcp)
}

/// A `wss://DOMAIN/ws` upgrade through `root`: the server's first push (its `hello`), and the
/// certificate it showed.
fn wss_hello(addr: SocketAddr, root: &CertificateDer<'static>) -> (String, CertificateDer<'static>) {
    let mut tls = tls_stream(addr, DOMAIN, root);
    write!(
        tls,
        "GET /ws HTTP/1.1\r\nHost: {DOMAIN}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&got).contains("\"hello\"") {
        assert!(Instant::now() < deadline, "no hello over wss: {}", String::from_utf8_lossy(&got));
        let n = tls.read(&mut buf).unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let leaf = tls.conn.peer_certificates().unwrap()[0].clone().into_owned();
    (String::from_utf8_lossy(&got).into_owned(), leaf)
}

#[test]
fn a_certificate_from_pebble_serves_wss_is_kept_and_renewed_without_a_restart() {
    let (tmp, data) = data_dir();
    let port = free_port();
    let pebble = Pebble::start(tmp.path(), port);
    let http = format!("127.0.0.1:{port}");
    let args = [
        "--http",
        &http,
        "--acme-domain",
        DOMAIN,
        "--acme-email",
        "ops@duet.test",
        "--acme-directory",
        &pebble.directory,
        "--acme-ca-root",
        pebble.https_root.to_str().unwrap(),
    ];
    let start = |data: &Path| Server::start_cmd(common::duet(data).args(["serve", "--rtmp", "127.0.0.1:0"]).args(args));

    let server = start(&data);
    assert!(server.banner.contains(&format!("wss://{http}/ws")), "the banner names wss://: {}", server.banner);
    let mut seen = String::new();
    assert!(server.logs_within("ACME certificate issued and served", Duration::from_secs(60), &mut seen), "{seen}");
    let root = pebble.issuing_root();
    let (hello, first) = wss_hello(server.http, &root);
    assert!(hello.starts_with("HTTP/1.1 101"), "{hello}");
    // Plain HTTPS on the same certificate.
    let mut tls = tls_stream(server.http, DOMAIN, &root);
    assert_eq!(get_over(&mut tls, DOMAIN, "/healthz").unwrap().status, 200);
    // Stored, private to the server's user.
    use std::os::unix::fs::PermissionsExt;
    let key_mode = std::fs::metadata(data.join("acme/key.pem")).unwrap().permissions().mode();
    assert_eq!(key_mode & 0o777, 0o600);

    // The next start serves the stored certificate at once.
    let (status, _) = server.stop_logged();
    assert!(status.success());
    let server = start(&data);
    let mut seen = String::new();
    assert!(server.logs_within("serving the stored ACME certificate", Duration::from_secs(5), &mut seen), "{seen}");
    let (_, again) = wss_hello(server.http, &root);
    assert_eq!(again, first, "the stored certificate");

    // Renewed once two thirds of its 30 s have passed, and served by the same process.
    assert!(server.logs_within("ACME certificate issued and served", Duration::from_secs(45), &mut seen), "{seen}");
    let (hello, renewed) = wss_hello(server.http, &root);
    assert!(hello.starts_with("HTTP/1.1 101"), "{hello}");
    assert_ne!(renewed, first, "a new certificate without a restart");
    assert!(!seen.contains("panicked"), "{seen}");
}

#[test]
fn a_failed_validation_is_reported_with_the_cas_reason_and_tried_again() {
    let (tmp, data) = data_dir();
    // The CA validates on a port where nothing answers: Duet listens elsewhere.
    let pebble = Pebble::start(tmp.path(), free_port());
    let args = [
        "--acme-domain",
        DOMAIN,
        "--acme-directory",
        &pebble.directory,
        "--acme-ca-root",
        pebble.https_root.to_str().unwrap(),
    ];
    let server = Server::start_cmd(
        common::duet(&data).args(["serve", "--http", "127.0.0.1:0", "--rtmp", "127.0.0.1:0"]).args(args),
    );
    let mut seen = String::new();
    assert!(server.logs_within("cannot obtain a certificate over ACME", Duration::from_secs(60), &mut seen), "{seen}");
    assert!(seen.contains(DOMAIN) && seen.contains("retry_secs=60"), "the CA's reason and the retry: {seen}");
    // Meanwhile the server goes on serving what needs no certificate (RTMP).
    assert!(TcpStream::connect(server.rtmp).is_ok());
    assert!(!seen.contains("panicked"), "{seen}");
}

#[test]
fn acme_flags_are_checked_before_starting() {
    let (_tmp, data) = data_dir();
    let refused = |args: &[&str]| {
        let out = common::duet(&data)
            .args(["serve", "--http", "127.0.0.1:0", "--rtmp", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(refused(&["--acme-domain", "localhost"]).contains("not a domain name"));
    assert!(refused(&["--acme-domain", "*.example.com"]).contains("wildcard"));
    assert!(refused(&["--acme-domain", "203.0.113.7"]).contains("IP address"));
    assert!(refused(&["--acme-domain", "rtc.example.com", "--acme-email", "nobody"]).contains("not an email address"));
    assert!(refused(&["--acme-email", "ops@example.com"]).contains("need --acme-domain"));
    let e = refused(&["--acme-domain", "rtc.example.com", "--acme-directory", "http://ca.example.com/dir"]);
    assert!(e.contains("https://"), "{e}");
    let e = refused(&["--acme-domain", "rtc.example.com", "--tls-cert", "c.pem", "--tls-key", "k.pem"]);
    assert!(e.contains("choose one"), "{e}");
}
