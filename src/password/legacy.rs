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
//! asking for a billion iterations is refused (`Ok(false)`), not run, and
//! [`Authenticator::import_user`](crate::Authenticator::import_user) refuses
//! to import it. The bound is also what a login for an unknown user costs
//! (each verifier's [dummy hash](LegacyHashVerifier::dummy_hash) sits at
//! it): were it cheaper than the dearest hash still stored, a failed login
//! would take longer for the accounts not yet upgraded, and so tell that
//! they exist. Set each bound to the dearest hash your data holds; the
//! built-in bounds are the dearest the source libraries wrote by default,
//! and can be raised only up to a ceiling that keeps one hash to seconds.

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
///
/// Unknown-user logins cost as much as the dearest hash accepted: a
/// PBKDF2 at [`max_iterations`](Self::max_iterations). Lower it to the most
/// your hashes use (260000 for hashes from Werkzeug 2.0 and before). A
/// SHA-512 iteration hashes a block twice the size of SHA-1's and
/// SHA-256's, so SHA-512 hashes count each iteration twice against the
/// bound (Werkzeug wrote them only when asked).
#[derive(Debug, Clone)]
pub struct WerkzeugPbkdf2 {
    default_iterations: u32,
    max_iterations: u32,
}

impl Default for WerkzeugPbkdf2 {
    fn default() -> Self {
        Self::new()
    }
}

/// A parsed Werkzeug PBKDF2 hash.
struct Pbkdf2Hash<'a> {
    digest: &'a str,
    iterations: u32,
    salt: &'a str,
    hex: &'a str,
}

impl WerkzeugPbkdf2 {
    /// Iterations assumed when a hash has none: 150000, the default of
    /// Werkzeug 1.0 (the version the hashes most likely come from).
    pub const DEFAULT_ITERATIONS: u32 = 150_000;
    /// The most iterations verified unless changed: 1000000, the most any
    /// Werkzeug version wrote by default (3.1).
    pub const MAX_ITERATIONS: u32 = 1_000_000;
    /// The most [`max_iterations`](Self::max_iterations) may be raised to
    /// (a few seconds of one core per hash).
    pub const ITERATIONS_CEILING: u32 = 10_000_000;

    /// The verifier with the defaults above.
    pub fn new() -> Self {
        WerkzeugPbkdf2 {
            default_iterations: Self::DEFAULT_ITERATIONS,
            max_iterations: Self::MAX_ITERATIONS,
        }
    }

    /// The iterations of hashes that give none (the Werkzeug version that
    /// wrote them decides: 150000 for 1.0, 260000 for 2.0, 1000000 for 3.1).
    pub fn default_iterations(mut self, iterations: u32) -> Self {
        self.default_iterations = iterations.max(1);
        self
    }

    /// The most iterations verified (1 to
    /// [`ITERATIONS_CEILING`](Self::ITERATIONS_CEILING); other values are
    /// brought into that range); hashes asking for more are refused. It is
    /// also the cost of an unknown-user login.
    pub fn max_iterations(mut self, iterations: u32) -> Self {
        self.max_iterations = iterations.clamp(1, Self::ITERATIONS_CEILING);
        self
    }

    /// A hash of `digest` with `iterations` that no password matches.
    fn dummy(&self, digest: &str, iterations: u32, len: usize) -> String {
        format!(
            "pbkdf2:{digest}:{iterations}${}${}",
            random_token::<12>(),
            "0".repeat(len * 2)
        )
    }

    /// The parts of `hash`, or `None` when it is malformed or beyond the
    /// bound (before any work).
    fn parse<'a>(&self, hash: &'a str) -> Option<Pbkdf2Hash<'a>> {
        let (method, salt, hex) = split3(hash)?;
        let mut args = method.split(':').skip(1);
        let digest = args.next().unwrap_or("sha256");
        let iterations = match args.next() {
            None | Some("") => self.default_iterations,
            // Werkzeug 1.0 read 0 as "the default".
            Some(n) => match n.parse::<u32>().ok()? {
                0 => self.default_iterations,
                n => n,
            },
        };
        let weight = if digest == "sha512" { 2 } else { 1 };
        if args.next().is_some() || u64::from(iterations) * weight > u64::from(self.max_iterations)
        {
            return None;
        }
        Some(Pbkdf2Hash {
            digest,
            iterations,
            salt,
            hex,
        })
    }
}

