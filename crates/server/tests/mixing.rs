//! Mixer tasks (docs/mixing.md), with real parts: ffmpeg publishes a red picture with a 440 Hz
//! tone and a blue one with a 1 kHz tone, Duet's mixer (an ffmpeg child) composes them, and
//! ffmpeg/ffprobe read the output back: pixel colours of its regions, an FFT peak per tone.

#[path = "common/api.rs"]
mod api;
mod common;
#[path = "common/peers.rs"]
mod peers;
#[path = "common/receiver.rs"]
mod receiver;
#[path = "common/streams.rs"]
mod streams;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use api::{Api, banner_secret};
use common::{Server, data_dir};
use peers::Publisher;
use serde_json::{Value, json};
use streams::url;

const W: usize = 640;
const H: usize = 360;
/// The background of the tests' tasks: green, so an absent input is told apart from both.
const BACKGROUND: u32 = 0x00c000;

/// Publishes a `color` picture with a `freq` Hz tone for at most `seconds`.
fn publish_tone(url: &str, color: &str, freq: u32, seconds: u32) -> Publisher {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"]);
    cmd.args(["-f", "lavfi", "-i", &format!("color=c={color}:s=320x240:r=25")]);
    cmd.args(["-f", "lavfi", "-i", &format!("sine=frequency={freq}:sample_rate=44100")]);
    cmd.args(["-t", &seconds.to_string(), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast"]);
    cmd.args(["-tune", "zerolatency", "-g", "25", "-threads", "1", "-c:a", "aac", "-f", "flv", url]);
    Publisher(cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("ffmpeg runs"))
}

/// The config of a two-input task: `left` and `right` side by side.
fn side_by_side(task: &str, left: &str, right: &str, output: &str) -> Value {
    json!({
        "taskID": task,
        "inputList": [
            {"streamID": left, "layout": {"top": 0, "left": 0, "bottom": 360, "right": 320}},
            {"streamID": right, "layout": {"top": 0, "left": 320, "bottom": 360, "right": 640}}
        ],
        "outputList": [output],
        "outputConfig": {"outputWidth": W, "outputHeight": H, "outputFPS": 15, "outputBitrate": 800,
                         "outputBgColor": BACKGROUND}
    })
}

/// A decoded frame of `play_url` (RGB, W×H), past its first few.
fn grab_frame(play_url: &str) -> Vec<u8> {
    let (ok, out) = run_bytes(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-rtmp_live", "live", "-i", play_url])
            .args(["-vf", "select=gte(n\\,8)", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]),
        Duration::from_secs(20),
    );
    assert!(ok && out.len() == W * H * 3, "no frame from {play_url} ({} bytes)", out.len());
    out
}

/// Runs a command with a time limit; returns (success, stdout bytes).
fn run_bytes(cmd: &mut Command, limit: Duration) -> (bool, Vec<u8>) {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut buf).map(|_| buf).unwrap_or_default()
    });
    let end = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.success(), reader.join().unwrap());
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            return (false, reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The mean colour of a 60×60 box centred at (x, y).
fn colour_at(frame: &[u8], x: usize, y: usize) -> [u8; 3] {
    let mut sum = [0u64; 3];
    for row in y - 30..y + 30 {
        for col in x - 30..x + 30 {
            for (c, s) in sum.iter_mut().enumerate() {
                *s += frame[(row * W + col) * 3 + c] as u64;
            }
        }
    }
    sum.map(|s| (s / 3600) as u8)
}

fn is_red(c: [u8; 3]) -> bool {
    c[0] > 180 && c[1] < 70 && c[2] < 70
}
fn is_blue(c: [u8; 3]) -> bool {
    c[2] > 180 && c[0] < 70 && c[1] < 70
}
fn is_background(c: [u8; 3]) -> bool {
    c[1] > 150 && c[0] < 70 && c[2] < 70
}

/// The left and right halves' colours, once they satisfy `want` (the mix may take a few
/// seconds to show a change): the last frame's otherwise.
fn halves_until(play_url: &str, want: impl Fn([u8; 3], [u8; 3]) -> bool) -> ([u8; 3], [u8; 3]) {
    let end = Instant::now() + Duration::from_secs(25);
    loop {
        let frame = grab_frame(play_url);
        let halves = (colour_at(&frame, 160, 180), colour_at(&frame, 480, 180));
        if want(halves.0, halves.1) || Instant::now() > end {
            return halves;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Power of `freq` Hz in `samples` (mono, `rate` Hz), by the Goertzel algorithm.
fn power_at(samples: &[f32], rate: f32, freq: f32) -> f64 {
    let k = 2.0 * (2.0 * std::f64::consts::PI * freq as f64 / rate as f64).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s = x as f64 + k * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - k * s1 * s2) / samples.len() as f64
}

/// Two seconds of `play_url`'s sound, mono at 8 kHz.
fn sound_of(play_url: &str) -> Vec<f32> {
    let (ok, out) = run_bytes(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-rtmp_live", "live", "-i", play_url])
            .args(["-ss", "0.5", "-t", "2", "-vn", "-ac", "1", "-ar", "8000", "-f", "f32le", "-"]),
        Duration::from_secs(20),
    );
    assert!(ok && out.len() >= 8000 * 4, "no sound from {play_url} ({} bytes)", out.len());
    out.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// Starts a server and publishes red (440 Hz) as `red` and blue (1 kHz) as `blue`.
fn two_inputs(data: &Path, extra: &[&str]) -> (Server, Api, Publisher, Publisher) {
    let server = Server::start(data, extra);
    let api = Api::new(&server, server.app_id, &banner_secret(&server));
    let red = publish_tone(&url(data, &server, &["publish", "--stream-id", "red"]), "red", 440, 120);
    let blue = publish_tone(&url(data, &server, &["publish", "--stream-id", "blue"]), "blue", 1000, 120);
    streams::wait_live(&server, 2);
    (server, api, red, blue)
}

/// Whether `stream` is live on `server` (the media hub's count: a stream no room announces is
/// not in the API's list).
fn stream_live(server: &Server, data: &Path, stream: &str) -> bool {
    use std::io::{BufRead, Write};
    let probe = url(data, server, &["play", "--stream-id", stream, "--format", "flv"]);
    let mut s = std::net::TcpStream::connect(server.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", &probe[probe.find("/live/").unwrap()..]);
    s.write_all(head.as_bytes()).unwrap();
    let mut status = String::new();
    std::io::BufReader::new(s).read_line(&mut status).unwrap();
    status.starts_with("HTTP/1.1 200")
}

/// Whether `stream` became live (or gone) within 20 s.
fn wait_for(server: &Server, data: &Path, stream: &str, live: bool) -> bool {
    let end = Instant::now() + Duration::from_secs(20);
    while stream_live(server, data, stream) != live {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

fn wait_stream(server: &Server, data: &Path, stream: &str, live: bool) {
    assert!(wait_for(server, data, stream, live), "{stream} never became {}", if live { "live" } else { "gone" });
}

#[test]
fn two_streams_mixed_side_by_side_with_both_tones_then_changed_and_stopped() {
    let (_dir, data) = data_dir();
    let (server, mut api, _red, mut blue) = two_inputs(&data, &[]);
    let reply = api.ok("POST", "/api/v1/mixer-tasks", Some(side_by_side("t1", "red", "blue", "mix")));
    assert_eq!(reply, json!({"taskID": "t1", "outputList": [{"streamID": "mix"}]}));
    if !wait_for(&server, &data, "mix", true) {
        panic!("the mix never went live: {}", server.stderr());
    }
    let play = url(&data, &server, &["play", "--stream-id", "mix"]);

    // Red on the left, blue on the right.
    let (left, right) = halves_until(&play, |l, r| is_red(l) && is_blue(r));
    assert!(is_red(left) && is_blue(right), "left {left:?}, right {right:?}");

    // Both tones: a peak at 440 Hz and at 1 kHz, far above what is between them.
    let sound = sound_of(&play);
    let (a, b, off) =
        (power_at(&sound, 8000.0, 440.0), power_at(&sound, 8000.0, 1000.0), power_at(&sound, 8000.0, 700.0));
    assert!(a > 100.0 * off && b > 100.0 * off, "440 Hz {a:.3}, 1 kHz {b:.3}, 700 Hz {off:.5}");

    // It plays over Duet's other protocols too.
    for format in ["flv", "hls"] {
        let other = url(&data, &server, &["play", "--stream-id", "mix", "--format", format]);
        let codecs = peers::probe(&other);
        assert!(codecs.contains(&"h264".to_owned()) && codecs.contains(&"aac".to_owned()), "{format}: {codecs:?}");
    }

    // Blue leaves: its region shows the background; the output stays live. Blue returns.
    drop(blue);
    let (left, right) = halves_until(&play, |l, r| is_red(l) && is_background(r));
    assert!(is_red(left) && is_background(right), "blue gone: left {left:?}, right {right:?}");
    assert!(stream_live(&server, &data, "mix"), "the output stays while an input is away");
    blue = publish_tone(&url(&data, &server, &["publish", "--stream-id", "blue"]), "blue", 1000, 120);
    let (left, right) = halves_until(&play, |l, r| is_red(l) && is_blue(r));
    assert!(is_red(left) && is_blue(right), "blue back: left {left:?}, right {right:?}");

    // The same taskID again with the sides swapped: the regions move.
    api.ok("POST", "/api/v1/mixer-tasks", Some(side_by_side("t1", "blue", "red", "mix")));
    let (left, right) = halves_until(&play, |l, r| is_blue(l) && is_red(r));
    assert!(is_blue(left) && is_red(right), "swapped: left {left:?}, right {right:?}");
    let tasks = api.ok("GET", "/api/v1/mixer-tasks", None);
    assert_eq!(tasks["tasks"][0]["taskID"], "t1", "{tasks}");
    assert_eq!(tasks["tasks"][0]["status"]["state"], "running", "{tasks}");
    assert_eq!(tasks["tasks"][0]["inputs"], json!(["blue", "red"]), "{tasks}");

    // Stopped: its output ends; a second stop finds nothing.
    assert_eq!(api.ok("DELETE", "/api/v1/mixer-tasks/t1", None), json!({}));
    wait_stream(&server, &data, "mix", false);
    let (status, body) = api.call("DELETE", "/api/v1/mixer-tasks/t1", None);
    assert_eq!((status, body["code"].as_str()), (404, Some("mixer_task_not_found")));
    assert_eq!(api.ok("GET", "/api/v1/mixer-tasks", None)["tasks"], json!([]));
    drop(blue);
}

/// The event named `name` among the deliveries, waiting for it.
fn event(receiver: &receiver::Receiver, name: &str) -> Value {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let found =
            receiver.distinct().iter().map(|b| serde_json::from_str::<Value>(b).unwrap()).find(|e| e["event"] == name);
        if let Some(e) = found {
            return e;
        }
        assert!(Instant::now() < end, "no {name}: {:?}", receiver.distinct());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_crashed_engine_is_restarted_and_reported_and_the_output_goes_on() {
    let (_dir, data) = data_dir();
    let receiver = receiver::Receiver::start(receiver::ANSWER_OK);
    let (server, mut api, _red, _blue) = two_inputs(&data, &[]);
    receiver::set_webhook(&data, server.app_id, &receiver.url());
    api.ok("POST", "/api/v1/mixer-tasks", Some(side_by_side("crashy", "red", "blue", "crashmix")));
    assert_eq!(event(&receiver, "mixer.started")["data"]["taskID"], "crashy");
    assert!(wait_for(&server, &data, "crashmix", true), "the mix never went live: {}", server.stderr());
    let play = url(&data, &server, &["play", "--stream-id", "crashmix"]);
    halves_until(&play, |l, r| is_red(l) && is_blue(r));

    // kill -9 of the child (its arguments name the task's player, `$mixer:crashy`).
    let killed = Command::new("pkill").args(["-9", "-f", "mixer%3Acrashy"]).status().unwrap();
    assert!(killed.success(), "no mixer child to kill");
    let failed = event(&receiver, "mixer.failed");
    assert_eq!(failed["data"]["reason"], "engine_failed", "{failed}");
    assert!(failed["data"]["detail"].as_str().unwrap().contains("ffmpeg ended"), "{failed}");
    assert!(failed["data"]["retryInMs"].as_u64().unwrap() >= 1000, "{failed}");

    // Back after the backoff, on the same stream.
    let (left, right) = halves_until(&play, |l, r| is_red(l) && is_blue(r));
    assert!(is_red(left) && is_blue(right), "after the restart: left {left:?}, right {right:?}");
    let tasks = api.ok("GET", "/api/v1/mixer-tasks", None);
    let status = &tasks["tasks"][0]["status"];
    assert!(status["restarts"].as_u64().unwrap() >= 1 && status["lastError"].is_string(), "{tasks}");
    assert!(server.logs("mixer child failed"), "logged");
    assert!(common::metric(&server, "duet_mixer_failures_total") >= 1);
    assert_eq!(common::metric(&server, "duet_mixer_tasks"), 1);

    api.ok("DELETE", "/api/v1/mixer-tasks/crashy", None);
    assert_eq!(event(&receiver, "mixer.stopped")["data"]["reason"], "stopped");
    // The child is gone with its task.
    std::thread::sleep(Duration::from_millis(500));
    let left_over = Command::new("pgrep").args(["-f", "mixer%3Acrashy"]).output().unwrap();
    assert!(left_over.stdout.is_empty(), "a child outlived its task");
}

#[test]
fn refusals_have_codes_and_limits_hold() {
    let (_dir, data) = data_dir();
    let limits = ["--mixer-tasks", "2", "--mixer-tasks-per-app", "2"];
    let (server, mut api, _red, _blue) = two_inputs(&data, &limits);
    let mut call = |body: Value| {
        let (status, v) = api.call("POST", "/api/v1/mixer-tasks", Some(body));
        (status, v["code"].as_str().unwrap_or("").to_owned())
    };
    // A config the mixer cannot read.
    let mut bad = side_by_side("t1", "red", "blue", "m1");
    bad["outputConfig"]["outputWidth"] = json!(641);
    assert_eq!(call(bad), (400, "invalid_field".into()));
    assert_eq!(call(json!({"taskID": "t1"})), (400, "invalid_field".into()));
    // An output another publisher holds.
    assert_eq!(call(side_by_side("t1", "red", "nobody", "blue")), (409, "stream_taken".into()));
    // Two tasks (the limit), then a third; another task's output is taken.
    assert_eq!(call(side_by_side("t1", "red", "blue", "m1")).0, 200);
    assert_eq!(call(side_by_side("t2", "red", "blue", "m1")), (409, "stream_taken".into()));
    assert_eq!(call(side_by_side("t2", "red", "blue", "m2")).0, 200);
    assert_eq!(call(side_by_side("t3", "red", "blue", "m3")), (429, "mixer_task_limit".into()));
    // Changing a running task is not a new one.
    assert_eq!(call(side_by_side("t2", "blue", "red", "m2")).0, 200);
    let (status, v) = api.call("DELETE", "/api/v1/mixer-tasks/no%20such", None);
    assert_eq!((status, v["code"].as_str()), (400, Some("invalid_field")));
    drop(server);

    // A node without the program refuses, saying why.
    let (_dir2, data2) = data_dir();
    let server = Server::start(&data2, &["--mixer-ffmpeg", "/nonexistent/ffmpeg"]);
    let mut api = Api::new(&server, server.app_id, &banner_secret(&server));
    let (status, v) = api.call("POST", "/api/v1/mixer-tasks", Some(side_by_side("t", "a", "b", "m")));
    assert_eq!((status, v["code"].as_str()), (503, Some("mixer_unavailable")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("/nonexistent/ffmpeg"), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_starts_a_mix_of_the_room_and_the_room_sees_its_stream_come_and_go() {
    let (_dir, data) = data_dir();
    let (server, mut api, _red, _blue) = tokio::task::block_in_place(|| two_inputs(&data, &[]));
    let (mut alice, _) = common::join(&server, &data, "hall", "alice").await;
    let (mut bob, _) = common::join(&server, &data, "hall", "bob").await;
    let config = side_by_side("hallmix", "red", "blue", "hall-mix");
    let reply = alice.request("startMixerTask", config).await.unwrap();
    assert_eq!(reply["code"], 0, "{reply}");
    assert_eq!(reply["data"]["outputList"], json!([{"streamID": "hall-mix"}]));

    // The room hears of the output, published by the task.
    let add = bob.push("roomStreamUpdate", Duration::from_secs(30)).await.unwrap();
    assert_eq!(add["data"]["updateType"], "ADD", "{add}");
    let stream = &add["data"]["streamList"][0];
    assert_eq!(
        (stream["streamID"].as_str(), stream["user"]["userID"].as_str()),
        (Some("hall-mix"), Some("$mixer:hallmix"))
    );
    assert!(stream["urlsFLV"][0].as_str().unwrap().contains("/hall-mix.flv"), "{stream}");

    // Browsers could play it over WebRTC (H.264 without B-frames, AAC made Opus by Duet).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let streams = tokio::task::block_in_place(|| api.ok("GET", "/api/v1/streams", None));
    let mix = streams["streams"].as_array().unwrap().iter().find(|s| s["streamID"] == "hall-mix").cloned();
    let mix = mix.unwrap_or_else(|| panic!("hall-mix in the API's list: {streams}"));
    assert_eq!((mix["roomID"].as_str(), &mix["webrtcProblem"]), (Some("hall"), &Value::Null), "{mix}");

    // Refusals come back as codes.
    let missing = alice.request("stopMixerTask", json!({"taskID": "nope"})).await.unwrap();
    assert_eq!((missing["code"].as_u64(), missing["reason"].as_str()), (Some(40403), Some("mixer_task_not_found")));

    // Any member of the app may stop it; the room hears the stream go.
    let stopped = bob.request("stopMixerTask", json!({"taskID": "hallmix"})).await.unwrap();
    assert_eq!(stopped["code"], 0, "{stopped}");
    let delete = alice.push("roomStreamUpdate", Duration::from_secs(15)).await.unwrap();
    let delete = if delete["data"]["updateType"] == "ADD" {
        alice.push("roomStreamUpdate", Duration::from_secs(15)).await.unwrap()
    } else {
        delete
    };
    assert_eq!(delete["data"]["updateType"], "DELETE", "{delete}");
    assert_eq!(delete["data"]["streamList"][0]["streamID"], "hall-mix");
}
