//! CSRF tokens for form apps: the tokens of [`web::csrf`](crate::web::csrf)
//! in a tower-sessions session, checked by a middleware.
//!
//! A session gets a synchronizer token ([`csrf_token`]), renewed at every
//! login, and shown masked (another value at every render). Forms carry it in a `csrf_token` field (or scripts in an
//! `X-CSRF-Token` header), and the [`csrf_guard`] middleware refuses (403)
//! every state-changing request whose token does not match. With
//! [`Csrf::anonymous_tokens`] visitors without a session get signed
//! double-submit tokens (a nonce cookie and its MAC in the form) instead.
//!
//! ```
//! use axum::{Router, middleware, routing::post};
//! use twofa_verify::SecretKey;
//! use twofa_verify::axum::{Csrf, CsrfToken, WebError, csrf_guard};
//!
//! async fn form(token: CsrfToken) -> Result<String, WebError> {
//!     let t = token.value().await?;
//!     Ok(format!(r#"<form method="post"><input type="hidden" name="csrf_token" value="{t}">…"#))
//! }
//! let key = SecretKey::generate(); // SecretKey::from_env("TWOFA_SECRET_KEY")? in an app
//! let csrf = Csrf::new().anonymous_tokens(key);
//! let app: Router = Router::new()
//!     .route("/form", post(|| async { "done" }).get(form))
//!     .layer(middleware::from_fn_with_state(csrf, csrf_guard));
//!     // .layer(SessionManagerLayer::new(..)) outside it
//! # let _ = app;
//! ```

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;
use tower_sessions::cookie::{Cookie, SameSite};

use super::response::WebError;
use super::session::{CSRF_KEY, PENDING_KEY, USER_KEY, keep_deadline};
use crate::key::SecretKey;
use crate::web::cookie_name;
use crate::web::csrf::{self as neutral, AnonymousToken, CsrfTokens, Presented, SessionCsrf};

pub use crate::web::csrf::{FIELD, HEADER, NONCE_COOKIE};

/// The session's CSRF token for a form, made (and stored in the session)
/// on first use. Put it in every form as the `csrf_token` field. It is
/// [`masked`](neutral::masked): another value at every call, each
/// accepted, so that a compressed page leaks nothing of it. ([`CsrfToken`]
/// also serves visitors without a session.)
///
/// ```
/// use axum::http::{HeaderMap, StatusCode};
/// use twofa_verify::axum::csrf::{self, csrf_token};
/// use twofa_verify::axum::{WebError, tower_sessions::Session};
///
/// async fn page(session: Session) -> Result<String, WebError> {
///     let t = csrf_token(&session).await?;
///     Ok(format!(r#"<form method="post"><input type="hidden" name="csrf_token" value="{t}">…"#))
/// }
///
/// /// A JSON endpoint outside `csrf_guard`, checking the header itself.
/// async fn api(session: Session, headers: HeaderMap) -> Result<StatusCode, WebError> {
///     let sent = headers.get(csrf::HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
///     if !csrf::verify(&session, sent).await? {
///         return Ok(StatusCode::FORBIDDEN);
///     }
///     Ok(StatusCode::NO_CONTENT)
/// }
/// ```
pub async fn csrf_token(session: &Session) -> Result<String, WebError> {
    if let Some(t) = session.get::<String>(CSRF_KEY).await? {
        return Ok(neutral::masked(&t));
    }
    let t = neutral::session_token();
    session.insert(CSRF_KEY, &t).await?;
    keep_deadline(session).await?;
    Ok(neutral::masked(&t))
}

/// Whether `sent` is the session's CSRF token, masked or not
/// (constant-time comparison). False when the session has none. See the
/// [`csrf_token`] example.
pub async fn verify(session: &Session, sent: &str) -> Result<bool, WebError> {
    Ok(match session.get::<String>(CSRF_KEY).await? {
        Some(t) => CsrfTokens::new().accepts(
            SessionCsrf::Token(&t),
            Presented {
                token: Some(sent),
                nonce_cookie: None,
            },
        ),
        None => false,
    })
}

/// The settings of [`csrf_guard`] (its state); see the
/// [module's example](crate::axum::csrf). [`AuthLayer`](super::AuthLayer)
/// makes one itself.
#[derive(Debug, Clone)]
pub struct Csrf(Arc<Settings>);

#[derive(Debug, Clone)]
struct Settings {
    tokens: CsrfTokens,
    secure_cookie: bool,
    max_body: usize,
}

impl Default for Csrf {
    fn default() -> Self {
        Csrf(Arc::new(Settings {
            tokens: CsrfTokens::new(),
            secure_cookie: true,
            max_body: 16 * 1024,
        }))
    }
}

