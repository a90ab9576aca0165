//! The logged-in user of a request, kept in a tower-sessions `Session`.

use std::fmt;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use tower_sessions::{Expiry, Session};

use super::client::request_context;
use super::response::WebError;
use super::store::to_offset;
use crate::authenticator::{Authenticator, Challenge, SessionStamp, SmsDelivery, Verification};
use crate::clock::Timestamp;
use crate::event::Factor;
use crate::user::{User, UserId};
use crate::web::csrf::session_token;

/// Session key of the logged-in user.
pub(super) const USER_KEY: &str = "twofa.user";
/// Session key of the pending login.
pub(super) const PENDING_KEY: &str = "twofa.pending";
mod enrollment;
pub(super) use enrollment::ENROLL_KEY;

/// Session key of the CSRF token (see `csrf.rs`), dropped at every login.
pub(super) const CSRF_KEY: &str = "twofa.csrf";

/// Settings of [`AuthSession`] and [`RequireUser`](super::RequireUser), as
/// a request extension; without one the defaults apply.
///
/// ```
/// use std::time::Duration;
/// use axum::Extension;
/// use twofa_verify::axum::AuthConfig;
/// let config = AuthConfig::new()
///     .login_url("/login")
///     .trust_proxy(true) // behind the app's own reverse proxy
///     .inactivity(Duration::from_secs(2 * 3600))
///     .absolute_lifetime(Duration::from_secs(7 * 24 * 3600));
/// let layer = Extension(config); // router.layer(layer)
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub(super) login_url: Option<String>,
    pub(super) trust_proxy: bool,
    pub(super) inactivity: Duration,
    pub(super) lifetime: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            login_url: None,
            trust_proxy: false,
            inactivity: Duration::from_secs(8 * 3600),
            lifetime: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

impl AuthConfig {
    /// The defaults: [`RequireUser`](super::RequireUser) answers 401, the
    /// client's IP is the socket's, browser sessions end after 8 hours
    /// without a request, and every session 30 days after its login.
    pub fn new() -> Self {
        Self::default()
    }

    /// For HTML apps: [`RequireUser`](super::RequireUser) redirects (303)
    /// to `url` with `next=` the requested path and query, instead of
    /// answering 401. The login handler must check that `next` is a path
    /// of the site before redirecting to it.
    pub fn login_url(mut self, url: impl Into<String>) -> Self {
        self.login_url = Some(url.into());
        self
    }

    /// Takes the client's IP from the right-most `X-Forwarded-For` address
    /// (see [`request_context`](super::request_context)). Only behind a
    /// reverse proxy that appends that header. See the [`AuthConfig`]
    /// example.
    pub fn trust_proxy(mut self, trust: bool) -> Self {
        self.trust_proxy = trust;
        self
    }

    /// How long a browser session (a login without "remember me") lasts
    /// without a request (default 8 hours). Remember-me sessions last
    /// [`Policy::remember_me_for`](crate::Policy::remember_me_for) from the
    /// login instead. See the [`AuthConfig`] example.
    pub fn inactivity(mut self, idle: Duration) -> Self {
        self.inactivity = idle;
        self
    }

    /// The absolute lifetime of a login (default 30 days): however active,
    /// a session ends this long after the password (and second factor)
    /// were last checked, and the user logs in again. A remember-me session
    /// ends at the earlier of this and
    /// [`Policy::remember_me_for`](crate::Policy::remember_me_for). See the
    /// [`AuthConfig`] example.
    pub fn absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }
}

/// What the session holds for a logged-in user.
#[derive(Serialize, Deserialize)]
struct SignedIn {
    id: UserId,
    stamp: SessionStamp,
    /// When the user logged in: the session ends at this plus
    /// [`AuthConfig::absolute_lifetime`], however active. Sessions stored
    /// before this field existed fail to decode and are logged out.
    since: Timestamp,
    /// The end of a remember-me session; `None` for a browser session.
    until: Option<Timestamp>,
    /// Last request (browser sessions), written at most once a minute.
    seen: Timestamp,
}

