//! `Sink`: the sending side of one media connection (RTMP, or HTTP-FLV on a plain socket),
//! shared by its connection task (control messages, and draining what waits) and, for a
//! player, its stream's writer (`fanout`), so both write whole messages in order with
//! non-blocking sends; the sink's [`Form`] says which wire form of a flush its player takes.
//! Bytes the socket does not take at once wait in the sink's queue; the connection task drains
//! them ([`Sink::tend`]) when the socket turns writable, and ends a connection that takes
//! nothing for [`WRITE_TIMEOUT`]. A player whose queue grows past [`MAX_QUEUED`] stops getting
//! flushes and skips to the next keyframe (`duet_media::Follower`).

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use duet_media::{Feed, Flush, Follower, Packet, Take};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::media::now;

/// Longest a connection may take no bytes while some wait for it.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a closing connection's leftover input is read and dropped.
const LINGER: Duration = Duration::from_secs(2);
/// Most leftover input read while closing.
const LINGER_BYTES: usize = 4 * 1024 * 1024;
/// The first bytes of a new player's start joined into one send (about what a fresh socket
/// takes at once); the rest is queued as shared buffers.
pub const START_COPY: usize = 64 * 1024;
/// Most bytes waiting for a player before it stops getting flushes (about 16 s at 1 Mbit/s;
/// the buffers are shared with other players and with the stream's cache, so this bounds
/// time, not memory).
pub const MAX_QUEUED: usize = 2 * 1024 * 1024;

/// The wire form a player takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// RTMP chunks.
    Rtmp,
    /// FLV tags.
    Flv,
}

impl Form {
    fn flush(self, flush: &Flush) -> &Bytes {
        match self {
            Form::Rtmp => flush.rtmp(),
            Form::Flv => flush.flv(),
        }
    }

    /// A packet in this form.
    pub fn packet(self, packet: &Packet) -> &Bytes {
        match self {
            Form::Rtmp => packet.rtmp(),
            Form::Flv => packet.flv(),
        }
    }
}

/// The sending side of one connection.
pub struct Sink {
    tcp: Arc<TcpStream>,
    form: Form,
    state: Mutex<State>,
    /// Tells the connection task that bytes wait, the played stream ended, or a write failed.
    changed: Notify,
}

/// Why the sending side ends its connection.
#[derive(Debug)]
pub enum Trouble {
    /// A write failed.
    Write(io::Error),
    /// Bytes waited [`WRITE_TIMEOUT`] without the peer taking any.
    Stalled,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Bytes>,
    queued: usize,
    /// Since when the queue has waited without a byte taken.
    stalled_since: Option<Instant>,
    /// Set while the connection plays a stream through its writer.
    follower: Option<Follower>,
    /// The played stream ended (after everything it sent).
    ended: bool,
    failed: Option<io::Error>,
}

impl State {
    /// Counts bytes the socket took (media, once the player follows a stream).
    fn sent(&self, n: usize) {
        if let Some(f) = &self.follower {
            f.sent(n);
        }
    }
}

