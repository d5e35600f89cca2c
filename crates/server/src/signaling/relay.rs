//! A signaling connection whose room lives on another node of the cluster (its home,
//! `cluster::homes`): this node carries the client's frames to the home's `/ws` and the home's
//! frames back, so every member of a room is served by one room hub (one member list, one
//! `seq` order) whichever node the member dialled. The only change made to what passes: play
//! URLs in the home's frames name this node (`duet_room::rebase_play_urls`), so the client
//! plays from the node it dialled, which pulls each stream from its origin once
//! (`media::edge`).
//!
//! The client already has this node's `hello`; the home's is not passed on. When the home
//! closes the connection its Close frame is passed on as it came; when the home cannot be
//! reached or its connection breaks, the client is closed with 1013 and reconnects (a resume
//! is routed by its session ID; a node that died cost the session, and the SDK logs in again,
//! making a living node the room's home). When this node drains, the link to the home is
//! dropped (the session waits there for a resume) and the client is sent to another node.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use duet_token::MediaBases;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

use super::close::End;
use crate::cluster::nodes::NodeInfo;

/// How long the home may take to accept the connection and say hello.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Header naming the node a relayed connection comes through.
pub const RELAYED_BY: &str = "x-duet-relayed-by";
/// Header counting the relays a connection passed through.
pub const RELAY_HOPS: &str = "x-duet-relay-hops";
/// Relays a connection may pass through: a resume relayed to the node holding the session,
/// then a login relayed from there to the room's home (the room moved while the session
/// lapsed). Beyond, the client is told to reconnect (two nodes disagree for a moment).
pub const MAX_RELAY_HOPS: u8 = 2;

/// Relays `socket` (which came through `hops` relays) to `home`, starting with the client's
/// `first` frame; says how it ended.
pub(super) async fn run(
    socket: &mut WebSocket,
    (me, hops): (&str, u8),
    here: &MediaBases,
    home: &NodeInfo,
    first: Utf8Bytes,
    mut draining: tokio::sync::watch::Receiver<bool>,
) -> End {
    let mut upstream = match connect(me, hops + 1, home).await {
        Ok(upstream) => upstream,
        Err(e) => {
            tracing::warn!(home = %home.name, "cannot reach a room's home node: {e}");
            return End::Dropped;
        }
    };
    let theirs = MediaBases { rtmp: home.addresses.rtmp.clone(), http: home.addresses.http.clone() };
    if upstream.send(tungstenite::Message::Text(first.as_str().into())).await.is_err() {
        return End::Dropped;
    }
    loop {
        tokio::select! {
            () = drained(&mut draining) => {
                let _ = upstream.close(None).await;
                return End::Hub(duet_room::ErrorCode::ServerDraining);
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(text))) => {
                    if upstream.send(tungstenite::Message::Text(text.as_str().into())).await.is_err() {
                        return End::Dropped;
                    }
                }
                Some(Ok(Message::Binary(bytes))) => {
                    // The home refuses them as it refuses any client's.
                    if upstream.send(tungstenite::Message::Binary(bytes)).await.is_err() {
                        return End::Dropped;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) => {
                    let _ = upstream.close(None).await;
                    return End::PeerClosed;
                }
                Some(Err(e)) => {
                    let _ = upstream.close(None).await;
                    return End::ReadFailed(e);
                }
                None => {
                    let _ = upstream.close(None).await;
                    return End::Gone;
                }
            },
            msg = upstream.next() => match msg {
                Some(Ok(tungstenite::Message::Text(text))) => {
                    let text = match duet_room::rebase_play_urls(text.as_str(), &theirs, here) {
                        Some(moved) => Utf8Bytes::from(moved),
                        None => Utf8Bytes::from(text.as_str()),
                    };
                    if !super::send(socket, Message::Text(text)).await {
                        let _ = upstream.close(None).await;
                        return End::Gone;
                    }
                }
                Some(Ok(tungstenite::Message::Close(frame))) => {
                    let frame = frame.map(|f| CloseFrame { code: f.code.into(), reason: f.reason.as_str().into() });
                    return End::Relayed(frame);
                }
                Some(Ok(_)) => {}
                // The home's connection broke (its node may have died): the client reconnects.
                Some(Err(_)) | None => return End::Dropped,
            },
        }
    }
}

/// Completes when the node starts draining (never, if it cannot any more).
async fn drained(draining: &mut tokio::sync::watch::Receiver<bool>) {
    if draining.wait_for(|d| *d).await.is_err() {
        std::future::pending::<()>().await;
    }
}

type Upstream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the home's `/ws` and reads (and drops) its hello.
async fn connect(me: &str, hops: u8, home: &NodeInfo) -> anyhow::Result<Upstream> {
    let mut request = home.reach().ws.as_str().into_client_request()?;
    request.headers_mut().insert(RELAYED_BY, me.parse()?);
    request.headers_mut().insert(RELAY_HOPS, u16::from(hops).into());
    // Small buffers, as for the node's own clients (the library's default read buffer, 128 KiB
    // allocated per connection, cost each relayed member about 80 KB in the cluster benchmark).
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(super::MAX_WS_MESSAGE))
        .max_frame_size(Some(super::MAX_WS_MESSAGE))
        .read_buffer_size(super::READ_BUFFER)
        .write_buffer_size(0);
    let opened = async {
        let (mut upstream, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
        match upstream.next().await {
            Some(Ok(tungstenite::Message::Text(hello))) if hello.as_str().contains("\"hello\"") => Ok(upstream),
            other => anyhow::bail!("the home node did not say hello: {other:?}"),
        }
    };
    tokio::time::timeout(CONNECT_TIMEOUT, opened).await.map_err(|_| anyhow::anyhow!("no answer within 3 s"))?
}
