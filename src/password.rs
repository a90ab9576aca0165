//! Password policy and Argon2id hashing off the async runtime.
//!
//! Hashes run on tokio's blocking pool: a FIFO queue drained by at most
//! `concurrency` blocking threads (the cores by default), each reusing a
//! pooled Argon2 memory buffer (page-faulting 19 MiB per hash costs ~40% of
//! a verify). A thread that finishes a hash takes the next one at once, with
//! no trip through the async runtime in between (a semaphore released on a
//! worker left cores idle between hashes under load: see the load test).

use std::collections::HashSet;
use std::collections::VecDeque;
use std::sync::{Arc, LazyLock, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use tokio::sync::{OnceCell, oneshot};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

pub mod legacy;

#[cfg(feature = "legacy-hashes")]
pub use legacy::{Bcrypt, WerkzeugPbkdf2, WerkzeugScrypt};
pub use legacy::{HashProblem, LegacyHashVerifier};

use crate::crypto::{ct_eq, random_bytes};
use crate::error::{Error, Result, WeakPassword};
use crate::policy::{HashParams, Policy};

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// Number of passwords on the shipped common-password list.
pub fn common_password_count() -> usize {
    COMMON.len()
}

/// True when `password` (after NFKC and lower-casing) is on the shipped list
/// of common passwords.
pub fn is_common_password(password: &str) -> bool {
    let folded: String = password.nfkc().collect::<String>().to_lowercase();
    COMMON.contains(folded.as_str())
}

/// Applies the password policy; returns the NFKC-normalised password.
///
/// `identities` are the username and email: the password may not equal them
/// (nor the email's local part), compared case-insensitively.
pub(crate) fn check_password(
    policy: &Policy,
    password: &SecretString,
    identities: &[&str],
) -> Result<SecretString> {
    let raw = password.expose_secret();
    if raw.len() > policy.password_max_bytes {
        return Err(Error::WeakPassword(WeakPassword::TooLong(
            policy.password_max_bytes,
        )));
    }
    let normalized = Zeroizing::new(raw.nfkc().collect::<String>());
    if normalized.len() > policy.password_max_bytes {
        return Err(Error::WeakPassword(WeakPassword::TooLong(
            policy.password_max_bytes,
        )));
    }
    if normalized.contains('\0') {
        return Err(Error::WeakPassword(WeakPassword::InvalidCharacters));
    }
    if normalized.trim().chars().count() < policy.password_min_chars {
        return Err(Error::WeakPassword(WeakPassword::TooShort(
            policy.password_min_chars,
        )));
    }
    let folded = Zeroizing::new(normalized.to_lowercase());
    if COMMON.contains(folded.as_str()) {
        return Err(Error::WeakPassword(WeakPassword::Common));
    }
    for id in identities {
        let id = id.to_lowercase();
        let local = id.split('@').next().unwrap_or_default();
        if !id.is_empty()
            && (*folded == id || (id.contains('@') && local.len() >= 3 && *folded == local))
        {
            return Err(Error::WeakPassword(WeakPassword::SameAsIdentity));
        }
    }
    Ok(SecretString::from(normalized.to_string()))
}

/// NFKC-normalises a password for verification (no policy: old passwords
/// must keep working when the policy changes). Oversized input is refused.
pub(crate) fn normalize_for_verify(
    policy: &Policy,
    password: &SecretString,
) -> Option<SecretString> {
    let raw = password.expose_secret();
    if raw.len() > policy.password_max_bytes.max(1024) * 4 {
        return None;
    }
    Some(SecretString::from(raw.nfkc().collect::<String>()))
}

/// The outcome of verifying a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verified {
    /// Wrong password (or unusable hash).
    No,
    /// Right password, stored parameters are as strong as the policy.
    Yes,
    /// Right password, but the hash should be upgraded.
    YesRehash,
}

