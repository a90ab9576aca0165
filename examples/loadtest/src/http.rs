//! The whole login flow over HTTP against the demo app, per store.

use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use twofa_verify::StepUp;
use twofa_verify::secrecy::SecretString;
use twofa_verify::{Policy, RateLimit};

use crate::browser::{Account, Browser, end_session, flow};
use crate::stats::Lat;
use crate::system::{CpuWatch, rss_kib};
use crate::{Args, PW, Res};

pub(crate) struct Http {
    pub(crate) store: String,
    pub(crate) flows: usize,
    /// Flows completed after the warm-up.
    pub(crate) steady_flows: usize,
    pub(crate) steady_secs: f64,
    /// Latency of the flows started after the warm-up.
    pub(crate) lat: Lat,
    pub(crate) rss_start_kib: u64,
    pub(crate) rss_warm_kib: u64,
    pub(crate) rss_end_kib: u64,
    pub(crate) rss_max_kib: u64,
    pub(crate) hwm_kib: u64,
    pub(crate) fresh_sessions: bool,
    /// Cores used by this process and by others during the steady state.
    pub(crate) cpu: (f64, f64),
}

impl Http {
    pub(crate) fn rate(&self) -> f64 {
        self.steady_flows as f64 / self.steady_secs
    }
    pub(crate) fn json(&self, ceiling: f64) -> Value {
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

pub(crate) fn http_policy(users: usize) -> Policy {
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

pub(crate) async fn backend_for(
    store: &str,
    policy: Policy,
    dir: &std::path::Path,
) -> Res<(demo_support::Backend, Option<Cleanup>)> {
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
            let b = demo_support::backend(&demo_support::Options {
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

/// Drops the PostgreSQL schema made for the run (Redis keys expire by themselves).
pub(crate) struct Cleanup {
    #[cfg(feature = "postgres")]
    pub(crate) pg: twofa_verify::PostgresStore,
    #[cfg(feature = "postgres")]
    pub(crate) schema: String,
}

impl Cleanup {
    pub(crate) async fn run(self) {
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
pub(crate) async fn postgres_backend(
    policy: Policy,
    with_redis: bool,
) -> Res<(demo_support::Backend, Option<Cleanup>)> {
    use crate::database_url;
    use twofa_verify::{Authenticator, LocalCodes, factor::ConsoleSms};
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
    let key = twofa_verify::SecretKey::generate();
    let auth = builder
        .secret_key(key.clone())
        .policy(policy)
        .sms(LocalCodes::new(sms.clone()))
        .build()?;
    Ok((
        demo_support::Backend {
            auth,
            console_sms: Some(sms),
            mailer: demo_support::Mailer::Console(demo_support::ConsoleMail::default()),
            summary,
            state,
            secret_key: key,
            profiles: demo_support::profiles::ProfileStore::postgres(pg.pool().clone()).await?,
        },
        Some(Cleanup { pg, schema }),
    ))
}

#[cfg(not(feature = "postgres"))]
pub(crate) async fn postgres_backend(
    _: Policy,
    _: bool,
) -> Res<(demo_support::Backend, Option<Cleanup>)> {
    Err("the postgres store needs --features postgres (or --all-features)".into())
}

/// The builder with a Redis state store under a prefix named after the
/// run's schema; the store again, for the demo's sessions; the prefix.
#[cfg(all(feature = "postgres", feature = "redis"))]
async fn redis_state(
    builder: twofa_verify::AuthenticatorBuilder,
    schema: &str,
) -> Res<(
    twofa_verify::AuthenticatorBuilder,
    Arc<dyn twofa_verify::StateStore>,
    String,
)> {
    let url = crate::redis_url().ok_or("postgres+redis needs REDIS_URL=redis://...")?;
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

pub(crate) async fn http_store(store: &str, args: &Args) -> Res<Http> {
    let (rss_start_kib, _) = rss_kib();
    let dir = tempfile::tempdir()?;
    let n = args.connections;
    let (backend, cleanup) = backend_for(store, http_policy(n), dir.path()).await?;
    let sms = backend
        .console_sms
        .clone()
        .ok_or("the load test needs the console SMS outbox")?;
    let state = axum_app::AppState::new(
        backend,
        axum_app::Config {
            app_name: "twofa-verify load test".into(),
            base_url: "http://127.0.0.1".into(),
            ..axum_app::Config::for_tests()
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
        let _enrolled = state
            .auth
            .confirm_sms_enrollment(u.id, &SecretString::from(code.as_str()))
            .await?;
        accounts.push(Arc::new(Account { username, phone }));
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        // As `main.rs` serves it: the socket's address is the client's.
        axum::serve(
            listener,
            axum_app::router(state)?.into_make_service_with_connect_info::<std::net::SocketAddr>(),
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
