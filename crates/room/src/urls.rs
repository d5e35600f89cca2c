//! Signed media URLs for publish and play intents and for stream pushes.
//!
//! RTMP: `{rtmp_base}/{appID}/{streamID}?expire=E&user=U&room=R&sign=S`;
//! HTTP-FLV: `{http_base}/live/{appID}/{streamID}.flv?expire=E&user=U&room=R&sign=S`.
//! `sign` is `duet_token::MediaGrant::sign` over (app, stream, action, user, room, expire).

use duet_token::{AppSecret, MediaAction, MediaGrant};
use serde_json::{Value, json};

/// Where media is served, as clients dial it.
#[derive(Debug, Clone)]
pub struct UrlConfig {
    /// e.g. `rtmp://rtc.example.com`.
    pub rtmp_base: String,
    /// e.g. `https://rtc.example.com`.
    pub http_base: String,
    /// Lifetime of issued URLs, seconds.
    pub ttl_secs: u64,
}

impl UrlConfig {
    /// Builds a signed URL: RTMP for publish, RTMP or FLV (`flv`) for play.
    pub fn signed(&self, secret: &AppSecret, grant: &MediaGrant<'_>, flv: bool) -> String {
        let sign = grant.sign(secret);
        let (user, room) = (percent_encode(grant.user_id), percent_encode(grant.room_id));
        let q = format!("expire={}&user={user}&room={room}&sign={sign}", grant.expire);
        let (app_id, stream_id) = (grant.app_id, grant.stream_id);
        if flv {
            format!("{}/live/{app_id}/{stream_id}.flv?{q}", self.http_base)
        } else {
            format!("{}/{app_id}/{stream_id}?{q}", self.rtmp_base)
        }
    }

    /// The RTMP URL `<live-pusher>` pushes to (the room comes from the reservation).
    pub fn publish(&self, secret: &AppSecret, app_id: u32, stream_id: &str, user_id: &str, now_unix: u64) -> String {
        let expire = now_unix + self.ttl_secs;
        let grant = MediaGrant { app_id, stream_id, action: MediaAction::Publish, user_id, room_id: "", expire };
        self.signed(secret, &grant, false)
    }

    /// Play URLs as the stream object fields `urlsRTMP`, `urlsFLV`, `urlsHttpsFLV`, `urlsHLS`, `urlsHttpsHLS`.
    pub fn play(&self, secret: &AppSecret, app_id: u32, stream_id: &str, user_id: &str, now_unix: u64) -> Value {
        let expire = now_unix + self.ttl_secs;
        let grant = MediaGrant { app_id, stream_id, action: MediaAction::Play, user_id, room_id: "", expire };
        let rtmp = self.signed(secret, &grant, false);
        let flv = self.signed(secret, &grant, true);
        let https = self.http_base.starts_with("https://");
        let (flv_plain, flv_tls): (Vec<String>, Vec<String>) =
            if https { (vec![], vec![flv]) } else { (vec![flv], vec![]) };
        json!({"urlsRTMP": [rtmp], "urlsFLV": flv_plain, "urlsHttpsFLV": flv_tls, "urlsHLS": [], "urlsHttpsHLS": []})
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_a_verifiable_signature() {
        let cfg = UrlConfig { rtmp_base: "rtmp://h:1935".into(), http_base: "https://h".into(), ttl_secs: 60 };
        let secret = AppSecret::new("fa94dd0f974cf2e293728a526b028271").unwrap();
        let url = cfg.publish(&secret, 7, "s1", "u&1", 1000);
        assert!(url.starts_with("rtmp://h:1935/7/s1?expire=1060&user=u%261&room=&sign="), "{url}");
        let sign = url.rsplit("sign=").next().unwrap();
        let grant = MediaGrant {
            app_id: 7,
            stream_id: "s1",
            action: MediaAction::Publish,
            user_id: "u&1",
            room_id: "",
            expire: 1060,
        };
        assert_eq!(grant.verify(&secret, sign, 1000), Ok(()));
        let play = cfg.play(&secret, 7, "s1", "", 1000);
        assert_eq!(play["urlsFLV"], json!([]));
        assert!(
            play["urlsHttpsFLV"][0]
                .as_str()
                .unwrap()
                .starts_with("https://h/live/7/s1.flv?expire=1060&user=&room=&sign=")
        );
    }
}
