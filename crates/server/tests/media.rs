//! The media server against real peers: ffmpeg publishes (H.264+AAC test pattern, AAC only);
//! ffmpeg, ffprobe and rtmpdump play over RTMP and HTTP-FLV and decode; refusals of unsigned,
//! forged, expired, wrong-app and duplicate publishes; a stalled player delays nobody; the
//! stream lifecycle reaches signaling.

mod common;
#[path = "common/peers.rs"]
mod peers;
#[path = "common/streams.rs"]
mod streams;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Server, data_dir, get, join, metric, ok};
use peers::{Content, decode, probe, publish};
use serde_json::{Value, json};
use streams::{WAIT, find, flv_player, read_until, rtmp_publisher, url, wait_live};

#[test]
fn audio_video_plays_over_rtmp_and_http_flv() {
    let (tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let _ffmpeg = publish(&url(&data, &server, &["publish", "--stream-id", "av"]), Content::AudioVideo, 30);
    wait_live(&server, 1);

    let rtmp = url(&data, &server, &["play", "--stream-id", "av"]);
    let flv = url(&data, &server, &["play", "--stream-id", "av", "--format", "flv"]);
    assert_eq!(probe(&rtmp), ["aac", "h264"]);
    assert_eq!(probe(&flv), ["aac", "h264"]);
    let (frames, audio) = decode(&rtmp, 2);
    assert!(frames >= 40 && audio == 1, "RTMP decoded {frames} video frames");
    let (frames, _) = decode(&flv, 2);
    assert!(frames >= 40, "HTTP-FLV decoded {frames} video frames");

    let dump = tmp.path().join("dump.flv");
    peers::rtmpdump(&rtmp, 2, &dump);
    let counted = peers::count_frames(&dump);
    assert!(counted.iter().any(|(c, n)| c == "h264" && *n > 10), "{counted:?}");
    assert!(counted.iter().any(|(c, n)| c == "aac" && *n > 10), "{counted:?}");

    // CORS on HTTP-FLV, so browsers can fetch it.
    let path = flv.split_once(&server.http.to_string()).unwrap().1;
    let mut s = TcpStream::connect(server.http).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut head = [0u8; 512];
    let n = s.read(&mut head).unwrap();
    let head = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
    assert!(
        head.starts_with("http/1.1 200")
            && head.contains("access-control-allow-origin: *")
            && head.contains("video/x-flv"),
        "{head}"
    );
    assert!(metric(&server, "duet_media_bytes_out_total") > 0);
}

#[test]
fn audio_only_streams_play() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let _ffmpeg = publish(&url(&data, &server, &["publish", "--stream-id", "voice"]), Content::AudioOnly, 30);
    wait_live(&server, 1);
    assert_eq!(probe(&url(&data, &server, &["play", "--stream-id", "voice"])), ["aac"]);
    assert_eq!(probe(&url(&data, &server, &["play", "--stream-id", "voice", "--format", "flv"])), ["aac"]);
}

