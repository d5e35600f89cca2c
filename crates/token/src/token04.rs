//! token04: the token format business servers already mint, verified and minted here.
//!
//! `"04" + base64(expire: i64 BE | ivLen: u16 BE | iv | ctLen: u16 BE | ciphertext [| mode: u8])`.
//! Two ciphers exist in the published generators, both keyed with the 32-byte ServerSecret:
//! - [`Cipher::Cbc`]: AES-256-CBC, PKCS#7, 16-byte IV, no mode byte (the older generators);
//! - [`Cipher::Gcm`]: AES-256-GCM, 12-byte nonce, 16-byte tag after the ciphertext, mode byte 1.
//!
//! The plaintext is JSON `{app_id, user_id, nonce, ctime, expire, payload}` in any field order.
//! Verification accepts a token while `now <= expire + CLOCK_SKEW_SECS`.

use aes::Aes256;
use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use serde::{Deserialize, Serialize};

use crate::error::{MintError, TokenError};
use crate::grant::Grant;
use crate::secret::AppSecret;

/// Seconds a token stays valid after its `expire`, to absorb clock differences between the
/// business server that minted it and Duet.
pub const CLOCK_SKEW_SECS: i64 = 30;

/// Longest token text accepted; anything longer is refused before decoding.
pub const MAX_TOKEN_LEN: usize = 8192;

const VERSION: &str = "04";
const CBC_IV_LEN: usize = 16;
const GCM_NONCE_LEN: usize = 12;
const GCM_TAG_LEN: usize = 16;
const MODE_GCM: u8 = 1;

/// Which cipher sealed a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cipher {
    /// AES-256-CBC with PKCS#7 padding (older generators; not authenticated).
    Cbc,
    /// AES-256-GCM (current generators; authenticated).
    Gcm,
}

/// A verified token's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The AppID it was minted for.
    pub app_id: u32,
    /// The userID it was minted for.
    pub user_id: String,
    /// The generator's random nonce.
    pub nonce: i64,
    /// Creation time, unix seconds.
    pub ctime: i64,
    /// Expiry, unix seconds.
    pub expire: i64,
    /// The payload string exactly as minted.
    pub payload: String,
    /// The rights the payload grants.
    pub grant: Grant,
    /// The cipher that sealed it.
    pub cipher: Cipher,
}

impl Claims {
    /// Checks the token belongs to `user_id`.
    pub fn ensure_user(&self, user_id: &str) -> Result<(), TokenError> {
        if self.user_id == user_id { Ok(()) } else { Err(TokenError::UserMismatch) }
    }

    /// Checks the token is still valid at `now_unix`, as [`verify`] did when it was verified
    /// (for claims verified a moment earlier, elsewhere).
    pub fn ensure_unexpired(&self, now_unix: i64) -> Result<(), TokenError> {
        ensure_unexpired(self.expire, now_unix)
    }
}

/// A token expiring at `expire` is refused after it, plus the clock-skew allowance.
fn ensure_unexpired(expire: i64, now_unix: i64) -> Result<(), TokenError> {
    if now_unix > expire.saturating_add(CLOCK_SKEW_SECS) { Err(TokenError::Expired { expire }) } else { Ok(()) }
}

/// The plaintext JSON. Field order when minting follows the published Node generator.
#[derive(Serialize, Deserialize)]
struct Plaintext {
    app_id: u32,
    user_id: String,
    nonce: i64,
    ctime: i64,
    expire: i64,
    #[serde(default)]
    payload: String,
}

/// What a caller asks to mint.
#[derive(Debug, Clone)]
pub struct MintRequest<'a> {
    /// AppID (non-zero).
    pub app_id: u32,
    /// userID (non-empty).
    pub user_id: &'a str,
    /// The grant to encode as payload.
    pub grant: &'a Grant,
    /// Creation time, unix seconds.
    pub ctime: i64,
    /// Lifetime in seconds.
    pub ttl_secs: u32,
    /// Random nonce.
    pub nonce: i32,
    /// Cipher to seal with.
    pub cipher: Cipher,
}

/// Mints a token04. `random` supplies the IV (CBC) or nonce (GCM, its first 12 bytes).
pub fn mint(req: &MintRequest<'_>, secret: &AppSecret, random: [u8; 16]) -> Result<String, MintError> {
    if req.app_id == 0 {
        return Err(MintError::ZeroAppId);
    }
    if req.user_id.is_empty() {
        return Err(MintError::EmptyUserId);
    }
    if req.ttl_secs == 0 {
        return Err(MintError::ZeroTtl);
    }
    let expire = req.ctime.checked_add(i64::from(req.ttl_secs)).ok_or(MintError::Overflow)?;
    let plain = Plaintext {
        app_id: req.app_id,
        user_id: req.user_id.to_owned(),
        nonce: i64::from(req.nonce),
        ctime: req.ctime,
        expire,
        payload: req.grant.to_payload(),
    };
    // Strings and integers always serialize.
    let plain = serde_json::to_vec(&plain).expect("plaintext serializes");
    let key = secret.key_bytes();
    let (iv, sealed, mode): (&[u8], Vec<u8>, Option<u8>) = match req.cipher {
        Cipher::Cbc => {
            let enc = cbc::Encryptor::<Aes256>::new(key.into(), (&random).into());
            (&random[..], enc.encrypt_padded_vec::<Pkcs7>(&plain), None)
        }
        Cipher::Gcm => {
            let nonce = &random[..GCM_NONCE_LEN];
            let aead = Aes256Gcm::new(key.into());
            // Encryption with a valid key and nonce only fails on absurd (>64 GiB) inputs.
            let sealed = aead
                .encrypt(nonce.try_into().expect("12-byte nonce"), plain.as_slice())
                .expect("GCM seals small plaintexts");
            (nonce, sealed, Some(MODE_GCM))
        }
    };
    let ct_len = u16::try_from(sealed.len()).map_err(|_| MintError::TooLarge)?;
    let mut bin = Vec::with_capacity(8 + 2 + iv.len() + 2 + sealed.len() + 1);
    bin.extend_from_slice(&expire.to_be_bytes());
    bin.extend_from_slice(&(iv.len() as u16).to_be_bytes());
    bin.extend_from_slice(iv);
    bin.extend_from_slice(&ct_len.to_be_bytes());
    bin.extend_from_slice(&sealed);
    bin.extend(mode);
    Ok(format!("{VERSION}{}", BASE64.encode(bin)))
}

