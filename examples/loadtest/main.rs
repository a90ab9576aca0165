//! Load test (issue 7): a login storm on the library and the whole login
//! flow over HTTP against the axum example, side by side with the ceiling
//! set by Argon2 on this machine, all measured in one run.
//!
//! ```text
//! cargo run --release --example loadtest --all-features -- [--flows N] [--quick]
//!     [--connections N] [--fresh-sessions] [--stores memory,sqlite,postgres,postgres+redis]
//! ```
//!
//! 1. Raw Argon2id verify (argon2 crate, m=19456 t=2 p=1, reused memory):
//!    one thread, and one thread per core at once. The ceiling for logins
//!    is `cores / (one raw verify)`.
//! 2. Login storm: 256 concurrent `Authenticator::login` calls on a
//!    2-worker tokio runtime, and the latency of a cheap call
//!    (`Authenticator::verify_totp`, each call on a fresh time step of a
//!    `ManualClock`) issued every 2 ms from outside the runtime, with and
//!    without the storm.
//! 3. Whole flow over HTTP: the axum example served in-process on a real
//!    TCP port, 64 keep-alive connections, each one browser (one user, SMS
//!    2FA) doing GET /login, POST /login, GET /verify_2fa, POST /verify_2fa
//!    with the console SMS code. The browser then logs out (GET the profile
//!    page for its CSRF token, POST /logout; not in the flow latency), or,
//!    with `--fresh-sessions`, forgets its cookie (every flow a new browser).
//!    Repeated per store: memory, SQLite (temp file), PostgreSQL (when
//!    `DATABASE_URL` is set and the `postgres` feature is on; fresh schema),
//!    PostgreSQL users with Redis state and sessions (when `REDIS_URL` is
//!    set too and the `redis` feature is on; fresh schema and key prefix).
//!
//! Prints a table and writes `$CARGO_TARGET_DIR/loadtest.json` (default
//! `target/loadtest.json`).

#[path = "../axum_app/app.rs"]
mod app;
#[path = "../common/mod.rs"]
mod common;

use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use axum::body::Bytes;
use axum::http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use twofa_verify::StepUp;
use twofa_verify::factor::{ConsoleSms, totp_code};
use twofa_verify::{
    Authenticator, Clock, HashParams, Login, ManualClock, MemoryStore, Policy, RateLimit, UserId,
};

use common::SetupError;

type Res<T> = Result<T, SetupError>;

const PW: &str = "correct horse battery staple 7";
const STORM_CONCURRENCY: usize = 256;
const PROBE_INTERVAL: Duration = Duration::from_millis(2);

const USAGE: &str = "\
usage: loadtest [--flows N] [--quick] [--connections N] [--fresh-sessions]
                [--stores memory,sqlite,postgres,postgres+redis]

  --flows N          HTTP login flows per store (default 10000; --quick: 600)
  --quick            a smoke run: fewer storm rounds, flows and samples
  --connections N    concurrent keep-alive connections (default 64)
  --fresh-sessions   every flow is a new browser (no logout): the server keeps
                     one logged-in session per flow (shows session growth)
  --stores LIST      which stores to run (default: memory,sqlite, postgres
                     when DATABASE_URL is set, postgres+redis when REDIS_URL
                     is set too)
  --storm-only       only the raw argon2 figures and the login storm";

struct Args {
    flows: usize,
    quick: bool,
    connections: usize,
    fresh_sessions: bool,
    stores: Vec<String>,
}

