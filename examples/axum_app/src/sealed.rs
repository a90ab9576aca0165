//! Sealing what a session must hold for a moment but a read of the session
//! store must not reveal: fresh recovery codes (`recovery.rs`).
//!
//! Sessions live in the authenticator's state store (a database table), in
//! JSON. Codes kept there in the clear would let anyone who reads that table
//! (a backup, a replica, an injected query) replace the victim's second
//! factor for as long as they wait there. So they are sealed with AES-256-GCM
//! under a key derived from the app's secret key, which lives in the
//! configuration, not in the database; the user's id is the associated data,
//! so a sealed blob copied into another user's session does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use secrecy::{ExposeSecret, SecretBox};
use twofa_verify::{SecretKey, UserId};
use zeroize::Zeroizing;

/// The bytes of an AES-GCM nonce.
const NONCE: usize = 12;

/// Domain separation of the derived key from every other use of the secret.
const PURPOSE: &str = "twofa-verify demo: session-sealed recovery codes v1";

/// A key for sealing session data, derived from the app's secret key.
#[derive(Clone)]
pub struct SessionSeal {
    key: std::sync::Arc<SecretBox<[u8; 32]>>,
}

impl std::fmt::Debug for SessionSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSeal(..)")
    }
}

/// Sealing or opening failed: a broken or foreign blob, or a failed cipher.
#[derive(Debug)]
pub struct SealError;

impl SessionSeal {
    /// The seal of `secret_key`: its key derived for this purpose alone.
    pub fn new(secret_key: &SecretKey) -> Self {
        SessionSeal {
            key: std::sync::Arc::new(secret_key.derive(PURPOSE)),
        }
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.key.expose_secret().into())
    }

    fn aad(context: &[u8]) -> Vec<u8> {
        let mut aad = PURPOSE.as_bytes().to_vec();
        aad.extend_from_slice(context);
        aad
    }

    /// `plain` sealed for `user`: base64 of nonce and ciphertext.
    pub fn seal(&self, user: UserId, plain: &[u8]) -> Result<String, SealError> {
        self.seal_with(&user.0.to_be_bytes(), plain)
    }

    /// What [`seal`](Self::seal) sealed for `user`; an error for anything
    /// else (tampered, another user's, another key's).
    pub fn open(&self, user: UserId, sealed: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.open_with(&user.0.to_be_bytes(), sealed)
    }

    /// `plain` sealed for `context` (the associated data: a user's id, or
    /// what the blob is for), as base64 of nonce and ciphertext.
    pub fn seal_with(&self, context: &[u8], plain: &[u8]) -> Result<String, SealError> {
        let nonce: [u8; NONCE] = rand::random();
        let ct = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: &Self::aad(context),
                },
            )
            .map_err(|_| SealError)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(data_encoding::BASE64URL_NOPAD.encode(&out))
    }

    /// What [`seal_with`](Self::seal_with) sealed for `context`; an error
    /// for anything else (tampered, another context's, another key's).
    pub fn open_with(&self, context: &[u8], sealed: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let bytes = data_encoding::BASE64URL_NOPAD
            .decode(sealed.as_bytes())
            .map_err(|_| SealError)?;
        if bytes.len() < NONCE + 16 {
            return Err(SealError);
        }
        let (nonce, ct) = bytes.split_at(NONCE);
        let nonce = Nonce::try_from(nonce).map_err(|_| SealError)?;
        self.cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: ct,
                    aad: &Self::aad(context),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError)
    }
}
