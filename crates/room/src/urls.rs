//! The play and publish URLs signaling hands out: for a publish intent, the RTMP URL
//! `<live-pusher>` pushes to; for play intents and stream objects, the URL fields of COMPAT's
//! stream object (`urlsRTMP`, `urlsFLV`, `urlsHttpsFLV`, `urlsHLS`, `urlsHttpsHLS`). Each URL
//! is built and signed by `duet_token::MediaUrl`, which owns their form.

use duet_token::{AppSecret, MediaAction, MediaBases, MediaFormat, MediaUrl};
use serde_json::{Value, json};

/// The signed URLs of one publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishUrls {
    /// For `<live-pusher>`, OBS, ffmpeg.
    pub rtmp: String,
    /// For browsers (WHIP, RFC 9725).
    pub whip: String,
}

/// Where media is served, as clients dial it, and how long issued URLs live.
#[derive(Debug, Clone)]
pub struct UrlConfig {
    /// Public RTMP and HTTP bases.
    pub bases: MediaBases,
    /// Lifetime of issued URLs, seconds.
    pub ttl_secs: u64,
}

impl UrlConfig {
    fn claims(&self, app_id: u32, stream_id: &str, action: MediaAction, user_id: &str, now_unix: u64) -> MediaUrl {
        MediaUrl {
            app_id,
            stream_id: stream_id.to_owned(),
            action,
            user_id: user_id.to_owned(),
            room_id: String::new(),
            expire: now_unix + self.ttl_secs,
        }
    }

    /// The URLs a publisher pushes to (the room comes from the reservation): RTMP for
    /// `<live-pusher>` and encoders, WHIP for browsers.
    pub fn publish(
        &self,
        secret: &AppSecret,
        app_id: u32,
        stream_id: &str,
        user_id: &str,
        now_unix: u64,
    ) -> PublishUrls {
        let url = self.claims(app_id, stream_id, MediaAction::Publish, user_id, now_unix);
        PublishUrls {
            rtmp: url.signed(secret, &self.bases, MediaFormat::Rtmp),
            whip: url.signed(secret, &self.bases, MediaFormat::Whip),
        }
    }

    /// Play URLs as the stream object fields `urlsRTMP`, `urlsFLV`, `urlsHttpsFLV`, `urlsHLS`,
    /// `urlsHttpsHLS`, and Duet's `whepURL` for browsers (WebRTC).
    pub fn play(&self, secret: &AppSecret, app_id: u32, stream_id: &str, user_id: &str, now_unix: u64) -> Value {
        let url = self.claims(app_id, stream_id, MediaAction::Play, user_id, now_unix);
        let rtmp = url.signed(secret, &self.bases, MediaFormat::Rtmp);
        let flv = url.signed(secret, &self.bases, MediaFormat::Flv);
        let https = self.bases.http.starts_with("https://");
        let (flv_plain, flv_tls): (Vec<String>, Vec<String>) =
            if https { (vec![], vec![flv]) } else { (vec![flv], vec![]) };
        let whep = url.signed(secret, &self.bases, MediaFormat::Whep);
        json!({"urlsRTMP": [rtmp], "urlsFLV": flv_plain, "urlsHttpsFLV": flv_tls, "urlsHLS": [], "urlsHttpsHLS": [], "whepURL": whep})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_a_verifiable_signature() {
        let bases = MediaBases { rtmp: "rtmp://h:1935".into(), http: "https://h".into() };
        let cfg = UrlConfig { bases, ttl_secs: 60 };
        let secret = AppSecret::new("fa94dd0f974cf2e293728a526b028271").unwrap();
        let urls = cfg.publish(&secret, 7, "s1", "u&1", 1000);
        let url = urls.rtmp;
        assert!(url.starts_with("rtmp://h:1935/7/s1?expire=1060&user=u%261&room=&sign="), "{url}");
        assert!(urls.whip.starts_with("https://h/whip/7/s1?expire=1060&user=u%261&room=&sign="), "{}", urls.whip);
        let name = url.strip_prefix("rtmp://h:1935/7/").unwrap();
        let verified = MediaUrl::from_rtmp("7", name, MediaAction::Publish).unwrap().verify(&secret, 1000).unwrap();
        assert_eq!((verified.user_id.as_str(), verified.expire), ("u&1", 1060));
        let play = cfg.play(&secret, 7, "s1", "", 1000);
        assert_eq!(play["urlsFLV"], json!([]));
        assert!(
            play["urlsHttpsFLV"][0]
                .as_str()
                .unwrap()
                .starts_with("https://h/live/7/s1.flv?expire=1060&user=&room=&sign=")
        );
        assert!(play["whepURL"].as_str().unwrap().starts_with("https://h/whep/7/s1?expire=1060&user=&room=&sign="));
    }
}
