//! The tutorial's site ("Two-factor Authentication Using Twilio Verify in
//! Flask") on `twofa-verify` and axum: register, log in, profile, SMS and
//! authenticator-app second factors, recovery codes, password reset.
//!
//! This module is the whole application: `main.rs` only reads the
//! configuration and serves [`router`]; the tests drive [`router`] with
//! [`state_for_tests`].
//!
//! Security notes (see SECURITY.md, "Secrets and sessions"):
//! - the session id is rotated (`cycle_id`) after the password step and after
//!   the second factor;
//! - the session cookie is HttpOnly, SameSite=Lax, and Secure when
//!   `COOKIE_SECURE=1` or `BASE_URL` is `https://...`;
//! - every POST carries a CSRF token checked in constant time by
//!   [`csrf_guard`] (a missing or wrong token gives a 403 page): the
//!   session's own token once there is a session that needs one (logged in
//!   or half logged in), else a signed double-submit token (see `csrf.rs`),
//!   so anonymous pages keep nothing on the server;
//! - a POST must be a URL-encoded form, else 415 ([`require_form`]);
//! - redirects go only to paths on this site (`redirect.rs`), and no header
//!   is built from a value that could make it invalid;
//! - a half-logged-in session (password right, code pending) reaches only
//!   the verify page and logout ([`pending_guard`]);
//! - pages are `Cache-Control: no-store`, `Referrer-Policy: no-referrer`
//!   (reset links carry a token) and a strict Content-Security-Policy;
//! - every call made for a visitor goes through
//!   `state.auth.with_context(client.0)`, the [`Client`] extractor's
//!   address and user agent, so the library's per-client limits apply
//!   (`client.rs`; `X-Forwarded-For` only with `TRUST_PROXY=1`).
#![allow(dead_code)]

#[path = "client.rs"]
mod client;
#[path = "csrf.rs"]
mod csrf;
#[path = "redirect.rs"]
mod redirect;
#[path = "registration.rs"]
mod registration;
#[path = "session_store.rs"]
mod session_store;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header, request::Parts};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::{Environment, Value, context};
use secrecy::SecretString;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use subtle::ConstantTimeEq;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use twofa_verify::factor::ConsoleSms;
use twofa_verify::{
    Authenticator, Error as AuthError, Factor, Login, Registration, StepUp, User, UserId,
};

use crate::common::{self, Mailer, SetupError};

pub use self::client::Client;
pub use self::csrf::{AnonCsrf, CsrfKey};
pub use self::redirect::{LocalPath, safe_next, see_other};
pub use self::session_store::CountingStore;

// ------------------------------------------------------------------ state

/// Settings of the site, from the environment (see `.env.template`).
#[derive(Debug, Clone)]
pub struct Config {
    /// Shown in the page header and the emails (`APP_NAME`).
    pub app_name: String,
    /// Where the site is reached, for links in emails (`BASE_URL`).
    pub base_url: String,
    /// Whether the session cookie is `Secure` (`COOKIE_SECURE=1`, or
    /// `BASE_URL` starting with `https://`).
    pub cookie_secure: bool,
    /// Whether the client's IP comes from the right-most `X-Forwarded-For`
    /// address rather than the socket (`TRUST_PROXY=1`; only behind a
    /// reverse proxy that appends it, see `client.rs`).
    pub trust_proxy: bool,
}

impl Config {
    /// From the environment; `default_base_url` is used when `BASE_URL` is
    /// unset. Fails on a `TRUST_PROXY` that is not a yes or a no.
    pub fn from_env(default_base_url: &str) -> Result<Self, SetupError> {
        let var = |k: &str| std::env::var(k).ok().filter(|s| !s.trim().is_empty());
        let base_url = var("BASE_URL")
            .unwrap_or_else(|| default_base_url.to_owned())
            .trim()
            .trim_end_matches('/')
            .to_owned();
        let cookie_secure = match var("COOKIE_SECURE").as_deref().map(str::trim) {
            Some("1" | "true" | "yes" | "on") => true,
            Some("0" | "false" | "no" | "off") => false,
            _ => base_url.starts_with("https://"),
        };
        Ok(Config {
            app_name: var("APP_NAME").unwrap_or_else(|| "twofa-verify demo".into()),
            base_url,
            cookie_secure,
            trust_proxy: common::env_flag("TRUST_PROXY")?.unwrap_or(false),
        })
    }

    /// The settings of the test sites: http://127.0.0.1:8000, no proxy.
    pub fn for_tests() -> Self {
        Config {
            app_name: "twofa-verify demo".into(),
            base_url: "http://127.0.0.1:8000".into(),
            cookie_secure: false,
            trust_proxy: false,
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
    /// Signs the CSRF tokens of visitors without a session.
    pub csrf_key: CsrfKey,
    /// Where sessions are kept.
    pub sessions: CountingStore,
    templates: Arc<Environment<'static>>,
}

impl AppState {
    /// The state for a backend and settings. Anonymous CSRF tokens are
    /// signed with a random key until [`AppState::with_secret_key`] gives
    /// the app's own (so they survive restarts and match across instances).
    pub fn new(backend: common::Backend, config: Config) -> Result<Self, SetupError> {
        use rand::RngCore;
        let mut random = zeroize::Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(random.as_mut());
        Ok(AppState {
            auth: backend.auth,
            mailer: backend.mailer,
            console_sms: backend.console_sms,
            config: Arc::new(config),
            csrf_key: CsrfKey::derive(random.as_ref()),
            sessions: CountingStore::default(),
            templates: Arc::new(templates()?),
        })
    }

    /// Derives the anonymous CSRF key from the app's secret key.
    pub fn with_secret_key(mut self, secret_key: &[u8]) -> Self {
        self.csrf_key = CsrfKey::derive(secret_key);
        self
    }

    /// How many sessions the server holds.
    pub async fn session_count(&self) -> usize {
        self.sessions.len().await
    }
}

/// A fresh in-memory site with quiet console outboxes (no Twilio, no SMTP,
/// whatever the environment says), for tests.
pub async fn state_for_tests() -> Result<AppState, SetupError> {
    state_for_tests_with(common::Options::default(), Config::for_tests()).await
}

/// Like [`state_for_tests`], with a policy, email-confirmed registration
/// and settings of the test's choosing (`options.db`, `quiet` and
/// `force_console` are overridden).
pub async fn state_for_tests_with(
    options: common::Options,
    config: Config,
) -> Result<AppState, SetupError> {
    let backend = common::backend(&common::Options {
        db: ":memory:".into(),
        quiet: true,
        force_console: true,
        ..options
    })
    .await?;
    AppState::new(backend, config)
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("index.html", include_str!("templates/index.html")),
    ("register.html", include_str!("templates/register.html")),
    ("login.html", include_str!("templates/login.html")),
    ("logout.html", include_str!("templates/logout.html")),
    ("verify_2fa.html", include_str!("templates/verify_2fa.html")),
    ("profile.html", include_str!("templates/profile.html")),
    (
        "edit_profile.html",
        include_str!("templates/edit_profile.html"),
    ),
    (
        "change_password.html",
        include_str!("templates/change_password.html"),
    ),
    ("enable_2fa.html", include_str!("templates/enable_2fa.html")),
    (
        "enable_2fa_verify.html",
        include_str!("templates/enable_2fa_verify.html"),
    ),
    (
        "enable_totp.html",
        include_str!("templates/enable_totp.html"),
    ),
    (
        "disable_2fa.html",
        include_str!("templates/disable_2fa.html"),
    ),
    (
        "recovery_codes.html",
        include_str!("templates/recovery_codes.html"),
    ),
    (
        "regenerate_codes.html",
        include_str!("templates/regenerate_codes.html"),
    ),
    (
        "reset_password_request.html",
        include_str!("templates/reset_password_request.html"),
    ),
    (
        "reset_password.html",
        include_str!("templates/reset_password.html"),
    ),
    ("error.html", include_str!("templates/error.html")),
    (
        "check_inbox.html",
        include_str!("templates/check_inbox.html"),
    ),
    (
        "confirm_email_invalid.html",
        include_str!("templates/confirm_email_invalid.html"),
    ),
    ("_macros.html", include_str!("templates/_macros.html")),
];

const STYLES: &str = include_str!("static/styles.css");

fn templates() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    // `.html` templates are HTML-escaped automatically (minijinja's default).
    for (name, source) in TEMPLATES {
        env.add_template(name, source)?;
    }
    Ok(env)
}

// ---------------------------------------------------------------- routing

/// The whole site.
pub fn router(state: AppState) -> Router {
    let sessions = SessionManagerLayer::new(state.sessions.clone())
        .with_name("twofa_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.cookie_secure)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::hours(8),
        ));

