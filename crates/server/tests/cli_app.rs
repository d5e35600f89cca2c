//! `duet app ...` against a real data folder: lifecycle, persistence, refusals.

mod common;

use common::{data_dir, fails, ok, run};
use serde_json::Value;

const SECRET: &str = "fa94dd0f974cf2e293728a526b028271";

#[test]
fn create_import_list_show_rotate_delete() {
    let (_tmp, data) = data_dir();
    let d = data.as_path();

    let created: Value = serde_json::from_str(&ok(d, &["app", "create", "--name", "shop", "--json"])).unwrap();
    let id = created["app_id"].as_u64().unwrap();
    let secret = created["server_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32);
    assert_eq!(created.as_object().unwrap().len(), 2, "exactly app_id and server_secret: {created}");

    let imported: Value =
        serde_json::from_str(&ok(d, &["app", "import", "--app-id", "1", "--secret", SECRET, "--json"])).unwrap();
    assert_eq!(imported, serde_json::json!({"app_id": 1, "server_secret": SECRET}));

    // Listed in a fresh process (persistence), without secrets.
    let list_text = ok(d, &["app", "list", "--json"]);
    assert!(!list_text.contains(SECRET) && !list_text.contains(&secret), "list leaks a secret: {list_text}");
    let list: Value = serde_json::from_str(&list_text).unwrap();
    let ids: Vec<u64> = list.as_array().unwrap().iter().map(|a| a["app_id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&id) && ids.contains(&1));

    let shown: Value = serde_json::from_str(&ok(d, &["app", "show", "--app-id", &id.to_string(), "--json"])).unwrap();
    assert_eq!(shown["server_secret"], secret.as_str());
    assert_eq!(shown["name"], "shop");

    assert_eq!(shown["latency"], "frame", "calls' budget by default");
    ok(d, &["app", "latency", "--app-id", &id.to_string(), "350"]);
    let shown: Value = serde_json::from_str(&ok(d, &["app", "show", "--app-id", &id.to_string(), "--json"])).unwrap();
    assert_eq!(shown["latency"], "350");
    let (status, _, err) = run(d, &["app", "latency", "--app-id", &id.to_string(), "soon"]);
    assert_eq!(status.code(), Some(2), "a usage error: {err}");
    assert!(err.contains("not 0, frame, or milliseconds up to 1000"), "{err}");

    // Allowed origins: any by default; a list of exact origins; garbage refused with its code.
    let app = id.to_string();
    assert_eq!(shown["allowed_origins"], "*", "permissive by default");
    let out = ok(d, &["app", "origins", "--app-id", &app, "https://call.example.com", "HTTPS://Other.Example:443/"]);
    assert!(out.contains("https://call.example.com https://other.example"), "normalised: {out}");
    let shown: Value = serde_json::from_str(&ok(d, &["app", "show", "--app-id", &app, "--json"])).unwrap();
    assert_eq!(shown["allowed_origins"], "https://call.example.com https://other.example");
    let (status, _, err) = run(d, &["app", "origins", "--app-id", &app, "call.example.com"]);
    assert_eq!(status.code(), Some(2), "a usage error: {err}");
    assert!(err.contains("bad_origin"), "{err}");
    ok(d, &["app", "origins", "--app-id", &app, "*"]);
    let shown: Value = serde_json::from_str(&ok(d, &["app", "show", "--app-id", &app, "--json"])).unwrap();
    assert_eq!(shown["allowed_origins"], "*");

    // The app's WebRTC peers: no cap of its own by default.
    assert_eq!(shown["webrtc_max_peers"], Value::Null);
    ok(d, &["app", "webrtc-peers", "--app-id", &app, "--max", "20"]);
    let shown: Value = serde_json::from_str(&ok(d, &["app", "show", "--app-id", &app, "--json"])).unwrap();
    assert_eq!(shown["webrtc_max_peers"], 20);
    ok(d, &["app", "webrtc-peers", "--app-id", &app, "--max", "none"]);
    let shown: Value = serde_json::from_str(&ok(d, &["app", "show", "--app-id", &app, "--json"])).unwrap();
    assert_eq!(shown["webrtc_max_peers"], Value::Null);
    let (status, _, err) = run(d, &["app", "webrtc-peers", "--app-id", &app, "--max", "lots"]);
    assert_eq!(status.code(), Some(2), "{err}");

    let rotated: Value =
        serde_json::from_str(&ok(d, &["app", "rotate-secret", "--app-id", &id.to_string(), "--json"])).unwrap();
    assert_ne!(rotated["server_secret"], secret.as_str());
    let shown: Value = serde_json::from_str(&ok(d, &["app", "show", "--app-id", &id.to_string(), "--json"])).unwrap();
    assert_eq!(shown["server_secret"], rotated["server_secret"]);

    let err = fails(d, &["app", "delete", "--app-id", &id.to_string()]);
    assert!(err.contains("--yes"), "{err}");
    ok(d, &["app", "delete", "--app-id", &id.to_string(), "--yes"]);
    let err = fails(d, &["app", "show", "--app-id", &id.to_string()]);
    assert!(err.contains(&format!("no app with AppID {id}")), "{err}");
}

#[test]
fn bad_app_ids_and_secrets_are_one_clear_line() {
    let (_tmp, data) = data_dir();
    let d = data.as_path();
    for bad in ["abc", "0", "-1", "4294967296", "1.5", ""] {
        let (status, _, err) = run(d, &["app", "import", "--app-id", bad, "--secret", SECRET]);
        assert_eq!(status.code(), Some(2), "{bad}: {err}");
        assert!(
            err.lines().next().unwrap().contains("AppID must be a whole number from 1 to 4294967295"),
            "{bad}: {err}"
        );
    }
    for bad in ["short", &"x".repeat(33), &format!("{} ", &SECRET[..31])] {
        let (status, _, err) = run(d, &["app", "import", "--app-id", "7", "--secret", bad]);
        assert_eq!(status.code(), Some(2), "{err}");
        assert!(err.lines().next().unwrap().contains("ServerSecret must be"), "{err}");
    }
    ok(d, &["app", "import", "--app-id", "7", "--secret", SECRET]);
    let err = fails(d, &["app", "import", "--app-id", "7", "--secret", SECRET]);
    assert!(err.contains("already registered"), "{err}");
    let err = fails(d, &["app", "rotate-secret", "--app-id", "8"]);
    assert!(err.contains("no app with AppID 8"), "{err}");
}

#[test]
fn the_secret_can_come_from_the_environment() {
    let (_tmp, data) = data_dir();
    let out = common::duet(&data)
        .args(["app", "import", "--app-id", "9", "--json"])
        .env("DUET_IMPORT_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(SECRET));
}

#[test]
fn a_data_path_that_is_a_file_is_a_clear_error() {
    let (tmp, _) = data_dir();
    let file = tmp.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let err = fails(&file, &["app", "list"]);
    assert!(err.contains("cannot create data folder"), "{err}");
}

#[test]
fn malformed_config_names_file_line_and_key() {
    let (tmp, data) = data_dir();
    let cfg = tmp.path().join("duet.toml");
    std::fs::write(&cfg, "log_level = \"info\"\n\nrtmp = \"nowhere\"\n").unwrap();
    let err = fails(&data, &["--config", cfg.to_str().unwrap(), "app", "list"]);
    assert!(err.contains(&format!("config file {}, line 3, key `rtmp`", cfg.display())), "{err}");

    std::fs::write(&cfg, "dta = \"x\"\n").unwrap();
    let err = fails(&data, &["--config", cfg.to_str().unwrap(), "app", "list"]);
    assert!(err.contains("line 1") && err.contains("dta"), "{err}");

    let err = fails(&data, &["--config", "/nonexistent/duet.toml", "app", "list"]);
    assert!(err.contains("cannot read config file /nonexistent/duet.toml"), "{err}");
}

#[test]
fn config_file_data_is_relative_to_the_file() {
    let (tmp, _) = data_dir();
    let cfg = tmp.path().join("duet.toml");
    std::fs::write(&cfg, "data = \"from-config\"\n").unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["--config", cfg.to_str().unwrap(), "app", "create", "--json"])
        .current_dir("/")
        .env_remove("DUET_DATA")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(tmp.path().join("from-config/duet.sqlite3").exists());
}
