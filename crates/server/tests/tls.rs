//! `duet serve --tls-cert/--tls-key`: HTTPS with a generated self-signed certificate, checked by
//! a rustls client that trusts only that certificate; bad certificate files are refused clearly.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Response, Server, data_dir, get_over};
use rustls::pki_types::CertificateDer;

struct Certs {
    cert: PathBuf,
    key: PathBuf,
    der: CertificateDer<'static>,
}

fn self_signed(dir: &Path, name: &str) -> Certs {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    Certs { cert, key, der: ck.cert.der().clone() }
}

/// A TLS client of `localhost` that trusts only `trusted`.
fn client_of(trusted: &CertificateDer<'static>) -> rustls::ClientConnection {
    common::tls_client(trusted, "localhost")
}

fn https_get(addr: SocketAddr, trusted: &CertificateDer<'static>, path: &str) -> std::io::Result<Response> {
    let conn = client_of(trusted);
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    get_over(&mut tls, "localhost", path)
}

#[test]
fn serves_https_with_the_configured_certificate() {
    let (tmp, data) = data_dir();
    let certs = self_signed(tmp.path(), "server");
    let server =
        Server::start(&data, &["--tls-cert", certs.cert.to_str().unwrap(), "--tls-key", certs.key.to_str().unwrap()]);
    assert!(server.banner.contains(&format!("\"wss://{}/ws\"", server.http)), "{}", server.banner);
    assert!(server.banner.contains(&format!("https://{}", server.http)), "{}", server.banner);

    let res = https_get(server.http, &certs.der, "/healthz").unwrap();
    assert_eq!(res.status, 200);
    assert!(res.body.contains("\"ok\""), "{}", res.body);

    // A plain-HTTP client gets no HTTP answer, and the server keeps serving TLS afterwards.
    // The server may close before or after reading the request, so a write error counts as refused.
    let plain = TcpStream::connect(server.http).and_then(|mut s| {
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        common::get_over(&mut s, &server.http.to_string(), "/healthz")
    });
    if let Ok(plain) = plain {
        assert_eq!(plain.status, 0, "plain HTTP must not be answered on the TLS port: {}", plain.headers);
    }

    // A client that trusts another certificate refuses the server.
    let other = self_signed(tmp.path(), "other");
    assert!(https_get(server.http, &other.der, "/healthz").is_err());

    let metrics = https_get(server.http, &certs.der, "/metrics").unwrap();
    let failures: u64 = metrics
        .body
        .lines()
        .find_map(|l| l.strip_prefix("duet_tls_handshake_failures_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(failures >= 1, "{}", metrics.body);
    assert!(server.stop().success());
}

#[test]
fn unusable_certificate_files_are_refused_at_start() {
    let (tmp, data) = data_dir();
    let a = self_signed(tmp.path(), "a");
    let b = self_signed(tmp.path(), "b");
    let garbage = tmp.path().join("garbage.pem");
    std::fs::write(&garbage, "not a pem file\n").unwrap();
    let missing = tmp.path().join("missing.pem");
    let cases: [(&Path, &Path, &str); 4] = [
        (&a.cert, &b.key, "do not belong together"),
        (&garbage, &a.key, "holds no CERTIFICATE"),
        (&a.cert, &garbage, "cannot read a PEM private key"),
        (&missing, &a.key, "cannot read TLS certificate"),
    ];
    for (cert, key, expected) in cases {
        let (status, err) =
            common::serve_refused(&data, &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
        assert_eq!(status.code(), Some(1), "{err}");
        assert!(err.contains(expected), "expected `{expected}`: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

#[test]
fn silent_tls_clients_are_closed_at_the_header_timeout() {
    let (tmp, data) = data_dir();
    let certs = self_signed(tmp.path(), "server");
    let server = Server::start(
        &data,
        &[
            "--tls-cert",
            certs.cert.to_str().unwrap(),
            "--tls-key",
            certs.key.to_str().unwrap(),
            "--http-header-timeout-secs",
            "2",
        ],
    );
    let closed_within = |s: &mut dyn std::io::Read, limit: Duration| -> bool {
        let started = std::time::Instant::now();
        let mut buf = [0u8; 1024];
        while started.elapsed() < limit {
            match s.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
        false
    };

    // No ClientHello at all.
    let mut raw = TcpStream::connect(server.http).unwrap();
    raw.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    assert!(closed_within(&mut raw, Duration::from_secs(12)), "a client that never said hello was kept");

    // A completed handshake, then no request.
    let conn = client_of(&certs.der);
    let tcp = TcpStream::connect(server.http).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    assert!(closed_within(&mut tls, Duration::from_secs(12)), "a TLS client that never sent a request was kept");
    assert_eq!(https_get(server.http, &certs.der, "/healthz").unwrap().status, 200);
}
