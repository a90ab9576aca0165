//! Password hashes from other applications, accepted until the first login.
//!
//! A [`LegacyHashVerifier`] recognizes one foreign hash format and checks a
//! password against it. Register verifiers with
//! [`AuthenticatorBuilder::legacy_verifier`](crate::AuthenticatorBuilder::legacy_verifier);
//! a login that matches a legacy hash replaces it with Argon2id at once (the
//! same path that upgrades weak Argon2 parameters). Built in: Werkzeug's
//! `pbkdf2:` and `scrypt:` hashes ([`WerkzeugPbkdf2`], [`WerkzeugScrypt`])
//! and bcrypt ([`Bcrypt`]).
//!
//! Every verifier bounds the parameters it agrees to compute: a stored hash
//! asking for a billion iterations is refused (`Ok(false)`), not run.

use std::fmt;

use data_encoding::HEXLOWER;
use sha2::{Sha256, Sha512};

use crate::crypto::{ct_eq, random_token};
use crate::error::Result;

/// Checks passwords against one foreign hash format.
///
/// `verify` runs on the hashing threads (never on the async runtime), so it
/// may block for as long as the format costs. It must compare in constant
/// time and must not panic; an unusable hash is `Ok(false)`.
///
/// # Example: Django's `pbkdf2_sha256$iterations$salt$base64`
///
/// ```
/// use twofa_verify::{LegacyHashVerifier, Result};
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

    /// A hash in this format costing as much as the dearest hash the
    /// application stores (any password). Logins for unknown users spend
    /// the time of the slowest of these and of an Argon2 verify, so they
    /// cannot be told apart from wrong passwords. `None` (the default)
    /// leaves this format out of that measure.
    fn dummy_hash(&self) -> Option<String> {
        None
    }
}

/// Werkzeug's PBKDF2 hashes: `pbkdf2:sha256:150000$salt$hex`.
///
/// `generate_password_hash` wrote these up to Werkzeug 2.x (150000
/// iterations in 1.0, 260000 in 2.0, 600000 in 2.3, 1000000 in 3.1). The
/// salt is used as its ASCII text; the hex is the full digest. Accepted
/// hash functions: `sha1`, `sha256`, `sha512`. A hash without an iteration
/// count (`pbkdf2:sha256$…`) was checked by Werkzeug with its own current
/// default, which depends on the version: see
/// [`default_iterations`](Self::default_iterations).
#[derive(Debug, Clone)]
pub struct WerkzeugPbkdf2 {
    default_iterations: u32,
    max_iterations: u32,
    dummy_iterations: u32,
}

impl Default for WerkzeugPbkdf2 {
    fn default() -> Self {
        Self::new()
    }
}

impl WerkzeugPbkdf2 {
    /// Iterations assumed when a hash has none: 150000, the default of
    /// Werkzeug 1.0 (the version the hashes most likely come from).
    pub const DEFAULT_ITERATIONS: u32 = 150_000;
    /// The most iterations verified unless raised (Werkzeug 3.1 writes 1000000).
    pub const MAX_ITERATIONS: u32 = 2_000_000;

    /// The verifier with the defaults above; unknown-user logins cost a
    /// 150000-iteration PBKDF2-SHA256.
    pub fn new() -> Self {
        WerkzeugPbkdf2 {
            default_iterations: Self::DEFAULT_ITERATIONS,
            max_iterations: Self::MAX_ITERATIONS,
            dummy_iterations: Self::DEFAULT_ITERATIONS,
        }
    }

    /// The iterations of hashes that give none (the Werkzeug version that
    /// wrote them decides: 150000 for 1.0, 260000 for 2.0, 1000000 for 3.1).
    pub fn default_iterations(mut self, iterations: u32) -> Self {
        self.default_iterations = iterations.max(1);
        self
    }

    /// The most iterations verified; hashes asking for more are refused.
    pub fn max_iterations(mut self, iterations: u32) -> Self {
        self.max_iterations = iterations.max(1);
        self
    }