impl Csrf {
    /// Session-bound tokens only; bodies up to 16 KiB; `Secure` cookies
    /// (see the [module's example](crate::axum::csrf)).
    pub fn new() -> Self {
        Self::default()
    }

    /// Visitors without a session get signed double-submit tokens, signed
    /// with `secret_key` (the same on every instance; the authenticator's
    /// is the one to give, the MAC is domain-separated). See the
    /// [module's example](crate::axum::csrf).
    pub fn anonymous_tokens(mut self, secret_key: SecretKey) -> Self {
        Arc::make_mut(&mut self.0).tokens = CsrfTokens::new().anonymous(secret_key);
        self
    }

    /// Anonymous tokens under the authenticator's keys.
    pub(crate) fn with_tokens(mut self, tokens: CsrfTokens) -> Self {
        Arc::make_mut(&mut self.0).tokens = tokens;
        self
    }

    /// Whether the nonce cookie is `Secure` (default true; false only for
    /// plain-HTTP development sites, like the session cookie). A `Secure`
    /// cookie is named with the `__Host-` prefix (see
    /// [`cookie_name`]'s example).
    pub fn secure_cookie(mut self, secure: bool) -> Self {
        Arc::make_mut(&mut self.0).secure_cookie = secure;
        self
    }

    /// The largest request body read (default 16 KiB); larger ones get 413.
    /// See the [module's example](crate::axum::csrf).
    pub fn max_body(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.0).max_body = bytes;
        self
    }
}

/// An anonymous visitor's nonce for this request (a request extension set
/// by [`csrf_guard`]): the cookie it came with, and the token once a page
/// asked for one (made once per request, so every form of a page carries
/// the same, and a fresh nonce is set as a cookie once).
#[derive(Clone)]
struct Anonymous {
    tokens: CsrfTokens,
    cookie: Option<String>,
    issued: Arc<OnceLock<Option<AnonymousToken>>>,
}

impl Anonymous {
    fn from_headers(tokens: &CsrfTokens, headers: &HeaderMap, name: &str) -> Self {
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned());
        Anonymous {
            tokens: tokens.clone(),
            cookie,
            issued: Arc::default(),
        }
    }

    fn token(&self) -> Option<String> {
        self.issued
            .get_or_init(|| self.tokens.anonymous_token(self.cookie.as_deref()))
            .as_ref()
            .map(|t| t.token.clone())
    }

    /// The `Set-Cookie` of a new nonce, when a page showed its token.
    fn set_cookie(&self, secure: bool) -> Option<HeaderValue> {
        let nonce = self.issued.get()?.as_ref()?.set_cookie.clone()?;
        let cookie = Cookie::build((cookie_name(NONCE_COOKIE, secure), nonce))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(secure)
            .build();
        HeaderValue::from_str(&cookie.to_string()).ok()
    }
}

/// Whether the session belongs to someone logged in or half logged in.
async fn has_login(session: &Session) -> Result<bool, WebError> {
    Ok(session.get_value(USER_KEY).await?.is_some()
        || session.get_value(PENDING_KEY).await?.is_some())
}

/// The CSRF token for the forms of a page: the session's token when the
/// visitor has a session, else (with [`Csrf::anonymous_tokens`] and
/// [`csrf_guard`] installed) an anonymous token, whose nonce cookie the
/// middleware then sets. See the [module's example](crate::axum::csrf).
pub struct CsrfToken {
    session: Option<Session>,
    anonymous: Option<Anonymous>,
}

impl std::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsrfToken").finish_non_exhaustive()
    }
}

impl CsrfToken {
    /// The token to put in the `csrf_token` field (see the
    /// [module's example](crate::axum::csrf)).
    pub async fn value(&self) -> Result<String, WebError> {
        match (&self.session, &self.anonymous) {
            (Some(s), Some(a)) if s.is_empty().await => match a.token() {
                Some(t) => Ok(t),
                None => csrf_token(s).await,
            },
            (Some(s), _) => csrf_token(s).await,
            (None, _) => Err(WebError::NoSessionLayer),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(CsrfToken {
            session: parts.extensions.get::<Session>().cloned(),
            anonymous: parts.extensions.get::<Anonymous>().cloned(),
        })
    }
}

fn refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        "this form has expired or was not sent from this site; reload the page and try again",
    )
        .into_response()
}

