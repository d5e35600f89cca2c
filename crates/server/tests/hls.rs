//! HLS and low-latency HLS of live streams (docs/media.md), with real clients: ffmpeg publishes
//! over RTMP, ffprobe and ffmpeg play the playlist; blocking reloads and the preload hint are
//! asked for as an LL-HLS player asks; the signature carries over to every file; refusals.

mod common;
#[path = "common/peers.rs"]
mod peers;
#[path = "common/streams.rs"]
mod streams;

use common::{Server, data_dir, get};
use peers::{Content, decode, probe, publish};
use streams::{url, wait_live};

/// The value of `name` in an attribute list line.
fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let at = line.find(&format!("{name}="))? + name.len() + 1;
    Some(line[at..].split(',').next()?.trim_matches('"'))
}

/// The codecs ffprobe finds in an HLS playlist (it lists each stream under its program too).
fn codecs(url: &str) -> Vec<String> {
    let mut found = probe(url);
    found.dedup();
    found
}

/// A path and query of `url` (http://host/...): what to GET on the server.
fn path_of(url: &str) -> &str {
    &url[url.find("/live/").unwrap()..]
}

/// A server with `stream` live (ffmpeg publishing `content` for `seconds`) and its HLS URL.
struct Live {
    server: Server,
    hls: String,
    _publisher: peers::Publisher,
    _tmp: tempfile::TempDir,
}

fn live(stream: &str, content: Content, seconds: u32) -> Live {
    live_with(stream, content, seconds, &[])
}

fn live_with(stream: &str, content: Content, seconds: u32, flags: &[&str]) -> Live {
    let (tmp, data) = data_dir();
    let server = Server::start(&data, flags);
    let publisher = publish(&url(&data, &server, &["publish", "--stream-id", stream]), content, seconds);
    wait_live(&server, 1);
    let hls = url(&data, &server, &["play", "--stream-id", stream, "--format", "hls"]);
    Live { server, hls, _publisher: publisher, _tmp: tmp }
}