fn parse_args() -> Res<Option<Args>> {
    let mut flows = None;
    let mut quick = false;
    let mut connections = 64;
    let mut fresh_sessions = false;
    let mut storm_only = false;
    let mut stores: Option<Vec<String>> = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (a.clone(), None),
        };
        let mut value = || -> Res<String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}").into())
        };
        match flag.as_str() {
            "--flows" => flows = Some(value()?.parse().map_err(|_| "--flows needs a number")?),
            "--connections" => {
                connections = value()?
                    .parse()
                    .map_err(|_| "--connections needs a number")?
            }
            "--quick" => quick = true,
            "--fresh-sessions" => fresh_sessions = true,
            "--storm-only" => storm_only = true,
            "--stores" => stores = Some(value()?.split(',').map(|s| s.trim().to_owned()).collect()),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            // `cargo bench`-style harness flags are ignored.
            "--bench" | "--nocapture" => {}
            other => return Err(format!("unknown argument {other}\n\n{USAGE}").into()),
        }
    }
    if !(1..=1000).contains(&connections) {
        return Err("--connections must be between 1 and 1000".into());
    }
    let flows = flows.unwrap_or(if quick { 600 } else { 10_000 });
    if flows < 2 * connections {
        return Err("--flows must be at least twice --connections (warm-up)".into());
    }
    let stores = if storm_only { Some(Vec::new()) } else { stores };
    let stores = stores.unwrap_or_else(|| {
        let mut s = vec!["memory".to_owned(), "sqlite".to_owned()];
        if database_url().is_some() {
            s.push("postgres".to_owned());
            if redis_url().is_some() {
                s.push("postgres+redis".to_owned());
            }
        }
        s
    });
    Ok(Some(Args {
        flows,
        quick,
        connections,
        fresh_sessions,
        stores,
    }))
}

fn database_url() -> Option<String> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
}

fn redis_url() -> Option<String> {
    std::env::var("REDIS_URL")
        .ok()
        .filter(|s| s.starts_with("redis://") || s.starts_with("redis+unix://"))
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Res<()> {
    let Some(args) = parse_args()? else {
        return Ok(());
    };
    let cores = cores();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let machine = machine();
    println!("load test on {machine}, {cores} cores; runtime: 2 tokio workers");

    let mut rss_phases = vec![("start", rss_kib().0)];

    // 1. Raw argon2, one thread and one per core at once, before and after
    //    the storm; the storm is compared with both.
    let samples = if args.quick { 10 } else { 30 };
    let par_n = if args.quick { 6 } else { 15 };
    let watch = CpuWatch::start();
    let mut raw = raw_verify_samples(samples)?;
    let par_before = raw_parallel_rate(cores, par_n)?;
    let raw_load = watch.stop();
    rss_phases.push(("after raw argon2", rss_kib().0));
    let storm = rt.block_on(storm(&args, rt.handle().clone()))?;
    rss_phases.push(("after storm", rss_kib().0));
    let watch = CpuWatch::start();
    raw.extend(raw_verify_samples(samples)?);
    let par_after = raw_parallel_rate(cores, par_n)?;
    let raw_load2 = watch.stop();
    let raw_ms = median(&mut raw) * 1e3;
    let ceiling = cores as f64 / (raw_ms / 1e3);
    let raw_parallel = (par_before + par_after) / 2.0;
    let raw_other = (raw_load.1 + raw_load2.1) / 2.0;
    print_raw(raw_ms, ceiling, par_before, par_after, cores, raw_other);
    print_storm(&storm, ceiling, raw_parallel);

    // 2 and 3. HTTP flow per store.
    let mut http = Vec::new();
    for store in &args.stores {
        let r = rt.block_on(http_store(store, &args))?;
        print_http(&r, ceiling);
        rss_phases.push(("after http run", r.rss_end_kib));
        http.push(r);
    }
    println!();
    print_table(raw_ms, ceiling, raw_parallel, &storm, &http);

    let report = json!({
        "machine": machine,
        "cores": cores,
        "tokio_workers": 2,
        "quick": args.quick,
        "raw_argon2": {
            "params": "argon2id m=19456 t=2 p=1, reused memory",
            "verify_ms_median": raw_ms,
            "ceiling_per_s": ceiling,
            "parallel_raw_per_s_before_storm": par_before,
            "parallel_raw_per_s_after_storm": par_after,
            "other_processes_cores": raw_other,
        },
        "storm": storm.json(ceiling, raw_parallel),
        "http": http.iter().map(|h| h.json(ceiling)).collect::<Vec<_>>(),
        "rss_kib_by_phase": rss_phases.iter().map(|(k, v)| json!({ "phase": k, "rss_kib": v })).collect::<Vec<_>>(),
    });
    let path = std::path::PathBuf::from(target_dir()).join("loadtest.json");
    std::fs::create_dir_all(target_dir())?;
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("\nwrote {}", path.display());
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn target_dir() -> String {
    std::env::var("CARGO_TARGET_DIR")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/target").to_owned())
}

fn machine() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

// ------------------------------------------------------------ CPU load

/// CPU ticks: (busy on the whole machine, used by this process).
fn cpu_ticks() -> (u64, u64) {
    let busy = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let l = s.lines().next()?.to_owned();
            let f: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal
            Some(f.iter().take(8).sum::<u64>() - f.get(3)? - f.get(4)?)
        })
        .unwrap_or(0);
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_owned();
            // Fields after the command: 3 state, 4 ppid, ..., 14 utime, 15 stime.
            let f: Vec<&str> = rest.split_whitespace().collect();
            let n = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok());
            Some(n(14)? + n(15)?)
        })
        .unwrap_or(0);
    (busy, own)
}

