//! The hub's way to one connection: an [`Outbox`] (the hub's end) and a [`Mailbox`] (the
//! connection task's end) sharing a queue of at most [`OUTBOX`](super::OUTBOX) frames, plus a
//! place for the hub's close that a full queue never takes away.
//!
//! An idle connection is most of a server's connections, so the pair costs one small
//! allocation and an empty queue holds no buffer; the connection task takes every waiting
//! frame at once. Ends as a channel's would: frames queued before the hub closed or dropped
//! the outbox are still taken, then the close (or the hub's absence) is seen; once the
//! connection task is gone, the hub's pushes fail.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use duet_room::ErrorCode;
use tokio::sync::Notify;

struct Shared {
    state: Mutex<State>,
    ready: Notify,
}

#[derive(Default)]
struct State {
    frames: VecDeque<Utf8Bytes>,
    close: Option<ErrorCode>,
    hub_gone: bool,
    conn_gone: bool,
}

/// The hub's end.
pub(super) struct Outbox(Arc<Shared>);

/// The connection task's end.
pub(super) struct Mailbox(Arc<Shared>);

/// What a connection task takes from its mailbox, in this order: frames, then the end.
pub(super) enum Taken {
    /// Frames to send (moved into the caller's queue).
    Frames,
    /// The hub closed the connection with this code.
    Close(ErrorCode),
    /// The hub dropped the connection (too slow) or is gone.
    Dropped,
}

/// A connected pair.
pub(super) fn pair() -> (Outbox, Mailbox) {
    let shared = Arc::new(Shared { state: Mutex::default(), ready: Notify::new() });
    (Outbox(shared.clone()), Mailbox(shared))
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned one still holds a valid queue.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Outbox {
    /// Queues a frame; false when the connection has [`OUTBOX`](super::OUTBOX) frames waiting
    /// (too slow) or is gone.
    pub(super) fn push(&self, frame: Utf8Bytes) -> bool {
        let mut state = self.0.state();
        if state.conn_gone || state.frames.len() >= super::OUTBOX {
            return false;
        }
        let was_empty = state.frames.is_empty();
        state.frames.push_back(frame);
        drop(state);
        if was_empty {
            self.0.ready.notify_one();
        }
        true
    }

    /// Closes the connection with `code`, after the frames already queued; never refused.
    pub(super) fn close(self, code: ErrorCode) {
        self.0.state().close = Some(code);
        // Dropping notifies.
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.0.state().hub_gone = true;
        self.0.ready.notify_one();
    }
}

impl Mailbox {
    /// Waits until the hub has queued something: moves every waiting frame into `into`
    /// (which must be empty), or says how the connection ends once no frame is left.
    pub(super) async fn take(&mut self, into: &mut VecDeque<Utf8Bytes>) -> Taken {
        loop {
            {
                let mut state = self.0.state();
                if !state.frames.is_empty() {
                    // Hand over the queue itself: an idle connection keeps no buffer.
                    std::mem::swap(into, &mut state.frames);
                    return Taken::Frames;
                }
                if let Some(code) = state.close {
                    return Taken::Close(code);
                }
                if state.hub_gone {
                    return Taken::Dropped;
                }
            }
            self.0.ready.notified().await;
        }
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        self.0.state().conn_gone = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(s: &'static str) -> Utf8Bytes {
        Utf8Bytes::from_static(s)
    }

    #[tokio::test]
    async fn frames_then_the_close() {
        let (outbox, mut mailbox) = pair();
        assert!(outbox.push(frame("a")));
        assert!(outbox.push(frame("b")));
        outbox.close(ErrorCode::KickedOut);
        let mut got = VecDeque::new();
        assert!(matches!(mailbox.take(&mut got).await, Taken::Frames));
        assert_eq!(got, [frame("a"), frame("b")]);
        got.clear();
        assert!(matches!(mailbox.take(&mut got).await, Taken::Close(ErrorCode::KickedOut)));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_frames_but_not_the_close() {
        let (outbox, mut mailbox) = pair();
        for _ in 0..super::super::OUTBOX {
            assert!(outbox.push(frame("x")));
        }
        assert!(!outbox.push(frame("y")), "too slow");
        outbox.close(ErrorCode::ServerShutdown);
        let mut got = VecDeque::new();
        assert!(matches!(mailbox.take(&mut got).await, Taken::Frames));
        assert_eq!(got.len(), super::super::OUTBOX);
        got.clear();
        assert!(matches!(mailbox.take(&mut got).await, Taken::Close(ErrorCode::ServerShutdown)));
    }

    #[tokio::test]
    async fn a_dropped_outbox_ends_after_its_frames() {
        let (outbox, mut mailbox) = pair();
        assert!(outbox.push(frame("a")));
        let waiting = tokio::spawn(async move {
            let mut got = VecDeque::new();
            let first = matches!(mailbox.take(&mut got).await, Taken::Frames);
            got.clear();
            (first, matches!(mailbox.take(&mut got).await, Taken::Dropped))
        });
        tokio::task::yield_now().await;
        drop(outbox);
        assert_eq!(waiting.await.unwrap(), (true, true));
    }

    #[tokio::test]
    async fn a_waiting_connection_wakes_for_a_frame() {
        let (outbox, mut mailbox) = pair();
        let waiting = tokio::spawn(async move {
            let mut got = VecDeque::new();
            let _ = mailbox.take(&mut got).await;
            got
        });
        tokio::task::yield_now().await;
        assert!(outbox.push(frame("late")));
        assert_eq!(waiting.await.unwrap(), [frame("late")]);
    }

    #[test]
    fn pushes_fail_once_the_connection_is_gone() {
        let (outbox, mailbox) = pair();
        drop(mailbox);
        assert!(!outbox.push(frame("a")));
    }
}
