//! bcrypt (`$2a$`, `$2b$`, `$2y$`), as Flask-Bcrypt and Python bcrypt wrote it.

use super::LegacyHashVerifier;
use crate::error::{HashProblem, Result};

/// The shortest and longest costs bcrypt defines (2^4 to 2^31 rounds).
const COSTS: std::ops::RangeInclusive<u32> = 4..=31;
/// Characters of the salt and of the digest after `$2b$12$`: 16 and 23
/// bytes in bcrypt's base64.
const SALT_CHARS: usize = 22;
const DIGEST_CHARS: usize = 31;

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

    /// Whether `hash` (`$2b$12$`, a 22-character salt and a 31-character
    /// digest) can verify, found before any work: the one definition of
    /// what `verify` computes.
    fn parse(&self, hash: &str) -> std::result::Result<(), HashProblem> {
        let (Some(cost), Some("$")) = (hash.get(4..6), hash.get(6..7)) else {
            return Err(HashProblem::Malformed);
        };
        if !cost.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HashProblem::Malformed);
        }
        let cost = cost.parse::<u32>().map_err(|_| HashProblem::Malformed)?;
        if !COSTS.contains(&cost) {
            return Err(HashProblem::Parameters);
        }
        if cost > self.max_cost {
            return Err(HashProblem::BeyondBound);
        }
        let rest = &hash[7..];
        let alphabet = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
        };
        let salt = rest.get(..SALT_CHARS).ok_or(HashProblem::Salt)?;
        if !alphabet(salt) {
            return Err(HashProblem::Salt);
        }
        let digest = &rest[SALT_CHARS..];
        if digest.len() != DIGEST_CHARS || !alphabet(digest) {
            return Err(HashProblem::Digest);
        }
        Ok(())
    }
}

impl LegacyHashVerifier for Bcrypt {
    fn recognizes(&self, hash: &str) -> bool {
        ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
    }

    fn verify(&self, password: &[u8], hash: &str) -> Result<bool> {
        if self.parse(hash).is_err() {
            return Ok(false);
        }
        // The crate compares with `subtle`; any parse error is a mismatch.
        // Not `bcrypt::verify`, which ignores bytes past the 72nd: any
        // password sharing the first 72 would pass, and the rehash at login
        // would then make it the password for good.
        Ok(::bcrypt::non_truncating_verify(password, hash).unwrap_or(false))
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
        !matches!(self.parse(hash), Err(HashProblem::BeyondBound))
    }

    fn check(&self, hash: &str) -> std::result::Result<(), HashProblem> {
        self.parse(hash)
    }
}
