//! CORS: this module owns every cross-origin decision Duet makes. Which web pages (origins)
//! may call an app's WHIP and WHEP endpoints and play its HTTP-FLV/fMP4 streams is the app's
//! `allowed_origins` setting ([`AllowedOrigins`], in the registry: `duet app origins`, the
//! console): `*` (any page; the default, so the embedded default stays permissive) or a list
//! of exact origins (`https://call.example.com`, `scheme://host[:port]`).
//!
//! [`decide`] turns the setting and a request's `Origin` into [`CorsHeaders`] to add to the
//! answer (`Access-Control-Allow-Origin`: `*`, or the origin echoed with `Vary: Origin`) or
//! the refusal `origin_not_allowed` (403, nothing done). A request without `Origin` (ffmpeg,
//! mini-programs, curl: not a browser) is never refused for it. [`for_app`] reads the setting
//! through the app cache (`store::Apps`), so a change applies to the next request. Handlers
//! ask before doing anything, attach the headers to their answer (`CorsHeaders` is a response
//! part) and to their errors (`HttpError::with_cors`); preflights (`OPTIONS`) are answered
//! here ([`webrtc_preflight`], [`play_preflight`]). A path whose app is not a registered AppID
//! gets the permissive answer: the request is refused right after (`unknown_app`), and that
//! refusal is readable.
//!
//! A media handler wraps its work in [`answer`] (WHIP's `publish`, HTTP playback; WHEP's the
//! same way), which asks first and puts the headers on refusals:
//! ```ignore
//! cors::answer(&state, &app, &headers, ("whep", "play"), |cors| start(&state, .., cors)).await
//! // where `start` answers `(StatusCode::CREATED, cors.exposing_location(), .., sdp)`
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::Ipv6Addr;
use std::str::FromStr;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, IntoResponseParts, Response, ResponseParts};

use crate::http::AppState;
use crate::http::error::HttpError;
use crate::media::error::MediaRefusal;
use crate::store::apps::Apps;

/// Most origins one app may list.
pub const MAX_ORIGINS: usize = 50;

/// Which web pages may call an app's media endpoints from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// Any page (`*`).
    #[default]
    Any,
    /// Only pages on these origins (normalised: lowercase, no default port); none: `none`.
    Only(Vec<String>),
}

/// Why an allowed-origins setting was refused: the code `bad_origin` and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadOrigin(String);

impl BadOrigin {
    /// The stable code (docs/error-codes.md).
    pub const CODE: &'static str = "bad_origin";

    /// The stable code, `bad_origin`.
    pub fn code(&self) -> &'static str {
        Self::CODE
    }

    /// Why, for a person.
    pub fn reason(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BadOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", Self::CODE, self.0)
    }
}

impl std::error::Error for BadOrigin {}

/// `*`, `none`, or origins separated by spaces or commas.
impl FromStr for AllowedOrigins {
    type Err = BadOrigin;

    fn from_str(s: &str) -> Result<Self, BadOrigin> {
        let items: Vec<&str> = s.split(|c: char| c == ',' || c.is_whitespace()).filter(|i| !i.is_empty()).collect();
        match items[..] {
            [] => Err(BadOrigin("give `*` (any page), `none`, or origins like https://call.example.com".into())),
            ["*"] => Ok(Self::Any),
            ["none"] => Ok(Self::Only(Vec::new())),
            _ if items.len() > MAX_ORIGINS => Err(BadOrigin(format!("at most {MAX_ORIGINS} origins"))),
            _ => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    if matches!(item, "*" | "none") {
                        return Err(BadOrigin(format!("`{item}` stands alone, not in a list of origins")));
                    }
                    let origin = normalise(item)?;
                    if !list.contains(&origin) {
                        list.push(origin);
                    }
                }
                Ok(Self::Only(list))
            }
        }
    }
}

/// `*`, `none`, or the origins separated by spaces (what [`FromStr`] reads back).
impl fmt::Display for AllowedOrigins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Only(list) if list.is_empty() => f.write_str("none"),
            Self::Only(list) => f.write_str(&list.join(" ")),
        }
    }
}

