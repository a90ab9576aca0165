//! The tutorial's site ("Two-factor Authentication Using Twilio Verify in
//! Flask") on `twofa-verify` and its `axum` feature: register, log in
//! (remember me, remembered devices), profile, email and password changes,
//! SMS and authenticator-app second factors, recovery codes, password reset.
//!
//! `main.rs` only reads the configuration and serves [`router`]; the tests
//! drive [`router`] with [`state_for_tests`]. The modules:
//! `auth.rs` (register, log in, second factor, log out, confirm email),
//! `profile.rs` (profile, edit, password, devices, sign out
//! everywhere), `email_change.rs` (the new address confirmed by a link),
//! `last_seen.rs` (when each user was last seen, and "3
//! minutes ago"), `factors.rs` (SMS, authenticator app, disable),
//! `phone.rs` (a phone number and its country),
//! `recovery.rs` (recovery codes, shown once, sealed in the session by
//! `sealed.rs`), `reset.rs`, `notices.rs`
//! (security emails), `errors.rs`, `flash.rs` (one-time messages, and
//! what a form refused with a wait keeps for its page),
//! `render.rs`, `redirect.rs`, `registration.rs`, `waits.rs` (a form
//! refused with a wait goes back to its page).
//!
//! Sessions, CSRF, the guards and the client context come from
//! `twofa_verify::axum`, installed by one `AuthLayer` (see [`router`]):
//! - sessions live in the authenticator's own `StateStore` (memory, SQLite,
//!   PostgreSQL), so they survive restarts and are shared by instances; a
//!   change of password, email or factor ends the user's other sessions at
//!   their next request, and handlers call `AuthSession::refresh` so the
//!   acting session stays in;
//! - the session cookie is HttpOnly, SameSite=Lax, and Secure when
//!   `COOKIE_SECURE=1` or `BASE_URL` is `https://...`; its id changes at
//!   every change of who is logged in;
//! - every POST carries a CSRF token: the session's own once
//!   there is a login, else a signed double submit, so anonymous pages keep
//!   nothing on the server;
//! - a half-logged-in session reaches only the code page and logout
//!   (`PendingGuard`);
//! - redirects go only to paths on this site (`redirect.rs`);
//! - every answer, error pages included, gets the headers of
//!   [`security_headers`] (tower-http's `SetResponseHeaderLayer`): pages are
//!   `Cache-Control: no-store`, `Referrer-Policy: no-referrer` (reset links
//!   carry a token), never framed, under a strict Content-Security-Policy
//!   (the site's own two scripts, which talk to the site only; images from
//!   the site and Gravatar);
//! - a form refused with a wait answers with a redirect to its own page,
//!   which says how long and keeps what was typed (`render::form_error`).
//!
//! The app's own data about its users (names, "about me", last seen) is in
//! a table of its own beside the library's, keyed by `UserId`:
//! `examples/demo-support/src/profiles.rs`.

mod activity;
pub mod args;
mod auth;
mod email_change;
mod errors;
mod factors;
mod flash;
mod last_seen;
pub mod metrics;
mod notices;
#[cfg(feature = "passkeys")]
mod passkeys;
mod phone;
mod profile;
mod recovery;
mod redirect;
mod registration;
mod render;
mod required;
mod reset;
pub mod sealed;
mod waits;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::routing::{get, post};
use axum::{Router, extract::Request};
use minijinja::Environment;
use twofa_verify::axum::tower_sessions::SessionStore;

use twofa_verify::axum::{AuthConfig, AuthLayer, PendingGuard, StateSessionStore};
use twofa_verify::factor::ConsoleSms;
use twofa_verify::{Authenticator, StateStore};

use demo_support::profiles::ProfileStore;
use demo_support::{Mailer, SetupError};

// For the tests and the load test.
pub use self::errors::{AppError, human_duration};
pub use self::redirect::{LocalPath, safe_next, see_other};

/// The cookie of a remembered device (see `auth.rs`); like every cookie of
/// the site, `__Host-` prefixed over https (`twofa_verify::axum::cookie_name`).
pub const DEVICE_COOKIE: &str = "twofa_device";
/// The session cookie.
pub const SESSION_COOKIE: &str = "twofa_session";

// ------------------------------------------------------------------ state