    /// The iterations of the dummy hash (the dearest hash the app stores).
    pub fn dummy_iterations(mut self, iterations: u32) -> Self {
        self.dummy_iterations = iterations.max(1);
        self
    }
}

impl LegacyHashVerifier for WerkzeugPbkdf2 {
    fn recognizes(&self, hash: &str) -> bool {
        hash.split('$')
            .next()
            .is_some_and(|m| m == "pbkdf2" || m.starts_with("pbkdf2:"))
    }

    fn verify(&self, password: &[u8], hash: &str) -> Result<bool> {
        let Some((method, salt, hex)) = split3(hash) else {
            return Ok(false);
        };
        let mut args = method.split(':').skip(1);
        let digest = args.next().unwrap_or("sha256");
        let iterations = match args.next() {
            None | Some("") => self.default_iterations,
            Some(n) => match n.parse::<u32>() {
                // Werkzeug 1.0 read 0 as "the default".
                Ok(0) => self.default_iterations,
                Ok(n) => n,
                Err(_) => return Ok(false),
            },
        };
        if args.next().is_some() || iterations > self.max_iterations {
            return Ok(false);
        }
        let Ok(expected) = HEXLOWER.decode(hex.as_bytes()) else {
            return Ok(false);
        };
        let salt = salt.as_bytes();
        let mut out = zeroize::Zeroizing::new(vec![0u8; expected.len()]);
        match (digest, expected.len()) {
            ("sha1", 20) => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, &mut out),
            ("sha256", 32) => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out),
            ("sha512", 64) => pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out),
            _ => return Ok(false),
        }
        Ok(ct_eq(&out, &expected))
    }

    fn dummy_hash(&self) -> Option<String> {
        Some(format!(
            "pbkdf2:sha256:{}${}${}",
            self.dummy_iterations,
            random_token::<12>(),
            "0".repeat(64)
        ))
    }
}

/// Werkzeug's scrypt hashes: `scrypt:32768:8:1$salt$hex` (the default of
/// Werkzeug 3). The salt is used as its ASCII text; the hex is 64 bytes.
#[derive(Debug, Clone)]
pub struct WerkzeugScrypt {
    max_memory: u64,
}

impl Default for WerkzeugScrypt {
    fn default() -> Self {
        Self::new()
    }
}

impl WerkzeugScrypt {
    /// The most memory (`128 · N · r · p` bytes) verified unless changed: 128 MiB.
    pub const MAX_MEMORY: u64 = 128 * 1024 * 1024;

    /// The verifier with the bound above; unknown-user logins cost an
    /// `N=32768, r=8, p=1` scrypt (32 MiB).
    pub fn new() -> Self {
        WerkzeugScrypt {
            max_memory: Self::MAX_MEMORY,
        }
    }

    /// The most memory, in bytes, a hash may ask for (`128 · N · r · p`).
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.max_memory = bytes;
        self
    }
}

impl LegacyHashVerifier for WerkzeugScrypt {
    fn recognizes(&self, hash: &str) -> bool {
        hash.split('$')
            .next()
            .is_some_and(|m| m == "scrypt" || m.starts_with("scrypt:"))
    }