/// One origin as a browser writes it in `Origin`: `http(s)://host[:port]`, lowercase, without
/// the scheme's default port (a single trailing `/` is forgiven).
pub fn normalise(origin: &str) -> Result<String, BadOrigin> {
    let bad = |why: &str| BadOrigin(format!("`{origin}` is not an origin ({why}); write scheme://host[:port]"));
    let (scheme, rest) = origin.split_once("://").ok_or_else(|| bad("no scheme"))?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err(bad("only http and https pages call Duet")),
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#', '@']) {
        return Err(bad("an origin has no path, query or user"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let host = host.to_ascii_lowercase();
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
        None => {
            host.len() <= 253
                && host.split('.').all(|label| {
                    (1..=63).contains(&label.len())
                        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                })
        }
    };
    if !host_ok {
        return Err(bad("not a host name or IP address"));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(bad("the port is not 1 to 65535")),
        },
    };
    Ok(match port {
        Some(n) if n != default_port => format!("{scheme}://{host}:{n}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// What an answer to an allowed request carries (nothing for a request without `Origin` to
/// an app that lists origins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsHeaders {
    /// `*` or the request's origin.
    allow_origin: Option<HeaderValue>,
    /// The answer depends on `Origin` (an app that lists origins).
    vary: bool,
    /// `Access-Control-Expose-Headers: Location` (WHIP/WHEP's `201`).
    expose_location: bool,
}

impl CorsHeaders {
    /// Any page may read the answer (`*`).
    pub fn any() -> Self {
        Self { allow_origin: Some(HeaderValue::from_static("*")), ..Self::default() }
    }

    /// The page that sent `Origin` may read the answer (`Vary: Origin`); nothing for a request
    /// without `Origin`. What refusals of a page's origin carry, so its SDK can say why (a
    /// refusal tells nothing worth hiding), and what preflights answer.
    pub fn echo(page: Page<'_>) -> Self {
        let allow_origin = page.origin.and_then(|o| HeaderValue::from_bytes(o).ok());
        Self { vary: allow_origin.is_some(), allow_origin, expose_location: false }
    }

    /// The same, and the page may read the answer's `Location` (a created WHIP/WHEP resource).
    pub fn exposing_location(self) -> Self {
        Self { expose_location: true, ..self }
    }

    /// Adds the headers to `headers`.
    pub fn apply(&self, headers: &mut HeaderMap) {
        if let Some(origin) = &self.allow_origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        }
        if self.vary {
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        if self.expose_location && self.allow_origin.is_some() {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("Location"));
        }
    }

    /// The headers as HTTP/1.1 head lines, each ending in CRLF (`media::flv_direct` writes
    /// its head itself).
    pub fn head_lines(&self) -> String {
        let mut headers = HeaderMap::new();
        self.apply(&mut headers);
        let mut lines = String::new();
        for (name, value) in &headers {
            // Values come from `Origin` headers hyper accepted, or are constants: visible ASCII.
            lines.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or_default()));
        }
        lines
    }
}

/// `(status, cors, body)`: handlers put the headers in their answer's tuple.
impl IntoResponseParts for CorsHeaders {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        self.apply(res.headers_mut());
        Ok(res)
    }
}

/// Who asks: the `Origin` header's bytes (`None` when it has none: not a browser page, or a
/// same-origin `GET`) and the `Host` header's (the origin Duet is reached at).
#[derive(Debug, Clone, Copy, Default)]
pub struct Page<'a> {
    /// The `Origin` header.
    pub origin: Option<&'a [u8]>,
    /// The `Host` header.
    pub host: Option<&'a [u8]>,
}

impl<'a> Page<'a> {
    /// The page of a request with `headers`.
    pub fn of(headers: &'a HeaderMap) -> Self {
        let get = |name| headers.get(name).map(HeaderValue::as_bytes);
        Self { origin: get(header::ORIGIN), host: get(header::HOST) }
    }

    /// Whether the page is Duet's own (the console, the debug page): its origin's host and
    /// port are those the request was sent to. Browsers send `Origin` on a same-origin `POST`
    /// too; no app's list can keep Duet's own pages out.
    fn same_origin(&self) -> bool {
        let (Some(origin), Some(host)) = (self.origin, self.host) else { return false };
        let authority = origin.strip_prefix(b"https://").or_else(|| origin.strip_prefix(b"http://"));
        authority.is_some_and(|a| a.eq_ignore_ascii_case(host))
    }
}