#[test]
fn bad_publishes_are_refused_and_counted() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let good = url(&data, &server, &["publish", "--stream-id", "cam"]);
    let unsigned = good.split('?').next().unwrap().to_owned();
    let forged = {
        let (head, sign) = good.rsplit_once("sign=").unwrap();
        let flipped = if sign.starts_with('0') { "1" } else { "0" };
        format!("{head}sign={flipped}{}", &sign[1..])
    };
    // Expired: signed with the app's secret, but an hour ago.
    let shown: Value =
        serde_json::from_str(&ok(&data, &["app", "show", "--app-id", &server.app_id.to_string(), "--json"])).unwrap();
    let secret = duet_token::AppSecret::new(shown["server_secret"].as_str().unwrap()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let grant = duet_token::MediaGrant {
        app_id: server.app_id,
        stream_id: "cam",
        action: duet_token::MediaAction::Publish,
        user_id: "u",
        room_id: "",
        expire: now - 3600,
    };
    let expired = format!(
        "rtmp://{}/{}/cam?expire={}&user=u&room=&sign={}",
        server.rtmp,
        server.app_id,
        now - 3600,
        grant.sign(&secret)
    );
    // Another app: a URL signed for it, sent to this app's path.
    ok(&data, &["app", "import", "--app-id", "77", "--secret", "0123456789abcdef0123456789abcdef"]);
    let other = ok(
        &data,
        &[
            "url",
            "publish",
            "--app-id",
            "77",
            "--stream-id",
            "cam",
            "--public-rtmp-url",
            &format!("rtmp://{}", server.rtmp),
        ],
    );
    let wrong_app = other.trim().replace("/77/", &format!("/{}/", server.app_id));

    for (what, bad) in [("unsigned", &unsigned), ("forged", &forged), ("expired", &expired), ("wrong app", &wrong_app)]
    {
        let mut p = publish(bad, Content::AudioOnly, 5);
        assert_eq!(p.wait_exit(Duration::from_secs(15)), Some(false), "{what} publish must fail");
    }
    assert_eq!(metric(&server, "duet_media_live_streams"), 0);
    assert!(metric(&server, "duet_media_refused_total") >= 4);

    // A duplicate publisher of a live stream is refused; the first keeps publishing.
    let mut first = publish(&good, Content::AudioVideo, 30);
    wait_live(&server, 1);
    let mut second = publish(&good, Content::AudioVideo, 5);
    assert_eq!(second.wait_exit(Duration::from_secs(15)), Some(false), "duplicate publish must fail");
    assert!(first.running(), "the first publisher is unaffected");
    assert_eq!(probe(&url(&data, &server, &["play", "--stream-id", "cam"])), ["aac", "h264"]);
    let log = server.stderr();
    assert!(
        log.contains("publish refused")
            && log.contains("url_bad_signature")
            && log.contains("url_expired")
            && log.contains("stream_live"),
        "{log}"
    );
}

#[test]
fn http_flv_refusals_have_statuses() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let id = server.app_id;
    let signed = url(&data, &server, &["play", "--stream-id", "nothing", "--format", "flv"]);
    let path = signed.split_once(&server.http.to_string()).unwrap().1.to_owned();
    let forged = path.replace("sign=", "sign=00");
    for (p, status, code) in [
        (format!("/live/{id}/nothing.flv"), 401, "url_missing"),
        (forged, 403, "url_malformed"),
        (path, 404, "stream_not_found"),
        ("/live/123/x.flv?expire=1&sign=00".to_owned(), 404, "unknown_app"),
        (format!("/live/{id}/a.b.flv?expire=1&sign=00"), 400, "bad_stream_id"),
    ] {
        let r = get(server.http, &p);
        assert_eq!(r.status, status, "{p}: {}", r.body);
        assert_eq!(serde_json::from_str::<Value>(&r.body).unwrap()["code"], code, "{p}");
    }
}

