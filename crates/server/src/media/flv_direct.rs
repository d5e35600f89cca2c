//! HTTP-FLV players on plain connections, served like RTMP players by their stream's writer
//! (`fanout`: one non-blocking send per flush, no task woken per player) instead of through
//! the HTTP stack's task per response. The HTTP listener offers each new plain connection here
//! first ([`take`]): a complete `GET /live/{appID}/{streamID}.flv?...` of a live stream with a
//! valid signed URL is answered here (`200`, `Connection: close`, the FLV header, the cached
//! start at once, then each flush); anything else (another request, a head not whole within
//! 200 ms of its first bytes, a refusal, a page's origin the app does not allow: `http::cors`)
//! goes back untouched to the router, which answers it with the same checks (`http_play`).
//! TLS connections always take the router's path.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use duet_media::{StreamKey, Subscriber, flv_header};
use duet_token::{MediaFormat, MediaUrl};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::http::cors::{self, CorsHeaders};
use crate::media::MediaContext;
use crate::media::sink::{Form, Sink, Trouble};

/// The most of a request's head read to decide (a longer one goes to the router).
const MAX_HEAD: usize = 8 * 1024;
/// How often, and how long apart, a head that came in pieces is looked at again (200 ms in all).
const PIECES: usize = 20;
const PIECE_WAIT: Duration = Duration::from_millis(10);
/// Most unexpected input a player may send before it is closed.
const MAX_INPUT: usize = 64 * 1024;

/// The answer's head, before the CORS headers and the end of the head.
const RESPONSE_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nCache-Control: no-cache\r\n\
Connection: close\r\n";

/// Serves the connection's request if it is an HTTP-FLV play this module answers (then the
/// connection is over when this returns `Ok`); otherwise hands the socket back unread. Waits
/// at most `wait` (the header timeout) for the request's first bytes, and closes a connection
/// that sent none (`Ok` too).
pub async fn take(
    ctx: &MediaContext,
    tcp: TcpStream,
    wait: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<(), TcpStream> {
    let mut head = vec![0u8; MAX_HEAD];
    let peek = async {
        tokio::select! {
            peeked = tokio::time::timeout(wait, tcp.peek(&mut head)) => peeked.ok().and_then(Result::ok),
            _ = stop.wait_for(|s| *s) => None,
        }
    };
    // Silent for the whole header timeout, gone, or the server stops: closed, as the router
    // would.
    let Some(mut n) = peek.await else { return Ok(()) };
    // A head that arrives in pieces (a client writing the request line and headers apart):
    // looked at again a few times while it could still become an FLV play, then the router's.
    for _ in 0..PIECES {
        if !could_be_flv(&head[..n]) || FlvRequest::parse(&head[..n]).is_some() || n == MAX_HEAD {
            break;
        }
        tokio::time::sleep(PIECE_WAIT).await;
        match tcp.peek(&mut head).await {
            Ok(more) => n = more,
            Err(_) => return Ok(()),
        }
    }
    let Some(request) = FlvRequest::parse(&head[..n]) else { return Err(tcp) };
    let Some((sub, cors)) = subscribe(ctx, &request).await else { return Err(tcp) };
    let head_len = request.head_len;
    let head = Bytes::from(format!("{RESPONSE_HEAD}{}\r\n", cors.head_lines()));
    play(ctx, tcp, head_len, head, sub, stop).await;
    Ok(())
}

/// Whether `bytes`, a head not yet whole, may still turn out an HTTP-FLV play.
fn could_be_flv(bytes: &[u8]) -> bool {
    const START: &[u8] = b"GET /live/";
    let n = bytes.len().min(START.len());
    bytes[..n] == START[..n] && !bytes.windows(4).any(|w| w == b"\r\n\r\n")
}

/// A `GET` of an `.flv` under `/live/` whose head came whole.
struct FlvRequest<'a> {
    head_len: usize,
    app: &'a str,
    file: &'a str,
    query: &'a str,
    /// The `Origin` header's value (a page's request).
    origin: Option<&'a str>,
    /// The `Host` header: a page of Duet's own origin is never refused.
    host: Option<&'a str>,
}

impl<'a> FlvRequest<'a> {
    fn parse(bytes: &'a [u8]) -> Option<Self> {
        if !bytes.starts_with(b"GET /live/") {
            return None;
        }
        let head_len = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = std::str::from_utf8(&bytes[..head_len]).ok()?;
        let mut lines = head.split("\r\n");
        let mut words = lines.next()?.split(' ');
        let (_, target, version) = (words.next()?, words.next()?, words.next()?);
        if words.next().is_some() || !matches!(version, "HTTP/1.1" | "HTTP/1.0") {
            return None;
        }
        // A request with a body, or asking for anything but the stream, is the router's.
        let unusual = |line: &str| {
            let name = line.split(':').next().unwrap_or_default().to_ascii_lowercase();
            matches!(name.as_str(), "content-length" | "transfer-encoding" | "upgrade" | "expect" | "range")
        };
        let (mut origin, mut host) = (None, None);
        for line in lines {
            if unusual(line) {
                return None;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("origin") {
                    origin.get_or_insert(value.trim());
                } else if name.eq_ignore_ascii_case("host") {
                    host.get_or_insert(value.trim());
                }
            }
        }
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let (app, file) = path.strip_prefix("/live/")?.split_once('/')?;
        if !file.ends_with(".flv") || file.contains('/') || path.contains('%') {
            return None;
        }
        Some(Self { head_len, app, file, query, origin, host })
    }
}

