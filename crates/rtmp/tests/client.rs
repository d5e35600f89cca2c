//! `ClientSession` against the server `Session`, in memory on a virtual clock: setup with the
//! input split at every offset on both sides, publish → play through two server sessions,
//! refusals, the setup deadline, acknowledgements, and misuse.

mod common;

use std::time::Duration;

use common::pair::{Answer, Pair};
use common::{run, s, t0};
use duet_rtmp::amf0::{Value, encode_all, object};
use duet_rtmp::chunk::Decoder;
use duet_rtmp::{ClientConfig, ClientEvent, ClientFailure, ClientSession, Event, RtmpError, msg};

const SETUP: Duration = Duration::from_secs(10);
const MS: Duration = Duration::from_millis(1);

/// A pair whose client asked to publish `cam` and whose server accepted it.
fn publishing() -> Pair {
    let mut pair = Pair::new(t0());
    pair.client.publish(pair.now, "cam?sign=x").unwrap();
    pair.drive();
    pair
}

#[test]
fn a_publish_setup_runs_in_protocol_order() {
    let pair = publishing();
    assert_eq!(pair.client_events, [ClientEvent::Connected, ClientEvent::Started]);
    assert!(matches!(&pair.server_events[..], [
        Event::Connect { app, tc_url },
        Event::Publish { name },
    ] if app == "1234" && tc_url == "rtmp://h/1234" && name == "cam?sign=x"));
    assert!(pair.client.is_started());
    assert_eq!(pair.client.poll_timeout(), None, "no deadline once started");
    assert_eq!(pair.server.poll_timeout(), Some(pair.now + Duration::from_secs(20)), "a publisher's silence");
}

/// Feeds `bytes` to a fresh client that asked to publish, whole or split at `cut`.
fn client_run(bytes: &[u8], cut: usize) -> (Vec<ClientEvent>, Vec<u8>) {
    let now = t0();
    let mut client = ClientSession::new(ClientConfig::default(), [0x5A; 1536], now, "1234", "rtmp://h/1234");
    client.publish(now, "cam?sign=x").unwrap();
    let mut out = client.take_output();
    let mut events = Vec::new();
    for piece in [&bytes[..cut], &bytes[cut..]] {
        client.handle_bytes(now, piece).unwrap();
        out.extend(client.take_output());
        events.extend(std::iter::from_fn(|| client.poll_event()));
    }
    (events, out)
}

#[test]
fn the_setup_split_at_every_offset_on_both_sides() {
    let whole = publishing();
    let (from_server, from_client) = (whole.server_sent.clone(), whole.client_sent.clone());
    // The client, fed what the server sent (handshake, control, results, onStatus).
    let (events, out) = same_at_every_cut(from_server.len(), |cut| client_run(&from_server, cut));
    assert_eq!(events, whole.client_events);
    assert!(out == from_client, "the client's output differs");
    // The server, fed what the client sent (C0 C1 C2, chunk size, connect, createStream, publish).
    let (events, out) = same_at_every_cut(from_client.len(), |cut| run(&[&from_client[..cut], &from_client[cut..]]));
    assert_eq!(events, whole.server_events);
    assert!(out == from_server, "the server's output differs");
}

/// Runs `run` with the input whole and split at every offset; every run must agree.
fn same_at_every_cut<T: PartialEq>(len: usize, run: impl Fn(usize) -> T) -> T {
    let whole = run(len);
    for cut in 1..len {
        assert!(run(cut) == whole, "differs when split at {cut}");
    }
    whole
}

