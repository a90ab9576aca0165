//! axum integration (feature `axum`), in the manner of axum-login: small,
//! over tower-sessions, with the core untouched.
//!
//! - [`AuthLayer`]: one layer that installs everything below in the right
//!   order, keyed with the authenticator's secret key; cookies `Secure`
//!   and `__Host-` on https.
//! - [`AuthSession`]: the extractor for the logged-in user, checked on every
//!   request against the account's credentials (a session is logged out at
//!   its next request after a password change elsewhere), with
//!   [`login`](AuthSession::login), the second-factor steps, remember-me
//!   and [`logout`](AuthSession::logout), and the [`Authenticator`](crate::Authenticator) with the
//!   request's client ([`request_context`]).
//! - [`RequireUser`]: the logged-in user or 401 / a redirect to the login
//!   page; [`PendingGuard`] keeps half-logged-in sessions on the code page.
//! - [`csrf`]: session-bound CSRF tokens and a middleware that checks them,
//!   with signed double-submit tokens for visitors without a session.
//! - [`StateSessionStore`]: a tower-sessions store over any
//!   [`StateStore`](crate::StateStore), with keyed-hash keys.
//! - [`Error`](crate::Error) answers with a status of its own
//!   ([`error_status`]) and `Retry-After`.
//!
//! The framework-neutral logic lives in [`web`](crate::web); this module
//! adapts it to axum.
//!
//! ```
//! use axum::{Form, Router, response::Redirect, routing::{get, post}};
//! use twofa_verify::secrecy::SecretString;
//! use twofa_verify::axum::{AuthConfig, AuthLayer, AuthSession, PendingGuard, RequireUser, WebError};
//! use twofa_verify::{Authenticator, Login, MemoryStore, SecretKey};
//!
//! #[derive(serde::Deserialize)]
//! struct LoginForm { username: String, password: String, remember_me: Option<String> }
//!
//! async fn login(mut s: AuthSession, Form(f): Form<LoginForm>) -> Result<Redirect, WebError> {
//!     let remember = f.remember_me.is_some();
//!     match s.auth().login(&f.username, &SecretString::from(f.password)).await? {
//!         Login::Complete(user) => s.login(&user, remember).await?,
//!         Login::SecondFactor(challenge) => {
//!             s.begin_second_factor(&challenge, remember).await?;
//!             return Ok(Redirect::to("/code"));
//!         }
//!         _ => return Ok(Redirect::to("/login")), // an outcome of a later version
//!     }
//!     Ok(Redirect::to("/"))
//! }
//!
//! #[derive(serde::Deserialize)]
//! struct CodeForm { code: SecretString } // never in Debug or logs
//!
//! async fn code(mut s: AuthSession, Form(f): Form<CodeForm>) -> Result<Redirect, WebError> {
//!     let Some(pending) = s.pending() else { return Ok(Redirect::to("/login")) };
//!     let verification = s.auth().verify(pending.token(), &f.code).await?;
//!     s.complete(&verification).await?;
//!     Ok(Redirect::to("/"))
//! }
//!
//! async fn home(RequireUser(user): RequireUser) -> String {
//!     format!("hello {}", user.username)
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SecretKey::generate(); // SecretKey::from_env("TWOFA_SECRET_KEY")? in an app
//! let store = MemoryStore::new(); // or SqliteStore / PostgresStore: users, state and sessions
//! let auth = Authenticator::builder().store(store).secret_key(key).build()?;
//! let app: Router = Router::new()
//!     .route("/", get(home))
//!     .route("/login", post(login))
//!     .route("/code", post(code))
//!     .layer(
//!         AuthLayer::builder(&auth, "http://localhost:8000") // https://… in production
//!             .config(AuthConfig::new().login_url("/login"))
//!             .pending_guard(PendingGuard::new("/code").allow("/logout"))
//!             .build()?,
//!     )
//!     .with_state(auth);
//! # let _ = app; Ok(()) }
//! ```
//!
//! Serve it with `into_make_service_with_connect_info::<SocketAddr>()` so
//! that per-client limits see the client's address.
//!
//! The pieces stay public for apps that stack their own layers: stack
//! them as [`AuthLayer`] does, outermost first: tower-sessions'
//! `SessionManagerLayer`, `Extension(AuthConfig)`, [`pending_guard`],
//! [`csrf_guard`]. A request that reaches an extractor without a session
//! answers 500 and logs which layer is missing. Another session store, or
//! error pages for the guards' refusals, need no hand stacking:
//! [`AuthLayerBuilder::session_store`], [`AuthLayerBuilder::around_guards`].

/// The `tower-sessions` crate, whose `Session` and `SessionManagerLayer`
/// this module works with: use this re-export so that the versions match.
pub use tower_sessions;

mod client;
mod cookies;
pub mod csrf;
mod guard;
mod layer;
mod response;
mod session;
mod store;

pub use crate::web::cookie_name;
pub use client::request_context;
pub use csrf::{Csrf, CsrfToken, csrf_guard, csrf_token};
pub use guard::EnrollingUser;
pub use guard::{PendingGuard, RequireUser, pending_guard};
pub use layer::{AuthLayer, AuthLayerBuilder, GuardedService};
pub use response::{WebError, error_status};
pub use session::{AuthConfig, AuthSession, PendingLogin};
pub use store::StateSessionStore;
