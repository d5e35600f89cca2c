//! `MediaUrl`: the one type that builds, signs, parses and verifies the URLs that move media,
//! for every protocol and format: RTMP publish and play, HTTP-FLV and fMP4 play, WHIP publish,
//! WHEP play (HLS plugs in here as one more [`MediaFormat`]).
//!
//! - RTMP: `{rtmp_base}/{appID}/{streamID}?expire=E&user=U&room=R&sign=S` (the RTMP "app" is
//!   the AppID; some clients move the query onto the app, [`MediaUrl::from_rtmp`] takes both).
//! - HTTP: `{http_base}/live/{appID}/{streamID}.{flv|mp4}?expire=E&user=U&room=R&sign=S`.
//! - WHIP (RFC 9725): `{http_base}/whip/{appID}/{streamID}?expire=E&user=U&room=R&sign=S`, the
//!   endpoint a browser `POST`s its SDP offer to.
//! - WHEP: `{http_base}/whep/{appID}/{streamID}?expire=E&user=U&room=R&sign=S`, the same for
//!   playing.
//!
//! `sign` is [`MediaGrant::sign`] over (app, stream, action, user, room, expire); the format is
//! not signed, so one play URL's query serves every format. Reading a URL checks its shape
//! (stream ID, AppID); [`Unverified::verify`] then reads the query and checks the signature
//! with the app's secret, in that order, so each refusal has one stable code.

use crate::error::MediaUrlError;
use crate::media_grant::{MediaAction, MediaGrant};
use crate::secret::AppSecret;

/// Longest stream ID, in bytes.
pub const MAX_STREAM_ID: usize = 256;

/// Whether `s` is a valid stream ID: 1 to [`MAX_STREAM_ID`] bytes of `[0-9A-Za-z_-]` (safe in
/// any URL path and file name).
pub fn is_stream_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_STREAM_ID && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The protocol and container a media URL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaFormat {
    /// RTMP (publish or play).
    Rtmp,
    /// HTTP-FLV (play).
    Flv,
    /// Fragmented MP4 over HTTP, for Media Source Extensions (play).
    Fmp4,
    /// WebRTC-HTTP ingestion (publish): the WHIP endpoint of the stream.
    Whip,
    /// WebRTC-HTTP egress (play): the WHEP endpoint of the stream.
    Whep,
    /// HLS and low-latency HLS (play): the stream's media playlist.
    Hls,
}

impl MediaFormat {
    /// The file extension of a format served over HTTP.
    fn extension(self) -> Option<&'static str> {
        match self {
            Self::Rtmp | Self::Whip | Self::Whep => None,
            Self::Flv => Some("flv"),
            Self::Fmp4 => Some("mp4"),
            Self::Hls => Some("m3u8"),
        }
    }

    /// Formats played over HTTP, by extension.
    const HTTP: [Self; 3] = [Self::Flv, Self::Fmp4, Self::Hls];
}

/// Where clients dial media, as they see it (public addresses, no trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaBases {
    /// e.g. `rtmp://rtc.example.com`.
    pub rtmp: String,
    /// e.g. `https://rtc.example.com`.
    pub http: String,
}

/// What a media URL grants: the signed claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaUrl {
    /// The app the stream belongs to.
    pub app_id: u32,
    /// The stream.
    pub stream_id: String,
    /// Publish or play.
    pub action: MediaAction,
    /// Who it was issued to (may be empty for anonymous play).
    pub user_id: String,
    /// The room a published stream appears in (empty: none, or the publisher's reservation).
    pub room_id: String,
    /// Expiry, unix seconds.
    pub expire: u64,
}