/// Argon2id hashing on tokio's blocking pool, at most `concurrency` at once
/// (a FIFO queue), with pooled memory buffers. The [`Authenticator`](crate::Authenticator) uses
/// one internally; it is public for apps that hash other secrets the same
/// way, and for benchmarks.
pub struct Hasher {
    params: HashParams,
    pepper: Option<Arc<SecretSlice<u8>>>,
    queue: Arc<Mutex<Queue>>,
    concurrency: usize,
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
    legacy: Vec<Arc<dyn LegacyHashVerifier>>,
    dummy: OnceCell<String>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("params", &self.params)
            .field("pepper", &self.pepper.as_ref().map(|_| "[redacted]"))
            .field("legacy", &self.legacy)
            .finish_non_exhaustive()
    }
}

/// Largest memory cost we agree to verify (4 GiB), so a corrupt stored hash
/// cannot make us allocate without bound.
const MAX_VERIFY_KIB: u32 = 4 * 1024 * 1024;

/// Most passes over that memory we agree to verify: a stored (or imported)
/// hash with `t=4000000000` would otherwise hold a hashing thread for hours
/// on every login attempt. 64 passes is many times any recommended setting
/// (OWASP: 2 passes at 19 MiB).
const MAX_VERIFY_PASSES: u32 = 64;

/// Whether Argon2 parameters are beyond what we agree to verify.
fn beyond_bound(params: &Params) -> bool {
    params.m_cost() > MAX_VERIFY_KIB || params.t_cost() > MAX_VERIFY_PASSES
}

impl Hasher {
    /// A hasher with these parameters, at most `concurrency` hashes at once
    /// (at least 1), and an optional pepper (Argon2 secret).
    pub fn new(params: HashParams, concurrency: usize, pepper: Option<SecretSlice<u8>>) -> Self {
        Hasher {
            params,
            pepper: pepper.map(Arc::new),
            queue: Arc::new(Mutex::new(Queue::default())),
            concurrency: concurrency.max(1),
            buffers: Arc::new(Mutex::new(Vec::new())),
            legacy: Vec::new(),
            dummy: OnceCell::new(),
        }
    }

    /// Also accepts hashes this verifier recognizes; a match verifies as
    /// [`Verified::YesRehash`], so the login replaces it with Argon2id.
    pub fn with_legacy_verifier(mut self, verifier: Arc<dyn LegacyHashVerifier>) -> Self {
        self.legacy.push(verifier);
        self
    }

    /// True when `hash` is an Argon2 PHC string or in the format of a
    /// registered legacy verifier (whether it verifies is another matter).
    pub fn recognizes(&self, hash: &str) -> bool {
        self.legacy_for(hash).is_some()
            || PasswordHash::new(hash)
                .ok()
                .is_some_and(|p| Algorithm::try_from(p.algorithm.as_str()).is_ok())
    }

    /// False when `hash` is in a registered legacy format but asks for more
    /// work than its verifier's bounds (so it can never verify).
    pub fn within_bounds(&self, hash: &str) -> bool {
        !matches!(self.check(hash), Err(HashProblem::BeyondBound))
    }

    /// Whether `hash`, in a format this hasher recognizes, can verify at
    /// all, found without computing it (see
    /// [`LegacyHashVerifier::check`]): an Argon2 PHC string needs its
    /// parameters, salt and digest, and at most the memory a verify agrees
    /// to spend; a legacy hash what its verifier says.
    pub fn check(&self, hash: &str) -> std::result::Result<(), HashProblem> {
        match self.legacy_for(hash) {
            Some(verifier) => verifier.check(hash),
            None => check_argon2(hash),
        }
    }

    fn legacy_for(&self, hash: &str) -> Option<Arc<dyn LegacyHashVerifier>> {
        if hash.starts_with("$argon2") {
            return None;
        }
        self.legacy.iter().find(|v| v.recognizes(hash)).cloned()
    }

