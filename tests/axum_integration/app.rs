//! The test site: login with an optional second factor, a password change,
//! logout, a CSRF token page; and a cookie jar that plays a browser.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use secrecy::SecretString;
use tower::ServiceExt;
use tower_sessions::cookie::Cookie;
use twofa_verify::axum::{
    AuthConfig, AuthLayer, AuthLayerBuilder, AuthSession, CsrfToken, PendingGuard, RequireUser,
    WebError,
};
use twofa_verify::clock::ManualClock;
use twofa_verify::event::RecordingSink;
use twofa_verify::{
    Authenticator, ConsoleSms, LocalCodes, Login, MemoryStore, StateStore, StepUp, UserStore,
};

/// The site's secret key.
pub fn key() -> twofa_verify::SecretKey {
    twofa_verify::SecretKey::from_bytes(b"axum-integration-test-key-0123456789abcdef").unwrap()
}
/// The session cookie of `AuthLayer` on a plain-http site.
pub const SESSION_COOKIE: &str = "twofa_session";
pub const GOOD: &str = "correct horse battery";
pub const PHONE: &str = "+14155552671";

fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

#[derive(serde::Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    remember_me: Option<String>,
}

async fn login(mut s: AuthSession, Form(f): Form<LoginForm>) -> Result<Redirect, WebError> {
    let remember = f.remember_me.is_some();
    match s.auth().login(&f.username, &pw(&f.password)).await? {
        Login::Complete(user) => s.login(&user, remember).await?,
        Login::SecondFactor(ch) => {
            s.begin_second_factor(&ch, remember).await?;
            return Ok(Redirect::to("/code"));
        }
        // A login outcome this app does not handle is no login.
        _ => return Ok(Redirect::to("/login")),
    }
    Ok(Redirect::to("/"))
}

async fn code_page(s: AuthSession) -> Response {
    match s.pending() {
        Some(p) => format!("code sent to {}", p.sms_to.unwrap_or_default()).into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

#[derive(serde::Deserialize)]
struct CodeForm {
    code: String,
}

async fn code(mut s: AuthSession, Form(f): Form<CodeForm>) -> Result<Redirect, WebError> {
    let Some(p) = s.pending() else {
        return Ok(Redirect::to("/login"));
    };
    let v = s
        .auth()
        .verify(p.token(), &SecretString::from(f.code.as_str()))
        .await?;
    s.complete(&v).await?;
    Ok(Redirect::to("/"))
}

#[derive(serde::Deserialize)]
struct PasswordForm {
    current: String,
    new: String,
}

async fn password(
    RequireUser(user): RequireUser,
    mut s: AuthSession,
    Form(f): Form<PasswordForm>,
) -> Result<&'static str, WebError> {
    let user = s
        .auth()
        .change_password(user.id, &StepUp::password(f.current), &pw(&f.new))
        .await?;
    s.refresh(&user).await?;
    Ok("changed")
}

async fn logout(mut s: AuthSession) -> Result<Redirect, WebError> {
    s.logout().await?;
    // What an app may keep for the next page (a flash message).
    s.session().insert("note", "you are logged out").await?;
    Ok(Redirect::to("/"))
}

/// A logout that keeps nothing: the session cookie is removed.
async fn bye(mut s: AuthSession) -> Result<Redirect, WebError> {
    s.logout().await?;
    Ok(Redirect::to("/"))
}

/// A username change, then a refresh (which has nothing to stamp).
async fn rename(mut s: AuthSession) -> Result<&'static str, WebError> {
    let Some(me) = s.user().cloned() else {
        return Err(WebError::LoginRequired { redirect: None });
    };
    let user = s
        .auth()
        .update_profile(me.id, Some(&format!("{}x", me.username)), None)
        .await?;
    s.refresh(&user).await?;
    Ok("renamed")
}

/// The app's own data in the session.
async fn note(s: AuthSession) -> Result<&'static str, WebError> {
    s.session().insert("note", rand::random::<u64>()).await?;
    Ok("noted")
}

pub struct App {
    pub router: Router,
    pub auth: Authenticator,
    pub sms: ConsoleSms,
    pub clock: ManualClock,
    pub events: RecordingSink,
}

/// The test site over `store` (its users, state and web sessions), with a
/// clock of its own.
pub fn app<S>(store: S, config: AuthConfig, clock: ManualClock, sms: ConsoleSms) -> App
where
    S: UserStore + StateStore + Clone + 'static,
{
    app_at("http://localhost", store, config, clock, sms)
}

/// The test site served at `site` (`https://…` makes its cookies Secure).
pub fn app_at<S>(
    site: &str,
    store: S,
    config: AuthConfig,
    clock: ManualClock,
    sms: ConsoleSms,
) -> App
where
    S: UserStore + StateStore + Clone + 'static,
{
    app_with(site, store, config, clock, sms, |layer, _| layer)
}

