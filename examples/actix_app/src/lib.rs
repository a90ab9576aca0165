//! An actix-web site on twofa-verify without its axum module: register,
//! log in (password, then an SMS or authenticator-app code), a profile
//! page, logout, and CSRF on every POST, all through the library's
//! framework-neutral [`twofa_verify::web`] helpers.
//!
//! - Sessions: actix-session over [`SessionRecords`] (`sessions.rs`),
//!   server-side in the authenticator's `StateStore`.
//! - CSRF: [`CsrfTokens`]: the session's token once someone logs in, a
//!   signed double submit (nonce cookie) on the login and registration
//!   forms before.
//! - Redirects after login: [`safe_next`]; errors: [`ErrorResponse`].
//! - Every answer, errors included: the headers of [`security_headers`].

mod pages;
mod sessions;

use std::net::SocketAddr;

use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::{Cookie, Key, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use twofa_verify::web::csrf::{self, CsrfTokens, NONCE_COOKIE, Presented, SessionCsrf};
use twofa_verify::web::{ErrorResponse, SessionRecords, cookie_name, safe_next};
use twofa_verify::{
    Authenticator, ConsoleSms, LocalCodes, MemoryStore, RequestContext, SecretKey, SessionStamp,
    User, UserId,
};

pub use sessions::StateSessions;

/// The Content-Security-Policy of every answer: the pages have no script,
/// style or image, forms post only here, and nobody frames them.
pub const CSP: &str =
    "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Headers for every answer, error answers and redirects included (wrap
/// the app with it, outside the sessions): the [`CSP`], no framing (and
/// `X-Frame-Options` for old browsers), no MIME sniffing of the plain-text
/// error answers, no referrer, and no caching: the pages carry CSRF
/// tokens and the user's data.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CSP))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::CACHE_CONTROL, "no-store"))
}

/// Session keys.
const USER: &str = "user";
const PENDING: &str = "pending";
const NEXT: &str = "next";
const CSRF: &str = "csrf";

/// The site: the authenticator and what the pages share.
#[derive(Clone)]
pub struct Site {
    /// The authenticator (users, codes, sessions all in memory).
    pub auth: Authenticator,
    /// Where SMS codes go (printed on the console).
    pub sms: ConsoleSms,
    csrf: CsrfTokens,
    sessions: StateSessions,
    cookie_key: Key,
    secure: bool,
}

impl Site {
    /// A site in memory at `site_url` (`https://…` makes every cookie
    /// `Secure` and `__Host-`).
    pub fn new(key: SecretKey, site_url: &str) -> Result<Self, twofa_verify::Error> {
        Self::with_sms(key, site_url, ConsoleSms::new())
    }

    /// Like [`new`](Self::new), with SMS codes going to `sms` (tests read
    /// them from a quiet one).
    pub fn with_sms(
        key: SecretKey,
        site_url: &str,
        sms: ConsoleSms,
    ) -> Result<Self, twofa_verify::Error> {
        Self::with_policy(key, site_url, sms, twofa_verify::Policy::default())
    }

    /// Like [`with_sms`](Self::with_sms), under `policy` (a second factor
    /// required, other limits).
    pub fn with_policy(
        key: SecretKey,
        site_url: &str,
        sms: ConsoleSms,
        policy: twofa_verify::Policy,
    ) -> Result<Self, twofa_verify::Error> {
        let store = MemoryStore::new();
        let auth = Authenticator::builder()
            .store(store.clone())
            .secret_key(key.clone())
            .sms(LocalCodes::new(sms.clone()))
            .issuer("actix_app")
            .policy(policy)
            .build()?;
        let secure = site_url.starts_with("https://");
        if !secure && !site_url.starts_with("http://") {
            return Err(twofa_verify::Error::Config(format!(
                "the site's URL must start with https:// or http://, not {site_url:?}"
            )));
        }
        // actix-session signs its cookie too; its own key, derived.
        let cookie_key =
            Key::derive_from(key.derive("actix_app: session cookie v1").expose_secret());
        Ok(Site {
            auth,
            sms,
            csrf: CsrfTokens::new().anonymous(key.clone()),
            sessions: StateSessions::new(SessionRecords::new(store, &key)),
            cookie_key,
            secure,
        })
    }

