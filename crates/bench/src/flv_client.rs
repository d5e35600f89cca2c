//! A minimal HTTP-FLV player: one GET, chunked or plain body, FLV tags out.

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One FLV tag.
pub struct Tag {
    /// 8 audio, 9 video, 18 script.
    pub kind: u8,
    /// Payload.
    pub data: Vec<u8>,
}

/// A streaming HTTP-FLV response.
pub struct FlvStream {
    tcp: TcpStream,
    raw: Vec<u8>,
    body: Vec<u8>,
    chunked: bool,
    chunk_left: usize,
    header_done: bool,
    /// Body bytes received.
    pub received: u64,
}

impl FlvStream {
    /// GETs `url` (`http://host:port/path?query`).
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let rest = url.strip_prefix("http://").context("not an http:// URL")?;
        let (host, path) = rest.split_once('/').context("no path")?;
        let mut tcp = TcpStream::connect(host).await.with_context(|| format!("connect {host}"))?;
        tcp.set_nodelay(true)?;
        tcp.write_all(format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes()).await?;
        let mut raw = Vec::new();
        let head_end = loop {
            let mut tmp = [0u8; 8192];
            let n = tcp.read(&mut tmp).await?;
            if n == 0 {
                bail!("closed before the response head");
            }
            raw.extend_from_slice(&tmp[..n]);
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if raw.len() > 65536 {
                bail!("response head too large");
            }
        };
        let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
        if !head.starts_with("http/1.1 200") {
            bail!("{}", head.lines().next().unwrap_or_default());
        }
        let chunked = head.contains("transfer-encoding: chunked");
        let rest = raw.split_off(head_end);
        let mut s =
            Self { tcp, raw: Vec::new(), body: Vec::new(), chunked, chunk_left: 0, header_done: false, received: 0 };
        s.feed(&rest)?;
        Ok(s)
    }

    fn feed(&mut self, data: &[u8]) -> anyhow::Result<()> {
        if !self.chunked {
            self.body.extend_from_slice(data);
            return Ok(());
        }
        self.raw.extend_from_slice(data);
        let mut pos = 0;
        loop {
            if self.chunk_left > 0 {
                let take = self.chunk_left.min(self.raw.len() - pos);
                self.body.extend_from_slice(&self.raw[pos..pos + take]);
                pos += take;
                self.chunk_left -= take;
                if self.chunk_left > 0 {
                    break;
                }
                // The CRLF after the chunk data is consumed with the next size line.
                continue;
            }
            let Some(eol) = self.raw[pos..].windows(2).position(|w| w == b"\r\n") else { break };
            let line = std::str::from_utf8(&self.raw[pos..pos + eol])?.trim();
            pos += eol + 2;
            if line.is_empty() {
                continue;
            }
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("0"), 16).context("chunk size")?;
            if size == 0 {
                break;
            }
            self.chunk_left = size;
        }
        self.raw.drain(..pos);
        Ok(())
    }

    /// The next tag; `None` at the end of the stream.
    pub async fn next(&mut self) -> anyhow::Result<Option<Tag>> {
        loop {
            if !self.header_done && self.body.len() >= 13 {
                if &self.body[..3] != b"FLV" {
                    bail!("not FLV");
                }
                self.body.drain(..13);
                self.header_done = true;
            }
            if self.header_done && self.body.len() >= 11 {
                let size = usize::from(self.body[1]) << 16 | usize::from(self.body[2]) << 8 | usize::from(self.body[3]);
                if self.body.len() >= 11 + size + 4 {
                    let kind = self.body[0] & 0x1f;
                    let data = self.body[11..11 + size].to_vec();
                    self.body.drain(..11 + size + 4);
                    return Ok(Some(Tag { kind, data }));
                }
            }
            let mut tmp = [0u8; 64 * 1024];
            let n = self.tcp.read(&mut tmp).await?;
            if n == 0 {
                return Ok(None);
            }
            self.received += n as u64;
            self.feed(&tmp[..n])?;
        }
    }
}
