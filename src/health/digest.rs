//! keepalived's `digest`: the MD5 of an HTTP response body, written as the 32 hex digits its
//! `genhash` tool prints.
//!
//! What is hashed is what keepalived hashes (check_http.c, `http_process_response`): the bytes
//! after the header block, up to `Content-Length` when the response has one, else to the end of
//! the connection — the body as sent, not decoded. MD5 is only a fingerprint here (the real server
//! is trusted to be itself), which is why keepalived's format is kept rather than a stronger hash.

use std::fmt;

use md5::{Digest as _, Md5};

/// An MD5 digest of a response body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyDigest(pub [u8; 16]);

impl BodyDigest {
    /// Reads genhash's form: 32 hex digits, either case.
    pub fn from_hex(text: &str) -> Result<BodyDigest, String> {
        if text.len() != 32 {
            return Err(format!("bad digest {text:?}: expected 32 hex digits (genhash's output), got {}", text.len()));
        }
        let mut bytes = [0u8; 16];
        for (index, byte) in bytes.iter_mut().enumerate() {
            let pair = text.get(2 * index..2 * index + 2).unwrap_or("");
            *byte =
                u8::from_str_radix(pair, 16).map_err(|_| format!("bad digest {text:?}: {pair:?} is not a hex byte"))?;
        }
        Ok(BodyDigest(bytes))
    }

    /// The digest of `body` in one piece.
    pub fn of(body: &[u8]) -> BodyDigest {
        let mut hasher = BodyHasher::new();
        hasher.update(body);
        hasher.finish()
    }
}

/// Lowercase hex, as genhash prints it.
impl fmt::Display for BodyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// A body digest computed as the body streams in.
#[derive(Clone, Default)]
pub struct BodyHasher(Md5);

impl BodyHasher {
    pub fn new() -> BodyHasher {
        BodyHasher(Md5::new())
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> BodyDigest {
        BodyDigest(self.0.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1321's test suite, and the lab's real-server body ("rs1\n", what scripts/http-rs.py
    /// answers on rs1), whose digest was computed apart with Python's hashlib.md5 — what
    /// `genhash -s 10.0.0.11 -p 80 -u /` prints for it.
    #[test]
    fn digests_match_rfc_1321_and_genhash() {
        let cases: [(&[u8], &str); 5] = [
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (b"rs1\n", "7a6c0d2ef5a9e6e1776090916c66ba3a"),
            (b"rs2\n", "f1743bfe5e2cd7630e74f90e32d8f651"),
        ];
        for (body, hex) in cases {
            assert_eq!(BodyDigest::of(body).to_string(), hex, "{body:?}");
            assert_eq!(BodyDigest::from_hex(hex), Ok(BodyDigest::of(body)));
        }
        // Streamed in pieces, the same digest.
        let mut hasher = BodyHasher::new();
        for piece in [&b"mess"[..], b"age ", b"", b"digest"] {
            hasher.update(piece);
        }
        assert_eq!(hasher.finish(), BodyDigest::of(b"message digest"));
    }

    #[test]
    fn hex_is_32_digits_of_either_case() {
        assert_eq!(
            BodyDigest::from_hex("7A6C0D2EF5A9E6E1776090916C66BA3A").unwrap().to_string(),
            "7a6c0d2ef5a9e6e1776090916c66ba3a"
        );
        assert!(BodyDigest::from_hex("7a6c0d2e").unwrap_err().contains("32 hex digits"));
        assert!(BodyDigest::from_hex("7a6c0d2ef5a9e6e1776090916c66ba3g").unwrap_err().contains("\"3g\""));
        assert!(BodyDigest::from_hex("é7a6c0d2ef5a9e6e1776090916c66ba").is_err());
    }
}
