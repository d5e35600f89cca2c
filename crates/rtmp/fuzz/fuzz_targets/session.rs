//! A whole server session fed arbitrary bytes after a valid handshake, in arbitrary pieces,
//! accepting every request, never panics.
#![no_main]
use duet_rtmp::{Event, Session};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut s = Session::new([0; 1536]);
    let mut hello = vec![3u8];
    hello.extend_from_slice(&[0; 3072]);
    let _ = s.handle_bytes(&hello);
    for piece in data.chunks(97) {
        if s.handle_bytes(piece).is_err() {
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
