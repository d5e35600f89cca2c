//! The RTMP handshake. Server side: C0+C1 in, S0+S1+S2 out, then C2 in. Client side (plain
//! handshake only): C0+C1 out, S0+S1+S2 in, then C2 (an echo of S1) out.
//!
//! Clients either send a plain C1 (answered with an echo in S2) or the digest handshake used by
//! Flash, librtmp (rtmpdump) and ffmpeg: C1 carries an HMAC-SHA256 digest keyed with the
//! "Genuine Adobe Flash Player 001" key at one of two positions. Then S1 must carry a server
//! digest and S2 must end with a digest derived from C1's, which those clients verify.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Size of C1, C2, S1, S2.
pub const PACKET: usize = 1536;
const DIGEST: usize = 32;

const CRUD: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57, 0x6E, 0xEC, 0x5D,
    0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];
const FP_NAME: &[u8] = b"Genuine Adobe Flash Player 001";
const FMS_NAME: &[u8] = b"Genuine Adobe Flash Media Server 001";

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Where the digest sits in a 1536-byte packet for a scheme whose offset field starts at `base`
/// (8 or 772).
fn digest_offset(packet: &[u8; PACKET], base: usize) -> usize {
    let sum: usize = packet[base..base + 4].iter().map(|&b| usize::from(b)).sum();
    sum % 728 + base + 4
}

fn digest_at(packet: &[u8; PACKET], offset: usize, key: &[u8]) -> [u8; DIGEST] {
    hmac(key, &[&packet[..offset], &packet[offset + DIGEST..]])
}

/// The client digest of C1 and the scheme base it was found at, when C1 has one.
fn client_digest(c1: &[u8; PACKET]) -> Option<([u8; DIGEST], usize)> {
    let fp_key = FP_NAME;
    [772, 8].into_iter().find_map(|base| {
        let offset = digest_offset(c1, base);
        let expected = digest_at(c1, offset, fp_key);
        let found: [u8; DIGEST] = c1[offset..offset + DIGEST].try_into().expect("32 bytes");
        (expected == found).then_some((found, base))
    })
}

/// Builds S0+S1+S2 for a C1. `random` fills S1 and S2.
pub fn respond(c1: &[u8; PACKET], random: &[u8; PACKET]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 2 * PACKET);
    out.push(3);
    let mut s1 = *random;
    s1[..4].copy_from_slice(&[0; 4]);
    match client_digest(c1) {
        None => {
            // Plain handshake: version zero, and S2 echoes C1.
            s1[4..8].copy_from_slice(&[0; 4]);
            out.extend_from_slice(&s1);
            out.extend_from_slice(c1);
        }
        Some((c1_digest, base)) => {
            s1[4..8].copy_from_slice(&[4, 5, 0, 1]);
            let offset = digest_offset(&s1, base);
            let d = digest_at(&s1, offset, FMS_NAME);
            s1[offset..offset + DIGEST].copy_from_slice(&d);
            out.extend_from_slice(&s1);

            let mut s2 = *random;
            s2.reverse();
            let full_fms_key = [FMS_NAME, &CRUD[..]].concat();
            let key = hmac(&full_fms_key, &[&c1_digest]);
            let sig = hmac(&key, &[&s2[..PACKET - DIGEST]]);
            s2[PACKET - DIGEST..].copy_from_slice(&sig);
            out.extend_from_slice(&s2);
        }
    }
    out
}

/// C0+C1 of a client's plain handshake: version 3, time and zero fields 0, then `random`.
pub fn client_hello(random: &[u8; PACKET]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + PACKET);
    out.push(3);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&random[8..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client-side digest C1, as librtmp and ffmpeg build it.
    fn digest_c1(base: usize) -> [u8; PACKET] {
        let mut c1 = [0u8; PACKET];
        for (i, b) in c1.iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        c1[4..8].copy_from_slice(&[9, 0, 124, 2]);
        let offset = digest_offset(&c1, base);
        let d = digest_at(&c1, offset, FP_NAME);
        c1[offset..offset + DIGEST].copy_from_slice(&d);
        c1
    }

    #[test]
    fn plain_c1_is_echoed() {
        let c1 = [0x55u8; PACKET];
        let out = respond(&c1, &[1; PACKET]);
        assert_eq!(out.len(), 1 + 2 * PACKET);
        assert_eq!(out[0], 3);
        assert_eq!(&out[5..9], &[0, 0, 0, 0]);
        assert_eq!(&out[1 + PACKET..], &c1[..]);
    }

    #[test]
    fn digest_c1_gets_verifiable_s1_and_s2() {
        for base in [8, 772] {
            let c1 = digest_c1(base);
            let (c1_digest, found_base) = client_digest(&c1).expect("digest found");
            assert_eq!(found_base, base);
            let out = respond(&c1, &[0x42; PACKET]);
            let s1: [u8; PACKET] = out[1..1 + PACKET].try_into().unwrap();
            // What a client checks: S1's digest with the FMS key at the same scheme...
            let offset = digest_offset(&s1, base);
            assert_eq!(&s1[offset..offset + DIGEST], &digest_at(&s1, offset, FMS_NAME)[..]);
            // ...and S2's trailing signature keyed from its own C1 digest.
            let s2 = &out[1 + PACKET..];
            let key = hmac(&[FMS_NAME, &CRUD[..]].concat(), &[&c1_digest]);
            assert_eq!(&s2[PACKET - DIGEST..], &hmac(&key, &[&s2[..PACKET - DIGEST]])[..]);
        }
    }
}
