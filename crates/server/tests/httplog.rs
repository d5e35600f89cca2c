//! `POST /httplog` against the real server: stored per app and day as JSON lines, with every
//! refusal answered by a documented code. An upload carries the `logToken` its session got at
//! login, so a stranger who knows only the AppID cannot spend the app's quota, and no sender
//! can spend it in a burst.

mod common;

use common::{Server, data_dir, post};
use serde_json::{Value, json};

/// A logged-in session's upload credential: (client, sessionID, logToken). The client is kept
/// so the session stays.
async fn credential(server: &Server, data: &std::path::Path, user: &str) -> (duet_client::Client, String, String) {
    let (client, login) = common::join(server, data, "logs-room", user).await;
    let token = login["logToken"].as_str().unwrap_or_else(|| panic!("no logToken in the login reply: {login}"));
    (client, login["sessionID"].as_str().unwrap().to_owned(), token.to_owned())
}

fn upload(app_id: u32, user: &str, session: &str, token: &str, entries: Vec<Value>) -> Vec<u8> {
    json!({"appID": app_id, "userID": user, "sessionID": session, "logToken": token, "entries": entries})
        .to_string()
        .into_bytes()
}

fn code(res: &common::Response) -> String {
    serde_json::from_str::<Value>(&res.body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn stored(data: &std::path::Path, app_id: u32) -> Vec<Value> {
    let dir = data.join("logs").join(app_id.to_string());
    let mut lines = Vec::new();
    for f in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        lines.extend(text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()));
    }
    lines
}

