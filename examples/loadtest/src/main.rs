//! Load test (issue 7): a login storm on the library and the whole login
//! flow over HTTP against the axum example, side by side with the ceiling
//! set by Argon2 on this machine, all measured in one run.
//!
//! ```text
//! cargo run --release -p loadtest --all-features -- [--flows N] [--quick]
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

mod browser;
mod http;
mod raw;
mod stats;
mod storm;
mod system;

use std::time::Duration;

use serde_json::json;

use demo_support::SetupError;
use http::{Http, http_store};
use raw::{raw_parallel_rate, raw_verify_samples};
use stats::median;
use storm::Storm;
use system::{CpuWatch, cores, machine, rss_kib, target_dir};

pub(crate) type Res<T> = Result<T, SetupError>;

pub(crate) const PW: &str = "correct horse battery staple 7";
pub(crate) const STORM_CONCURRENCY: usize = 256;
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_millis(2);

/// Command line (`--help` prints it).
#[derive(clap::Parser)]
#[command(
    name = "loadtest",
    about = "A login storm on the library and the whole login flow over HTTP, \
             beside the ceiling Argon2 sets on this machine"
)]
struct Cli {
    /// HTTP login flows per store [default: 10000; with --quick: 600]
    #[arg(long, value_name = "N")]
    flows: Option<usize>,
    /// A smoke run: fewer storm rounds, flows and samples
    #[arg(long)]
    quick: bool,
    /// Concurrent keep-alive connections
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    connections: u16,
    /// Every flow is a new browser (no logout): the server keeps one
    /// logged-in session per flow (shows session growth)
    #[arg(long)]
    fresh_sessions: bool,
    /// Which stores to run [default: memory,sqlite, postgres when
    /// DATABASE_URL is set, postgres+redis when REDIS_URL is set too]
    #[arg(long, value_name = "LIST", value_delimiter = ',',
          value_parser = ["memory", "sqlite", "postgres", "postgres+redis"])]
    stores: Option<Vec<String>>,
    /// Only the raw argon2 figures and the login storm
    #[arg(long, conflicts_with = "stores")]
    storm_only: bool,
    /// Ignored: passed by `cargo bench`-style harnesses.
    #[arg(long, hide = true)]
    bench: bool,
    /// Ignored: passed by `cargo test`-style harnesses.
    #[arg(long, hide = true)]
    nocapture: bool,
}

/// What a run does, from the command line.
pub(crate) struct Args {
    pub(crate) flows: usize,
    pub(crate) quick: bool,
    pub(crate) connections: usize,
    pub(crate) fresh_sessions: bool,
    pub(crate) stores: Vec<String>,
}

fn parse_args() -> Res<Args> {
    let cli = <Cli as clap::Parser>::parse();
    let connections = usize::from(cli.connections);
    let flows = cli.flows.unwrap_or(if cli.quick { 600 } else { 10_000 });
    if flows < 2 * connections {
        return Err("--flows must be at least twice --connections (warm-up)".into());
    }
    let stores = if cli.storm_only {
        Vec::new()
    } else {
        cli.stores.unwrap_or_else(|| {
            let mut s = vec!["memory".to_owned(), "sqlite".to_owned()];
            if database_url().is_some() {
                s.push("postgres".to_owned());
                if redis_url().is_some() {
                    s.push("postgres+redis".to_owned());
                }
            }
            s
        })
    };
    Ok(Args {
        flows,
        quick: cli.quick,
        connections,
        fresh_sessions: cli.fresh_sessions,
        stores,
    })
}

pub(crate) fn database_url() -> Option<String> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
}

pub(crate) fn redis_url() -> Option<String> {
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
    let args = parse_args()?;
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
    let storm = rt.block_on(storm::storm(&args, rt.handle().clone()))?;
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
        "{:<26} {:>9} {:>8} {:>9} {:>9} {:>11} {:>11} {:>11}",
        "run", "per s", "ceiling", "of ceil.", "p50 ms", "p99 ms", "RSS warm", "RSS end"
    );
    println!(
        "{:<26} {:>9.1} {:>8.1} {:>9.2} {:>9} {:>11} {:>11} {:>11}",
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
        "{:<26} {:>9} {:>8} {:>9} {:>9.2} {:>11.2} {:>11} {:>11}",
        "  probe idle", "-", "-", "-", s.idle.p50_ms, s.idle.p99_ms, "-", "-"
    );
    println!(
        "{:<26} {:>9} {:>8} {:>9} {:>9.2} {:>11.2} {:>11} {:>11}",
        "  probe during storm", "-", "-", "-", s.during.p50_ms, s.during.p99_ms, "-", "-"
    );
    for h in http {
        println!(
            "{:<26} {:>9.1} {:>8.1} {:>9.2} {:>9.1} {:>11.1} {:>7} MiB {:>7} MiB",
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