/// The test site, its `AuthLayer` built with the test's own settings.
pub fn app_with<S>(
    site: &str,
    store: S,
    config: AuthConfig,
    clock: ManualClock,
    sms: ConsoleSms,
    customize: impl FnOnce(AuthLayerBuilder, &Authenticator) -> AuthLayerBuilder,
) -> App
where
    S: UserStore + StateStore + Clone + 'static,
{
    let events = RecordingSink::new();
    let auth = Authenticator::builder()
        .store(store.clone())
        .secret_key(key())
        .sms(LocalCodes::new(sms.clone()))
        .clock(clock.clone())
        .events(events.clone())
        .build()
        .unwrap();
    // One layer: sessions in the authenticator's store (and clock), the
    // settings, the fence around pending logins and CSRF.
    let layer = AuthLayer::builder(&auth, site)
        .config(config)
        .pending_guard(
            PendingGuard::new("/code")
                .allow("/logout")
                .allow("/form")
                .allow_prefix("/static/"),
        );
    let layer = customize(layer, &auth).build().unwrap();
    let router = Router::new()
        .route(
            "/",
            get(|RequireUser(u): RequireUser| async move { format!("hello {}", u.username) }),
        )
        .route("/login", post(login))
        .route("/code", get(code_page).post(code))
        .route("/password", post(password))
        .route("/logout", post(logout))
        .route("/bye", post(bye))
        .route("/note", post(note).put(note).patch(note).delete(note))
        .route("/rename", post(rename))
        .route("/form", get(|t: CsrfToken| async move { t.value().await }))
        .route("/static/site.css", get(|| async { "body {}" }))
        .layer(layer)
        .with_state(auth.clone());
    App {
        router,
        auth,
        sms,
        clock,
        events,
    }
}

pub fn memory_app(config: AuthConfig) -> App {
    app(
        MemoryStore::new(),
        config,
        ManualClock::starting_now(),
        ConsoleSms::quiet(),
    )
}

impl App {
    pub async fn user(&self, name: &str) -> twofa_verify::User {
        self.auth
            .register(name, &format!("{name}@example.com"), &pw(GOOD))
            .await
            .unwrap()
    }

    pub async fn with_sms(&self, user: &twofa_verify::User) {
        self.auth
            .start_sms_enrollment(user.id, PHONE, &StepUp::password(GOOD))
            .await
            .unwrap();
        let code = self.sms.last_code_for(PHONE).unwrap();
        let _enrolled = self
            .auth
            .confirm_sms_enrollment(user.id, &SecretString::from(code.as_str()))
            .await
            .unwrap();
    }
}

// -------------------------------------------------------- cookie jars

/// A browser: the cookies it holds, and the `Set-Cookie` lines it last got.
#[derive(Default)]
pub struct Jar {
    pub cookies: HashMap<String, String>,
    pub last_set: Vec<String>,
}

impl Jar {
    pub fn take(&mut self, headers: &HeaderMap) {
        self.last_set.clear();
        for v in headers.get_all(header::SET_COOKIE) {
            let line = v.to_str().unwrap().to_owned();
            let c = Cookie::parse(line.clone()).unwrap();
            let gone = c.max_age().is_some_and(|a| a.is_zero() || a.is_negative());
            if gone {
                self.cookies.remove(c.name());
            } else {
                self.cookies.insert(c.name().into(), c.value().into());
            }
            self.last_set.push(line);
        }
    }

    pub fn session(&self) -> Option<&str> {
        self.cookies.get(SESSION_COOKIE).map(String::as_str)
    }

    pub async fn send(
        &mut self,
        app: &App,
        mut req: Request<Body>,
    ) -> (StatusCode, HeaderMap, String) {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        if !cookie.is_empty() {
            req.headers_mut()
                .insert(header::COOKIE, cookie.parse().unwrap());
        }
        let resp = app.router.clone().oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        self.take(&parts.headers);
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    pub async fn get(&mut self, app: &App, path: &str) -> (StatusCode, HeaderMap, String) {
        self.send(app, Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    /// A form POST with the page's CSRF token, as a browser sends it.
    pub async fn post(
        &mut self,
        app: &App,
        path: &str,
        fields: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, String) {
        let (status, _, token) = self.get(app, "/form").await;
        assert_eq!(status, StatusCode::OK, "{token}");
        let mut all = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post_raw(app, path, &all).await
    }

    pub async fn post_raw(
        &mut self,
        app: &App,
        path: &str,
        fields: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, String) {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let req = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(app, req).await
    }

    pub async fn login(
        &mut self,
        app: &App,
        name: &str,
        remember: bool,
    ) -> (StatusCode, HeaderMap) {
        let mut f = vec![("username", name), ("password", GOOD)];
        if remember {
            f.push(("remember_me", "on"));
        }
        let (s, h, _) = self.post(app, "/login", &f).await;
        (s, h)
    }

    pub async fn home(&mut self, app: &App) -> StatusCode {
        self.get(app, "/").await.0
    }
}

pub fn location(h: &HeaderMap) -> &str {
    h.get(header::LOCATION).unwrap().to_str().unwrap()
}