#[test]
fn stalled_players_delay_nobody() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let mut ffmpeg = publish(&url(&data, &server, &["publish", "--stream-id", "live"]), Content::AudioVideo, 60);
    wait_live(&server, 1);
    let flv = url(&data, &server, &["play", "--stream-id", "live", "--format", "flv"]);
    let path = flv.split_once(&server.http.to_string()).unwrap().1.to_owned();
    // Players that ask for the stream and never read, with tiny receive buffers so the server's
    // writes to them really block.
    let stalled: Vec<TcpStream> = (0..3)
        .map(|_| {
            let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            sock.set_recv_buffer_size(2048).unwrap();
            sock.connect(&server.http.into()).unwrap();
            let mut s: TcpStream = sock.into();
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_secs(4));
    // A healthy player still gets real-time media, and the publisher was never held up.
    let (frames, _) = decode(&url(&data, &server, &["play", "--stream-id", "live"]), 4);
    assert!(frames >= 75, "healthy player decoded only {frames} frames");
    assert!(ffmpeg.running(), "the publisher keeps running");
    assert_eq!(metric(&server, "duet_media_players"), 3, "the stalled players are still attached");
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seeds_call_flow_publish_add_stop_delete() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let (mut a, _) = join(&server, &data, "room-1", "A").await;
    let (mut b, _) = join(&server, &data, "room-1", "B").await;

    let published = b.ok("publish", json!({"streamID": "streamID_B", "extraInfo": "front"})).await.unwrap();
    assert_eq!(b.push("publisherStateUpdate", WAIT).await.unwrap()["data"]["state"], "PUBLISH_REQUESTING");
    let mut ffmpeg = publish(published["url"].as_str().unwrap(), Content::AudioVideo, 60);

    let add = a.push("roomStreamUpdate", WAIT).await.unwrap();
    assert_eq!(add["data"]["updateType"], "ADD");
    let stream = &add["data"]["streamList"][0];
    assert_eq!((stream["streamID"].as_str(), stream["user"]["userID"].as_str()), (Some("streamID_B"), Some("B")));
    assert_eq!(b.push("publisherStateUpdate", WAIT).await.unwrap()["data"]["state"], "PUBLISHING");
    // A plays B's stream from the URLs in the push.
    let flv = stream["urlsFLV"][0].as_str().unwrap().to_owned();
    let rtmp = stream["urlsRTMP"][0].as_str().unwrap().to_owned();
    let codecs = tokio::task::spawn_blocking(move || (probe(&flv), probe(&rtmp))).await.unwrap();
    assert_eq!(codecs, (vec!["aac".to_owned(), "h264".to_owned()], vec!["aac".to_owned(), "h264".to_owned()]));

    // The pusher dies: DELETE, and B is told the publish was interrupted.
    drop(ffmpeg);
    let del = a.push("roomStreamUpdate", WAIT).await.unwrap();
    assert_eq!(del["data"]["updateType"], "DELETE");
    let st = b.push("publisherStateUpdate", WAIT).await.unwrap();
    assert_eq!(
        (st["data"]["state"].as_str(), st["data"]["errorCode"].as_u64()),
        (Some("PUBLISH_REQUESTING"), Some(41100))
    );

    // It comes back, then B stops publishing through signaling: the media connection is cut.
    ffmpeg = publish(published["url"].as_str().unwrap(), Content::AudioVideo, 60);
    assert_eq!(a.push("roomStreamUpdate", WAIT).await.unwrap()["data"]["updateType"], "ADD");
    b.ok("stopPublish", json!({"streamID": "streamID_B"})).await.unwrap();
    assert_eq!(a.push("roomStreamUpdate", WAIT).await.unwrap()["data"]["updateType"], "DELETE");
    let exited = tokio::task::spawn_blocking(move || ffmpeg.wait_exit(Duration::from_secs(10))).await.unwrap();
    assert!(exited.is_some(), "the pusher's connection was cut");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_encoder_url_with_a_room_appears_in_that_room() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let (mut a, _) = join(&server, &data, "studio", "A").await;
    let publish_url =
        url(&data, &server, &["publish", "--stream-id", "obs", "--room-id", "studio", "--user-id", "camera-1"]);
    let ffmpeg = publish(&publish_url, Content::AudioOnly, 60);
    let add = a.push("roomStreamUpdate", WAIT).await.unwrap();
    assert_eq!(add["data"]["streamList"][0]["user"]["userID"], "camera-1");
    drop(ffmpeg);
    assert_eq!(a.push("roomStreamUpdate", WAIT).await.unwrap()["data"]["updateType"], "DELETE");
}

/// Admission comes before acceptance: a URL signed for another user cannot publish into a
/// stream a session reserved, and is refused before `NetStream.Publish.Start` (nothing goes
/// live, nobody in the room hears of it, the name stays free for its owner).
#[tokio::test]
async fn a_url_of_another_user_is_refused_before_the_publish_starts() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let (mut a, _) = join(&server, &data, "room-1", "A").await;
    let (mut b, _) = join(&server, &data, "room-1", "B").await;
    a.ok("publish", json!({"streamID": "a-cam"})).await.unwrap();
    let foreign = url(&data, &server, &["publish", "--stream-id", "a-cam", "--user-id", "B"]);
    let mut ffmpeg = publish(&foreign, Content::AudioOnly, 60);
    let exited = tokio::task::spawn_blocking(move || ffmpeg.wait_exit(WAIT)).await.unwrap();
    assert_eq!(exited, Some(false), "ffmpeg was refused");
    let log = server.stderr();
    assert!(log.contains("code=\"stream_taken\""), "{log}");
    assert!(!log.contains("publishing"), "never accepted: {log}");
    assert_eq!(metric(&server, "duet_media_refused_total"), 1);
    assert!(b.push("roomStreamUpdate", Duration::from_secs(1)).await.is_err(), "nothing went live");
    // The owner's own URL still publishes.
    let own = a.ok("publish", json!({"streamID": "a-cam"})).await.unwrap();
    let _owner = publish(own["url"].as_str().unwrap(), Content::AudioOnly, 60);
    assert_eq!(b.push("roomStreamUpdate", WAIT).await.unwrap()["data"]["updateType"], "ADD");
}

