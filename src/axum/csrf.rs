//! CSRF tokens for form apps.
//!
//! A session gets a synchronizer token ([`csrf_token`]): 256 random bits
//! kept in the session, renewed at every login. Forms carry it in a
//! `csrf_token` field (or scripts in an `X-CSRF-Token` header), and the
//! [`csrf_guard`] middleware refuses (403) every state-changing request
//! whose token does not match, compared in constant time.
//!
//! Visitors without a session (the login and registration forms) would need
//! a session just for the token. With [`Csrf::anonymous_tokens`] they get a
//! signed double submit instead: a random nonce in a cookie of its own
//! (`HttpOnly`, `SameSite=Lax`), and forms carry `HMAC(key, nonce)`; a POST
//! is accepted when its token matches the nonce of the cookie it came
//! with. Nothing is kept on the server until the visitor logs in. A
//! session that is logged in or half logged in always needs its own token.
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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;
use tower_sessions::cookie::{Cookie, SameSite};

use super::cookie::cookie_name;
use super::response::WebError;
use super::session::{CSRF_KEY, PENDING_KEY, USER_KEY, keep_deadline};
use crate::crypto::{Keys, ct_eq, random_bytes, random_token};
use crate::key::SecretKey;

/// The form field that carries the token.
pub const FIELD: &str = "csrf_token";
/// The header that carries the token (scripts).
pub const HEADER: &str = "x-csrf-token";
/// The cookie of an anonymous visitor's nonce (`__Host-twofa_csrf` when
/// the cookie is `Secure`, see [`cookie_name`]).
pub const NONCE_COOKIE: &str = "twofa_csrf";

const NONCE_BYTES: usize = 32;
const B64: data_encoding::Encoding = data_encoding::BASE64URL_NOPAD;
/// Domain separation of the anonymous-token MAC under the secret key.
const ANON_PURPOSE: &[u8] = b"csrf-anonymous-v1";

/// The session's CSRF token, made (and stored in the session) on first use.
/// Put it in every form as the `csrf_token` field.
pub async fn csrf_token(session: &Session) -> Result<String, WebError> {
    if let Some(t) = session.get::<String>(CSRF_KEY).await? {
        return Ok(t);
    }
    let t = random_token::<32>();
    session.insert(CSRF_KEY, &t).await?;
    keep_deadline(session).await?;
    Ok(t)
}

/// Whether `sent` is the session's CSRF token (constant-time comparison).
/// False when the session has none.
pub async fn verify(session: &Session, sent: &str) -> Result<bool, WebError> {
    Ok(session
        .get::<String>(CSRF_KEY)
        .await?
        .is_some_and(|t| ct_eq(t.as_bytes(), sent.as_bytes())))
}

/// The settings of [`csrf_guard`] (its state).
#[derive(Debug, Clone)]
pub struct Csrf(Arc<Settings>);

#[derive(Debug, Clone)]
struct Settings {
    anonymous: Option<Keys>,
    secure_cookie: bool,
    max_body: usize,
}

impl Default for Csrf {
    fn default() -> Self {
        Csrf(Arc::new(Settings {
            anonymous: None,
            secure_cookie: true,
            max_body: 16 * 1024,
        }))
    }
}

impl Csrf {
    /// Session-bound tokens only; bodies up to 16 KiB; `Secure` cookies.
    pub fn new() -> Self {
        Self::default()
    }

    /// Visitors without a session get signed double-submit tokens, signed
    /// with `secret_key` (the same on every instance; the authenticator's
    /// is the one to give, the MAC is domain-separated).
    pub fn anonymous_tokens(mut self, secret_key: SecretKey) -> Self {
        Arc::make_mut(&mut self.0).anonymous = Some(Keys::from(&secret_key));
        self
    }

    /// Whether the nonce cookie is `Secure` (default true; false only for
    /// plain-HTTP development sites, like the session cookie). A `Secure`
    /// cookie is named with the `__Host-` prefix.
    pub fn secure_cookie(mut self, secure: bool) -> Self {
        Arc::make_mut(&mut self.0).secure_cookie = secure;
        self
    }

    /// The largest request body read (default 16 KiB); larger ones get 413.
    pub fn max_body(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.0).max_body = bytes;
        self
    }
}

/// An anonymous visitor's nonce for this request (a request extension set
/// by [`csrf_guard`]).
#[derive(Clone)]
struct Anonymous {
    keys: Keys,
    nonce: [u8; NONCE_BYTES],
    /// No cookie came with the request: the nonce is new.
    fresh: bool,
    /// A page showed the token, so the new nonce must be sent as a cookie.
    used: Arc<AtomicBool>,
}

impl Anonymous {
    fn from_headers(keys: &Keys, headers: &HeaderMap, name: &str) -> Self {
        let nonce = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .filter(|c| c.name() == name)
            .find_map(|c| {
                let bytes = B64.decode(c.value().as_bytes()).ok()?;
                <[u8; NONCE_BYTES]>::try_from(bytes.as_slice()).ok()
            });
        Anonymous {
            keys: keys.clone(),
            fresh: nonce.is_none(),
            nonce: nonce.unwrap_or_else(random_bytes::<NONCE_BYTES>),
            used: Arc::default(),
        }
    }

    fn token(&self) -> String {
        self.used.store(true, Ordering::Relaxed);
        B64.encode(&self.keys.mac(ANON_PURPOSE, &self.nonce))
    }

    /// Whether `sent` is the token of the request's nonce cookie. Without a
    /// cookie nothing matches.
    fn accepts(&self, sent: Option<&str>) -> bool {
        match sent {
            Some(s) if !self.fresh => ct_eq(
                s.as_bytes(),
                B64.encode(&self.keys.mac(ANON_PURPOSE, &self.nonce))
                    .as_bytes(),
            ),
            _ => false,
        }
    }