/// Settings of the site, from the flags and the environment (`args.rs`).
#[derive(Debug, Clone)]
pub struct Config {
    /// Shown in the page header and the emails (`APP_NAME`).
    pub app_name: String,
    /// Where the site is reached, for links in emails (`BASE_URL`).
    pub base_url: String,
    /// Whether the cookies are `Secure` (`COOKIE_SECURE=1`, or `BASE_URL`
    /// starting with `https://`).
    pub cookie_secure: bool,
    /// Whether the client's IP comes from the right-most `X-Forwarded-For`
    /// address rather than the socket (`TRUST_PROXY=1`; only behind a
    /// reverse proxy that appends it).
    pub trust_proxy: bool,
    /// The country preselected for phone numbers, an ISO 3166-1 code
    /// (`DEFAULT_PHONE_COUNTRY`, default `US`).
    pub default_phone_country: String,
    /// Whether the authenticator's events are also counted for `/metrics`
    /// (`METRICS=1`; see `metrics.rs`).
    pub metrics: bool,
}

impl Config {
    /// The settings of the test sites: http://127.0.0.1:8000, no proxy.
    pub fn for_tests() -> Self {
        Config {
            app_name: "twofa-verify demo".into(),
            base_url: "http://127.0.0.1:8000".into(),
            cookie_secure: false,
            trust_proxy: false,
            default_phone_country: "US".into(),
            metrics: false,
        }
    }
}

/// Everything a handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The authenticator (stores, factors, policy).
    pub auth: Authenticator,
    /// Where emails go (SMTP or the console outbox).
    pub mailer: Mailer,
    /// The console SMS outbox when no SMS provider is configured.
    pub console_sms: Option<ConsoleSms>,
    /// Settings.
    pub config: Arc<Config>,
    /// The sessions, in the authenticator's state store.
    pub sessions: StateSessionStore,
    /// What the site runs on, for the start-up log.
    pub summary: String,
    /// The app's own data about its users (`app_profiles`).
    pub profiles: ProfileStore,
    /// Seals the fresh recovery codes kept in a session (`sealed.rs`).
    pub seal: sealed::SessionSeal,
    /// The authenticator's state store: the app keeps the recovery codes
    /// it shows once there, sealed (`recovery.rs`).
    pub state_store: Arc<dyn StateStore>,
    templates: Arc<Environment<'static>>,
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

impl AppState {
    /// Builds the backend described by `options` (with the security
    /// notices of `notices.rs` as its event sink) and the state over it.
    /// Must run inside a Tokio runtime: the notices are mailed by a task.
    pub async fn build(options: demo_support::Options, config: Config) -> Result<Self, SetupError> {
        let (sink, outbox) = notices::channel();
        // Counted first (`METRICS=1`), then the notices.
        let events: Arc<dyn twofa_verify::EventSink> = if config.metrics {
            Arc::new(twofa_verify::metrics::MetricsSink::wrapping(sink))
        } else {
            Arc::new(sink)
        };
        let backend = demo_support::backend(&demo_support::Options {
            events: Some(events),
            ..options
        })
        .await?;
        let state = Self::new(backend, config)?;
        notices::spawn(outbox, state.clone());
        Ok(state)
    }

    /// The state over a backend (whose events are not mailed: see
    /// [`AppState::build`]).
    pub fn new(backend: demo_support::Backend, config: Config) -> Result<Self, SetupError> {
        let sessions =
            StateSessionStore::from_arc(backend.state.clone(), backend.secret_key.clone());
        let seal = sealed::SessionSeal::new(&backend.secret_key);
        Ok(AppState {
            seal,
            auth: backend.auth,
            mailer: backend.mailer,
            console_sms: backend.console_sms,
            config: Arc::new(config),
            sessions,
            summary: backend.summary,
            profiles: backend.profiles,
            state_store: backend.state,
            templates: Arc::new(render::templates()?),
        })
    }
}

/// A fresh in-memory site with quiet console outboxes (no Twilio, no SMTP,
/// whatever the environment says), for tests.
pub async fn state_for_tests() -> Result<AppState, SetupError> {
    state_for_tests_with(demo_support::Options::default(), Config::for_tests()).await
}

/// Like [`state_for_tests`], with a policy, a database (`options.db`,
/// default in memory), email-confirmed registration and settings of the
/// test's choosing (`quiet` and `force_console` are overridden).
pub async fn state_for_tests_with(
    options: demo_support::Options,
    config: Config,
) -> Result<AppState, SetupError> {
    let db = if options.db.is_empty() {
        ":memory:".to_owned()
    } else {
        options.db.clone()
    };
    AppState::build(
        demo_support::Options {
            db,
            quiet: true,
            force_console: true,
            ..options
        },
        config,
    )
    .await
}

