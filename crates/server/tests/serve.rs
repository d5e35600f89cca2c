//! `duet serve` as a process: first start, restart, endpoints, shutdown, and startup refusals.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::{Server, data_dir, get, ok, run_bounded};
use serde_json::Value;

#[test]
fn first_start_prints_what_a_developer_needs_and_restart_keeps_the_app() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let b = server.banner.clone();
    assert!(b.contains("Created the default app"), "{b}");
    let secret_line = b.lines().find(|l| l.trim_start().starts_with("ServerSecret")).unwrap();
    let secret = secret_line.split_whitespace().nth(1).unwrap().to_owned();
    assert_eq!(secret.len(), 32, "{secret_line}");
    let ws = format!("new ZegoExpressEngine({}, \"ws://{}/ws\")", server.app_id, server.http);
    assert!(b.contains(&ws), "{b}");
    assert!(!server.stderr().contains(&secret), "the secret reached the log");

    // The printed token is valid for the printed test user.
    let inspected: Value = serde_json::from_str(&ok(
        &data,
        &[
            "token",
            "inspect",
            "--app-id",
            &server.app_id.to_string(),
            "--token",
            &server.token,
            "--user-id",
            "test-user",
        ],
    ))
    .unwrap();
    assert_eq!(inspected["privileges"]["login"], true);

    let app_id = server.app_id;
    let status = server.stop();
    assert!(status.success(), "SIGTERM should end duet cleanly: {status}");

    let again = Server::start(&data, &[]);
    assert_eq!(again.app_id, app_id, "restart keeps the default app");
    assert!(again.banner.contains("Default app"), "{}", again.banner);
    assert!(!again.banner.contains(&secret), "the secret is shown only when created");
    assert!(again.stop().success());
}

#[test]
fn healthz_metrics_and_unknown_paths() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);

    let health = get(server.http, "/healthz");
    assert_eq!(health.status, 200);
    let body: Value = serde_json::from_str(&health.body).unwrap();
    assert_eq!(body["status"], "ok");

    let missing = get(server.http, "/no/such/thing");
    assert_eq!(missing.status, 404);
    assert_eq!(serde_json::from_str::<Value>(&missing.body).unwrap()["code"], "not_found");

    // An RTMP client speaking another protocol is closed and counted.
    let mut rtmp = TcpStream::connect(server.rtmp).unwrap();
    rtmp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    rtmp.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(rtmp.read(&mut buf).unwrap(), 0, "RTMP connection should be closed");

    let metrics = get(server.http, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.headers.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"),
        "{}",
        metrics.headers
    );
    assert!(metrics.body.contains("\nduet_apps 1\n"), "{}", metrics.body);
    assert!(metrics.body.contains("duet_media_refused_total 1\n"), "{}", metrics.body);
    let requests: u64 =
        metrics.body.lines().find_map(|l| l.strip_prefix("duet_http_requests_total ")).unwrap().parse().unwrap();
    assert!(requests >= 2, "healthz and the 404 were counted: {requests}");
}

#[test]
fn json_logs_are_one_object_per_line_with_the_event_fields() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &["--log-format", "json"]);
    // An RTMP client speaking another protocol: a log line with fields of its own (`peer`).
    let mut rtmp = TcpStream::connect(server.rtmp).unwrap();
    rtmp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    rtmp.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(rtmp.read(&mut buf).unwrap(), 0);
    std::thread::sleep(Duration::from_millis(300));
    let (status, all) = server.stop_logged();
    assert!(status.success());
    let mut lines = Vec::new();
    for line in all.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{line}");
        assert!(v["fields"]["message"].is_string(), "{line}");
        lines.push(v);
    }
    assert!(lines.iter().any(|v| v["level"] == "INFO"), "startup lines: {lines:?}");
    let closed = lines.iter().find(|v| v["fields"]["message"].as_str().unwrap().starts_with("RTMP connection closed"));
    assert!(closed.is_some_and(|v| v["fields"]["peer"].is_string()), "the event's fields are fields: {lines:?}");
}