    /// The session middleware: server-side sessions, a browser-session
    /// cookie `HttpOnly`, `SameSite=Lax`, `Path=/`, and on https `Secure`
    /// with the `__Host-` prefix.
    pub fn sessions(&self) -> SessionMiddleware<StateSessions> {
        SessionMiddleware::builder(self.sessions.clone(), self.cookie_key.clone())
            .cookie_name(cookie_name("twofa_session", self.secure))
            .cookie_secure(self.secure)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_path("/".into())
            .cookie_content_security(CookieContentSecurity::Signed)
            .session_lifecycle(BrowserSession::default())
            .build()
    }

    /// The routes, with the site as app data.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(web::Data::new(self.clone()))
            .route("/", web::get().to(pages::index))
            .route("/register", web::get().to(pages::register_form))
            .route("/register", web::post().to(pages::register))
            .route("/login", web::get().to(pages::login_form))
            .route("/login", web::post().to(pages::login))
            .route("/code", web::get().to(pages::code_form))
            .route("/code", web::post().to(pages::code))
            .route("/profile", web::get().to(pages::profile))
            .route("/logout", web::post().to(pages::logout));
    }

    /// The authenticator for this request's client (its address and user
    /// agent): per-client limits apply and events name it.
    fn auth_for(&self, req: &HttpRequest) -> Authenticator {
        let mut ctx = RequestContext::new();
        if let Some(SocketAddr::V4(a)) = req.peer_addr() {
            ctx = ctx.with_ip((*a.ip()).into());
        } else if let Some(SocketAddr::V6(a)) = req.peer_addr() {
            ctx = ctx.with_ip((*a.ip()).into());
        }
        if let Some(ua) = req.headers().get(header::USER_AGENT) {
            ctx = ctx.with_user_agent(&String::from_utf8_lossy(ua.as_bytes()));
        }
        self.auth.with_context(ctx)
    }
}

/// What the session holds for a logged-in user: checked against the
/// account's credentials at every request.
#[derive(Serialize, Deserialize)]
struct SignedIn {
    id: UserId,
    stamp: SessionStamp,
}

/// A failed request.
#[derive(Debug)]
pub enum AppError {
    /// An authenticator call failed.
    Auth(twofa_verify::Error),
    /// The CSRF token is missing or wrong.
    Csrf,
    /// The session could not be read or written.
    Session(String),
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Auth(e) => write!(f, "{e}"),
            AppError::Csrf => f.write_str("CSRF token missing or wrong"),
            AppError::Session(e) => write!(f, "session error: {e}"),
        }
    }
}

impl From<twofa_verify::Error> for AppError {
    fn from(e: twofa_verify::Error) -> Self {
        AppError::Auth(e)
    }
}

impl From<actix_session::SessionInsertError> for AppError {
    fn from(e: actix_session::SessionInsertError) -> Self {
        AppError::Session(e.to_string())
    }
}

impl From<actix_session::SessionGetError> for AppError {
    fn from(e: actix_session::SessionGetError) -> Self {
        AppError::Session(e.to_string())
    }
}

/// Answers as the library's [`ErrorResponse`] says: a status, a body safe
/// to show, `Retry-After`.
impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.answer().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, body, retry_after) = self.answer();
        let mut resp = HttpResponse::build(status);
        if let Some(secs) = retry_after {
            resp.insert_header((header::RETRY_AFTER, secs));
        }
        resp.content_type("text/plain; charset=utf-8").body(body)
    }
}

impl AppError {
    fn answer(&self) -> (StatusCode, String, Option<u64>) {
        let answer = match self {
            AppError::Auth(e) => ErrorResponse::from_error(e),
            AppError::Csrf => {
                return (
                    StatusCode::FORBIDDEN,
                    "this form has expired or was not sent from this site; reload the page and try again".into(),
                    None,
                );
            }
            AppError::Session(e) => {
                tracing::error!(error = %e, "session failure");
                ErrorResponse::internal()
            }
        };
        let status =
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, answer.body, answer.retry_after)
    }
}