// ---------------------------------------------------------------- routing

/// The whole site, with its sessions in [`AppState::sessions`]. Fails
/// when the settings are not a site's (the base URL).
pub fn router(state: AppState) -> Result<Router, SetupError> {
    let store = state.sessions.clone();
    router_with_store(state, store)
}

/// The whole site over another session store (tests wrap the state's to
/// count what it holds).
pub fn router_with_store<S: SessionStore>(state: AppState, store: S) -> Result<Router, SetupError> {
    // Sessions, the fence around a half-finished login and CSRF, in one
    // layer; the error pages sit between the sessions and the guards, so
    // that the guards' refusals (403, 413) are pages of the site too.
    // Outermost first: the pages render what the panic catcher answers.
    let error_pages = (
        middleware::from_fn_with_state(state.clone(), errors::error_pages),
        tower_http::catch_panic::CatchPanicLayer::custom(errors::on_panic),
    );
    let auth_layer = AuthLayer::builder(&state.auth, state.config.base_url.as_str())
        .secure_cookies(state.config.cookie_secure)
        .session_cookie(SESSION_COOKIE)
        .session_store(store)
        .config(
            AuthConfig::new()
                .login_url("/login")
                .trust_proxy(state.config.trust_proxy),
        )
        .pending_guard(passkey_enrollment(
            PendingGuard::new("/verify_2fa")
                .allow("/verify_2fa/resend")
                .allow("/verify_2fa/passkey/start")
                .allow("/verify_2fa/passkey/finish")
                .allow("/logout")
                .allow("/favicon.ico")
                .allow_prefix("/static/")
                // A login that ended at enrollment (a second factor
                // required, `REQUIRE_2FA`): these pages only.
                .enrollment(required::ENROLL_PAGE)
                .allow_enrolling("/enable_totp")
                .allow_enrolling("/enable_totp/start")
                .allow_enrolling("/enable_2fa")
                .allow_enrolling("/enable_2fa/verify"),
        ))
        .around_guards(error_pages)
        .build()?;

    let site = Router::new()
        .route("/", get(auth::index))
        .route("/home", get(auth::index))
        .route("/register", get(auth::register_form).post(auth::register))
        .route(
            "/confirm_email/{token}",
            get(registration::confirm_form).post(registration::confirm_email),
        )
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", get(auth::logout_form).post(auth::logout))
        .route("/verify_2fa", get(auth::verify_form).post(auth::verify))
        .route("/verify_2fa/resend", post(auth::verify_resend))
        .route(required::ENROLL_PAGE, get(required::enroll_page))
        .route("/user/{username}", get(profile::profile))
        .route(
            "/edit_profile",
            get(profile::edit_profile_form).post(profile::edit_profile),
        )
        .route(
            "/change_email",
            get(email_change::change_email_form).post(email_change::change_email),
        )
        .route(
            "/confirm_new_email/{token}",
            get(email_change::confirm_page).post(email_change::confirm),
        )
        .route(
            "/change_password",
            get(profile::change_password_form).post(profile::change_password),
        )
        .route("/devices/forget", post(profile::forget_device))
        .route("/devices/forget_all", post(profile::forget_all_devices))
        .route(
            "/sign_out_everywhere",
            get(profile::sign_out_everywhere_form).post(profile::sign_out_everywhere),
        )
        .route(
            "/enable_2fa",
            get(factors::enable_sms_form).post(factors::enable_sms),
        )
        .route(
            "/enable_2fa/verify",
            get(factors::enable_sms_verify_form).post(factors::enable_sms_verify),
        )
        .route(
            "/enable_totp",
            get(factors::enable_totp_form).post(factors::enable_totp),
        )
        .route("/enable_totp/start", post(factors::start_totp))
        .route(
            "/disable_2fa",
            get(factors::disable_form).post(factors::disable),
        )
        .route("/send_step_up_code", post(factors::send_step_up_code))
        .route(
            "/recovery_codes",
            get(recovery::regenerate_form).post(recovery::regenerate),
        )
        .route("/recovery_codes/new", get(recovery::show))
        .route("/recovery_codes/download", post(recovery::download))
        .route("/recovery_codes/done", post(recovery::done))
        .route(
            "/reset_password_request",
            get(reset::reset_request_form).post(reset::reset_request),
        )
        .route(
            "/reset_password/{token}",
            get(reset::reset_form).post(reset::reset_password),
        )
        .route("/security_activity", get(activity::page))
        .route("/static/styles.css", get(render::stylesheet))
        .route("/static/copy.js", get(render::copy_script))
        .route("/static/forms.js", get(render::forms_script))
        .route("/static/favicon.svg", get(render::favicon))
        .route("/favicon.ico", get(render::favicon))
        .merge(passkey_routes())
        .fallback(errors::not_found)
        // Inside the guards: only requests they let through count as seen.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            last_seen::track,
        ))
        .layer(auth_layer);
    let site = security_headers(site)
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                // The route's template, not the path: reset and confirmation
                // links carry their token in the path.
                .make_span_with(|req: &Request| {
                    let route = req
                        .extensions()
                        .get::<axum::extract::MatchedPath>()
                        .map_or("(no route)", |m| m.as_str());
                    tracing::info_span!("request", method = %req.method(), route)
                })
                .on_response(
                    tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO),
                ),
        )
        .with_state(state);
    Ok(site)
}