/// HEVC over enhanced RTMP (as OBS and ffmpeg 6.1+ send it) is relayed: a player joining late
/// over HTTP-FLV gets the sequence start and the latest keyframe first; fMP4, which Duet only
/// packages for H.264/AAC, says so with `codec_unsupported` instead of waiting.
#[tokio::test]
async fn hevc_is_relayed_to_late_players_and_fmp4_refuses_it_clearly() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let mut publisher = rtmp_publisher(&url(&data, &server, &["publish", "--stream-id", "hevc"])).await;
    let start: &[u8] = b"\x90hvc1\x01\x01\x60";
    let key_frame: &[u8] = b"\x91hvc1\x00\x00\x00\x26\x01\xaf";
    let inter: &[u8] = b"\xa1hvc1\x00\x00\x00\x02\x01\xd0";
    publisher.send_media(9, 0, start).await.unwrap();
    for (i, ts) in (0..6u32).map(|i| (i, i * 40)) {
        publisher.send_media(9, ts, if i % 3 == 0 { key_frame } else { inter }).await.unwrap();
    }
    wait_live(&server, 1);
    // The late player: FLV header, then the sequence start, then the keyframe at 120 ms.
    let mut s = flv_player(&server, &url(&data, &server, &["play", "--stream-id", "hevc", "--format", "flv"]));
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let tag = |bytes: &[u8]| {
        let mut t = vec![9];
        t.extend_from_slice(&(bytes.len() as u32).to_be_bytes()[1..]);
        t
    };
    let (want_start, want_key) = (tag(start), tag(key_frame));
    while !(find(&got, &want_start).is_some() && find(&got, key_frame).is_some()) {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the body ended early");
        got.extend_from_slice(&buf[..n]);
    }
    let (at_start, at_key) = (find(&got, start).unwrap(), find(&got, key_frame).unwrap());
    assert!(at_start < at_key, "the sequence start precedes the keyframe");
    assert!(find(&got, &want_key).is_some());
    let key_tag = &got[at_key - 11..at_key];
    assert_eq!(&key_tag[4..7], &[0, 0, 120], "the cached GOP starts at the latest keyframe (120 ms)");
    // fMP4 cannot carry it: a clear refusal, not a 5 s wait and "not ready".
    let mp4 = url(&data, &server, &["play", "--stream-id", "hevc", "--format", "mp4"]);
    let res = get(server.http, &mp4[mp4.find("/live/").unwrap()..]);
    assert_eq!(res.status, 406, "{}", res.body);
    assert!(res.body.contains("codec_unsupported"), "{}", res.body);
}