#[test]
fn published_media_plays_through_two_server_sessions() {
    let mut publisher = publishing();
    let mut player = Pair::new(publisher.now);
    player.client.play(player.now, "cam?sign=y").unwrap();
    player.drive();
    assert!(matches!(&player.server_events[..], [Event::Connect { .. }, Event::Play { name }] if name == "cam?sign=y"));
    // Started, then the data message every player gets first.
    assert_eq!(player.client_events[..2], [ClientEvent::Connected, ClientEvent::Started]);
    assert!(
        matches!(&player.client_events[2..], [ClientEvent::Message(m)] if common::contains(&m.payload, b"|RtmpSampleAccess"))
    );

    // A metadata message, a 10 kB keyframe (chunked at 4096 by the client), an audio frame.
    let meta = encode_all(&[s("@setDataFrame"), s("onMetaData"), object(&[("width", Value::Number(320.0))])]);
    let video: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    publisher.client.send_media(msg::DATA, 0, &meta).unwrap();
    publisher.client.send_media(msg::VIDEO, 40, &video).unwrap();
    publisher.client.send_media(msg::AUDIO, 45, &[0xAF, 1, 9, 9]).unwrap();
    publisher.drive();
    let media: Vec<_> = publisher.server_events.iter().skip(2).cloned().collect();
    assert!(matches!(&media[0], Event::Metadata(m) if common::contains(m, b"onMetaData")));
    // What the hub would do: package each media message once and hand it to the player.
    for e in &media[1..] {
        let Event::Media(m) = e else { panic!("{e:?}") };
        player.package(m.type_id, m.timestamp, &m.payload);
    }
    player.drive();
    let got: Vec<_> = player.client_events[3..]
        .iter()
        .map(|e| match e {
            ClientEvent::Message(m) => (m.type_id, m.timestamp, m.payload.to_vec()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, [(msg::VIDEO, 40, video), (msg::AUDIO, 45, vec![0xAF, 1, 9, 9])]);

    // The stream ends: the player hears a status (not an error), the server closes.
    player.server.end_play();
    player.drive();
    assert!(
        matches!(player.client_events.last(), Some(ClientEvent::Status(s)) if s.code == "NetStream.Play.UnpublishNotify")
    );
    assert!(!player.client.is_failed());
}

#[test]
fn refusals_are_failures_naming_the_command() {
    let mut pair = Pair::new(t0());
    pair.request = Answer::Reject;
    pair.client.publish(pair.now, "taken").unwrap();
    pair.drive();
    let Some(ClientEvent::Failed(ClientFailure::Refused { command, status })) = pair.client_events.last() else {
        panic!("{:?}", pair.client_events)
    };
    assert_eq!(
        (*command, status.code.as_str(), status.level.as_str()),
        ("publish", "NetStream.Publish.BadName", "error")
    );
    assert!(pair.client.is_failed() && pair.server.should_close());
    assert_eq!(pair.client.poll_timeout(), None);

    let mut pair = Pair::new(t0());
    pair.connect = Answer::Reject;
    pair.drive();
    let Some(ClientEvent::Failed(failure)) = pair.client_events.last() else { panic!("{:?}", pair.client_events) };
    assert!(
        matches!(failure, ClientFailure::Refused { command: "connect", status } if status.code == "NetConnection.Connect.Rejected")
    );
    assert_eq!(failure.to_string(), "connect refused: NetConnection.Connect.Rejected (unknown app)");

    let mut pair = Pair::new(t0());
    pair.request = Answer::Reject;
    pair.client.play(pair.now, "gone").unwrap();
    pair.drive();
    assert!(matches!(
        pair.client_events.last(),
        Some(ClientEvent::Failed(ClientFailure::Refused { command: "play", .. }))
    ));
}

#[test]
fn each_setup_step_has_10_s_on_a_virtual_clock() {
    // Nobody answers: the handshake and connect must finish within 10 s of creation.
    let t0 = t0();
    let mut client = ClientSession::new(ClientConfig::default(), [0; 1536], t0, "1", "rtmp://h/1");
    assert_eq!(client.poll_timeout(), Some(t0 + SETUP));
    client.handle_timeout(t0 + SETUP - MS);
    assert_eq!(client.poll_event(), None);
    client.handle_timeout(t0 + SETUP);
    assert_eq!(client.poll_event(), Some(ClientEvent::Failed(ClientFailure::Timeout(SETUP))));
    assert_eq!(client.poll_timeout(), None);

    // Connected and idle: no deadline until a publish is asked; then 10 s from the asking.
    let mut pair = Pair::new(t0);
    pair.drive();
    assert_eq!(pair.client_events, [ClientEvent::Connected]);
    assert_eq!(pair.client.poll_timeout(), None);
    pair.advance(Duration::from_secs(30));
    pair.request = Answer::Silent;
    pair.client.publish(pair.now, "cam").unwrap();
    pair.drive();
    assert_eq!(pair.client.poll_timeout(), Some(pair.now + SETUP));
    pair.advance(SETUP - MS);
    assert_eq!(pair.client_events, [ClientEvent::Connected]);
    pair.advance(MS);
    assert_eq!(pair.client_events.last(), Some(&ClientEvent::Failed(ClientFailure::Timeout(SETUP))));
}

#[test]
fn the_player_acknowledges_half_the_servers_window() {
    let mut pair = Pair::new(t0());
    pair.client.play(pair.now, "cam").unwrap();
    pair.drive();
    // The server announced a 2,500,000-byte window: an ack is due after 1,250,000 bytes.
    let frame = vec![0x27; 100_000];
    for i in 0..13 {
        pair.package(msg::VIDEO, i * 40, &frame);
    }
    let to_client = std::mem::take(&mut pair.to_client);
    pair.client.handle_bytes(pair.now, &to_client).unwrap();
    let mut decoder = Decoder::default();
    decoder.set_chunk_size(duet_rtmp::OUT_CHUNK_SIZE as u32).unwrap();
    let out = pair.client.take_output();
    let (_, ack) = decoder.decode(&out).unwrap();
    let ack = ack.expect("an acknowledgement");
    assert_eq!(ack.type_id, msg::ACK);
    let acked = u32::from_be_bytes(ack.payload[..4].try_into().unwrap());
    assert!(acked >= 1_250_000, "{acked}");
    assert_eq!(std::iter::from_fn(|| pair.client.poll_event()).count(), 13);
}

#[test]
fn the_setup_is_livelock_free() {
    // Every request kind, each in both orders (asked before or after connecting), settles.
    for ask_early in [true, false] {
        for play in [true, false] {
            let mut pair = Pair::new(t0());
            if !ask_early {
                pair.drive_bounded(20);
            }
            let (now, name) = (pair.now, "cam");
            let asked = if play { pair.client.play(now, name) } else { pair.client.publish(now, name) };
            asked.unwrap();
            pair.drive_bounded(20);
            assert!(pair.client.is_started(), "early {ask_early} play {play}: {:?}", pair.client_events);
        }
    }
}

#[test]
fn misuse_is_an_error_and_changes_nothing() {
    let mut pair = Pair::new(t0());
    let early = pair.client.send_media(msg::VIDEO, 0, &[1]);
    assert!(matches!(early, Err(RtmpError::Misuse(_))), "{early:?}");
    pair.client.play(pair.now, "a").unwrap();
    assert!(matches!(pair.client.publish(pair.now, "b"), Err(RtmpError::Misuse(_))));
    pair.drive();
    assert!(pair.client.is_started());
    assert!(matches!(pair.client.send_media(msg::VIDEO, 0, &[1]), Err(RtmpError::Misuse(_))), "a player");
}

#[test]
fn a_raw_reader_takes_prepackaged_chunks() {
    let mut reader = ClientSession::raw(ClientConfig::default());
    let mut wire = Vec::new();
    let payload = vec![7u8; 9000];
    duet_rtmp::chunk::encode(&mut wire, 6, 80, msg::VIDEO, 1, &payload, duet_rtmp::OUT_CHUNK_SIZE);
    reader.handle_bytes(t0(), &wire).unwrap();
    assert!(
        matches!(reader.poll_event(), Some(ClientEvent::Message(m)) if m.payload.len() == 9000 && m.timestamp == 80)
    );
    assert!(reader.take_output().is_empty() && reader.poll_timeout().is_none());
}
