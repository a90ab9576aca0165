//! Access control: pages for logged-in users, and the fence around a
//! half-finished login.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::response::WebError;
use super::session::{AuthSession, PENDING_KEY};
use crate::authenticator::Authenticator;
use crate::user::User;

/// The logged-in user, or a rejection: 401, or with
/// [`AuthConfig::login_url`](super::AuthConfig::login_url) a `303 See Other`
/// to the login page with `next=` the requested path and query
/// (percent-encoded). Checked like [`AuthSession`] (a session whose
/// credentials changed is logged out).
///
/// ```
/// use twofa_verify::axum::RequireUser;
/// async fn profile(RequireUser(user): RequireUser) -> String {
///     format!("hello {}", user.username)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct RequireUser(pub User);

impl<S> FromRequestParts<S> for RequireUser
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
        let session = AuthSession::from_request_parts(parts, state).await?;
        if let Some(user) = session.user() {
            return Ok(RequireUser(user.clone()));
        }
        let redirect = session.config.login_url.as_ref().map(|url| {
            let here = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
            let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}next={next}")
        });
        Err(WebError::LoginRequired { redirect })
    }
}

/// Keeps a half-logged-in session (password right, second factor pending,
/// see [`AuthSession::begin_second_factor`]) on the code page: any other
/// path gets a `303 See Other` to it, except the paths allowed here
/// (logout, stylesheets, ...). Used with [`pending_guard`]. A pending
/// login past its expiry is dropped when the code page extracts
/// [`AuthSession`], whose [`pending`](AuthSession::pending) is then `None`
/// (send the visitor back to the login form), and the fence lifts.
///
/// ```
/// use axum::{Router, middleware, routing::get};
/// use twofa_verify::axum::{PendingGuard, pending_guard};
/// let guard = PendingGuard::new("/verify_2fa")
///     .allow("/verify_2fa/resend")
///     .allow("/logout")
///     .allow_prefix("/static/");
/// assert!(guard.allows("/static/app.css") && !guard.allows("/account"));
/// let app: Router = Router::new()
///     .route("/", get(|| async { "home" }))
///     .layer(middleware::from_fn_with_state(guard, pending_guard));
///     // .layer(SessionManagerLayer::new(..)) outside it
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct PendingGuard(Arc<GuardPaths>);

#[derive(Debug, Clone)]
struct GuardPaths {
    code_page: String,
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl PendingGuard {
    /// A guard that sends half-logged-in sessions to `code_page` (a path,
    /// itself allowed). See the [`PendingGuard`] example.
    pub fn new(code_page: impl Into<String>) -> Self {
        let code_page = code_page.into();
        PendingGuard(Arc::new(GuardPaths {
            exact: vec![code_page.clone()],
            code_page,
            prefixes: Vec::new(),
        }))
    }

    /// Also allows exactly `path` (see the [`PendingGuard`] example).
    pub fn allow(mut self, path: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.0).exact.push(path.into());
        self
    }

    /// Also allows every path starting with `prefix` (e.g. `"/static/"`;
    /// see the [`PendingGuard`] example).
    pub fn allow_prefix(mut self, prefix: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.0).prefixes.push(prefix.into());
        self
    }

    /// The code page.
    pub(super) fn code_page(&self) -> &str {
        &self.0.code_page
    }

    /// Whether a half-logged-in session may reach `path` (see the
    /// [`PendingGuard`] example).
    pub fn allows(&self, path: &str) -> bool {
        self.0.exact.iter().any(|p| p == path)
            || self.0.prefixes.iter().any(|p| path.starts_with(p.as_str()))
    }
}

/// The middleware of [`PendingGuard`], for
/// `axum::middleware::from_fn_with_state(guard, pending_guard)`, inside the
/// `SessionManagerLayer`. A session store failure answers 500.
pub async fn pending_guard(
    State(guard): State<PendingGuard>,
    req: Request,
    next: Next,
) -> Response {
    if guard.allows(req.uri().path()) {
        return next.run(req).await;
    }
    let Some(session) = req.extensions().get::<Session>().cloned() else {
        return WebError::NoSessionLayer.into_response();
    };
    match session.get_value(PENDING_KEY).await {
        Ok(Some(_)) => Redirect::to(&guard.0.code_page).into_response(),
        Ok(None) => next.run(req).await,
        Err(e) => WebError::from(e).into_response(),
    }
}
