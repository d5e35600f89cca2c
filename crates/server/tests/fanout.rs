//! The fan-out against the real binary: latency budgets (an app's, a URL's), RTMP players fed
//! by their stream's writer (a stalled one skips while others get everything), HTTP-FLV served
//! directly or by the router, and players joining as a stream ends.

mod common;
#[path = "common/streams.rs"]
mod streams;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Server, data_dir, metric, ok};
use streams::{WAIT, find, flv_player, read_until, rtmp_publisher, url, wait_live};

/// An app's latency budget of 350 ms holds players' bytes back to merge them (audio alone
/// stays unsent well inside the window) but never a keyframe, which takes what waited along
/// with it; a publish URL's `latency=0` overrides the app's; a budget that is not one is
/// refused with its code.
#[tokio::test]
async fn a_latency_budget_merges_writes_but_never_holds_a_keyframe() {
    let (_tmp, data) = data_dir();
    let app_id = Server::start(&data, &[]).app_id.to_string();
    ok(&data, &["app", "latency", "--app-id", &app_id, "350"]);
    let server = Server::start(&data, &[]);
    let publish = url(&data, &server, &["publish", "--stream-id", "merged"]);
    let mut publisher = rtmp_publisher(&publish).await;
    publisher.send_media(9, 0, b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e").await.unwrap();
    publisher.send_media(9, 0, b"\x17\x01\x00\x00\x00KEY-one").await.unwrap();
    wait_live(&server, 1);
    let mut player = flv_player(&server, &url(&data, &server, &["play", "--stream-id", "merged", "--format", "flv"]));
    let mut seen = Vec::new();
    read_until(&mut player, &mut seen, b"KEY-one");
    publisher.send_media(8, 10, b"\xaf\x01AUDIO-waits").await.unwrap();
    player.set_read_timeout(Some(Duration::from_millis(150))).unwrap();
    let mut buf = [0u8; 4096];
    while let Ok(n) = player.read(&mut buf) {
        assert!(n > 0, "the body ended");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(find(&seen, b"AUDIO-waits").is_none(), "the audio waits inside the 350 ms window");
    publisher.send_media(9, 40, b"\x17\x01\x00\x00\x00KEY-two").await.unwrap();
    player.set_read_timeout(Some(WAIT)).unwrap();
    read_until(&mut player, &mut seen, b"KEY-two");
    assert!(find(&seen, b"AUDIO-waits").unwrap() < find(&seen, b"KEY-two").unwrap(), "in order, together");

    // The URL's budget wins over the app's: with 0, audio goes out on its own.
    let publish = url(&data, &server, &["publish", "--stream-id", "prompt"]);
    let mut prompt = rtmp_publisher(&format!("{publish}&latency=0")).await;
    prompt.send_media(9, 0, b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e").await.unwrap();
    prompt.send_media(9, 0, b"\x17\x01\x00\x00\x00KEY-one").await.unwrap();
    wait_live(&server, 2);
    let mut player = flv_player(&server, &url(&data, &server, &["play", "--stream-id", "prompt", "--format", "flv"]));
    let mut seen = Vec::new();
    read_until(&mut player, &mut seen, b"KEY-one");
    prompt.send_media(8, 10, b"\xaf\x01AUDIO-alone").await.unwrap();
    read_until(&mut player, &mut seen, b"AUDIO-alone");

    let mut bad = duet_client::rtmp::Conn::open(&duet_client::rtmp::Target::parse(&publish).unwrap()).await.unwrap();
    let target = duet_client::rtmp::Target::parse(&format!("{publish}&latency=soon")).unwrap();
    assert!(bad.publish(&target).await.is_err(), "a budget that is not one is refused");
    assert!(server.logs("bad_latency"), "with its code");
}

/// RTMP players are served by their stream's writer: one that stops reading gets its bytes
/// queued, then (past the queue's bound) skips to the next keyframe, while a healthy player of
/// the same stream gets every message and the publisher is never held up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_rtmp_player_skips_while_others_get_everything() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let publish = url(&data, &server, &["publish", "--stream-id", "wide"]);
    let mut publisher = rtmp_publisher(&format!("{publish}&latency=0")).await;
    publisher.send_media(9, 0, b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e").await.unwrap();
    publisher.send_media(9, 0, b"\x17\x01\x00\x00\x00first-key").await.unwrap();
    wait_live(&server, 1);
    let play = duet_client::rtmp::Target::parse(&url(&data, &server, &["play", "--stream-id", "wide"])).unwrap();
    // A player with a tiny receive buffer that never reads after play.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&server.rtmp.into()).unwrap();
    sock.set_nonblocking(true).unwrap();
    let tcp = tokio::net::TcpStream::from_std(std::net::TcpStream::from(sock)).unwrap();
    let mut stalled = duet_client::rtmp::Conn::open_over(tcp, &play).await.unwrap();
    stalled.play(&play).await.unwrap();
    let mut healthy = duet_client::rtmp::Conn::open(&play).await.unwrap();
    healthy.play(&play).await.unwrap();
    let reader = tokio::spawn(async move {
        let mut inter = 0;
        while let Ok(Some(m)) = healthy.next().await {
            if m.payload.starts_with(b"\x27") {
                inter += 1;
            }
            if m.payload.ends_with(b"last-key") {
                break;
            }
        }
        (inter, healthy)
    });
    // 12 MiB of inter frames in about 4 s (a pace the healthy player keeps up with): past what
    // the stalled player's socket buffers (a few MiB) and its queue (2 MiB) hold.
    let frame = [&b"\x27\x01\x00\x00\x00"[..], &[7u8; 128 * 1024]].concat();
    let sending = async {
        for i in 1..=96u32 {
            publisher.send_media(9, i * 40, &frame).await.unwrap();
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        publisher.send_media(9, 4000, b"\x17\x01\x00\x00\x00last-key").await.unwrap();
    };
    tokio::time::timeout(WAIT * 3, sending).await.expect("the publisher is never held up");
    let (got, _healthy) = tokio::time::timeout(WAIT * 3, reader).await.expect("the healthy player keeps up").unwrap();
    assert_eq!(got, 96, "the healthy player got every message");
    assert!(metric(&server, "duet_media_keyframe_skips_total") >= 1, "the stalled player skipped");
    assert_eq!(metric(&server, "duet_media_players"), 2, "and is still attached, waiting for a keyframe");
    drop(stalled);
}

/// A plain HTTP-FLV request that arrives whole is served by the stream's writer (a
/// close-delimited body), one whose head takes longer than 200 ms to complete (600 here) by the router
/// (chunked): both play.
#[tokio::test]
async fn http_flv_is_served_directly_or_by_the_router_and_both_play() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let mut publisher = rtmp_publisher(&url(&data, &server, &["publish", "--stream-id", "both"])).await;
    publisher.send_media(9, 0, b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e").await.unwrap();
    publisher.send_media(9, 0, b"\x17\x01\x00\x00\x00KEY-start").await.unwrap();
    wait_live(&server, 1);
    let flv = url(&data, &server, &["play", "--stream-id", "both", "--format", "flv"]);
    let path = &flv[flv.find("/live/").unwrap()..];
    let mut direct = flv_player(&server, &flv);
    let mut pieces = TcpStream::connect(server.http).unwrap();
    pieces.set_read_timeout(Some(WAIT)).unwrap();
    write!(pieces, "GET {path} HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    write!(pieces, "Host: x\r\n\r\n").unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    read_until(&mut direct, &mut a, b"KEY-start");
    read_until(&mut pieces, &mut b, b"KEY-start");
    publisher.send_media(9, 40, b"\x27\x01\x00\x00\x00LIVE-next").await.unwrap();
    read_until(&mut direct, &mut a, b"LIVE-next");
    read_until(&mut pieces, &mut b, b"LIVE-next");
    assert_eq!(metric(&server, "duet_media_players"), 2);
    // The publisher leaves: both bodies end (the direct one by closing the connection).
    let target = duet_client::rtmp::Target::parse(&url(&data, &server, &["play", "--stream-id", "both"])).unwrap();
    let mut rtmp_player = duet_client::rtmp::Conn::open(&target).await.unwrap();
    rtmp_player.play(&target).await.unwrap();
    drop(publisher);
    let mut buf = [0u8; 4096];
    loop {
        match direct.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => a.extend_from_slice(&buf[..n]),
            Err(e) => panic!("the direct body did not end: {e}"),
        }
    }
    read_until(&mut pieces, &mut b, b"\r\n0\r\n\r\n");
    let ended = tokio::time::timeout(WAIT, async { while let Ok(Some(_)) = rtmp_player.next().await {} });
    assert!(ended.await.is_ok(), "the RTMP player hears the end");
    let head = |seen: &[u8]| String::from_utf8_lossy(&seen[..find(seen, b"\r\n\r\n").unwrap()]).to_ascii_lowercase();
    let (a, b) = (head(&a), head(&b));
    assert!(a.contains("connection: close") && !a.contains("chunked"), "direct: {a}");
    assert!(b.contains("transfer-encoding: chunked"), "router: {b}");
    for h in [&a, &b] {
        assert!(
            h.starts_with("http/1.1 200") && h.contains("video/x-flv") && h.contains("access-control-allow-origin: *")
        );
    }
}

/// Players joining while the stream ends all hear the end (or are refused): none is left
/// connected with nothing coming. (The narrowest race, a join between the writer seeing the
/// end and leaving the map, is ruled out by ordering both under one lock in `fanout`; this
/// test exercises the joins around the end, it cannot time that window.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_joining_as_the_stream_ends_all_hear_the_end() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &["--rtmp-max-connections-per-ip", "1000"]);
    let play = url(&data, &server, &["play", "--stream-id", "ending"]);
    let publish = url(&data, &server, &["publish", "--stream-id", "ending"]);
    for round in 0..5u64 {
        let mut publisher = rtmp_publisher(&publish).await;
        publisher.send_media(9, 0, b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e").await.unwrap();
        publisher.send_media(9, 0, b"\x17\x01\x00\x00\x00KEY").await.unwrap();
        wait_live(&server, 1);
        let players: Vec<_> = (0..40)
            .map(|_| {
                let play = duet_client::rtmp::Target::parse(&play).unwrap();
                tokio::spawn(async move {
                    let Ok(mut conn) = duet_client::rtmp::Conn::open(&play).await else { return };
                    if conn.play(&play).await.is_err() {
                        return; // the stream had ended: refused, which is an end too
                    }
                    while let Ok(Some(_)) = conn.next().await {}
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(round * 3)).await;
        drop(publisher);
        for p in players {
            tokio::time::timeout(WAIT, p).await.expect("every player hears the end").unwrap();
        }
        wait_live(&server, 0);
    }
}
