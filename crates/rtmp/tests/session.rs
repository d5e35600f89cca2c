//! A whole publisher conversation fed to `Session` in one piece and split at every offset.

mod common;

use common::{contains, publisher_bytes, run, session};
use duet_rtmp::{Event, msg};

#[test]
fn a_publisher_conversation_in_one_piece() {
    let bytes = publisher_bytes();
    let (events, out) = run(&[&bytes]);
    assert_eq!(events[0], Event::Connect { app: "1234".into(), tc_url: "rtmp://h/1234".into() });
    assert_eq!(events[1], Event::Publish { name: "cam?sign=x".into() });
    assert!(matches!(&events[2], Event::Metadata(m) if contains(m, b"onMetaData") && !contains(m, b"@setDataFrame")));
    assert!(
        matches!(&events[3], Event::Media(m) if m.type_id == msg::VIDEO && m.timestamp == 40 && m.payload.len() == 8)
    );
    assert!(matches!(&events[4], Event::Media(m) if m.type_id == msg::AUDIO && m.timestamp == 45));
    assert_eq!(events.len(), 5);
    // S0 S1 S2 (plain: S2 echoes C1), then the replies.
    assert_eq!(out[0], 3);
    assert_eq!(&out[1537..3073], &[0x11; 1536][..]);
    assert!(contains(&out, b"NetConnection.Connect.Success"));
    assert!(contains(&out, b"NetStream.Publish.Start"));
}

#[test]
fn the_same_conversation_split_at_every_offset() {
    let bytes = publisher_bytes();
    let (whole_events, whole_out) = run(&[&bytes]);
    for cut in 1..bytes.len() {
        let (events, out) = run(&[&bytes[..cut], &bytes[cut..]]);
        assert!(events == whole_events, "events differ when split at {cut}");
        assert!(out == whole_out, "output differs when split at {cut}");
    }
}

#[test]
fn garbage_is_refused_without_panicking() {
    for first in [0u8, 6, 0xFF] {
        let (mut s, now) = session();
        s.handle_bytes(now, &[first, 1, 2]).unwrap();
        assert!(s.poll_event().is_err());
    }
    // After a valid handshake, random bytes either wait for more or are refused; never panic.
    let mut seed = 0x1234_5678u32;
    for _ in 0..200 {
        let (mut s, now) = session();
        let mut b = vec![3];
        b.extend_from_slice(&[0; 3072]);
        for _ in 0..400 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            b.push((seed >> 16) as u8);
        }
        if s.handle_bytes(now, &b).is_ok() {
            while let Ok(Some(e)) = s.poll_event() {
                if matches!(e, Event::Connect { .. }) {
                    s.accept_connect();
                }
            }
        }
    }
}

#[test]
fn refusals_send_the_status_code_and_ask_to_close() {
    let (mut session, now) = session();
    let bytes = publisher_bytes();
    session.handle_bytes(now, &bytes).unwrap();
    let mut out = Vec::new();
    while let Some(e) = session.poll_event().unwrap() {
        match e {
            Event::Connect { .. } => session.accept_connect(),
            Event::Publish { .. } => session.reject_publish("NetStream.Publish.BadName", "taken"),
            _ => {}
        }
        out.extend(session.take_output());
    }
    assert!(contains(&out, b"NetStream.Publish.BadName"));
    assert!(session.should_close());
}
