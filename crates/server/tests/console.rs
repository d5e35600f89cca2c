//! The console's login against the real server: the first-start password, `duet admin
//! password`, refusals, and pages served with their security headers. (The pages themselves
//! are driven in Chromium by web/test/browser.test.mjs.)

mod common;

use common::{Server, data_dir, get, ok, request};
use serde_json::json;

fn login(server: &Server, user: &str, password: &str) -> common::Response {
    let body = json!({"username": user, "password": password}).to_string();
    request(server.http, "POST", "/console/api/login", &[], body.as_bytes(), None)
}

#[test]
fn console_logins_and_password_changes() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let line = server.banner.lines().find(|l| l.trim_start().starts_with("Console")).unwrap();
    let first = line.split("password ").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    assert_eq!(first.len(), 20, "{line}");

    let res = login(&server, "admin", &first);
    assert_eq!(res.status, 200, "{}", res.body);
    let cookie = res.headers.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let session = cookie.split_once(':').unwrap().1.trim().split(';').next().unwrap().to_owned();
    let overview = request(server.http, "GET", "/console/api/overview", &[("Cookie", session.clone())], b"", None);
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(overview.body.contains(&server.app_id.to_string()));
    let forged =
        request(server.http, "GET", "/console/api/overview", &[("Cookie", "duet_console=00".into())], b"", None);
    assert_eq!(forged.status, 401);

    // The app's latency budget: shown, set, refused when it is not one.
    assert!(overview.body.contains(r#""latency":"frame""#), "{}", overview.body);
    let path = format!("/console/api/apps/{}/latency", server.app_id);
    let set = |latency: &str| {
        let body = json!({ "latency": latency }).to_string();
        request(server.http, "POST", &path, &[("Cookie", session.clone())], body.as_bytes(), None)
    };
    let saved = set("350");
    assert_eq!(saved.status, 200, "{}", saved.body);
    let shown = ok(&data, &["app", "show", "--app-id", &server.app_id.to_string(), "--json"]);
    assert!(shown.contains(r#""latency":"350""#), "{shown}");
    let refused = set("soon");
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("not 0, frame, or milliseconds"), "{}", refused.body);

    // Allowed origins and the app's WebRTC peer cap are shown with the app.
    assert!(overview.body.contains(r#""allowedOrigins":"*""#), "{}", overview.body);
    assert!(overview.body.contains(r#""webrtcMaxPeers":null"#), "{}", overview.body);

    assert_eq!(login(&server, "admin", "wrong-password").status, 401);
    assert_eq!(login(&server, "nobody", &first).status, 401);

    // A new password replaces the old; a restart does not print it again.
    let out = ok(&data, &["admin", "password", "--password", "correct horse battery"]);
    assert!(out.contains("admin"), "{out}");
    assert_eq!(login(&server, "admin", &first).status, 401);
    assert_eq!(login(&server, "admin", "correct horse battery").status, 200);
    let short = common::fails(&data, &["admin", "password", "--password", "short"]);
    assert!(short.contains("at least 10 characters"), "{short}");
    assert!(server.stop().success());
    let again = Server::start(&data, &[]);
    assert!(!again.banner.contains("password correct"), "{}", again.banner);
    assert!(again.banner.contains("duet admin password"), "{}", again.banner);

    for path in ["/", "/debug"] {
        let page = get(again.http, path);
        assert_eq!(page.status, 200);
        assert!(page.headers.to_ascii_lowercase().contains("content-security-policy: default-src 'self'"), "{path}");
        // The debug page's WHIP/WHEP and log uploads go to the public HTTP address, whatever
        // host name the page was opened at.
        let connect = format!("connect-src 'self' http://{} ws: wss:", again.http);
        assert!(page.headers.contains(&connect), "{path}: {}", page.headers);
    }
    assert_eq!(get(again.http, "/assets/debug.js").status, 200);
    assert_eq!(get(again.http, "/assets/nope.js").status, 404);
}

/// The Web SDK's bundle is served as an ES module any page may import (CORS `*`), and it is the
/// bundle sdk/web builds: it exports the engine under both names.
#[test]
fn web_sdk_bundle_is_served_to_any_origin() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data, &[]);
    let res =
        request(server.http, "GET", "/sdk/duet-web.js", &[("Origin", "https://app.example.com".into())], b"", None);
    assert_eq!(res.status, 200, "{}", res.headers);
    let headers = res.headers.to_ascii_lowercase();
    assert!(headers.contains("access-control-allow-origin: *"), "{headers}");
    assert!(headers.contains("content-type: text/javascript"), "{headers}");
    assert!(res.body.contains("ZegoExpressEngine") && res.body.contains("DuetEngine"), "not the SDK bundle");
    assert!(res.body.contains("export {"), "not an ES module");
    assert_eq!(get(server.http, "/sdk/other.js").status, 404);
}
