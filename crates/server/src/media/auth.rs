//! Checking signed media URLs at the media edge (RTMP publish/play, HTTP-FLV): parse the stream
//! name and query, then verify the signature with the app's secret. Every refusal has a code
//! for the log and metrics.

use duet_token::{AppSecret, MediaAction, MediaGrant};

/// A verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The stream.
    pub stream_id: String,
    /// The user the URL was issued to.
    pub user_id: String,
    /// The room the URL names (may be empty).
    pub room_id: String,
}

/// Why a media request was refused: a stable code and a message for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// `url_missing`, `url_malformed`, `url_bad_signature`, `url_expired`, `bad_stream_id`, `unknown_app`.
    pub code: &'static str,
    /// Detail.
    pub message: String,
}

fn refused(code: &'static str, message: impl Into<String>) -> Refused {
    Refused { code, message: message.into() }
}

/// Splits `stream?query` and reads `expire`, `user`, `room`, `sign` from the query.
pub fn parse(name_and_query: &str) -> Result<(String, Query), Refused> {
    let (name, query) = name_and_query.split_once('?').unwrap_or((name_and_query, ""));
    duet_room::limits::stream_id(name).map_err(|r| refused("bad_stream_id", r.message))?;
    Ok((name.to_owned(), Query::parse(query)?))
}

/// The signed fields of a media URL's query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    expire: u64,
    user: String,
    room: String,
    sign: String,
}

impl Query {
    /// Reads the query string (without `?`).
    pub fn parse(query: &str) -> Result<Self, Refused> {
        let mut q = Query::default();
        let mut expire = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v).ok_or_else(|| refused("url_malformed", format!("bad escape in {k}")))?;
            match k {
                "expire" => expire = Some(v.parse().map_err(|_| refused("url_malformed", "expire is not a number"))?),
                "user" => q.user = v,
                "room" => q.room = v,
                "sign" => q.sign = v,
                _ => {}
            }
        }
        match expire {
            Some(e) if !q.sign.is_empty() => {
                q.expire = e;
                Ok(q)
            }
            _ => Err(refused("url_missing", "the URL carries no signature (expire and sign)")),
        }
    }

    /// Verifies the signature for this app, stream and action at `now_unix`.
    pub fn verify(
        &self,
        secret: &AppSecret,
        app_id: u32,
        stream_id: &str,
        action: MediaAction,
        now_unix: u64,
    ) -> Result<Verified, Refused> {
        let grant =
            MediaGrant { app_id, stream_id, action, user_id: &self.user, room_id: &self.room, expire: self.expire };
        grant.verify(secret, &self.sign, now_unix).map_err(|e| refused(e.code(), e.to_string()))?;
        Ok(Verified { stream_id: stream_id.to_owned(), user_id: self.user.clone(), room_id: self.room.clone() })
    }
}

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

    fn url(action: MediaAction, expire: u64) -> String {
        let grant = MediaGrant { app_id: 9, stream_id: "cam", action, user_id: "u&1", room_id: "r 1", expire };
        format!("cam?expire={expire}&user=u%261&room=r%201&sign={}", grant.sign(&secret()))
    }

    #[test]
    fn accepts_what_it_signed_and_refuses_the_rest() {
        let (name, q) = parse(&url(MediaAction::Publish, 100)).unwrap();
        let v = q.verify(&secret(), 9, &name, MediaAction::Publish, 50).unwrap();
        assert_eq!((v.user_id.as_str(), v.room_id.as_str()), ("u&1", "r 1"));
        assert_eq!(q.verify(&secret(), 9, &name, MediaAction::Play, 50).unwrap_err().code, "url_bad_signature");
        assert_eq!(q.verify(&secret(), 8, &name, MediaAction::Publish, 50).unwrap_err().code, "url_bad_signature");
        assert_eq!(q.verify(&secret(), 9, &name, MediaAction::Publish, 1000).unwrap_err().code, "url_expired");
        assert_eq!(parse("cam").unwrap_err().code, "url_missing");
        assert_eq!(parse("cam?expire=x&sign=a").unwrap_err().code, "url_malformed");
        assert_eq!(parse("../x?expire=1&sign=a").unwrap_err().code, "bad_stream_id");
        assert_eq!(parse("cam?expire=1&sign=a&user=%zz").unwrap_err().code, "url_malformed");
        let forged = url(MediaAction::Publish, 100).replace("room=r%201", "room=r%202");
        let (name, q) = parse(&forged).unwrap();
        assert_eq!(q.verify(&secret(), 9, &name, MediaAction::Publish, 50).unwrap_err().code, "url_bad_signature");
    }
}
