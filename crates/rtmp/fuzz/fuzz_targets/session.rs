//! A whole server session fed arbitrary bytes after a valid handshake, in arbitrary pieces,
//! accepting every request, never panics.
#![no_main]
use std::time::Instant;

use duet_rtmp::{Event, Session, SessionConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut s = Session::new(SessionConfig::default(), [0; 1536], now);
    let mut hello = vec![3u8];
    hello.extend_from_slice(&[0; 3072]);
    let _ = s.handle_bytes(now, &hello);
    for piece in data.chunks(97) {
        if s.handle_bytes(now, piece).is_err() {
            return;
        }
        loop {
            match s.poll_event() {
                Ok(Some(Event::Connect { .. })) => s.accept_connect(),
                Ok(Some(Event::Publish { .. })) => s.accept_publish("ok"),
                Ok(Some(Event::Play { .. })) => s.accept_play("ok"),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let _ = s.take_output();
    }
});
