//! Tokens minted by an independent implementation of the published generators' layouts
//! (scripts/gen-token04-vectors.mjs: Node's crypto, field orders and JSON escaping of the Go,
//! Node, Python, PHP, Java and C# generators, both CBC and GCM) must verify here.

use duet_token::{AppSecret, Cipher, Grant, TokenError, verify};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vector {
    name: String,
    layout: String,
    app_id: u32,
    secret: String,
    user_id: String,
    ctime: i64,
    expire: i64,
    nonce: i64,
    payload: String,
    token: String,
}

fn vectors() -> Vec<Vector> {
    serde_json::from_str(include_str!("data/token04_vectors.json")).expect("vector file parses")
}

#[test]
fn every_published_layout_verifies() {
    let vectors = vectors();
    assert!(vectors.len() >= 15);
    let mut checked = 0;
    for v in vectors.iter().filter(|v| v.expire > 2_000_000_000) {
        let secret = AppSecret::new(&v.secret).unwrap();
        let c = verify(&v.token, v.app_id, &secret, v.ctime + 1).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(c.app_id, v.app_id, "{}", v.name);
        assert_eq!(c.user_id, v.user_id, "{}", v.name);
        assert_eq!((c.ctime, c.expire, c.nonce), (v.ctime, v.expire, v.nonce), "{}", v.name);
        assert_eq!(c.payload, v.payload, "{}", v.name);
        assert_eq!(c.grant, Grant::from_payload(&v.payload).unwrap(), "{}", v.name);
        let expected_cipher = if v.layout == "gcm" { Cipher::Gcm } else { Cipher::Cbc };
        assert_eq!(c.cipher, expected_cipher, "{}", v.name);
        checked += 1;
    }
    assert!(checked >= 14, "only {checked} valid vectors");
}

#[test]
fn vectors_are_refused_when_expired_or_for_another_secret_or_app() {
    let other = AppSecret::new("00000000000000000000000000000000").unwrap();
    for v in vectors() {
        let secret = AppSecret::new(&v.secret).unwrap();
        assert_eq!(
            verify(&v.token, v.app_id, &secret, v.expire + 31),
            Err(TokenError::Expired { expire: v.expire }),
            "{}",
            v.name
        );
        assert_eq!(verify(&v.token, v.app_id, &other, v.ctime), Err(TokenError::BadSignature), "{}", v.name);
        let wrong_app = v.app_id.wrapping_add(1).max(1);
        assert_eq!(
            verify(&v.token, wrong_app, &secret, v.ctime),
            Err(TokenError::WrongApp { expected: wrong_app, found: v.app_id }),
            "{}",
            v.name
        );
    }
}

#[test]
fn published_room_payloads_grant_what_they_say() {
    let v = vectors().into_iter().find(|v| v.name == "cbc-node-room-payload").expect("vector present");
    let c = verify(&v.token, v.app_id, &AppSecret::new(&v.secret).unwrap(), v.ctime).unwrap();
    assert_eq!(c.grant.ensure_login("demo"), Ok(()));
    assert_eq!(c.grant.ensure_login("elsewhere"), Err(TokenError::RoomMismatch));
    assert_eq!(c.grant.ensure_publish("demo", "any"), Err(TokenError::PublishDenied));
}
