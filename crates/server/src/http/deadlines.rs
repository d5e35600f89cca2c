//! The deadlines of an HTTP connection's stream, plain or TLS (`http::server` wraps each TCP
//! stream in [`Deadlines`]):
//! - **write deadline**: a peer that stops reading (a stalled HTTP-FLV or fMP4 player, a
//!   frozen WebSocket client) would make writes wait forever, holding its connection and its
//!   stream subscription; a write that has waited [`LIMIT`] fails.
//! - **idle timeout**: hyper's header timeout bounds the wait for a request head, but nothing
//!   in hyper bounds a request body that stops arriving or a handler that never answers; a
//!   read fails once no byte has moved either way for the idle limit. Streaming responses are
//!   not idle while bytes flow, and a connection upgraded to a WebSocket is left to the
//!   signaling heartbeat.
//!
//! Either failure ends the connection. An admitted stream also holds the connection's
//! [`Permit`], so it counts against its listener's caps for as long as the socket lives,
//! WebSocket included.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::http::limits::Permit;

/// How long one write may wait for the peer to take data.
pub const LIMIT: Duration = Duration::from_secs(30);

/// A stream whose writes fail with `TimedOut` after waiting their limit and, when admitted with
/// an idle limit, whose reads fail with `TimedOut` once it has been idle that long.
pub struct Deadlines<S> {
    inner: S,
    limit: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
    idle: Option<Idle>,
}

/// The idle timeout of an admitted connection, and its place under the caps.
struct Idle {
    limit: Duration,
    last_activity: Instant,
    /// Dropped once the connection is upgraded: it holds the waker of the task that served
    /// the upgrade request, which would keep that task's memory for the socket's life.
    timer: Option<Pin<Box<Sleep>>>,
    upgraded: Arc<AtomicBool>,
    _permit: Permit,
}

impl<S> Deadlines<S> {
    /// Wraps `inner` with a write deadline only.
    pub fn new(inner: S, limit: Duration) -> Self {
        Self { inner, limit, stalled: None, idle: None }
    }

    /// Wraps an admitted connection: the [`LIMIT`] write deadline, idle after `idle` without
    /// traffic, holding `permit` until dropped.
    pub fn admitted(inner: S, permit: Permit, idle: Duration) -> Self {
        let now = Instant::now();
        let idle = Idle {
            limit: idle,
            last_activity: now,
            timer: Some(Box::pin(tokio::time::sleep_until(now + idle))),
            upgraded: Arc::default(),
            _permit: permit,
        };
        Self { idle: Some(idle), ..Self::new(inner, LIMIT) }
    }

    /// Set it to `true` when the connection becomes a WebSocket: it is then never idle.
    pub fn upgraded(&self) -> Arc<AtomicBool> {
        self.idle.as_ref().map(|i| i.upgraded.clone()).unwrap_or_default()
    }

