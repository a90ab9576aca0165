//! [`SecretKey`]: the application's secret key, one type for every
//! component that needs it.

use std::fmt;
use std::sync::Arc;

use rand::Rng;
use secrecy::{ExposeSecret, SecretBox, SecretSlice, SecretString};

use crate::crypto::Keys;
use crate::error::Error;

/// The application's secret key: it keys every token and code hash of the
/// [`Authenticator`](crate::Authenticator), encrypts TOTP secrets at rest
/// (unless separate TOTP keys are given), and signs web sessions and CSRF
/// tokens. Every component derives its own independent key from it by
/// purpose, so one key serves them all.
///
/// Keep it stable across restarts and identical on every app instance:
/// a new key invalidates every stored token, recovery code and TOTP secret.
///
/// In an environment variable or a file the key is **hexadecimal**
/// ([`from_env`](Self::from_env), [`from_hex`](Self::from_hex)): 64 hex
/// characters for 32 bytes. Make one with `openssl rand -hex 32`, or
/// [`generate`](Self::generate) and [`to_hex`](Self::to_hex).
///
/// The bytes never show in `Debug` (there is no `Display`) and are wiped
/// from memory when the last clone is dropped. Cloning is cheap (a
/// reference count).
///
/// ```no_run
/// use twofa_verify::SecretKey;
/// let key = SecretKey::from_env("TWOFA_SECRET_KEY")?;
/// # Ok::<(), twofa_verify::SecretKeyError>(())
/// ```
///
/// ```
/// use twofa_verify::{SecretKey, SecretKeyError};
/// let key = SecretKey::from_hex("8f0e2c5a9b1d4e7f8f0e2c5a9b1d4e7f8f0e2c5a9b1d4e7f8f0e2c5a9b1d4e7f")?;
/// assert_eq!(format!("{key:?}"), "SecretKey([redacted])");
/// assert_eq!(SecretKey::from_hex("8f0e").unwrap_err(), SecretKeyError::TooShort { len: 2 });
/// # Ok::<(), SecretKeyError>(())
/// ```
#[derive(Clone)]
pub struct SecretKey(Arc<SecretSlice<u8>>);

/// Why a [`SecretKey`] was refused. No variant holds any of the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretKeyError {
    /// The environment variable is not set (or is empty).
    #[error("the environment variable {var} is not set: set it to {min} random bytes in hex (`openssl rand -hex {min}`)", min = SecretKey::MIN_LEN)]
    Missing {
        /// The variable's name.
        var: String,
    },
    /// The text is not valid in the expected encoding.
    #[error("the secret key is not valid {encoding}")]
    Encoding {
        /// The encoding expected: `"hexadecimal"` or `"base64"`.
        encoding: &'static str,
    },
    /// Fewer bytes than [`SecretKey::MIN_LEN`].
    #[error("the secret key is {len} bytes; it must be at least {min}", min = SecretKey::MIN_LEN)]
    TooShort {
        /// The key's length in bytes.
        len: usize,
    },
    /// Every byte is the same (a placeholder, not a random key).
    #[error("the secret key must be random, not one repeated byte")]
    NotRandom,
}

/// A key error is a configuration error of the app.
impl From<SecretKeyError> for Error {
    fn from(e: SecretKeyError) -> Self {
        Error::Config(e.to_string())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

impl SecretKey {
    /// The shortest key accepted, in bytes (256 bits); a shorter one is
    /// [`SecretKeyError::TooShort`] (see the [`SecretKey`] example).
    pub const MIN_LEN: usize = 32;

    /// A new random key of [`MIN_LEN`](Self::MIN_LEN) bytes from the
    /// operating system's CSPRNG. Store it (see [`to_hex`](Self::to_hex)):
    /// a key that changes at every start is only fit for tests and demos.
    ///
    /// ```
    /// use twofa_verify::SecretKey;
    /// use twofa_verify::secrecy::ExposeSecret;
    /// let key = SecretKey::generate();
    /// let saved = key.to_hex(); // write this to the app's secret store
    /// assert_eq!(saved.expose_secret().len(), 2 * SecretKey::MIN_LEN);
    /// let again = SecretKey::from_hex(saved.expose_secret())?;
    /// # let _ = again;
    /// # Ok::<(), twofa_verify::SecretKeyError>(())
    /// ```
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; Self::MIN_LEN];
        rand::rng().fill_bytes(&mut bytes);
        SecretKey(Arc::new(SecretSlice::from(bytes)))
    }

