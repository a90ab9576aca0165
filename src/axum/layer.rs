//! [`AuthLayer`]: sessions, the login fence, CSRF and the settings in one
//! layer, stacked in the one order that works.

use std::convert::Infallible;

use axum::Extension;
use axum::extract::Request;
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceBuilder};
use tower_sessions::SessionManagerLayer;
use tower_sessions::cookie::SameSite;

use super::csrf::{Csrf, csrf_guard};
use super::guard::{PendingGuard, pending_guard};
use super::session::AuthConfig;
use super::store::StateSessionStore;
use crate::authenticator::Authenticator;
use crate::error::{Error, Result};
use crate::web::csrf::CsrfTokens;
use crate::web::{SessionRecords, cookie_name};

/// The session cookie's name (`__Host-twofa_session` on https).
const SESSION_COOKIE: &str = "twofa_session";

/// Everything the extractors of this module need, as one tower layer:
/// the session layer (over the authenticator's own
/// [`StateStore`](crate::StateStore), keyed with its secret key), the
/// [`AuthConfig`], the [`PendingGuard`] and the [`csrf_guard`], outermost
/// first. Built by [`AuthLayer::builder`]; a misconfiguration is an error
/// of [`build`](AuthLayerBuilder::build), not a 500 at the first request.
///
/// The site's URL decides the cookies: over `https://` they are `Secure`
/// and named with the `__Host-` prefix ([`cookie_name`]); over `http://`
/// (local development) they are plain, so the site works on
/// `http://localhost` without a flag. Every cookie is `HttpOnly`,
/// `SameSite=Lax` and `Path=/`.
///
/// The secret key is the authenticator's: sessions, CSRF tokens and the
/// authenticator's own hashes each use a key derived from it.
///
/// ```
/// use axum::{Form, Router, response::Redirect, routing::{get, post}};
/// use twofa_verify::axum::{AuthConfig, AuthLayer, AuthSession, CsrfToken, PendingGuard, RequireUser, WebError};
/// use twofa_verify::{Authenticator, Login, MemoryStore, SecretKey};
///
/// #[derive(serde::Deserialize)]
/// struct LoginForm { username: String, password: String }
///
/// async fn login_form(token: CsrfToken) -> Result<String, WebError> {
///     let t = token.value().await?; // one hidden field in every form
///     Ok(format!(r#"<form method="post"><input type="hidden" name="csrf_token" value="{t}">…"#))
/// }
///
/// async fn login(mut s: AuthSession, Form(f): Form<LoginForm>) -> Result<Redirect, WebError> {
///     match s.auth().login(&f.username, &f.password.into()).await? {
///         Login::Complete(user) => s.login(&user, false).await?,
///         Login::SecondFactor(challenge) => {
///             s.begin_second_factor(&challenge, false).await?;
///             return Ok(Redirect::to("/code")); // then s.auth().verify(..) and s.complete(..)
///         }
///         _ => return Ok(Redirect::to("/login")), // `Login` is non-exhaustive
///     }
///     Ok(Redirect::to("/"))
/// }
///
/// async fn home(RequireUser(user): RequireUser) -> String {
///     format!("hello {}", user.username)
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = SecretKey::generate(); // SecretKey::from_env("TWOFA_SECRET_KEY")? in an app
/// let auth = Authenticator::builder().store(MemoryStore::new()).secret_key(key).build()?;
/// let app: Router = Router::new()
///     .route("/", get(home))
///     .route("/login", get(login_form).post(login))
///     .layer(
///         AuthLayer::builder(&auth, "http://localhost:8000")
///             .config(AuthConfig::new().login_url("/login"))
///             .pending_guard(PendingGuard::new("/code").allow("/logout"))
///             .build()?,
///     )
///     .with_state(auth);
/// # let _ = app; Ok(()) }
/// ```
///
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()` so
/// that per-client limits see the client's address.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    sessions: StateSessionStore,
    cookie: String,
    secure: bool,
    config: AuthConfig,
    pending: Option<PendingGuard>,
    csrf: Csrf,
}

/// Builds an [`AuthLayer`] (see its example); [`build`](Self::build) checks
/// the site's URL.
///
/// ```
/// use twofa_verify::axum::AuthLayer;
/// use twofa_verify::{Authenticator, MemoryStore, SecretKey};
/// # fn main() -> twofa_verify::Result<()> {
/// # let auth = Authenticator::builder()
/// #     .store(MemoryStore::new())
/// #     .secret_key(SecretKey::generate())
/// #     .build()?;
/// let layer = AuthLayer::builder(&auth, "https://shop.example.com")
///     .session_cookie("shop_session")
///     .max_body(64 * 1024) // forms with a larger text field
///     .build()?;
/// assert!(layer.is_secure());
/// assert_eq!(layer.session_cookie(), "__Host-shop_session");
///
/// let dev = AuthLayer::builder(&auth, "http://localhost:8000").build()?;
/// assert!(!dev.is_secure()); // plain http: cookies work without `Secure`
/// assert_eq!(dev.session_cookie(), "twofa_session");
/// assert!(AuthLayer::builder(&auth, "shop.example.com").build().is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "call build() to make the layer"]
pub struct AuthLayerBuilder {
    auth: Authenticator,
    site_url: String,
    config: AuthConfig,
    pending: Option<PendingGuard>,
    session_cookie: String,
    max_body: Option<usize>,
}

impl AuthLayer {
    /// A layer for `auth`'s web sessions on the site at `site_url` (its
    /// origin: `https://example.com`, or `http://localhost:8000` in
    /// development), which decides whether cookies are `Secure`. See the
    /// [`AuthLayerBuilder`] example.
    pub fn builder(auth: &Authenticator, site_url: impl Into<String>) -> AuthLayerBuilder {
        AuthLayerBuilder {
            auth: auth.clone(),
            site_url: site_url.into(),
            config: AuthConfig::default(),
            pending: None,
            session_cookie: SESSION_COOKIE.to_owned(),
            max_body: None,
        }
    }

