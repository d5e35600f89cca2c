//! WebRTC: browsers publish H.264 video into the media hub (WHIP) and play any stream (WHEP).
//!
//! The engine is str0m, sans-IO like Duet's own cores: each peer's `str0m::Rtc` takes
//! datagrams and time as inputs and gives transmits, events and its next deadline. Duet runs
//! it as an ICE-lite peer on ONE UDP socket for every peer (`--webrtc-udp`), announcing
//! `--webrtc-public-ip` (default: the socket's IP) in its one host candidate.
//!
//! - `offer`: what an offer must hold and the answer Duet makes (pure);
//! - `router`: the task that reads the socket and hands each datagram to its peer (by ICE
//!   username, then by remote address), and keeps WHIP/WHEP resources for `DELETE`;
//! - `link`: one peer's engine and wire, whatever its role;
//! - `publisher`: one task per WHIP publisher, pushing its media into the hub;
//! - `player`: one task per WHEP player, sending it a stream from the hub;
//! - `opus_track`: each stream's Opus for its WHEP players, beside the hub;
//! - `transcode`: AAC → Opus for those players, Opus → AAC for a WHIP stream's other players.
//! - `slots`: the one count of peers, per node and per app ([`WebRtc::reserve`]);
//! - `tcp`: ICE over TCP, for browsers without UDP (`--webrtc-tcp`).
//!
//! The HTTP side (`media::whip`, `media::whep`) verifies the URL, accepts the offer, asks
//! `admission::admit` (a publish) or finds the stream (a play), then [`WebRtc::connect`]s the
//! peer and starts its role's task.

pub mod link;
pub mod offer;
pub mod opus_track;
pub mod player;
pub mod publisher;
pub mod router;
pub mod slots;
pub mod tcp;
pub mod transcode;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use str0m::Rtc;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::media::error::MediaRefusal;
use crate::media::webrtc::link::Link;
use crate::media::webrtc::router::Command;
pub use crate::media::webrtc::slots::PeerSlot;
use crate::media::webrtc::slots::Slots;

/// The handle the HTTP side uses: where peers are reached and how they are started/stopped.
#[derive(Clone)]
pub struct WebRtc {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    candidate: SocketAddr,
    /// The ICE-TCP listener's local address and the address in its candidate.
    tcp: Option<(SocketAddr, SocketAddr)>,
    commands: mpsc::Sender<Command>,
    /// Peers running or being set up, per node and per app.
    slots: Arc<Slots>,
    /// Each stream's Opus, for its WHEP players.
    pub opus: Arc<opus_track::OpusTracks>,
}

/// Bytes the shared UDP socket may hold each way: every peer's datagrams wait in one socket,
/// and the default (about 200 KiB) overflows when many peers' DTLS handshakes or keyframes
/// arrive at once (a lost handshake datagram waits a second or more for DTLS to resend it).
pub const UDP_BUFFER: usize = 4 << 20;

/// Asks the kernel for [`UDP_BUFFER`] each way (it may give less: `net.core.rmem_max`).
fn deepen(socket: &UdpSocket) {
    let sock = socket2::SockRef::from(socket);
    if let Err(e) = sock.set_recv_buffer_size(UDP_BUFFER).and_then(|()| sock.set_send_buffer_size(UDP_BUFFER)) {
        tracing::warn!("WebRTC UDP buffers: {e}");
    }
    let got = (sock.recv_buffer_size().unwrap_or(0), sock.send_buffer_size().unwrap_or(0));
    tracing::debug!("WebRTC UDP buffers: {} KiB receive, {} KiB send", got.0 >> 10, got.1 >> 10);
}

impl WebRtc {
    /// Starts the router on `socket` (and ICE-TCP on `tcp`); candidates announce `public_ip`
    /// (default: each listener's); at most `max_peers` peers at once, and `max_stream_players`
    /// WHEP players per stream.
    pub fn start(
        (socket, tcp): (UdpSocket, Option<(tokio::net::TcpListener, Arc<crate::metrics::ConnStats>)>),
        public_ip: Option<IpAddr>,
        max_peers: usize,
        max_stream_players: Option<usize>,
    ) -> std::io::Result<Self> {
        let local = socket.local_addr()?;
        let candidate = SocketAddr::new(public_ip.unwrap_or(local.ip()), local.port());
        deepen(&socket);
        let socket = Arc::new(socket);
        let (commands, rx) = mpsc::channel(256);
        tokio::spawn(router::run(socket.clone(), rx));
        let tcp = match tcp {
            Some((listener, stats)) => {
                let tcp_local = listener.local_addr()?;
                tokio::spawn(tcp::run(listener, max_peers, stats, commands.clone()));
                Some((tcp_local, SocketAddr::new(public_ip.unwrap_or(tcp_local.ip()), tcp_local.port())))
            }
            None => None,
        };
        let slots = Arc::new(Slots::new(max_peers, max_stream_players));
        Ok(Self { socket, local, candidate, tcp, commands, slots, opus: Arc::default() })
    }

    /// A place for one more peer of `app_id`, whose own cap is `app_cap` (the app's
    /// `webrtc_max_peers`: `store::Apps::webrtc_max_peers`; `None`: the node's cap only),
    /// playing `stream` if it is a WHEP player. Refused with `webrtc_busy` (503: the node has
    /// `--webrtc-max-peers`), `webrtc_app_busy` (429: the app has its cap) or
    /// `webrtc_stream_busy` (429: the stream has `--webrtc-max-stream-players`). Hold the slot
    /// for the peer's life.
    pub fn reserve(
        &self,
        app_id: u32,
        app_cap: Option<u32>,
        stream: Option<&duet_media::StreamKey>,
    ) -> Result<PeerSlot, MediaRefusal> {
        self.slots.reserve(app_id, app_cap, stream)
    }

    /// The address written into the UDP ICE candidate.
    pub fn candidate(&self) -> SocketAddr {
        self.candidate
    }

    /// Where offers' answers say Duet is reached.
    pub fn candidates(&self) -> offer::Candidates {
        offer::Candidates { udp: self.candidate, tcp: self.tcp_candidate() }
    }

    /// The address written into the passive TCP ICE candidate, if ICE-TCP is on.
    pub fn tcp_candidate(&self) -> Option<SocketAddr> {
        self.tcp.map(|(_, candidate)| candidate)
    }

    /// Routes the datagrams of a new peer (found by its ICE `ufrag`) to it, and `DELETE` of
    /// `resource` to the returned stop signal.
    pub async fn connect(
        &self,
        rtc: Rtc,
        ufrag: String,
        resource: String,
        slot: PeerSlot,
    ) -> (Link, oneshot::Receiver<()>) {
        let (inbox_tx, inbox) = mpsc::channel(router::INBOX);
        let (stop_tx, stop) = oneshot::channel();
        // The router only goes away with the runtime; a peer nobody routes to ends by silence.
        let _ = self.commands.send(Command::Add { ufrag, resource, inbox: inbox_tx, stop: stop_tx }).await;
        let wire = (self.socket.clone(), self.local, self.tcp.map(|(local, _)| local));
        (Link::new(rtc, inbox, wire, slot, crate::media::now()), stop)
    }

    /// Ends the peer of `resource`; whether one was live.
    pub async fn delete(&self, resource: String) -> bool {
        let (reply, rx) = oneshot::channel();
        if self.commands.send(Command::Delete { resource, reply }).await.is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }
}
