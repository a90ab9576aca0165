//! [`AuthLayer`]: sessions, the login fence, CSRF and the settings in one
//! layer, stacked in the one order that works.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Extension;
use axum::extract::Request;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use tower::util::{BoxCloneSyncService, BoxCloneSyncServiceLayer, MapResponseLayer};
use tower::{Layer, Service, ServiceBuilder};
use tower_sessions::cookie::SameSite;
use tower_sessions::{SessionManagerLayer, SessionStore};

use super::cookies::{SharedStore, harden_removals};
use super::csrf::{Csrf, csrf_guard};
use super::guard::{PendingGuard, pending_guard};
use super::session::AuthConfig;
use super::store::StateSessionStore;
use crate::authenticator::Authenticator;
use crate::error::{Error, Result};
use crate::web::csrf::{CsrfTokens, NONCE_COOKIE};
use crate::web::{LocalPath, SessionRecords, cookie_name};

/// The service the guards make of the routes, as [`AuthLayerBuilder::around_guards`]
/// gets it.
pub type GuardedService = BoxCloneSyncService<Request, Response, Infallible>;

/// A layer of the app's between the session layer and the guards.
type AroundGuards = BoxCloneSyncServiceLayer<GuardedService, Request, Response, Infallible>;

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
/// authenticator's own hashes each use a key derived from it. Sessions
/// live in the authenticator's store unless
/// [`session_store`](AuthLayerBuilder::session_store) names another; the
/// app's error pages for the guards' refusals go in
/// [`around_guards`](AuthLayerBuilder::around_guards). Headers the app sets
/// on every answer (Content-Security-Policy and the like) go in a layer
/// outside this one, so that its refusals carry them too.
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
    sessions: SharedStore,
    cookie: String,
    secure: bool,
    config: AuthConfig,
    pending: Option<PendingGuard>,
    csrf: Csrf,
    around_guards: Option<AroundGuards>,
}

/// Builds an [`AuthLayer`] (see its example); [`build`](Self::build) checks
/// the settings.
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
    secure: Option<bool>,
    store: Option<SharedStore>,
    around_guards: Option<AroundGuards>,
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
            secure: None,
            store: None,
            around_guards: None,
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

    /// Whether the cookies are `Secure` (and `__Host-` named), when the
    /// site's URL does not say it: a site whose configured URL is
    /// `http://` but that browsers reach over https through a proxy. An
    /// https site without `Secure` cookies is logged at level warn: its
    /// session cookie would also travel over plain http.
    ///
    /// ```
    /// use twofa_verify::axum::AuthLayer;
    /// use twofa_verify::{Authenticator, MemoryStore, SecretKey};
    /// # fn main() -> twofa_verify::Result<()> {
    /// # let auth = Authenticator::builder()
    /// #     .store(MemoryStore::new())
    /// #     .secret_key(SecretKey::generate())
    /// #     .build()?;
    /// // Configured as http://app:8000, served as https by the proxy.
    /// let layer = AuthLayer::builder(&auth, "http://app:8000").secure_cookies(true).build()?;
    /// assert!(layer.is_secure());
    /// assert_eq!(layer.session_cookie(), "__Host-twofa_session");
    /// # Ok(())
    /// # }
    /// ```
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.secure = Some(secure);
        self
    }

    /// Keeps the sessions in `store` instead of the authenticator's own
    /// [`StateStore`](crate::StateStore) (through [`StateSessionStore`]),
    /// e.g. a store that wraps it to count or trace what it holds.
    ///
    /// A logout stays final against a request of the same session still
    /// in flight only if `store` keeps [`StateSessionStore`]'s promises:
    /// `create` gives every session a fresh id (never the record's, which
    /// after a logout is the deleted session's) and `save` writes only a
    /// session that still exists. A store that wraps a
    /// [`StateSessionStore`] and passes every call on keeps them.
    pub fn session_store(mut self, store: impl SessionStore) -> Self {
        self.store = Some(SharedStore(Arc::new(store)));
        self
    }

    /// Puts the app's `layer` between the session layer and the guards
    /// (the [`PendingGuard`] and the CSRF check): it sees the request's
    /// session (so [`AuthSession`](super::AuthSession) extracts there) and
    /// every answer of the guards, e.g. to show their refusals (a 403 of
    /// the CSRF check, a 413 of a body over [`max_body`](Self::max_body))
    /// as the site's own error pages. Its answers are turned into
    /// responses with `IntoResponse`.
    ///
    /// ```
    /// # use axum::{middleware::{self, Next}, extract::Request, response::Response};
    /// # use twofa_verify::{Authenticator, MemoryStore, SecretKey};
    /// use twofa_verify::axum::{AuthLayer, AuthSession};
    ///
    /// async fn error_pages(session: AuthSession, req: Request, next: Next) -> Response {
    ///     let resp = next.run(req).await;
    ///     // A bare 403 of the CSRF check: render it in the site's layout,
    ///     // with the visitor's name from `session`.
    ///     resp
    /// }
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let auth = Authenticator::builder().store(MemoryStore::new()).secret_key(SecretKey::generate()).build()?;
    /// let layer = AuthLayer::builder(&auth, "https://example.com")
    ///     .around_guards(middleware::from_fn_with_state(auth.clone(), error_pages))
    ///     .build()?;
    /// # let _ = layer; Ok(()) }
    /// ```
    pub fn around_guards<L>(mut self, layer: L) -> Self
    where
        L: Layer<GuardedService> + Send + Sync + 'static,
        L::Service: Service<Request, Error = Infallible> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        let to_response = MapResponseLayer::new(IntoResponse::into_response);
        self.around_guards = Some(BoxCloneSyncServiceLayer::new(
            ServiceBuilder::new().layer(to_response).layer(layer),
        ));
        self
    }

    /// The layer. Fails with [`Error::Config`] when the site's URL is not
    /// an `http://` or `https://` origin, the cookie name is not a plain
    /// token (or carries a `__Host-` or `__Secure-` prefix of its own, or
    /// is the CSRF nonce cookie's), the pending guard's code page is not a
    /// path of the site, or the login URL cannot be a `Location` header.
    /// See the [`AuthLayerBuilder`] example.
    pub fn build(self) -> Result<AuthLayer> {
        let secure = match (site_is_https(&self.site_url)?, self.secure) {
            (https, None) => https,
            (https, Some(secure)) => {
                if https && !secure {
                    tracing::warn!(
                        site = self.site_url,
                        "an https site without Secure cookies: its session cookie also travels over plain http"
                    );
                }
                secure
            }
        };
        check_cookie_name(&self.session_cookie)?;
        if let Some(guard) = &self.pending {
            let page = guard.code_page();
            if LocalPath::parse(page).is_none() {
                return Err(Error::Config(format!(
                    "the pending guard's code page must be a path of the site, not {page:?}"
                )));
            }
            if let Some(page) = guard.enrollment_page()
                && LocalPath::parse(page).is_none()
            {
                return Err(Error::Config(format!(
                    "the pending guard's enrollment page must be a path of the site, not {page:?}"
                )));
            }
        }
        if let Some(url) = &self.config.login_url
            && axum::http::HeaderValue::from_str(url).is_err()
        {
            return Err(Error::Config(format!(
                "the login URL {url:?} cannot be a Location header"
            )));
        }
        let (state, keys, clock) = self.auth.web_parts();
        let sessions = match self.store {
            Some(store) => store,
            None => SharedStore(Arc::new(StateSessionStore::from_records(
                SessionRecords::from_parts(state, keys.clone(), clock),
            ))),
        };
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
            around_guards: self.around_guards,
        })
    }
}

