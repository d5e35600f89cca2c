//! Recording (docs/recording.md), with real parts: ffmpeg publishes over RTMP, ffprobe and
//! ffmpeg read the files, a webhook receiver hears `record.done`, the HTTP API lists, downloads
//! and deletes, and a `kill -9` of the server mid-recording leaves a file that plays.

#[path = "common/api.rs"]
mod api;
mod common;
#[path = "common/peers.rs"]
mod peers;
#[path = "common/receiver.rs"]
mod receiver;
#[path = "common/streams.rs"]
mod streams;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use api::{Api, banner_secret};
use common::{Server, data_dir, get, ok};
use peers::{Content, publish, run_limited};
use receiver::Receiver;
use serde_json::{Value, json};
use streams::{url, wait_live};

/// The media duration ffprobe reads from a file, in seconds, and its codecs.
fn probe_file(path: &Path) -> (f64, Vec<String>) {
    let (ok, out, err) = run_limited(
        Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "format=duration:stream=codec_name", "-of", "default=nw=1"])
            .arg(path),
        Duration::from_secs(20),
    );
    assert!(ok, "ffprobe {}: {err}", path.display());
    let duration = out.lines().find_map(|l| l.strip_prefix("duration=")).and_then(|d| d.parse().ok()).unwrap_or(0.0);
    let mut codecs: Vec<String> =
        out.lines().filter_map(|l| l.strip_prefix("codec_name=")).map(str::to_owned).collect();
    codecs.sort();
    (duration, codecs)
}

/// Video frames ffmpeg decodes from a file.
fn frames_in(path: &Path) -> u64 {
    let (ok, out, err) = run_limited(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-count_frames",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=nb_read_frames",
                "-of",
                "csv=p=0",
            ])
            .arg(path),
        Duration::from_secs(30),
    );
    assert!(ok, "ffprobe {}: {err}", path.display());
    out.trim().trim_end_matches(',').parse().unwrap_or(0)
}

/// The recordings of `stream` under `data`'s default folder, by name.
fn files(data: &Path, app_id: u32, stream: &str) -> Vec<PathBuf> {
    let dir = data.join("recordings").join(app_id.to_string()).join(stream);
    let mut out: Vec<PathBuf> =
        std::fs::read_dir(&dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    out.sort();
    out
}

fn record_all(data: &Path, server: &Server) {
    let said = ok(data, &["app", "record", "--app-id", &server.app_id.to_string(), "--policy", "all"]);
    assert!(said.contains("all"), "{said}");
}

#[test]
fn a_stream_recorded_for_30_seconds_plays_in_full_and_the_api_lists_downloads_and_deletes_it() {
    let (_tmp, data) = data_dir();
    let receiver = Receiver::start(receiver::ANSWER_OK);
    let server = Server::start(&data, &[]);
    receiver::set_webhook(&data, server.app_id, &receiver.url());
    record_all(&data, &server);
    let mut publisher = publish(&url(&data, &server, &["publish", "--stream-id", "lesson"]), Content::AudioVideo, 30);
    wait_live(&server, 1);
    assert_eq!(publisher.wait_exit(Duration::from_secs(60)), Some(true));

    // The stream ended: its file is closed, and the backend hears it (an encoder's stream in
    // no room: the only event).
    let done = receiver
        .wait_for(1, Duration::from_secs(15))
        .into_iter()
        .find(|e| e["event"] == "record.done")
        .unwrap_or_else(|| panic!("record.done: {:?}", receiver.distinct()));
    let recorded = files(&data, server.app_id, "lesson");
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let file = &recorded[0];
    let d = &done["data"];
    assert_eq!(d["file"], format!("lesson/{}", file.file_name().unwrap().to_string_lossy()), "{done}");
    assert_eq!(d["bytes"], std::fs::metadata(file).unwrap().len(), "{done}");
    let ms = d["durationMs"].as_u64().unwrap();
    assert!((28_500..=31_000).contains(&ms), "{done}");
    let (seconds, codecs) = probe_file(file);
    assert_eq!(codecs, ["aac", "h264"]);
    assert!((28.5..=31.0).contains(&seconds), "{seconds} s");
    let frames = frames_in(file);
    assert!(frames >= 30 * 25 * 95 / 100, "{frames} frames decoded of 750 published");

    // The API lists it with a signed download URL; the download is the file; delete removes it.
    let mut api = Api::new(&server, server.app_id, &banner_secret(&server));
    let list = api.ok("GET", "/api/v1/recordings", None);
    let item = &list["recordings"][0];
    assert_eq!((item["streamID"].as_str(), item["bytes"].as_u64()), (Some("lesson"), d["bytes"].as_u64()), "{list}");
    let download = item["url"].as_str().unwrap();
    let path = &download[download.find("/recordings/").unwrap()..];
    let fetched = get(server.http, path);
    assert_eq!(fetched.status, 200);
    assert!(
        fetched.headers.to_ascii_lowercase().contains(&format!("content-length: {}", d["bytes"])),
        "{}",
        fetched.headers
    );
    let unsigned = &path[..path.find('?').unwrap()];
    assert_eq!(get(server.http, unsigned).status, 401, "a download needs its signature");
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    api.ok("DELETE", &format!("/api/v1/recordings/lesson/{name}"), None);
    assert!(files(&data, server.app_id, "lesson").is_empty());
    let (status, body) = api.call("DELETE", &format!("/api/v1/recordings/lesson/{name}"), None);
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "{body}");
    let (status, _) = api.call("DELETE", "/api/v1/recordings/lesson/..%2Fx.mp4", None);
    assert_eq!(status, 404);
}