    /// The key `bytes`: at least [`MIN_LEN`](Self::MIN_LEN) of them, not
    /// all the same (a zeroed buffer is a forgotten key, not a key).
    ///
    /// ```
    /// use twofa_verify::{SecretKey, SecretKeyError};
    /// assert_eq!(SecretKey::from_bytes([0u8; 32]).unwrap_err(), SecretKeyError::NotRandom);
    /// let key = SecretKey::from_bytes((1u8..=32).collect::<Vec<u8>>())?;
    /// # let _ = key;
    /// # Ok::<(), SecretKeyError>(())
    /// ```
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Self, SecretKeyError> {
        let bytes = SecretSlice::from(bytes.into());
        let raw = bytes.expose_secret();
        if raw.len() < Self::MIN_LEN {
            return Err(SecretKeyError::TooShort { len: raw.len() });
        }
        if raw.iter().all(|b| *b == raw[0]) {
            return Err(SecretKeyError::NotRandom);
        }
        Ok(SecretKey(Arc::new(bytes)))
    }

    /// The key written in hexadecimal (either case; surrounding whitespace
    /// ignored): 64 characters for 32 bytes. See the [`SecretKey`]
    /// example.
    pub fn from_hex(text: &str) -> Result<Self, SecretKeyError> {
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(text.trim().as_bytes())
            .map_err(|_| SecretKeyError::Encoding {
                encoding: "hexadecimal",
            })?;
        Self::from_bytes(bytes)
    }

    /// The key written in base64, standard or URL-safe alphabet, with or
    /// without padding (surrounding whitespace ignored).
    ///
    /// ```
    /// use twofa_verify::{SecretKey, SecretKeyError};
    /// // `openssl rand -base64 32`
    /// let key = SecretKey::from_base64("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\n")?;
    /// assert_eq!(
    ///     SecretKey::from_base64("not base64!").unwrap_err(),
    ///     SecretKeyError::Encoding { encoding: "base64" }
    /// );
    /// # let _ = key;
    /// # Ok::<(), SecretKeyError>(())
    /// ```
    pub fn from_base64(text: &str) -> Result<Self, SecretKeyError> {
        let text = text.trim().as_bytes();
        let bytes = [
            data_encoding::BASE64,
            data_encoding::BASE64_NOPAD,
            data_encoding::BASE64URL,
            data_encoding::BASE64URL_NOPAD,
        ]
        .iter()
        .find_map(|encoding| encoding.decode(text).ok())
        .ok_or(SecretKeyError::Encoding { encoding: "base64" })?;
        Self::from_bytes(bytes)
    }

    /// The key in the environment variable `var`, in hexadecimal (see
    /// [`from_hex`](Self::from_hex)). An unset or empty variable is
    /// [`SecretKeyError::Missing`], whose message says how to make a key.
    ///
    /// ```
    /// use twofa_verify::{SecretKey, SecretKeyError};
    /// let missing = SecretKey::from_env("TWOFA_DOC_EXAMPLE_UNSET").unwrap_err();
    /// assert_eq!(missing, SecretKeyError::Missing { var: "TWOFA_DOC_EXAMPLE_UNSET".into() });
    /// assert!(missing.to_string().contains("openssl rand -hex 32"));
    /// ```
    pub fn from_env(var: &str) -> Result<Self, SecretKeyError> {
        match std::env::var(var) {
            Ok(text) if !text.trim().is_empty() => Self::from_hex(&text),
            _ => Err(SecretKeyError::Missing {
                var: var.to_owned(),
            }),
        }
    }

    /// The key in lowercase hexadecimal, the form [`from_hex`](Self::from_hex)
    /// and [`from_env`](Self::from_env) read: to save a generated key (see
    /// [`generate`](Self::generate)'s example).
    pub fn to_hex(&self) -> SecretString {
        SecretString::from(data_encoding::HEXLOWER.encode(self.0.expose_secret()))
    }

