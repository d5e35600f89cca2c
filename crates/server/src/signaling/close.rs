//! How a signaling connection ends: always with a WebSocket closing handshake (RFC 6455 §7).
//!
//! - The peer sent a Close frame: tungstenite queued the echo; it is flushed before the socket
//!   is dropped (without that, the peer sees a bare FIN: a browser's 1006).
//! - The hub closed the connection: the `close` push, then a Close frame with 4000 and the
//!   reason (docs/protocol.md). When the node drains, the push lists the other nodes' URLs.
//! - The hub dropped it (too slow) or is gone: a Close frame with 1013 (try again later); the
//!   session stays resumable.
//!
//! Then the server reads and discards what the peer still sends until the peer's Close frame
//! ends the connection, for at most [`CLOSE_TIMEOUT`]. A socket dropped with unread input is
//! answered by the kernel with a reset, and a reset destroys what the peer has not read yet:
//! a client that flooded the server would never see why it was closed.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use duet_room::{ErrorCode, wire};
use serde_json::json;

use super::send;

/// How long a closing connection waits for the peer's Close frame (reading and discarding
/// what comes before it) before the socket is dropped anyway. Shorter than the server's
/// shutdown grace, so a shutdown still waits for every farewell.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// WebSocket close code of a server-initiated close that carries a `close` push.
pub const CLOSE_CODE_PUSHED: u16 = 4000;
/// WebSocket close code when the server dropped the connection for a passing condition
/// (the client could not keep up, or the hub is gone): reconnect and resume.
pub const CLOSE_CODE_AGAIN: u16 = 1013;
/// WebSocket close code of a message over [`super::MAX_WS_MESSAGE`].
pub const CLOSE_CODE_TOO_BIG: u16 = 1009;

/// Why a connection's loop ended.
pub(super) enum End {
    /// The peer sent a Close frame.
    PeerClosed,
    /// The hub closed the connection with this code.
    Hub(ErrorCode),
    /// The node is draining (`server_draining`): the client goes to one of these servers.
    Draining(Vec<String>),
    /// The hub dropped the connection (its outbox was full) or is gone.
    Dropped,
    /// Reading failed: a broken frame, a message over the limit, or a lost connection.
    ReadFailed(axum::Error),
    /// The connection is gone, or a write failed or timed out: nothing more can be sent.
    Gone,
    /// The room's home node, to which this connection was relayed, closed it with this frame.
    Relayed(Option<CloseFrame>),
}

/// Carries out the server's part of the closing handshake.
pub(super) async fn finish(socket: &mut WebSocket, end: End) {
    match end {
        End::PeerClosed => {}
        End::Hub(code) => {
            if !pushed_close(socket, code, json!({"code": code.number(), "reason": code.name()})).await {
                return;
            }
        }
        End::Draining(servers) => {
            let code = ErrorCode::ServerDraining;
            let data = json!({"code": code.number(), "reason": code.name(), "servers": servers});
            if !pushed_close(socket, code, data).await {
                return;
            }
        }
        End::Dropped => {
            if !within_timeout(socket, close_frame(CLOSE_CODE_AGAIN, "try_again_later")).await {
                return;
            }
        }
        End::ReadFailed(e) => {
            // The read side is unusable after an error: no draining is possible, so a peer
            // still sending may see a reset. A message over the limit is at least told why.
            if is_too_big(&e) {
                let _ = within_timeout(socket, close_frame(CLOSE_CODE_TOO_BIG, "message_too_big")).await;
            }
            return;
        }
        End::Gone => return,
        End::Relayed(frame) => {
            if !within_timeout(socket, Message::Close(frame)).await {
                return;
            }
        }
    }
    discard_until_closed(socket).await;
}

/// The `close` push carrying `data`, then the Close frame with 4000 and the reason.
async fn pushed_close(socket: &mut WebSocket, code: ErrorCode, data: serde_json::Value) -> bool {
    let push = wire::push("close", None, data);
    send(socket, Message::Text(push.into())).await && send(socket, close_frame(CLOSE_CODE_PUSHED, code.name())).await
}

fn close_frame(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}

/// Sends a message, waiting at most [`CLOSE_TIMEOUT`] (the peer may have stopped reading).
async fn within_timeout(socket: &mut WebSocket, msg: Message) -> bool {
    matches!(tokio::time::timeout(CLOSE_TIMEOUT, socket.send(msg)).await, Ok(Ok(())))
}

/// Reads (and so sends any queued Close echo) and discards until the connection ends or
/// [`CLOSE_TIMEOUT`] passes.
async fn discard_until_closed(socket: &mut WebSocket) {
    let deadline = tokio::time::Instant::now() + CLOSE_TIMEOUT;
    while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, socket.recv()).await {}
}

fn is_too_big(e: &axum::Error) -> bool {
    use std::error::Error as _;
    let inner = e.source().and_then(|s| s.downcast_ref::<tokio_tungstenite::tungstenite::Error>());
    matches!(inner, Some(tokio_tungstenite::tungstenite::Error::Capacity(_)))
}
