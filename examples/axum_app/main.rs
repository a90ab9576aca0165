//! The tutorial's site on twofa-verify and axum.
//!
//! ```text
//! cargo run --example axum_app            # http://127.0.0.1:8000
//! cargo run --example axum_app -- --port 3000 --bind 0.0.0.0 --db app.db
//! ```
//!
//! Zero configuration: codes and emails are printed to this console. Set
//! the variables of `.env.template` (in the environment or a `.env` file)
//! for Twilio, SMTP, a database, and so on.
#[path = "../common/mod.rs"]
mod common;

mod app;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tracing_subscriber::EnvFilter;

const USAGE: &str = "\
usage: axum_app [--bind ADDRESS] [--port PORT] [--db DATABASE]

  --bind ADDRESS   address to listen on (env BIND, default 127.0.0.1)
  --port PORT      port to listen on (env PORT, default 8000)
  --db DATABASE    ':memory:', a SQLite file or a postgres:// URL
                   (env DATABASE_URL, default app.db)

Every other setting comes from the environment or a .env file: see .env.template.";

struct Args {
    addr: SocketAddr,
    db: String,
}

fn parse_args() -> Result<Option<Args>, common::SetupError> {
    let var = |k: &str| std::env::var(k).ok().filter(|s| !s.trim().is_empty());
    let mut bind = var("BIND");
    let mut port = var("PORT");
    let mut db = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (a.clone(), None),
        };
        let mut value = || -> Result<String, common::SetupError> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}").into())
        };
        match flag.as_str() {
            "--bind" => bind = Some(value()?),
            "--port" => port = Some(value()?),
            "--db" => db = Some(value()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other}\n\n{USAGE}").into()),
        }
    }
    let port: u16 = match port {
        Some(p) => p
            .trim()
            .parse()
            .map_err(|_| format!("PORT must be a number from 0 to 65535, not {p:?}"))?,
        None => 8000,
    };
    let addr = match bind {
        // BIND may carry its own port: "0.0.0.0:8080".
        Some(b) => match b.trim().parse::<SocketAddr>() {
            Ok(sa) => sa,
            Err(_) => SocketAddr::new(
                b.trim()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .map_err(|_| format!("BIND must be an IP address, not {b:?}"))?,
                port,
            ),
        },
        None => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
    };
    Ok(Some(Args {
        addr,
        db: db.unwrap_or_else(common::default_db),
    }))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), common::SetupError> {
    common::load_dotenv();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info")),
        )
        .init();
    let Some(args) = parse_args()? else {
        return Ok(());
    };
    let options = common::Options {
        db: args.db.clone(),
        confirm_email: common::env_flag("REGISTRATION_CONFIRM_EMAIL")?.unwrap_or(false),
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let local = listener.local_addr()?;
    let shown = if local.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), local.port())
    } else {
        local
    };
    let config = app::Config::from_env(&format!("http://{shown}"))?;
    // Sessions go to the authenticator's store, and anonymous CSRF tokens
    // are signed with its key (TWOFA_SECRET_KEY or the key file beside the
    // database), so both survive restarts and are shared by instances.
    let state = app::AppState::build(options, config.clone()).await?;
    let summary = state.summary.clone();
    let confirm_email =
        state.auth.policy().registration == twofa_verify::Registration::EmailConfirmed;
    tracing::info!(
        %summary,
        base_url = %config.base_url,
        secure_cookie = config.cookie_secure,
        trust_proxy = config.trust_proxy,
        confirm_email,
        "starting"
    );
    println!("{summary}");
    println!("Serving the twofa-verify demo on http://{shown}/  (ctrl-c to stop)");
    // The socket's address reaches the handlers (per-client limits).
    axum::serve(
        listener,
        app::router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on ctrl-c or SIGTERM; in-flight requests then finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
