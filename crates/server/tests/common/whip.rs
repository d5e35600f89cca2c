//! Helpers of the WebRTC tests: a browser-shaped offer built in Rust, WHIP URLs from `duet
//! url`, posting offers, reading refusals' codes and answers' headers.
#![allow(dead_code)] // each test file uses a different part

use std::path::Path;

use serde_json::Value;

use crate::common::{Response, Server, get, ok, request};

/// The fmtp of an H.264 offer Duet takes.
pub const H264: &str = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";

/// A browser-shaped video-only offer for `codec` with fmtp `params`.
pub fn offer(codec: &str, params: &str) -> String {
    let fingerprint = (0..32).map(|i| format!("{:02X}", i * 7 % 256)).collect::<Vec<_>>().join(":");
    let mut lines = vec!["v=0".to_owned(), "o=- 1 2 IN IP4 127.0.0.1".into(), "s=-".into(), "t=0 0".into()];
    lines.extend(["a=group:BUNDLE 0".into(), "m=video 9 UDP/TLS/RTP/SAVPF 96".into(), "c=IN IP4 0.0.0.0".into()]);
    lines.extend(["a=ice-ufrag:test".into(), "a=ice-pwd:testtesttesttesttesttest".into()]);
    lines.extend([format!("a=fingerprint:sha-256 {fingerprint}"), "a=setup:actpass".into(), "a=mid:0".into()]);
    lines.extend(["a=sendonly".into(), "a=rtcp-mux".into(), format!("a=rtpmap:96 {codec}/90000")]);
    lines.extend([format!("a=fmtp:96 {params}"), "a=ssrc:42 cname:test".into(), String::new()]);
    lines.join("\r\n")
}

/// POSTs `sdp` with `content_type` to `path`.
pub fn post_sdp(server: &Server, path: &str, content_type: &str, sdp: &str) -> Response {
    post_sdp_from(server, path, content_type, sdp, None)
}

/// POSTs `sdp` with `content_type` to `path`, from a page on `origin` (an `Origin` header).
pub fn post_sdp_from(server: &Server, path: &str, content_type: &str, sdp: &str, origin: Option<&str>) -> Response {
    let mut headers = vec![("Content-Type", content_type.to_owned())];
    headers.extend(origin.map(|o| ("Origin", o.to_owned())));
    request(server.http, "POST", path, &headers, sdp.as_bytes(), None)
}

/// POSTs `sdp` to `path` until it is admitted (`201`: a peer that just ended lets go of its
/// place once its task ends), at most 1 s; the last answer.
pub fn post_until_admitted(server: &Server, path: &str, sdp: &str) -> Response {
    let mut answer = post_sdp(server, path, "application/sdp", sdp);
    for _ in 0..50 {
        if answer.status == 201 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        answer = post_sdp(server, path, "application/sdp", sdp);
    }
    answer
}

/// The `code` of a `{"code","message"}` body (empty when there is none).
pub fn code(r: &Response) -> String {
    serde_json::from_str::<Value>(&r.body)
        .map(|v| v["code"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

/// The value of the response header `name` (any case), if there is one.
pub fn header(r: &Response, name: &str) -> Option<String> {
    r.headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// The path and query of a WHIP URL `duet url publish --format whip` prints for the server's
/// app.
pub fn whip_path(data: &Path, server: &Server, stream: &str) -> String {
    whip_path_of(data, server, server.app_id, stream)
}

/// The path and query of a WHIP URL of `app_id`'s `stream`.
pub fn whip_path_of(data: &Path, server: &Server, app_id: u32, stream: &str) -> String {
    let (app, http) = (app_id.to_string(), format!("http://{}", server.http));
    let args = ["url", "publish", "--format", "whip", "--app-id", &app, "--stream-id", stream];
    let url = ok(data, &[&args[..], &["--public-http-url", &http]].concat()).trim().to_owned();
    assert!(url.starts_with(&format!("{http}/whip/{app}/{stream}?expire=")), "{url}");
    url.strip_prefix(&http).unwrap().to_owned()
}

/// The `duet_media_live_streams` line of `/metrics`.
pub fn live_streams(server: &Server) -> String {
    let body = get(server.http, "/metrics").body;
    body.lines().find(|l| l.starts_with("duet_media_live_streams ")).unwrap_or_default().to_owned()
}

/// Waits (up to 2 s) until `/metrics` shows `n` live streams, and says whether it did.
pub fn wait_live_streams(server: &Server, n: usize) -> bool {
    let want = format!("duet_media_live_streams {n}");
    for _ in 0..100 {
        if live_streams(server) == want {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}