impl MediaUrl {
    /// The signed facts.
    pub fn grant(&self) -> MediaGrant<'_> {
        MediaGrant {
            app_id: self.app_id,
            stream_id: &self.stream_id,
            action: self.action,
            user_id: &self.user_id,
            room_id: &self.room_id,
            expire: self.expire,
        }
    }

    /// The signed URL a client dials for `format`.
    pub fn signed(&self, secret: &AppSecret, bases: &MediaBases, format: MediaFormat) -> String {
        let sign = self.grant().sign(secret);
        let (user, room) = (percent_encode(&self.user_id), percent_encode(&self.room_id));
        let query = format!("expire={}&user={user}&room={room}&sign={sign}", self.expire);
        let (app_id, stream_id) = (self.app_id, &self.stream_id);
        match (format, format.extension()) {
            (MediaFormat::Whip, _) => format!("{}{WHIP_PREFIX}/{app_id}/{stream_id}?{query}", bases.http),
            (MediaFormat::Whep, _) => format!("{}{WHEP_PREFIX}/{app_id}/{stream_id}?{query}", bases.http),
            (_, Some(ext)) => format!("{}/live/{app_id}/{stream_id}.{ext}?{query}", bases.http),
            (_, None) => format!("{}/{app_id}/{stream_id}?{query}", bases.rtmp),
        }
    }

    /// Reads an RTMP publish or play: `app` as the client sent it in `connect` (the AppID,
    /// perhaps with the query), `name` as sent in `publish`/`play` (perhaps with the query,
    /// which then wins).
    pub fn from_rtmp(app: &str, name: &str, action: MediaAction) -> Result<Unverified, MediaUrlError> {
        let app_id = Self::rtmp_app_id(app)?;
        let app_query = app.split_once('?').map_or("", |(_, q)| q);
        let (stream_id, query) = match name.split_once('?') {
            Some((stream_id, query)) => (stream_id, query),
            None => (name, app_query),
        };
        if !is_stream_id(stream_id) {
            return Err(MediaUrlError::BadStreamId);
        }
        Unverified::new(app_id, stream_id, action, query)
    }

    /// The AppID an RTMP `connect` names (its `app`, perhaps with a query).
    pub fn rtmp_app_id(app: &str) -> Result<u32, MediaUrlError> {
        app_id(app.split_once('?').map_or(app, |(id, _)| id))
    }

    /// Reads an HTTP play request `/live/{app}/{file}?{query}`; also says which format `file`
    /// asks for (`{streamID}.flv`, `{streamID}.mp4` or `{streamID}.m3u8`).
    pub fn from_http(app: &str, file: &str, query: &str) -> Result<(Unverified, MediaFormat), MediaUrlError> {
        let (stream_id, format) = MediaFormat::HTTP
            .iter()
            .find_map(|f| file.strip_suffix(f.extension()?).and_then(|s| s.strip_suffix('.')).map(|s| (s, *f)))
            .ok_or(MediaUrlError::UnknownFormat)?;
        if !is_stream_id(stream_id) {
            return Err(MediaUrlError::BadStreamId);
        }
        Ok((Unverified::new(app_id(app)?, stream_id, MediaAction::Play, query)?, format))
    }
}

/// The path under which WHIP endpoints live: `/whip/{appID}/{streamID}`.
pub const WHIP_PREFIX: &str = "/whip";
/// The path under which WHEP endpoints live: `/whep/{appID}/{streamID}`.
pub const WHEP_PREFIX: &str = "/whep";

impl MediaUrl {
    /// Reads a WHIP publish request `/whip/{app}/{stream}?{query}` (the path's two segments
    /// and the query, as the router split them).
    pub fn from_whip(app: &str, stream_id: &str, query: &str) -> Result<Unverified, MediaUrlError> {
        Self::from_webrtc(app, stream_id, MediaAction::Publish, query)
    }

    /// Reads a WHEP play request `/whep/{app}/{stream}?{query}`.
    pub fn from_whep(app: &str, stream_id: &str, query: &str) -> Result<Unverified, MediaUrlError> {
        Self::from_webrtc(app, stream_id, MediaAction::Play, query)
    }

    /// Reads a request for a file under a stream's path (`/live/{app}/{stream}/{file}` of its
    /// HLS, `/recordings/{app}/{stream}/{file}`): the query is a play URL's signature of the
    /// stream, which came along.
    pub fn from_stream_file(app: &str, stream_id: &str, query: &str) -> Result<Unverified, MediaUrlError> {
        Self::from_webrtc(app, stream_id, MediaAction::Play, query)
    }

