//! Raw Argon2id verifies (the argon2 crate alone): the ceiling for logins.

use std::time::Instant;

use argon2::PasswordHasher as _;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use twofa_verify::HashParams;

use crate::{PW, Res};

pub(crate) fn raw_argon() -> Res<Argon2<'static>> {
    let p = HashParams::default();
    Ok(Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32))
            .map_err(|e| format!("argon2 params: {e}"))?,
    ))
}

/// One raw verify: hash with reused memory, compare.
pub(crate) struct RawVerifier {
    pub(crate) argon: Argon2<'static>,
    pub(crate) blocks: Vec<Block>,
    pub(crate) expected: Vec<u8>,
}

impl RawVerifier {
    pub(crate) fn new() -> Res<Self> {
        let argon = raw_argon()?;
        let phc = argon
            .hash_password_with_salt(PW.as_bytes(), b"0123456789abcdef")
            .map_err(|e| e.to_string())?
            .to_string();
        let parsed = PasswordHash::new(&phc).map_err(|e| e.to_string())?;
        let expected = parsed
            .hash
            .ok_or("no hash in the PHC string")?
            .as_bytes()
            .to_vec();
        let blocks = vec![Block::default(); argon.params().block_count()];
        Ok(RawVerifier {
            argon,
            blocks,
            expected,
        })
    }

    pub(crate) fn verify(&mut self) -> Res<bool> {
        let mut out = [0u8; 32];
        self.argon
            .hash_password_into_with_memory(
                PW.as_bytes(),
                b"0123456789abcdef",
                &mut out,
                &mut self.blocks,
            )
            .map_err(|e| e.to_string())?;
        Ok(std::hint::black_box(out[..] == self.expected[..]))
    }
}

/// Seconds per raw verify, one thread, `n` samples (after one warm-up).
pub(crate) fn raw_verify_samples(n: usize) -> Res<Vec<f64>> {
    let mut v = RawVerifier::new()?;
    v.verify()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        if !v.verify()? {
            return Err("raw verify failed".into());
        }
        out.push(t.elapsed().as_secs_f64());
    }
    Ok(out)
}

/// Raw verifies per second with `threads` threads at once (set-up, which
/// hashes once, is outside the timing).
pub(crate) fn raw_parallel_rate(threads: usize, per_thread: usize) -> Res<f64> {
    let mut verifiers = Vec::with_capacity(threads);
    for _ in 0..threads {
        verifiers.push(RawVerifier::new()?);
    }
    let barrier = std::sync::Barrier::new(threads + 1);
    let (results, secs) = std::thread::scope(|s| {
        let hs: Vec<_> = verifiers
            .into_iter()
            .map(|mut v| {
                let barrier = &barrier;
                s.spawn(move || -> Res<()> {
                    barrier.wait();
                    for _ in 0..per_thread {
                        v.verify()?;
                    }
                    Ok(())
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let results: Vec<Res<()>> = hs
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
            .collect();
        (results, start.elapsed().as_secs_f64())
    });
    for r in results {
        r?;
    }
    Ok((threads * per_thread) as f64 / secs)
}
