//! What the RTMP integration tests share: a virtual clock's start, a publisher's conversation
//! as bytes, and [`pair::Pair`], a client and a server session wired together in memory.
#![allow(dead_code)] // each test file uses a part

pub mod pair;

use std::time::Instant;

use duet_rtmp::amf0::{Value, encode_all, object};
use duet_rtmp::chunk::encode;
use duet_rtmp::{Event, Session, SessionConfig, msg};

/// Some real instant for a virtual clock to start at.
#[allow(clippy::disallowed_methods)] // the virtual clock starts at some real instant
pub fn t0() -> Instant {
    Instant::now()
}

/// A server session with default deadlines, created at [`t0`].
pub fn session() -> (Session, Instant) {
    let now = t0();
    (Session::new(SessionConfig::default(), [7; 1536], now), now)
}

/// One AMF0 command on csid 3, stream 0, at the default chunk size.
pub fn command(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    encode(&mut out, 3, 0, msg::COMMAND, 0, &encode_all(values), 128);
    out
}

/// An AMF0 string.
pub fn s(v: &str) -> Value {
    Value::String(v.into())
}

/// C0+C1+C2, connect, createStream, publish, metadata, a video and an audio message.
pub fn publisher_bytes() -> Vec<u8> {
    let mut b = vec![3];
    b.extend_from_slice(&[0x11; 1536]);
    b.extend_from_slice(&[0x22; 1536]);
    b.extend(command(&[
        s("connect"),
        Value::Number(1.0),
        object(&[("app", s("1234")), ("tcUrl", s("rtmp://h/1234"))]),
    ]));
    b.extend(command(&[s("createStream"), Value::Number(2.0), Value::Null]));
    let mut publish = Vec::new();
    encode(
        &mut publish,
        5,
        0,
        msg::COMMAND,
        1,
        &encode_all(&[s("publish"), Value::Number(3.0), Value::Null, s("cam?sign=x"), s("live")]),
        128,
    );
    b.extend(publish);
    encode(
        &mut b,
        4,
        0,
        msg::DATA,
        1,
        &encode_all(&[s("@setDataFrame"), s("onMetaData"), object(&[("width", Value::Number(320.0))])]),
        128,
    );
    encode(&mut b, 6, 40, msg::VIDEO, 1, &[0x17, 0, 0, 0, 0, 1, 2, 3], 128);
    encode(&mut b, 4, 45, msg::AUDIO, 1, &[0xAF, 1, 9, 9], 128);
    b
}

/// Runs the conversation with the server accepting everything; returns events and output.
pub fn run(pieces: &[&[u8]]) -> (Vec<Event>, Vec<u8>) {
    let (mut session, now) = session();
    let mut events = Vec::new();
    let mut out = Vec::new();
    for p in pieces {
        session.handle_bytes(now, p).unwrap();
        while let Some(e) = session.poll_event().unwrap() {
            match &e {
                Event::Connect { .. } => session.accept_connect(),
                Event::Publish { .. } => session.accept_publish("go"),
                _ => {}
            }
            events.push(e);
        }
        out.extend(session.take_output());
    }
    (events, out)
}

/// True when `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
