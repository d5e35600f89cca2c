//! The HTTP listener, plain or TLS: accepts under the connection caps ([`Acceptor`]) and serves
//! each connection with hyper's HTTP/1.1 server (upgrades, for WebSocket) under three
//! deadlines: the header timeout (from the accept, or from the end of the previous response,
//! to a complete request head; under TLS the handshake gets it first), and the idle timeout
//! and write deadline of [`Deadlines`]. On stop it accepts no more, asks
//! every connection to finish its request and close, and returns when all have.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::http::Peer;
use crate::http::deadlines::Deadlines;
use crate::http::limits::{Acceptor, ConnLimits, Limiter};
use crate::media::{MediaContext, flv_direct};
use crate::metrics::Metrics;

/// What a plain-HTTP connection over a cap is told before it is closed.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// The HTTP listener's limits.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// From the accept (or the previous response) to a complete request head; also the TLS
    /// handshake's limit.
    pub header_timeout: Duration,
    /// Longest time without a byte either way (WebSocket excepted).
    pub idle_timeout: Duration,
    /// Connection caps.
    pub connections: ConnLimits,
}

/// Serves `router` on `listener` (over TLS with `tls`) until `stop` turns true. A plain
/// connection is first offered to `media` (`media::flv_direct`: HTTP-FLV plays it serves
/// through the stream's writer); what it hands back goes to the router.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: Router,
    media: Option<MediaContext>,
    limits: HttpLimits,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let limiter = Limiter::new("HTTP", limits.connections, metrics.http_connections.clone());
    // Plain text on a TLS port would only confuse the client.
    let refusal = if tls.is_some() { &[][..] } else { REFUSAL };
    let mut acceptor = Acceptor::new(listener, limiter, refusal);
    let tls = tls.map(TlsAcceptor::from);
    let media = if tls.is_some() { None } else { media };
    // Each connection task holds a receiver; the sender sees them all gone.
    let (running, running_rx) = watch::channel(());
    loop {
        let (tcp, peer, permit) = tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = acceptor.accept() => accepted,
        };
        let (tls, media, metrics, running) = (tls.clone(), media.clone(), metrics.clone(), running_rx.clone());
        let (router, stop, header_timeout, idle_timeout) =
            (router.clone(), stop.clone(), limits.header_timeout, limits.idle_timeout);
        tokio::spawn(async move {
            let tcp = match &media {
                Some(media) => match flv_direct::take(media, tcp, header_timeout, stop.clone()).await {
                    Ok(()) => return drop((permit, running)),
                    Err(tcp) => tcp,
                },
                None => tcp,
            };
            let io = Deadlines::admitted(tcp, permit, idle_timeout);
            let conn = Conn { peer, router, header_timeout, upgraded: io.upgraded(), stop };
            match tls {
                None => conn.serve(io).await,
                // Boxed: the TLS handshake's state would make every plain connection's task
                // (mostly WebSocket upgrades, gone once upgraded) 5.5 KB instead of 1.4 KB.
                Some(tls) => Box::pin(conn.handshake(io, &tls, &metrics)).await,
            }
            drop(running);
        });
    }
    drop(running_rx);
    drop(acceptor);
    running.closed().await;
}

type Io = Deadlines<TcpStream>;

/// One connection's task.
struct Conn {
    peer: SocketAddr,
    router: Router,
    header_timeout: Duration,
    upgraded: Arc<AtomicBool>,
    stop: watch::Receiver<bool>,
}

impl Conn {
    /// Completes the TLS handshake within the header timeout, then serves.
    async fn handshake(mut self, io: Io, tls: &TlsAcceptor, metrics: &Metrics) {
        let peer = self.peer;
        let shaken = tokio::select! {
            () = stopped(&mut self.stop) => return,
            shaken = tokio::time::timeout(self.header_timeout, tls.accept(io)) => shaken,
        };
        match shaken {
            Ok(Ok(stream)) => self.serve(stream).await,
            Ok(Err(e)) => {
                Metrics::inc(&metrics.tls_handshake_failures);
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
            }
            Err(_) => {
                Metrics::inc(&metrics.tls_handshake_failures);
                tracing::debug!(%peer, "TLS handshake timed out");
            }
        }
    }

    /// Serves HTTP/1.1 requests until the connection ends, a deadline passes, or stop (then
    /// the request in progress finishes first).
    async fn serve(mut self, io: impl AsyncRead + AsyncWrite + Unpin + Send + 'static) {
        let (peer, upgraded) = (self.peer, self.upgraded.clone());
        let router = TowerToHyperService::new(self.router.clone());
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(Peer(peer)));
            let (answer, upgraded) = (router.call(req), upgraded.clone());
            async move {
                let res = answer.await?;
                if res.status() == hyper::StatusCode::SWITCHING_PROTOCOLS {
                    upgraded.store(true, Relaxed);
                }
                Ok::<_, Infallible>(res)
            }
        });
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new()).header_read_timeout(self.header_timeout);
        let conn = http.serve_connection(TokioIo::new(io), service).with_upgrades();
        tokio::pin!(conn);
        let ended = tokio::select! {
            ended = conn.as_mut() => ended,
            () = stopped(&mut self.stop) => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = ended {
            tracing::debug!(%peer, error = %e, "HTTP connection ended");
        }
    }
}

/// Returns once `stop` is true (or its sender is gone, which only happens at exit).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