impl LegacyHashVerifier for WerkzeugPbkdf2 {
    fn recognizes(&self, hash: &str) -> bool {
        hash.split('$')
            .next()
            .is_some_and(|m| m == "pbkdf2" || m.starts_with("pbkdf2:"))
    }

    fn verify(&self, password: &[u8], hash: &str) -> Result<bool> {
        let Some(h) = self.parse(hash) else {
            return Ok(false);
        };
        let Ok(expected) = HEXLOWER.decode(h.hex.as_bytes()) else {
            return Ok(false);
        };
        let (salt, iterations) = (h.salt.as_bytes(), h.iterations);
        let mut out = zeroize::Zeroizing::new(vec![0u8; expected.len()]);
        match (h.digest, expected.len()) {
            ("sha1", 20) => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, &mut out),
            ("sha256", 32) => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out),
            ("sha512", 64) => pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out),
            _ => return Ok(false),
        }
        Ok(ct_eq(&out, &expected))
    }

    fn dummy_hash(&self) -> Option<String> {
        Some(self.dummy("sha256", self.max_iterations, 32))
    }

    fn dummy_hashes(&self) -> Vec<String> {
        // Which digest is dearest at the bound depends on the CPU's
        // instructions: each is measured.
        vec![
            self.dummy("sha256", self.max_iterations, 32),
            self.dummy("sha512", (self.max_iterations / 2).max(1), 64),
            self.dummy("sha1", self.max_iterations, 20),
        ]
    }

    fn within_bounds(&self, hash: &str) -> bool {
        self.parse(hash).is_some()
    }
}

/// Werkzeug's scrypt hashes: `scrypt:32768:8:1$salt$hex` (the default of
/// Werkzeug 3). The salt is used as its ASCII text; the hex is 64 bytes.
///
/// Unknown-user logins cost a scrypt using all of
/// [`max_memory`](Self::max_memory) (`r = 8`, `p = 1`).
#[derive(Debug, Clone)]
pub struct WerkzeugScrypt {
    max_memory: u64,
}

impl Default for WerkzeugScrypt {
    fn default() -> Self {
        Self::new()
    }
}

/// A parsed Werkzeug scrypt hash.
struct ScryptHash<'a> {
    params: scrypt::Params,
    salt: &'a str,
    hex: &'a str,
}

impl WerkzeugScrypt {
    /// The most work (`128 · N · r · p` bytes, the memory of `p = 1`)
    /// verified unless changed: 32 MiB, Werkzeug's `N=32768, r=8, p=1`.
    pub const MAX_MEMORY: u64 = 32 * 1024 * 1024;
    /// The most [`max_memory`](Self::max_memory) may be raised to: 1 GiB.
    pub const MEMORY_CEILING: u64 = 1024 * 1024 * 1024;

    /// The verifier with the bound above.
    pub fn new() -> Self {
        WerkzeugScrypt {
            max_memory: Self::MAX_MEMORY,
        }
    }

    /// The most work, in bytes, a hash may ask for (`128 · N · r · p`; at
    /// least 2 KiB, at most [`MEMORY_CEILING`](Self::MEMORY_CEILING); other
    /// values are brought into that range). It is also the cost of an
    /// unknown-user login.
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.max_memory = bytes.clamp(2048, Self::MEMORY_CEILING);
        self
    }

    /// The parts of `hash`, or `None` when it is malformed or beyond the
    /// bound (before any work).
    fn parse<'a>(&self, hash: &'a str) -> Option<ScryptHash<'a>> {
        let (method, salt, hex) = split3(hash)?;
        let args: Vec<&str> = method.split(':').skip(1).collect();
        let (n, r, p): (u64, u64, u64) = match args.as_slice() {
            [] => (32768, 8, 1),
            [n, r, p] => (n.parse().ok()?, r.parse().ok()?, p.parse().ok()?),
            _ => return None,
        };
        let work = 128u64
            .checked_mul(n)
            .and_then(|m| m.checked_mul(r))
            .and_then(|m| m.checked_mul(p))?;
        if !n.is_power_of_two() || n < 2 || work > self.max_memory {
            return None;
        }
        let log_n = u8::try_from(n.trailing_zeros()).ok()?;
        let params =
            scrypt::Params::new(log_n, u32::try_from(r).ok()?, u32::try_from(p).ok()?).ok()?;
        Some(ScryptHash { params, salt, hex })
    }
}

