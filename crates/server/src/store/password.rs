//! Console passwords: PBKDF2-HMAC-SHA256 with a random salt, compared in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Iterations for new hashes.
pub const ITERATIONS: u32 = 100_000;

/// PBKDF2-HMAC-SHA256 with one 32-byte block.
pub fn pbkdf2(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let prf = <Hmac<Sha256> as KeyInit>::new_from_slice(password.as_bytes()).expect("HMAC takes any key length");
    let mut mac = prf.clone();
    mac.update(salt);
    mac.update(&1u32.to_be_bytes());
    let mut u: [u8; 32] = mac.finalize().into_bytes().into();
    let mut out = u;
    for _ in 1..iterations {
        let mut mac = prf.clone();
        mac.update(&u);
        u = mac.finalize().into_bytes().into();
        for (o, b) in out.iter_mut().zip(u) {
            *o ^= b;
        }
    }
    out
}

/// Whether `password` matches a stored (salt, hash, iterations).
pub fn verify(password: &str, salt: &[u8], hash: &[u8], iterations: u32) -> bool {
    let computed = pbkdf2(password, salt, iterations);
    computed.len() == hash.len() && computed.iter().zip(hash).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// A random password people can type: 20 characters of lowercase letters and digits.
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    crate::os::random::<20>().iter().map(|b| char::from(ALPHABET[usize::from(b % 32)])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7914_vector() {
        // RFC 7914 section 11: PBKDF2-HMAC-SHA256 (P="passwd", S="salt", c=1), first 32 bytes.
        let dk = pbkdf2("passwd", b"salt", 1);
        assert_eq!(duet_token::hex(&dk), "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
    }

    #[test]
    fn verifies_only_the_right_password() {
        let h = pbkdf2("s3cret", b"0123456789abcdef", 10);
        assert!(verify("s3cret", b"0123456789abcdef", &h, 10));
        assert!(!verify("s3cret!", b"0123456789abcdef", &h, 10));
        assert!(!verify("s3cret", b"0123456789abcdeF", &h, 10));
        assert_eq!(generate().len(), 20);
    }
}
