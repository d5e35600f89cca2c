//! One WebRTC peer's engine and its wire, whatever the peer does (publish or play): its
//! `str0m::Rtc`, the datagrams the router hands it, the shared UDP socket it sends from, when it
//! was last heard from, and its place among the node's peers. The role's task (`publisher`,
//! `player`) runs its own `select!` over what it waits for and uses a `Link` for the engine's
//! side: [`Link::receive`], [`Link::drain`], [`Link::tick`], and why a peer ends ([`End`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::media::webrtc::PeerSlot;
use crate::media::webrtc::router::Datagram;

/// A peer that sends nothing (no media, no ICE consent check) for this long is gone.
pub const SILENCE: Duration = Duration::from_secs(15);

/// Deadlines already due that one [`Link::drain`] meets during the handshake.
const HANDSHAKE_ROUNDS: usize = 16;

/// Datagrams one [`Link::receive`] feeds the engine at most.
const BATCH: usize = 32;

/// Why a peer ended (logged).
#[derive(Debug)]
pub enum End {
    /// WHIP/WHEP `DELETE`.
    Deleted,
    /// Its publishing session ended elsewhere (signaling, the API, a takeover).
    Cut,
    /// The stream it played ended.
    StreamEnded,
    /// Nothing heard for [`SILENCE`].
    Silent,
    /// ICE disconnected.
    Disconnected,
    /// The peer closed (DTLS close) or the router forgot it.
    Closed,
    /// The engine failed.
    Engine(str0m::RtcError),
    /// Connected without an H.264 track to send (a WHEP offer str0m could not match).
    NoVideoTrack,
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Deleted => f.write_str("DELETE of its resource"),
            Self::Cut => f.write_str("its publishing session ended"),
            Self::StreamEnded => f.write_str("the stream ended"),
            Self::Silent => write!(f, "nothing heard for {} s", SILENCE.as_secs()),
            Self::Disconnected => f.write_str("ICE disconnected"),
            Self::Closed => f.write_str("closed by the peer"),
            Self::Engine(e) => write!(f, "WebRTC error: {e}"),
            Self::NoVideoTrack => f.write_str("no H.264 track was agreed"),
        }
    }
}

/// A peer's engine and wire.
pub struct Link {
    /// The engine.
    pub rtc: Rtc,
    inbox: mpsc::Receiver<Datagram>,
    socket: Arc<UdpSocket>,
    /// The socket's local address (str0m matches it against the candidate).
    local: SocketAddr,
    /// The ICE-TCP listener's local address, if there is one.
    tcp_local: Option<SocketAddr>,
    /// The ICE-TCP connections this peer was reached over, by remote address: their writers.
    tcp: HashMap<SocketAddr, mpsc::Sender<bytes::Bytes>>,
    /// When the last datagram came.
    heard: Instant,
    _slot: PeerSlot,
}

impl Link {
    pub(super) fn new(
        rtc: Rtc,
        inbox: mpsc::Receiver<Datagram>,
        (socket, local, tcp_local): (Arc<UdpSocket>, SocketAddr, Option<SocketAddr>),
        slot: PeerSlot,
        now: Instant,
    ) -> Self {
        Self { rtc, inbox, socket, local, tcp_local, tcp: HashMap::new(), heard: now, _slot: slot }
    }

    /// The next datagram for this peer (cancel-safe); `None` when the router forgot it.
    pub async fn recv(&mut self) -> Option<Datagram> {
        self.inbox.recv().await
    }

    /// Feeds a datagram to the engine, and those already waiting after it (up to
    /// [`BATCH`]): one wake-up of the peer's task for all that arrived meanwhile.
    pub fn receive(&mut self, d: Option<Datagram>) -> Result<(), End> {
        self.receive_one(d.ok_or(End::Closed)?)?;
        for _ in 1..BATCH {
            match self.inbox.try_recv() {
                Ok(d) => self.receive_one(d)?,
                Err(_) => break,
            }
        }
        Ok(())
    }

    fn receive_one(&mut self, d: Datagram) -> Result<(), End> {
        let Ok(contents) = d.data.as_slice().try_into() else { return Ok(()) };
        let (proto, destination) = match (d.tcp, self.tcp_local) {
            (Some(writer), Some(tcp_local)) => {
                self.tcp.insert(d.from, writer);
                (Protocol::Tcp, tcp_local)
            }
            (Some(_), None) => return Ok(()),
            (None, _) => (Protocol::Udp, self.local),
        };
        let input = Input::Receive(d.at, Receive { proto, source: d.from, destination, contents });
        // Only what the engine takes keeps the peer alive (not bytes anyone can send it).
        if self.rtc.accepts(&input) {
            self.heard = d.at;
            self.rtc.handle_input(input).map_err(End::Engine)?;
        }
        Ok(())
    }

    /// Carries out everything the engine has to do, handing its events (but ICE
    /// disconnection, which ends the peer) to `on_event`; returns when it next needs time,
    /// at the latest when it would be silent too long.
    pub fn drain(&mut self, mut on_event: impl FnMut(&mut Rtc, Event) -> Result<(), End>) -> Result<Instant, End> {
        // Until DTLS is up, a deadline already past is met here rather than by a trip through
        // the task's timer: on a busy node each trip waits behind every other peer, and a
        // handshake of several flights took hundreds of ms more. Once media flows, the trips
        // are the engine's pacing (meeting them here sent whole keyframes to every player at
        // once, more than the socket takes).
        let mut due = HANDSHAKE_ROUNDS;
        loop {
            if !self.rtc.is_alive() {
                return Err(End::Closed);
            }
            match self.rtc.poll_output().map_err(End::Engine)? {
                Output::Timeout(at) if due > 0 && !self.rtc.is_connected() && at <= crate::media::now() => {
                    due -= 1;
                    self.rtc.handle_input(Input::Timeout(crate::media::now())).map_err(End::Engine)?;
                }
                Output::Timeout(at) => return Ok(at.min(self.heard + SILENCE)),
                Output::Transmit(t) if t.proto == Protocol::Tcp => {
                    // A frame the connection cannot take now is lost, as a datagram would be.
                    let writer = self.tcp.get(&t.destination);
                    if let (Some(writer), Some(frame)) = (writer, super::tcp::frame(&t.contents)) {
                        let _ = writer.try_send(frame);
                    }
                }
                Output::Transmit(t) => {
                    // UDP: a datagram the socket cannot take now is lost, as on the wire.
                    let _ = self.socket.try_send_to(&t.contents, t.destination);
                }
                Output::Event(Event::IceConnectionStateChange(IceConnectionState::Disconnected)) => {
                    return Err(End::Disconnected);
                }
                Output::Event(e) => on_event(&mut self.rtc, e)?,
            }
        }
    }

    /// Time passed: the engine's timers; the end of a peer silent too long.
    pub fn tick(&mut self, now: Instant) -> Result<(), End> {
        if now >= self.heard + SILENCE {
            return Err(End::Silent);
        }
        self.rtc.handle_input(Input::Timeout(now)).map_err(End::Engine)
    }
}
