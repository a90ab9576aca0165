//! The login storm: concurrent `Authenticator::login` calls, with a cheap
//! call probed from outside the runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use twofa_verify::StepUp;
use twofa_verify::clock::Clock;
use twofa_verify::clock::ManualClock;
use twofa_verify::factor::totp_code;
use twofa_verify::secrecy::{ExposeSecret, SecretString};
use twofa_verify::{Authenticator, Login, MemoryStore, Policy, UserId};

use crate::stats::Lat;
use crate::system::CpuWatch;
use crate::{Args, PROBE_INTERVAL, PW, Res, STORM_CONCURRENCY};

pub(crate) struct Storm {
    pub(crate) logins: usize,
    pub(crate) secs: f64,
    /// Cores used by this process and by others during the storm.
    pub(crate) cpu: (f64, f64),
    pub(crate) idle: Lat,
    pub(crate) during: Lat,
}

impl Storm {
    pub(crate) fn rate(&self) -> f64 {
        self.logins as f64 / self.secs
    }
    pub(crate) fn json(&self, ceiling: f64, raw_parallel: f64) -> Value {
        json!({
            "concurrency": STORM_CONCURRENCY,
            "of_raw_parallel": self.rate() / raw_parallel,
            "own_cores": self.cpu.0,
            "other_processes_cores": self.cpu.1,
            "logins": self.logins,
            "seconds": self.secs,
            "logins_per_s": self.rate(),
            "of_ceiling": self.rate() / ceiling,
            "target_of_ceiling": 0.9,
            "probe": "Authenticator::verify_totp, fresh ManualClock step per call, spawned every 2 ms from a thread outside the runtime",
            "probe_idle": self.idle.json(),
            "probe_during_storm": self.during.json(),
            "target_probe_p99_ms": 5.0,
        })
    }
}

/// The cheap operation: one TOTP check on a fresh time step.
#[derive(Clone)]
pub(crate) struct Probe {
    pub(crate) auth: Authenticator,
    pub(crate) clock: ManualClock,
    pub(crate) secret: Arc<Vec<u8>>,
    pub(crate) user: UserId,
}

impl Probe {
    pub(crate) async fn once(&self, issued: Instant) -> Res<f64> {
        self.clock.advance(Duration::from_secs(30));
        let code = totp_code(&self.secret, self.clock.now().as_secs() as u64, 30, 6);
        self.auth
            .verify_totp(self.user, &SecretString::from(code.as_str()))
            .await?;
        Ok(issued.elapsed().as_secs_f64())
    }
}

/// Issues a probe every [`PROBE_INTERVAL`] from this (non-runtime) thread
/// until `stop` is set or `max` samples; the latency counts from the spawn
/// (so it includes waiting for a worker), to the end of the call.
pub(crate) fn probe_loop(
    handle: &tokio::runtime::Handle,
    probe: &Probe,
    stop: &AtomicBool,
    max: usize,
) -> Res<Vec<f64>> {
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) && out.len() < max {
        std::thread::sleep(PROBE_INTERVAL);
        let p = probe.clone();
        let issued = Instant::now();
        let lat = handle
            .block_on(handle.spawn(async move { p.once(issued).await }))
            .map_err(|e| format!("probe task: {e}"))??;
        out.push(lat);
    }
    Ok(out)
}

pub(crate) async fn storm(args: &Args, handle: tokio::runtime::Handle) -> Res<Storm> {
    let clock = ManualClock::starting_now();
    let users = 16;
    // 256 tasks share 16 accounts, so up to 16 logins of one account are in
    // flight at once, and each counts as a failure until it is decided
    // (reserve, then check): the default delay from the 5th would refuse
    // most of the storm. Delays are not what is measured here.
    let mut policy = Policy::default();
    policy.delay_after_failures = 2 * STORM_CONCURRENCY.div_ceil(users) as u32;
    policy.lock_after_failures = policy.delay_after_failures;
    let auth = Authenticator::builder()
        .store(MemoryStore::new())
        .secret_key(twofa_verify::SecretKey::generate())
        .clock(clock.clone())
        .policy(policy)
        .build()?;
    let pw = SecretString::from(PW);
    for i in 0..users {
        auth.register(&format!("storm{i}"), &format!("storm{i}@example.com"), &pw)
            .await?;
    }
    let u = auth.register("probe", "probe@example.com", &pw).await?;
    let e = auth
        .start_totp_enrollment(u.id, &StepUp::password(PW))
        .await?;
    let secret = data_encoding::BASE32_NOPAD
        .decode(e.secret_base32.expose_secret().as_bytes())
        .map_err(|e| format!("TOTP secret: {e}"))?;
    let code = totp_code(&secret, clock.now().as_secs() as u64, 30, 6);
    let _enrolled = auth
        .confirm_totp_enrollment(u.id, &SecretString::from(code.as_str()))
        .await?;
    let probe = Probe {
        auth: auth.clone(),
        clock,
        secret: Arc::new(secret),
        user: u.id,
    };

    // Probe without the storm (from a plain thread, the runtime idle).
    let idle_n = if args.quick { 300 } else { 1000 };
    let (h, p) = (handle.clone(), probe.clone());
    let idler = std::thread::spawn(move || probe_loop(&h, &p, &AtomicBool::new(false), idle_n));
    let idle = tokio::task::spawn_blocking(move || idler.join())
        .await
        .map_err(|e| format!("probe thread: {e}"))?
        .map_err(|_| "probe thread panicked")??;

    let rounds = if args.quick { 1 } else { 4 };
    // The storm, with the probe running beside it.
    let stop = Arc::new(AtomicBool::new(false));
    let (h, p, s) = (handle.clone(), probe.clone(), stop.clone());
    let prober = std::thread::spawn(move || probe_loop(&h, &p, &s, usize::MAX));
    let watch = CpuWatch::start();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..STORM_CONCURRENCY {
        let auth = auth.clone();
        let pw = pw.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..rounds {
                match auth.login(&format!("storm{}", t % users), &pw).await? {
                    Login::Complete(_) => {}
                    Login::SecondFactor(_) => return Err("unexpected second factor".into()),
                    other => return Err(format!("unexpected login outcome {other:?}").into()),
                }
            }
            Res::Ok(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| format!("storm task: {e}"))??;
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = watch.stop();
    stop.store(true, Ordering::Relaxed);
    let during = tokio::task::spawn_blocking(move || prober.join())
        .await
        .map_err(|e| format!("probe thread: {e}"))?
        .map_err(|_| "probe thread panicked")??;
    Ok(Storm {
        logins: STORM_CONCURRENCY * rounds,
        secs,
        cpu,
        idle: Lat::of(idle),
        during: Lat::of(during),
    })
}
