//! `POST /httplog` against the real server: stored per app and day as JSON lines, with every
//! refusal answered by a documented code.

mod common;

use common::{Server, data_dir, post};
use serde_json::{Value, json};

fn stored(data: &std::path::Path, app_id: u32) -> Vec<Value> {
    let dir = data.join("logs").join(app_id.to_string());
    let mut lines = Vec::new();
    for f in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        lines.extend(text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()));
    }
    lines
}

#[test]
fn uploads_are_stored_per_app_as_json_lines() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let upload = json!({
        "appID": server.app_id, "userID": "alice", "roomID": "r1", "sessionID": "9", "deviceID": "d1",
        "sdkVersion": "0.1.0", "dropped": 0,
        "entries": [
            {"time": 1, "level": "info", "message": "logged in"},
            {"time": 2, "level": "error", "message": "two\nlines {\"forged\": true}"},
        ],
    });
    let res = post(server.http, "/httplog", upload.to_string().as_bytes(), None);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(serde_json::from_str::<Value>(&res.body).unwrap()["stored"], 2);

    let lines = stored(&data, server.app_id);
    assert_eq!(lines.len(), 2, "a newline in a message stays inside its line: {lines:?}");
    assert_eq!(lines[0]["message"], "logged in");
    assert_eq!(lines[0]["userID"], "alice");
    assert_eq!(lines[0]["peer"], "127.0.0.1");
    assert_eq!(lines[1]["message"], "two\nlines {\"forged\": true}");
    assert_eq!(lines[1]["level"], "error");

    let metrics = common::get(server.http, "/metrics").body;
    assert!(metrics.contains("duet_httplog_entries_total 2"), "{metrics}");
}

#[test]
fn bad_uploads_are_refused_with_codes() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let entry = json!({"time": 1, "level": "info", "message": "x"});
    let too_many = json!({"appID": server.app_id, "entries": vec![entry.clone(); 501]}).to_string();
    let cases: [(&[u8], Option<usize>, u16, &str); 6] = [
        (b"not json", None, 400, "invalid_log"),
        (br#"{"appID": 1}"#, None, 400, "invalid_log"),
        (br#"{"appID": 4000000000, "entries": []}"#, None, 404, "unknown_app"),
        (br#"{"appID": -1, "entries": []}"#, None, 400, "invalid_log"),
        (too_many.as_bytes(), None, 400, "invalid_log"),
        // Announces more than the limit: refused before the body is read.
        (b"", Some(100_000), 413, "body_too_large"),
    ];
    for (body, length, status, code) in cases {
        let res = post(server.http, "/httplog", body, length);
        assert_eq!(res.status, status, "{}: {}", String::from_utf8_lossy(body), res.body);
        let v: Value = serde_json::from_str(&res.body).unwrap();
        assert_eq!(v["code"], code, "{}", res.body);
    }
    assert!(!data.join("logs").join(server.app_id.to_string()).exists(), "nothing was stored");
    let metrics = common::get(server.http, "/metrics").body;
    assert!(metrics.contains("duet_httplog_refused_total 6"), "{metrics}");
}