    /// Whether the cookies are `Secure` (the site is served over https; see
    /// the [`AuthLayerBuilder`] example).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The session cookie's name, `__Host-` prefixed on https (see the
    /// [`AuthLayerBuilder`] example).
    pub fn session_cookie(&self) -> &str {
        &self.cookie
    }
}

impl AuthLayerBuilder {
    /// The settings of [`AuthSession`](super::AuthSession) and
    /// [`RequireUser`](super::RequireUser): login page, proxy, session
    /// lifetimes (default [`AuthConfig::new`]).
    pub fn config(mut self, config: AuthConfig) -> Self {
        self.config = config;
        self
    }

    /// Keeps half-logged-in sessions on the code page (see
    /// [`PendingGuard`]). Without one, pages check
    /// [`AuthSession::pending`](super::AuthSession::pending) themselves; a
    /// pending session is never logged in either way.
    pub fn pending_guard(mut self, guard: PendingGuard) -> Self {
        self.pending = Some(guard);
        self
    }

    /// The session cookie's name (default `twofa_session`, with the
    /// `__Host-` prefix on https). See the [`AuthLayerBuilder`] example.
    pub fn session_cookie(mut self, name: impl Into<String>) -> Self {
        self.session_cookie = name.into();
        self
    }

    /// The largest body a state-changing request may have (default 16 KiB,
    /// see [`Csrf::max_body`] and the [`AuthLayerBuilder`] example).
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = Some(bytes);
        self
    }

    /// The layer. Fails with [`Error::Config`] when the site's URL is not
    /// an `http://` or `https://` origin, or the cookie name is not a
    /// plain token. See the [`AuthLayerBuilder`] example.
    pub fn build(self) -> Result<AuthLayer> {
        let secure = site_is_https(&self.site_url)?;
        let name_ok = !self.session_cookie.is_empty()
            && self
                .session_cookie
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(Error::Config(
                "the session cookie's name must be letters, digits, '_' or '-'".into(),
            ));
        }
        let (state, keys, clock) = self.auth.web_parts();
        let sessions =
            StateSessionStore::from_records(SessionRecords::from_parts(state, keys.clone(), clock));
        let mut csrf = Csrf::new()
            .with_tokens(CsrfTokens::anonymous_with(keys))
            .secure_cookie(secure);
        if let Some(bytes) = self.max_body {
            csrf = csrf.max_body(bytes);
        }
        Ok(AuthLayer {
            sessions,
            cookie: cookie_name(&self.session_cookie, secure),
            secure,
            config: self.config,
            pending: self.pending,
            csrf,
        })
    }
}

/// Whether `url` is an https origin; an error unless http or https with a
/// host. A plain-http site on another host than this machine is logged:
/// its cookies travel in the clear.
fn site_is_https(url: &str) -> Result<bool> {
    let lower = url.trim().to_ascii_lowercase();
    let (secure, rest) = if let Some(rest) = lower.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(Error::Config(format!(
            "the site's URL must start with https:// or http://, not {url:?}"
        )));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(Error::Config(format!("the site's URL {url:?} has no host")));
    }
    let hostname = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let local =
        matches!(hostname, "localhost" | "127.0.0.1" | "[::1]") || hostname.ends_with(".localhost");
    if !secure && !local {
        tracing::warn!(
            site = url,
            "the site is served over plain http: its session cookies are not Secure"
        );
    }
    Ok(secure)
}

impl<S> Layer<S> for AuthLayer
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    type Service = BoxCloneSyncService<Request, Response, Infallible>;

    fn layer(&self, inner: S) -> Self::Service {
        let sessions = SessionManagerLayer::new(self.sessions.clone())
            .with_name(self.cookie.clone())
            .with_path("/")
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(self.secure);
        let service = ServiceBuilder::new()
            .layer(sessions)
            .layer(Extension(self.config.clone()))
            .option_layer(
                self.pending
                    .clone()
                    .map(|guard| from_fn_with_state(guard, pending_guard)),
            )
            .layer(from_fn_with_state(self.csrf.clone(), csrf_guard))
            .service(inner);
        BoxCloneSyncService::new(service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryStore, SecretKey};

    fn auth() -> Authenticator {
        Authenticator::builder()
            .store(MemoryStore::new())
            .secret_key(SecretKey::generate())
            .build()
            .unwrap()
    }

    #[test]
    fn the_site_url_decides_the_cookies() {
        let a = auth();
        let https = AuthLayer::builder(&a, "https://example.com")
            .build()
            .unwrap();
        assert!(https.is_secure());
        assert_eq!(https.session_cookie(), "__Host-twofa_session");
        let http = AuthLayer::builder(&a, "http://localhost:8000/")
            .session_cookie("sid")
            .build()
            .unwrap();
        assert!(!http.is_secure());
        assert_eq!(http.session_cookie(), "sid");
        assert!(
            AuthLayer::builder(&a, "HTTPS://Example.com:8443/app")
                .build()
                .unwrap()
                .is_secure()
        );
        for bad in [
            "example.com",
            "ftp://example.com",
            "https://",
            "http:///x",
            "",
        ] {
            assert!(
                matches!(AuthLayer::builder(&a, bad).build(), Err(Error::Config(_))),
                "{bad:?}"
            );
        }
        for bad in ["", "a b", "id;x", "__Host-x=1"] {
            assert!(
                AuthLayer::builder(&a, "https://example.com")
                    .session_cookie(bad)
                    .build()
                    .is_err(),
                "{bad:?}"
            );
        }
    }
}
