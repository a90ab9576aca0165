//! Werkzeug's `generate_password_hash` formats: PBKDF2 and scrypt.

use data_encoding::HEXLOWER;
use sha2::{Sha256, Sha512};

use super::LegacyHashVerifier;
use crate::crypto::{ct_eq, random_token};
use crate::error::{HashProblem, Result};

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

/// A parsed Werkzeug PBKDF2 hash, fit to compute.
struct Pbkdf2Hash<'a> {
    digest: Pbkdf2Digest,
    iterations: u32,
    salt: &'a str,
    expected: Vec<u8>,
}

/// The hash functions Werkzeug's PBKDF2 hashes name.
#[derive(Clone, Copy)]
enum Pbkdf2Digest {
    Sha1,
    Sha256,
    Sha512,
}

impl Pbkdf2Digest {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "sha1" => Some(Pbkdf2Digest::Sha1),
            "sha256" => Some(Pbkdf2Digest::Sha256),
            "sha512" => Some(Pbkdf2Digest::Sha512),
            _ => None,
        }
    }

    /// The length of its output, which Werkzeug stores in full.
    fn len(self) -> usize {
        match self {
            Pbkdf2Digest::Sha1 => 20,
            Pbkdf2Digest::Sha256 => 32,
            Pbkdf2Digest::Sha512 => 64,
        }
    }

    /// What one iteration counts against the bound: a SHA-512 iteration
    /// hashes blocks twice the size of SHA-1's and SHA-256's.
    fn weight(self) -> u64 {
        match self {
            Pbkdf2Digest::Sha512 => 2,
            Pbkdf2Digest::Sha1 | Pbkdf2Digest::Sha256 => 1,
        }
    }
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

    /// The parts of `hash`, ready to compute, or why it can never verify
    /// (before any work). The one definition of what `verify` accepts.
    fn parse<'a>(&self, hash: &'a str) -> std::result::Result<Pbkdf2Hash<'a>, HashProblem> {
        let (method, salt, hex) = split3(hash)?;
        let mut args = method.split(':').skip(1);
        let digest = args.next().unwrap_or("sha256");
        let iterations = match args.next() {
            None | Some("") => self.default_iterations,
            // Werkzeug 1.0 read 0 as "the default".
            Some(n) => match n.parse::<u32>().map_err(|_| HashProblem::Malformed)? {
                0 => self.default_iterations,
                n => n,
            },
        };
        if args.next().is_some() {
            return Err(HashProblem::Malformed);
        }
        let digest = Pbkdf2Digest::parse(digest).ok_or(HashProblem::Parameters)?;
        if u64::from(iterations) * digest.weight() > u64::from(self.max_iterations) {
            return Err(HashProblem::BeyondBound);
        }
        Ok(Pbkdf2Hash {
            digest,
            iterations,
            salt,
            expected: decode_digest(hex, digest.len())?,
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
        let Ok(h) = self.parse(hash) else {
            return Ok(false);
        };
        let (salt, iterations) = (h.salt.as_bytes(), h.iterations);
        let mut out = zeroize::Zeroizing::new(vec![0u8; h.expected.len()]);
        match h.digest {
            Pbkdf2Digest::Sha1 => {
                pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, &mut out)
            }
            Pbkdf2Digest::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out)
            }
            Pbkdf2Digest::Sha512 => {
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out)
            }
        }
        Ok(ct_eq(&out, &h.expected))
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
        !matches!(self.parse(hash), Err(HashProblem::BeyondBound))
    }

    fn check(&self, hash: &str) -> std::result::Result<(), HashProblem> {
        self.parse(hash).map(drop)
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

/// A parsed Werkzeug scrypt hash, fit to compute.
struct ScryptHash<'a> {
    params: scrypt::Params,
    salt: &'a str,
    expected: Vec<u8>,
}

/// The length of Werkzeug's scrypt digests (`dklen=64`).
const SCRYPT_LEN: usize = 64;

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

    /// The parts of `hash`, ready to compute, or why it can never verify
    /// (before any work). The one definition of what `verify` accepts.
    fn parse<'a>(&self, hash: &'a str) -> std::result::Result<ScryptHash<'a>, HashProblem> {
        let (method, salt, hex) = split3(hash)?;
        let args: Vec<&str> = method.split(':').skip(1).collect();
        let number = |s: &str| s.parse::<u64>().map_err(|_| HashProblem::Malformed);
        let (n, r, p) = match args.as_slice() {
            [] => (32768, 8, 1),
            [n, r, p] => (number(n)?, number(r)?, number(p)?),
            _ => return Err(HashProblem::Malformed),
        };
        if !n.is_power_of_two() || n < 2 || r == 0 || p == 0 {
            return Err(HashProblem::Parameters);
        }
        let work = 128u64
            .checked_mul(n)
            .and_then(|m| m.checked_mul(r))
            .and_then(|m| m.checked_mul(p));
        if work.is_none_or(|work| work > self.max_memory) {
            return Err(HashProblem::BeyondBound);
        }
        let log_n = u8::try_from(n.trailing_zeros()).map_err(|_| HashProblem::Parameters)?;
        let (r, p) = (u32::try_from(r), u32::try_from(p));
        let (Ok(r), Ok(p)) = (r, p) else {
            return Err(HashProblem::Parameters);
        };
        let params = scrypt::Params::new(log_n, r, p).map_err(|_| HashProblem::Parameters)?;
        Ok(ScryptHash {
            params,
            salt,
            expected: decode_digest(hex, SCRYPT_LEN)?,
        })
    }
}

impl LegacyHashVerifier for WerkzeugScrypt {
    fn recognizes(&self, hash: &str) -> bool {
        hash.split('$')
            .next()
            .is_some_and(|m| m == "scrypt" || m.starts_with("scrypt:"))
    }

    fn verify(&self, password: &[u8], hash: &str) -> Result<bool> {
        let Ok(h) = self.parse(hash) else {
            return Ok(false);
        };
        let mut out = zeroize::Zeroizing::new([0u8; SCRYPT_LEN]);
        if scrypt::scrypt(password, h.salt.as_bytes(), &h.params, &mut out[..]).is_err() {
            return Ok(false);
        }
        Ok(ct_eq(&out[..], &h.expected))
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
        !matches!(self.parse(hash), Err(HashProblem::BeyondBound))
    }

    fn check(&self, hash: &str) -> std::result::Result<(), HashProblem> {
        self.parse(hash).map(drop)
    }
}

/// `method$salt$hex`: the method, a non-empty salt (used as its text, as
/// Werkzeug did) and the hex digest, which may be missing (then the
/// digest is the problem).
fn split3(hash: &str) -> std::result::Result<(&str, &str, &str), HashProblem> {
    let mut it = hash.split('$');
    let (method, salt, hex) = match (it.next(), it.next(), it.next(), it.next()) {
        (Some(m), Some(s), Some(h), None) => (m, s, h),
        (Some(m), Some(s), None, None) => (m, s, ""),
        _ => return Err(HashProblem::Malformed),
    };
    if method.is_empty() {
        return Err(HashProblem::Malformed);
    }
    if salt.is_empty() {
        return Err(HashProblem::Salt);
    }
    Ok((method, salt, hex))
}

/// The digest as Werkzeug wrote it (lower-case hex of the whole output):
/// `len` bytes, or the digest is missing, truncated or malformed.
fn decode_digest(hex: &str, len: usize) -> std::result::Result<Vec<u8>, HashProblem> {
    match HEXLOWER.decode(hex.as_bytes()) {
        Ok(bytes) if bytes.len() == len => Ok(bytes),
        _ => Err(HashProblem::Digest),
    }
}