    Router::new()
        .route("/", get(index))
        .route("/register", get(register_form).post(register))
        .route("/confirm_email/{token}", get(registration::confirm_email))
        .route("/login", get(login_form).post(login))
        .route("/logout", get(logout_form).post(logout))
        .route("/verify_2fa", get(verify_form).post(verify))
        .route("/verify_2fa/resend", axum::routing::post(verify_resend))
        .route("/user/{username}", get(profile))
        .route("/edit_profile", get(edit_profile_form).post(edit_profile))
        .route(
            "/change_password",
            get(change_password_form).post(change_password),
        )
        .route("/enable_2fa", get(enable_sms_form).post(enable_sms))
        .route(
            "/enable_2fa/verify",
            get(enable_sms_verify_form).post(enable_sms_verify),
        )
        .route("/enable_totp", get(enable_totp_form).post(enable_totp))
        .route("/disable_2fa", get(disable_form).post(disable))
        .route("/send_step_up_code", axum::routing::post(send_step_up_code))
        .route("/recovery_codes", get(regenerate_form).post(regenerate))
        .route(
            "/reset_password_request",
            get(reset_request_form).post(reset_request),
        )
        .route(
            "/reset_password/{token}",
            get(reset_form).post(reset_password),
        )
        .route("/static/styles.css", get(stylesheet))
        .fallback(not_found)
        .layer(middleware::from_fn(csrf_guard))
        .layer(middleware::from_fn(require_form))
        .layer(middleware::from_fn(pending_guard))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
        .layer(middleware::from_fn_with_state(state.clone(), error_pages))
        .layer(sessions)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            csrf::nonce_cookie,
        ))
        .layer(middleware::from_fn(security_headers))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(
                    tower_http::trace::DefaultMakeSpan::new().level(tracing::Level::INFO),
                )
                .on_response(
                    tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO),
                ),
        )
        .with_state(state)
}

// ------------------------------------------------------ session contents

const UID: &str = "uid";
const PENDING: &str = "pending_login";
const CSRF: &str = "csrf_token";
const FLASH: &str = "flash";
const ENROLL_PHONE: &str = "enroll_phone";

/// A half-finished login: the password was right, a code is due.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Pending {
    token: String,
    username: String,
    totp: bool,
    sms: bool,
    /// What to say about the SMS code (sent to, available, deferred).
    sms_note: Option<String>,
    next: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
struct Flash {
    kind: String,
    text: String,
}

async fn flash(session: &Session, kind: &str, text: impl Into<String>) -> Result<(), AppError> {
    let mut all: Vec<Flash> = session.get(FLASH).await?.unwrap_or_default();
    all.push(Flash {
        kind: kind.into(),
        text: text.into(),
    });
    session.insert(FLASH, all).await?;
    Ok(())
}

fn random_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    data_encoding::BASE64URL_NOPAD.encode(&b)
}

/// Whether the session holds anything but flash messages.
async fn holds_more_than_flashes(session: &Session) -> Result<bool, AppError> {
    for key in [UID, PENDING, CSRF, ENROLL_PHONE] {
        if session.get_value(key).await?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether the session is a logged-in or half-logged-in one: those use a
/// session-bound CSRF token, never the anonymous double submit.
async fn is_authenticated(session: &Session) -> Result<bool, AppError> {
    Ok(session.get_value(UID).await?.is_some() || session.get_value(PENDING).await?.is_some())
}

/// The CSRF token for the forms of a page: the session's own when the
/// visitor is (half) logged in, else the anonymous double-submit token,
/// which stores nothing on the server.
async fn csrf_token(session: &Visitor) -> Result<String, AppError> {
    if let Some(t) = session.get::<String>(CSRF).await? {
        return Ok(t);
    }
    if is_authenticated(session).await? {
        let t = random_token();
        session.insert(CSRF, &t).await?;
        return Ok(t);
    }
    Ok(session.anon.token())
}

/// Makes the session a fresh, logged-in one: new id, new CSRF token, no
/// pending login.
async fn log_in(session: &Session, user: &User) -> Result<(), AppError> {
    session.cycle_id().await?;
    session.remove_value(PENDING).await?;
    session.remove_value(ENROLL_PHONE).await?;
    session.insert(UID, user.id.0).await?;
    session.insert(CSRF, random_token()).await?;
    Ok(())
}

// ----------------------------------------------------------------- errors

/// An error page to show: a friendly message with a 4xx status, or the 500
/// page for failures the user did not cause (logged, never shown).
#[derive(Debug)]
pub enum AppError {
    /// A page with this status, title and message.
    Page {
        /// The HTTP status.
        status: StatusCode,
        /// The heading.
        title: String,
        /// What happened and what to do, in words safe to show.
        message: String,
        /// For 429: when to try again.
        retry_after: Option<Duration>,
    },
    /// Something broke on our side; logged, the user sees the 500 page.
    Internal(String),
}

impl AppError {
    /// A page with a status, a title and a message.
    pub fn page(status: StatusCode, title: &str, message: impl Into<String>) -> Self {
        AppError::Page {
            status,
            title: title.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    fn not_found() -> Self {
        Self::page(
            StatusCode::NOT_FOUND,
            "Page not found",
            "Sorry, the page you asked for does not exist.",
        )
    }
}

impl From<AuthError> for AppError {
    fn from(e: AuthError) -> Self {
        match FormError::from_auth(e) {
            Ok(fe) => AppError::Page {
                status: fe.status,
                title: title_for(fe.status).into(),
                message: fe.message,
                retry_after: fe.retry_after,
            },
            Err(e) => e,
        }
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(e: tower_sessions::session::Error) -> Self {
        AppError::Internal(format!("session: {e}"))
    }
}

impl From<minijinja::Error> for AppError {
    fn from(e: minijinja::Error) -> Self {
        AppError::Internal(format!("template: {e:#}"))
    }
}

/// Marks a response whose body [`error_pages`] renders as a full page.
#[derive(Clone, Debug)]
struct ErrorPage {
    title: String,
    message: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, title, message, retry_after) = match self {
            AppError::Page {
                status,
                title,
                message,
                retry_after,
            } => (status, title, message, retry_after),
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong".to_owned(),
                    "An unexpected error happened on our side. It has been logged; please try again in a moment.".to_owned(),
                    None,
                )
            }
        };
        let mut resp = (status, format!("{title}\n\n{message}\n")).into_response();
        with_retry_after(&mut resp, retry_after);
        resp.extensions_mut().insert(ErrorPage { title, message });
        resp
    }
}

fn with_retry_after(resp: &mut Response, retry_after: Option<Duration>) {
    if let Some(d) = retry_after {
        let secs = d.as_secs().max(1) + u64::from(d.subsec_nanos() > 0);
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
}

fn title_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "Not allowed",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::NOT_FOUND => "Page not found",
        StatusCode::CONFLICT => "Conflict",
        StatusCode::TOO_MANY_REQUESTS => "Slow down",
        _ => "Something is not right",
    }
}