#[test]
fn a_kill_9_mid_recording_leaves_a_file_that_plays() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    record_all(&data, &server);
    let _publisher = publish(&url(&data, &server, &["publish", "--stream-id", "cut"]), Content::AudioVideo, 30);
    wait_live(&server, 1);
    std::thread::sleep(Duration::from_secs(6));
    let app_id = server.app_id;
    server.crash();
    let recorded = files(&data, app_id, "cut");
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let (seconds, codecs) = probe_file(&recorded[0]);
    assert_eq!(codecs, ["aac", "h264"]);
    assert!(seconds >= 4.0, "plays up to its last complete fragment: {seconds} s");
    assert!(frames_in(&recorded[0]) >= 100);
}

#[test]
fn a_size_limit_splits_a_recording_into_files_that_follow_each_other_and_the_api_starts_and_stops_it() {
    let (_tmp, data) = data_dir();
    let receiver = Receiver::start(receiver::ANSWER_OK);
    let server = Server::start(&data, &["--record-max-bytes", "150000"]);
    receiver::set_webhook(&data, server.app_id, &receiver.url());
    let _publisher = publish(&url(&data, &server, &["publish", "--stream-id", "talk"]), Content::AudioVideo, 30);
    wait_live(&server, 1);
    // The app's policy is none: nothing is recorded until the API asks.
    std::thread::sleep(Duration::from_secs(1));
    assert!(files(&data, server.app_id, "talk").is_empty());
    let mut api = Api::new(&server, server.app_id, &banner_secret(&server));
    let started = api.ok("POST", "/api/v1/streams/talk/record", Some(json!({"action": "start"})));
    assert_eq!(started["recording"], true);
    std::thread::sleep(Duration::from_secs(10));
    let stopped = api.ok("POST", "/api/v1/streams/talk/record", Some(json!({"action": "stop"})));
    assert_eq!(stopped["recording"], false);
    let (status, body) = api.call("POST", "/api/v1/streams/talk/record", Some(json!({"action": "stop"})));
    assert_eq!((status, body["code"].as_str()), (404, Some("not_recording")));
    let (status, _) = api.call("POST", "/api/v1/streams/talk/record", Some(json!({"action": "pause"})));
    assert_eq!(status, 400);
    let (status, body) = api.call("POST", "/api/v1/streams/nobody/record", Some(json!({"action": "start"})));
    assert_eq!((status, body["code"].as_str()), (404, Some("stream_not_found")), "{body}");

    // Several files, each playable from its first frame, together as long as the recording.
    std::thread::sleep(Duration::from_secs(1));
    let recorded = files(&data, server.app_id, "talk");
    assert!(recorded.len() >= 3, "split by size: {recorded:?}");
    let total: f64 = recorded.iter().map(|f| probe_file(f).0).sum();
    assert!((9.0..=11.5).contains(&total), "the files add up to the recording: {total} s");
    for f in &recorded {
        assert!(frames_in(f) > 0, "{} plays", f.display());
    }
    let done: Vec<Value> = receiver
        .wait_for(recorded.len(), Duration::from_secs(10))
        .into_iter()
        .filter(|e| e["event"] == "record.done")
        .collect();
    assert_eq!(done.len(), recorded.len(), "one record.done per file: {done:?}");
    let ms: u64 = done.iter().map(|e| e["data"]["durationMs"].as_u64().unwrap()).sum();
    assert!((9_000..=11_500).contains(&ms), "{done:?}");
}

