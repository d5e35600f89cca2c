//! The server session's deadlines on a virtual clock: the handshake must finish in 10 s, a
//! connection without a role closes 60 s after it lost (or never had) one, a publisher silent
//! for 20 s is dead, a player has none; each just at its instant, never a millisecond early.

mod common;

use std::time::{Duration, Instant};

use common::{command, s, session, t0};
use duet_rtmp::amf0::{Value, object};
use duet_rtmp::{Event, Session, SessionConfig, Timeout};

const MS: Duration = Duration::from_millis(1);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Drains events, accepting connect, publish and play; returns them.
fn drain(session: &mut Session) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(e) = session.poll_event().expect("valid input") {
        match &e {
            Event::Connect { .. } => session.accept_connect(),
            Event::Publish { .. } => session.accept_publish("ok"),
            Event::Play { .. } => session.accept_play("ok"),
            _ => {}
        }
        events.push(e);
    }
    let _ = session.take_output();
    events
}

/// Asserts the session is open just before `at` and closed for `why` at `at`.
fn closes_exactly_at(session: &mut Session, at: Instant, why: Timeout) {
    assert_eq!(session.poll_timeout(), Some(at));
    session.handle_timeout(at - MS);
    assert!(drain(session).is_empty(), "closed a millisecond early");
    assert!(!session.should_close());
    session.handle_timeout(at);
    assert_eq!(drain(session), [Event::TimedOut(why)]);
    assert!(session.should_close());
    assert_eq!(session.poll_timeout(), None, "nothing left to wait for");
}

fn handshake() -> Vec<u8> {
    let mut b = vec![3];
    b.extend_from_slice(&[0x11; 1536]);
    b.extend_from_slice(&[0x22; 1536]);
    b
}

fn connect() -> Vec<u8> {
    command(&[s("connect"), Value::Number(1.0), object(&[("app", s("1")), ("tcUrl", s("rtmp://h/1"))])])
}

fn request(name: &str) -> Vec<u8> {
    command(&[s(name), Value::Number(3.0), Value::Null, s("cam"), s("live")])
}

#[test]
fn the_handshake_must_finish_within_10_s() {
    let (mut session, t0) = session();
    // Bytes that do not finish the handshake do not extend it.
    session.handle_bytes(t0 + secs(5), &handshake()[..1000]).unwrap();
    drain(&mut session);
    closes_exactly_at(&mut session, t0 + secs(10), Timeout::Handshake);
    // Closed: later bytes are dropped and produce nothing.
    session.handle_bytes(t0 + secs(11), &handshake()[1000..]).unwrap();
    assert!(drain(&mut session).is_empty());
}

#[test]
fn a_connection_without_a_role_closes_60_s_after_it_started() {
    let (mut session, t0) = session();
    session.handle_bytes(t0 + secs(1), &handshake()).unwrap();
    session.handle_bytes(t0 + secs(30), &connect()).unwrap();
    assert!(matches!(drain(&mut session)[..], [Event::Connect { .. }]));
    closes_exactly_at(&mut session, t0 + secs(60), Timeout::NoRole);
}

#[test]
fn a_publisher_silent_for_20_s_is_dead() {
    let (mut session, t0) = session();
    session.handle_bytes(t0 + secs(1), &handshake()).unwrap();
    session.handle_bytes(t0 + secs(2), &[connect(), request("publish")].concat()).unwrap();
    drain(&mut session);
    assert_eq!(session.poll_timeout(), Some(t0 + secs(22)));
    // Anything the publisher sends restarts the count.
    session.handle_bytes(t0 + secs(10), &[0xC3]).unwrap();
    drain(&mut session);
    closes_exactly_at(&mut session, t0 + secs(30), Timeout::PublisherSilent(secs(20)));
}

#[test]
fn a_publisher_that_stops_has_60_s_to_take_another_role() {
    let (mut session, t0) = session();
    session.handle_bytes(t0, &[handshake(), connect(), request("publish")].concat()).unwrap();
    drain(&mut session);
    session.handle_bytes(t0 + secs(5), &command(&[s("deleteStream"), Value::Number(4.0), Value::Null])).unwrap();
    assert_eq!(drain(&mut session), [Event::Unpublish]);
    closes_exactly_at(&mut session, t0 + secs(65), Timeout::NoRole);
}

#[test]
fn a_player_has_no_deadline() {
    let (mut session, t0) = session();
    session.handle_bytes(t0, &[handshake(), connect(), request("play")].concat()).unwrap();
    assert!(matches!(drain(&mut session)[..], [Event::Connect { .. }, Event::Play { .. }]));
    assert_eq!(session.poll_timeout(), None);
    session.handle_timeout(t0 + secs(3600));
    assert!(drain(&mut session).is_empty());
    assert!(!session.should_close());
    // Its stream ended: the session closes at once, with nothing more to wait for.
    session.end_play();
    assert!(session.should_close());
    assert_eq!(session.poll_timeout(), None);
}

#[test]
fn deadlines_follow_the_config() {
    let config = SessionConfig { handshake_timeout: secs(1), no_role_timeout: secs(2), publisher_silence: secs(3) };
    let t0 = t0();
    let mut session = Session::new(config, [0; 1536], t0);
    closes_exactly_at(&mut session, t0 + secs(1), Timeout::Handshake);
    let mut session = Session::new(config, [0; 1536], t0);
    session.handle_bytes(t0, &handshake()).unwrap();
    drain(&mut session);
    closes_exactly_at(&mut session, t0 + secs(2), Timeout::NoRole);
    let mut session = Session::new(config, [0; 1536], t0);
    session.handle_bytes(t0, &[handshake(), connect(), request("publish")].concat()).unwrap();
    drain(&mut session);
    closes_exactly_at(&mut session, t0 + secs(3), Timeout::PublisherSilent(secs(3)));
}

#[test]
fn timeouts_read_as_the_server_logs_them() {
    assert_eq!(Timeout::Handshake.to_string(), "handshake timed out");
    assert_eq!(Timeout::NoRole.to_string(), "neither published nor played");
    assert_eq!(Timeout::PublisherSilent(secs(20)).to_string(), "publisher silent for 20s");
    assert!(Timeout::Handshake.is_refusal() && Timeout::NoRole.is_refusal());
    assert!(!Timeout::PublisherSilent(secs(20)).is_refusal());
}

#[test]
fn a_session_is_send_and_its_events_small() {
    fn send<T: Send>() {}
    send::<Session>();
    send::<duet_rtmp::ClientSession>();
    assert!(std::mem::size_of::<Event>() <= 64, "{}", std::mem::size_of::<Event>());
}