    fn verify(&self, password: &[u8], hash: &str) -> Result<bool> {
        let Some((method, salt, hex)) = split3(hash) else {
            return Ok(false);
        };
        let args: Vec<&str> = method.split(':').skip(1).collect();
        let (n, r, p) = match args.as_slice() {
            [] => (32768u64, 8u64, 1u64),
            [n, r, p] => match (n.parse(), r.parse(), p.parse()) {
                (Ok(n), Ok(r), Ok(p)) => (n, r, p),
                _ => return Ok(false),
            },
            _ => return Ok(false),
        };
        let memory = 128u64
            .checked_mul(n)
            .and_then(|m| m.checked_mul(r))
            .and_then(|m| m.checked_mul(p));
        if !n.is_power_of_two() || n < 2 || memory.is_none_or(|m| m > self.max_memory) {
            return Ok(false);
        }
        let (Ok(log_n), Ok(r), Ok(p)) = (
            u8::try_from(n.trailing_zeros()),
            u32::try_from(r),
            u32::try_from(p),
        ) else {
            return Ok(false);
        };
        let Ok(params) = scrypt::Params::new(log_n, r, p) else {
            return Ok(false);
        };
        let Ok(expected) = HEXLOWER.decode(hex.as_bytes()) else {
            return Ok(false);
        };
        if expected.len() != 64 {
            return Ok(false);
        }
        let mut out = zeroize::Zeroizing::new([0u8; 64]);
        if scrypt::scrypt(password, salt.as_bytes(), &params, &mut out[..]).is_err() {
            return Ok(false);
        }
        Ok(ct_eq(&out[..], &expected))
    }

    fn dummy_hash(&self) -> Option<String> {
        Some(format!(
            "scrypt:32768:8:1${}${}",
            random_token::<12>(),
            "0".repeat(128)
        ))
    }
}

/// bcrypt hashes (`$2b$12$…`, also `$2a$` and `$2y$`), e.g. from
/// Flask-Bcrypt. Passwords longer than 72 bytes are truncated, as the
/// libraries that wrote these hashes did.
#[derive(Debug, Clone)]
pub struct Bcrypt {
    max_cost: u32,
    dummy_cost: u32,
}

impl Default for Bcrypt {
    fn default() -> Self {
        Self::new()
    }
}

impl Bcrypt {
    /// The highest cost verified unless raised (each step doubles the time;
    /// 15 is about 2 s).
    pub const MAX_COST: u32 = 15;

    /// The verifier with the bound above; unknown-user logins cost a cost-12
    /// bcrypt (Flask-Bcrypt's and Python bcrypt's default).
    pub fn new() -> Self {
        Bcrypt {
            max_cost: Self::MAX_COST,
            dummy_cost: 12,
        }
    }

    /// The highest cost verified; hashes asking for more are refused.
    pub fn max_cost(mut self, cost: u32) -> Self {
        self.max_cost = cost;
        self
    }

    /// The cost of the dummy hash (the dearest hash the app stores), 4 to 31.
    pub fn dummy_cost(mut self, cost: u32) -> Self {
        self.dummy_cost = cost.clamp(4, 31);
        self
    }
}

impl LegacyHashVerifier for Bcrypt {
    fn recognizes(&self, hash: &str) -> bool {
        ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
    }

    fn verify(&self, password: &[u8], hash: &str) -> Result<bool> {
        // `$2b$12$` + 53 characters: the cost is read before any work.
        let cost = hash.get(4..6).and_then(|c| c.parse::<u32>().ok());
        if hash.len() != 60 || cost.is_none_or(|c| c > self.max_cost) {
            return Ok(false);
        }
        // The crate compares with `subtle`; any parse error is a mismatch.
        // Not `bcrypt::verify`, which ignores bytes past the 72nd: any
        // password sharing the first 72 would pass, and the rehash at login
        // would then make it the password for good.
        Ok(bcrypt::non_truncating_verify(password, hash).unwrap_or(false))
    }

    fn dummy_hash(&self) -> Option<String> {
        // A well-formed hash: 22 salt characters and 31 hash characters of
        // bcrypt's base64 alphabet.
        Some(format!(
            "$2b${:02}${}{}",
            self.dummy_cost,
            "e".repeat(22),
            "e".repeat(31)
        ))
    }
}

/// `method$salt$hex`, each part non-empty.
fn split3(hash: &str) -> Option<(&str, &str, &str)> {
    let mut it = hash.split('$');
    let (m, s, h) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || m.is_empty() || s.is_empty() || h.is_empty() {
        return None;
    }
    Some((m, s, h))
}

#[cfg(test)]
#[path = "legacy_tests.rs"]
mod tests;