/// The CSRF middleware, for
/// `axum::middleware::from_fn_with_state(csrf, csrf_guard)` inside the
/// `SessionManagerLayer`. Requests other than GET, HEAD, OPTIONS and TRACE
/// must carry the token in an `X-CSRF-Token` header or, in an
/// `application/x-www-form-urlencoded` body, a `csrf_token` field; others
/// (JSON or multipart without the header, no body) are refused with 403.
/// The body (up to [`Csrf::max_body`], else 413) is read and passed on.
/// See the [module's example](crate::axum::csrf).
pub async fn csrf_guard(State(csrf): State<Csrf>, mut req: Request, next: Next) -> Response {
    let Some(session) = req.extensions().get::<Session>().cloned() else {
        return WebError::NoSessionLayer.into_response();
    };
    let anonymous = csrf.0.tokens.has_anonymous().then(|| {
        Anonymous::from_headers(
            &csrf.0.tokens,
            req.headers(),
            &cookie_name(NONCE_COOKIE, csrf.0.secure_cookie),
        )
    });
    if let Some(a) = &anonymous {
        req.extensions_mut().insert(a.clone());
    }
    let mut resp = if !neutral::needs_token(req.method().as_str()) {
        next.run(req).await
    } else {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, csrf.0.max_body).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
        };
        let header_token = parts.headers.get(HEADER).and_then(|v| v.to_str().ok());
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(neutral::is_form);
        let form_token = (header_token.is_none() && is_form)
            .then(|| neutral::token_in_form(&bytes))
            .flatten();
        let stored = match session.get::<String>(CSRF_KEY).await {
            Ok(t) => t,
            Err(e) => return WebError::from(e).into_response(),
        };
        let state = match &stored {
            Some(t) => SessionCsrf::Token(t),
            None => match has_login(&session).await {
                Ok(true) => SessionCsrf::LoginWithoutToken,
                Ok(false) => SessionCsrf::Anonymous,
                Err(e) => return e.into_response(),
            },
        };
        let presented = Presented {
            token: header_token.or(form_token.as_deref()),
            nonce_cookie: anonymous.as_ref().and_then(|a| a.cookie.as_deref()),
        };
        if !csrf.0.tokens.accepts(state, presented) {
            // The route's template, not the path: paths may carry tokens
            // (reset and confirmation links).
            let route = parts
                .extensions
                .get::<axum::extract::MatchedPath>()
                .map_or("(no route)", |m| m.as_str());
            tracing::warn!(route, "CSRF token missing or wrong");
            return refused();
        }
        next.run(Request::from_parts(parts, Body::from(bytes)))
            .await
    };
    // A handler changed a remember-me session: its own deadline, not the
    // layer's expiry, goes into the record and the cookie (`AuthSession`
    // leaves sessions it does not change unwritten).
    if session.is_modified()
        && let Err(e) = keep_deadline(&session).await
    {
        return e.into_response();
    }
    if let Some(v) = anonymous.and_then(|a| a.set_cookie(csrf.0.secure_cookie)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> CsrfTokens {
        CsrfTokens::new().anonymous(SecretKey::generate())
    }

    #[test]
    fn a_fresh_nonce_is_set_once_and_only_when_shown() {
        let t = tokens();
        let a = Anonymous::from_headers(&t, &HeaderMap::new(), NONCE_COOKIE);
        assert!(a.set_cookie(true).is_none(), "no page showed a token");
        let first = a.token().unwrap();
        assert_eq!(a.token().unwrap(), first, "one token per request");
        let c = a.set_cookie(true).unwrap();
        let c = c.to_str().unwrap();
        assert!(c.starts_with(&format!("__Host-{NONCE_COOKIE}=")), "{c}");
        for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
            assert!(c.contains(attr), "{c}");
        }
        assert!(!c.contains("Domain"), "{c}");
        // Plain http: browsers refuse the prefix there.
        let c = a.set_cookie(false).unwrap();
        let c = c.to_str().unwrap();
        assert!(c.starts_with(&format!("{NONCE_COOKIE}=")), "{c}");
        assert!(!c.contains("Secure"), "{c}");
        // The cookie it set makes the token acceptable.
        let nonce = c
            .trim_start_matches(&format!("{NONCE_COOKIE}="))
            .split(';')
            .next()
            .unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=1; {NONCE_COOKIE}={nonce}")).unwrap(),
        );
        let back = Anonymous::from_headers(&t, &h, NONCE_COOKIE);
        assert_eq!(back.cookie.as_deref(), Some(nonce));
        // Masked: another value than the first page's, and both work.
        let again = back.token().unwrap();
        assert_ne!(again, first);
        for token in [&first, &again] {
            let sent = Presented {
                token: Some(token),
                nonce_cookie: Some(nonce),
            };
            assert!(t.accepts(SessionCsrf::Anonymous, sent));
        }
        assert!(back.set_cookie(false).is_none(), "the cookie is kept");
    }

    #[test]
    fn settings_hide_the_key() {
        let key = SecretKey::from_bytes(b"super secret key material 123456".to_vec()).unwrap();
        let c = Csrf::new().anonymous_tokens(key);
        assert!(!format!("{c:?}").contains("super secret"));
    }
}