/// A publisher whose connection froze is taken over at once by the same user with a fresh
/// signed URL: the old connection is cut, and players keep their connections across the
/// switch (they see the new publisher's keyframe, not the end of the stream). Another user's
/// URL is still refused while the stream is live.
#[tokio::test]
async fn the_same_user_takes_over_a_frozen_publish_and_players_stay() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let publish_url =
        |ttl: &str| url(&data, &server, &["publish", "--stream-id", "cam", "--user-id", "u1", "--ttl", ttl]);
    let first_url = publish_url("3600");
    let mut first = rtmp_publisher(&first_url).await;
    let key_a: &[u8] = b"\x17\x01\x00\x00\x00AAAA-first-publisher";
    first.send_media(9, 0, b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e").await.unwrap();
    first.send_media(9, 40, key_a).await.unwrap();
    wait_live(&server, 1);
    // A player reading HTTP-FLV.
    let mut player = flv_player(&server, &url(&data, &server, &["play", "--stream-id", "cam", "--format", "flv"]));
    let mut seen = Vec::new();
    read_until(&mut player, &mut seen, key_a);
    // The first publisher freezes (sends nothing more). Another user cannot take the name...
    let other = url(&data, &server, &["publish", "--stream-id", "cam", "--user-id", "u2"]);
    let other_target = duet_client::rtmp::Target::parse(&other).unwrap();
    let mut intruder = duet_client::rtmp::Conn::open(&other_target).await.unwrap();
    assert!(intruder.publish(&other_target).await.is_err(), "another user's URL is refused");
    // ...nor can the same URL again (a duplicate, not a fresher grant)...
    let first_target = duet_client::rtmp::Target::parse(&first_url).unwrap();
    let mut again = duet_client::rtmp::Conn::open(&first_target).await.unwrap();
    assert!(again.publish(&first_target).await.is_err(), "the same URL again is refused");
    // ...but the same user with a fresher URL (issued later, so expiring later) takes over.
    let mut second = rtmp_publisher(&publish_url("7200")).await;
    let key_b: &[u8] = b"\x17\x01\x00\x00\x00BBBB-second-publisher";
    second.send_media(9, 0, b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e").await.unwrap();
    second.send_media(9, 0, key_b).await.unwrap();
    read_until(&mut player, &mut seen, key_b);
    // The old connection was cut.
    let closed = tokio::time::timeout(WAIT, async { while let Ok(Some(_)) = first.next().await {} });
    assert!(closed.await.is_ok(), "the frozen publisher's connection is closed");
    assert!(server.logs("took over"), "the takeover is logged");
    // Players never saw the stream end: the body is still open and gets more.
    second.send_media(9, 40, b"\x27\x01\x00\x00\x00CCCC-more").await.unwrap();
    read_until(&mut player, &mut seen, b"CCCC-more");
}

/// A client that sends everything at once (handshake, connect, createStream, publish and its
/// first media, as some encoders do) and is refused still reads its refusal: the server closes
/// gracefully instead of resetting a connection with unread input.
#[test]
fn a_refused_client_that_sent_ahead_reads_its_refusal() {
    use duet_rtmp::amf0::{Value, encode_all, object};
    use duet_rtmp::chunk::encode;
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let mut out = vec![3u8];
    out.extend_from_slice(&[0; 1536 * 2]); // C0, C1, and C2 right away
    let app = Value::String(server.app_id.to_string());
    let connect = encode_all(&[Value::String("connect".into()), Value::Number(1.0), object(&[("app", app)])]);
    encode(&mut out, 3, 0, 20, 0, &connect, 128);
    let create = encode_all(&[Value::String("createStream".into()), Value::Number(2.0), Value::Null]);
    encode(&mut out, 3, 0, 20, 0, &create, 128);
    let name = Value::String("cam?expire=1&sign=00".into());
    let publish = encode_all(&[Value::String("publish".into()), Value::Number(3.0), Value::Null, name]);
    encode(&mut out, 3, 0, 20, 1, &publish, 128);
    // Media the encoder sends before it hears back: far more than the server reads before it
    // refuses the publish.
    for i in 0..20_000u32 {
        encode(&mut out, 4, i * 23, 8, 1, &[0xaf, 1, 0x21, 0x10, 0x04, 0x60], 128);
    }
    let mut s = TcpStream::connect(server.rtmp).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut writer = s.try_clone().unwrap();
    // The write may fail once the server closed: what matters is what the client reads.
    let sending = std::thread::spawn(move || {
        let _ = writer.write_all(&out);
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("the connection was reset, not closed ({e}); read {} bytes", got.len()),
        }
    }
    assert!(find(&got, b"NetStream.Publish.Denied").is_some(), "the refusal arrived");
    sending.join().unwrap();
}

#[test]
fn hostile_rtmp_peers_are_closed_and_others_unaffected() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let _ffmpeg = publish(&url(&data, &server, &["publish", "--stream-id", "ok"]), Content::AudioOnly, 60);
    wait_live(&server, 1);
    // Wrong version byte; then a valid handshake followed by a 16 MiB message length.
    let mut bad = TcpStream::connect(server.rtmp).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    bad.write_all(&[6; 1537]).unwrap();
    let mut sink = Vec::new();
    let _ = bad.read_to_end(&mut sink);
    let mut huge = TcpStream::connect(server.rtmp).unwrap();
    huge.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut hello = vec![3u8];
    hello.extend_from_slice(&[0; 1536]);
    huge.write_all(&hello).unwrap();
    let mut s0s1s2 = [0u8; 3073];
    huge.read_exact(&mut s0s1s2).unwrap();
    huge.write_all(&[0; 1536]).unwrap();
    huge.write_all(&[0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0]).unwrap();
    let mut rest = Vec::new();
    let _ = huge.read_to_end(&mut rest);
    assert!(metric(&server, "duet_media_refused_total") >= 2);
    assert_eq!(probe(&url(&data, &server, &["play", "--stream-id", "ok"])), ["aac"], "other streams unaffected");
}

