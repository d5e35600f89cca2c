//! The signaling frame parser never panics. Whatever it refuses is answered by a well-formed
//! error reply carrying the id it could read; whatever it accepts has the id the frame has, is
//! answered by a well-formed reply, and is accepted the same when the JSON is spelled
//! differently (the verdict depends on the JSON value, not on its text).
#![no_main]
use duet_room::{ErrorCode, limits, wire};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

/// Every op `wire::parse` knows: half of the inputs are wrapped as a request of one of them, so
/// the per-op decoding and limits are reached without the fuzzer finding the names first.
const OPS: &[&str] = &[
    "login",
    "resume",
    "logout",
    "renewToken",
    "ping",
    "sendBroadcastMessage",
    "sendBarrageMessage",
    "sendCustomCommand",
    "setRoomExtraInfo",
    "setStreamExtraInfo",
    "publish",
    "stopPublish",
    "play",
    "addPublishCdnUrl",
    "removePublishCdnUrl",
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    // A WebSocket text frame is valid UTF-8; invalid input is made valid, not dropped.
    let body = String::from_utf8_lossy(rest);
    let text = if mode & 1 == 0 {
        body.into_owned()
    } else {
        let op = OPS[usize::from(mode >> 1) % OPS.len()];
        let id = u64::from(mode).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        format!(r#"{{"id":{id},"op":"{op}","data":{body}}}"#)
    };
    check(&text);
});

fn check(text: &str) {
    let parsed = wire::parse(text);
    // What serde_json makes of the same text, when it is JSON at all.
    let value: Option<Value> = serde_json::from_str(text).ok();
    match &parsed {
        Ok(frame) => {
            if let Some(v) = &value {
                assert_eq!(
                    member(v, "id").and_then(Value::as_u64),
                    Some(frame.id),
                    "the frame's id is the JSON `id`"
                );
                assert!(member(v, "op").is_some_and(Value::is_string));
                // The same value written by serde_json (other whitespace, escapes and key order)
                // parses to the same request.
                let again = wire::parse(&v.to_string());
                assert_eq!(again.as_ref().ok(), Some(frame), "re-serialized frame parsed differently");
            }
            let reply: Value =
                serde_json::from_str(&wire::reply_ok(frame.id, json!({"echo": text}))).expect("reply_ok is JSON");
            assert_eq!(reply["id"].as_u64(), Some(frame.id));
            assert_eq!(reply["code"], 0);
            assert_eq!(reply["data"]["echo"].as_str(), Some(text));
        }
        Err(e) => {
            let code = e.refusal.code;
            assert!(
                matches!(
                    code,
                    ErrorCode::BadFrame | ErrorCode::UnknownOp | ErrorCode::InvalidField | ErrorCode::FrameTooLarge
                ),
                "parse is stateless, yet refused with {code:?}"
            );
            assert_eq!(code == ErrorCode::FrameTooLarge, text.len() > limits::MAX_FRAME);
            if let (Some(id), Some(v)) = (e.id, &value) {
                assert_eq!(member(v, "id").and_then(Value::as_u64), Some(id), "the error's id is the JSON `id`");
            }
            let reply: Value = serde_json::from_str(&wire::reply_err(e.id, &e.refusal)).expect("reply_err is JSON");
            let obj = reply.as_object().expect("reply_err is an object");
            assert_eq!(obj.len(), 4, "id, code, reason, message");
            assert_eq!(reply["id"], json!(e.id), "the reply carries the id that was read, or null");
            assert_eq!(reply["code"].as_u64(), Some(u64::from(code.number())));
            assert_eq!(reply["reason"].as_str(), Some(code.name()));
            assert_eq!(reply["message"].as_str(), Some(e.refusal.message.as_str()));
        }
    }
}

/// The member `name` of a request object (a frame is a JSON object: `wire::parse` refuses an
/// array in its place, which serde would read positionally).
fn member<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_object()?.get(name)
}
