//! Webhooks against a real receiver (a local HTTP server in the test): the seeds' call flow
//! arrives in order and signed; events queued while the receiver is down, and across a Duet
//! restart, arrive later; a receiver that hangs delays only its own app.

mod common;
#[path = "common/peers.rs"]
mod peers;
#[path = "common/receiver.rs"]
mod receiver;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Server, data_dir, join, metric, ok};
use receiver::{ANSWER_500, ANSWER_OK, HANG, Receiver, SECRET, set_webhook};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

/// "event room user [reason]" of each delivery, for comparing sequences.
fn summary(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let d = &e["data"];
            let mut s = format!("{} {}", e["event"].as_str().unwrap(), d["roomID"].as_str().unwrap());
            for k in ["userID", "reason"] {
                if let Some(v) = d[k].as_str() {
                    s = format!("{s} {v}");
                }
            }
            s
        })
        .collect()
}

#[tokio::test]
async fn the_call_flow_arrives_in_order_and_signed() {
    let receiver = Receiver::start(ANSWER_OK);
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    set_webhook(&data, server.app_id, &receiver.url());

    let (mut a, _) = join(&server, &data, "call", "A").await;
    let (mut b, _) = join(&server, &data, "call", "B").await;
    let url = b.ok("publish", json!({"streamID": "b-cam"})).await.unwrap()["url"].as_str().unwrap().to_owned();
    let mut ffmpeg = peers::publish(&url, peers::Content::AudioVideo, 2);
    assert_eq!(a.push("roomStreamUpdate", WAIT).await.unwrap()["data"]["updateType"], "ADD");
    assert!(ffmpeg.wait_exit(WAIT).is_some());
    assert_eq!(a.push("roomStreamUpdate", WAIT).await.unwrap()["data"]["updateType"], "DELETE");
    b.ok("logout", json!({})).await.unwrap();
    a.ok("logout", json!({})).await.unwrap();

    let events = receiver.wait_for(8, WAIT);
    assert_eq!(
        summary(&events),
        [
            "room.created call",
            "user.login call A",
            "user.login call B",
            "stream.created call B",
            "stream.closed call B media_ended",
            "user.logout call B logout",
            "user.logout call A logout",
            "room.closed call",
        ]
    );
    let closed = &events[4]["data"];
    assert_eq!(closed["streamID"], "b-cam");
    assert!(closed["bytes"].as_u64().unwrap() > 10_000, "{closed}");
    assert!(closed["durationMs"].as_u64().unwrap() >= 1000, "{closed}");
    assert!(events.iter().all(|e| e["appID"] == server.app_id && e["time"].is_u64()));

    let deliveries = receiver.accepted.lock().unwrap();
    let mut last_id = 0;
    for d in deliveries.iter() {
        let ts: i64 = d.headers["x-duet-timestamp"].parse().unwrap();
        assert_eq!(d.headers["x-duet-signature"], duet_token::webhook_signature(SECRET, ts, d.body.as_bytes()));
        assert_ne!(
            d.headers["x-duet-signature"],
            duet_token::webhook_signature("another secret", ts, d.body.as_bytes())
        );
        let body: Value = serde_json::from_str(&d.body).unwrap();
        assert_eq!(d.headers["x-duet-event"], body["event"].as_str().unwrap());
        let id: u64 = d.headers["x-duet-delivery"].parse().unwrap();
        assert!(id > last_id, "deliveries in order");
        last_id = id;
    }
    drop(deliveries);
    assert_eq!(metric(&server, "duet_webhook_delivered_total"), 8);
}