#[test]
fn a_live_stream_plays_over_hls_and_blocking_reloads_wait_for_the_next_part() {
    let cam = live("cam", Content::AudioVideo, 40);
    let (server, hls) = (&cam.server, cam.hls.clone());
    assert!(hls.contains("/live/") && hls.contains("/cam.m3u8?"), "{hls}");

    // The first playlist already lists media (from the cached GOP), and follows the rules.
    let first = get(server.http, path_of(&hls));
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.headers.to_ascii_lowercase().contains("application/vnd.apple.mpegurl"), "{}", first.headers);
    let list = first.body;
    assert!(list.starts_with("#EXTM3U\n") && list.contains("CAN-BLOCK-RELOAD=YES"), "{list}");
    assert!(list.contains("#EXT-X-PART:"), "parts at once: {list}");
    let query = &hls[hls.find('?').unwrap() + 1..];
    assert!(list.lines().filter(|l| l.contains("URI=")).all(|l| attr(l, "URI").unwrap().ends_with(query)), "{list}");

    // ffprobe and ffmpeg play it: video and audio.
    assert_eq!(codecs(&hls), ["aac", "h264"]);
    let (video, audio) = decode(&hls, 3);
    assert!(video >= 50 && audio > 0, "decoded {video} video and {audio} audio frames");

    // Parts come one after the other: a blocking reload for the hinted part returns once it
    // exists, listing it; the hinted part itself is answered when made.
    let list = get(server.http, path_of(&hls)).body;
    let hint = list.lines().find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:")).unwrap();
    let hinted = attr(hint, "URI").unwrap().split('?').next().unwrap().to_owned(); // cam/part-M.P.m4s
    let (msn, part) = hinted.trim_start_matches("cam/part-").trim_end_matches(".m4s").split_once('.').unwrap();
    let blocked = get(server.http, &format!("{}&_HLS_msn={msn}&_HLS_part={part}", path_of(&hls)));
    assert_eq!(blocked.status, 200, "{}", blocked.body);
    assert!(blocked.body.contains(&format!("{hinted}?")), "the reload lists the part it waited for: {}", blocked.body);
    let base = &path_of(&hls)[..path_of(&hls).find("cam.m3u8").unwrap()];
    let next_hint = attr(blocked.body.lines().find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:")).unwrap(), "URI").unwrap();
    let coming = get(server.http, &format!("{base}{next_hint}"));
    assert_eq!(coming.status, 200, "the hinted part is answered once made");
    assert!(!coming.body.is_empty());

    // Media sequence numbers go on without gaps from one playlist to the next.
    let seq =
        |l: &str| -> u64 { l.lines().find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:")).unwrap().parse().unwrap() };
    let segments = |l: &str| -> Vec<u64> {
        l.lines()
            .filter_map(|l| l.strip_prefix("cam/seg-"))
            .map(|r| r.split('.').next().unwrap().parse().unwrap())
            .collect()
    };
    let later = get(server.http, path_of(&hls)).body;
    let listed = segments(&later);
    assert!(seq(&later) >= seq(&list), "{later}");
    assert_eq!(listed, (seq(&later)..seq(&later) + listed.len() as u64).collect::<Vec<_>>(), "{later}");
    let target: u64 = later.lines().find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:")).unwrap().parse().unwrap();
    for d in later.lines().filter_map(|l| l.strip_prefix("#EXTINF:")) {
        let d: f64 = d.trim_end_matches(',').parse().unwrap();
        assert!(d.round() as u64 <= target, "{later}");
    }
    let segment = get(server.http, &format!("{base}cam/seg-{}.m4s?{query}", listed[0]));
    assert_eq!(segment.status, 200);

    // Refusals: no signature, a forged one, a reload too far ahead, a file never made.
    assert_eq!(get(server.http, &format!("{base}cam/seg-{}.m4s", listed[0])).status, 401);
    let forged = format!("{base}cam/seg-{}.m4s?{}", listed[0], query.replace("sign=", "sign=0"));
    assert_eq!(get(server.http, &forged).status, 403);
    let far = get(server.http, &format!("{}&_HLS_msn={}", path_of(&hls), listed.last().unwrap() + 10));
    assert_eq!(far.status, 400, "{}", far.body);
    assert_eq!(get(server.http, &format!("{base}cam/seg-999999.m4s?{query}")).status, 404);
    assert_eq!(get(server.http, &format!("{base}cam/other.txt?{query}")).status, 404);
}

#[test]
fn an_audio_only_stream_plays_over_hls() {
    let radio = live("radio", Content::AudioOnly, 30);
    assert_eq!(codecs(&radio.hls), ["aac"]);
    let (_, audio) = decode(&radio.hls, 2);
    assert!(audio > 0, "audio decoded");
}

#[test]
fn a_stream_that_is_not_live_has_no_playlist() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let hls = url(&data, &server, &["play", "--stream-id", "nobody", "--format", "hls"]);
    let answer = get(server.http, path_of(&hls));
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert!(answer.body.contains("stream_not_found"), "{}", answer.body);
}

#[test]
fn the_segment_target_part_target_and_window_are_the_operators() {
    let cam = live_with(
        "cut",
        Content::AudioVideo,
        30,
        &["--hls-segment-secs", "1", "--hls-part-ms", "500", "--hls-window", "3"],
    );
    let path = path_of(&cam.hls).to_owned();
    assert_eq!(get(cam.server.http, &path).status, 200);
    std::thread::sleep(std::time::Duration::from_secs(5));
    let list = get(cam.server.http, &path).body;
    assert!(list.contains("#EXT-X-TARGETDURATION:1\n"), "{list}");
    assert!(list.contains("PART-TARGET=0.500"), "{list}");
    let segments = list.lines().filter(|l| l.starts_with("#EXTINF:")).count();
    assert_eq!(segments, 3, "the window: {list}");
}