/// A player of the stream the request names and the CORS headers of its answer, if its page's
/// origin is allowed, its URL valid and the stream live.
async fn subscribe(ctx: &MediaContext, r: &FlvRequest<'_>) -> Option<(Subscriber, CorsHeaders)> {
    let page = cors::Page { origin: r.origin.map(str::as_bytes), host: r.host.map(str::as_bytes) };
    let cors = cors::decide(&cors::allowed(&ctx.apps, r.app).await, page).ok()?;
    let (unverified, format) = MediaUrl::from_http(r.app, r.file, r.query).ok()?;
    if format != MediaFormat::Flv {
        return None;
    }
    let secret = ctx.secret(unverified.app_id()).await?;
    let url = unverified.verify(&secret, crate::os::now_unix() as u64).ok()?;
    let key = StreamKey { app_id: url.app_id, stream_id: url.stream_id };
    Some((crate::media::edge::subscribe(ctx, &key, false).await?, cors))
}

/// Answers, writes the start, and lets the stream's writer feed the player until the stream
/// ends, the player leaves or stops reading (30 s), or the server stops.
async fn play(
    ctx: &MediaContext,
    mut tcp: TcpStream,
    head_len: usize,
    answer: Bytes,
    sub: Subscriber,
    mut stop: watch::Receiver<bool>,
) {
    // The head is in the socket's buffer already (it was peeked).
    let mut head = vec![0u8; head_len];
    if tcp.read_exact(&mut head).await.is_err() {
        return;
    }
    let tcp = Arc::new(tcp);
    let sink = Arc::new(Sink::new(tcp.clone(), Form::Flv));
    let (audio, video) = sub.tracks();
    sink.send(answer);
    sink.send(flv_header(audio || !video, video || !audio));
    let follower = sub.into_follower();
    let stream = follower.stream();
    ctx.fanout.add(follower, &sink);
    let mut input = vec![0u8; 4096];
    let mut unexpected = 0;
    let ended = loop {
        if sink.failed().is_some() {
            break false;
        }
        if sink.take_ended() {
            break true;
        }
        tokio::select! {
            ready = tcp.readable() => {
                if ready.is_err() {
                    break false;
                }
                match tcp.try_read(&mut input) {
                    Ok(0) => break false,
                    Ok(n) => {
                        unexpected += n;
                        if unexpected > MAX_INPUT {
                            break false;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => break false,
                }
            }
            tended = sink.tend() => match tended {
                Ok(()) => {}
                Err(Trouble::Stalled) => {
                    tracing::info!("HTTP-FLV player took nothing for 30 s; closed");
                    break false;
                }
                Err(Trouble::Write(_)) => break false,
            },
            _ = stop.wait_for(|s| *s) => break true,
        }
    };
    ctx.fanout.remove(stream, &sink);
    if ended {
        sink.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_in_pieces_is_waited_for_only_while_it_may_be_flv() {
        assert!(could_be_flv(b"GE"));
        assert!(could_be_flv(b"GET /live/1/cam.flv?x HTTP/1.1\r\n"));
        assert!(!could_be_flv(b"GET /ws HTTP/1.1\r\n"));
        assert!(!could_be_flv(b"POST /live/"));
        assert!(!could_be_flv(b"GET /live/1/cam.flv HTTP/1.1\r\n\r\n"), "whole: nothing more to wait for");
    }

    #[test]
    fn only_whole_plain_flv_gets_are_taken() {
        let get = b"GET /live/1/cam.flv?expire=9&sign=x HTTP/1.1\r\nHost: h\r\n\r\n";
        let r = FlvRequest::parse(get).unwrap();
        assert_eq!((r.head_len, r.app, r.file, r.query), (get.len(), "1", "cam.flv", "expire=9&sign=x"));
        assert_eq!(r.origin, None);
        let page = b"GET /live/1/cam.flv HTTP/1.1\r\norigin:  https://a.example \r\nOrigin: https://b.example\r\n\r\n";
        assert_eq!(FlvRequest::parse(page).unwrap().origin, Some("https://a.example"), "the first, trimmed");
        for other in [
            &b"GET /live/1/cam.flv HTTP/1.1\r\nHost: h\r\n"[..], // not whole yet
            b"GET /live/1/cam.mp4 HTTP/1.1\r\n\r\n",
            b"POST /live/1/cam.flv HTTP/1.1\r\n\r\n",
            b"GET /ws HTTP/1.1\r\n\r\n",
            b"GET /live/1/a/cam.flv HTTP/1.1\r\n\r\n",
            b"GET /live/1/c%61m.flv HTTP/1.1\r\n\r\n",
            b"GET /live/1/cam.flv HTTP/2\r\n\r\n",
            b"GET /live/1/cam.flv HTTP/1.1\r\nRange: bytes=0-\r\n\r\n",
            b"GET /live/1/cam.flv HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            b"GET /live/1/cam.flv HTTP/1.1 x\r\n\r\n",
            b"GET /live/\xff.flv HTTP/1.1\r\n\r\n",
        ] {
            assert!(FlvRequest::parse(other).is_none(), "{}", String::from_utf8_lossy(other));
        }
    }
}
