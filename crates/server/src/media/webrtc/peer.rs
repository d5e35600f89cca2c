//! One WHIP publisher's task: drives its `str0m::Rtc` (datagrams from the router, time from
//! tokio's clock, transmits out of the shared UDP socket), turns the browser's H.264 access
//! units into video packets (`duet_media::avc::AvcPackager`) pushed into the stream's
//! `Publisher`, and asks the browser for a keyframe (PLI) when media starts, every second
//! while the stream has none, and whenever the last one is [`KEYFRAME_INTERVAL`] old (browsers
//! send keyframes only when asked: without this, late players would start from an ever-longer
//! GOP, and once the cache's bound drops it, wait for a keyframe that never comes). It ends, through `admission::end`, when the browser says
//! goodbye (DTLS close), ICE disconnects, nothing arrives for [`SILENCE`], WHIP `DELETE`
//! stops it, or signaling cuts the stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use duet_media::avc::AvcPackager;
use duet_media::{Kind, Publisher};
use str0m::media::{KeyframeRequestKind, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::media::webrtc::router::Datagram;
use crate::media::{MediaContext, admission, now};

/// A peer that sends nothing (no media, no ICE consent check) for this long is gone.
pub const SILENCE: Duration = Duration::from_secs(15);
/// How often a keyframe is asked for while one is due and has not come.
const KEYFRAME_RETRY: Duration = Duration::from_secs(1);
/// The longest the stream goes without a keyframe (as an RTMP encoder's 2 s GOP): late players
/// start from at most this much cached media.
pub const KEYFRAME_INTERVAL: Duration = Duration::from_secs(2);

/// Why a peer ended (logged).
#[derive(Debug)]
enum End {
    Deleted,
    Cut,
    Silent,
    Disconnected,
    Closed,
    Engine(str0m::RtcError),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Deleted => f.write_str("WHIP DELETE"),
            Self::Cut => f.write_str("its publishing session ended"),
            Self::Silent => write!(f, "nothing heard for {} s", SILENCE.as_secs()),
            Self::Disconnected => f.write_str("ICE disconnected"),
            Self::Closed => f.write_str("closed by the peer"),
            Self::Engine(e) => write!(f, "WebRTC error: {e}"),
        }
    }
}

/// Everything a peer's task owns.
pub struct Peer {
    /// The engine.
    pub rtc: Rtc,
    /// The admitted stream.
    pub publisher: Publisher,
    /// Datagrams for this peer.
    pub inbox: mpsc::Receiver<Datagram>,
    /// WHIP `DELETE`.
    pub stop: oneshot::Receiver<()>,
    /// The shared socket (sending side).
    pub socket: Arc<UdpSocket>,
    /// The socket's local address (str0m matches it against the candidate).
    pub local: SocketAddr,
    /// Its place among the node's peers, freed when it ends.
    pub slot: super::PeerSlot,
}

struct State {
    packager: AvcPackager,
    video: Option<Mid>,
    connected: bool,
    next_keyframe_request: Instant,
    /// When the last keyframe arrived.
    last_keyframe: Option<Instant>,
}

impl Peer {
    /// Runs the peer until it ends, then ends its publish.
    pub async fn run(mut self, ctx: MediaContext) {
        ctx.metrics.webrtc_peers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Err(end) = self.drive().await;
        ctx.metrics.webrtc_peers.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        let key = self.publisher.key().clone();
        tracing::info!(app_id = key.app_id, stream = %key.stream_id, "WHIP publish ended: {end}");
        self.rtc.disconnect();
        admission::end(&ctx, self.publisher).await;
    }

    async fn drive(&mut self) -> Result<std::convert::Infallible, End> {
        let start = now();
        let mut st = State {
            packager: AvcPackager::new(),
            video: None,
            connected: false,
            next_keyframe_request: start,
            last_keyframe: None,
        };
        let mut heard = start;
        loop {
            let timeout = self.drain(&mut st)?;
            let deadline = [Some(timeout), self.publisher.poll_timeout(), Some(heard + SILENCE)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(heard + SILENCE);
            tokio::select! {
                d = self.inbox.recv() => {
                    let d = d.ok_or(End::Closed)?;
                    heard = d.at;
                    let Ok(contents) = d.data.as_slice().try_into() else { continue };
                    let input = Input::Receive(d.at, Receive { proto: Protocol::Udp, source: d.from, destination: self.local, contents });
                    if self.rtc.accepts(&input) {
                        self.rtc.handle_input(input).map_err(End::Engine)?;
                    }
                }
                _ = &mut self.stop => return Err(End::Deleted),
                () = self.publisher.cut_requested() => return Err(End::Cut),
                () = tokio::time::sleep_until(deadline.into()) => {
                    let now = now();
                    if now >= heard + SILENCE {
                        return Err(End::Silent);
                    }
                    self.publisher.handle_timeout(now);
                    self.rtc.handle_input(Input::Timeout(now)).map_err(End::Engine)?;
                    self.ask_keyframe(&mut st, now);
                }
            }
        }
    }

    /// Carries out everything the engine has to do; returns when it next needs time.
    fn drain(&mut self, st: &mut State) -> Result<Instant, End> {
        loop {
            if !self.rtc.is_alive() {
                return Err(End::Closed);
            }
            match self.rtc.poll_output().map_err(End::Engine)? {
                Output::Timeout(at) => return Ok(at),
                Output::Transmit(t) => {
                    // UDP: a datagram the socket cannot take now is lost, as on the wire.
                    let _ = self.socket.try_send_to(&t.contents, t.destination);
                }
                Output::Event(e) => self.on_event(st, e)?,
            }
        }
    }

    fn on_event(&mut self, st: &mut State, e: Event) -> Result<(), End> {
        match e {
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => return Err(End::Disconnected),
            Event::Connected => {
                st.connected = true;
                self.ask_keyframe(st, now());
            }
            Event::MediaAdded(m) if m.kind == MediaKind::Video && st.video.is_none() => st.video = Some(m.mid),
            Event::MediaData(d) if Some(d.mid) == st.video => {
                let out = st.packager.push(d.time.numer() as u32, &d.data);
                let at = now();
                if let Some(header) = out.sequence_header {
                    self.publisher.push(at, Kind::Video, out.timestamp, header);
                }
                if let Some(frame) = out.frame {
                    self.publisher.push(at, Kind::Video, out.timestamp, frame);
                    if out.keyframe {
                        st.last_keyframe = Some(at);
                    }
                }
                self.ask_keyframe(st, at);
            }
            _ => {}
        }
        Ok(())
    }

    /// Sends a PLI when a keyframe is due (none yet, or the last one is [`KEYFRAME_INTERVAL`]
    /// old) and the last request is a second old.
    fn ask_keyframe(&mut self, st: &mut State, now: Instant) {
        let Some(mid) = st.video else { return };
        let due = st.packager.wants_keyframe() || st.last_keyframe.is_none_or(|at| now >= at + KEYFRAME_INTERVAL);
        if !st.connected || !due || now < st.next_keyframe_request {
            return;
        }
        st.next_keyframe_request = now + KEYFRAME_RETRY;
        if let Some(mut w) = self.rtc.writer(mid) {
            let _ = w.request_keyframe(None, KeyframeRequestKind::Pli);
        }
    }
}