/// The decision: the headers for a request from `page` to an app allowing `allowed`, or
/// `origin_not_allowed`.
pub fn decide(allowed: &AllowedOrigins, page: Page<'_>) -> Result<CorsHeaders, MediaRefusal> {
    let list = match allowed {
        AllowedOrigins::Any => return Ok(CorsHeaders::any()),
        AllowedOrigins::Only(list) => list,
    };
    let Some(origin) = page.origin else {
        return Ok(CorsHeaders { vary: true, ..CorsHeaders::default() });
    };
    let listed = page.same_origin()
        || std::str::from_utf8(origin).ok().and_then(|o| normalise(o).ok()).is_some_and(|o| list.contains(&o));
    match HeaderValue::from_bytes(origin) {
        Ok(value) if listed => Ok(CorsHeaders { allow_origin: Some(value), vary: true, expose_location: false }),
        _ => Err(MediaRefusal::new(
            "origin_not_allowed",
            format!(
                "the app does not allow pages on {} (its allowed origins: duet app origins, or the console)",
                String::from_utf8_lossy(origin)
            ),
        )),
    }
}

/// The allowed origins of the app a request's path names (`app`: the path's AppID segment).
/// A segment that is not a registered AppID, or an app that cannot be read, allows any origin:
/// that request is refused right after (`unknown_app`), readably.
pub async fn allowed(apps: &Apps, app: &str) -> AllowedOrigins {
    let Ok(app_id) = app.parse::<u32>() else { return AllowedOrigins::Any };
    apps.get(app_id).await.ok().flatten().map(|a| a.allowed_origins).unwrap_or_default()
}

/// The decision for a request to the app a path names (`app`: its AppID segment), with the
/// request's `headers` ([`decide`], [`allowed`]).
pub async fn for_app(apps: &Apps, app: &str, headers: &HeaderMap) -> Result<CorsHeaders, MediaRefusal> {
    decide(&allowed(apps, app).await, Page::of(headers))
}

/// A media request's answer: `handler` runs with the request's headers once its page's origin
/// is allowed (it puts them on its answer); a refusal (the origin's or the handler's) is
/// logged and counted as `what` refused to `peer` (`MediaContext::refuse`) and answered so
/// that the page reads it (a refused origin too: [`CorsHeaders::echo`]).
pub async fn answer<F>(
    state: &AppState,
    app: &str,
    headers: &HeaderMap,
    (peer, what): (&str, &str),
    handler: impl FnOnce(CorsHeaders) -> F,
) -> Result<Response, HttpError>
where
    F: Future<Output = Result<Response, MediaRefusal>>,
{
    let cors = for_app(&state.apps, app, headers).await;
    let answer = match cors.clone() {
        Ok(cors) => handler(cors).await,
        Err(refused) => Err(refused),
    };
    answer.map_err(|r| {
        state.media.refuse(peer, what, &r);
        HttpError::from(r).with_cors(cors.unwrap_or_else(|_| CorsHeaders::echo(Page::of(headers))))
    })
}

/// How long a browser may remember a preflight's answer.
const MAX_AGE: &str = "600";

/// `OPTIONS /whip/{app}/{stream}[/{resource}]` and `/whep/...`: a preflight of a WHIP or WHEP
/// `POST` (an SDP offer) or `DELETE`. A preflight grants nothing, so every page gets its
/// answer (`*` where the app allows any page, its origin echoed otherwise): the request itself
/// is decided, and a refused page can read why.
pub async fn webrtc_preflight(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let cors = preflight(&state, &params, &headers).await;
    let sdp = [(header::HeaderName::from_static("accept-post"), "application/sdp")];
    (StatusCode::NO_CONTENT, cors.exposing_location(), allow("POST, DELETE, OPTIONS"), sdp).into_response()
}

/// `OPTIONS /live/{app}/{file}`: a preflight of an HTTP-FLV/fMP4 play (a `fetch` that sends
/// headers of its own), answered like WHIP's.
pub async fn play_preflight(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let cors = preflight(&state, &params, &headers).await;
    (StatusCode::NO_CONTENT, cors, allow("GET, OPTIONS")).into_response()
}

/// A preflight's headers: the app's answer for an allowed page, the page's origin echoed for
/// another (its request will be refused, readably).
async fn preflight(state: &AppState, params: &HashMap<String, String>, headers: &HeaderMap) -> CorsHeaders {
    let app = params.get("app").map(String::as_str).unwrap_or_default();
    for_app(&state.apps, app, headers).await.unwrap_or_else(|_| CorsHeaders::echo(Page::of(headers)))
}