impl LegacyHashVerifier for WerkzeugScrypt {
    fn recognizes(&self, hash: &str) -> bool {
        hash.split('$')
            .next()
            .is_some_and(|m| m == "scrypt" || m.starts_with("scrypt:"))
    }

    fn verify(&self, password: &[u8], hash: &str) -> Result<bool> {
        let Some(h) = self.parse(hash) else {
            return Ok(false);
        };
        let Ok(expected) = HEXLOWER.decode(h.hex.as_bytes()) else {
            return Ok(false);
        };
        if expected.len() != 64 {
            return Ok(false);
        }
        let mut out = zeroize::Zeroizing::new([0u8; 64]);
        if scrypt::scrypt(password, h.salt.as_bytes(), &h.params, &mut out[..]).is_err() {
            return Ok(false);
        }
        Ok(ct_eq(&out[..], &expected))
    }

    fn dummy_hash(&self) -> Option<String> {
        // The largest power-of-two N with r = 8 within the bound; r = 1
        // below 2 KiB · 8.
        let r: u64 = if self.max_memory >= 128 * 2 * 8 { 8 } else { 1 };
        let n = 1u64 << (self.max_memory / (128 * r)).max(2).ilog2();
        Some(format!(
            "scrypt:{n}:{r}:1${}${}",
            random_token::<12>(),
            "0".repeat(128)
        ))
    }

    fn within_bounds(&self, hash: &str) -> bool {
        self.parse(hash).is_some()
    }
}

/// bcrypt hashes (`$2b$12$…`, also `$2a$` and `$2y$`), e.g. from
/// Flask-Bcrypt. Passwords longer than 72 bytes are truncated, as the
/// libraries that wrote these hashes did.
///
/// Unknown-user logins cost a bcrypt at [`max_cost`](Self::max_cost).
#[derive(Debug, Clone)]
pub struct Bcrypt {
    max_cost: u32,
}

impl Default for Bcrypt {
    fn default() -> Self {
        Self::new()
    }
}

impl Bcrypt {
    /// The highest cost verified unless changed: 12, the default of
    /// Flask-Bcrypt and Python bcrypt (each step doubles the time).
    pub const MAX_COST: u32 = 12;
    /// The most [`max_cost`](Self::max_cost) may be raised to (16: a few
    /// seconds of one core per hash).
    pub const COST_CEILING: u32 = 16;

    /// The verifier with the bound above.
    pub fn new() -> Self {
        Bcrypt {
            max_cost: Self::MAX_COST,
        }
    }

    /// The highest cost verified (4 to [`COST_CEILING`](Self::COST_CEILING);
    /// other values are brought into that range); hashes asking for more
    /// are refused. It is also the cost of an unknown-user login.
    pub fn max_cost(mut self, cost: u32) -> Self {
        self.max_cost = cost.clamp(4, Self::COST_CEILING);
        self
    }

    /// The cost of `hash` (`$2b$12$` + 53 characters), read before any
    /// work, when it is within the bound.
    fn cost(&self, hash: &str) -> Option<u32> {
        let cost = hash.get(4..6)?.parse::<u32>().ok()?;
        (hash.len() == 60 && cost <= self.max_cost).then_some(cost)
    }
}

impl LegacyHashVerifier for Bcrypt {
    fn recognizes(&self, hash: &str) -> bool {
        ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
    }

    fn verify(&self, password: &[u8], hash: &str) -> Result<bool> {
        if self.cost(hash).is_none() {
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
            self.max_cost,
            "e".repeat(22),
            "e".repeat(31)
        ))
    }

    fn within_bounds(&self, hash: &str) -> bool {
        self.cost(hash).is_some()
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
