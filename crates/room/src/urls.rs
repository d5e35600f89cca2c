//! The play and publish URLs signaling hands out: for a publish intent, the RTMP URL
//! `<live-pusher>` pushes to; for play intents and stream objects, the URL fields of COMPAT's
//! stream object (`urlsRTMP`, `urlsFLV`, `urlsHttpsFLV`, `urlsHLS`, `urlsHttpsHLS`). Each URL
//! is built and signed by `duet_token::MediaUrl`, which owns their form.

use duet_token::{AppSecret, MediaAction, MediaBases, MediaFormat, MediaUrl};
use serde_json::{Value, json};

/// The play URL fields of a stream object ([`UrlConfig::play`]), each a URL or a list of URLs.
pub const PLAY_URL_FIELDS: [&str; 6] = ["urlsRTMP", "urlsFLV", "urlsHttpsFLV", "urlsHLS", "urlsHttpsHLS", "whepURL"];

/// A frame another node rendered (a reply or push of a room whose home it is), with the play
/// URLs it carries moved from that node's media bases `from` to `to`: a client plays from the
/// node it is connected to (which pulls the stream from its origin once). The signature does
/// not cover the host, so the URLs stay valid. Publish URLs are left alone: a room's streams
/// are published to its home. A play grant's `url` (beside its `urlsRTMP`) moves too. `None`
/// when nothing was moved.
pub fn rebase_play_urls(frame: &str, from: &MediaBases, to: &MediaBases) -> Option<String> {
    if (from.rtmp == to.rtmp && from.http == to.http) || !(frame.contains(&from.rtmp) || frame.contains(&from.http)) {
        return None;
    }
    let mut value: Value = serde_json::from_str(frame).ok()?;
    let moves =
        [(format!("{}/", from.rtmp), format!("{}/", to.rtmp)), (format!("{}/", from.http), format!("{}/", to.http))];
    rebase_in(&mut value, &moves).then(|| value.to_string())
}

/// Moves the play URLs anywhere in `value`; true when one moved.
fn rebase_in(value: &mut Value, moves: &[(String, String); 2]) -> bool {
    let rebase = |url: &mut Value| {
        let Some(text) = url.as_str() else { return false };
        match moves.iter().find(|(from, _)| text.starts_with(from.as_str())) {
            Some((from, to)) => {
                *url = Value::String(format!("{to}{}", &text[from.len()..]));
                true
            }
            None => false,
        }
    };
    let mut moved = false;
    match value {
        Value::Object(map) => {
            // A play grant (the `play` reply) repeats its first RTMP URL as `url`.
            let grant = map.contains_key("urlsRTMP");
            for (key, field) in map.iter_mut() {
                if PLAY_URL_FIELDS.contains(&key.as_str()) || (grant && key == "url") {
                    match field {
                        Value::Array(urls) => urls.iter_mut().for_each(|u| moved |= rebase(u)),
                        url => moved |= rebase(url),
                    }
                } else {
                    moved |= rebase_in(field, moves);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| moved |= rebase_in(v, moves)),
        _ => {}
    }
    moved
}

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
        let hls = url.signed(secret, &self.bases, MediaFormat::Hls);
        let (hls_plain, hls_tls): (Vec<String>, Vec<String>) =
            if https { (vec![], vec![hls]) } else { (vec![hls], vec![]) };
        let whep = url.signed(secret, &self.bases, MediaFormat::Whep);
        json!({"urlsRTMP": [rtmp], "urlsFLV": flv_plain, "urlsHttpsFLV": flv_tls, "urlsHLS": hls_plain, "urlsHttpsHLS": hls_tls, "whepURL": whep})
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
        let mut fields: Vec<&str> = play.as_object().unwrap().keys().map(String::as_str).collect();
        let mut named = PLAY_URL_FIELDS.to_vec();
        fields.sort_unstable();
        named.sort_unstable();
        assert_eq!(fields, named, "PLAY_URL_FIELDS names every play URL field");
    }

    #[test]
    fn play_urls_move_to_another_node_and_publish_urls_stay() {
        let home = MediaBases { rtmp: "rtmp://a:1935".into(), http: "http://a:8080".into() };
        let here = MediaBases { rtmp: "rtmp://b:1936".into(), http: "https://b".into() };
        let secret = AppSecret::new("fa94dd0f974cf2e293728a526b028271").unwrap();
        let cfg = UrlConfig { bases: home.clone(), ttl_secs: 60 };
        let stream = cfg.play(&secret, 7, "s1", "", 1000);
        let publish = cfg.publish(&secret, 7, "s2", "u", 1000);
        let mut grant = stream.clone();
        grant["url"] = grant["urlsRTMP"][0].clone();
        let frame = json!({"push": "roomStreamUpdate", "seq": 3, "data": {"streamList": [stream],
            "publish": {"url": publish.rtmp, "whipURL": publish.whip}, "note": "rtmp://a:1935/x", "grant": grant}})
        .to_string();
        let moved: Value = serde_json::from_str(&rebase_play_urls(&frame, &home, &here).unwrap()).unwrap();
        let s = &moved["data"]["streamList"][0];
        assert!(s["urlsRTMP"][0].as_str().unwrap().starts_with("rtmp://b:1936/7/s1?"), "{s}");
        assert!(s["urlsFLV"][0].as_str().unwrap().starts_with("https://b/live/7/s1.flv?"), "{s}");
        assert!(s["whepURL"].as_str().unwrap().starts_with("https://b/whep/7/s1?"), "{s}");
        let signed = |v: &Value| v.as_str().unwrap().split_once('?').unwrap().1.to_owned();
        assert_eq!(signed(&s["urlsRTMP"][0]), signed(&stream["urlsRTMP"][0]), "the signature is kept");
        assert_eq!(moved["data"]["publish"]["url"], publish.rtmp.as_str());
        assert!(moved["data"]["grant"]["url"].as_str().unwrap().starts_with("rtmp://b:1936/7/s1?"), "{moved}");
        assert_eq!(moved["data"]["note"], "rtmp://a:1935/x");
        assert_eq!(moved["seq"], 3);
        assert_eq!(rebase_play_urls(r#"{"push":"roomUserUpdate"}"#, &home, &here), None);
        assert_eq!(rebase_play_urls(&frame, &home, &home), None);
    }
}