/// Verifies a token for `app_id` with that app's secret at `now_unix`, returning its claims.
///
/// The caller then checks the user ([`Claims::ensure_user`]) and the action
/// ([`Grant::ensure_login`], [`Grant::ensure_publish`]).
pub fn verify(token: &str, app_id: u32, secret: &AppSecret, now_unix: i64) -> Result<Claims, TokenError> {
    let envelope = Envelope::parse(token)?;
    let plain = envelope.open(secret)?;
    let raw: Plaintext = serde_json::from_slice(&plain).map_err(|_| match envelope.cipher {
        // CBC is not authenticated: garbage after a "successful" unpad means a wrong key or an
        // altered token, not a generator bug.
        Cipher::Cbc => TokenError::BadSignature,
        Cipher::Gcm => TokenError::Malformed("sealed content is not the documented JSON"),
    })?;
    if raw.expire != envelope.expire {
        // The clear-text expiry was altered (or the generator is broken).
        return Err(TokenError::BadSignature);
    }
    if raw.app_id != app_id {
        return Err(TokenError::WrongApp { expected: app_id, found: raw.app_id });
    }
    ensure_unexpired(raw.expire, now_unix)?;
    let grant = Grant::from_payload(&raw.payload)?;
    Ok(Claims {
        app_id: raw.app_id,
        user_id: raw.user_id,
        nonce: raw.nonce,
        ctime: raw.ctime,
        expire: raw.expire,
        payload: raw.payload,
        grant,
        cipher: envelope.cipher,
    })
}

/// The binary layout of a token, before decryption.
struct Envelope {
    expire: i64,
    iv: Vec<u8>,
    sealed: Vec<u8>,
    cipher: Cipher,
}

impl Envelope {
    fn parse(token: &str) -> Result<Self, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed("longer than 8192 characters"));
        }
        let body = token.strip_prefix(VERSION).ok_or(TokenError::Malformed("does not start with \"04\""))?;
        let bin = BASE64.decode(body).map_err(|_| TokenError::Malformed("not canonical base64 after \"04\""))?;
        let mut r = Reader(&bin);
        let expire = i64::from_be_bytes(r.take(8)?.try_into().expect("8 bytes"));
        let iv_len = usize::from(r.u16()?);
        let iv = r.take(iv_len)?.to_vec();
        let ct_len = usize::from(r.u16()?);
        let sealed = r.take(ct_len)?.to_vec();
        let cipher = match (r.0, iv_len) {
            ([], CBC_IV_LEN) => Cipher::Cbc,
            ([MODE_GCM], GCM_NONCE_LEN) => Cipher::Gcm,
            ([] | [MODE_GCM], _) => return Err(TokenError::Malformed("IV length does not match the cipher")),
            _ => return Err(TokenError::Malformed("unknown cipher mode or trailing bytes")),
        };
        let sealed_ok = match cipher {
            Cipher::Cbc => !sealed.is_empty() && sealed.len() % 16 == 0,
            Cipher::Gcm => sealed.len() > GCM_TAG_LEN,
        };
        if !sealed_ok {
            return Err(TokenError::Malformed("ciphertext length is impossible for the cipher"));
        }
        Ok(Self { expire, iv, sealed, cipher })
    }

    fn open(&self, secret: &AppSecret) -> Result<Vec<u8>, TokenError> {
        let key = secret.key_bytes();
        match self.cipher {
            Cipher::Cbc => {
                let iv: &[u8; CBC_IV_LEN] = self.iv.as_slice().try_into().expect("checked in parse");
                cbc::Decryptor::<Aes256>::new(key.into(), iv.into())
                    .decrypt_padded_vec::<Pkcs7>(&self.sealed)
                    .map_err(|_| TokenError::BadSignature)
            }
            Cipher::Gcm => {
                let nonce: &[u8; GCM_NONCE_LEN] = self.iv.as_slice().try_into().expect("checked in parse");
                Aes256Gcm::new(key.into())
                    .decrypt(nonce.into(), self.sealed.as_slice())
                    .map_err(|_| TokenError::BadSignature)
            }
        }
    }
}

/// A cursor over the decoded token bytes that reports truncation as `Malformed`.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TokenError> {
        if self.0.len() < n {
            return Err(TokenError::Malformed("truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16, TokenError> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
}
