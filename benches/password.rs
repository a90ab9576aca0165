//! Password verification: the library's verify (blocking pool, semaphore,
//! pooled memory) against raw `argon2` with the same parameters, with
//! reused and with fresh memory, all in one run. Prints ratios at the end.

use std::hint::black_box;
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use argon2::{PasswordHasher as _, PasswordVerifier as _};
use criterion::{Criterion, criterion_group};
use secrecy::SecretString;
use twofa_verify::password::Hasher;
use twofa_verify::password::Verified;
use twofa_verify::policy::HashParams;

const PW: &str = "correct horse battery staple";

fn argon() -> Argon2<'static> {
    let p = HashParams::default();
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32)).unwrap(),
    )
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let phc = argon()
        .hash_password_with_salt(PW.as_bytes(), b"0123456789abcdef")
        .unwrap()
        .to_string();
    let parsed = PasswordHash::new(&phc).unwrap();
    let hasher = Hasher::new(HashParams::default(), 2, None);

    let mut g = c.benchmark_group("password_verify");
    g.sample_size(30).measurement_time(Duration::from_secs(8));
    g.bench_function("raw_argon2_fresh_memory", |b| {
        b.iter(|| black_box(argon().verify_password(PW.as_bytes(), &parsed).is_ok()))
    });
    let mut blocks =
        vec![Block::default(); Params::new(19_456, 2, 1, Some(32)).unwrap().block_count()];
    let expected = parsed.hash.unwrap();
    g.bench_function("raw_argon2_reused_memory", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            argon()
                .hash_password_into_with_memory(
                    PW.as_bytes(),
                    b"0123456789abcdef",
                    &mut out,
                    &mut blocks,
                )
                .unwrap();
            black_box(out == expected.as_bytes())
        })
    });
    g.bench_function("library_verify", |b| {
        b.iter(|| {
            let v = rt
                .block_on(hasher.verify(SecretString::from(PW), &phc))
                .unwrap();
            assert_eq!(v, Verified::Yes);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);

fn mean_ns(id: &str) -> Option<f64> {
    let path = format!(
        "{}/criterion/password_verify/{id}/new/estimates.json",
        target_dir()
    );
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn target_dir() -> String {
    std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").to_owned())
}

/// Interleaved rounds (A, B, C, A, B, C, ...) so that load from elsewhere on
/// the machine hits every variant alike; returns the median of each.
fn interleaved(rounds: usize) -> [f64; 3] {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let phc = argon()
        .hash_password_with_salt(PW.as_bytes(), b"0123456789abcdef")
        .unwrap()
        .to_string();
    let parsed = PasswordHash::new(&phc).unwrap();
    let expected = parsed.hash.unwrap();
    let hasher = Hasher::new(HashParams::default(), 2, None);
    let mut blocks =
        vec![Block::default(); Params::new(19_456, 2, 1, Some(32)).unwrap().block_count()];
    let mut t: [Vec<f64>; 3] = Default::default();
    for _ in 0..rounds {
        let s = std::time::Instant::now();
        black_box(argon().verify_password(PW.as_bytes(), &parsed).is_ok());
        t[0].push(s.elapsed().as_secs_f64());
        let s = std::time::Instant::now();
        let mut out = [0u8; 32];
        argon()
            .hash_password_into_with_memory(
                PW.as_bytes(),
                b"0123456789abcdef",
                &mut out,
                &mut blocks,
            )
            .unwrap();
        black_box(out == expected.as_bytes());
        t[1].push(s.elapsed().as_secs_f64());
        let s = std::time::Instant::now();
        assert_eq!(
            rt.block_on(hasher.verify(SecretString::from(PW), &phc))
                .unwrap(),
            Verified::Yes
        );
        t[2].push(s.elapsed().as_secs_f64());
    }
    t.map(|mut v| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2] * 1e9
    })
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let [fresh, reused, lib] = interleaved(60);
    println!("\n== interleaved, 60 rounds, medians ==");
    println!(
        "raw fresh {:.2} ms, raw reused {:.2} ms, library {:.2} ms",
        fresh / 1e6,
        reused / 1e6,
        lib / 1e6
    );
    println!(
        "library / raw reused: {:.3}x (target <= 1.05x); library / raw fresh: {:.3}x (target < 1.00x)",
        lib / reused,
        lib / fresh
    );
    let (Some(fresh), Some(reused), Some(lib)) = (
        mean_ns("raw_argon2_fresh_memory"),
        mean_ns("raw_argon2_reused_memory"),
        mean_ns("library_verify"),
    ) else {
        return;
    };
    println!("\n== password verify (argon2id m=19456 t=2 p=1), same run ==");
    println!("raw argon2, fresh memory : {:8.2} ms", fresh / 1e6);
    println!("raw argon2, reused memory: {:8.2} ms", reused / 1e6);
    println!("library verify           : {:8.2} ms", lib / 1e6);
    println!(
        "library / raw reused     : {:.3}x  (target <= 1.05x)",
        lib / reused
    );
    println!(
        "library / raw fresh      : {:.3}x  (target < 1.00x)",
        lib / fresh
    );
}