/// A login waiting for its second factor, as kept in the session by
/// [`AuthSession::begin_second_factor`]. `Debug` hides the token. See the
/// [module example](crate::axum)'s code page.
#[derive(Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingLogin {
    token: String,
    /// Whether the user asked to be remembered on the password form.
    pub remember_me: bool,
    /// When the pending login expires.
    pub expires_at: Timestamp,
    /// The factors the user may answer with.
    pub methods: Vec<Factor>,
    /// The masked phone number the SMS code went (or may go) to.
    pub sms_to: Option<String>,
}

impl PendingLogin {
    /// The challenge token, for [`Authenticator::verify`] and
    /// [`Authenticator::resend`].
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("token", &"[redacted]")
            .field("remember_me", &self.remember_me)
            .field("expires_at", &self.expires_at)
            .field("methods", &self.methods)
            .field("sms_to", &self.sms_to)
            .finish()
    }
}

/// The authentication state of a request: the logged-in user (checked
/// against the account's current credentials), a pending login, and the
/// [`Authenticator`] for this client.
///
/// An extractor: it needs the tower-sessions `SessionManagerLayer` and an
/// `Authenticator` in the router state (`Authenticator: FromRef<S>`).
/// Extraction reads the user id and [`SessionStamp`] from the session and
/// checks them with [`Authenticator::session_user`]: a session whose stamp
/// no longer matches (the password, email, a factor changed, or "sign out
/// everywhere", in any session on any instance), whose user is gone, or a
/// browser session idle for longer than [`AuthConfig::inactivity`], is
/// flushed, so the request is anonymous. A pending login past its expiry
/// is dropped. The result is cached in the request, so extracting it again
/// (or [`RequireUser`](super::RequireUser)) costs no second lookup.
///
/// Every method that changes who is logged in also gives the session a new
/// id (against session fixation) and a new CSRF token.
///
/// A request writes the session back only when it changed it: reading
/// it, or a session that is merely in use, costs no store write (a
/// browser session records its last request at most once a minute). And
/// a write never revives a session that a logout deleted meanwhile (see
/// [`StateSessionStore`](super::StateSessionStore)).
///
/// tower-sessions gives every loaded session the expiry of its layer, and
/// writes it into the cookie when the session changes. When a request
/// changes a remember-me session, [`csrf_guard`](super::csrf_guard) (after
/// the handler) and [`csrf_token`](super::csrf_token) set the login's own
/// deadline again; an app without `csrf_guard` that changes the session's
/// data calls [`keep_remember_me`](Self::keep_remember_me) afterwards, or
/// the remember-me cookie becomes a browser one.
///
/// The login and code pages are in the [module example](crate::axum);
/// pages of a logged-in user:
///
/// ```
/// use axum::{Form, response::Redirect};
/// use twofa_verify::StepUp;
/// use twofa_verify::axum::{AuthSession, WebError};
/// use twofa_verify::secrecy::SecretString;
///
/// async fn profile(s: AuthSession) -> Result<String, WebError> {
///     let Some(user) = s.user() else { return Ok("please log in".into()) };
///     // The app's own data rides in the same session.
///     let visits: u32 = s.session().get("visits").await?.unwrap_or(0);
///     s.session().insert("visits", visits + 1).await?;
///     s.keep_remember_me().await?; // only needed without `csrf_guard`
///     Ok(format!("{}, visit {}", user.username, visits + 1))
/// }
///
/// #[derive(serde::Deserialize)]
/// struct PasswordForm {
///     current: SecretString,
///     new: SecretString,
///     code: Option<SecretString>, // with a second factor on
/// }
///
/// async fn change_password(
///     mut s: AuthSession,
///     Form(f): Form<PasswordForm>,
/// ) -> Result<Redirect, WebError> {
///     let Some(id) = s.user().map(|u| u.id) else { return Ok(Redirect::to("/login")) };
///     let user = s.auth().change_password(id, &StepUp::new(f.current, f.code), &f.new).await?;
///     s.refresh(&user).await?; // every other session ends; this one goes on
///     Ok(Redirect::to("/profile"))
/// }
///
/// async fn logout(mut s: AuthSession) -> Result<Redirect, WebError> {
///     if s.pending().is_some() || s.user().is_some() {
///         s.logout().await?;
///     }
///     Ok(Redirect::to("/"))
/// }
/// ```
#[derive(Clone)]
pub struct AuthSession {
    session: Session,
    auth: Authenticator,
    pub(super) config: AuthConfig,
    user: Option<User>,
    pending: Option<PendingLogin>,
    /// A login that ended at enrollment (see `enrollment.rs`).
    enrolling: Option<User>,
}