/// A user-caused failure of a form: shown on the form again.
#[derive(Debug)]
struct FormError {
    status: StatusCode,
    message: String,
    retry_after: Option<Duration>,
}

impl FormError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        FormError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// User errors become a form message with a 4xx status; the others
    /// (store, provider, configuration) become the 500 page.
    fn from_auth(e: AuthError) -> Result<Self, AppError> {
        if !e.is_user_error() {
            return Err(match &e {
                // A provider outage is not the user's fault, but it is not a
                // crash either: say so, with 503.
                AuthError::Provider(p) => {
                    tracing::error!(error = %e, "verification provider failed");
                    let mut page = AppError::page(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Service unavailable",
                        "We could not reach the verification service. Please try again in a moment.",
                    );
                    if let AppError::Page { retry_after, .. } = &mut page {
                        *retry_after = p.retry_after;
                    }
                    page
                }
                _ => AppError::Internal(e.to_string()),
            });
        }
        let retry_after = e.retry_after();
        let (status, message) = match &e {
            AuthError::InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                "Invalid username or password.".to_owned(),
            ),
            AuthError::InvalidCode { attempts_left } => (
                StatusCode::UNAUTHORIZED,
                format!(
                    "That code is not right. {} attempt{} left.",
                    attempts_left,
                    if *attempts_left == 1 { "" } else { "s" }
                ),
            ),
            AuthError::Locked { retry_after } => (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many failed attempts. Please try again in {}.",
                    human_duration(*retry_after)
                ),
            ),
            AuthError::RateLimited { retry_after } => (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many requests. Please try again in {}.",
                    human_duration(*retry_after)
                ),
            ),
            AuthError::UsernameTaken | AuthError::EmailTaken | AuthError::FactorUnavailable(_) => {
                (StatusCode::CONFLICT, sentence(&e.to_string()))
            }
            AuthError::WeakPassword(_)
            | AuthError::InvalidUsername(_)
            | AuthError::InvalidEmail
            | AuthError::InvalidPhoneNumber(_)
            | AuthError::MalformedCode => {
                let msg = match &e {
                    AuthError::WeakPassword(w) => format!("Please choose another password: {w}."),
                    AuthError::MalformedCode => {
                        "Please enter the 6-digit code, or a recovery code like abcde-fghij-klmno-pqrst."
                            .to_owned()
                    }
                    _ => sentence(&e.to_string()),
                };
                (StatusCode::UNPROCESSABLE_ENTITY, msg)
            }
            AuthError::StepUpRequired => (
                StatusCode::FORBIDDEN,
                "Please confirm with your password and a current code.".to_owned(),
            ),
            AuthError::UserNotFound => (StatusCode::NOT_FOUND, "User not found.".to_owned()),
            _ => (StatusCode::BAD_REQUEST, sentence(&e.to_string())),
        };
        Ok(FormError {
            status,
            message,
            retry_after,
        })
    }
}

fn sentence(s: &str) -> String {
    let mut c = s.chars();
    let mut out: String = match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// "5 seconds", "2 minutes", "1 hour".
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    let s = s.max(1);
    let (n, unit) = if s < 120 {
        (s, "second")
    } else if s < 2 * 3600 {
        (s.div_ceil(60), "minute")
    } else {
        (s.div_ceil(3600), "hour")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

// -------------------------------------------------------------- rendering

#[derive(Serialize)]
struct NavUser {
    url: String,
    username: String,
    email: String,
    has_2fa: bool,
}

async fn current_user(state: &AppState, session: &Session) -> Result<Option<User>, AppError> {
    let Some(id) = session.get::<i64>(UID).await? else {
        return Ok(None);
    };
    match state.auth.user(UserId(id)).await {
        Ok(Some(u)) => Ok(Some(u)),
        Ok(None) => {
            // The account is gone: forget it.
            session.flush().await?;
            Ok(None)
        }
        Err(e) => Err(AppError::Internal(e.to_string())),
    }
}

async fn render_html(
    state: &AppState,
    session: &Visitor,
    name: &str,
    ctx: Value,
) -> Result<String, AppError> {
    let user = current_user(state, session).await?.map(|u| NavUser {
        url: profile_url(&u.username),
        has_2fa: u.has_second_factor(),
        username: u.username,
        email: u.email,
    });
    let flashes: Vec<Flash> = session.remove(FLASH).await?.unwrap_or_default();
    if !flashes.is_empty() && !holds_more_than_flashes(session).await? {
        // An anonymous session that only carried these messages: drop it
        // rather than keep an empty record until it expires.
        session.flush().await?;
    }
    let pending = session.get_value(PENDING).await?.is_some();
    let base = context! {
        app_name => state.config.app_name.clone(),
        current_user => user,
        csrf_token => csrf_token(session).await?,
        flashes => flashes,
        pending_login => pending,
    };
    let tmpl = state.templates.get_template(name)?;
    Ok(tmpl.render(context! { ..ctx, ..base })?)
}

async fn render(
    state: &AppState,
    session: &Visitor,
    name: &str,
    status: StatusCode,
    ctx: Value,
) -> Result<Response, AppError> {
    let html = render_html(state, session, name, ctx).await?;
    Ok((status, axum::response::Html(html)).into_response())
}

/// Shows a form again with the error of `e`.
async fn form_error(
    state: &AppState,
    session: &Visitor,
    name: &str,
    e: FormError,
    ctx: Value,
) -> Result<Response, AppError> {
    let mut resp = render(
        state,
        session,
        name,
        e.status,
        context! { error => e.message, ..ctx },
    )
    .await?;
    with_retry_after(&mut resp, e.retry_after);
    Ok(resp)
}

fn profile_url(username: &str) -> String {
    format!("/user/{}", urlencode(username))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The first value of `key` in the query string. Lenient where axum's
/// `Query` is strict: repeated keys and bytes that are not UTF-8 (replaced)
/// are no error.
fn query_param(uri: &Uri, key: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(uri.query()?)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

// ------------------------------------------------------------- middleware

/// Renders error pages: responses marked with [`ErrorPage`], and bare 405s.
async fn error_pages(
    State(state): State<AppState>,
    session: Visitor,
    req: Request,
    next: Next,
) -> Response {
    let resp = next.run(req).await;
    let page = match resp.extensions().get::<ErrorPage>() {
        Some(p) => p.clone(),
        None if resp.status() == StatusCode::METHOD_NOT_ALLOWED => ErrorPage {
            title: "Method not allowed".into(),
            message: "This page cannot be used that way.".into(),
        },
        None => return resp,
    };
    let status = resp.status();
    let ctx = context! { status => status.as_u16(), title => page.title.clone(), message => page.message.clone() };
    match render_html(&state, &session, "error.html", ctx).await {
        Ok(html) => {
            let mut out = (status, axum::response::Html(html)).into_response();
            if let Some(v) = resp.headers().get(header::RETRY_AFTER) {
                out.headers_mut().insert(header::RETRY_AFTER, v.clone());
            }
            out
        }
        Err(e) => {
            tracing::error!(error = ?e, "could not render the error page");
            resp
        }
    }
}

fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    AppError::Internal("a handler panicked".into()).into_response()
}

const MAX_FORM_BYTES: usize = 16 * 1024;

/// Whether a request may change state without these checks.
fn is_safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether `content_type` is `application/x-www-form-urlencoded`, with any
/// parameters (`; charset=UTF-8`).
fn is_url_encoded_form(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.type_() == mime::APPLICATION && m.subtype() == mime::WWW_FORM_URLENCODED)
}

/// Every state-changing request must be a URL-encoded form (what the
/// site's forms send); anything else gets a 415 page before any handler.
async fn require_form(req: Request, next: Next) -> Response {
    if is_safe_method(req.method()) || is_url_encoded_form(req.headers().get(header::CONTENT_TYPE))
    {
        return next.run(req).await;
    }
    AppError::page(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Unsupported form",
        "This site accepts forms sent by its own pages only.",
    )
    .into_response()
}

/// Checks the CSRF token of every state-changing request, in constant time:
/// the form field `csrf_token` (or header `X-CSRF-Token`) must equal the
/// session's token when there is one, and a (half) logged-in session must
/// have one; a visitor without such a session must send the token signed
/// for its nonce cookie. The body is buffered (16 KiB at most) and passed on.
async fn csrf_guard(session: Visitor, req: Request, next: Next) -> Response {
    if is_safe_method(req.method()) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return AppError::page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too much data",
            "That form was too large.",
        )
        .into_response();
    };
    let sent = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                .ok()?
                .into_iter()
                .find(|(k, _)| k == "csrf_token")
                .map(|(_, v)| v)
        });
    let expected = match session.get::<String>(CSRF).await {
        Ok(t) => t,
        Err(e) => return AppError::from(e).into_response(),
    };
    let ok = match expected {
        Some(e) => sent.is_some_and(|s| bool::from(s.as_bytes().ct_eq(e.as_bytes()))),
        None => match is_authenticated(&session).await {
            Ok(true) => false,
            Ok(false) => session.anon.accepts(sent.as_deref()),
            Err(e) => return e.into_response(),
        },
    };
    if !ok {
        tracing::warn!(path = %parts.uri.path(), "CSRF token missing or wrong");
        return AppError::page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form has expired or was not sent from this site. Please go back, reload the page and try again.",
        )
        .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// A half-logged-in session (password right, code pending) may reach only
