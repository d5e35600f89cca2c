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
pub mod transcode;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use str0m::Rtc;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::media::webrtc::link::Link;
use crate::media::webrtc::router::Command;

/// The handle the HTTP side uses: where peers are reached and how they are started/stopped.
#[derive(Clone)]
pub struct WebRtc {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    candidate: SocketAddr,
    commands: mpsc::Sender<Command>,
    /// Peers running or being set up, and how many the node takes.
    peers: Arc<AtomicUsize>,
    max_peers: usize,
    /// Each stream's Opus, for its WHEP players.
    pub opus: Arc<opus_track::OpusTracks>,
}

/// A place among the node's WebRTC peers, held from the offer to the peer's end.
pub struct PeerSlot(Arc<AtomicUsize>);

impl Drop for PeerSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
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
        Ok(Self { socket, local, candidate, commands, peers: Arc::default(), max_peers, opus: Arc::default() })
    }

    /// A place for one more peer, or `None` when the node has `max_peers` already.
    pub fn reserve(&self) -> Option<PeerSlot> {
        let taken = self.peers.fetch_update(Relaxed, Relaxed, |n| (n < self.max_peers).then_some(n + 1));
        taken.ok().map(|_| PeerSlot(self.peers.clone()))
    }

    /// The address written into ICE candidates.
    pub fn candidate(&self) -> SocketAddr {
        self.candidate
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
        (Link::new(rtc, inbox, self.socket.clone(), self.local, slot, crate::media::now()), stop)
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
