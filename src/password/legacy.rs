//! Password hashes from other applications, accepted until the first login.
//!
//! A [`LegacyHashVerifier`] recognizes one foreign hash format and checks a
//! password against it. Register verifiers with
//! [`AuthenticatorBuilder::legacy_verifier`](crate::AuthenticatorBuilder::legacy_verifier);
//! a login that matches a legacy hash replaces it with Argon2id at once (the
//! same path that upgrades weak Argon2 parameters). Built in, with feature
//! `legacy-hashes`: Werkzeug's `pbkdf2:` and `scrypt:` hashes
//! ([`WerkzeugPbkdf2`], [`WerkzeugScrypt`]) and bcrypt ([`Bcrypt`]).
//!
//! Every verifier bounds the parameters it agrees to compute: a stored hash
//! asking for a billion iterations is refused (`Ok(false)`), not run, and
//! [`Authenticator::import_user`](crate::Authenticator::import_user) refuses
//! to import it. So is a hash that could never verify for another reason (a
//! missing or truncated digest, an empty salt, impossible parameters): the
//! built-in verifiers' [`check`](LegacyHashVerifier::check) applies the
//! same rules as their `verify`, and the import names the
//! [`HashProblem`]. The bound is also what a login for an unknown user costs
//! (each verifier's [dummy hash](LegacyHashVerifier::dummy_hash) sits at
//! it): were it cheaper than the dearest hash still stored, a failed login
//! would take longer for the accounts not yet upgraded, and so tell that
//! they exist. Set each bound to the dearest hash your data holds; the
//! built-in bounds are the dearest the source libraries wrote by default,
//! and can be raised only up to a ceiling that keeps one hash to seconds.

use std::fmt;

pub use crate::error::HashProblem;
use crate::error::Result;

#[cfg(feature = "legacy-hashes")]
mod bcrypt;
#[cfg(feature = "legacy-hashes")]
mod werkzeug;

#[cfg(feature = "legacy-hashes")]
pub use bcrypt::Bcrypt;
#[cfg(feature = "legacy-hashes")]
pub use werkzeug::{WerkzeugPbkdf2, WerkzeugScrypt};

/// Checks passwords against one foreign hash format.
///
/// `verify` runs on the hashing threads (never on the async runtime), so it
/// may block for as long as the format costs. It must compare in constant
/// time and must not panic; an unusable hash is `Ok(false)`.
///
/// # Example: Django's `pbkdf2_sha256$iterations$salt$base64`
///
/// ```
/// use twofa_verify::Result;
/// use twofa_verify::password::LegacyHashVerifier;
///
/// #[derive(Debug)]
/// struct DjangoPbkdf2;
///
/// impl LegacyHashVerifier for DjangoPbkdf2 {
///     fn recognizes(&self, hash: &str) -> bool {
///         hash.starts_with("pbkdf2_sha256$")
///     }
///     fn verify(&self, password: &[u8], hash: &str) -> Result<bool> {
///         let mut parts = hash.split('$').skip(1);
///         let (Some(iterations), Some(_salt), Some(_b64)) =
///             (parts.next(), parts.next(), parts.next())
///         else {
///             return Ok(false);
///         };
///         let Ok(iterations) = iterations.parse::<u32>() else { return Ok(false) };
///         if iterations > 2_000_000 {
///             return Ok(false); // bounded: a stored hash must not be a DoS
///         }
///         // PBKDF2-HMAC-SHA256(password, salt, iterations), base64-decode
///         // the expected value, compare in constant time (`subtle`).
///         # let _ = password;
///         Ok(false)
///     }
/// }
/// ```
pub trait LegacyHashVerifier: Send + Sync + fmt::Debug {
    /// True when `hash` is in this verifier's format.
    fn recognizes(&self, hash: &str) -> bool;

    /// Checks `password` against `hash`: `Ok(true)` when it matches,
    /// `Ok(false)` when it does not or the hash is unusable (malformed, or
    /// parameters beyond the verifier's bounds).
    fn verify(&self, password: &[u8], hash: &str) -> Result<bool>;

    /// A hash in this format costing as much as the dearest hash `verify`
    /// agrees to compute (any password): its bound. Logins for unknown users
    /// spend the time of the slowest of these and of an Argon2 verify, so
    /// they cannot be told apart from wrong passwords. `None` (the default)
    /// leaves this format out of that measure.
    fn dummy_hash(&self) -> Option<String> {
        None
    }

    /// Hashes in this format that each cost as much as the bound allows,
    /// when which is dearest depends on the machine (one hash function may
    /// have CPU instructions of its own, another not): the slowest, as
    /// measured, is the one unknown-user logins spend. The default is
    /// [`dummy_hash`](Self::dummy_hash).
    fn dummy_hashes(&self) -> Vec<String> {
        self.dummy_hash().into_iter().collect()
    }

    /// Whether `hash` (in this format) asks for no more than this verifier's
    /// bounds, found without computing it. A hash beyond them never
    /// verifies, so [`Authenticator::import_user`](crate::Authenticator::import_user)
    /// refuses it. The default says yes.
    fn within_bounds(&self, hash: &str) -> bool {
        let _ = hash;
        true
    }

    /// Whether `hash` (in this format) can verify at all, found without
    /// computing it: `Err` names what makes it unusable, and then
    /// [`verify`](Self::verify) is `Ok(false)` for every password. Both
    /// [`Authenticator::import_user`](crate::Authenticator::import_user)
    /// (which refuses such a hash, with [`Error::PasswordHashBeyondBound`]
    /// or [`Error::UnusablePasswordHash`]) and logins (which spend an
    /// unknown user's time on it, not its own) ask.
    ///
    /// Implement it with the same parsing `verify` uses, so that the two
    /// never disagree. The default knows the bounds only
    /// ([`within_bounds`](Self::within_bounds)).
    ///
    /// [`Error::PasswordHashBeyondBound`]: crate::Error::PasswordHashBeyondBound
    /// [`Error::UnusablePasswordHash`]: crate::Error::UnusablePasswordHash
    fn check(&self, hash: &str) -> std::result::Result<(), HashProblem> {
        if self.within_bounds(hash) {
            Ok(())
        } else {
            Err(HashProblem::BeyondBound)
        }
    }
}

#[cfg(all(test, feature = "legacy-hashes"))]
mod tests;