#[tokio::test]
async fn queued_events_survive_a_down_receiver_and_a_restart() {
    let receiver = Receiver::start(ANSWER_500);
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    set_webhook(&data, server.app_id, &receiver.url());
    let (mut a, _) = join(&server, &data, "r", "A").await;
    a.ok("logout", json!({})).await.unwrap();
    let deadline = Instant::now() + WAIT;
    while metric(&server, "duet_webhook_failed_attempts_total") < 1 {
        assert!(Instant::now() < deadline, "no delivery attempt");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Still in a room when the server stops: its logout is reported too.
    let (_b, _) = join(&server, &data, "s", "B").await;
    assert!(server.stop().success());

    // Back up, and Duet restarted: what was queued arrives, in order, once.
    receiver.mode.store(ANSWER_OK, Ordering::SeqCst);
    let server = Server::start(&data, &[]);
    let events = receiver.wait_for(8, WAIT);
    assert_eq!(
        summary(&events),
        [
            "room.created r",
            "user.login r A",
            "user.logout r A logout",
            "room.closed r",
            "room.created s",
            "user.login s B",
            "user.logout s B server_shutdown",
            "room.closed s",
        ]
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.accepted.lock().unwrap().len(), 8, "nothing twice");
    assert_eq!(metric(&server, "duet_webhook_delivered_total"), 8);

    // Removing the webhook stops deliveries.
    ok(&data, &["app", "webhook", "--app-id", &server.app_id.to_string(), "--clear"]);
    let (mut a, _) = join(&server, &data, "r2", "A").await;
    a.ok("logout", json!({})).await.unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.accepted.lock().unwrap().len(), 8);
}

#[tokio::test]
async fn a_hanging_receiver_delays_only_its_own_app() {
    let stuck = Receiver::start(HANG);
    let fine = Receiver::start(ANSWER_OK);
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    set_webhook(&data, server.app_id, &stuck.url());
    let other: Value = serde_json::from_str(&ok(&data, &["app", "create", "--json"])).unwrap();
    let other_id = other["app_id"].as_u64().unwrap() as u32;
    set_webhook(&data, other_id, &fine.url());

    let (_a, _) = join(&server, &data, "slow", "A").await;
    // Signaling goes on, and the other app's receiver hears about its room at once.
    let mut c = duet_client::Client::connect(&format!("ws://{}/ws", server.http)).await.unwrap();
    let token = ok(&data, &["token", "mint", "--app-id", &other_id.to_string(), "--user-id", "Z"]);
    let p = duet_client::LoginParams {
        app_id: other_id,
        room_id: "quick",
        token: token.trim(),
        user_id: "Z",
        user_name: "Z",
        user_update: true,
    };
    assert_eq!(c.login(&p).await.unwrap()["code"], 0);
    let events = fine.wait_for(2, Duration::from_secs(5));
    assert_eq!(summary(&events), ["room.created quick", "user.login quick Z"]);
    assert!(stuck.accepted.lock().unwrap().is_empty());
}

/// Open events of [`a_live_room`], in order.
const OPENED: [&str; 5] = [
    "room.created live",
    "user.login live A",
    "user.login live B",
    "stream.created live A",
    "stream.created live camera-1",
];

/// Members, publishers, and events heard so far of a room "live" with two members (A, B), a
/// stream A publishes from its session and one an external encoder publishes into the room
/// (`duet url publish --room-id`, user camera-1).
struct LiveRoom {
    _members: [duet_client::Client; 2],
    _publishers: [peers::Publisher; 2],
    opened: Vec<Value>,
}

async fn a_live_room(server: &Server, data: &Path, receiver: &Receiver) -> LiveRoom {
    let (mut a, _) = join(server, data, "live", "A").await;
    let (b, _) = join(server, data, "live", "B").await;
    receiver.wait_for(3, WAIT);
    let url = a.ok("publish", json!({"streamID": "a-cam"})).await.unwrap()["url"].as_str().unwrap().to_owned();
    let session = peers::publish(&url, peers::Content::AudioVideo, 60);
    receiver.wait_for(4, WAIT);
    let app_id = server.app_id.to_string();
    let rtmp = format!("rtmp://{}", server.rtmp);
    let args = ["--stream-id", "obs", "--room-id", "live", "--user-id", "camera-1", "--app-id", &app_id];
    let url = ok(data, &[&["url", "publish", "--public-rtmp-url", &rtmp][..], &args].concat());
    let external = peers::publish(url.trim(), peers::Content::AudioOnly, 60);
    let opened = receiver.wait_for(5, WAIT);
    assert_eq!(summary(&opened), OPENED);
    // Media keeps arriving for a moment, so the streams carry bytes.
    std::thread::sleep(Duration::from_millis(1500));
    LiveRoom { _members: [a, b], _publishers: [session, external], opened }
}

