//! Access control: pages for logged-in users, and the fence around a
//! half-finished login.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::response::WebError;
use super::session::{AuthSession, ENROLL_KEY, PENDING_KEY};
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

/// The user of an enrollment page: the logged-in user, or the user of a
/// login that ended at enrollment
/// ([`AuthSession::begin_enrollment`]), whom the policy requires a second
/// factor of. Use it only on the pages that enroll a factor (and their
/// step-up), which the [`PendingGuard`] lets such a session reach
/// ([`PendingGuard::enrollment`]); everywhere else use [`RequireUser`],
/// which refuses that session. Rejected like [`RequireUser`].
///
/// ```
/// use twofa_verify::axum::EnrollingUser;
/// async fn enroll_page(EnrollingUser(user): EnrollingUser) -> String {
///     format!("{}, set up a second factor", user.username)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct EnrollingUser(pub User);

impl<S> FromRequestParts<S> for EnrollingUser
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
        let session = AuthSession::from_request_parts(parts, state).await?;
        if let Some(user) = session.enrolling() {
            return Ok(EnrollingUser(user.clone()));
        }
        RequireUser::from_request_parts(parts, state)
            .await
            .map(|RequireUser(u)| EnrollingUser(u))
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
    /// The enrollment page and the paths a session at enrollment may reach.
    enrollment: Option<EnrollmentPaths>,
}

#[derive(Debug, Clone)]
struct EnrollmentPaths {
    page: String,
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
            enrollment: None,
        }))
    }

    /// Keeps a session at enrollment ([`AuthSession::begin_enrollment`])
    /// on `page` and the paths of [`allow_enrolling`](Self::allow_enrolling)
    /// (plus those every half-logged-in session may reach): any other path
    /// gets a `303 See Other` to `page`.
    ///
    /// ```
    /// use twofa_verify::axum::PendingGuard;
    /// let guard = PendingGuard::new("/verify_2fa")
    ///     .allow("/logout")
    ///     .enrollment("/enroll_2fa")
    ///     .allow_enrolling("/enable_totp")
    ///     .allow_enrolling_prefix("/enable_totp/");
    /// assert!(guard.allows_enrolling("/enable_totp/start"));
    /// assert!(guard.allows_enrolling("/logout"));
    /// assert!(!guard.allows_enrolling("/account") && !guard.allows("/enable_totp"));
    /// ```
    pub fn enrollment(mut self, page: impl Into<String>) -> Self {
        let page = page.into();
        let paths = Arc::make_mut(&mut self.0);
        let e = paths.enrollment.get_or_insert_with(|| EnrollmentPaths {
            page: String::new(),
            exact: Vec::new(),
            prefixes: Vec::new(),
        });
        e.exact.push(page.clone());
        e.page = page;
        self
    }

    /// Also lets a session at enrollment reach exactly `path` (see
    /// [`enrollment`](Self::enrollment)); without an enrollment page it
    /// sets none.
    pub fn allow_enrolling(mut self, path: impl Into<String>) -> Self {
        if let Some(e) = &mut Arc::make_mut(&mut self.0).enrollment {
            e.exact.push(path.into());
        }
        self
    }

    /// Also lets a session at enrollment reach every path starting with
    /// `prefix` (see [`enrollment`](Self::enrollment)).
    pub fn allow_enrolling_prefix(mut self, prefix: impl Into<String>) -> Self {
        if let Some(e) = &mut Arc::make_mut(&mut self.0).enrollment {
            e.prefixes.push(prefix.into());
        }
        self
    }

    /// The enrollment page, if one is set.
    pub(super) fn enrollment_page(&self) -> Option<&str> {
        self.0.enrollment.as_ref().map(|e| e.page.as_str())
    }

    /// Whether a session at enrollment may reach `path` (see
    /// [`enrollment`](Self::enrollment)).
    pub fn allows_enrolling(&self, path: &str) -> bool {
        self.allows(path)
            || self.0.enrollment.as_ref().is_some_and(|e| {
                e.exact.iter().any(|p| p == path)
                    || e.prefixes.iter().any(|p| path.starts_with(p.as_str()))
            })
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
        Ok(Some(_)) => return Redirect::to(&guard.0.code_page).into_response(),
        Ok(None) => {}
        Err(e) => return WebError::from(e).into_response(),
    }
    // A session at enrollment: only the enrollment pages. Without an
    // enrollment page it is simply not logged in (every `RequireUser`
    // refuses it).
    if let Some(page) = guard.enrollment_page()
        && !guard.allows_enrolling(req.uri().path())
    {
        match session.get_value(ENROLL_KEY).await {
            Ok(Some(_)) => return Redirect::to(page).into_response(),
            Ok(None) => {}
            Err(e) => return WebError::from(e).into_response(),
        }
    }
    next.run(req).await
}
