//! WebRTC ingest (WHIP): browsers publish H.264 video into the media hub.
//!
//! The engine is str0m, sans-IO like Duet's own cores: each peer's `str0m::Rtc` takes
//! datagrams and time as inputs and gives transmits, events and its next deadline. Duet runs
//! it as an ICE-lite peer on ONE UDP socket for every peer (`--webrtc-udp`), announcing
//! `--webrtc-public-ip` (default: the socket's IP) in its one host candidate.
//!
//! - `offer`: what an offer must hold and the answer Duet makes (pure);
//! - `router`: the task that reads the socket and hands each datagram to its peer (by ICE
//!   username, then by remote address), and keeps WHIP resources for `DELETE`;
//! - `peer`: one task per publisher, driving its `Rtc` and pushing packets into the hub;
//! - `slots`: the one count of peers, per node and per app ([`WebRtc::reserve`]).
//!
//! The HTTP side (`media::whip`) verifies the URL, accepts the offer, asks
//! `admission::admit`, then hands the peer to [`WebRtc::start_peer`].

pub mod offer;
pub mod peer;
pub mod router;
pub mod slots;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use duet_media::Publisher;
use str0m::Rtc;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::media::MediaContext;
use crate::media::error::MediaRefusal;
use crate::media::webrtc::router::Command;
pub use crate::media::webrtc::slots::PeerSlot;
use crate::media::webrtc::slots::Slots;

/// The handle the HTTP side uses: where peers are reached and how they are started/stopped.
#[derive(Clone)]
pub struct WebRtc {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    candidate: SocketAddr,
    commands: mpsc::Sender<Command>,
    /// Peers running or being set up, per node and per app.
    slots: Arc<Slots>,
}

impl WebRtc {
    /// Starts the router on `socket`; candidates announce `public_ip` (default: the socket's);
    /// at most `max_peers` peers at once.
    pub fn start(socket: UdpSocket, public_ip: Option<IpAddr>, max_peers: usize) -> std::io::Result<Self> {
        let local = socket.local_addr()?;
        let candidate = SocketAddr::new(public_ip.unwrap_or(local.ip()), local.port());
        let socket = Arc::new(socket);
        let (commands, rx) = mpsc::channel(64);
        tokio::spawn(router::run(socket.clone(), rx));
        Ok(Self { socket, local, candidate, commands, slots: Arc::new(Slots::new(max_peers)) })
    }

    /// A place for one more peer of `app_id`, whose own cap is `app_cap` (the app's
    /// `webrtc_max_peers`: `store::Apps::webrtc_max_peers`; `None`: the node's cap only).
    /// Refused with `webrtc_busy` (503: the node has `--webrtc-max-peers`) or
    /// `webrtc_app_busy` (429: the app has its cap). Hold the slot for the peer's life.
    pub fn reserve(&self, app_id: u32, app_cap: Option<u32>) -> Result<PeerSlot, MediaRefusal> {
        self.slots.reserve(app_id, app_cap)
    }

    /// The address written into ICE candidates.
    pub fn candidate(&self) -> SocketAddr {
        self.candidate
    }

    /// Starts the task of an admitted peer, reachable for `DELETE` as `resource`.
    pub async fn start_peer(
        &self,
        ctx: &MediaContext,
        rtc: Rtc,
        ufrag: String,
        resource: String,
        publisher: Publisher,
        slot: PeerSlot,
    ) {
        let (inbox_tx, inbox) = mpsc::channel(router::INBOX);
        let (stop_tx, stop) = oneshot::channel();
        let peer = peer::Peer { rtc, publisher, inbox, stop, socket: self.socket.clone(), local: self.local, slot };
        // The router only goes away with the runtime; a peer nobody routes to ends by silence.
        let _ = self.commands.send(Command::Add { ufrag, resource, inbox: inbox_tx, stop: stop_tx }).await;
        tokio::spawn(peer.run(ctx.clone()));
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
