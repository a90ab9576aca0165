//! The tutorial's site on twofa-verify and axum.
//!
//! ```text
//! cargo run -p axum_app            # http://127.0.0.1:8000
//! cargo run -p axum_app -- --port 3000 --bind 0.0.0.0 --db app.db
//! cargo run -p axum_app -- --help  # every flag and its variable
//! ```
//!
//! Zero configuration: codes and emails are printed to this console. Flags
//! (`args.rs`) or the variables of `.env.template` (in the environment or a
//! `.env` file) set the address, the database, Twilio, SMTP, and so on.
use std::net::SocketAddr;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use axum_app::args::{self, Args, LegacyHashes};

fn main() -> std::process::ExitCode {
    demo_support::load_dotenv();
    // Before any thread starts: `set_var`/`remove_var` are only sound then.
    args::unset_empty_env();
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), demo_support::SetupError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info")),
        )
        .init();
    let options = demo_support::Options {
        db: args.db.clone(),
        confirm_email: args.registration_confirm_email,
        app_name: Some(args.app_name.clone()),
        legacy_hashes: Some(args.legacy_hashes == Some(LegacyHashes::Werkzeug)),
        policy: args.policy(),
        ..Default::default()
    };
    let addr = args.addr();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    let config = args.config(local);
    #[cfg(feature = "passkeys")]
    let options = demo_support::Options {
        passkeys: Some(args.passkeys(local)?),
        ..options
    };
    // Sessions go to the authenticator's store, and anonymous CSRF tokens
    // are signed with its key (TWOFA_SECRET_KEY or the key file beside the
    // database), so both survive restarts and are shared by instances.
    // The recorder before the first event; its listener on loopback only.
    if args.metrics {
        let handle = axum_app::metrics::install()?;
        let listener = axum_app::metrics::listen(args.metrics_port).await?;
        println!("Metrics on http://{}/metrics", listener.local_addr()?);
        axum_app::metrics::spawn(listener, handle);
    }
    let state = axum_app::AppState::build(options, config.clone()).await?;
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
    println!("Serving the twofa-verify demo on http://{local}/  (ctrl-c to stop)");
    #[cfg(feature = "passkeys")]
    println!(
        "Passkeys work at http://{}:{}/ (browsers refuse them at an IP address)",
        args.passkey_rp_id.trim(),
        local.port()
    );
    // The socket's address reaches the handlers (per-client limits).
    axum::serve(
        listener,
        axum_app::router(state)?.into_make_service_with_connect_info::<SocketAddr>(),
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