/// the verify page, logout and the stylesheet.
async fn pending_guard(session: Session, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let allowed = matches!(path, "/verify_2fa" | "/verify_2fa/resend" | "/logout")
        || path.starts_with("/static/");
    if !allowed {
        let pending = match session.get_value(PENDING).await {
            Ok(v) => v.is_some(),
            Err(e) => return AppError::from(e).into_response(),
        };
        if pending {
            return see_other("/verify_2fa");
        }
    }
    next.run(req).await
}

/// Headers for every answer: no caching of pages, no referrer (reset links
/// carry a token), no framing, a strict CSP (no scripts at all).
async fn security_headers(req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    );
    if !is_static {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    resp
}

// ------------------------------------------------------------- extractors

/// The visitor: the session, and the anonymous CSRF nonce of the request.
/// Dereferences to the [`Session`].
pub struct Visitor {
    session: Session,
    anon: AnonCsrf,
}

impl std::ops::Deref for Visitor {
    type Target = Session;

    fn deref(&self) -> &Session {
        &self.session
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let anon = parts.extensions.get::<AnonCsrf>().cloned().ok_or_else(|| {
            AppError::Internal("the CSRF nonce layer is missing".into()).into_response()
        })?;
        Ok(Visitor { session, anon })
    }
}

/// A URL-encoded form; bad input gives a friendly 400 page, not a bare 422.
pub struct AppForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppForm<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                AppError::page(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Too much data",
                    "That form was too large.",
                )
            })?;
        serde_urlencoded::from_bytes(&bytes)
            .map(AppForm)
            .map_err(|_| {
                AppError::page(
                    StatusCode::BAD_REQUEST,
                    "Bad request",
                    "That form could not be read. Please go back and try again.",
                )
            })
    }
}

/// The logged-in user; anyone else is sent to the login page.
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match current_user(state, &session).await {
            Ok(Some(u)) => Ok(CurrentUser(u)),
            // No flash, which would need a session: the login page says why
            // when it has a `next`. That is the way back here, unless it is
            // not a path `next` would follow (or too long to carry).
            Ok(None) => {
                let back = parts
                    .uri
                    .path_and_query()
                    .and_then(|p| safe_next(Some(p.as_str())))
                    .map(|p| format!("/login?next={}", urlencode(&p)))
                    .filter(|to| LocalPath::parse(to).is_some());
                Err(see_other(back.as_deref().unwrap_or("/login")))
            }
            Err(e) => Err(e.into_response()),
        }
    }
}

// ---------------------------------------------------------------- handlers

type Page = Result<Response, AppError>;

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLES,
    )
        .into_response()
}

async fn not_found() -> AppError {
    AppError::not_found()
}

async fn index(State(state): State<AppState>, session: Visitor) -> Page {
    render(
        &state,
        &session,
        "index.html",
        StatusCode::OK,
        context! { sms_available => state.auth.sms_available() },
    )
    .await
}

// -- register

#[derive(Deserialize, Default)]
#[serde(default)]
struct RegisterForm {
    username: String,
    email: String,
    password: String,
    password2: String,
}

async fn register_form(State(state): State<AppState>, session: Visitor) -> Page {
    if current_user(&state, &session).await?.is_some() {
        return Ok(see_other("/"));
    }
    render(
        &state,
        &session,
        "register.html",
        StatusCode::OK,
        context! {},
    )
    .await
}

async fn register(
    State(state): State<AppState>,
    session: Visitor,
    client: Client,
    AppForm(f): AppForm<RegisterForm>,
) -> Page {
    let keep = context! { username => f.username.clone(), email => f.email.clone() };
    let fail = |e: FormError| form_error(&state, &session, "register.html", e, keep.clone());
    if f.username.trim().is_empty() || f.email.trim().is_empty() || f.password.is_empty() {
        return fail(FormError::invalid("Please fill in every field.")).await;
    }
    if f.password != f.password2 {
        return fail(FormError::invalid("The two passwords do not match.")).await;
    }
    let pw = SecretString::from(f.password);
    let auth = state.auth.with_context(client.0);
    if auth.policy().registration == Registration::EmailConfirmed {
        return registration::start(&state, &session, &auth, &f.username, &f.email, &pw, keep)
            .await;
    }
    match auth.register(&f.username, &f.email, &pw).await {
        Ok(_) => {
            flash(
                &session,
                "success",
                "Congratulations, you are now registered! Please log in.",
            )
            .await?;
            Ok(see_other("/login"))
        }
        Err(e) => fail(FormError::from_auth(e)?).await,
    }
}