/// A server whose app reports to a fresh receiver, with a live room in it.
async fn a_watched_live_room() -> (Receiver, tempfile::TempDir, std::path::PathBuf, Server, LiveRoom) {
    let receiver = Receiver::start(ANSWER_OK);
    let (tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    set_webhook(&data, server.app_id, &receiver.url());
    let room = a_live_room(&server, &data, &receiver).await;
    (receiver, tmp, data, server, room)
}

/// The summaries of `events`, sorted (closing events of one stop have no promised order).
fn sorted(events: &[Value]) -> Vec<String> {
    let mut s = summary(events);
    s.sort();
    s
}

/// A stop ends every session and stream and closes every room, and those events are in the
/// queue before the process exits (delivered here after a restart). The streams' ends carry
/// their bytes: they are the real ends, not a crash recovery's.
#[tokio::test(flavor = "multi_thread")]
async fn a_stop_closes_every_stream_user_and_room_before_exit() {
    let (receiver, _tmp, data, server, room) = a_watched_live_room().await;

    let (status, log) = server.stop_logged();
    assert!(status.success(), "{log}");
    assert!(!log.contains("cancelled") && !log.contains("unwritten"), "{log}");
    drop(room);
    let server = Server::start(&data, &[]);
    let events = receiver.wait_for(10, WAIT);
    assert_eq!(
        sorted(&events[5..]),
        [
            "room.closed live",
            "stream.closed live A server_shutdown",
            "stream.closed live camera-1 server_shutdown",
            "user.logout live A server_shutdown",
            "user.logout live B server_shutdown",
        ]
    );
    for closed in events.iter().filter(|e| e["event"] == "stream.closed") {
        assert!(closed["data"]["bytes"].as_u64().unwrap() > 1000, "{closed}");
    }
    // Nothing was left open for the next start to close.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.distinct().len(), 10);
    drop(server);
}

/// After a crash (SIGKILL), the next start closes what the backend was told is open: every
/// stream, user and room, with reason `server_crash` and the last time the server was known
/// to be alive, which is no later than the crash. Only once.
#[tokio::test(flavor = "multi_thread")]
async fn after_a_crash_the_next_start_closes_what_was_left_open() {
    let (receiver, _tmp, data, server, room) = a_watched_live_room().await;

    let opened_at = room.opened.iter().map(|e| e["time"].as_u64().unwrap()).max().unwrap();
    let crashed_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    server.crash();
    drop(room);
    let server = Server::start(&data, &[]);
    let events = receiver.wait_for(10, WAIT);
    assert_eq!(
        sorted(&events[5..]),
        [
            "room.closed live server_crash",
            "stream.closed live A server_crash",
            "stream.closed live camera-1 server_crash",
            "user.logout live A server_crash",
            "user.logout live B server_crash",
        ]
    );
    for e in &events[5..] {
        let at = e["time"].as_u64().unwrap();
        assert!(opened_at <= at && at <= crashed_at, "{e} (opened {opened_at}, crashed {crashed_at})");
        let d = &e["data"];
        match e["event"].as_str().unwrap() {
            "stream.closed" => {
                assert!(d["streamID"] == "a-cam" || d["streamID"] == "obs", "{e}");
                assert!(d["durationMs"].is_u64() && d["bytes"].is_u64(), "{e}");
            }
            "user.logout" => assert_eq!(d["userName"], d["userID"], "{e}"),
            _ => {}
        }
    }

    // Closed once: a later stop and start report nothing more.
    assert!(server.stop().success());
    let server = Server::start(&data, &[]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.distinct().len(), 10);
    drop(server);
}

/// One server per data folder: a second one would deliver every queued event again and take
/// the first one's open rooms for a crash's leftovers.
#[test]
fn a_second_server_on_the_same_data_folder_is_refused() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let (status, err) = common::serve_refused(&data, &[]);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("another `duet serve`"), "{err}");
    assert!(server.stop().success());
    assert!(Server::start(&data, &[]).stop().success(), "free again once the first stopped");
}
