//! `duet token mint|inspect`: tokens from the published generators' layouts are accepted after
//! `duet app import`; expired, wrong-app, wrong-secret, tampered and malformed ones are refused
//! with a one-line reason.

mod common;

use common::{data_dir, fails, ok};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    serde_json::from_str(include_str!("../../token/tests/data/token04_vectors.json")).unwrap()
}

/// Imports every app a vector needs into a fresh data folder.
fn import_all(data: &std::path::Path) -> Vec<Value> {
    let vs = vectors();
    let mut seen = std::collections::HashSet::new();
    for v in &vs {
        let id = v["app_id"].to_string();
        if seen.insert(id.clone()) {
            ok(data, &["app", "import", "--app-id", &id, "--secret", v["secret"].as_str().unwrap()]);
        }
    }
    vs
}

#[test]
fn published_generator_tokens_are_accepted() {
    let (_tmp, data) = data_dir();
    let mut accepted = 0;
    for v in import_all(&data) {
        if v["expire"].as_i64().unwrap() < 2_000_000_000 {
            continue;
        }
        let user = v["user_id"].as_str().unwrap();
        let out = ok(
            &data,
            &[
                "token",
                "inspect",
                "--app-id",
                &v["app_id"].to_string(),
                "--token",
                v["token"].as_str().unwrap(),
                "--user-id",
                user,
            ],
        );
        let got: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(got["app_id"], v["app_id"], "{}", v["name"]);
        assert_eq!(got["user_id"], v["user_id"], "{}", v["name"]);
        assert_eq!(got["expire"], v["expire"], "{}", v["name"]);
        assert_eq!(got["payload"], v["payload"], "{}", v["name"]);
        accepted += 1;
    }
    assert!(accepted >= 14);
}

#[test]
fn bad_tokens_are_refused_with_a_reason() {
    let (_tmp, data) = data_dir();
    let vs = import_all(&data);
    let find = |name: &str| vs.iter().find(|v| v["name"] == name).unwrap().clone();
    let good = find("cbc-go-basic-empty-payload");
    let good_token = good["token"].as_str().unwrap();

    let expired = find("cbc-go-expired");
    let err = fails(&data, &["token", "inspect", "--app-id", "1", "--token", expired["token"].as_str().unwrap()]);
    assert!(err.contains("token_expired"), "{err}");

    // Another app with another secret: the token does not open.
    ok(&data, &["app", "import", "--app-id", "77", "--secret", "0123456789abcdef0123456789abcdef"]);
    let err = fails(&data, &["token", "inspect", "--app-id", "77", "--token", good_token]);
    assert!(err.contains("token_bad_signature"), "{err}");

    // Another app that shares the secret: opens, but names app 1.
    ok(&data, &["app", "import", "--app-id", "78", "--secret", good["secret"].as_str().unwrap()]);
    let err = fails(&data, &["token", "inspect", "--app-id", "78", "--token", good_token]);
    assert!(err.contains("token_wrong_app") && err.contains("AppID 1,"), "{err}");

    // Tampered: one character changed in the ciphertext.
    let mut t: Vec<char> = good_token.chars().collect();
    let i = t.len() - 10;
    t[i] = if t[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = t.into_iter().collect();
    let err = fails(&data, &["token", "inspect", "--app-id", "1", "--token", &tampered]);
    assert!(err.contains("token_bad_signature") || err.contains("token_malformed"), "{err}");

    for malformed in ["hello", "04", "04@@@@", &good_token[2..], &good_token[..good_token.len() - 8]] {
        let err = fails(&data, &["token", "inspect", "--app-id", "1", "--token", malformed]);
        assert!(err.contains("token_malformed"), "{malformed}: {err}");
    }

    let err = fails(&data, &["token", "inspect", "--app-id", "1", "--token", good_token, "--user-id", "someone-else"]);
    assert!(err.contains("token_user_mismatch"), "{err}");

    let err = fails(&data, &["token", "inspect", "--app-id", "5", "--token", good_token]);
    assert!(err.contains("no app with AppID 5"), "{err}");
}

#[test]
fn minted_tokens_carry_the_requested_privileges() {
    let (_tmp, data) = data_dir();
    let app: Value = serde_json::from_str(&ok(&data, &["app", "create", "--json"])).unwrap();
    let id = app["app_id"].to_string();

    let full = ok(&data, &["token", "mint", "--app-id", &id, "--user-id", "u1", "--ttl", "120"]);
    let got: Value =
        serde_json::from_str(&ok(&data, &["token", "inspect", "--app-id", &id, "--token", full.trim()])).unwrap();
    assert_eq!(got["payload"], "");
    assert_eq!(got["privileges"]["login"], true);
    assert_eq!(got["privileges"]["publish"], true);
    let left = got["expires_in"].as_i64().unwrap();
    assert!((110..=120).contains(&left), "{left}");

    let limited = ok(
        &data,
        &[
            "token",
            "mint",
            "--app-id",
            &id,
            "--user-id",
            "u2",
            "--room-id",
            "r1",
            "--allow-login",
            "--stream-id",
            "s1",
            "--stream-id",
            "s2",
        ],
    );
    let got: Value =
        serde_json::from_str(&ok(&data, &["token", "inspect", "--app-id", &id, "--token", limited.trim()])).unwrap();
    assert_eq!(
        got["privileges"],
        serde_json::json!({"login": true, "publish": false, "room_id": "r1", "stream_id_list": ["s1", "s2"]})
    );
    let payload: Value = serde_json::from_str(got["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["privilege"], serde_json::json!({"1": 1, "2": 0}));

    // Read from stdin with `--token -`.
    let mut child = common::duet(&data)
        .args(["token", "inspect", "--app-id", &id, "--token", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(limited.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"u2\""));

    let (status, _, err) = common::run(&data, &["token", "mint", "--app-id", &id, "--user-id", "u", "--ttl", "0"]);
    assert_eq!(status.code(), Some(2), "{err}");
    let err = fails(&data, &["token", "mint", "--app-id", &id, "--user-id", ""]);
    assert!(err.contains("userID must not be empty"), "{err}");
}

#[test]
fn rotating_the_secret_invalidates_old_tokens() {
    let (_tmp, data) = data_dir();
    let app: Value = serde_json::from_str(&ok(&data, &["app", "create", "--json"])).unwrap();
    let id = app["app_id"].to_string();
    let token = ok(&data, &["token", "mint", "--app-id", &id, "--user-id", "u"]);
    ok(&data, &["token", "inspect", "--app-id", &id, "--token", token.trim()]);
    ok(&data, &["app", "rotate-secret", "--app-id", &id]);
    let err = fails(&data, &["token", "inspect", "--app-id", &id, "--token", token.trim()]);
    assert!(err.contains("token_bad_signature"), "{err}");
}