// -- login

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    username: String,
    password: String,
    next: String,
}

async fn login_form(State(state): State<AppState>, session: Visitor, uri: Uri) -> Page {
    if current_user(&state, &session).await?.is_some() {
        return Ok(see_other("/"));
    }
    let next = safe_next(query_param(&uri, "next").as_deref());
    render(
        &state,
        &session,
        "login.html",
        StatusCode::OK,
        context! { login_required => next.is_some(), next => next },
    )
    .await
}

async fn login(
    State(state): State<AppState>,
    session: Visitor,
    client: Client,
    AppForm(f): AppForm<LoginForm>,
) -> Page {
    let next = safe_next(Some(&f.next));
    let keep = context! { username => f.username.clone(), next => next.clone() };
    if f.username.trim().is_empty() || f.password.is_empty() {
        return form_error(
            &state,
            &session,
            "login.html",
            FormError::invalid("Please enter your username (or email) and password."),
            keep,
        )
        .await;
    }
    let pw = SecretString::from(f.password);
    match state
        .auth
        .with_context(client.0)
        .login(&f.username, &pw)
        .await
    {
        Ok(Login::Complete(user)) => {
            log_in(&session, &user).await?;
            flash(&session, "success", format!("Welcome, {}!", user.username)).await?;
            Ok(see_other(
                &next.unwrap_or_else(|| profile_url(&user.username)),
            ))
        }
        Ok(Login::SecondFactor(ch)) => {
            let (sms_note, sms) = match &ch.sms {
                Some(twofa_verify::SmsDelivery::Sent { to }) => (
                    Some(format!("We sent a code by text message to {to}.")),
                    true,
                ),
                Some(twofa_verify::SmsDelivery::Available { to }) => (
                    Some(format!("We can text a code to {to} if you need one.")),
                    true,
                ),
                Some(twofa_verify::SmsDelivery::Deferred { to, reason, .. }) => (
                    Some(format!(
                        "We could not text a code to {to} right now ({reason}). Use your authenticator app or a recovery code, or try sending it again."
                    )),
                    true,
                ),
                _ => (None, false),
            };
            let pending = Pending {
                token: ch.token().to_owned(),
                username: f.username.trim().to_owned(),
                totp: ch.methods.contains(&Factor::Totp),
                sms,
                sms_note,
                next,
            };
            session.cycle_id().await?;
            session.remove_value(UID).await?;
            session.insert(PENDING, pending).await?;
            session.insert(CSRF, random_token()).await?;
            Ok(see_other("/verify_2fa"))
        }
        Err(e) => {
            form_error(
                &state,
                &session,
                "login.html",
                FormError::from_auth(e)?,
                keep,
            )
            .await
        }
    }
}

async fn logout_form(State(state): State<AppState>, session: Visitor) -> Page {
    render(&state, &session, "logout.html", StatusCode::OK, context! {}).await
}

async fn logout(session: Session) -> Page {
    session.flush().await?;
    flash(&session, "info", "You have been logged out.").await?;
    Ok(see_other("/"))
}

// -- second step of login

#[derive(Deserialize, Default)]
#[serde(default)]
struct CodeForm {
    code: String,
    method: String,
}

fn verify_method(p: &Pending, asked: Option<&str>) -> &'static str {
    match asked {
        Some("recovery") => "recovery",
        Some("sms") if p.sms => "sms",
        Some("totp") if p.totp => "totp",
        _ if p.totp => "totp",
        _ if p.sms => "sms",
        _ => "recovery",
    }
}

async fn pending(session: &Session) -> Result<Option<Pending>, AppError> {
    Ok(session.get::<Pending>(PENDING).await?)
}

fn verify_ctx(p: &Pending, method: &str) -> Value {
    context! {
        method => method,
        sms_note => p.sms_note.clone(),
        sms => p.sms,
        totp => p.totp,
        username => p.username.clone(),
    }
}

async fn verify_form(State(state): State<AppState>, session: Visitor, uri: Uri) -> Page {
    let Some(p) = pending(&session).await? else {
        return Ok(see_other("/login"));
    };
    let method = verify_method(&p, query_param(&uri, "method").as_deref());
    render(
        &state,
        &session,
        "verify_2fa.html",
        StatusCode::OK,
        verify_ctx(&p, method),
    )
    .await
}

async fn verify(
    State(state): State<AppState>,
    session: Visitor,
    client: Client,
    AppForm(f): AppForm<CodeForm>,
) -> Page {
    let Some(p) = pending(&session).await? else {
        flash(&session, "info", "Please log in first.").await?;
        return Ok(see_other("/login"));
    };
    let method = verify_method(&p, Some(&f.method));
    if f.code.trim().is_empty() {
        return form_error(
            &state,
            &session,
            "verify_2fa.html",
            FormError::invalid("Please enter the code."),
            verify_ctx(&p, method),
        )
        .await;
    }
    let looks_recovery = f.code.chars().filter(char::is_ascii_alphabetic).count() > 0;
    let auth = state.auth.with_context(client.0);
    match auth.verify(&p.token, &f.code).await {
        Ok(user) => {
            log_in(&session, &user).await?;
            flash(&session, "success", format!("Welcome, {}!", user.username)).await?;
            if looks_recovery {
                let left = auth.recovery_codes_left(user.id).await?;
                flash(
                    &session,
                    "warning",
                    format!(
                        "You used a recovery code; {left} left. Each code works once: make new ones on the recovery codes page if you are running low."
                    ),
                )
                .await?;
            }
            Ok(see_other(
                // Checked again: the session may predate today's rules.
                &safe_next(p.next.as_deref()).unwrap_or_else(|| profile_url(&user.username)),
            ))
        }
        Err(
            e @ (AuthError::TooManyAttempts
            | AuthError::ChallengeExpired
            | AuthError::ChallengeNotFound),
        ) => {
            // The pending login is gone: back to the password.
            session.remove_value(PENDING).await?;
            let fe = FormError::new(StatusCode::UNAUTHORIZED, sentence(&e.to_string()));
            form_error(
                &state,
                &session,
                "login.html",
                fe,
                context! { username => p.username.clone() },
            )
            .await
        }
        Err(e) => {
            form_error(
                &state,
                &session,
                "verify_2fa.html",
                FormError::from_auth(e)?,
                verify_ctx(&p, method),
            )
            .await
        }
    }
}