/// The deadline itself (10 s by default, not a millisecond early) is tested on a virtual clock
/// in crates/rtmp/tests/deadlines.rs; here the server applies its configured value.
#[test]
fn silent_rtmp_clients_are_closed_after_the_handshake_timeout() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &["--rtmp-handshake-timeout-secs", "1"]);
    let mut silent = TcpStream::connect(server.rtmp).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 1];
    assert_eq!(silent.read(&mut buf).unwrap(), 0, "closed by the server");
    assert!(started.elapsed() >= Duration::from_millis(900), "closed by the handshake timeout, not at once");
    assert_eq!(metric(&server, "duet_media_refused_total"), 1);
    assert!(server.logs("handshake timed out"));
}

#[test]
fn fragmented_mp4_for_browsers_decodes() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let _ffmpeg = publish(&url(&data, &server, &["publish", "--stream-id", "web"]), Content::AudioVideo, 30);
    wait_live(&server, 1);
    let mp4 = url(&data, &server, &["play", "--stream-id", "web", "--format", "mp4"]);
    assert!(mp4.contains("/live/") && mp4.contains("/web.mp4?"), "{mp4}");

    // The Content-Type names the codecs MediaSource needs.
    let path = &mp4[mp4.find("/live/").unwrap()..];
    let mut s = TcpStream::connect(server.http).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut head = vec![0u8; 1024];
    let n = s.read(&mut head).unwrap();
    let head = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
    assert!(head.contains("content-type: video/mp4; codecs=\"avc1.42c0"), "{head}");
    assert!(head.contains("mp4a.40.2"), "{head}");
    drop(s);

    assert_eq!(probe(&mp4), ["aac", "h264"]);
    let (video, audio) = decode(&mp4, 3);
    assert!(video >= 40, "{video} video frames in 3 s");
    assert!(audio > 0);

    // Unsigned, and not yet configured, requests are refused like FLV ones.
    let unsigned = get(server.http, &format!("/live/{}/web.mp4", server.app_id));
    assert_eq!(unsigned.status, 401);
}

#[tokio::test]
async fn a_publisher_relays_its_stream_to_another_rtmp_url() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let (mut a, _) = join(&server, &data, "room", "A").await;
    let src = a.ok("publish", json!({"streamID": "src"})).await.unwrap()["url"].as_str().unwrap().to_owned();
    let _ffmpeg = publish(&src, Content::AudioVideo, 30);
    wait_live(&server, 1);

    // The "CDN" is this same server, under another name, announced in another room.
    let target = url(&data, &server, &["publish", "--stream-id", "relayed", "--room-id", "cdn", "--user-id", "cdn"]);
    a.ok("addPublishCdnUrl", json!({"streamID": "src", "targetURL": target})).await.unwrap();
    wait_live(&server, 2);
    let relayed = url(&data, &server, &["play", "--stream-id", "relayed"]);
    assert_eq!(probe(&relayed), ["aac", "h264"]);
    let (video, _) = decode(&relayed, 2);
    assert!(video >= 20, "{video} frames through the relay");

    // Refusals: not this session's stream, not an RTMP URL, too many targets.
    let r = a.request("addPublishCdnUrl", json!({"streamID": "other", "targetURL": target})).await.unwrap();
    assert_eq!(r["code"], 40304, "{r}");
    let r = a.request("addPublishCdnUrl", json!({"streamID": "src", "targetURL": "http://x/y/z"})).await.unwrap();
    assert_eq!(r["code"], 40002, "{r}");
    for i in 0..3 {
        a.ok("addPublishCdnUrl", json!({"streamID": "src", "targetURL": format!("rtmp://127.0.0.1:9/app/s{i}")}))
            .await
            .unwrap();
    }
    let r = a
        .request("addPublishCdnUrl", json!({"streamID": "src", "targetURL": "rtmp://127.0.0.1:9/app/s9"}))
        .await
        .unwrap();
    assert_eq!(r["code"], 40308, "{r}");

    // Removing the target ends the relayed stream; the source goes on.
    a.ok("removePublishCdnUrl", json!({"streamID": "src", "targetURL": target})).await.unwrap();
    wait_live(&server, 1);
}