    /// Called when a write is pending: starts (or checks) the deadline. The sleep registers the
    /// task's waker, so the write is polled again when the deadline passes.
    fn check(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let limit = self.limit;
        let sleep = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, "the peer stopped reading")),
            Poll::Pending => Poll::Pending,
        }
    }

    fn settle(&mut self, cx: &mut Context<'_>, result: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match result {
            Poll::Ready(r) => {
                self.stalled = None;
                if matches!(r, Ok(n) if n > 0) {
                    self.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.check(cx).map(Err),
        }
    }

    /// A byte went one way or the other.
    fn moved(&mut self) {
        if let Some(idle) = &mut self.idle {
            idle.last_activity = Instant::now();
        }
    }

    /// A read is pending: it fails once the connection has been idle for the limit. The timer
    /// registers the task's waker, so the read is polled again when the deadline passes.
    fn check_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(idle) = &mut self.idle else { return Poll::Pending };
        if idle.upgraded.load(Relaxed) {
            idle.timer = None;
        }
        let Some(timer) = &mut idle.timer else { return Poll::Pending };
        // The timer is moved only when it fires early (traffic since it was set), not on every
        // byte: a streaming response would otherwise re-arm it for each write.
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let deadline = idle.last_activity + idle.limit;
            if deadline <= timer.deadline() {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the connection was idle")));
            }
            timer.as_mut().reset(deadline);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deadlines<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                self.moved();
                Poll::Ready(Ok(()))
            }
            Poll::Pending => self.check_idle(cx),
            ready => ready,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deadlines<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.settle(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.settle(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx).map_ok(|()| 0);
        self.settle(cx, result).map_ok(|_| ())
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::limits::{ConnLimits, Limiter};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_write_the_peer_never_takes_fails_after_the_limit() {
        let (near, _far) = tokio::io::duplex(64);
        let mut s = Deadlines::new(near, Duration::from_millis(200));
        let started = tokio::time::Instant::now();
        let err = s.write_all(&[0u8; 1024]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn a_reading_peer_is_never_cut() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut s = Deadlines::new(near, Duration::from_millis(200));
        let reader = tokio::spawn(async move {
            let mut total = 0;
            let mut buf = [0u8; 64];
            while total < 2048 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                total += tokio::io::AsyncReadExt::read(&mut far, &mut buf).await.unwrap();
            }
        });
        // Slow, but never 200 ms without progress: the deadline restarts with each write.
        s.write_all(&[1u8; 2048]).await.unwrap();
        reader.await.unwrap();
    }

    fn admitted<S>(inner: S) -> Deadlines<S> {
        let limiter = Limiter::new("test", ConnLimits { total: 1, per_addr: 1 }, Arc::default());
        Deadlines::admitted(inner, limiter.admit("127.0.0.1".parse().unwrap()).unwrap(), Duration::from_secs(5))
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_fails_its_read_at_the_idle_limit() {
        let (near, _far) = tokio::io::duplex(64);
        let mut s = admitted(near);
        let started = Instant::now();
        let err = s.read(&mut [0u8; 8]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    /// A waker that counts how many clones of it are alive.
    struct Counted;
    impl std::task::Wake for Counted {
        fn wake(self: Arc<Self>) {}
    }

    /// The task that served the upgrade request ends there; a waker of it kept in the idle
    /// timer would keep its memory (the whole HTTP connection future) for as long as the
    /// WebSocket lives.
    #[tokio::test]
    async fn an_upgraded_connection_lets_go_of_the_upgrading_task() {
        let (near, _far) = tokio::io::duplex(64);
        let mut s = admitted(near);
        let http_task = Arc::new(Counted);
        let waker = std::task::Waker::from(http_task.clone());
        let mut buf = [0u8; 8];
        let pending = Pin::new(&mut s).poll_read(&mut Context::from_waker(&waker), &mut ReadBuf::new(&mut buf));
        assert!(pending.is_pending());
        drop(waker);
        assert!(Arc::strong_count(&http_task) > 1, "the idle timer waits with the HTTP task's waker");
        s.upgraded().store(true, Relaxed);
        let ws_task = std::task::Waker::from(Arc::new(Counted));
        let pending = Pin::new(&mut s).poll_read(&mut Context::from_waker(&ws_task), &mut ReadBuf::new(&mut buf));
        assert!(pending.is_pending());
        assert_eq!(Arc::strong_count(&http_task), 1, "nothing holds the HTTP task once upgraded");
    }

    #[tokio::test(start_paused = true)]
    async fn writes_keep_it_alive_and_an_upgrade_exempts_it() {
        let (near, far) = tokio::io::duplex(1 << 16);
        let (mut reader, mut writer) = tokio::io::split(admitted(near));
        let read = tokio::spawn(async move { reader.read(&mut [0u8; 8]).await.map(|_| reader) });
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_secs(3)).await;
            writer.write_all(b"media").await.unwrap();
        }
        assert!(!read.is_finished(), "12 s of writes, never idle for 5 s");
        tokio::time::sleep(Duration::from_secs(6)).await;
        let err = read.await.unwrap().err().expect("idle once the writes stop");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        drop(far);

        let (near, _far) = tokio::io::duplex(64);
        let mut s = admitted(near);
        s.upgraded().store(true, Relaxed);
        let silent = tokio::time::timeout(Duration::from_secs(60), s.read(&mut [0u8; 8])).await;
        assert!(silent.is_err(), "an upgraded connection is never idle");
    }
}