    /// An independent 256-bit key for `purpose`, for an app's own uses of
    /// the secret (sealing cookies, signing links): HMAC-SHA-256 of the
    /// purpose under this key, in a domain apart from the keys this crate
    /// derives. Distinct purposes give unrelated keys; name them with the
    /// app and a version (`"myapp: flash cookies v1"`).
    ///
    /// ```
    /// use twofa_verify::SecretKey;
    /// use twofa_verify::secrecy::ExposeSecret;
    /// let key = SecretKey::generate();
    /// let flash = key.derive("myapp: flash cookies v1");
    /// let links = key.derive("myapp: signed links v1");
    /// assert_ne!(flash.expose_secret(), links.expose_secret());
    /// assert_eq!(flash.expose_secret(), key.derive("myapp: flash cookies v1").expose_secret());
    /// ```
    pub fn derive(&self, purpose: &str) -> SecretBox<[u8; 32]> {
        let key = Keys::from(self).mac(b"app-subkey", purpose.as_bytes());
        SecretBox::new(Box::new(key))
    }

    /// The shared bytes, for [`Keys`].
    pub(crate) fn bytes(&self) -> Arc<SecretSlice<u8>> {
        Arc::clone(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn encodings_give_the_same_key() {
        let bytes: Vec<u8> = (0u8..32).collect();
        let hex = SecretKey::from_hex(HEX).unwrap();
        assert_eq!(hex.0.expose_secret(), bytes.as_slice());
        let upper = SecretKey::from_hex(&format!(" {}\n", HEX.to_uppercase())).unwrap();
        assert_eq!(upper.0.expose_secret(), bytes.as_slice());
        for text in [
            data_encoding::BASE64.encode(&bytes),
            data_encoding::BASE64_NOPAD.encode(&bytes),
            data_encoding::BASE64URL_NOPAD
                .encode(&[255u8; 31].iter().chain(&[0]).copied().collect::<Vec<_>>()),
        ] {
            assert!(SecretKey::from_base64(&text).is_ok(), "{text}");
        }
        assert_eq!(
            SecretKey::from_base64(&data_encoding::BASE64.encode(&bytes))
                .unwrap()
                .0
                .expose_secret(),
            bytes.as_slice()
        );
        assert_eq!(hex.to_hex().expose_secret(), HEX);
    }

    #[test]
    fn bad_keys_are_typed_errors() {
        assert_eq!(
            SecretKey::from_hex("zz").unwrap_err(),
            SecretKeyError::Encoding {
                encoding: "hexadecimal"
            }
        );
        assert_eq!(
            SecretKey::from_hex(&HEX[..62]).unwrap_err(),
            SecretKeyError::TooShort { len: 31 }
        );
        assert_eq!(
            SecretKey::from_base64("not base64!").unwrap_err(),
            SecretKeyError::Encoding { encoding: "base64" }
        );
        assert_eq!(
            SecretKey::from_bytes(vec![7; 64]).unwrap_err(),
            SecretKeyError::NotRandom
        );
        assert_eq!(
            SecretKey::from_env("TWOFA_TEST_SURELY_UNSET_VARIABLE").unwrap_err(),
            SecretKeyError::Missing {
                var: "TWOFA_TEST_SURELY_UNSET_VARIABLE".into()
            }
        );
        // The errors name no byte of what they refused.
        let e = SecretKey::from_hex(&"ab".repeat(31))
            .unwrap_err()
            .to_string();
        assert!(!e.contains("abab"), "{e}");
        assert!(matches!(
            Error::from(SecretKeyError::NotRandom),
            Error::Config(_)
        ));
    }

    #[test]
    fn generated_keys_differ_and_hide() {
        let a = SecretKey::generate();
        let b = SecretKey::generate();
        assert_ne!(a.0.expose_secret(), b.0.expose_secret());
        assert_eq!(a.0.expose_secret().len(), SecretKey::MIN_LEN);
        let round = SecretKey::from_hex(a.to_hex().expose_secret()).unwrap();
        assert_eq!(round.0.expose_secret(), a.0.expose_secret());
        assert!(!format!("{a:?}").contains(&a.to_hex().expose_secret()[..8]));
    }

    #[test]
    fn derived_keys_depend_on_purpose_and_key() {
        let key = SecretKey::from_hex(HEX).unwrap();
        let a = key.derive("app: cookies v1");
        let b = key.derive("app: cookies v2");
        let other = SecretKey::generate().derive("app: cookies v1");
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_ne!(a.expose_secret(), other.expose_secret());
        assert_eq!(
            a.expose_secret(),
            key.derive("app: cookies v1").expose_secret()
        );
    }
}