async fn verify_resend(State(state): State<AppState>, session: Visitor, client: Client) -> Page {
    let Some(mut p) = pending(&session).await? else {
        return Ok(see_other("/login"));
    };
    match state.auth.with_context(client.0).resend(&p.token).await {
        Ok(ch) => {
            let to = match ch.sms {
                Some(twofa_verify::SmsDelivery::Sent { to }) => to,
                _ => "your phone".into(),
            };
            p.sms_note = Some(format!("We sent a new code by text message to {to}."));
            session.insert(PENDING, &p).await?;
            flash(
                &session,
                "info",
                format!("A new code is on its way to {to}."),
            )
            .await?;
            Ok(see_other("/verify_2fa?method=sms"))
        }
        Err(
            e @ (AuthError::TooManyAttempts
            | AuthError::ChallengeExpired
            | AuthError::ChallengeNotFound),
        ) => {
            session.remove_value(PENDING).await?;
            flash(&session, "error", sentence(&e.to_string())).await?;
            Ok(see_other("/login"))
        }
        Err(e) => {
            form_error(
                &state,
                &session,
                "verify_2fa.html",
                FormError::from_auth(e)?,
                verify_ctx(&p, "sms"),
            )
            .await
        }
    }
}

// -- profile

#[derive(Serialize)]
struct ProfileView {
    username: String,
    email: String,
    phone: Option<String>,
    totp_enabled: bool,
    has_2fa: bool,
    member_since: String,
}

async fn profile(
    State(state): State<AppState>,
    session: Visitor,
    CurrentUser(me): CurrentUser,
    Path(username): Path<String>,
) -> Page {
    let Some(user) = state.auth.user_by_username(&username).await? else {
        return Err(AppError::page(
            StatusCode::NOT_FOUND,
            "User not found",
            format!("There is no user called \"{username}\"."),
        ));
    };
    let own = user.id == me.id;
    let codes_left = if own && user.has_second_factor() {
        Some(state.auth.recovery_codes_left(user.id).await?)
    } else {
        None
    };
    let secs = user.created_at.as_secs();
    let view = ProfileView {
        has_2fa: user.has_second_factor(),
        phone: user.masked_phone(),
        totp_enabled: user.totp_enabled,
        username: user.username,
        // Others see the username only.
        email: if own { user.email } else { String::new() },
        member_since: civil_date(secs),
    };
    render(
        &state,
        &session,
        "profile.html",
        StatusCode::OK,
        context! {
            user => view,
            own => own,
            codes_left => codes_left,
            sms_available => state.auth.sms_available(),
            totp_available => state.auth.totp_available(),
        },
    )
    .await
}

