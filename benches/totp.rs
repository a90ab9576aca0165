//! TOTP verification: the library's `verify_totp` (user lookup, secret
//! decryption, window check, replay check in the MemoryStore) against a raw
//! totp-rs `check` of the same code, in the same run. Prints the ratio.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group};
use secrecy::{ExposeSecret, SecretString};
use totp_rs::{Algorithm, Builder};
use twofa_verify::clock::Clock;
use twofa_verify::clock::ManualClock;
use twofa_verify::{Authenticator, MemoryStore, StepUp, Timestamp, factor::totp_code};

/// A user with an authenticator app enrolled, on a frozen clock, and a raw
/// totp-rs check of the same secret: what both modes measure.
struct Fixture {
    rt: tokio::runtime::Runtime,
    clock: ManualClock,
    auth: Authenticator,
    id: twofa_verify::UserId,
    secret: Vec<u8>,
    raw: totp_rs::Totp,
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let auth = Authenticator::builder()
        .store(MemoryStore::new())
        .secret_key(
            twofa_verify::SecretKey::from_bytes(b"bench-secret-key-0123456789abcdef!!".to_vec())
                .unwrap(),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    let (id, secret) = rt.block_on(async {
        let u = auth
            .register(
                "bench",
                "bench@example.com",
                &SecretString::from("correct horse battery"),
            )
            .await
            .unwrap();
        let e = auth
            .start_totp_enrollment(u.id, &StepUp::password("correct horse battery"))
            .await
            .unwrap();
        let secret = data_encoding::BASE32_NOPAD
            .decode(e.secret_base32.expose_secret().as_bytes())
            .unwrap();
        let now = clock.now().as_secs() as u64;
        let _enrolled = auth
            .confirm_totp_enrollment(
                u.id,
                &SecretString::from(totp_code(&secret, now, 30, 6).as_str()),
            )
            .await
            .unwrap();
        (u.id, secret)
    });
    let raw = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret.clone())
        .build()
        .unwrap();
    Fixture {
        rt,
        clock,
        auth,
        id,
        secret,
        raw,
    }
}

fn bench(c: &mut Criterion) {
    let Fixture {
        rt,
        clock,
        auth,
        id,
        secret,
        raw,
    } = fixture();

    let mut g = c.benchmark_group("totp_verify");
    g.measurement_time(Duration::from_secs(4));
    g.bench_function("raw_totp_rs_check", |b| {
        let t = clock.now().as_secs() as u64;
        let code = raw.generate(t).to_string();
        b.iter(|| black_box(raw.check(&code, t)))
    });
    g.bench_function("library_verify_totp_with_replay_check", |b| {
        b.iter_batched(
            || {
                // Each iteration answers a fresh time step (a used step is refused).
                clock.advance(Duration::from_secs(30));
                totp_code(&secret, clock.now().as_secs() as u64, 30, 6)
            },
            |code| {
                let r = rt.block_on(auth.verify_totp(id, &SecretString::from(code.as_str())));
                assert!(r.is_ok(), "{r:?} at {:?}", clock.now())
            },
            BatchSize::PerIteration,
        )
    });
    // Parts of the library's path, to show where the time goes.
    g.bench_function("part_aead_open_20_bytes", |b| {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let key = [7u8; 32];
        let nonce = [1u8; 12];
        let ct = aes_gcm::Aes256Gcm::new(&key.into())
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: &secret[..],
                    aad: b"aad",
                },
            )
            .unwrap();
        b.iter(|| {
            let c = aes_gcm::Aes256Gcm::new(&key.into());
            black_box(
                c.decrypt(
                    &nonce.into(),
                    Payload {
                        msg: &ct[..],
                        aad: b"aad",
                    },
                )
                .unwrap(),
            )
        })
    });
    g.bench_function("part_memory_store_advance", |b| {
        use twofa_verify::StateStore;
        let store = MemoryStore::new();
        let mut step = 0i64;
        let exp = Timestamp::from_millis(i64::MAX);
        let now = Timestamp::from_millis(0);
        b.iter(|| {
            step += 1;
            black_box(
                rt.block_on(store.advance("totp-step:1", step, exp, now))
                    .unwrap(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);

fn mean_ns(id: &str) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").to_owned());
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{dir}/criterion/totp_verify/{id}/new/estimates.json"
        ))
        .ok()?,
    )
    .ok()?;
    v["mean"]["point_estimate"].as_f64()
}

/// `TOTP_COUNT=raw|library|setup N`: runs only that part N times, without
/// criterion, for instruction counts (`valgrind --tool=callgrind`): the
/// difference from `setup` divided by N is the cost of one call, free of
/// the machine's noise.
fn count_mode(mode: &str, n: u64) {
    let Fixture {
        rt,
        clock,
        auth,
        id,
        secret,
        raw,
    } = fixture();
    for _ in 0..n {
        clock.advance(Duration::from_secs(30));
        let t = clock.now().as_secs() as u64;
        let code = totp_code(&secret, t, 30, 6);
        match mode {
            "raw" => assert!(black_box(raw.check(&code, t)).is_some()),
            "library" => {
                let r = rt.block_on(auth.verify_totp(id, &SecretString::from(code.as_str())));
                assert!(r.is_ok());
            }
            _ => {
                black_box(SecretString::from(code.as_str()));
            }
        }
    }
}

fn main() {
    if let Ok(mode) = std::env::var("TOTP_COUNT") {
        let mut parts = mode.split_whitespace();
        let what = parts.next().unwrap_or("setup").to_owned();
        let n = parts.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
        count_mode(&what, n);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    if let (Some(raw), Some(lib)) = (
        mean_ns("raw_totp_rs_check"),
        mean_ns("library_verify_totp_with_replay_check"),
    ) {
        println!("\n== TOTP verify, same run ==");
        println!(
            "raw totp-rs check: {:.2} µs; library verify_totp (incl. replay check): {:.2} µs",
            raw / 1e3,
            lib / 1e3
        );
        println!(
            "ratio: {:.2}x (target <= 3x); library under 5 µs: {}",
            lib / raw,
            lib < 5_000.0
        );
        if let (Some(aead), Some(adv)) = (
            mean_ns("part_aead_open_20_bytes"),
            mean_ns("part_memory_store_advance"),
        ) {
            println!(
                "parts: AEAD open of the secret {:.2} µs; one MemoryStore advance (incl. block_on) {:.2} µs",
                aead / 1e3,
                adv / 1e3
            );
        }
    }
}
