//! A minimal WHEP player: a receive-only H.264 offer POSTed to a signed WHEP URL over one
//! HTTP/1.1 request, then a str0m engine (the crate the server uses, sans-IO) driven over its
//! own loopback UDP socket until the stream's frames come out as Annex-B access units.
//!
//! The driver is the engine's contract: after any input, poll until `Output::Timeout`; feed
//! each datagram with its arrival time; feed a timeout when the engine's deadline passes.
//! [`WhepPlayer::next`] does one round of that and returns what a benchmark cares about:
//! ICE connected, ICE and DTLS connected, a video frame, or the end.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use str0m::change::SdpAnswer;
use str0m::config::DtlsCert;
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long the offer's HTTP exchange may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// What happened to a player.
#[derive(Debug)]
pub enum PlayerEvent {
    /// ICE connected (the server answered a connectivity check).
    IceConnected,
    /// ICE and DTLS connected: media may flow.
    Connected,
    /// One video frame (an H.264 access unit, Annex-B), when it came out of the engine.
    Frame(Arc<[u8]>),
}

/// One WHEP player: its engine, socket and resource.
pub struct WhepPlayer {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    /// host:port of the server's HTTP listener.
    http: String,
    /// The resource's path (`Location`), for `DELETE`.
    location: Option<String>,
    events: VecDeque<PlayerEvent>,
    ice_connected: bool,
    buf: Vec<u8>,
    /// UDP bytes received (RTP, RTCP, STUN, DTLS).
    pub wire_bytes: u64,
}

/// A DTLS certificate for many players (making one costs a key generation).
pub fn certificate() -> anyhow::Result<DtlsCert> {
    str0m::crypto::from_feature_flags().dtls_provider.generate_certificate().context("no DTLS certificate")
}

impl WhepPlayer {
    /// POSTs an offer to `url` (`http://host:port/whep/...?...`, loopback) and applies the
    /// answer; the player then connects as [`WhepPlayer::next`] is called.
    pub async fn open(url: &str, cert: DtlsCert) -> anyhow::Result<Self> {
        let rest = url.strip_prefix("http://").context("not an http:// URL")?;
        let (host, path) = rest.split_once('/').context("no path")?;
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let local = socket.local_addr()?;
        let mut rtc = RtcConfig::new().clear_codecs().enable_h264(true).set_dtls_cert(cert).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp")?);
        let mut api = rtc.sdp_api();
        api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, pending) = api.apply().context("no offer")?;
        let (status, location, body) =
            tokio::time::timeout(HTTP_TIMEOUT, request(host, "POST", &format!("/{path}"), &offer.to_sdp_string()))
                .await
                .context("WHEP POST timed out")??;
        if status != 201 {
            bail!("WHEP POST: {status} {}", body.trim());
        }
        let answer = SdpAnswer::from_sdp_string(&body).context("WHEP answer")?;
        rtc.sdp_api().accept_answer(pending, answer)?;
        Ok(Self {
            rtc,
            socket,
            local,
            http: host.to_owned(),
            location,
            events: VecDeque::new(),
            ice_connected: false,
            buf: vec![0; 2048],
            wire_bytes: 0,
        })
    }

    /// The next event; `None` when the engine closed or ICE disconnected.
    pub async fn next(&mut self) -> anyhow::Result<Option<PlayerEvent>> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(Some(e));
            }
            let Some(deadline) = self.drain()? else { return Ok(None) };
            if !self.events.is_empty() {
                continue;
            }
            tokio::select! {
                got = self.socket.recv_from(&mut self.buf) => {
                    let (n, from) = got?;
                    self.wire_bytes += n as u64;
                    let Ok(contents) = self.buf[..n].try_into() else { continue };
                    let input = Input::Receive(
                        Instant::now(),
                        Receive { proto: Protocol::Udp, source: from, destination: self.local, contents },
                    );
                    if self.rtc.accepts(&input) {
                        self.rtc.handle_input(input)?;
                    }
                }
                () = tokio::time::sleep_until(deadline.into()) => self.rtc.handle_input(Input::Timeout(Instant::now()))?,
            }
        }
    }

    /// Polls the engine until it waits; queues its events, sends its datagrams; returns when
    /// it next needs time (`None`: it is done).
    fn drain(&mut self) -> anyhow::Result<Option<Instant>> {
        loop {
            if !self.rtc.is_alive() {
                return Ok(None);
            }
            match self.rtc.poll_output()? {
                Output::Timeout(at) => return Ok(Some(at)),
                Output::Transmit(t) => {
                    // A datagram the socket cannot take now is lost, as on the wire.
                    let _ = self.socket.try_send_to(&t.contents, t.destination);
                }
                Output::Event(e) => match e {
                    // One pair to check: the agent may go straight to Completed.
                    Event::IceConnectionStateChange(IceConnectionState::Connected | IceConnectionState::Completed)
                        if !self.ice_connected =>
                    {
                        self.ice_connected = true;
                        self.events.push_back(PlayerEvent::IceConnected);
                    }
                    Event::IceConnectionStateChange(IceConnectionState::Disconnected) => return Ok(None),
                    Event::Connected => self.events.push_back(PlayerEvent::Connected),
                    Event::MediaData(m) => self.events.push_back(PlayerEvent::Frame(m.data)),
                    _ => {}
                },
            }
        }
    }

    /// Ends the play: `DELETE` of the resource (best effort, bounded).
    pub async fn close(mut self) {
        self.rtc.disconnect();
        if let Some(location) = self.location.take() {
            let _ = tokio::time::timeout(HTTP_TIMEOUT, request(&self.http, "DELETE", &location, "")).await;
        }
    }
}

/// One HTTP/1.1 request with an SDP body (the connection closes after it): the status, the
/// `Location` header and the body.
async fn request(host: &str, method: &str, path: &str, body: &str) -> anyhow::Result<(u16, Option<String>, String)> {
    let mut tcp = TcpStream::connect(host).await.with_context(|| format!("connect {host}"))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await?;
    tcp.write_all(body.as_bytes()).await?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await?;
    let text = String::from_utf8(raw).context("response not UTF-8")?;
    let (head, body) = text.split_once("\r\n\r\n").context("no response head")?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no status")?;
    let location = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("location").then(|| v.trim().to_owned())
    });
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_owned() };
    Ok((status, location, body))
}

/// A chunked body, joined.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "abcde");
        assert_eq!(dechunk("zz\r\n"), "");
    }
}