impl fmt::Debug for AuthSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSession")
            .field("user", &self.user)
            .field("pending", &self.pending)
            .field("enrolling", &self.enrolling.as_ref().map(|u| u.id))
            .field("context", self.auth.context())
            .finish_non_exhaustive()
    }
}

impl<S> FromRequestParts<S> for AuthSession
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
        if let Some(cached) = parts.extensions.get::<AuthSession>() {
            return Ok(cached.clone());
        }
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or(WebError::NoSessionLayer)?;
        let config = parts
            .extensions
            .get::<AuthConfig>()
            .cloned()
            .unwrap_or_default();
        let auth =
            Authenticator::from_ref(state).with_context(request_context(parts, config.trust_proxy));
        let mut this = AuthSession {
            session,
            auth,
            config,
            user: None,
            pending: None,
            enrolling: None,
        };
        this.load().await?;
        parts.extensions.insert(this.clone());
        Ok(this)
    }
}

/// A value of ours that no longer decodes counts as absent (and is removed),
/// so a change of format logs people out instead of failing every request.
async fn read<T: for<'de> Deserialize<'de>>(
    session: &Session,
    key: &str,
) -> Result<Option<T>, WebError> {
    let Some(value) = session.get_value(key).await? else {
        return Ok(None);
    };
    match serde_json::from_value(value) {
        Ok(v) => Ok(Some(v)),
        Err(_) => {
            session.remove_value(key).await?;
            Ok(None)
        }
    }
}

/// Sets the session's expiry again to the deadline of a remember-me login,
/// if it is one: tower-sessions gives a loaded session the layer's expiry,
/// which a change of the session would otherwise write into the record and
/// the cookie. Marks the session changed, so only for a session that is.
pub(super) async fn keep_deadline(session: &Session) -> Result<(), WebError> {
    if let Some(until) = read::<SignedIn>(session, USER_KEY)
        .await?
        .and_then(|s| s.until)
    {
        session.set_expiry(Some(Expiry::AtDateTime(to_offset(until))));
    }
    Ok(())
}

impl AuthSession {
    async fn load(&mut self) -> Result<(), WebError> {
        let now = self.auth.now();
        if let Some(mut signed) = read::<SignedIn>(&self.session, USER_KEY).await? {
            let idle = now.as_millis().saturating_sub(signed.seen.as_millis());
            let idle = Duration::from_millis(u64::try_from(idle).unwrap_or(0));
            let over = signed.since.plus(self.config.lifetime) <= now
                || match signed.until {
                    Some(until) => until <= now,
                    None => idle > self.config.inactivity,
                };
            let user = if over {
                None
            } else {
                self.auth
                    .session_user(signed.id, signed.stamp.as_str())
                    .await?
            };
            let Some(user) = user else {
                self.session.flush().await?;
                return Ok(());
            };
            // A remember-me session has a fixed deadline: nothing to
            // write. A browser session records its last request, but
            // writing on every request would cost a store write each (and
            // race other requests' changes): once a minute (or a quarter
            // of a short inactivity) is enough.
            if signed.until.is_none() {
                let touch_every = (self.config.inactivity / 4).min(Duration::from_secs(60));
                if idle >= touch_every {
                    signed.seen = now;
                    self.session.insert(USER_KEY, &signed).await?;
                }
            }
            self.user = Some(user);
        }
        if let Some(p) = read::<PendingLogin>(&self.session, PENDING_KEY).await? {
            if p.expires_at > now {
                self.pending = Some(p);
            } else {
                self.session.remove_value(PENDING_KEY).await?;
            }
        }
        self.load_enrolling(now).await
    }

