//! Cross-origin requests against the real binary: an app's allowed origins (`*` by default,
//! or a list set in the console or with `duet app origins`) decide which pages may call WHIP
//! (POST, DELETE) and play HTTP-FLV/fMP4; a refused origin gets `origin_not_allowed` (403),
//! readable by the page (its origin echoed, so an SDK can say why), and leaves nothing behind;
//! preflights grant nothing and are answered for any page (the request itself decides); a
//! request without `Origin` (ffmpeg, mini-programs, curl) is never refused for it; a change
//! applies to the next request.

mod common;
#[path = "common/streams.rs"]
mod streams;
#[path = "common/whip.rs"]
mod whip_helpers;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Response, Server, data_dir, request};
use serde_json::json;
use whip_helpers::{H264, code, header, live_streams, offer, post_sdp_from, wait_live_streams, whip_path};

const CALL: &str = "https://call.example.com";
const SHOP: &str = "https://shop.example";

/// Sets the app's allowed origins through the console API.
fn allow(server: &Server, session: &str, origins: &str) -> Response {
    let path = format!("/console/api/apps/{}/origins", server.app_id);
    common::console_post(server, session, &path, &json!({ "origins": origins }).to_string())
}

/// A CORS preflight of `method` on `path` from `origin` (none: not a browser).
fn preflight(server: &Server, path: &str, method: &str, origin: Option<&str>) -> Response {
    let mut asks = vec![
        ("Access-Control-Request-Method", method.to_owned()),
        ("Access-Control-Request-Headers", "content-type".to_owned()),
    ];
    asks.extend(origin.map(|o| ("Origin", o.to_owned())));
    request(server.http, "OPTIONS", path, &asks, b"", None)
}

/// A GET from `origin` read up to the end of its head (a live stream's body never ends), or
/// whole when it is a refusal.
fn get_head(server: &Server, path: &str, origin: Option<&str>) -> Response {
    let mut s = TcpStream::connect(server.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let origin = origin.map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n{origin}\r\n").unwrap();
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap() == 1 {
        raw.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&raw).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut body = Vec::new();
    if status != 200 {
        // A refusal's JSON: its length is known.
        let len = header(&Response { status, headers: head.clone(), body: String::new() }, "content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        body.resize(len, 0);
        s.read_exact(&mut body).unwrap();
    }
    Response { status, headers: head, body: String::from_utf8_lossy(&body).into_owned() }
}

#[test]
fn whip_answers_the_origins_its_app_allows() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let session = common::console_session(&server);
    let path = whip_path(&data, &server, "cam");
    let h264 = offer("H264", H264);

    // The embedded default: any origin, answered with `*`.
    let pre = preflight(&server, &path, "POST", Some(SHOP));
    assert_eq!(pre.status, 204, "{}", pre.body);
    assert_eq!(header(&pre, "access-control-allow-origin").as_deref(), Some("*"));

    // A list: only those pages; the change applies to the next request.
    let saved = allow(&server, &session, &format!("{CALL} https://other.example:8443"));
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&saved.body).unwrap()["origins"],
        json!(format!("{CALL} https://other.example:8443"))
    );
    for method in ["POST", "DELETE"] {
        let pre = preflight(&server, &path, method, Some(CALL));
        assert_eq!(pre.status, 204, "{}", pre.body);
        assert_eq!(header(&pre, "access-control-allow-origin").as_deref(), Some(CALL), "echoed");
        assert_eq!(header(&pre, "vary").as_deref(), Some("Origin"));
        assert!(header(&pre, "access-control-allow-methods").unwrap().contains(method), "{}", pre.headers);
        assert!(header(&pre, "access-control-allow-headers").unwrap().to_ascii_lowercase().contains("content-type"));
        assert_eq!(header(&pre, "access-control-expose-headers").as_deref(), Some("Location"));
    }
    // A preflight grants nothing: any page's is answered, so its request can be refused readably.
    let pre = preflight(&server, &path, "POST", Some(SHOP));
    assert_eq!(pre.status, 204, "{}", pre.body);
    assert_eq!(header(&pre, "access-control-allow-origin").as_deref(), Some(SHOP));
    assert_eq!(preflight(&server, &path, "POST", None).status, 204, "no Origin: not a browser, never refused");

    // A POST from a page the app does not allow: refused before anything is set up, and the
    // page can read why.
    let r = post_sdp_from(&server, &path, "application/sdp", &h264, Some(SHOP));
    assert_eq!((r.status, code(&r).as_str()), (403, "origin_not_allowed"), "{}", r.body);
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some(SHOP), "readable");
    assert_eq!(header(&r, "vary").as_deref(), Some("Origin"));
    assert_eq!(live_streams(&server), "duet_media_live_streams 0", "nothing left behind");
    assert_eq!(common::metric(&server, "duet_webrtc_peers"), 0);

    // An allowed page's errors are readable by it, with its origin echoed.
    let r = post_sdp_from(&server, &path, "text/plain", &h264, Some(CALL));
    assert_eq!((r.status, code(&r).as_str()), (415, "whip_content_type"), "{}", r.body);
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some(CALL));
    assert_eq!(header(&r, "vary").as_deref(), Some("Origin"));

    // An allowed page publishes; Location is exposed to it.
    let r = post_sdp_from(&server, &path, "application/sdp", &h264, Some(CALL));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some(CALL));
    assert_eq!(header(&r, "access-control-expose-headers").as_deref(), Some("Location"));
    let location = header(&r, "location").unwrap();
    let delete = |origin: Option<&str>| {
        let headers: Vec<(&str, String)> = origin.map(|o| ("Origin", o.to_owned())).into_iter().collect();
        request(server.http, "DELETE", &location, &headers, b"", None)
    };
    let r = delete(Some(SHOP));
    assert_eq!((r.status, code(&r).as_str()), (403, "origin_not_allowed"), "{}", r.body);
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some(SHOP), "readable");
    assert_eq!(live_streams(&server), "duet_media_live_streams 1", "another page cannot end it");
    let r = delete(Some(CALL));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some(CALL));
    assert!(wait_live_streams(&server, 0));

    // Without Origin (ffmpeg's WHIP, a mini-program): not refused.
    let r = post_sdp_from(&server, &path, "application/sdp", &h264, None);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(header(&r, "access-control-allow-origin"), None, "no origin to echo");
    assert_eq!(delete(None).status, 404, "that was the previous resource");
    assert_eq!(request(server.http, "DELETE", &header(&r, "location").unwrap(), &[], b"", None).status, 200);

    // Garbage is refused with its code, and the setting stays.
    for bad in ["call.example.com", "ftp://call.example.com", "https://call.example.com/path", "https://a b", ""] {
        let r = allow(&server, &session, bad);
        assert_eq!((r.status, code(&r).as_str()), (400, "bad_origin"), "{bad:?}: {}", r.body);
    }
    let refused = |r: &Response| code(r) == "origin_not_allowed";
    assert!(refused(&post_sdp_from(&server, &path, "application/sdp", &h264, Some(SHOP))));

    // A change from another process (`duet app origins`) is noticed within the refresh (1 s).
    common::ok(&data, &["app", "origins", "--app-id", &server.app_id.to_string(), "*"]);
    let mut r = post_sdp_from(&server, &path, "text/plain", &h264, Some(SHOP));
    for _ in 0..50 {
        if !refused(&r) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        r = post_sdp_from(&server, &path, "text/plain", &h264, Some(SHOP));
    }
    assert_eq!((r.status, code(&r).as_str()), (415, "whip_content_type"), "{}", r.body);
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(header(&r, "vary"), None, "`*` does not vary");
}