/// Measures how many cores other processes kept busy during a phase.
struct CpuWatch {
    at: Instant,
    ticks: (u64, u64),
}

impl CpuWatch {
    fn start() -> Self {
        CpuWatch {
            at: Instant::now(),
            ticks: cpu_ticks(),
        }
    }
    /// (cores used by this process, cores used by others) on average.
    fn stop(&self) -> (f64, f64) {
        let (busy, own) = cpu_ticks();
        let secs = self.at.elapsed().as_secs_f64().max(1e-3);
        let tick = 100.0; // USER_HZ
        let own_c = own.saturating_sub(self.ticks.1) as f64 / tick / secs;
        let all_c = busy.saturating_sub(self.ticks.0) as f64 / tick / secs;
        (own_c, (all_c - own_c).max(0.0))
    }
}

// ------------------------------------------------------------ statistics

fn median(v: &mut [f64]) -> f64 {
    percentile(v, 0.5)
}

/// Nearest-rank percentile (sorts `v`).
fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

#[derive(Clone, Copy)]
struct Lat {
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    n: usize,
}

impl Lat {
    fn of(mut secs: Vec<f64>) -> Lat {
        let n = secs.len();
        Lat {
            p50_ms: percentile(&mut secs, 0.5) * 1e3,
            p99_ms: percentile(&mut secs, 0.99) * 1e3,
            max_ms: percentile(&mut secs, 1.0) * 1e3,
            n,
        }
    }
    fn json(&self) -> Value {
        json!({ "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "max_ms": self.max_ms, "samples": self.n })
    }
}

// -------------------------------------------------------------- raw argon2

fn raw_argon() -> Res<Argon2<'static>> {
    let p = HashParams::default();
    Ok(Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32))
            .map_err(|e| format!("argon2 params: {e}"))?,
    ))
}

/// One raw verify: hash with reused memory, compare.
struct RawVerifier {
    argon: Argon2<'static>,
    blocks: Vec<Block>,
    expected: Vec<u8>,
}