    /// The logged-in user, if any (see the [`AuthSession`] example).
    pub fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }

    /// The pending login (password right, second factor due), if any; see
    /// the [module example](crate::axum)'s code page.
    pub fn pending(&self) -> Option<PendingLogin> {
        self.pending.clone()
    }

    /// The authenticator, with the [`RequestContext`](crate::RequestContext)
    /// of this request (IP and user agent): per-client limits apply and
    /// events name the client.
    pub fn auth(&self) -> &Authenticator {
        &self.auth
    }

    /// The underlying tower-sessions session, for the app's own data (see
    /// the [`AuthSession`] example).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Starts a new session id for a change of who is logged in: the
    /// previous user's data goes when another user (or nobody) follows,
    /// and the CSRF token is renewed either way. The new token is made now,
    /// in the request that writes the session anyway, rather than by the
    /// first page that shows a form: two pages loading at once would each
    /// make one, and the later write would void the other page's forms.
    async fn rotate(&self, next_user: Option<UserId>) -> Result<(), WebError> {
        let previous = self.user.as_ref().map(|u| u.id);
        if previous.is_some() && previous != next_user {
            self.session.clear().await;
        }
        self.session.cycle_id().await?;
        self.session.insert(CSRF_KEY, session_token()).await?;
        Ok(())
    }

    async fn store_user(
        &mut self,
        user: &User,
        since: Timestamp,
        until: Option<Timestamp>,
    ) -> Result<(), WebError> {
        let signed = SignedIn {
            id: user.id,
            stamp: self.auth.session_stamp(user),
            since,
            until,
            seen: self.auth.now(),
        };
        self.session.set_expiry(Some(match until {
            Some(t) => Expiry::AtDateTime(to_offset(t)),
            None => Expiry::OnSessionEnd,
        }));
        self.session.insert(USER_KEY, &signed).await?;
        self.user = Some(user.clone());
        Ok(())
    }

    /// Logs `user` in (after [`Login::Complete`](crate::Login::Complete)).
    /// With `remember_me` the session (and its cookie) lasts
    /// [`Policy::remember_me_for`](crate::Policy::remember_me_for) from
    /// now, idle or not (at most [`AuthConfig::absolute_lifetime`]);
    /// otherwise it is a browser session (the cookie has no expiry) that
    /// ends after [`AuthConfig::inactivity`] without a request, or at the
    /// absolute lifetime. See the [module example](crate::axum)'s login
    /// page.
    pub async fn login(&mut self, user: &User, remember_me: bool) -> Result<(), WebError> {
        self.rotate(Some(user.id)).await?;
        self.session.remove_value(PENDING_KEY).await?;
        self.pending = None;
        self.session.remove_value(ENROLL_KEY).await?;
        self.enrolling = None;
        let now = self.auth.now();
        let until = remember_me
            .then(|| now.plus(self.auth.policy().remember_me_for.min(self.config.lifetime)));
        self.store_user(user, now, until).await
    }

    /// Keeps a pending login (after
    /// [`Login::SecondFactor`](crate::Login::SecondFactor), or a new
    /// challenge from [`Authenticator::resend`]): nobody is logged in
    /// meanwhile, and `remember_me` waits for [`complete`](Self::complete).
    pub async fn begin_second_factor(
        &mut self,
        challenge: &Challenge,
        remember_me: bool,
    ) -> Result<(), WebError> {
        self.rotate(None).await?;
        self.session.remove_value(USER_KEY).await?;
        self.user = None;
        self.session.remove_value(ENROLL_KEY).await?;
        self.enrolling = None;
        let sms_to = challenge.sms.as_ref().map(|s| match s {
            SmsDelivery::Sent { to, .. }
            | SmsDelivery::Available { to }
            | SmsDelivery::Deferred { to, .. } => to.clone(),
        });
        let pending = PendingLogin {
            token: challenge.token().to_owned(),
            remember_me,
            expires_at: challenge.expires_at,
            methods: challenge.methods.clone(),
            sms_to,
        };
        self.session.insert(PENDING_KEY, &pending).await?;
        self.session.set_expiry(Some(Expiry::OnSessionEnd));
        self.pending = Some(pending);
        Ok(())
    }

    /// Finishes a pending login after [`Authenticator::verify`]: logs the
    /// user in with the remember-me choice of the password form.
    pub async fn complete(&mut self, verification: &Verification) -> Result<(), WebError> {
        let remember_me = self.pending.as_ref().is_some_and(|p| p.remember_me);
        self.login(&verification.user, remember_me).await
    }

    /// Stamps the session anew after a change of credentials made in it
    /// (password, email, a factor): the change ends every other session,
    /// this one continues, with a new id. `user` is the user as returned
    /// by the change: [`Authenticator::change_password`],
    /// [`Enrolled::user`](crate::Enrolled::user) of an enrollment,
    /// [`Authenticator::disable_factor`],
    /// [`Authenticator::sign_out_everywhere`],
    /// [`Authenticator::confirm_email_change`]. Fails with
    /// [`WebError::LoginRequired`] when this
    /// session is not logged in as that user, or `user` is older than the
    /// session's.
    ///
    /// Call it only after a call that changed credentials, each of which
    /// asks for a step-up. After anything else (a username change) there is
    /// nothing to stamp, and a refresh would be a way back in: a request of
    /// a stolen session in flight while the owner signs out everywhere
    /// would be handed the new stamp. A `user` whose credentials are those
    /// this session was checked against changes nothing here.
    pub async fn refresh(&mut self, user: &User) -> Result<(), WebError> {
        let Some(current) = self.user.as_ref().filter(|u| u.id == user.id) else {
            return Err(WebError::LoginRequired { redirect: None });
        };
        if user.generation < current.generation {
            return Err(WebError::LoginRequired { redirect: None });
        }
        if user.generation == current.generation {
            self.user = Some(user.clone());
            return Ok(());
        }
        let Some(signed) = read::<SignedIn>(&self.session, USER_KEY).await? else {
            return Err(WebError::LoginRequired { redirect: None });
        };
        self.rotate(Some(user.id)).await?;
        // A change of credentials is no new login: the session keeps its
        // login time (absolute lifetime) and remember-me deadline.
        self.store_user(user, signed.since, signed.until).await
    }

    /// Sets a remember-me session's own deadline again, for apps without
    /// [`csrf_guard`](super::csrf_guard) whose handlers change the
    /// session's data through [`session`](Self::session): tower-sessions
    /// would otherwise write its layer's expiry into the record and the
    /// cookie. Does nothing for other sessions, nor for one this request
    /// did not change (it stays unwritten). See the [`AuthSession`]
    /// example.
    pub async fn keep_remember_me(&self) -> Result<(), WebError> {
        if self.session.is_modified() {
            keep_deadline(&self.session).await?;
        }
        Ok(())
    }

    /// Logs out: the session and its data are deleted and the cookie is
    /// cleared. Other sessions of the user continue (see
    /// [`Authenticator::sign_out_everywhere`]). A request of this session
    /// still in flight cannot bring it back (its save is refused), and
    /// whatever this request stores after the logout lives in a new
    /// browser session, never under a remember-me cookie's expiry.
    pub async fn logout(&mut self) -> Result<(), WebError> {
        self.session.flush().await?;
        self.session.set_expiry(Some(Expiry::OnSessionEnd));
        self.user = None;
        self.pending = None;
        self.enrolling = None;
        Ok(())
    }
}