    /// Hashes `password` (normalise it first) into a PHC string.
    pub async fn hash(&self, password: SecretString) -> Result<String> {
        let params = self.params;
        let pepper = self.pepper.clone();
        let buffers = self.buffers.clone();
        self.run(move || {
            let salt = random_bytes::<16>();
            let p = Params::new(
                params.memory_kib,
                params.iterations,
                params.parallelism,
                Some(32),
            )
            .map_err(|e| Error::Config(format!("argon2 parameters: {e}")))?;
            let mut out = Zeroizing::new([0u8; 32]);
            compute(
                &buffers,
                pepper.as_deref(),
                Algorithm::Argon2id,
                p.clone(),
                password.expose_secret().as_bytes(),
                &salt,
                &mut out[..],
            )?;
            let salt = Salt::new(&salt).map_err(|e| Error::Internal(format!("salt: {e}")))?;
            let phc = PasswordHash {
                algorithm: argon2::ARGON2ID_IDENT,
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(p)
                    .map_err(|e| Error::Internal(format!("params: {e}")))?,
                salt: Some(salt),
                hash: Some(
                    Output::new(&out[..]).map_err(|e| Error::Internal(format!("output: {e}")))?,
                ),
            };
            Ok(phc.to_string())
        })
        .await
    }

    /// Verifies `password` against a PHC string (any Argon2 variant), or a
    /// hash a registered legacy verifier recognizes.
    ///
    /// A legacy hash beyond its verifier's bounds does not verify; it costs
    /// an unknown-user login's work, so it does not stand out by its speed.
    pub async fn verify(&self, password: SecretString, phc: &str) -> Result<Verified> {
        if let Err(problem) = self.check(phc) {
            tracing::warn!(
                format = phc.split('$').next().unwrap_or_default(),
                "a stored password hash cannot verify: {problem} \
                 (have the user reset the password; a hash beyond the bound \
                 verifies once the bound is raised)"
            );
            return self.dummy_verify(password).await.map(|()| Verified::No);
        }
        self.verify_timed(password, phc).await.map(|(v, _)| v)
    }

    /// Verifies, and says how long the computation itself took (queueing
    /// excluded): the measure the dummy verify is chosen by.
    async fn verify_timed(
        &self,
        password: SecretString,
        phc: &str,
    ) -> Result<(Verified, std::time::Duration)> {
        if let Some(legacy) = self.legacy_for(phc) {
            let hash = phc.to_owned();
            return self
                .run(move || {
                    let start = std::time::Instant::now();
                    let ok = legacy.verify(password.expose_secret().as_bytes(), &hash)?;
                    let v = if ok {
                        Verified::YesRehash
                    } else {
                        Verified::No
                    };
                    Ok((v, start.elapsed()))
                })
                .await;
        }
        let phc = phc.to_owned();
        let policy = self.params;
        let pepper = self.pepper.clone();
        let buffers = self.buffers.clone();
        self.run(move || {
            let start = std::time::Instant::now();
            let v = verify_blocking(
                &buffers,
                pepper.as_deref(),
                policy,
                password.expose_secret().as_bytes(),
                &phc,
            )?;
            Ok((v, start.elapsed()))
        })
        .await
    }

    /// Spends the same time as a real verify, on a hash of a random password,
    /// so unknown users cannot be told apart from wrong passwords. With
    /// legacy verifiers, the hash is the slowest of an Argon2 one and their
    /// [dummy hashes](LegacyHashVerifier::dummy_hashes), measured once
    /// (each at the verifier's bound, so no stored hash it accepts costs
    /// more).
    pub(crate) async fn dummy_verify(&self, password: SecretString) -> Result<()> {
        let dummy = self
            .dummy
            .get_or_try_init(|| self.slowest_dummy())
            .await?
            .clone();
        self.verify_timed(password, &dummy).await.map(|_| ())
    }