impl RawVerifier {
    fn new() -> Res<Self> {
        let argon = raw_argon()?;
        let salt = SaltString::encode_b64(b"0123456789abcdef").map_err(|e| e.to_string())?;
        let phc = argon
            .hash_password(PW.as_bytes(), &salt)
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

    fn verify(&mut self) -> Res<bool> {
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
fn raw_verify_samples(n: usize) -> Res<Vec<f64>> {
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
fn raw_parallel_rate(threads: usize, per_thread: usize) -> Res<f64> {
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

// ------------------------------------------------------------------- storm

struct Storm {
    logins: usize,
    secs: f64,
    /// Cores used by this process and by others during the storm.
    cpu: (f64, f64),
    idle: Lat,
    during: Lat,
}

impl Storm {
    fn rate(&self) -> f64 {
        self.logins as f64 / self.secs
    }
    fn json(&self, ceiling: f64, raw_parallel: f64) -> Value {
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

fn random_key() -> Vec<u8> {
    use rand::RngCore;
    let mut k = vec![0u8; 32];
    rand::rng().fill_bytes(&mut k);
    k
}

/// The cheap operation: one TOTP check on a fresh time step.
#[derive(Clone)]
struct Probe {
    auth: Authenticator,
    clock: ManualClock,
    secret: Arc<Vec<u8>>,
    user: UserId,
}

impl Probe {
    async fn once(&self, issued: Instant) -> Res<f64> {
        self.clock.advance(Duration::from_secs(30));
        let code = totp_code(&self.secret, self.clock.now().as_secs() as u64, 30, 6);
        if !self.auth.verify_totp(self.user, &code).await? {
            return Err("the TOTP probe's code was refused".into());
        }
        Ok(issued.elapsed().as_secs_f64())
    }
}

/// Issues a probe every [`PROBE_INTERVAL`] from this (non-runtime) thread
/// until `stop` is set or `max` samples; the latency counts from the spawn
/// (so it includes waiting for a worker), to the end of the call.
fn probe_loop(
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

async fn storm(args: &Args, handle: tokio::runtime::Handle) -> Res<Storm> {
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
        .secret_key(random_key())
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
    auth.confirm_totp_enrollment(u.id, &code).await?;
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

// -------------------------------------------------------------- HTTP flow

struct Http {
    store: String,
    flows: usize,
    /// Flows completed after the warm-up.
    steady_flows: usize,
    steady_secs: f64,
    /// Latency of the flows started after the warm-up.
    lat: Lat,
    rss_start_kib: u64,
    rss_warm_kib: u64,
    rss_end_kib: u64,
    rss_max_kib: u64,
    hwm_kib: u64,
    fresh_sessions: bool,
    /// Cores used by this process and by others during the steady state.
    cpu: (f64, f64),
}

impl Http {
    fn rate(&self) -> f64 {
        self.steady_flows as f64 / self.steady_secs
    }
    fn json(&self, ceiling: f64) -> Value {
        json!({
            "store": self.store,
            "flows": self.flows,
            "steady_flows": self.steady_flows,
            "steady_seconds": self.steady_secs,
            "flows_per_s": self.rate(),
            "of_ceiling": self.rate() / ceiling,
            "flow_latency": self.lat.json(),
            "own_cores": self.cpu.0,
            "other_processes_cores": self.cpu.1,
            "session_end": if self.fresh_sessions { "new browser per flow" } else { "logout" },
            "rss_kib": {
                "before_set_up": self.rss_start_kib,
                "after_warm_up": self.rss_warm_kib,
                "end": self.rss_end_kib,
                "max_sampled": self.rss_max_kib,
                "process_hwm": self.hwm_kib,
                "growth_after_warm_up": self.rss_end_kib as i64 - self.rss_warm_kib as i64,
            },
        })
    }
}

/// (VmRSS, VmHWM) in KiB, from /proc/self/status.
fn rss_kib() -> (u64, u64) {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return (0, 0);
    };
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn http_policy(users: usize) -> Policy {
    let mut p = Policy::default();
    // Many SMS per phone, account and in total: the rate limits are not
    // what is measured here.
    let lots = RateLimit::new(10_000_000, Duration::from_secs(3600));
    p.sms_per_phone = lots;
    p.sms_per_account = lots;
    // Every connection comes from 127.0.0.1: one client, as far as the
    // per-client limits can tell.
    p.client_sms = lots;
    p.client_failures = lots;
    p.client_registrations = lots;
    p.sms_global = RateLimit::new(
        u32::try_from(users)
            .unwrap_or(u32::MAX)
            .saturating_mul(10_000_000),
        Duration::from_secs(3600),
    );
    p
}

async fn backend_for(
    store: &str,
    policy: Policy,
    dir: &std::path::Path,
) -> Res<(common::Backend, Option<Cleanup>)> {
    match store {
        "memory" | "sqlite" => {
            let db = if store == "memory" {
                ":memory:".to_owned()
            } else {
                dir.join("loadtest.db")
                    .to_str()
                    .ok_or("temp path is not UTF-8")?
                    .to_owned()
            };
            let b = common::backend(&common::Options {
                db,
                quiet: true,
                force_console: true,
                policy: Some(policy),
                ..Default::default()
            })
            .await?;
            Ok((b, None))
        }
        "postgres" => postgres_backend(policy, false).await,
        "postgres+redis" => postgres_backend(policy, true).await,
        other => Err(format!(
            "unknown store {other:?} (memory, sqlite, postgres or postgres+redis)"
        )
        .into()),
    }
}

/// Drops the PostgreSQL schema made for the run (the Redis keys expire).
struct Cleanup {
    #[cfg(feature = "postgres")]
    pg: twofa_verify::PostgresStore,
    #[cfg(feature = "postgres")]
    schema: String,
}

impl Cleanup {
    async fn run(self) {
        #[cfg(feature = "postgres")]
        {
            let sql = format!("DROP SCHEMA \"{}\" CASCADE", self.schema);
            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(self.pg.pool())
                .await
            {
                eprintln!("warning: could not drop schema {}: {e}", self.schema);
            }
        }
    }
}

/// PostgreSQL for everything, or (`with_redis`) for users only, with the
/// state (and the demo's sessions) in Redis.
#[cfg(feature = "postgres")]
async fn postgres_backend(
    policy: Policy,
    with_redis: bool,
) -> Res<(common::Backend, Option<Cleanup>)> {
    use twofa_verify::LocalCodes;
    let url = database_url().ok_or("postgres needs DATABASE_URL=postgres://...")?;
    let schema = format!("twofa_load_{:08x}", rand::random::<u32>());
    let pg = twofa_verify::PostgresStore::connect_with_schema(&url, &schema).await?;
    let builder = Authenticator::builder().user_store(pg.clone());
    let (builder, state, summary) = if with_redis {
        let (builder, state, prefix) = redis_state(builder, &schema).await?;
        let summary = format!("PostgreSQL schema {schema} + Redis prefix {prefix}");
        (builder, state, summary)
    } else {
        let state: Arc<dyn twofa_verify::StateStore> = Arc::new(pg.clone());
        let summary = format!("PostgreSQL schema {schema}");
        (builder.state_store(pg.clone()), state, summary)
    };
    let sms = ConsoleSms::quiet();
    let key = zeroize::Zeroizing::new(random_key());
    let auth = builder
        .secret_key(key.to_vec())
        .policy(policy)
        .sms(LocalCodes::new(sms.clone()))
        .build()?;
    Ok((
        common::Backend {
            auth,
            console_sms: Some(sms),
            mailer: common::Mailer::Console(common::ConsoleMail::default()),
            summary,
            state,
            secret_key: key,
        },
        Some(Cleanup { pg, schema }),
    ))
}

#[cfg(not(feature = "postgres"))]
async fn postgres_backend(_: Policy, _: bool) -> Res<(common::Backend, Option<Cleanup>)> {
    Err("the postgres store needs --features postgres (or --all-features)".into())
}

/// The builder with a Redis state store under a prefix named after the
/// run's schema; the store again, for the demo's sessions; the prefix.
#[cfg(feature = "redis")]
async fn redis_state(
    builder: twofa_verify::AuthenticatorBuilder,
    schema: &str,
) -> Res<(
    twofa_verify::AuthenticatorBuilder,
    Arc<dyn twofa_verify::StateStore>,
    String,
)> {
    let url = redis_url().ok_or("postgres+redis needs REDIS_URL=redis://...")?;
    let prefix = format!("{schema}:");
    let store = twofa_verify::RedisStore::builder(&url)
        .prefix(&prefix)
        .connect()
        .await?;
    Ok((builder.state_store(store.clone()), Arc::new(store), prefix))
}

#[cfg(all(feature = "postgres", not(feature = "redis")))]
async fn redis_state(
    _: twofa_verify::AuthenticatorBuilder,
    _: &str,
) -> Res<(
    twofa_verify::AuthenticatorBuilder,
    Arc<dyn twofa_verify::StateStore>,
    String,
)> {
    Err("postgres+redis needs --features redis (or --all-features)".into())
}

/// A keep-alive browser: one connection, its cookies (the session's and
/// the anonymous CSRF nonce).
struct Browser {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    cookies: std::collections::BTreeMap<String, String>,
}

struct Resp {
    status: StatusCode,
    location: String,
    body: String,
}

impl Browser {
    fn new(base: &str) -> Self {
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1)
            .pool_idle_timeout(Duration::from_secs(600))
            .build_http();
        Browser {
            client,
            base: base.to_owned(),
            cookies: Default::default(),
        }
    }

    async fn send(&mut self, method: &str, path: &str, form: Option<&[(&str, &str)]>) -> Res<Resp> {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            let all: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            b = b.header(header::COOKIE, all.join("; "));
        }
        let body = match form {
            Some(f) => {
                b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Bytes::from(serde_urlencoded::to_string(f)?)
            }
            None => Bytes::new(),
        };
        let resp = self.client.request(b.body(Full::new(body))?).await?;
        for c in resp.headers().get_all(header::SET_COOKIE) {
            let Some((name, value)) = c
                .to_str()
                .ok()
                .and_then(|c| c.split(';').next())
                .and_then(|pair| pair.split_once('='))
            else {
                continue;
            };
            if value.is_empty() {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_owned(), value.to_owned());
            }
        }
        let status = resp.status();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok(Resp {
            status,
            location,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    async fn expect(
        &mut self,
        method: &str,
        path: &str,
        form: Option<&[(&str, &str)]>,
        status: StatusCode,
    ) -> Res<Resp> {
        let r = self.send(method, path, form).await?;
        if r.status != status {
            let snippet: String = r.body.chars().take(400).collect();
            return Err(format!(
                "{method} {path}: expected {status}, got {} (location {:?}): {snippet}",
                r.status, r.location
            )
            .into());
        }
        Ok(r)
    }
}

fn csrf(body: &str) -> Res<String> {
    let prefix = "name=\"csrf_token\" value=\"";
    let start = body.find(prefix).ok_or("no CSRF token in the page")? + prefix.len();
    let end = body[start..].find('"').ok_or("unterminated CSRF token")? + start;
    Ok(body[start..end].to_owned())
}

struct Account {
    username: String,
    phone: String,
}

/// One flow: GET /login, POST /login, GET /verify_2fa, POST /verify_2fa.
async fn flow(b: &mut Browser, a: &Account, sms: &ConsoleSms) -> Res<String> {
    let page = b.expect("GET", "/login", None, StatusCode::OK).await?;
    let token = csrf(&page.body)?;
    let r = b
        .expect(
            "POST",
            "/login",
            Some(&[
                ("csrf_token", &token),
                ("username", &a.username),
                ("password", PW),
                ("next", ""),
            ]),
            StatusCode::SEE_OTHER,
        )
        .await?;
    if r.location != "/verify_2fa" {
        return Err(format!("POST /login went to {:?}", r.location).into());
    }
    let page = b.expect("GET", "/verify_2fa", None, StatusCode::OK).await?;
    let token = csrf(&page.body)?;
    let code = sms
        .last_code_for(&a.phone)
        .ok_or_else(|| format!("no SMS code for {}", a.phone))?;
    let r = b
        .expect(
            "POST",
            "/verify_2fa",
            Some(&[("csrf_token", &token), ("code", &code), ("method", "sms")]),
            StatusCode::SEE_OTHER,
        )
        .await?;
    Ok(r.location)
}

/// Ends the browser's session: log out (so the server drops it), or forget
/// the cookie (a new browser next time; the server keeps the session).
async fn end_session(b: &mut Browser, profile: &str, fresh: bool) -> Res<()> {
    if fresh {
        b.cookies.clear();
        return Ok(());
    }
    let page = b.expect("GET", profile, None, StatusCode::OK).await?;
    let token = csrf(&page.body)?;
    b.expect(
        "POST",
        "/logout",
        Some(&[("csrf_token", &token)]),
        StatusCode::SEE_OTHER,
    )
    .await?;
    Ok(())
}

async fn http_store(store: &str, args: &Args) -> Res<Http> {
    let (rss_start_kib, _) = rss_kib();
    let dir = tempfile::tempdir()?;
    let n = args.connections;
    let (backend, cleanup) = backend_for(store, http_policy(n), dir.path()).await?;
    let sms = backend
        .console_sms
        .clone()
        .ok_or("the load test needs the console SMS outbox")?;
    let state = app::AppState::new(
        backend,
        app::Config {
            app_name: "twofa-verify load test".into(),
            base_url: "http://127.0.0.1".into(),
            cookie_secure: false,
            trust_proxy: false,
        },
    )?;

    // One user per connection, each with SMS 2FA.
    let pw = SecretString::from(PW);
    let mut accounts = Vec::with_capacity(n);
    for i in 0..n {
        let username = format!("load{i:04}");
        let u = state
            .auth
            .register(&username, &format!("{username}@example.com"), &pw)
            .await?;
        let phone = format!("+1415555{:04}", 2000 + i);
        state
            .auth
            .start_sms_enrollment(u.id, &phone, &StepUp::password(PW))
            .await?;
        let code = sms
            .last_code_for(&phone)
            .ok_or_else(|| format!("no enrollment code for {phone}"))?;
        state.auth.confirm_sms_enrollment(u.id, &code).await?;
        accounts.push(Arc::new(Account { username, phone }));
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        // As `main.rs` serves it: the socket's address is the client's.
        axum::serve(
            listener,
            app::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stop_rx.await;
        })
        .into_future(),
    );

    // RSS sampler.
    let sampling = Arc::new(AtomicBool::new(true));
    let rss_max = Arc::new(Mutex::new(0u64));
    let sampler = {
        let (sampling, rss_max) = (sampling.clone(), rss_max.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                let (rss, _) = rss_kib();
                if let Ok(mut m) = rss_max.lock() {
                    *m = (*m).max(rss);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };

    let total = args.flows;
    let warm = (total / 10).max(n);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let warm_at: Arc<OnceLock<(Instant, u64, CpuWatch)>> = Arc::new(OnceLock::new());
    let mut tasks = Vec::with_capacity(n);
    for a in accounts {
        let (next, done, warm_at, sms) = (next.clone(), done.clone(), warm_at.clone(), sms.clone());
        let mut b = Browser::new(&base);
        let fresh = args.fresh_sessions;
        tasks.push(tokio::spawn(async move {
            let mut lats = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let start = Instant::now();
                let profile = flow(&mut b, &a, &sms).await?;
                let lat = start.elapsed().as_secs_f64();
                end_session(&mut b, &profile, fresh).await?;
                if let Some((t, _, _)) = warm_at.get()
                    && start >= *t
                {
                    lats.push(lat);
                }
                if done.fetch_add(1, Ordering::Relaxed) + 1 == warm {
                    let _ = warm_at.set((Instant::now(), rss_kib().0, CpuWatch::start()));
                }
            }
            Res::Ok(lats)
        }));
    }
    let mut lats = Vec::with_capacity(total);
    let mut failure = None;
    for t in tasks {
        match t.await {
            Ok(Ok(l)) => lats.extend(l),
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(e) => failure = failure.or(Some(format!("flow task: {e}").into())),
        }
    }
    let end = Instant::now();
    let cpu = warm_at.get().map_or((0.0, 0.0), |w| w.2.stop());
    let (rss_end_kib, hwm_kib) = rss_kib();
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.join();
    let _ = stop_tx.send(());
    let _ = server.await;
    if let Some(c) = cleanup {
        c.run().await;
    }
    if let Some(e) = failure {
        return Err(format!("{store}: {e}").into());
    }
    let (t_warm, rss_warm_kib, _) = warm_at.get().ok_or("the run ended before the warm-up")?;
    let (t_warm, rss_warm_kib) = (*t_warm, *rss_warm_kib);
    let rss_max_kib = rss_max.lock().map(|m| *m).unwrap_or(0);
    Ok(Http {
        store: store.to_owned(),
        flows: total,
        // Flows completed after the warm-up point (those in flight then
        // count: they completed in the steady window).
        steady_flows: total - warm,
        steady_secs: (end - t_warm).as_secs_f64(),
        lat: Lat::of(lats),
        rss_start_kib,
        rss_warm_kib,
        rss_end_kib,
        rss_max_kib,
        hwm_kib,
        fresh_sessions: args.fresh_sessions,
        cpu,
    })
}

// ----------------------------------------------------------------- output

fn print_raw(raw_ms: f64, ceiling: f64, before: f64, after: f64, cores: usize, other: f64) {
    println!(
        "\nraw argon2id verify (m=19456 t=2 p=1, reused memory): {raw_ms:.2} ms median; \
         ceiling {cores} cores / verify = {ceiling:.1}/s"
    );
    println!(
        "  {cores} raw threads at once: {before:.1}/s before the storm, {after:.1}/s after \
         ({:.2} of ceiling); other processes used {other:.2} cores meanwhile",
        (before + after) / 2.0 / ceiling
    );
}

fn print_storm(s: &Storm, ceiling: f64, raw_parallel: f64) {
    println!(
        "login storm ({STORM_CONCURRENCY} concurrent, {} logins): {:.1} logins/s = {:.2} of ceiling (target >= 0.90), \
         {:.2} of raw threads at once; cores used: ours {:.2}, others {:.2}",
        s.logins,
        s.rate(),
        s.rate() / ceiling,
        s.rate() / raw_parallel,
        s.cpu.0,
        s.cpu.1
    );
    println!(
        "  verify_totp probe p50/p99/max: idle {:.2}/{:.2}/{:.2} ms, during storm {:.2}/{:.2}/{:.2} ms (target p99 <= 5 ms)",
        s.idle.p50_ms,
        s.idle.p99_ms,
        s.idle.max_ms,
        s.during.p50_ms,
        s.during.p99_ms,
        s.during.max_ms
    );
}

fn print_http(h: &Http, ceiling: f64) {
    println!(
        "http flow, {} store: {:.1} flows/s = {:.2} of ceiling; p50 {:.1} ms p99 {:.1} ms; \
         RSS before set-up {} KiB, after warm-up {} KiB, end {} KiB ({:+} KiB); cores used: ours {:.2}, others {:.2}",
        h.store,
        h.rate(),
        h.rate() / ceiling,
        h.lat.p50_ms,
        h.lat.p99_ms,
        h.rss_start_kib,
        h.rss_warm_kib,
        h.rss_end_kib,
        h.rss_end_kib as i64 - h.rss_warm_kib as i64,
        h.cpu.0,
        h.cpu.1
    );
}

fn print_table(raw_ms: f64, ceiling: f64, parallel: f64, s: &Storm, http: &[Http]) {
    println!("== load test summary ==");
    println!(
        "raw verify {raw_ms:.2} ms; ceiling {ceiling:.1}/s; raw threads at once {parallel:.1}/s"
    );
    println!(
        "{:<22} {:>9} {:>8} {:>9} {:>9} {:>11} {:>11} {:>11}",
        "run", "per s", "ceiling", "of ceil.", "p50 ms", "p99 ms", "RSS warm", "RSS end"
    );
    println!(
        "{:<22} {:>9.1} {:>8.1} {:>9.2} {:>9} {:>11} {:>11} {:>11}",
        "storm (library)",
        s.rate(),
        ceiling,
        s.rate() / ceiling,
        "-",
        "-",
        "-",
        "-"
    );
    println!(
        "{:<22} {:>9} {:>8} {:>9} {:>9.2} {:>11.2} {:>11} {:>11}",
        "  probe idle", "-", "-", "-", s.idle.p50_ms, s.idle.p99_ms, "-", "-"
    );
    println!(
        "{:<22} {:>9} {:>8} {:>9} {:>9.2} {:>11.2} {:>11} {:>11}",
        "  probe during storm", "-", "-", "-", s.during.p50_ms, s.during.p99_ms, "-", "-"
    );
    for h in http {
        println!(
            "{:<22} {:>9.1} {:>8.1} {:>9.2} {:>9.1} {:>11.1} {:>7} MiB {:>7} MiB",
            format!("http flow, {}", h.store),
            h.rate(),
            ceiling,
            h.rate() / ceiling,
            h.lat.p50_ms,
            h.lat.p99_ms,
            h.rss_warm_kib / 1024,
            h.rss_end_kib / 1024
        );
    }
}