#[test]
fn http_plays_answer_the_origins_their_app_allows() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let session = common::console_session(&server);
    // A WHIP publish makes the stream live (no media is needed to answer a play's head).
    let r = post_sdp_from(&server, &whip_path(&data, &server, "cam"), "application/sdp", &offer("H264", H264), None);
    assert_eq!(r.status, 201, "{}", r.body);
    let play = |format: &str| {
        let url = streams::url(&data, &server, &["play", "--stream-id", "cam", "--format", format]);
        url[url.find("/live/").unwrap()..].to_owned()
    };
    let (flv, mp4) = (play("flv"), play("mp4"));

    // The default: any page plays, answered `*`.
    let r = get_head(&server, &flv, Some(SHOP));
    assert_eq!(r.status, 200, "{}", r.headers);
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some("*"));

    assert_eq!(allow(&server, &session, CALL).status, 200);
    // Plain HTTP-FLV is served off the router (media::flv_direct), fMP4 through it: both ask.
    for path in [&flv, &mp4] {
        let r = get_head(&server, path, Some(SHOP));
        assert_eq!((r.status, code(&r).as_str()), (403, "origin_not_allowed"), "{path}: {}", r.body);
        assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some(SHOP), "{path}: readable");
    }
    let r = get_head(&server, &flv, Some(CALL));
    assert_eq!(r.status, 200, "{}", r.headers);
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some(CALL));
    assert_eq!(header(&r, "vary").as_deref(), Some("Origin"));
    let r = get_head(&server, &flv, None);
    assert_eq!(r.status, 200, "no Origin: never refused for it: {}", r.headers);

    // An allowed page reads the refusals of its plays.
    let gone = flv.replace("/cam.flv", "/gone.flv");
    let r = get_head(&server, &gone, Some(CALL));
    assert_eq!(r.status, 403, "the signature covers the stream: {}", r.body);
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some(CALL));
    let r = get_head(&server, &flv.replace("sign=", "sign=0"), Some(SHOP));
    assert_eq!(code(&r), "origin_not_allowed", "the origin is asked first: {}", r.body);

    // A preflight of a play (a fetch with its own headers) is answered for any page.
    for origin in [CALL, SHOP] {
        let pre = preflight(&server, &flv, "GET", Some(origin));
        assert_eq!(pre.status, 204, "{}", pre.body);
        assert!(header(&pre, "access-control-allow-methods").unwrap().contains("GET"));
        assert_eq!(header(&pre, "access-control-allow-origin").as_deref(), Some(origin));
    }
}

/// WHEP's routes answer preflights the same way (their POST/DELETE decide).
#[test]
fn whep_preflights_are_answered_for_any_page() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let session = common::console_session(&server);
    let id = server.app_id;
    for path in [format!("/whep/{id}/cam"), format!("/whep/{id}/cam/0123")] {
        assert_eq!(
            header(&preflight(&server, &path, "POST", Some(SHOP)), "access-control-allow-origin").as_deref(),
            Some("*")
        );
    }
    assert_eq!(allow(&server, &session, CALL).status, 200);
    for path in [format!("/whep/{id}/cam"), format!("/whep/{id}/cam/0123")] {
        let pre = preflight(&server, &path, "POST", Some(CALL));
        assert_eq!(pre.status, 204, "{path}: {}", pre.body);
        assert_eq!(header(&pre, "access-control-allow-origin").as_deref(), Some(CALL));
        let pre = preflight(&server, &path, "POST", Some(SHOP));
        assert_eq!(pre.status, 204, "{path}: {}", pre.body);
        assert_eq!(header(&pre, "access-control-allow-origin").as_deref(), Some(SHOP));
    }
}