    /// The hash unknown-user logins verify against: the slowest to verify.
    pub(crate) async fn slowest_dummy(&self) -> Result<String> {
        let random = || SecretString::from(crate::crypto::random_token::<24>());
        // The faster of two runs: a run slowed by a busy moment of the
        // machine must not make a cheaper hash look like the dearest.
        let cost = |hash: String| async move {
            let (_, first) = self.verify_timed(random(), &hash).await?;
            let (_, second) = self.verify_timed(random(), &hash).await?;
            Ok::<_, Error>((first.min(second), hash))
        };
        let argon = self.hash(random()).await?;
        if self.legacy.is_empty() {
            return Ok(argon);
        }
        let (mut slowest, mut chosen) = cost(argon).await?;
        for candidate in self.legacy.iter().flat_map(|v| v.dummy_hashes()) {
            let (took, candidate) = cost(candidate).await?;
            tracing::debug!(
                format = candidate.split('$').next().unwrap_or_default(),
                ms = took.as_millis() as u64,
                "legacy hash cost"
            );
            if took > slowest {
                slowest = took;
                chosen = candidate;
            }
        }
        Ok(chosen)
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller gave up (its future was dropped): skip the work.
            if !tx.is_closed() {
                let _ = tx.send(f());
            }
        });
        let start_drainer = {
            let mut q = self
                .queue
                .lock()
                .map_err(|_| Error::Internal("hasher queue poisoned".into()))?;
            q.jobs.push_back(job);
            let start = q.drainers < self.concurrency;
            if start {
                q.drainers += 1;
            }
            start
        };
        if start_drainer {
            let queue = self.queue.clone();
            tokio::task::spawn_blocking(move || drain(&queue));
        }
        rx.await
            .map_err(|_| Error::Internal("password hashing task failed".into()))?
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Hashes waiting for a thread, and how many threads are draining them.
#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    drainers: usize,
}