/// The logged-in user: the session's user checked against the account's
/// current credentials; a session whose stamp no longer matches is purged.
async fn current_user(site: &Site, session: &Session) -> Result<Option<User>, AppError> {
    let Some(signed) = session.get::<SignedIn>(USER)? else {
        return Ok(None);
    };
    match site
        .auth
        .session_user(signed.id, signed.stamp.as_str())
        .await?
    {
        Some(user) => Ok(Some(user)),
        None => {
            session.purge();
            Ok(None)
        }
    }
}

/// Logs `user` in: a new session id (against fixation), a new CSRF token,
/// no pending login.
fn log_in(site: &Site, session: &Session, user: &User) -> Result<(), AppError> {
    session.renew();
    session.remove(PENDING);
    session.insert(
        USER,
        SignedIn {
            id: user.id,
            stamp: site.auth.session_stamp(user),
        },
    )?;
    session.insert(CSRF, csrf::session_token())?;
    Ok(())
}

/// The CSRF token for a page's forms, and a nonce cookie to set when the
/// visitor (without a login) brought none.
fn form_token(
    site: &Site,
    req: &HttpRequest,
    session: &Session,
) -> Result<(String, Option<Cookie<'static>>), AppError> {
    // Pages show the session's token masked: another value at every
    // render, so a compressed page leaks nothing of it (BREACH).
    if let Some(t) = session.get::<String>(CSRF)? {
        return Ok((csrf::masked(&t), None));
    }
    if session.contains_key(USER) || session.contains_key(PENDING) {
        let t = csrf::session_token();
        session.insert(CSRF, &t)?;
        return Ok((csrf::masked(&t), None));
    }
    let name = cookie_name(NONCE_COOKIE, site.secure);
    let sent = req.cookie(&name);
    let Some(anon) = site.csrf.anonymous_token(sent.as_ref().map(Cookie::value)) else {
        return Err(AppError::Session("anonymous CSRF tokens are off".into()));
    };
    let cookie = anon.set_cookie.clone().map(|nonce| {
        Cookie::build(name, nonce)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(site.secure)
            .finish()
    });
    Ok((anon.token.clone(), cookie))
}

/// Refuses a POST whose token does not match (403), logged.
fn check_csrf(
    site: &Site,
    req: &HttpRequest,
    session: &Session,
    sent: &str,
) -> Result<(), AppError> {
    let stored = session.get::<String>(CSRF)?;
    let state = match &stored {
        Some(t) => SessionCsrf::Token(t),
        None if session.contains_key(USER) || session.contains_key(PENDING) => {
            SessionCsrf::LoginWithoutToken
        }
        None => SessionCsrf::Anonymous,
    };
    let cookie = req.cookie(&cookie_name(NONCE_COOKIE, site.secure));
    let presented = Presented {
        token: Some(sent),
        nonce_cookie: cookie.as_ref().map(Cookie::value),
    };
    if site.csrf.accepts(state, presented) {
        Ok(())
    } else {
        tracing::warn!(path = req.path(), "CSRF token missing or wrong");
        Err(AppError::Csrf)
    }
}

/// `303 See Other` to a path of this site.
fn see_other(to: &str) -> HttpResponse {
    let path = twofa_verify::web::LocalPath::or_home(to);
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, path.as_str()))
        .finish()
}

/// Where to go after a login: the `next` the login form carried, when it
/// is a path of this site, else the profile.
fn after_login(next: Option<&str>) -> HttpResponse {
    see_other(&safe_next(next).unwrap_or_else(|| "/profile".into()))
}

/// The pending login's challenge token, if the session has one.
fn pending(session: &Session) -> Result<Option<String>, AppError> {
    Ok(session.get::<String>(PENDING)?)
}
