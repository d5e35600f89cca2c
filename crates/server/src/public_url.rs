//! Public base addresses put into what Duet hands out (the engine's server address, media URLs):
//! each type checks its own scheme, so flags, env and config files share one validation.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use axum::http::Uri;
use serde::Deserialize;

fn parse(s: &str, schemes: &[&str], what: &str) -> Result<String, String> {
    let uri: Uri = s.parse().map_err(|_| format!("{what} `{s}` is not a URL"))?;
    let scheme = uri.scheme_str().unwrap_or_default();
    if !schemes.contains(&scheme) {
        return Err(format!(
            "{what} `{s}` must start with {}",
            schemes.iter().map(|s| format!("{s}://")).collect::<Vec<_>>().join(" or ")
        ));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{what} `{s}` has no host"));
    }
    if uri.query().is_some() {
        return Err(format!("{what} `{s}` must not have a query"));
    }
    Ok(s.trim_end_matches('/').to_owned())
}

macro_rules! public_url {
    ($(#[$doc:meta])* $name:ident, [$($scheme:literal),+], $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(String);

        impl $name {
            /// The URL text, without a trailing slash.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                parse(s, &[$($scheme),+], $what).map(Self)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

public_url!(
    /// The signaling address mini-programs pass to `new ZegoExpressEngine(appID, server)`, e.g. `wss://rtc.example.com/ws`.
    WsUrl, ["ws", "wss"], "public WebSocket URL"
);
public_url!(
    /// The base of issued RTMP URLs, e.g. `rtmp://rtc.example.com`.
    RtmpUrl, ["rtmp"], "public RTMP URL"
);
public_url!(
    /// The base of issued HTTP(S) URLs (HTTP-FLV, log upload), e.g. `https://rtc.example.com`.
    HttpUrl, ["http", "https"], "public HTTP URL"
);

/// The three bases, after defaults are filled in from the bound addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrls {
    /// Signaling WebSocket.
    pub ws: WsUrl,
    /// RTMP base.
    pub rtmp: RtmpUrl,
    /// HTTP(S) base.
    pub http: HttpUrl,
}

impl PublicUrls {
    /// The RTMP and HTTP bases media URLs are built on.
    pub fn media_bases(&self) -> duet_token::MediaBases {
        duet_token::MediaBases { rtmp: self.rtmp.as_str().to_owned(), http: self.http.as_str().to_owned() }
    }

    /// Fills the unset bases from the addresses Duet actually listens on.
    pub fn resolve(
        ws: Option<WsUrl>,
        rtmp: Option<RtmpUrl>,
        http: Option<HttpUrl>,
        http_addr: SocketAddr,
        rtmp_addr: SocketAddr,
        tls: bool,
    ) -> Self {
        let (h, r) = (reachable(http_addr), reachable(rtmp_addr));
        let (ws_scheme, http_scheme) = if tls { ("wss", "https") } else { ("ws", "http") };
        // Built from a socket address and a fixed scheme, these always parse.
        Self {
            ws: ws.unwrap_or_else(|| format!("{ws_scheme}://{h}/ws").parse().expect("valid ws URL")),
            rtmp: rtmp.unwrap_or_else(|| format!("rtmp://{r}").parse().expect("valid rtmp URL")),
            http: http.unwrap_or_else(|| format!("{http_scheme}://{h}").parse().expect("valid http URL")),
        }
    }
}

/// A wildcard bind address is not something a client can dial; use loopback in its place.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let mut a = addr;
    if a.ip().is_unspecified() {
        a.set_ip(if a.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_checked() {
        assert!("wss://rtc.example.com/ws".parse::<WsUrl>().is_ok());
        assert!("https://rtc.example.com/ws".parse::<WsUrl>().unwrap_err().contains("ws://"));
        assert!("rtmp://rtc.example.com/".parse::<RtmpUrl>().unwrap().as_str() == "rtmp://rtc.example.com");
        assert!("rtmp:///x".parse::<RtmpUrl>().is_err());
        assert!("https://x?y=1".parse::<HttpUrl>().is_err());
        assert!("not a url".parse::<HttpUrl>().is_err());
    }

    #[test]
    fn defaults_follow_bound_addresses_and_tls() {
        let u = PublicUrls::resolve(
            None,
            None,
            None,
            "0.0.0.0:8443".parse().unwrap(),
            "127.0.0.1:1935".parse().unwrap(),
            true,
        );
        assert_eq!(u.ws.as_str(), "wss://127.0.0.1:8443/ws");
        assert_eq!(u.http.as_str(), "https://127.0.0.1:8443");
        assert_eq!(u.rtmp.as_str(), "rtmp://127.0.0.1:1935");
        let given: WsUrl = "wss://rtc.example.com/ws".parse().unwrap();
        let u = PublicUrls::resolve(
            Some(given.clone()),
            None,
            None,
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            false,
        );
        assert_eq!(u.ws, given);
        assert_eq!(u.http.as_str(), "http://127.0.0.1:1");
    }
}
