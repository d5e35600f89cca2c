//! `AppSecret`: an app's ServerSecret, validated once and never printed by `Debug`.

use std::fmt;

use crate::error::SecretError;

/// Length in bytes of every ServerSecret (AES-256 key size).
pub const SECRET_LEN: usize = 32;

/// An app's ServerSecret: exactly 32 printable ASCII characters, used as raw key bytes.
///
/// `Debug` redacts the value so a secret never reaches a log by accident; call
/// [`AppSecret::expose`] where the value really must be shown (CLI output, console).
#[derive(Clone, PartialEq, Eq)]
pub struct AppSecret([u8; SECRET_LEN]);

impl AppSecret {
    /// Validates and wraps a ServerSecret.
    pub fn new(secret: &str) -> Result<Self, SecretError> {
        let bytes = secret.as_bytes();
        if bytes.len() != SECRET_LEN {
            return Err(SecretError::Length(secret.chars().count()));
        }
        if !bytes.iter().all(|b| b.is_ascii_graphic()) {
            return Err(SecretError::Charset);
        }
        let mut key = [0u8; SECRET_LEN];
        key.copy_from_slice(bytes);
        Ok(Self(key))
    }

    /// Builds a secret of 32 lowercase hex characters from 16 random bytes supplied by the caller.
    pub fn from_random(random: [u8; 16]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut key = [0u8; SECRET_LEN];
        for (i, b) in random.iter().enumerate() {
            key[2 * i] = HEX[usize::from(b >> 4)];
            key[2 * i + 1] = HEX[usize::from(b & 0x0f)];
        }
        Self(key)
    }

    /// The secret as text, for the places that must show it to its owner.
    pub fn expose(&self) -> &str {
        // The constructors only admit ASCII, so this cannot fail.
        std::str::from_utf8(&self.0).expect("AppSecret holds ASCII only")
    }

    pub(crate) fn key_bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }
}

impl fmt::Debug for AppSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppSecret(<redacted>)")
    }
}

impl std::str::FromStr for AppSecret {
    type Err = SecretError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_exactly_32_printable_ascii() {
        assert!(AppSecret::new("fa94dd0f974cf2e293728a526b028271").is_ok());
        assert_eq!(AppSecret::new("short"), Err(SecretError::Length(5)));
        assert_eq!(AppSecret::new(&"a".repeat(33)), Err(SecretError::Length(33)));
        assert_eq!(AppSecret::new(&format!("{} ", "a".repeat(31))), Err(SecretError::Charset));
        // 32 bytes but not ASCII: 16 two-byte characters.
        assert_eq!(AppSecret::new(&"é".repeat(16)), Err(SecretError::Charset));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let s = AppSecret::new("fa94dd0f974cf2e293728a526b028271").unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("fa94"), "{shown}");
    }

    #[test]
    fn from_random_is_hex() {
        let s = AppSecret::from_random([0xab; 16]);
        assert_eq!(s.expose(), "ab".repeat(16));
    }
}
