//! Reads one counter from a server's Prometheus endpoint (`http://host:port/metrics`).

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The value of the sample `name` (without labels) at `url`.
pub async fn counter(url: &str, name: &str) -> anyhow::Result<u64> {
    let rest = url.strip_prefix("http://").context("not an http:// URL")?;
    let (host, path) = rest.split_once('/').context("no path")?;
    let mut tcp = tokio::net::TcpStream::connect(host).await.with_context(|| format!("connect {host}"))?;
    tcp.write_all(format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes()).await?;
    let mut body = String::new();
    tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read_to_string(&mut body)).await??;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .with_context(|| format!("no {name} at {url}"))?
        .trim()
        .parse()
        .with_context(|| format!("{name} is not a count"))
}