/// A session cookie's name: a plain token, without a prefix of its own
/// (the layer adds `__Host-` on https; on http browsers refuse a prefixed
/// cookie), and not the CSRF nonce cookie's name, which it would replace.
fn check_cookie_name(name: &str) -> Result<()> {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !token {
        return Err(Error::Config(
            "the session cookie's name must be letters, digits, '_' or '-'".into(),
        ));
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("__host-") || lower.starts_with("__secure-") {
        return Err(Error::Config(format!(
            "the session cookie's name {name:?} must not carry a prefix: the layer adds __Host- on https"
        )));
    }
    if name == NONCE_COOKIE {
        return Err(Error::Config(format!(
            "the session cookie's name {name:?} is the CSRF nonce cookie's"
        )));
    }
    Ok(())
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
        let guarded: GuardedService = BoxCloneSyncService::new(
            ServiceBuilder::new()
                .option_layer(
                    self.pending
                        .clone()
                        .map(|guard| from_fn_with_state(guard, pending_guard)),
                )
                .layer(from_fn_with_state(self.csrf.clone(), csrf_guard))
                .service(inner),
        );
        let guarded = match &self.around_guards {
            Some(layer) => layer.layer(guarded),
            None => guarded,
        };
        let sessions = SessionManagerLayer::new(self.sessions.clone())
            .with_name(self.cookie.clone())
            .with_path("/")
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(self.secure);
        let (cookie, secure) = (self.cookie.clone(), self.secure);
        let service = ServiceBuilder::new()
            .map_response(move |resp| harden_removals(resp, &cookie, secure))
            .layer(sessions)
            .layer(Extension(self.config.clone()))
            .service(guarded);
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
        for bad in [
            "",
            "a b",
            "id;x",
            "__Host-x=1",
            "__Host-x",
            "__SECURE-x",
            NONCE_COOKIE,
        ] {
            assert!(
                AuthLayer::builder(&a, "https://example.com")
                    .session_cookie(bad)
                    .build()
                    .is_err(),
                "{bad:?}"
            );
        }
        for page in [
            "code",
            "//evil.example/code",
            "https://evil.example/",
            "/a b",
        ] {
            let built = AuthLayer::builder(&a, "https://example.com")
                .pending_guard(PendingGuard::new(page))
                .build();
            assert!(matches!(built, Err(Error::Config(_))), "{page:?}");
        }
        let built = AuthLayer::builder(&a, "https://example.com")
            .config(AuthConfig::new().login_url("/login\r\nSet-Cookie: x=1"))
            .build();
        assert!(matches!(built, Err(Error::Config(_))));
        // The site's URL decides unless told otherwise.
        let proxied = AuthLayer::builder(&a, "http://example.com")
            .secure_cookies(true)
            .build()
            .unwrap();
        assert!(proxied.is_secure());
        assert_eq!(proxied.session_cookie(), "__Host-twofa_session");
    }
}