    fn from_webrtc(app: &str, stream_id: &str, action: MediaAction, query: &str) -> Result<Unverified, MediaUrlError> {
        let app_id = app_id(app)?;
        if !is_stream_id(stream_id) {
            return Err(MediaUrlError::BadStreamId);
        }
        Unverified::new(app_id, stream_id, action, query)
    }
}

fn app_id(app: &str) -> Result<u32, MediaUrlError> {
    app.parse().map_err(|_| MediaUrlError::UnknownApp)
}

/// A media URL as received: which app and stream it names, its query not yet read and its
/// signature not yet checked. Look up the app's secret, then [`Unverified::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    app_id: u32,
    stream_id: String,
    action: MediaAction,
    query: String,
}

impl Unverified {
    fn new(app_id: u32, stream_id: &str, action: MediaAction, query: &str) -> Result<Self, MediaUrlError> {
        Ok(Self { app_id, stream_id: stream_id.to_owned(), action, query: query.to_owned() })
    }

    /// The AppID the URL names (whose secret verifies it).
    pub fn app_id(&self) -> u32 {
        self.app_id
    }

    /// The stream the URL names.
    pub fn stream_id(&self) -> &str {
        &self.stream_id
    }

    /// A query parameter the signature does not cover (`latency` on a publish URL: an option
    /// of the stream, not a grant), percent-decoded (a value that is not validly escaped comes
    /// back as sent, for the caller to refuse); `None` when absent.
    pub fn option(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| percent_decode(v).unwrap_or_else(|| v.to_owned()))
        })
    }

    /// Reads the query (`expire`, `user`, `room`, `sign`) and checks the signature with the
    /// app's secret at `now_unix`.
    pub fn verify(self, secret: &AppSecret, now_unix: u64) -> Result<MediaUrl, MediaUrlError> {
        let (mut expire, mut sign) = (None, String::new());
        let mut url = MediaUrl {
            app_id: self.app_id,
            stream_id: self.stream_id,
            action: self.action,
            user_id: String::new(),
            room_id: String::new(),
            expire: 0,
        };
        for pair in self.query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v).ok_or_else(|| MediaUrlError::BadQuery(format!("bad escape in {k}")))?;
            match k {
                "expire" => {
                    expire = Some(v.parse().map_err(|_| MediaUrlError::BadQuery("expire is not a number".into()))?)
                }
                "user" => url.user_id = v,
                "room" => url.room_id = v,
                "sign" => sign = v,
                _ => {}
            }
        }
        match expire {
            Some(e) if !sign.is_empty() => url.expire = e,
            _ => return Err(MediaUrlError::Missing),
        }
        url.grant().verify(secret, &sign, now_unix)?;
        Ok(url)
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for a URL's query or one
/// path segment).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` and `+`; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> AppSecret {
        AppSecret::new("fa94dd0f974cf2e293728a526b028271").unwrap()
    }

    fn bases() -> MediaBases {
        MediaBases { rtmp: "rtmp://h:1935".into(), http: "https://h".into() }
    }

    fn claims(action: MediaAction, expire: u64) -> MediaUrl {
        MediaUrl { app_id: 9, stream_id: "cam".into(), action, user_id: "u&1".into(), room_id: "r 1".into(), expire }
    }

    /// The stream name and query of a signed RTMP URL, as a client sends them in publish/play.
    fn rtmp_name(url: &MediaUrl) -> String {
        let full = url.signed(&secret(), &bases(), MediaFormat::Rtmp);
        full.strip_prefix("rtmp://h:1935/9/").unwrap().to_owned()
    }

    #[test]
    fn urls_have_one_form_per_format() {
        let play = MediaUrl { user_id: String::new(), room_id: String::new(), ..claims(MediaAction::Play, 1060) };
        let rtmp = play.signed(&secret(), &bases(), MediaFormat::Rtmp);
        assert!(rtmp.starts_with("rtmp://h:1935/9/cam?expire=1060&user=&room=&sign="), "{rtmp}");
        let flv = play.signed(&secret(), &bases(), MediaFormat::Flv);
        assert!(flv.starts_with("https://h/live/9/cam.flv?expire=1060&user=&room=&sign="), "{flv}");
        let mp4 = play.signed(&secret(), &bases(), MediaFormat::Fmp4);
        assert_eq!(mp4.replacen(".mp4?", ".flv?", 1), flv, "one signed query serves every format");
        let publish = claims(MediaAction::Publish, 1060).signed(&secret(), &bases(), MediaFormat::Rtmp);
        assert!(publish.contains("?expire=1060&user=u%261&room=r%201&sign="), "{publish}");
    }

    #[test]
    fn accepts_what_it_signed_and_refuses_the_rest() {
        let url = claims(MediaAction::Publish, 100);
        let name = rtmp_name(&url);
        let got = MediaUrl::from_rtmp("9", &name, MediaAction::Publish).unwrap().verify(&secret(), 50).unwrap();
        assert_eq!(got, url);
        let code = |r: Result<MediaUrl, MediaUrlError>| r.unwrap_err().code();
        let check = |app: &str, action, now| MediaUrl::from_rtmp(app, &name, action).unwrap().verify(&secret(), now);
        assert_eq!(code(check("9", MediaAction::Play, 50)), "url_bad_signature");
        assert_eq!(code(check("8", MediaAction::Publish, 50)), "url_bad_signature");
        assert_eq!(code(check("9", MediaAction::Publish, 1000)), "url_expired");
        let read =
            |name: &str| MediaUrl::from_rtmp("9", name, MediaAction::Publish).and_then(|u| u.verify(&secret(), 50));
        assert_eq!(code(read("cam")), "url_missing");
        assert_eq!(code(read("cam?expire=x&sign=a")), "url_malformed");
        assert_eq!(code(read("../x?expire=1&sign=a")), "bad_stream_id");
        assert_eq!(code(read("cam?expire=1&sign=a&user=%zz")), "url_malformed");
        assert_eq!(code(read(&name.replace("room=r%201", "room=r%202"))), "url_bad_signature");
        assert_eq!(MediaUrl::from_rtmp("x", &name, MediaAction::Publish).unwrap_err().code(), "unknown_app");
    }

    #[test]
    fn rtmp_query_may_ride_on_the_app() {
        let url = claims(MediaAction::Publish, 100);
        let name = rtmp_name(&url);
        let (stream, query) = name.split_once('?').unwrap();
        let unverified = MediaUrl::from_rtmp(&format!("9?{query}"), stream, MediaAction::Publish).unwrap();
        assert_eq!((unverified.app_id(), unverified.stream_id()), (9, "cam"));
        assert_eq!(unverified.verify(&secret(), 50).unwrap(), url);
        // A query on the name wins over one on the app.
        let other = MediaUrl::from_rtmp("9?expire=1&sign=0", &name, MediaAction::Publish).unwrap();
        assert_eq!(other.verify(&secret(), 50).unwrap(), url);
    }

    #[test]
    fn http_play_paths() {
        let url = MediaUrl { action: MediaAction::Play, ..claims(MediaAction::Play, 100) };
        let flv = url.signed(&secret(), &bases(), MediaFormat::Flv);
        let (path, query) = flv.strip_prefix("https://h/live/").unwrap().split_once('?').unwrap();
        let (app, file) = path.split_once('/').unwrap();
        let (unverified, format) = MediaUrl::from_http(app, file, query).unwrap();
        assert_eq!(format, MediaFormat::Flv);
        assert_eq!(unverified.verify(&secret(), 50).unwrap(), url);
        let (_, format) = MediaUrl::from_http(app, "cam.mp4", query).unwrap();
        assert_eq!(format, MediaFormat::Fmp4);
        for (file, code) in
            [("cam.ts", "not_found"), ("cam", "not_found"), ("a.b.flv", "bad_stream_id"), (".flv", "bad_stream_id")]
        {
            assert_eq!(MediaUrl::from_http(app, file, query).unwrap_err().code(), code, "{file}");
        }
        assert_eq!(MediaUrl::from_http("nine", "cam.flv", query).unwrap_err().code(), "unknown_app");
    }

    #[test]
    fn whip_urls_round_trip() {
        let url = claims(MediaAction::Publish, 100);
        let whip = url.signed(&secret(), &bases(), MediaFormat::Whip);
        let rtmp = url.signed(&secret(), &bases(), MediaFormat::Rtmp);
        assert!(whip.starts_with("https://h/whip/9/cam?expire=100&user=u%261&room=r%201&sign="), "{whip}");
        assert_eq!(whip.split_once('?').unwrap().1, rtmp.split_once('?').unwrap().1, "one signed query");
        let (path, query) = whip.strip_prefix("https://h/whip/").unwrap().split_once('?').unwrap();
        let (app, stream) = path.split_once('/').unwrap();
        let unverified = MediaUrl::from_whip(app, stream, query).unwrap();
        assert_eq!(unverified.clone().verify(&secret(), 50).unwrap(), url);
        assert_eq!(unverified.verify(&secret(), 1000).unwrap_err().code(), "url_expired");
        let code = |app, stream, query| MediaUrl::from_whip(app, stream, query).unwrap_err().code();
        assert_eq!(code("nine", "cam", query), "unknown_app");
        assert_eq!(code("9", "a.b", query), "bad_stream_id");
        let play = MediaUrl { action: MediaAction::Play, ..url };
        let play_query = play.signed(&secret(), &bases(), MediaFormat::Flv).split_once('?').unwrap().1.to_owned();
        let forged = MediaUrl::from_whip("9", "cam", &play_query).unwrap().verify(&secret(), 50);
        assert_eq!(forged.unwrap_err().code(), "url_bad_signature", "a play URL does not publish");
        assert_eq!(
            MediaUrl::from_whip("9", "cam", "").unwrap().verify(&secret(), 50).unwrap_err().code(),
            "url_missing"
        );
    }

    #[test]
    fn whep_urls_round_trip_and_only_play() {
        let url = claims(MediaAction::Play, 100);
        let whep = url.signed(&secret(), &bases(), MediaFormat::Whep);
        let flv = url.signed(&secret(), &bases(), MediaFormat::Flv);
        assert!(whep.starts_with("https://h/whep/9/cam?expire=100&"), "{whep}");
        assert_eq!(whep.split_once('?').unwrap().1, flv.split_once('?').unwrap().1, "one signed query");
        let query = whep.split_once('?').unwrap().1;
        assert_eq!(MediaUrl::from_whep("9", "cam", query).unwrap().verify(&secret(), 50).unwrap(), url);
        let publish = MediaUrl { action: MediaAction::Publish, ..url };
        let publish_query =
            publish.signed(&secret(), &bases(), MediaFormat::Whip).split_once('?').unwrap().1.to_owned();
        let forged = MediaUrl::from_whep("9", "cam", &publish_query).unwrap().verify(&secret(), 50);
        assert_eq!(forged.unwrap_err().code(), "url_bad_signature", "a publish URL does not play");
        assert_eq!(MediaUrl::from_whep("9", "a/b", query).unwrap_err().code(), "bad_stream_id");
    }

    #[test]
    fn unsigned_options_are_read_apart_from_the_grant() {
        let url = claims(MediaAction::Publish, 2_000_000_000);
        let name = format!("{}&latency=350", rtmp_name(&url));
        let unverified = MediaUrl::from_rtmp("9", &name, MediaAction::Publish).unwrap();
        assert_eq!(unverified.option("latency").as_deref(), Some("350"));
        assert_eq!(unverified.option("lat"), None);
        let bad = MediaUrl::from_rtmp("9", &format!("{}&latency=%zz", rtmp_name(&url)), MediaAction::Publish).unwrap();
        assert_eq!(bad.option("latency").as_deref(), Some("%zz"), "badly escaped: as sent, to be refused");
        assert_eq!(unverified.clone().verify(&secret(), 1).unwrap(), url, "the option leaves the grant as signed");
    }

    #[test]
    fn escapes_round_trip() {
        for s in ["", "plain", "u&1 r=2?%", "名字"] {
            assert_eq!(percent_decode(&percent_encode(s)).as_deref(), Some(s));
        }
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }

    #[test]
    fn stream_ids() {
        assert!(is_stream_id("cam-1_A"));
        assert!(is_stream_id(&"a".repeat(MAX_STREAM_ID)));
        for bad in ["", "a b", "../x", "a.flv", &"a".repeat(MAX_STREAM_ID + 1)] {
            assert!(!is_stream_id(bad), "{bad}");
        }
    }
}
