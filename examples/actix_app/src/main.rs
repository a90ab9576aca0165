//! The actix-web example site: `cargo run -p actix_app`, then open
//! <http://localhost:8080>. Users and sessions live in memory; SMS codes
//! are printed on the console. `TWOFA_SECRET_KEY` (64 hex characters)
//! keeps sessions valid across restarts of a persistent store.

use actix_app::Site;
use actix_web::{App, HttpServer};
use twofa_verify::SecretKey;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let key = match SecretKey::from_env("TWOFA_SECRET_KEY") {
        Ok(key) => key,
        Err(twofa_verify::SecretKeyError::Missing { .. }) => {
            tracing::info!("TWOFA_SECRET_KEY is not set: a random key for this run");
            SecretKey::generate()
        }
        Err(e) => return Err(std::io::Error::other(e)),
    };
    let addr = "127.0.0.1:8080";
    let site = Site::new(key, &format!("http://{addr}")).map_err(std::io::Error::other)?;
    tracing::info!("serving on http://{addr}");
    HttpServer::new(move || {
        App::new()
            .wrap(site.sessions())
            .wrap(actix_app::security_headers())
            .configure(|cfg| site.configure(cfg))
    })
    .bind(addr)?
    .run()
    .await
}
