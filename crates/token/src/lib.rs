//! Duet's credentials: token04 (the tokens business servers mint for their users), signed
//! media URLs (what signaling hands out for RTMP/HTTP-FLV publish and play) and the log upload
//! credential a session's SDK presents to `POST /httplog` ([`LogGrant`]).
//!
//! No I/O and no clock: the current time (`now_unix`, seconds) and any randomness are
//! parameters, so every rule here is testable with fixed inputs.
//!
//! ```
//! use duet_token::{AppSecret, Cipher, Grant, MintRequest, mint, verify};
//!
//! let secret = AppSecret::new("fa94dd0f974cf2e293728a526b028271").unwrap();
//! let grant = Grant::everything();
//! let req = MintRequest { app_id: 1, user_id: "demo", grant: &grant, ctime: 1_790_000_000,
//!     ttl_secs: 3600, nonce: 7, cipher: Cipher::Gcm };
//! let token = mint(&req, &secret, [9; 16]).unwrap();
//!
//! let claims = verify(&token, 1, &secret, 1_790_000_100).unwrap();
//! claims.ensure_user("demo").unwrap();
//! claims.grant.ensure_login("any-room").unwrap();
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod api_auth;
mod error;
mod grant;
mod log_grant;
mod media_grant;
mod media_url;
mod secret;
mod token04;

pub use api_auth::{ApiRequest, hex, passed_on_proof, verify_passed_on, webhook_signature};
pub use error::{LogTokenError, MediaUrlError, MintError, SecretError, TokenError};
pub use grant::Grant;
pub use log_grant::{LOG_TOKEN_TTL_SECS, LogGrant};
pub use media_grant::{MediaAction, MediaGrant};
pub use media_url::{
    MAX_STREAM_ID, MediaBases, MediaFormat, MediaUrl, Unverified, WHEP_PREFIX, WHIP_PREFIX, is_stream_id,
    percent_encode,
};
pub use secret::{AppSecret, SECRET_LEN};
pub use token04::{CLOCK_SKEW_SECS, Cipher, Claims, MAX_TOKEN_LEN, MintRequest, mint, verify};