impl Sink {
    /// The sending side of `tcp`, whose player takes `form`.
    pub fn new(tcp: Arc<TcpStream>, form: Form) -> Self {
        Self { tcp, form, state: Mutex::new(State::default()), changed: Notify::new() }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `bytes` after whatever waits: at once when the socket takes them.
    pub fn send(&self, bytes: Bytes) {
        let mut state = self.state();
        self.push(&mut state, bytes);
    }

    fn push(&self, state: &mut State, mut bytes: Bytes) {
        if state.failed.is_some() || bytes.is_empty() {
            return;
        }
        if state.queue.is_empty() {
            // A plain send(2) on the socket, without tokio's readiness bookkeeping (the hot
            // path: one per player per flush). A send that would block leaves tokio believing
            // the socket writable; the connection task's drain then learns otherwise.
            match socket2::SockRef::from(&*self.tcp).send(&bytes) {
                Ok(n) if n == bytes.len() => {
                    state.sent(n);
                    return;
                }
                Ok(n) => {
                    state.sent(n);
                    bytes = bytes.slice(n..);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    state.failed = Some(e);
                    self.changed.notify_one();
                    return;
                }
            }
            state.stalled_since = Some(now());
            self.changed.notify_one();
        }
        state.queued += bytes.len();
        state.queue.push_back(bytes);
    }

    /// Starts playing: sends the player's start (metadata, sequence headers, the GOP so far:
    /// the first [`START_COPY`] bytes joined into one send, the rest queued as the packets'
    /// own shared buffers, so a player that does not read holds no copy of the GOP), then plays
    /// through the stream's writer, whose flushes `follower` sorts. Both under the sink's lock:
    /// no flush comes before the start.
    pub fn start_following(&self, mut follower: Follower) {
        let packets = follower.take_start();
        let mut state = self.state();
        state.follower = Some(follower);
        let mut head = Vec::new();
        let mut rest = Vec::new();
        for p in &packets {
            let bytes = self.form.packet(p);
            let room = START_COPY.saturating_sub(head.len());
            if rest.is_empty() && room >= bytes.len() {
                head.extend_from_slice(bytes);
            } else if rest.is_empty() {
                head.extend_from_slice(&bytes[..room]);
                rest.push(bytes.slice(room..));
            } else {
                rest.push(bytes.clone());
            }
        }
        self.push(&mut state, head.into());
        for bytes in rest {
            self.push(&mut state, bytes);
        }
    }

    /// Stops playing (the follower is dropped: the player no longer counts).
    pub fn unfollow(&self) {
        self.state().follower = None;
    }

    /// Hands `flushes` (from `feed`, in order) to the player: what its follower says it gets.
    pub fn offer(&self, feed: &Feed, flushes: &[Arc<Flush>]) {
        let mut state = self.state();
        let Some(mut follower) = state.follower.take() else { return };
        for flush in flushes {
            if flush.seq() > follower.next_seq() {
                // It joined behind the writer: the flushes in between first.
                match feed.between(follower.next_seq(), flush.seq()) {
                    Ok(missed) => missed.iter().for_each(|m| self.take(&mut state, &mut follower, m)),
                    Err(oldest) => follower.lost(oldest),
                }
            }
            self.take(&mut state, &mut follower, flush);
        }
        state.follower = Some(follower);
    }

    fn take(&self, state: &mut State, follower: &mut Follower, flush: &Flush) {
        match follower.take(flush, state.queued <= MAX_QUEUED) {
            Take::Nothing => {}
            Take::Whole => self.push(state, self.form.flush(flush).clone()),
            Take::Part(packets) => {
                // Rare (a skip ends): one buffer of the headers and the tail.
                let mut joined = Vec::with_capacity(packets.iter().map(|p| self.form.packet(p).len()).sum());
                packets.iter().for_each(|p| joined.extend_from_slice(self.form.packet(p)));
                self.push(state, joined.into());
            }
        }
    }

    /// The played stream ended: the connection task says so after what was sent.
    pub fn end(&self) {
        self.state().ended = true;
        self.changed.notify_one();
    }

    /// Whether the played stream ended (once).
    pub fn take_ended(&self) -> bool {
        std::mem::take(&mut self.state().ended)
    }

    /// Writes what waits while the socket takes it. `Err` when a write failed.
    pub fn drain(&self) -> io::Result<()> {
        let mut guard = self.state();
        let state = &mut *guard;
        if let Some(e) = state.failed.take() {
            return Err(e);
        }
        while !state.queue.is_empty() {
            let slices: Vec<io::IoSlice<'_>> = state.queue.iter().take(64).map(|b| io::IoSlice::new(b)).collect();
            match self.tcp.try_write_vectored(&slices) {
                Ok(mut n) => {
                    drop(slices);
                    state.queued -= n;
                    state.stalled_since = Some(now());
                    state.sent(n);
                    while n > 0 {
                        let front = state.queue.front_mut().expect("bytes written were queued");
                        if n >= front.len() {
                            n -= front.len();
                            state.queue.pop_front();
                        } else {
                            *front = front.slice(n..);
                            n = 0;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        state.stalled_since = None;
        Ok(())
    }

    /// When waiting bytes time out (`None`: nothing waits).
    fn write_deadline(&self) -> Option<Instant> {
        self.state().stalled_since.map(|since| since + WRITE_TIMEOUT)
    }

    /// Whether bytes wait for the socket.
    fn is_waiting(&self) -> bool {
        !self.state().queue.is_empty()
    }

    /// A write failed (the connection task ends the connection).
    pub fn failed(&self) -> Option<io::Error> {
        self.state().failed.take()
    }

    /// The connection task's part of the sending side: completes when there is something for
    /// it to look at (the played stream ended, a write failed, or bytes went out: check
    /// [`Sink::take_ended`], [`Sink::failed`]), draining what waits whenever the socket turns
    /// writable; `Err` when the connection must end. Cancel-safe, for a `select!`.
    pub async fn tend(&self) -> Result<(), Trouble> {
        let (waiting, deadline) = (self.is_waiting(), self.write_deadline());
        let stalled = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ready = self.tcp.writable(), if waiting => {
                ready.map_err(Trouble::Write)?;
                self.drain().map_err(Trouble::Write)
            }
            () = self.changed.notified() => Ok(()),
            () = stalled => Err(Trouble::Stalled),
        }
    }

    /// Closes the connection so the peer reads everything sent before (a refusal's `onStatus`,
    /// the end of a stream): what waits is written, our side is shut down, then input the peer
    /// sent ahead is read and dropped until it closes too (bounded in time and bytes). Closing
    /// a socket with unread input would send a reset, which discards what the peer had not
    /// read yet.
    pub async fn close(&self) {
        let tcp = &*self.tcp;
        let drain = async {
            while self.is_waiting() {
                if tcp.writable().await.is_err() || self.drain().is_err() {
                    return false;
                }
            }
            true
        };
        // What waits gets the write timeout a playing connection has; the lingering read after
        // the shutdown gets LINGER.
        if !matches!(tokio::time::timeout(WRITE_TIMEOUT, drain).await, Ok(true)) {
            return;
        }
        if socket2::SockRef::from(tcp).shutdown(std::net::Shutdown::Write).is_err() {
            return;
        }
        let linger = async {
            let mut buf = vec![0u8; 16 * 1024];
            let mut dropped = 0;
            while dropped < LINGER_BYTES {
                if tcp.readable().await.is_err() {
                    return;
                }
                match tcp.try_read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => dropped += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, linger).await;
    }
}