#[tokio::test]
async fn uploads_are_stored_per_app_as_json_lines() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let (_alice, session, token) = credential(&server, &data, "alice").await;
    let upload = json!({
        "appID": server.app_id, "userID": "alice", "roomID": "r1", "sessionID": session, "deviceID": "d1",
        "sdkVersion": "0.1.0", "dropped": 0, "logToken": token,
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
    assert_eq!(lines[0]["sessionID"], session.as_str());
    assert_eq!(lines[0]["peer"], "127.0.0.1");
    assert_eq!(lines[1]["message"], "two\nlines {\"forged\": true}");
    assert_eq!(lines[1]["level"], "error");

    let metrics = common::get(server.http, "/metrics").body;
    assert!(metrics.contains("duet_httplog_entries_total 2"), "{metrics}");
}

#[tokio::test]
async fn bad_uploads_are_refused_with_codes() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let (_alice, session, token) = credential(&server, &data, "alice").await;
    let (_bob, bob_session, _) = credential(&server, &data, "bob").await;
    let entry = json!({"time": 1, "level": "info", "message": "x"});
    let too_many = json!({"appID": server.app_id, "entries": vec![entry.clone(); 501]}).to_string();
    let id = server.app_id;
    let unsigned = json!({"appID": id, "userID": "alice", "sessionID": session, "entries": [entry]}).to_string();
    let forged = upload(id, "alice", &session, &"0".repeat(token.len()), vec![entry.clone()]);
    let other_user = upload(id, "bob", &session, &token, vec![entry.clone()]);
    let other_session = upload(id, "alice", &bob_session, &token, vec![entry.clone()]);
    let cases: [(&[u8], Option<usize>, u16, &str); 10] = [
        (b"not json", None, 400, "invalid_log"),
        (br#"{"appID": 1}"#, None, 400, "invalid_log"),
        (br#"{"appID": 4000000000, "entries": []}"#, None, 404, "unknown_app"),
        (br#"{"appID": -1, "entries": []}"#, None, 400, "invalid_log"),
        (too_many.as_bytes(), None, 400, "invalid_log"),
        // Announces more than the limit: refused before the body is read.
        (b"", Some(100_000), 413, "body_too_large"),
        // No credential, or one that is not this session's.
        (unsigned.as_bytes(), None, 401, "log_token_missing"),
        (&forged, None, 401, "log_token_invalid"),
        (&other_user, None, 401, "log_token_invalid"),
        (&other_session, None, 401, "log_token_invalid"),
    ];
    for (body, length, status, code) in cases {
        let res = post(server.http, "/httplog", body, length);
        assert_eq!(res.status, status, "{}: {}", String::from_utf8_lossy(body), res.body);
        let v: Value = serde_json::from_str(&res.body).unwrap();
        assert_eq!(v["code"], code, "{}", res.body);
    }
    assert!(!data.join("logs").join(server.app_id.to_string()).exists(), "nothing was stored");
    let metrics = common::get(server.http, "/metrics").body;
    assert!(metrics.contains("duet_httplog_refused_total 10"), "{metrics}");
}

/// The issue's attack: a thousand unsigned 60 KB posts in a second. None is stored, and the
/// app's genuine uploads still go through afterwards.
#[tokio::test]
async fn strangers_cannot_spend_an_apps_quota() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let (_alice, session, token) = credential(&server, &data, "alice").await;
    let big = json!({"time": 1, "level": "info", "message": "x".repeat(4000)});
    let body =
        json!({"appID": server.app_id, "userID": "alice", "sessionID": "1", "entries": vec![big; 15]}).to_string();
    assert!(body.len() > 60_000 && body.len() < 64 * 1024);
    let mut refused = std::collections::BTreeMap::<(u16, String), usize>::new();
    for _ in 0..1000 {
        let res = post(server.http, "/httplog", body.as_bytes(), None);
        *refused.entry((res.status, code(&res))).or_default() += 1;
    }
    assert!(refused.keys().all(|(status, _)| *status == 401 || *status == 429), "{refused:?}");
    assert!(refused.contains_key(&(429, "log_rate_limited".into())), "one address is rate limited: {refused:?}");
    assert!(!data.join("logs").join(server.app_id.to_string()).exists(), "nothing was stored");

    // The flood came from this test's address too: let its budget refill.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let entry = json!({"time": 2, "level": "error", "message": "genuine"});
    let res = post(server.http, "/httplog", &upload(server.app_id, "alice", &session, &token, vec![entry]), None);
    assert_eq!(res.status, 200, "{}", res.body);
}

/// A session with a valid credential can neither empty the app's daily quota in a burst nor
/// starve the app's other sessions.
#[tokio::test]
async fn one_session_cannot_empty_the_quota_in_a_burst() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let (_alice, session, token) = credential(&server, &data, "alice").await;
    let big = json!({"time": 1, "level": "info", "message": "x".repeat(4000)});
    let body = upload(server.app_id, "alice", &session, &token, vec![big; 15]);
    let (mut stored, mut limited) = (0, 0);
    for _ in 0..40 {
        let res = post(server.http, "/httplog", &body, None);
        match (res.status, code(&res).as_str()) {
            (200, _) => stored += 1,
            (429, "log_rate_limited") => {
                assert!(res.headers.to_ascii_lowercase().contains("retry-after:"), "{}", res.headers);
                limited += 1;
            }
            other => panic!("unexpected answer {other:?}: {}", res.body),
        }
    }
    assert!(stored >= 1 && limited > 0, "stored {stored}, limited {limited}");
    let bytes: u64 = std::fs::read_dir(data.join("logs").join(server.app_id.to_string()))
        .unwrap()
        .map(|f| f.unwrap().metadata().unwrap().len())
        .sum();
    assert!(bytes < 1024 * 1024, "one session stored {bytes} bytes in a burst");

    let (_bob, bob_session, bob_token) = credential(&server, &data, "bob").await;
    let entry = json!({"time": 2, "level": "info", "message": "bob is fine"});
    let res = post(server.http, "/httplog", &upload(server.app_id, "bob", &bob_session, &bob_token, vec![entry]), None);
    assert_eq!(res.status, 200, "another session still uploads: {}", res.body);
}
