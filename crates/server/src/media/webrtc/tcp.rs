//! ICE over TCP (RFC 6544), for browsers whose network lets no UDP through: Duet offers one
//! passive TCP host candidate (the `--webrtc-tcp` listener, beside the UDP one, lower in
//! priority), a browser connects to it, and what the UDP socket would carry (STUN, DTLS,
//! SRTP) flows as RFC 4571 frames (a 16-bit length before each packet). Each connection's
//! frames go through the same router as UDP datagrams, so a peer is found the same way (its
//! first frame is a STUN binding request naming it); the peer answers through the
//! connection's writer. Bytes from outside are hostile: a frame longer than [`MAX_FRAME`], a
//! frame that reaches no peer (its first must be a binding request naming one), or no frame
//! within [`QUIET`] ends a connection; connections are capped like the other listeners'
//! (`http::limits`: as many as the node takes WebRTC peers, [`PER_ADDR`] per address).
//!
//! What it does not do: ICE-TCP active or simultaneous-open candidates, TURN over TCP/TLS
//! (a browser behind a proxy that allows only HTTPS still cannot connect), or TCP on the
//! same port as the HTTP listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::http::limits::{Acceptor, ConnLimits, Limiter};
use crate::media::webrtc::router::{Command, Datagram};
use crate::metrics::ConnStats;

/// The longest frame taken (DTLS and SRTP packets fit in an MTU; STUN is smaller).
pub const MAX_FRAME: usize = 4096;
/// A connection with no frame for this long is closed (browsers check consent every few s).
pub const QUIET: Duration = Duration::from_secs(30);
/// ICE-TCP connections open at once from one address (IPv6: one /64).
pub const PER_ADDR: usize = 64;
/// Frames queued toward one connection before more are dropped (as UDP would lose them).
const OUTBOX: usize = 512;

/// Accepts connections on `listener` (at most `max` at once), handing their frames to the
/// router.
pub async fn run(listener: TcpListener, max: usize, stats: Arc<ConnStats>, commands: mpsc::Sender<Command>) {
    let limits = ConnLimits { total: max, per_addr: PER_ADDR.min(max) };
    let mut acceptor = Acceptor::new(listener, Limiter::new("WebRTC TCP", limits, stats), b"");
    loop {
        let (stream, from, permit) = acceptor.accept().await;
        let commands = commands.clone();
        tokio::spawn(async move {
            connection(stream, from, commands).await;
            drop(permit);
        });
    }
}

/// A packet as an RFC 4571 frame.
pub fn frame(packet: &[u8]) -> Option<Bytes> {
    let len = u16::try_from(packet.len()).ok()?;
    let mut out = BytesMut::with_capacity(2 + packet.len());
    out.put_u16(len);
    out.put_slice(packet);
    Some(out.freeze())
}

async fn connection(stream: TcpStream, from: SocketAddr, commands: mpsc::Sender<Command>) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Bytes>(OUTBOX);
    // The writer ends with a write error, or an empty frame: the router found no peer for
    // this connection's frames (the reader then ends the connection).
    let mut writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if frame.is_empty() || wr.write_all(&frame).await.is_err() {
                return;
            }
        }
    });
    let mut buf = vec![0u8; MAX_FRAME];
    loop {
        let mut len = [0u8; 2];
        let read = async {
            rd.read_exact(&mut len).await?;
            let n = usize::from(u16::from_be_bytes(len));
            if n == 0 || n > MAX_FRAME {
                return Err(std::io::Error::other("frame length out of range"));
            }
            rd.read_exact(&mut buf[..n]).await?;
            Ok::<_, std::io::Error>(n)
        };
        let n = tokio::select! {
            read = tokio::time::timeout(QUIET, read) => match read {
                Ok(Ok(n)) => n,
                _ => break,
            },
            _ = &mut writer => break,
        };
        let d = Datagram { at: crate::media::now(), from, data: buf[..n].to_vec(), tcp: Some(tx.clone()) };
        if commands.send(Command::Datagram(d)).await.is_err() {
            break;
        }
    }
    writer.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_a_length_and_refuse_what_does_not_fit() {
        assert_eq!(&frame(b"abc").unwrap()[..], b"\x00\x03abc");
        assert!(frame(&vec![0; 70_000]).is_none());
    }
}