/// deploy/grafana/duet.json reads only metrics a running server serves, and shows every one.
#[test]
fn the_grafana_dashboard_matches_the_metrics_served() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let metrics = get(server.http, "/metrics").body;
    let served: std::collections::BTreeSet<&str> =
        metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")).map(|l| l.split(' ').next().unwrap()).collect();
    assert!(served.len() > 20, "{metrics}");

    let dashboard: Value =
        serde_json::from_str(include_str!("../../../deploy/grafana/duet.json")).expect("the dashboard is JSON");
    let mut ids = std::collections::BTreeSet::new();
    let mut shown = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        assert!(ids.insert(panel["id"].as_u64().unwrap()), "panel ids are unique: {panel}");
        if panel["type"] == "row" {
            continue;
        }
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{panel}");
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            assert_eq!(expr.matches('(').count(), expr.matches(')').count(), "balanced: {expr}");
            let names =
                expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("duet_"));
            for name in names {
                assert!(served.contains(name), "{:?} reads {name}, which /metrics does not serve", panel["title"]);
                shown.insert(name.to_owned());
            }
        }
    }
    let unshown: Vec<_> = served.iter().filter(|m| !shown.contains(**m)).collect();
    assert!(unshown.is_empty(), "metrics no panel shows: {unshown:?}");
    // The instance selector lists the nodes by a metric every node serves.
    let instance = &dashboard["templating"]["list"][1];
    assert!(instance["definition"].as_str().unwrap().contains("duet_build_info"), "{instance}");
}

#[test]
fn a_port_in_use_is_one_clear_line() {
    let (_tmp, data) = data_dir();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (status, _, err) = run_bounded(common::duet(&data).args(["serve", "--http", &addr, "--rtmp", "127.0.0.1:0"]));
    assert_eq!(status.code(), Some(1));
    let line = err.lines().find(|l| l.starts_with("duet: ")).expect(&err);
    assert!(line.contains(&format!("cannot listen on {addr} for HTTP")) && line.contains("--http"), "{err}");

    let (status, _, err) = run_bounded(common::duet(&data).args(["serve", "--http", "127.0.0.1:0", "--rtmp", &addr]));
    assert_eq!(status.code(), Some(1));
    assert!(err.contains(&format!("cannot listen on {addr} for RTMP")) && err.contains("--rtmp"), "{err}");
}

#[test]
fn settings_layer_flags_over_env_over_file() {
    let (tmp, data) = data_dir();
    let cfg = tmp.path().join("duet.toml");
    std::fs::write(
        &cfg,
        "http = \"127.0.0.1:1\"\nrtmp = \"127.0.0.1:0\"\npublic_ws_url = \"wss://from-file.example.com/ws\"\npublic_rtmp_url = \"rtmp://from-file.example.com\"\n",
    )
    .unwrap();
    // DUET_HTTP overrides the file's (unusable) port; --public-ws-url overrides the file's URL.
    let server = Server::start_cmd(
        common::duet(&data)
            .args(["--config", cfg.to_str().unwrap(), "serve", "--public-ws-url", "wss://from-flag.example.com/ws"])
            .env("DUET_HTTP", "127.0.0.1:0"),
    );
    assert_ne!(server.http.port(), 1);
    assert!(server.banner.contains("\"wss://from-flag.example.com/ws\""), "{}", server.banner);
    assert!(server.banner.contains("rtmp://from-file.example.com "), "{}", server.banner);
    assert_eq!(get(server.http, "/healthz").status, 200);
}

#[test]
fn startup_refusals_are_one_clear_line() {
    let (tmp, data) = data_dir();
    let (status, err) = common::serve_refused(&data, &["--tls-cert", "/x.pem"]);
    assert_eq!(status.code(), Some(1));
    assert!(err.trim().lines().count() == 1 && err.contains("--tls-key"), "{err}");

    let (status, _, err) =
        run_bounded(common::duet(&data).args(["serve", "--public-ws-url", "https://x.example.com/ws"]));
    assert_eq!(status.code(), Some(2));
    assert!(err.lines().next().unwrap().contains("must start with ws:// or wss://"), "{err}");

    let cfg = tmp.path().join("bad.toml");
    std::fs::write(&cfg, "[serve]\nhttp = 1\n").unwrap();
    let (status, _, err) = run_bounded(common::duet(&data).args(["--config", cfg.to_str().unwrap(), "serve"]));
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("bad.toml, line 1") && err.contains("serve"), "{err}");
}
