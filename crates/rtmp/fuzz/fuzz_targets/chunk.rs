//! The chunk decoder never panics and never returns more bytes consumed than it was given.
#![no_main]
use duet_rtmp::chunk::Decoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut d = Decoder::default();
    if let Some((&size, rest)) = data.split_first() {
        let _ = d.set_chunk_size(u32::from(size) * 64 + 1);
        let mut buf = rest;
        while let Ok((n, _)) = d.decode(buf) {
            if n == 0 {
                break;
            }
            assert!(n <= buf.len());
            buf = &buf[n..];
        }
    }
});
