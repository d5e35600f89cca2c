//! A minimal HTTP/1.1 client: one request per connection, `http://` or `https://` (rustls with
//! the Mozilla root store), bounded by a timeout. Webhooks POST with it (status only); a cluster
//! node passes an API request about a room to the room's home node with it (status and body).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// `scheme://host[:port]` of a URL, for logs (paths and queries may hold tokens).
pub fn origin(url: &str) -> String {
    match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            format!("{}{}", &url[..i + 3], &rest[..end])
        }
        None => "(not a URL)".to_owned(),
    }
}

/// Checks that `url` is something [`post_json`] can call: `http(s)://host[:port]/path`.
pub fn check_url(url: &str) -> Result<(), String> {
    target(url).map(|_| ())
}

struct Target {
    tls: bool,
    host: String,
    port: u16,
    path: String,
    authority: String,
}

fn target(url: &str) -> Result<Target, String> {
    if url.len() > 2048 {
        return Err("the URL is longer than 2048 characters".into());
    }
    let uri: hyper::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err("the URL must start with http:// or https://".into()),
    };
    let authority = uri.authority().ok_or("the URL has no host")?.clone();
    if authority.as_str().contains('@') {
        return Err("the URL must not carry a user name or password (put a token in the path or query)".into());
    }
    let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let path = uri.path_and_query().map_or("/".to_owned(), |p| p.as_str().to_owned());
    Ok(Target { tls, host, port, path, authority: authority.as_str().to_owned() })
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            let config =
                rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                    .with_safe_default_protocol_versions()
                    .expect("ring supports the default protocol versions")
                    .with_root_certificates(roots)
                    .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// Largest response body [`call`] reads.
const MAX_RESPONSE: usize = 1024 * 1024;

/// POSTs a JSON body; returns the response status (the timeout covers the response head), or
/// why there was none.
pub async fn post_json(url: &str, headers: &[(&str, String)], body: String, timeout: Duration) -> Result<u16, String> {
    let t = target(url)?;
    let sent = send(hyper::Method::POST, t, headers, Bytes::from(body), false);
    let (status, _) =
        tokio::time::timeout(timeout, sent).await.map_err(|_| format!("no answer within {timeout:?}"))??;
    Ok(status)
}

/// Sends a request with a JSON body; returns the response status and body (at most 1 MiB),
/// all within `timeout`.
pub async fn call(
    method: hyper::Method,
    url: &str,
    headers: &[(&str, String)],
    body: Bytes,
    timeout: Duration,
) -> Result<(u16, Bytes), String> {
    let t = target(url)?;
    let sent = send(method, t, headers, body, true);
    tokio::time::timeout(timeout, sent).await.map_err(|_| format!("no answer within {timeout:?}"))?
}

async fn send(
    method: hyper::Method,
    t: Target,
    headers: &[(&str, String)],
    body: Bytes,
    read_body: bool,
) -> Result<(u16, Bytes), String> {
    let tcp = TcpStream::connect((t.host.as_str(), t.port)).await.map_err(|e| format!("cannot connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let mut req = Request::builder()
        .method(method)
        .uri(t.path.as_str())
        .header(HOST, t.authority.as_str())
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, concat!("duet/", env!("CARGO_PKG_VERSION")));
    for (name, value) in headers {
        req = req.header(*name, value.as_str());
    }
    let req = req.body(Full::new(body)).map_err(|e| format!("bad request: {e}"))?;
    if t.tls {
        let name = ServerName::try_from(t.host.clone()).map_err(|e| format!("bad host name: {e}"))?;
        let stream = tokio_rustls::TlsConnector::from(tls_config())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS failed: {e}"))?;
        exchange(stream, req, read_body).await
    } else {
        exchange(tcp, req, read_body).await
    }
}

async fn exchange<S>(stream: S, req: Request<Full<Bytes>>, read_body: bool) -> Result<(u16, Bytes), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::BodyExt;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("HTTP failed: {e}"))?;
    let driver = tokio::spawn(conn);
    let result = async {
        let res = sender.send_request(req).await.map_err(|e| format!("HTTP failed: {e}"))?;
        let status = res.status().as_u16();
        if !read_body {
            return Ok((status, Bytes::new()));
        }
        let limited = http_body_util::Limited::new(res.into_body(), MAX_RESPONSE);
        let body = limited.collect().await.map_err(|e| format!("reading the body failed: {e}"))?.to_bytes();
        Ok((status, body))
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = target("https://hooks.example.com/duet?x=1").unwrap();
        assert!(t.tls && t.port == 443 && t.path == "/duet?x=1" && t.host == "hooks.example.com");
        let t = target("http://127.0.0.1:9000").unwrap();
        assert!(!t.tls && t.port == 9000 && t.path == "/");
        assert_eq!(origin("https://hooks.example.com:8443/duet?token=s3cret"), "https://hooks.example.com:8443");
        for bad in ["ftp://x/", "hooks.example.com/x", "http://", "", "http:// /", "https://user:pw@example.com/x"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
