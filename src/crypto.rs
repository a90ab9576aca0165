//! Keyed hashes, random tokens and constant-time comparison.

use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::key::SecretKey;

type HmacSha256 = Hmac<Sha256>;

/// The application's secret key, from which every keyed hash is derived.
/// Cloning shares the bytes.
#[derive(Clone)]
pub(crate) struct Keys {
    master: Arc<SecretSlice<u8>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

impl Keys {
    /// Keys over raw bytes of any length (unit tests; apps give a
    /// validated [`SecretKey`]).
    #[cfg(test)]
    pub(crate) fn new(master: SecretSlice<u8>) -> Self {
        Keys {
            master: Arc::new(master),
        }
    }

    /// HMAC-SHA-256 under the master key, domain-separated by `purpose`.
    pub(crate) fn mac(&self, purpose: &[u8], data: &[u8]) -> [u8; 32] {
        self.mac_parts(purpose, &[data])
    }

    /// Like [`mac`](Self::mac) over several length-prefixed parts.
    pub(crate) fn mac_parts(&self, purpose: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        // HMAC accepts keys of any length; this cannot fail.
        let mut m = match HmacSha256::new_from_slice(self.master.expose_secret()) {
            Ok(m) => m,
            Err(_) => return [0; 32],
        };
        m.update(&(purpose.len() as u64).to_be_bytes());
        m.update(purpose);
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// A state-store key for a secret token: `prefix:` + hex of its keyed hash.
    pub(crate) fn state_key(&self, prefix: &str, token: &[u8]) -> String {
        let h = self.mac(prefix.as_bytes(), token);
        format!("{prefix}:{}", data_encoding::HEXLOWER.encode(&h))
    }
}

impl From<&SecretKey> for Keys {
    fn from(key: &SecretKey) -> Self {
        Keys {
            master: key.bytes(),
        }
    }
}

/// `n` random bytes from the thread's CSPRNG (seeded from the OS).
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rng().fill_bytes(&mut b);
    b
}

/// Fills `buf` from the thread's CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) {
    rand::rng().fill_bytes(buf);
}

/// A random URL-safe token of `N` bytes of entropy.
pub(crate) fn random_token<const N: usize>() -> String {
    data_encoding::BASE64URL_NOPAD.encode(&random_bytes::<N>())
}

/// Constant-time equality of two byte strings.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answers (computed outside this crate, with Python's `hmac`):
    /// stored keyed hashes must stay the same across `hmac`/`sha2` releases.
    #[test]
    fn keyed_hashes_match_known_answers() {
        let keys = Keys::new(SecretSlice::from(b"test master key".to_vec()));
        assert_eq!(
            data_encoding::HEXLOWER.encode(&keys.mac_parts(b"purpose", &[b"a", b"bc"])),
            "e87eac1dac9fa79639bf60d4f19f002ce39d574fa631208fe766c7a8924a3b4b"
        );
        assert_eq!(
            keys.state_key("rc", b"token"),
            "rc:c89cbf00d5fa609573a30b33c473755e4ef54354e2d8b83ca71cd86d3ec6b31d"
        );
    }

    #[test]
    fn random_bytes_differ() {
        assert_ne!(random_bytes::<16>(), random_bytes::<16>());
        assert_eq!(random_token::<24>().len(), 32);
    }
}
