//! AMF0 decoding never panics, and what decodes re-encodes to something that decodes the same.
#![no_main]
use duet_rtmp::amf0;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(values) = amf0::decode_all(data) {
        let again = amf0::decode_all(&amf0::encode_all(&values)).expect("re-encoded AMF0 decodes");
        assert_eq!(format!("{again:?}"), format!("{values:?}"));
    }
});