/// `YYYY-MM-DD` (UTC) from unix seconds (days-from-civil inverse).
fn civil_date(secs: i64) -> String {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

// -- edit profile

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProfileForm {
    username: String,
    email: String,
}

async fn edit_profile_form(
    State(state): State<AppState>,
    session: Visitor,
    CurrentUser(me): CurrentUser,
) -> Page {
    render(
        &state,
        &session,
        "edit_profile.html",
        StatusCode::OK,
        context! { username => me.username, email => me.email },
    )
    .await
}

async fn edit_profile(
    State(state): State<AppState>,
    session: Visitor,
    client: Client,
    CurrentUser(me): CurrentUser,
    AppForm(f): AppForm<ProfileForm>,
) -> Page {
    let keep = context! { username => f.username.clone(), email => f.email.clone() };
    if f.username.trim().is_empty() || f.email.trim().is_empty() {
        return form_error(
            &state,
            &session,
            "edit_profile.html",
            FormError::invalid("Please fill in both fields."),
            keep,
        )
        .await;
    }
    match state
        .auth
        .with_context(client.0)
        .update_profile(me.id, Some(&f.username), Some(&f.email))
        .await
    {
        Ok(user) => {
            flash(&session, "success", "Your changes have been saved.").await?;
            Ok(see_other(&profile_url(&user.username)))
        }
        Err(e) => {
            form_error(
                &state,
                &session,
                "edit_profile.html",
                FormError::from_auth(e)?,
                keep,
            )
            .await
        }
    }
}

// -- change password

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChangePasswordForm {
    current: String,
    password: String,
    password2: String,
}

async fn change_password_form(
    State(state): State<AppState>,
    session: Visitor,
    CurrentUser(_): CurrentUser,
) -> Page {
    render(
        &state,
        &session,
        "change_password.html",
        StatusCode::OK,
        context! {},
    )
    .await
}

async fn change_password(
    State(state): State<AppState>,
    session: Visitor,
    client: Client,
    CurrentUser(me): CurrentUser,
    AppForm(f): AppForm<ChangePasswordForm>,
) -> Page {
    let fail = |e: FormError| form_error(&state, &session, "change_password.html", e, context! {});
    if f.password != f.password2 {
        return fail(FormError::invalid("The two new passwords do not match.")).await;
    }
    let (cur, new) = (
        SecretString::from(f.current),
        SecretString::from(f.password),
    );
    let auth = state.auth.with_context(client.0);
    match auth.change_password(me.id, &cur, &new).await {
        Ok(()) => {
            session.cycle_id().await?;
            flash(&session, "success", "Your password has been changed.").await?;
            Ok(see_other(&profile_url(&me.username)))
        }
        Err(AuthError::InvalidCredentials) => {
            fail(FormError::new(
                StatusCode::UNAUTHORIZED,
                "Your current password is not right.",
            ))
            .await
        }
        Err(e) => fail(FormError::from_auth(e)?).await,
    }
}

// -- enable SMS

#[derive(Deserialize, Default)]
#[serde(default)]
struct PhoneForm {
    phone: String,
}

async fn enable_sms_form(
    State(state): State<AppState>,
    session: Visitor,
    CurrentUser(me): CurrentUser,
) -> Page {
    if me.phone.is_some() {
        flash(
            &session,
            "info",
            "Text-message codes are already on. To use another number, disable them first.",
        )
        .await?;
        return Ok(see_other(&profile_url(&me.username)));
    }
    render(
        &state,
        &session,
        "enable_2fa.html",
        StatusCode::OK,
        context! { sms_available => state.auth.sms_available() },
    )
    .await
}

async fn enable_sms(
    State(state): State<AppState>,
    session: Visitor,
    client: Client,
    CurrentUser(me): CurrentUser,
    AppForm(f): AppForm<PhoneForm>,
) -> Page {
    let keep = context! { phone => f.phone.clone(), sms_available => state.auth.sms_available() };
    if f.phone.trim().is_empty() {
        return form_error(
            &state,
            &session,
            "enable_2fa.html",
            FormError::invalid("Please enter your mobile number."),
            keep,
        )
        .await;
    }
    let auth = state.auth.with_context(client.0);
    match auth.start_sms_enrollment(me.id, &f.phone, None).await {
        Ok(sent) => {
            session.insert(ENROLL_PHONE, f.phone.trim()).await?;
            flash(
                &session,
                "info",
                format!("We sent a code by text message to {}.", sent.to),
            )
            .await?;
            Ok(see_other("/enable_2fa/verify"))
        }
        Err(e) => {
            form_error(
                &state,
                &session,
                "enable_2fa.html",
                FormError::from_auth(e)?,
                keep,
            )
            .await
        }
    }
}

async fn enable_sms_verify_form(
    State(state): State<AppState>,
    session: Visitor,
    CurrentUser(_): CurrentUser,
) -> Page {
    let Some(phone) = session.get::<String>(ENROLL_PHONE).await? else {
        return Ok(see_other("/enable_2fa"));
    };
    render(
        &state,
        &session,
        "enable_2fa_verify.html",
        StatusCode::OK,
        context! { phone => phone },
    )
    .await
}

async fn enable_sms_verify(
    State(state): State<AppState>,
    session: Visitor,
    client: Client,
    CurrentUser(me): CurrentUser,
    AppForm(f): AppForm<CodeForm>,
) -> Page {
    let phone: Option<String> = session.get(ENROLL_PHONE).await?;
    let keep = context! { phone => phone.clone() };
    let auth = state.auth.with_context(client.0);
    match auth.confirm_sms_enrollment(me.id, &f.code).await {
        Ok(codes) => {
            session.remove_value(ENROLL_PHONE).await?;
            enabled(&state, &session, &me, "Text-message codes are on.", codes).await
        }
        Err(
            e @ (AuthError::TooManyAttempts
            | AuthError::ChallengeExpired
            | AuthError::ChallengeNotFound),
        ) => {
            session.remove_value(ENROLL_PHONE).await?;
            let fe = FormError::new(
                StatusCode::BAD_REQUEST,
                format!("{} Enter your number again.", sentence(&e.to_string())),
            );
            form_error(
                &state,
                &session,
                "enable_2fa.html",
                fe,
                context! { phone => phone, sms_available => state.auth.sms_available() },
            )
            .await
        }
        Err(e) => {
            form_error(
                &state,
                &session,
                "enable_2fa_verify.html",
                FormError::from_auth(e)?,
                keep,
            )
            .await
        }
    }
}

/// After a factor is enabled: the recovery codes when they are new (shown
/// once, never stored in the session), else back to the profile.
async fn enabled(
    state: &AppState,
    session: &Visitor,
    me: &User,
    what: &str,
    codes: Option<twofa_verify::factor::RecoveryCodes>,
) -> Page {
    match codes {
        Some(codes) => {
            flash(
                session,
                "success",
                format!("{what} Two-factor authentication is enabled."),
            )
            .await?;
            show_codes(state, session, me, &codes).await
        }
        None => {
            flash(session, "success", what).await?;
            Ok(see_other(&profile_url(&me.username)))
        }
    }
}

async fn show_codes(
    state: &AppState,
    session: &Visitor,
    me: &User,
    codes: &twofa_verify::factor::RecoveryCodes,
) -> Page {
    render(
        state,
        session,
        "recovery_codes.html",
        StatusCode::OK,
        context! { codes => codes.codes(), profile => profile_url(&me.username) },
    )
    .await
}

// -- enable TOTP

async fn enable_totp_form(
    State(state): State<AppState>,
    session: Visitor,
    client: Client,
    CurrentUser(me): CurrentUser,
) -> Page {
    use secrecy::ExposeSecret;
    if me.totp_enabled {
        flash(&session, "info", "An authenticator app is already enabled.").await?;
        return Ok(see_other(&profile_url(&me.username)));
    }
    let e = state
        .auth
        .with_context(client.0)
        .start_totp_enrollment(me.id)
        .await?;
    #[cfg(feature = "qr")]
    let qr = Some(e.qr_data_uri());
    #[cfg(not(feature = "qr"))]
    let qr: Option<String> = None;
    render(
        &state,
        &session,
        "enable_totp.html",
        StatusCode::OK,
        context! {
            qr => qr,
            secret => e.secret_grouped(),
            secret_raw => e.secret_base32.expose_secret().to_owned(),
            fresh => true,
        },
    )
    .await
}

async fn enable_totp(
    State(state): State<AppState>,
    session: Visitor,
    client: Client,
    CurrentUser(me): CurrentUser,
    AppForm(f): AppForm<CodeForm>,
) -> Page {
    let auth = state.auth.with_context(client.0);
    match auth.confirm_totp_enrollment(me.id, &f.code).await {
        Ok(codes) => {
            enabled(
                &state,
                &session,
                &me,
                "Your authenticator app is set up.",
                codes,
            )
            .await
        }
        Err(
            e @ (AuthError::TooManyAttempts
            | AuthError::ChallengeExpired
            | AuthError::ChallengeNotFound),
        ) => {
            flash(
                &session,
                "error",
                format!(
                    "{} Scan the new QR code below (remove the old entry from your app).",
                    sentence(&e.to_string())
                ),
            )
            .await?;
            Ok(see_other("/enable_totp"))
        }
        // The secret is not kept in the session, so the retry page shows
        // only the code form (and a link to start over with a new secret).
        Err(e) => {
            form_error(
                &state,
                &session,
                "enable_totp.html",
                FormError::from_auth(e)?,
                context! { fresh => false },
            )
            .await
        }
    }
}

// -- step-up: disable a factor, regenerate recovery codes

#[derive(Deserialize, Default)]
#[serde(default)]
struct StepUpForm {
    password: String,
    code: String,
    factor: String,
}

fn step_up_ctx(me: &User) -> Value {
    context! {
        sms => me.phone.is_some(),
        totp => me.totp_enabled,
        phone => me.masked_phone(),
    }
}

/// A failed step-up: "the password" rather than "username or password".
fn step_up_error(e: AuthError) -> Result<FormError, AppError> {
    match e {
        AuthError::InvalidCredentials => Ok(FormError::new(
            StatusCode::UNAUTHORIZED,
            "Your password is not right.",
        )),
        e => FormError::from_auth(e),
    }
}

async fn disable_form(
    State(state): State<AppState>,
    session: Visitor,
    CurrentUser(me): CurrentUser,
) -> Page {
    if !me.has_second_factor() {
        flash(
            &session,
            "info",
            "Two-factor authentication is not enabled.",
        )
        .await?;
        return Ok(see_other(&profile_url(&me.username)));
    }
    render(
        &state,
        &session,
        "disable_2fa.html",
        StatusCode::OK,
        step_up_ctx(&me),
    )
    .await
}

async fn disable(
    State(state): State<AppState>,
    session: Visitor,
    client: Client,
    CurrentUser(me): CurrentUser,
    AppForm(f): AppForm<StepUpForm>,
) -> Page {
    let factor = match f.factor.as_str() {
        "sms" => Factor::Sms,
        "totp" => Factor::Totp,
        "" if me.phone.is_some() && !me.totp_enabled => Factor::Sms,
        "" if me.totp_enabled && me.phone.is_none() => Factor::Totp,
        _ => {
            return form_error(
                &state,
                &session,
                "disable_2fa.html",
                FormError::invalid("Please choose what to turn off."),
                step_up_ctx(&me),
            )
            .await;
        }
    };
    if f.password.is_empty() {
        return form_error(
            &state,
            &session,
            "disable_2fa.html",
            FormError::invalid("Please enter your password."),
            step_up_ctx(&me),
        )
        .await;
    }
    let step_up = StepUp::new(f.password, Some(f.code));
    let auth = state.auth.with_context(client.0);
    match auth.disable_factor(me.id, factor, &step_up).await {
        Ok(()) => {
            let what = match factor {
                Factor::Sms => "Text-message codes are off.",
                _ => "Your authenticator app is removed.",
            };
            let still = auth
                .user(me.id)
                .await?
                .is_some_and(|u| u.has_second_factor());
            let msg = if still {
                what.to_owned()
            } else {
                format!("{what} Two-factor authentication is disabled.")
            };
            flash(&session, "success", msg).await?;
            Ok(see_other(&profile_url(&me.username)))
        }
        Err(e) => {
            form_error(
                &state,
                &session,
                "disable_2fa.html",
                step_up_error(e)?,
                step_up_ctx(&me),
            )
            .await
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SendCodeForm {
    next: String,
}

async fn send_step_up_code(
    State(state): State<AppState>,
    session: Visitor,
    client: Client,
    CurrentUser(me): CurrentUser,
    AppForm(f): AppForm<SendCodeForm>,
) -> Page {
    let (back, tpl) = match f.next.as_str() {
        "recovery_codes" => ("/recovery_codes", "regenerate_codes.html"),
        _ => ("/disable_2fa", "disable_2fa.html"),
    };
    let auth = state.auth.with_context(client.0);
    match auth.send_step_up_code(me.id).await {
        Ok(_) => {
            let to = me.masked_phone().unwrap_or_default();
            flash(
                &session,
                "info",
                format!("We sent a code by text message to {to}."),
            )
            .await?;
            Ok(see_other(back))
        }
        Err(e) => {
            let ctx = context! { codes_left => auth.recovery_codes_left(me.id).await?, ..step_up_ctx(&me) };
            form_error(&state, &session, tpl, FormError::from_auth(e)?, ctx).await
        }
    }
}

async fn regenerate_form(
    State(state): State<AppState>,
    session: Visitor,
    CurrentUser(me): CurrentUser,
) -> Page {
    if !me.has_second_factor() {
        flash(
            &session,
            "info",
            "Recovery codes come with two-factor authentication: enable it first.",
        )
        .await?;
        return Ok(see_other(&profile_url(&me.username)));
    }
    let left = state.auth.recovery_codes_left(me.id).await?;
    render(
        &state,
        &session,
        "regenerate_codes.html",
        StatusCode::OK,
        context! { codes_left => left, ..step_up_ctx(&me) },
    )
    .await
}

async fn regenerate(
    State(state): State<AppState>,
    session: Visitor,
    client: Client,
    CurrentUser(me): CurrentUser,
    AppForm(f): AppForm<StepUpForm>,
) -> Page {
    let auth = state.auth.with_context(client.0);
    let left = auth.recovery_codes_left(me.id).await?;
    let ctx = context! { codes_left => left, ..step_up_ctx(&me) };
    if f.password.is_empty() {
        return form_error(
            &state,
            &session,
            "regenerate_codes.html",
            FormError::invalid("Please enter your password."),
            ctx,
        )
        .await;
    }
    let step_up = StepUp::new(f.password, Some(f.code));
    match auth.regenerate_recovery_codes(me.id, &step_up).await {
        Ok(codes) => {
            flash(
                &session,
                "success",
                "New recovery codes are ready; the old ones no longer work.",
            )
            .await?;
            show_codes(&state, &session, &me, &codes).await
        }
        Err(e) => {
            form_error(
                &state,
                &session,
                "regenerate_codes.html",
                step_up_error(e)?,
                ctx,
            )
            .await
        }
    }
}

// -- password reset

#[derive(Deserialize, Default)]
#[serde(default)]
struct EmailForm {
    email: String,
}

async fn reset_request_form(State(state): State<AppState>, session: Visitor) -> Page {
    render(
        &state,
        &session,
        "reset_password_request.html",
        StatusCode::OK,
        context! {},
    )
    .await
}

async fn reset_request(
    State(state): State<AppState>,
    session: Visitor,
    client: Client,
    AppForm(f): AppForm<EmailForm>,
) -> Page {
    let keep = context! { email => f.email.clone() };
    if f.email.trim().is_empty() {
        return form_error(
            &state,
            &session,
            "reset_password_request.html",
            FormError::invalid("Please enter your email address."),
            keep,
        )
        .await;
    }
    let auth = state.auth.with_context(client.0);
    match auth.request_password_reset(&f.email).await {
        Ok(token) => {
            if let Some(t) = token {
                let link = format!("{}/reset_password/{}", state.config.base_url, t.token());
                let body = format!(
                    "Dear {},\n\nTo reset your password, open this link:\n\n{link}\n\nThe link works once and expires in {}.\nIf you did not ask for a password reset, ignore this message.\n\n{}\n",
                    t.username,
                    human_duration(auth.policy().reset_token_ttl),
                    state.config.app_name,
                );
                let subject = format!("[{}] Reset your password", state.config.app_name);
                let mailer = state.mailer.clone();
                let to = t.email.clone();
                // Sent in the background: the answer takes the same time
                // whether or not the address is registered.
                tokio::spawn(async move {
                    if let Err(e) = mailer.send(&to, &subject, &body).await {
                        tracing::error!(error = %e, "could not send the password reset email");
                    }
                });
            }
            flash(
                &session,
                "info",
                "If that address belongs to an account, we have sent it a link to reset the password. Check your email.",
            )
            .await?;
            Ok(see_other("/login"))
        }
        Err(e) => {
            form_error(
                &state,
                &session,
                "reset_password_request.html",
                FormError::from_auth(e)?,
                keep,
            )
            .await
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResetForm {
    password: String,
    password2: String,
}

fn bad_reset_link() -> AppError {
    AppError::page(
        StatusCode::BAD_REQUEST,
        "Link not valid",
        "This password reset link is invalid, was already used or has expired. Please ask for a new one.",
    )
}

async fn reset_form(
    State(state): State<AppState>,
    session: Visitor,
    client: Client,
    Path(token): Path<String>,
) -> Page {
    match state
        .auth
        .with_context(client.0)
        .check_reset_token(&token)
        .await
    {
        Ok(user) => {
            render(
                &state,
                &session,
                "reset_password.html",
                StatusCode::OK,
                context! { token => token, username => user.username },
            )
            .await
        }
        Err(AuthError::InvalidResetToken) => Err(bad_reset_link()),
        Err(e) => Err(e.into()),
    }
}

async fn reset_password(
    State(state): State<AppState>,
    session: Visitor,
    client: Client,
    Path(token): Path<String>,
    AppForm(f): AppForm<ResetForm>,
) -> Page {
    let auth = state.auth.with_context(client.0);
    let user = match auth.check_reset_token(&token).await {
        Ok(u) => u,
        Err(AuthError::InvalidResetToken) => return Err(bad_reset_link()),
        Err(e) => return Err(e.into()),
    };
    let keep = context! { token => token.clone(), username => user.username.clone() };
    if f.password != f.password2 {
        return form_error(
            &state,
            &session,
            "reset_password.html",
            FormError::invalid("The two passwords do not match."),
            keep,
        )
        .await;
    }
    match auth
        .reset_password(&token, &SecretString::from(f.password))
        .await
    {
        Ok(_) => {
            // Whoever was logged in here is logged out.
            session.flush().await?;
            flash(
                &session,
                "success",
                "Your password has been reset. Please log in.",
            )
            .await?;
            Ok(see_other("/login"))
        }
        Err(AuthError::InvalidResetToken) => Err(bad_reset_link()),
        Err(e) => {
            form_error(
                &state,
                &session,
                "reset_password.html",
                FormError::from_auth(e)?,
                keep,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(1_700_000_000), "2023-11-14");
        assert_eq!(human_duration(Duration::from_millis(1500)), "2 seconds");
        assert_eq!(human_duration(Duration::from_secs(900)), "15 minutes");
        assert_eq!(safe_next(Some("//evil.example")), None);
        assert_eq!(safe_next(Some("/user/a")), Some("/user/a".into()));
        assert_eq!(urlencode("a b/c"), "a%20b%2Fc");
    }
}