    fn cookie(&self, secure: bool) -> Option<HeaderValue> {
        let cookie = Cookie::build((cookie_name(NONCE_COOKIE, secure), B64.encode(&self.nonce)))
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
/// middleware then sets.
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
    /// The token to put in the `csrf_token` field.
    pub async fn value(&self) -> Result<String, WebError> {
        match (&self.session, &self.anonymous) {
            (Some(s), Some(a)) => {
                if s.is_empty().await {
                    Ok(a.token())
                } else {
                    csrf_token(s).await
                }
            }
            (Some(s), None) => csrf_token(s).await,
            (None, Some(a)) => Ok(a.token()),
            (None, None) => Err(WebError::NoSessionLayer),
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

fn is_safe(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.type_() == mime::APPLICATION && m.subtype() == mime::WWW_FORM_URLENCODED)
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
pub async fn csrf_guard(State(csrf): State<Csrf>, mut req: Request, next: Next) -> Response {
    let Some(session) = req.extensions().get::<Session>().cloned() else {
        return WebError::NoSessionLayer.into_response();
    };
    let anonymous = csrf.0.anonymous.as_ref().map(|k| {
        Anonymous::from_headers(
            k,
            req.headers(),
            &cookie_name(NONCE_COOKIE, csrf.0.secure_cookie),
        )
    });
    if let Some(a) = &anonymous {
        req.extensions_mut().insert(a.clone());
    }
    let mut resp = if is_safe(req.method()) {
        next.run(req).await
    } else {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, csrf.0.max_body).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
        };
        let sent = parts
            .headers
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                is_form(&parts.headers)
                    .then(|| {
                        form_urlencoded::parse(&bytes)
                            .find(|(k, _)| k == FIELD)
                            .map(|(_, v)| v.into_owned())
                    })
                    .flatten()
            });
        let ok = match session.get::<String>(CSRF_KEY).await {
            Ok(Some(expected)) => sent.is_some_and(|s| ct_eq(s.as_bytes(), expected.as_bytes())),
            Ok(None) => match has_login(&session).await {
                Ok(true) => false,
                Ok(false) => anonymous
                    .as_ref()
                    .is_some_and(|a| a.accepts(sent.as_deref())),
                Err(e) => return e.into_response(),
            },
            Err(e) => return WebError::from(e).into_response(),
        };
        if !ok {
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
    if let Some(v) = anonymous
        .filter(|a| a.fresh && a.used.load(Ordering::Relaxed))
        .and_then(|a| a.cookie(csrf.0.secure_cookie))
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use secrecy::SecretSlice;

    use super::*;

    fn keys(b: u8) -> Keys {
        Keys::new(SecretSlice::from(vec![b, 1, 2, 3]))
    }

    fn with_cookie(keys: &Keys, cookie: Option<&str>) -> Anonymous {
        let mut h = HeaderMap::new();
        if let Some(c) = cookie {
            h.insert(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        Anonymous::from_headers(keys, &h, NONCE_COOKIE)
    }

    #[test]
    fn tokens_match_their_nonce_and_key_only() {
        let k = keys(7);
        let n1 = B64.encode(&[1; NONCE_BYTES]);
        let n2 = B64.encode(&[2; NONCE_BYTES]);
        let a = with_cookie(&k, Some(&format!("x=1; {NONCE_COOKIE}={n1}")));
        let b = with_cookie(&k, Some(&format!("{NONCE_COOKIE}={n2}")));
        let t = a.token();
        assert!(a.accepts(Some(&t)));
        assert!(!a.accepts(None));
        assert!(!a.accepts(Some("")));
        assert!(!b.accepts(Some(&t)), "another nonce");
        let other_key = with_cookie(&keys(8), Some(&format!("{NONCE_COOKIE}={n1}")));
        assert!(!other_key.accepts(Some(&t)), "another key");
        // The nonce itself is not the token.
        assert!(!a.accepts(Some(&n1)));
    }

    #[test]
    fn malformed_or_missing_cookies_give_a_fresh_nonce() {
        let k = keys(7);
        for c in [
            None,
            Some(format!("{NONCE_COOKIE}=")),
            Some(format!("{NONCE_COOKIE}=short")),
            Some(format!("{NONCE_COOKIE}={}", B64.encode(&[1; 31]))),
            Some("other=1".to_owned()),
        ] {
            let a = with_cookie(&k, c.as_deref());
            assert!(a.fresh, "{c:?}");
            // Even its own token is refused: no cookie carried it.
            assert!(!a.accepts(Some(&a.token())), "{c:?}");
        }
    }

    #[test]
    fn cookie_attributes_and_form_detection() {
        let a = with_cookie(&keys(7), None);
        let c = a.cookie(true).unwrap();
        let c = c.to_str().unwrap();
        assert!(c.starts_with(&format!("__Host-{NONCE_COOKIE}=")), "{c}");
        for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
            assert!(c.contains(attr), "{c}");
        }
        assert!(!c.contains("Domain"), "{c}");
        // Plain http: browsers refuse the prefix there.
        let c = a.cookie(false).unwrap();
        let c = c.to_str().unwrap();
        assert!(c.starts_with(&format!("{NONCE_COOKIE}=")), "{c}");
        assert!(!c.contains("Secure"), "{c}");
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"),
        );
        assert!(is_form(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(!is_form(&h));
        assert!(!is_form(&HeaderMap::new()));
    }

    #[test]
    fn settings_hide_the_key() {
        let key = SecretKey::from_bytes(b"super secret key material 123456".to_vec()).unwrap();
        let c = Csrf::new().anonymous_tokens(key);
        assert!(!format!("{c:?}").contains("super secret"));
    }
}