fn allow(methods: &'static str) -> [(header::HeaderName, &'static str); 3] {
    [
        (header::ACCESS_CONTROL_ALLOW_METHODS, methods),
        (header::ACCESS_CONTROL_ALLOW_HEADERS, "Content-Type, Authorization"),
        (header::ACCESS_CONTROL_MAX_AGE, MAX_AGE),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &str) -> AllowedOrigins {
        s.parse().unwrap()
    }

    #[test]
    fn settings_are_read_normalised_and_written_back() {
        assert_eq!(list(" * "), AllowedOrigins::Any);
        assert_eq!(list("none"), AllowedOrigins::Only(vec![]));
        let l = list("HTTPS://Call.Example.com:443/, http://localhost:8080 https://call.example.com http://[::1]:80");
        assert_eq!(l.to_string(), "https://call.example.com http://localhost:8080 http://[::1]");
        assert_eq!(list(&l.to_string()), l, "what is written reads back the same");
        assert_eq!(normalise("http://10.0.0.2:0080"), Ok("http://10.0.0.2".into()));
        for bad in [
            "",
            "call.example.com",
            "ftp://call.example.com",
            "https://call.example.com/app",
            "https://call.example.com?x",
            "https://user@call.example.com",
            "https://call.example.com:0",
            "https://call.example.com:65536",
            "https://call.example.com:+80",
            "https://ca ll.example.com",
            "https://-call.example.com",
            "https://call..example.com",
            "https://[::1",
            "https://*.example.com",
            "https://bücher.example",
            "* https://call.example.com",
            "none https://call.example.com",
        ] {
            let e = bad.parse::<AllowedOrigins>().unwrap_err();
            assert!(e.to_string().starts_with("bad_origin: "), "{bad:?}: {e}");
        }
        let many = (0..=MAX_ORIGINS).map(|i| format!("https://a{i}.example")).collect::<Vec<_>>().join(" ");
        assert!(many.parse::<AllowedOrigins>().is_err());
    }

    /// A page with `origin` and no `Host`.
    fn page(origin: Option<&[u8]>) -> Page<'_> {
        Page { origin, host: None }
    }

    #[test]
    fn any_answers_star_to_everyone() {
        for origin in [Some(&b"https://shop.example"[..]), Some(b"null"), None] {
            let h = decide(&AllowedOrigins::Any, page(origin)).unwrap();
            assert_eq!(h, CorsHeaders::any());
            assert_eq!(h.head_lines(), "access-control-allow-origin: *\r\n");
        }
    }

    #[test]
    fn a_list_echoes_listed_origins_and_refuses_the_rest() {
        let allowed = list("https://call.example.com http://localhost:8080");
        let h = decide(&allowed, page(Some(b"https://call.example.com"))).unwrap();
        let mut headers = HeaderMap::new();
        h.clone().exposing_location().apply(&mut headers);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://call.example.com");
        assert_eq!(headers[header::VARY], "Origin");
        assert_eq!(headers[header::ACCESS_CONTROL_EXPOSE_HEADERS], "Location");
        assert_eq!(
            decide(&allowed, page(Some(b"http://localhost:8080"))).unwrap().allow_origin.unwrap(),
            "http://localhost:8080"
        );
        for refused in [
            &b"https://shop.example"[..],
            b"http://call.example.com",
            b"https://call.example.com:8443",
            b"null",
            b"\xff",
        ] {
            let r = decide(&allowed, page(Some(refused))).unwrap_err();
            assert_eq!((r.code, r.status()), ("origin_not_allowed", StatusCode::FORBIDDEN));
        }
        let none = decide(&AllowedOrigins::Only(vec![]), page(Some(b"https://call.example.com")));
        assert!(none.is_err(), "`none`: no page");
    }

    #[test]
    fn duet_s_own_pages_are_never_refused() {
        let own = Page { origin: Some(b"http://127.0.0.1:8080"), host: Some(b"127.0.0.1:8080") };
        assert!(decide(&list("none"), own).is_ok(), "the debug page posting to its own server");
        let tls = Page { origin: Some(b"https://RTC.example.com"), host: Some(b"rtc.example.com") };
        assert!(decide(&list("none"), tls).is_ok());
        let other = Page { origin: Some(b"https://evil.example"), host: Some(b"rtc.example.com") };
        assert!(decide(&list("none"), other).is_err());
        let port = Page { origin: Some(b"http://127.0.0.1:9999"), host: Some(b"127.0.0.1:8080") };
        assert!(decide(&list("none"), port).is_err(), "another port is another origin");
    }

    #[test]
    fn no_origin_is_never_refused() {
        let h = decide(&list("none"), page(None)).unwrap();
        assert_eq!(h.allow_origin, None, "nothing to echo");
        assert_eq!(h.head_lines(), "vary: Origin\r\n", "a cache must still tell browsers' answers apart");
        let mut headers = HeaderMap::new();
        h.exposing_location().apply(&mut headers);
        assert_eq!(headers.get(header::ACCESS_CONTROL_EXPOSE_HEADERS), None);
    }
}