/// A 200 KB tmpfs mounted at `at`, unmounted when dropped (the tests run as root, as CI does).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=200k", "tmpfs"]).arg(at).status().unwrap();
        assert!(mounted.success(), "mount a small tmpfs (the recording tests run as root)");
        Self(at.to_owned())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_ends_the_recording_with_an_event_and_players_play_on() {
    let (tmp, data) = data_dir();
    let disk = SmallDisk::mount(&tmp.path().join("small"));
    let receiver = Receiver::start(receiver::ANSWER_OK);
    let server = Server::start(&data, &["--record-dir", &disk.0.to_string_lossy()]);
    receiver::set_webhook(&data, server.app_id, &receiver.url());
    record_all(&data, &server);
    let _publisher = publish(&url(&data, &server, &["publish", "--stream-id", "big"]), Content::AudioVideo, 30);
    wait_live(&server, 1);
    let failed = receiver.wait_for(1, Duration::from_secs(20));
    assert_eq!(failed[0]["event"], "record.failed", "{failed:?}");
    assert_eq!(failed[0]["data"]["reason"], "disk_full", "{failed:?}");
    // The stream plays on.
    let flv = url(&data, &server, &["play", "--stream-id", "big", "--format", "flv"]);
    let (video, audio) = peers::decode(&flv, 3);
    assert!(video >= 50 && audio > 0, "{video} video and {audio} audio frames after the disk filled");
    assert!(server.logs("recording failed"), "logged");
}

#[test]
fn recordings_past_their_retention_are_deleted() {
    let (tmp, data) = data_dir();
    let dir = tmp.path().join("rec").join("7").join("cam");
    std::fs::create_dir_all(&dir).unwrap();
    let (old, fresh, other) = (dir.join("cam-1000.mp4"), dir.join("cam-2000.mp4"), dir.join("notes.txt"));
    for f in [&old, &fresh, &other] {
        std::fs::write(f, b"x").unwrap();
    }
    for f in [&old, &other] {
        assert!(Command::new("touch").args(["-d", "3 days ago"]).arg(f).status().unwrap().success());
    }
    let rec = tmp.path().join("rec");
    let server = Server::start(&data, &["--record-dir", &rec.to_string_lossy(), "--record-keep-days", "2"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while old.exists() {
        assert!(std::time::Instant::now() < deadline, "the old recording is deleted at start");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(fresh.exists(), "a recording within its retention stays");
    assert!(other.exists(), "only recordings are deleted");
    assert!(server.logs("deleted recordings past their retention"));
}

#[test]
fn the_policy_is_set_through_the_api_and_the_console() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let mut api = Api::new(&server, server.app_id, &banner_secret(&server));
    assert_eq!(api.ok("PUT", "/api/v1/recording-policy", Some(json!({"policy": "all"})))["policy"], "all");
    let (status, body) = api.call("PUT", "/api/v1/recording-policy", Some(json!({"policy": "some"})));
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_field")), "{body}");
    // A stream published now is recorded.
    let mut publisher = publish(&url(&data, &server, &["publish", "--stream-id", "pol"]), Content::AudioVideo, 3);
    wait_live(&server, 1);
    assert_eq!(publisher.wait_exit(Duration::from_secs(20)), Some(true));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while files(&data, server.app_id, "pol").is_empty() {
        assert!(std::time::Instant::now() < deadline, "recorded under the policy set through the API");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The console shows and sets it.
    let cookie = common::console_session(&server);
    let overview =
        common::request(server.http, "GET", "/console/api/overview", &[("cookie", cookie.clone())], b"", None);
    let overview: Value = serde_json::from_str(&overview.body).unwrap();
    assert_eq!(overview["apps"][0]["recordAll"], true, "{overview}");
    let path = format!("/console/api/apps/{}/record", server.app_id);
    let set = common::console_post(&server, &cookie, &path, r#"{"policy":"none"}"#);
    assert_eq!(set.status, 200, "{}", set.body);
    assert!(set.body.contains("\"none\""), "{}", set.body);
    let shown: Value =
        serde_json::from_str(&ok(&data, &["app", "show", "--json", "--app-id", &server.app_id.to_string()])).unwrap();
    assert_eq!(shown["record"], "none", "{shown}");
}