/// Runs queued hashes one after another until the queue is empty.
fn drain(queue: &Mutex<Queue>) {
    loop {
        let job = {
            let Ok(mut q) = queue.lock() else { return };
            match q.jobs.pop_front() {
                Some(job) => job,
                None => {
                    q.drainers -= 1;
                    return;
                }
            }
        };
        // A panicking hash fails its own caller (the sender is dropped), not
        // the drainer.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

fn compute(
    buffers: &Mutex<Vec<Vec<Block>>>,
    pepper: Option<&SecretSlice<u8>>,
    alg: Algorithm,
    params: Params,
    pwd: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<()> {
    let blocks = params.block_count();
    let argon = match pepper {
        Some(p) => Argon2::new_with_secret(p.expose_secret(), alg, Version::V0x13, params)
            .map_err(|e| Error::Config(format!("pepper: {e}")))?,
        None => Argon2::new(alg, Version::V0x13, params),
    };
    let mut buf = buffers
        .lock()
        .ok()
        .and_then(|mut v| v.pop())
        .unwrap_or_default();
    if buf.len() < blocks {
        buf.resize(blocks, Block::default());
    }
    let r = argon.hash_password_into_with_memory(pwd, salt, out, &mut buf[..blocks]);
    if let Ok(mut v) = buffers.lock() {
        v.push(buf);
    }
    r.map_err(|e| Error::Internal(format!("argon2: {e}")))
}

/// Whether an Argon2 PHC string can verify: what `verify_blocking` needs
/// before it computes anything.
fn check_argon2(phc: &str) -> std::result::Result<(), HashProblem> {
    let parsed = PasswordHash::new(phc).map_err(|_| HashProblem::Malformed)?;
    Algorithm::try_from(parsed.algorithm.as_str()).map_err(|_| HashProblem::Parameters)?;
    let params = Params::try_from(&parsed).map_err(|_| HashProblem::Parameters)?;
    if parsed.salt.is_none() {
        return Err(HashProblem::Salt);
    }
    if parsed.hash.is_none() {
        return Err(HashProblem::Digest);
    }
    if beyond_bound(&params) {
        return Err(HashProblem::BeyondBound);
    }
    Ok(())
}

fn verify_blocking(
    buffers: &Mutex<Vec<Vec<Block>>>,
    pepper: Option<&SecretSlice<u8>>,
    policy: HashParams,
    pwd: &[u8],
    phc: &str,
) -> Result<Verified> {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return Ok(Verified::No);
    };
    let Ok(alg) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return Ok(Verified::No);
    };
    let (Ok(params), Some(salt), Some(expected)) =
        (Params::try_from(&parsed), parsed.salt, parsed.hash)
    else {
        return Ok(Verified::No);
    };
    if beyond_bound(&params) {
        return Ok(Verified::No);
    }
    let weaker = alg != Algorithm::Argon2id
        || params.m_cost() < policy.memory_kib
        || params.t_cost() < policy.iterations
        || params.p_cost() < policy.parallelism;
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    compute(buffers, pepper, alg, params, pwd, &salt, &mut out)?;
    if !ct_eq(&out, expected.as_bytes()) {
        return Ok(Verified::No);
    }
    Ok(if weaker {
        Verified::YesRehash
    } else {
        Verified::Yes
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> SecretString {
        SecretString::from(x.to_owned())
    }

    #[test]
    fn list_is_large_and_used() {
        assert!(common_password_count() >= 10_000);
        assert!(is_common_password("Password1"));
        assert!(is_common_password("QWERTYUIOP"));
        assert!(!is_common_password("correct horse battery staple 42"));
    }

    #[test]
    fn policy_rules() {
        let p = Policy::default();
        let check = |pw: &str| check_password(&p, &s(pw), &["alice", "alice@example.com"]);
        assert!(matches!(
            check("short"),
            Err(Error::WeakPassword(WeakPassword::TooShort(8)))
        ));
        assert!(matches!(
            check("        x"),
            Err(Error::WeakPassword(WeakPassword::TooShort(8)))
        ));
        assert!(matches!(
            check("password"),
            Err(Error::WeakPassword(WeakPassword::Common))
        ));
        assert!(matches!(
            check("ALICE@example.com"),
            Err(Error::WeakPassword(WeakPassword::SameAsIdentity))
        ));
        assert!(matches!(
            check(&"x".repeat(1025)),
            Err(Error::WeakPassword(WeakPassword::TooLong(1024)))
        ));
        assert!(matches!(
            check("abc\0defghij"),
            Err(Error::WeakPassword(WeakPassword::InvalidCharacters))
        ));
        // 64+ characters and any Unicode are allowed, with no composition rules.
        assert!(check(&"ü".repeat(100)).is_ok());
        assert!(check("tr0ub4dor and more").is_ok());
        // NFKC: the fullwidth form of a common password is still common.
        assert!(matches!(
            check("ｐａｓｓｗｏｒｄ"),
            Err(Error::WeakPassword(WeakPassword::Common))
        ));
    }

    #[tokio::test]
    async fn hash_verify_rehash() {
        let h = Hasher::new(HashParams::default(), 2, None);
        let phc = h.hash(s("long enough pw")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert_eq!(
            h.verify(s("long enough pw"), &phc).await.unwrap(),
            Verified::Yes
        );
        assert_eq!(
            h.verify(s("long enough pX"), &phc).await.unwrap(),
            Verified::No
        );
        assert_eq!(h.verify(s("x"), "not a hash").await.unwrap(), Verified::No);
        // A hash made with weaker parameters verifies and asks for a rehash.
        let weak = Hasher::new(
            HashParams {
                memory_kib: 8192,
                iterations: 1,
                parallelism: 1,
            },
            1,
            None,
        );
        let old = weak.hash(s("long enough pw")).await.unwrap();
        assert_eq!(
            h.verify(s("long enough pw"), &old).await.unwrap(),
            Verified::YesRehash
        );
        // Pepper: the same password under another pepper does not verify.
        let peppered = Hasher::new(
            HashParams::default(),
            1,
            Some(SecretSlice::from(b"pepper-1".to_vec())),
        );
        let other = Hasher::new(
            HashParams::default(),
            1,
            Some(SecretSlice::from(b"pepper-2".to_vec())),
        );
        let ph = peppered.hash(s("long enough pw")).await.unwrap();
        assert_eq!(
            peppered.verify(s("long enough pw"), &ph).await.unwrap(),
            Verified::Yes
        );
        assert_eq!(
            other.verify(s("long enough pw"), &ph).await.unwrap(),
            Verified::No
        );
        assert_eq!(
            h.verify(s("long enough pw"), &ph).await.unwrap(),
            Verified::No
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queue_bounds_concurrency_and_runs_every_job() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let h = Arc::new(Hasher::new(HashParams::default(), 2, None));
        let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut tasks = Vec::new();
        for i in 0..40usize {
            let (h, now, peak) = (h.clone(), now.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                h.run(move || {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    now.fetch_sub(1, Ordering::SeqCst);
                    if i == 7 {
                        panic!("a failing job");
                    }
                    Ok(i)
                })
                .await
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            let r = t.await.unwrap();
            if i == 7 {
                assert!(matches!(r, Err(Error::Internal(_))), "{r:?}");
            } else {
                assert_eq!(r.unwrap(), i);
            }
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        // The drainers finish (just after their last result is delivered)
        // and the hasher still works after the panic.
        let mut waited = 0;
        while h.queue.lock().unwrap().drainers > 0 && waited < 1000 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            waited += 1;
        }
        assert_eq!(h.queue.lock().unwrap().drainers, 0);
        let phc = h.hash(s("long enough pw")).await.unwrap();
        assert_eq!(
            h.verify(s("long enough pw"), &phc).await.unwrap(),
            Verified::Yes
        );
    }

    /// Hashes made by argon2 0.5 (plain, peppered, and Argon2i with weaker
    /// parameters): stored hashes must keep verifying across releases.
    #[tokio::test]
    async fn verifies_fixed_hashes_from_argon2_0_5() {
        const PLAIN: &str = "$argon2id$v=19$m=19456,t=2,p=1$vYAroE9atZsCdonLG+Umkw$KGOZydjaC9eMz7km0Gysrrd2vKuyYvZXqFVdLrwZkcA";
        const PEPPERED: &str = "$argon2id$v=19$m=19456,t=2,p=1$W1yBDmwcRd/5LGDDJxyu1w$TCY/0/N3EvVP2RRLTpE7ojBA+DuMxaSltQfOSZxZRsU";
        const ARGON2I: &str = "$argon2i$v=19$m=8192,t=3,p=1$c2l4dGVlbiBieXRlIHNsdA$fvdCxxjY/+avY5EEFajbtJ6sk7dAjP7M5nB18+QnbkE";
        let pw = || s("correct horse 0.5");
        let h = Hasher::new(HashParams::default(), 1, None);
        let peppered = Hasher::new(
            HashParams::default(),
            1,
            Some(SecretSlice::from(b"pepper-0.5".to_vec())),
        );
        assert_eq!(h.verify(pw(), PLAIN).await.unwrap(), Verified::Yes);
        assert_eq!(
            h.verify(s("correct horse 0.6"), PLAIN).await.unwrap(),
            Verified::No
        );
        assert_eq!(
            peppered.verify(pw(), PEPPERED).await.unwrap(),
            Verified::Yes
        );
        assert_eq!(h.verify(pw(), PEPPERED).await.unwrap(), Verified::No);
        assert_eq!(h.verify(pw(), ARGON2I).await.unwrap(), Verified::YesRehash);
    }

    /// A stored hash asking for more passes or memory than any sane
    /// setting is refused before any work: it would hold a hashing thread
    /// for hours on each login.
    #[tokio::test]
    async fn argon2_hashes_beyond_the_bounds_cost_nothing() {
        const SALT_AND_DIGEST: &str =
            "vYAroE9atZsCdonLG+Umkw$KGOZydjaC9eMz7km0Gysrrd2vKuyYvZXqFVdLrwZkcA";
        let h = Hasher::new(HashParams::default(), 1, None);
        for params in [
            "m=19456,t=4000000000,p=1",
            "m=19456,t=65,p=1",
            "m=4194305,t=2,p=1",
        ] {
            let phc = format!("$argon2id$v=19${params}${SALT_AND_DIGEST}");
            assert_eq!(h.check(&phc), Err(HashProblem::BeyondBound), "{params}");
            assert!(!h.within_bounds(&phc), "{params}");
            // (Before the bound, this call ran for hours with t=4000000000.)
            assert_eq!(
                h.verify(s("correct horse 0.5"), &phc).await.unwrap(),
                Verified::No
            );
        }
        // The largest pass count still allowed verifies as usual.
        let phc = format!("$argon2id$v=19$m=19456,t=64,p=1${SALT_AND_DIGEST}");
        assert_eq!(h.check(&phc), Ok(()));
    }

    #[tokio::test]
    async fn hashes_match_raw_argon2() {
        // Our pooled-memory path produces exactly what the argon2 crate's own API verifies.
        use argon2::PasswordVerifier;
        let h = Hasher::new(HashParams::default(), 1, None);
        let phc = h.hash(s("interop check pw")).await.unwrap();
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"interop check pw", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"interop check pX", &parsed)
                .is_err()
        );
    }
}
