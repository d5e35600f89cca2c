//! `Sink`: the sending side of one media connection (RTMP, or HTTP-FLV on a plain socket),
//! shared by its connection task (control messages, and draining what waits) and, for a
//! player, its stream's writer (`fanout`), so both write whole messages in order with
//! non-blocking sends; the sink's [`Form`] says which wire form of a flush its player takes. Bytes the socket does not take
//! at once wait in the sink's queue; the connection task drains it when the socket turns
//! writable and closes a connection that takes nothing for [`WRITE_TIMEOUT`]. A player whose
//! queue grows past [`MAX_QUEUED`] stops getting flushes and skips to the next keyframe
//! (`duet_media::Follower`).

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use duet_media::{Feed, Flush, Follower, Packet, Take};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Longest a connection may take no bytes while some wait for it.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a closing connection's leftover input is read and dropped.
const LINGER: Duration = Duration::from_secs(2);
/// Most leftover input read while closing.
const LINGER_BYTES: usize = 4 * 1024 * 1024;
/// Most bytes waiting for a player before it stops getting flushes (about 16 s at 1 Mbit/s;
/// the buffers are shared with other players, so this bounds time, not memory).
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

impl Sink {
    /// The sending side of `tcp`, whose player takes `form`.
    pub fn new(tcp: Arc<TcpStream>, form: Form) -> Self {
        Self { tcp, form, state: Mutex::new(State::default()), changed: Notify::new() }
    }

    /// Sends `packets` (a new player's start) in one buffer, counted as media sent.
    pub fn send_start(&self, packets: &[Arc<Packet>], stats: &duet_media::MediaStats) {
        let mut start = Vec::with_capacity(packets.iter().map(|p| self.form.packet(p).len()).sum());
        packets.iter().for_each(|p| start.extend_from_slice(self.form.packet(p)));
        stats.bytes_out.fetch_add(start.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.send(start.into());
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
                    self.sent(state, n);
                    return;
                }
                Ok(n) => {
                    self.sent(state, n);
                    bytes = bytes.slice(n..);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    state.failed = Some(e);
                    self.changed.notify_one();
                    return;
                }
            }
            state.stalled_since = Some(Instant::now());
            self.changed.notify_one();
        }
        state.queued += bytes.len();
        state.queue.push_back(bytes);
    }

    fn sent(&self, state: &State, n: usize) {
        if let Some(f) = &state.follower {
            f.sent(n);
        }
    }

    /// Plays through the stream's writer from now on: `follower` says what each flush brings.
    pub fn follow(&self, follower: Follower) {
        self.state().follower = Some(follower);
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
            Take::Part(packets) => packets.iter().for_each(|p| self.push(state, self.form.packet(p).clone())),
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
        while let Some(front) = state.queue.front_mut() {
            match self.tcp.try_write(front) {
                Ok(n) => {
                    state.queued -= n;
                    state.stalled_since = Some(Instant::now());
                    if n == front.len() {
                        state.queue.pop_front();
                    } else {
                        *front = front.slice(n..);
                    }
                    if let Some(f) = &state.follower {
                        f.sent(n);
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
    pub fn write_deadline(&self) -> Option<Instant> {
        self.state().stalled_since.map(|since| since + WRITE_TIMEOUT)
    }

    /// Whether bytes wait for the socket.
    pub fn is_waiting(&self) -> bool {
        !self.state().queue.is_empty()
    }

    /// A write failed (the connection task ends the connection).
    pub fn failed(&self) -> Option<io::Error> {
        self.state().failed.take()
    }

    /// Closes the connection so the peer reads everything sent before (a refusal's `onStatus`,
    /// the end of a stream): what waits is written, our side is shut down, then input the peer
    /// sent ahead is read and dropped until it closes too (bounded in time and bytes). Closing
    /// a socket with unread input would send a reset, which discards what the peer had not
    /// read yet.
    pub async fn close(&self) {
        let tcp = &*self.tcp;
        let close = async {
            while self.is_waiting() {
                if tcp.writable().await.is_err() || self.drain().is_err() {
                    return;
                }
            }
            if socket2::SockRef::from(tcp).shutdown(std::net::Shutdown::Write).is_err() {
                return;
            }
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
        let _ = tokio::time::timeout(LINGER, close).await;
    }

    /// Completes when something changed for the connection task to look at.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}