/// The Passkeys page and its adding among the enrollment pages (a login
/// that ended at enrollment may set up a passkey as its second factor);
/// nothing without the feature.
fn passkey_enrollment(guard: PendingGuard) -> PendingGuard {
    #[cfg(feature = "passkeys")]
    return guard
        .allow_enrolling("/passkeys")
        .allow_enrolling("/passkeys/add/start")
        .allow_enrolling("/passkeys/add/finish");
    #[cfg(not(feature = "passkeys"))]
    guard
}

/// The passkeys' pages and the JSON endpoints of `static/passkeys.js`
/// (see `passkeys.rs`); none without the feature.
fn passkey_routes() -> Router<AppState> {
    #[cfg(feature = "passkeys")]
    {
        Router::new()
            .route("/passkeys", get(passkeys::page))
            .route("/passkeys/add/start", post(passkeys::add_start))
            .route("/passkeys/add/finish", post(passkeys::add_finish))
            .route("/passkeys/rename", post(passkeys::rename))
            .route("/passkeys/remove", post(passkeys::remove))
            .route("/passkeys/step_up/start", post(passkeys::step_up_start))
            .route("/login/passkey/start", post(passkeys::sign_in_start))
            .route("/login/passkey/finish", post(passkeys::sign_in_finish))
            .route(
                "/verify_2fa/passkey/start",
                post(passkeys::second_factor_start),
            )
            .route(
                "/verify_2fa/passkey/finish",
                post(passkeys::second_factor_finish),
            )
            .route("/static/passkeys.js", get(render::passkeys_script))
    }
    #[cfg(not(feature = "passkeys"))]
    Router::new()
}

/// The Content-Security-Policy of every answer: the site's own styles,
/// scripts and images (the QR code is a `data:` image; avatars from
/// Gravatar), scripts that talk only to this site ("Text a code" sends
/// without leaving the page), forms posted only here, never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https://www.gravatar.com; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Headers for every answer, error pages and redirects included: a strict
/// CSP, no framing (`frame-ancestors` and, for old browsers,
/// `X-Frame-Options`), no MIME sniffing, no referrer (reset links carry a
/// token), no sharing of the window with other origins, and no caching of
/// anything that does not say otherwise (the static files do).
pub fn security_headers<S: Clone + Send + Sync + 'static>(site: Router<S>) -> Router<S> {
    use tower_http::set_header::SetResponseHeaderLayer as Set;
    let fixed = HeaderValue::from_static;
    site.layer(Set::overriding(header::CONTENT_SECURITY_POLICY, fixed(CSP)))
        .layer(Set::overriding(header::X_FRAME_OPTIONS, fixed("DENY")))
        .layer(Set::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            fixed("nosniff"),
        ))
        .layer(Set::overriding(
            header::REFERRER_POLICY,
            fixed("no-referrer"),
        ))
        .layer(Set::overriding(
            header::HeaderName::from_static("cross-origin-opener-policy"),
            fixed("same-origin"),
        ))
        .layer(Set::if_not_present(
            header::CACHE_CONTROL,
            fixed("no-store"),
        ))
}
