//! Handler tests of the axum example (`examples/axum_app`): every route and
//! error path, driven in-process with `tower::ServiceExt::oneshot`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use tower::ServiceExt;

const PW: &str = "correct horse battery staple";
const PHONE: &str = "+14155552671";

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Resp {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    fn assert(&self, status: StatusCode, needle: &str) -> &Self {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert!(
            self.body.contains(needle),
            "expected {needle:?} in the page:\n{}",
            self.body
        );
        self
    }
    fn redirect(&self, to: &str) {
        assert_eq!(self.status, StatusCode::SEE_OTHER, "body: {}", self.body);
        assert_eq!(self.location(), to);
    }
}

/// A browser-ish client: keeps its cookies (session, CSRF nonce) and the
/// last CSRF token.
struct Client {
    router: Router,
    state: axum_app::AppState,
    sessions: Counting,
    cookies: std::collections::BTreeMap<String, String>,
    csrf: Option<String>,
    /// The socket address the requests come from, as `main.rs` serves the
    /// site (`ConnectInfo`); `None` like a plain `oneshot`: no client IP.
    peer: Option<SocketAddr>,
    /// An `X-Forwarded-For` header to send.
    forwarded_for: Option<String>,
}

impl Client {
    async fn new() -> Self {
        let state = axum_app::state_for_tests().await.unwrap();
        Self::with_state(state)
    }

    fn with_state(state: axum_app::AppState) -> Self {
        let sessions = Counting::new(state.sessions.clone());
        Client {
            router: axum_app::router_with_store(state.clone(), sessions.clone()).unwrap(),
            state,
            sessions,
            cookies: Default::default(),
            csrf: None,
            peer: None,
            forwarded_for: None,
        }
    }

    /// The same browser, its requests coming from `peer`.
    fn at_peer(mut self, peer: &str) -> Self {
        self.peer = Some(peer.parse().unwrap());
        self
    }

    /// `n` copies of a form POST of `body` (urlencoded, CSRF token
    /// included) to `path` in this browser's session, each in a task of
    /// its own, released together by a barrier; their answers.
    async fn burst(&self, path: &str, body: &str, n: usize) -> Vec<Resp> {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let req = self
                    .request("POST", path)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(body.to_owned()))
                    .unwrap();
                let router = self.router.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    read(router.oneshot(req).await.unwrap()).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        answers
    }

    /// Another browser on the same site.
    fn other(&self) -> Self {
        Client {
            router: self.router.clone(),
            state: self.state.clone(),
            sessions: self.sessions.clone(),
            cookies: Default::default(),
            csrf: None,
            peer: None,
            forwarded_for: None,
        }
    }

    async fn send(&mut self, req: Request<Body>) -> Resp {
        let r = read(self.router.clone().oneshot(req).await.unwrap()).await;
        for c in r.headers.get_all(header::SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (name, value) = c.split(';').next().unwrap().split_once('=').unwrap();
            if value.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        if let Some(t) = find_attr(&r.body, "name=\"csrf_token\" value=\"") {
            self.csrf = Some(t);
        }
        r
    }

    fn request(&self, method: &str, path: &str) -> axum::http::request::Builder {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(peer) = self.peer {
            b = b.extension(ConnectInfo(peer));
        }
        if let Some(xff) = &self.forwarded_for {
            b = b.header("x-forwarded-for", xff);
        }
        if !self.cookies.is_empty() {
            let all: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            b = b.header(header::COOKIE, all.join("; "));
        }
        b
    }

    /// The session cookie's value, if any.
    fn session(&self) -> Option<String> {
        self.cookies.get("twofa_session").cloned()
    }

    async fn get(&mut self, path: &str) -> Resp {
        let req = self.request("GET", path).body(Body::empty()).unwrap();
        self.send(req).await
    }

    /// Posts a form with the session's CSRF token (fetched when unknown).
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        if self.csrf.is_none() {
            self.get("/logout").await;
        }
        let token = self.csrf.clone().unwrap();
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &serde_urlencoded::to_string(&all).unwrap())
            .await
    }

    async fn post_raw(&mut self, path: &str, body: &str) -> Resp {
        let req = self
            .request("POST", path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.to_owned()))
            .unwrap();
        let r = self.send(req).await;
        if r.status == StatusCode::SEE_OTHER {
            // The token may have been rotated (login): fetch it again.
            self.csrf = None;
        }
        r
    }

    fn sms_code(&self) -> String {
        self.state
            .console_sms
            .as_ref()
            .unwrap()
            .last_code_for(PHONE)
            .expect("a code was texted")
    }

    /// A refusal with a wait (a delay, a lock, a rate limit): a redirect
    /// to the form's own `page` that keeps `Retry-After`, never a 429 page
    /// at the POST's URL; the page then says `words` and the wait, as
    /// text counted down by the page's script. Returns that page.
    async fn expect_wait(&mut self, r: &Resp, page: &str, words: &str) -> Resp {
        r.redirect(page);
        let secs: u64 = r.headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(secs >= 1, "{secs}");
        let shown = self.get(page).await;
        shown.assert(
            StatusCode::OK,
            &format!("{words} <span class=\"countdown\" data-countdown=\""),
        );
        shown
    }

    async fn register(&mut self, name: &str) {
        let email = format!("{name}@example.com");
        self.post(
            "/register",
            &[
                ("username", name),
                ("first_name", "Ann"),
                ("last_name", "Example"),
                ("email", &email),
                ("password", PW),
                ("password2", PW),
            ],
        )
        .await
        .redirect("/login");
    }

    async fn login(&mut self, name: &str) -> Resp {
        self.post("/login", &[("username", name), ("password", PW)])
            .await
    }

    /// Registers, logs in and enables SMS; returns the recovery codes.
    async fn user_with_sms(&mut self, name: &str) -> Vec<String> {
        self.register(name).await;
        self.login(name).await.redirect(&format!("/user/{name}"));
        self.post(
            "/enable_2fa",
            &[("phone", "+1 415 555 2671"), ("password", PW)],
        )
        .await
        .redirect("/enable_2fa/verify");
        let code = self.sms_code();
        let r = self.post("/enable_2fa/verify", &[("code", &code)]).await;
        self.fresh_codes(&r).await
    }

    /// After a POST that made recovery codes: the redirect to the page that
    /// shows them (Post/Redirect/Get), and the codes it shows.
    async fn fresh_codes(&mut self, r: &Resp) -> Vec<String> {
        r.redirect("/recovery_codes/new");
        let page = self.get("/recovery_codes/new").await;
        page.assert(StatusCode::OK, "Your recovery codes")
            .assert(StatusCode::OK, "shown only once");
        recovery_codes(&page.body)
    }
}

/// The state's session store, counting the records it holds (ids seen
/// created or saved, less those deleted).
#[derive(Clone, Debug)]
struct Counting {
    inner: twofa_verify::axum::StateSessionStore,
    ids: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<tower_sessions::session::Id>>>,
    /// The data of every record created or saved, as JSON: what the state
    /// store is given to keep.
    written: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Counting {
    fn new(inner: twofa_verify::axum::StateSessionStore) -> Self {
        Counting {
            inner,
            ids: Default::default(),
            written: Default::default(),
        }
    }

    /// Every session record's data written so far, as JSON.
    fn written(&self) -> Vec<String> {
        self.written.lock().unwrap().clone()
    }

    fn record_written(&self, record: &tower_sessions::session::Record) {
        let json = serde_json::to_string(&record.data).unwrap();
        self.written.lock().unwrap().push(json);
    }

    fn len(&self) -> usize {
        self.ids.lock().unwrap().len()
    }
}

#[async_trait::async_trait]
impl tower_sessions::SessionStore for Counting {
    async fn create(
        &self,
        record: &mut tower_sessions::session::Record,
    ) -> tower_sessions::session_store::Result<()> {
        self.inner.create(record).await?;
        self.record_written(record);
        self.ids.lock().unwrap().insert(record.id);
        Ok(())
    }

    async fn save(
        &self,
        record: &tower_sessions::session::Record,
    ) -> tower_sessions::session_store::Result<()> {
        self.inner.save(record).await?;
        self.record_written(record);
        self.ids.lock().unwrap().insert(record.id);
        Ok(())
    }

    async fn load(
        &self,
        id: &tower_sessions::session::Id,
    ) -> tower_sessions::session_store::Result<Option<tower_sessions::session::Record>> {
        self.inner.load(id).await
    }

    async fn delete(
        &self,
        id: &tower_sessions::session::Id,
    ) -> tower_sessions::session_store::Result<()> {
        self.inner.delete(id).await?;
        self.ids.lock().unwrap().remove(id);
        Ok(())
    }
}

async fn read(resp: axum::response::Response) -> Resp {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    Resp {
        status,
        headers,
        body,
    }
}

/// The one-time download key printed in the page that shows fresh
/// recovery codes.
fn download_key(body: &str) -> String {
    find_attr(body, "name=\"download_key\" value=\"").expect("a download key on the page")
}

fn find_attr(body: &str, prefix: &str) -> Option<String> {
    let start = body.find(prefix)? + prefix.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}

fn recovery_codes(body: &str) -> Vec<String> {
    let list = &body[body.find("id=\"recovery-codes\"").unwrap()..];
    let list = &list[..list.find("</ul>").unwrap()];
    list.split("<code>")
        .skip(1)
        .map(|s| s[..s.find("</code>").unwrap()].to_owned())
        .collect()
}

fn totp_code(secret_b32: &str, unix: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_b32).unwrap();
    let t = totp_rs::Builder::new()
        .with_secret(secret)
        .build_noncompliant();
    t.generate(unix).to_string()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn home_static_and_headers() {
    let mut c = Client::new().await;
    let r = c.get("/").await;
    r.assert(StatusCode::OK, "Create an account");
    assert!(r.body.contains("/static/styles.css"));
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_eq!(r.headers["referrer-policy"], "no-referrer");
    assert_eq!(r.headers["x-frame-options"], "DENY");
    assert!(
        r.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let css = c.get("/static/styles.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(css.body.contains(".card"));
    for page in ["/register", "/login", "/reset_password_request", "/logout"] {
        let r = c.get(page).await;
        assert_eq!(r.status, StatusCode::OK, "{page}");
        assert!(r.body.contains("name=\"csrf_token\""), "{page}");
    }
}

/// The `Set-Cookie` header of the response for cookie `name`.
fn set_cookie(r: &Resp, name: &str) -> Option<String> {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
}

#[tokio::test]
async fn session_cookie_flags_and_rotation() {
    let mut c = Client::new().await;
    let r = c.get("/login").await;
    // An anonymous form page: a CSRF nonce cookie, no session.
    assert_eq!(set_cookie(&r, "twofa_session"), None);
    let nonce = set_cookie(&r, "twofa_csrf").expect("a nonce cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(nonce.contains(flag), "{nonce}");
    }
    assert!(!nonce.contains("Secure"), "{nonce}");
    // Once set, it is not sent again.
    assert_eq!(set_cookie(&c.get("/register").await, "twofa_csrf"), None);
    c.register("rota").await;
    let before = c.session();
    assert!(
        before.is_none(),
        "the flash after registering is a cookie, not a session"
    );
    let r = c.login("rota").await;
    r.redirect("/user/rota");
    let cookie = set_cookie(&r, "twofa_session").expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert_ne!(c.session(), before, "the session id changes at login");

    // Secure when configured (COOKIE_SECURE=1 or an https BASE_URL).
    let state = axum_app::state_for_tests_with(
        demo_support::Options::default(),
        axum_app::Config {
            cookie_secure: true,
            ..axum_app::Config::for_tests()
        },
    )
    .await
    .unwrap();
    let mut s = Client::with_state(state);
    let r = s.get("/login").await;
    // Over https every cookie is `__Host-` prefixed: Secure, Path=/, no
    // Domain, so no other host or plain-http page can set or shadow it.
    assert_eq!(set_cookie(&r, "twofa_csrf"), None);
    let host_only = |c: String| {
        for attr in ["Secure", "Path=/", "HttpOnly"] {
            assert!(c.contains(attr), "{c}");
        }
        assert!(!c.contains("Domain"), "{c}");
    };
    host_only(set_cookie(&r, "__Host-twofa_csrf").unwrap());
    s.register("sec").await;
    let r = s.login("sec").await;
    r.redirect("/user/sec");
    assert_eq!(set_cookie(&r, "twofa_session"), None);
    host_only(set_cookie(&r, "__Host-twofa_session").unwrap());
    let r = s.post("/logout", &[]).await;
    host_only(set_cookie(&r, "__Host-twofa_flash").unwrap());
    s.get("/")
        .await
        .assert(StatusCode::OK, "You have been logged out");
}

#[tokio::test]
async fn not_found_and_method_not_allowed_pages() {
    let mut c = Client::new().await;
    c.get("/no/such/page")
        .await
        .assert(StatusCode::NOT_FOUND, "Page not found");
    let r = c.get("/verify_2fa/resend").await;
    r.assert(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
    assert!(r.body.contains("<html"), "a full page");
    c.register("nf").await;
    c.login("nf").await;
    c.get("/user/ghost")
        .await
        .assert(StatusCode::NOT_FOUND, "There is no user called");
}

#[tokio::test]
async fn internal_errors_render_the_500_page() {
    let resp = axum_app::AppError::Internal("db on fire".into()).into_response();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("Something went wrong"));
    assert!(!text.contains("db on fire"), "details stay in the log");
}

#[tokio::test]
async fn csrf_missing_or_wrong_is_403() {
    let mut c = Client::new().await;
    c.get("/login").await;
    let r = c
        .post_raw("/login", "username=a&password=correct+horse")
        .await;
    r.assert(StatusCode::FORBIDDEN, "This form has expired");
    let r = c
        .post_raw("/login", "csrf_token=forged&username=a&password=b")
        .await;
    r.assert(StatusCode::FORBIDDEN, "Form expired");
    // Without any session at all.
    let mut fresh = c.other();
    fresh
        .post_raw("/register", "csrf_token=x&username=a")
        .await
        .assert(StatusCode::FORBIDDEN, "Form expired");
    // Every POST route is covered.
    for path in ["/verify_2fa", "/enable_2fa", "/reset_password/x"] {
        let r = c.post_raw(path, "").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    // Logging out while logged out (a stale tab): nothing to do, the home
    // page says so.
    c.post_raw("/logout", "").await.redirect("/");
    c.get("/")
        .await
        .assert(StatusCode::OK, "You are logged out.");
}

#[tokio::test]
async fn register_errors_are_friendly() {
    let mut c = Client::new().await;
    c.register("alice").await;
    c.get("/login")
        .await
        .assert(StatusCode::OK, "you are now registered");
    let form = |u: &'static str, e: &'static str, p: &'static str, p2: &'static str| {
        [
            ("username", u),
            ("first_name", "Bob"),
            ("last_name", "Example"),
            ("email", e),
            ("password", p),
            ("password2", p2),
        ]
    };
    c.post("/register", &form("ALICE", "other@example.com", PW, PW))
        .await
        .assert(StatusCode::CONFLICT, "username is already taken");
    c.post("/register", &form("bob", "alice@example.com", PW, PW))
        .await
        .assert(StatusCode::CONFLICT, "email address is already registered");
    c.post(
        "/register",
        &form("bob", "bob@example.com", PW, "other one"),
    )
    .await
    .assert(StatusCode::UNPROCESSABLE_ENTITY, "do not match");
    c.post(
        "/register",
        &form("bob", "bob@example.com", "password", "password"),
    )
    .await
    .assert(StatusCode::UNPROCESSABLE_ENTITY, "commonly used");
    c.post("/register", &form("bob", "not-an-email", PW, PW))
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "Invalid email address");
    c.post("/register", &form("b o b", "bob@example.com", PW, PW))
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "Invalid username");
    c.post("/register", &[("username", "bob")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "fill in every field");
    // What the user typed stays in the form, escaped.
    let r = c
        .post(
            "/register",
            &form("<b>x</b>", "bob@example.com", PW, "nope nope"),
        )
        .await;
    assert!(r.body.contains("&lt;b&gt;x&lt;&#x2f;b&gt;") || r.body.contains("&lt;b&gt;"));
    assert!(!r.body.contains("<b>x</b>"));
    // A form that cannot be read: 400 page, not a bare error.
    let token = c.csrf.clone().unwrap();
    c.post_raw(
        "/register",
        &format!("csrf_token={token}&username=a&username=b"),
    )
    .await
    .assert(StatusCode::BAD_REQUEST, "could not be read");
}

#[tokio::test]
async fn login_logout_and_login_required() {
    let mut c = Client::new().await;
    c.get("/user/carol")
        .await
        .redirect("/login?next=%2Fuser%2Fcarol");
    c.get("/edit_profile")
        .await
        .redirect("/login?next=%2Fedit_profile");
    c.register("carol").await;
    c.post(
        "/login",
        &[("username", "carol"), ("password", "wrong password")],
    )
    .await
    .assert(StatusCode::UNAUTHORIZED, "Invalid username or password");
    c.post("/login", &[("username", "nobody"), ("password", PW)])
        .await
        .assert(StatusCode::UNAUTHORIZED, "Invalid username or password");
    c.post("/login", &[("username", ""), ("password", "")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "Please enter");
    // `next` is followed for local paths only.
    c.post(
        "/login",
        &[
            ("username", "carol@example.com"),
            ("password", PW),
            ("next", "https://evil.example/"),
        ],
    )
    .await
    .redirect("/user/carol");
    c.get("/user/carol")
        .await
        .assert(StatusCode::OK, "Welcome, Ann!")
        .assert(StatusCode::OK, "carol@example.com");
    c.get("/login").await.redirect("/");
    c.get("/")
        .await
        .assert(StatusCode::OK, "You are logged in as carol.");
    c.post("/logout", &[]).await.redirect("/");
    c.get("/")
        .await
        .assert(StatusCode::OK, "You have been logged out");
    c.get("/user/carol")
        .await
        .redirect("/login?next=%2Fuser%2Fcarol");
    c.post(
        "/login",
        &[
            ("username", "carol"),
            ("password", PW),
            ("next", "/edit_profile"),
        ],
    )
    .await
    .redirect("/edit_profile");
}

/// Delays and locks: one wording, told with the failure that earned the
/// wait (never a plain "invalid" between two waits), on the login page
/// reached by a redirect, the username kept, the wait rounded up.
#[tokio::test]
async fn lockout_is_told_in_one_wording_with_the_failure_that_earned_it() {
    let mut policy = twofa_verify::Policy::default();
    policy.lock_after_failures = 7;
    let mut c = site(policy, false, false).await;
    c.register("dave").await;
    let wrong = [("username", "dave"), ("password", "wrong password")];
    // Default policy: a growing delay from the 5th failure in a row.
    for _ in 0..4 {
        c.post("/login", &wrong)
            .await
            .assert(StatusCode::UNAUTHORIZED, "Invalid username or password.");
    }
    let said = "Invalid username or password. Too many failed attempts. You can try again";
    let r = c.post("/login", &wrong).await;
    let page = c.expect_wait(&r, "/login", said).await;
    page.assert(StatusCode::OK, "in 1 s</span>.")
        .assert(StatusCode::OK, "value=\"dave\"");
    assert!(!page.body.contains("wrong password"), "{}", page.body);
    // Trying again at once: the same words, the wait left.
    let r = c.login("dave").await;
    let page = c
        .expect_wait(&r, "/login", "Too many failed attempts. You can try again")
        .await;
    page.assert(StatusCode::OK, "in 1 s</span>.");
    // Once the wait is over, the next failure earns 2 s and says so.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = c.post("/login", &wrong).await;
    c.expect_wait(&r, "/login", said)
        .await
        .assert(StatusCode::OK, "in 2 s</span>.");
    // The lock (7th failure): the same words, in minutes, rounded up.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = c.post("/login", &wrong).await;
    c.expect_wait(&r, "/login", said)
        .await
        .assert(StatusCode::OK, "in 15 min</span>.");
    let r = c.login("dave").await;
    c.expect_wait(&r, "/login", "Too many failed attempts. You can try again")
        .await
        .assert(StatusCode::OK, "in 15 min</span>.");
}

#[tokio::test]
async fn edit_profile_and_change_password() {
    let mut c = Client::new().await;
    c.register("erin").await;
    c.other().register("frank").await;
    c.login("erin").await;
    c.get("/edit_profile")
        .await
        .assert(StatusCode::OK, "value=\"erin\"");
    c.post("/edit_profile", &[("username", "frank")])
        .await
        .assert(StatusCode::CONFLICT, "already taken");
    c.post("/edit_profile", &[("username", "erin2")])
        .await
        .redirect("/user/erin2");
    // The email has its own page, with the password.
    c.get("/change_email")
        .await
        .assert(StatusCode::OK, "erin@example.com");
    let email = |e: &'static str, pw: &'static str| [("email", e), ("password", pw)];
    c.post("/change_email", &email("bad", PW))
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "Invalid email");
    c.post(
        "/change_email",
        &email("erin2@example.com", "wrong password"),
    )
    .await
    .assert(StatusCode::UNAUTHORIZED, "Your password is not right");
    c.post("/change_email", &email("erin2@example.com", PW))
        .await
        .redirect("/user/erin2");
    c.get("/user/erin2")
        .await
        .assert(StatusCode::OK, "We sent a link to erin2@example.com");
    // The change happens through the link mailed to the new address.
    let link =
        credential_changes::mailed_link(&c, "erin2@example.com", "/confirm_new_email/").await;
    c.post(&link, &[]).await.redirect("/user/erin2");
    c.get("/user/erin2")
        .await
        .assert(
            StatusCode::OK,
            "Your email address is now erin2@example.com",
        )
        .assert(StatusCode::OK, "erin2@example.com");
    // The old address is told.
    let notice = notice_to(
        &c,
        "erin@example.com",
        "email address of your account was changed",
    )
    .await;
    assert!(notice.body.contains("Dear erin2"));
    c.get("/user/erin2")
        .await
        .assert(StatusCode::OK, "Member since");
    // Others see the username, not the email.
    let mut f = c.other();
    f.login("frank").await;
    let r = f.get("/user/erin2").await;
    r.assert(StatusCode::OK, "erin2");
    assert!(!r.body.contains("erin2@example.com"));

    c.post(
        "/change_password",
        &[
            ("current", "nope nope"),
            ("password", "a new passphrase"),
            ("password2", "a new passphrase"),
        ],
    )
    .await
    .assert(StatusCode::UNAUTHORIZED, "current password is not right");
    c.post(
        "/change_password",
        &[
            ("current", PW),
            ("password", "a new passphrase"),
            ("password2", "different"),
        ],
    )
    .await
    .assert(StatusCode::UNPROCESSABLE_ENTITY, "do not match");
    c.post(
        "/change_password",
        &[
            ("current", PW),
            ("password", "a new passphrase"),
            ("password2", "a new passphrase"),
        ],
    )
    .await
    .redirect("/user/erin2");
}

#[tokio::test]
async fn sms_enrollment_and_login_with_code() {
    let mut c = Client::new().await;
    c.register("gina").await;
    c.login("gina").await;
    c.get("/enable_2fa")
        .await
        .assert(StatusCode::OK, "Mobile number");
    c.get("/enable_2fa/verify").await.redirect("/enable_2fa");
    c.post("/enable_2fa", &[("phone", "hello"), ("password", PW)])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "Invalid phone number");
    c.post("/enable_2fa", &[("phone", ""), ("password", PW)])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "mobile number");
    c.post("/enable_2fa", &[("phone", PHONE)])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "your password");
    c.post(
        "/enable_2fa",
        &[("phone", PHONE), ("password", "wrong password")],
    )
    .await
    .assert(StatusCode::UNAUTHORIZED, "Your password is not right");
    c.post("/enable_2fa", &[("phone", PHONE), ("password", PW)])
        .await
        .redirect("/enable_2fa/verify");
    c.get("/enable_2fa/verify").await.assert(
        StatusCode::OK,
        "We sent a code by text message to +1 415-555-2671",
    );
    c.post("/enable_2fa/verify", &[("code", "12345x")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "6-digit code");
    let good = c.sms_code();
    let wrong = if good == "000000" { "111111" } else { "000000" };
    c.post("/enable_2fa/verify", &[("code", wrong)])
        .await
        .assert(StatusCode::UNAUTHORIZED, "attempts left");
    let r = c.post("/enable_2fa/verify", &[("code", &good)]).await;
    let codes = c.fresh_codes(&r).await;
    assert_eq!(codes.len(), 10);
    c.get("/user/gina")
        .await
        .assert(StatusCode::OK, "Codes go to +1415*****71")
        .assert(StatusCode::OK, "10 unused");
    c.get("/enable_2fa").await.redirect("/user/gina");

    // Log out and in again: now the code is due.
    c.post("/logout", &[]).await;
    c.login("gina").await.redirect("/verify_2fa");
    c.get("/verify_2fa").await.assert(
        StatusCode::OK,
        "We sent a code by text message to +1415*****71",
    );
    let wrong = if c.sms_code() == "000000" {
        "111111"
    } else {
        "000000"
    };
    c.post("/verify_2fa", &[("code", wrong)])
        .await
        .assert(StatusCode::UNAUTHORIZED, "4 attempts left");
    c.post("/verify_2fa", &[("code", "")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "enter the code");
    // Resending at once is rate limited: back to the code page, which
    // says when (no 429 page at the resend URL).
    let r = c.post("/verify_2fa/resend", &[]).await;
    c.expect_wait(&r, "/verify_2fa?method=sms", "You can ask for a new code")
        .await
        .assert(StatusCode::OK, "action=\"/verify_2fa\"");
    let code = c.sms_code();
    let before = c.session();
    c.post("/verify_2fa", &[("code", &code)])
        .await
        .redirect("/user/gina");
    assert_ne!(
        c.session(),
        before,
        "the session id changes after the second factor"
    );
    c.get("/user/gina")
        .await
        .assert(StatusCode::OK, "Welcome, Ann!");
    c.get("/verify_2fa").await.redirect("/login");
}

#[tokio::test]
async fn half_logged_in_session_reaches_only_the_verify_page() {
    let mut c = Client::new().await;
    c.user_with_sms("hank").await;
    c.post("/logout", &[]).await;
    c.login("hank").await.redirect("/verify_2fa");
    for path in [
        "/",
        "/user/hank",
        "/edit_profile",
        "/enable_totp",
        "/disable_2fa",
        "/recovery_codes",
        "/login",
        "/register",
        "/reset_password_request",
        "/change_password",
        "/no/such/page",
    ] {
        c.get(path).await.redirect("/verify_2fa");
    }
    for path in ["/edit_profile", "/disable_2fa", "/login", "/enable_2fa"] {
        c.post(path, &[("username", "x"), ("email", "x@example.com")])
            .await
            .redirect("/verify_2fa");
    }
    c.get("/verify_2fa")
        .await
        .assert(StatusCode::OK, "Two-factor authentication")
        .assert(StatusCode::OK, "Cancel");
    assert!(c.get("/static/styles.css").await.status.is_success());
    // Cancel = log out: the pending login is dropped.
    c.post("/logout", &[]).await.redirect("/");
    c.get("/user/hank")
        .await
        .redirect("/login?next=%2Fuser%2Fhank");
}

#[tokio::test]
async fn too_many_wrong_codes_end_the_pending_login() {
    let mut c = Client::new().await;
    c.user_with_sms("ivy").await;
    c.post("/logout", &[]).await;
    c.login("ivy").await.redirect("/verify_2fa");
    let good = c.sms_code();
    let wrong = if good == "000000" { "111111" } else { "000000" };
    for left in [4, 3, 2, 1] {
        c.post("/verify_2fa", &[("code", wrong)])
            .await
            .assert(StatusCode::UNAUTHORIZED, &format!("{left} attempt"));
    }
    c.post("/verify_2fa", &[("code", wrong)])
        .await
        .assert(StatusCode::UNAUTHORIZED, "Too many attempts")
        .assert(StatusCode::UNAUTHORIZED, "Log in");
    // Gone: the right code no longer works, the session is back to anonymous.
    c.get("/verify_2fa").await.redirect("/login");
    c.get("/").await.assert(StatusCode::OK, "Create an account");
}

#[tokio::test]
async fn recovery_code_login_and_regeneration() {
    let mut c = Client::new().await;
    let codes = c.user_with_sms("jack").await;
    c.post("/logout", &[]).await;
    c.login("jack").await;
    c.get("/verify_2fa?method=recovery")
        .await
        .assert(StatusCode::OK, "Recovery code");
    c.post(
        "/verify_2fa",
        &[("code", "aaaaa-bbbbb-ccccc-ddddd"), ("method", "recovery")],
    )
    .await
    .assert(StatusCode::UNAUTHORIZED, "not right");
    c.post(
        "/verify_2fa",
        &[("code", &codes[0].to_uppercase()), ("method", "recovery")],
    )
    .await
    .redirect("/user/jack");
    c.get("/user/jack")
        .await
        .assert(StatusCode::OK, "You used a recovery code; 9 left")
        .assert(StatusCode::OK, "9 unused");
    // The same code again does not work.
    c.post("/logout", &[]).await;
    c.login("jack").await;
    c.post("/verify_2fa", &[("code", &codes[0])])
        .await
        .assert(StatusCode::UNAUTHORIZED, "not right");
    c.post("/verify_2fa", &[("code", &codes[1])])
        .await
        .redirect("/user/jack");

    // Regenerate: step-up with the password and a code.
    c.get("/recovery_codes")
        .await
        .assert(StatusCode::OK, "8</strong> unused");
    c.post(
        "/recovery_codes",
        &[("password", "wrong password"), ("code", &codes[2])],
    )
    .await
    .assert(StatusCode::UNAUTHORIZED, "Your password is not right");
    c.post("/recovery_codes", &[("password", PW), ("code", "")])
        .await
        .assert(StatusCode::FORBIDDEN, "password and a current code");
    c.post("/recovery_codes", &[("password", "")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "enter your password");
    c.post("/send_step_up_code", &[("next", "recovery_codes")])
        .await
        .redirect("/recovery_codes");
    let sms = c.sms_code();
    let r = c
        .post("/recovery_codes", &[("password", PW), ("code", &sms)])
        .await;
    let fresh = c.fresh_codes(&r).await;
    assert_eq!(fresh.len(), 10);
    assert!(!fresh.contains(&codes[3]));
    c.get("/user/jack")
        .await
        .assert(StatusCode::OK, "10 unused");
}

#[tokio::test]
async fn totp_enrollment_and_disable_with_step_up() {
    let mut c = Client::new().await;
    c.register("kate").await;
    c.login("kate").await;
    c.get("/recovery_codes").await.redirect("/user/kate");
    c.get("/disable_2fa").await.redirect("/user/kate");
    // The QR code comes after the password.
    c.get("/enable_totp")
        .await
        .assert(StatusCode::OK, "action=\"/enable_totp/start\"");
    c.post("/enable_totp/start", &[("password", "wrong password")])
        .await
        .assert(StatusCode::UNAUTHORIZED, "Your password is not right");
    let r = c.post("/enable_totp/start", &[("password", PW)]).await;
    r.assert(StatusCode::OK, "<img src=\"data:image&#x2f;png;base64,")
        .assert(StatusCode::OK, "id=\"totp-secret\"");
    let secret = find_attr(&r.body, "data-secret=\"").unwrap();
    c.post("/enable_totp", &[("code", "abc")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "6-digit code");
    let good = totp_code(&secret, now());
    let wrong = if good == "000000" { "111111" } else { "000000" };
    let r = c.post("/enable_totp", &[("code", wrong)]).await;
    r.assert(StatusCode::UNAUTHORIZED, "not right")
        .assert(StatusCode::UNAUTHORIZED, "start over");
    assert!(!r.body.contains(&secret), "the secret is not shown again");
    let r = c.post("/enable_totp", &[("code", &good)]).await;
    let codes = c.fresh_codes(&r).await;
    c.get("/enable_totp").await.redirect("/user/kate");
    c.get("/user/kate")
        .await
        .assert(StatusCode::OK, "Authenticator app")
        .assert(StatusCode::OK, "id=\"twofa-status\">On");
    // The same TOTP step again is refused (replay).
    c.post("/logout", &[]).await;
    c.login("kate").await.redirect("/verify_2fa");
    c.get("/verify_2fa")
        .await
        .assert(StatusCode::OK, "authenticator app");
    c.post("/verify_2fa", &[("code", &good), ("method", "totp")])
        .await
        .assert(StatusCode::UNAUTHORIZED, "already used")
        .assert(
            StatusCode::UNAUTHORIZED,
            "Wait until your authenticator app shows the next one",
        );
    c.post("/verify_2fa", &[("code", &codes[0])])
        .await
        .redirect("/user/kate");

    // Disable: password plus a code.
    c.get("/disable_2fa")
        .await
        .assert(StatusCode::OK, "Turn off");
    c.post(
        "/disable_2fa",
        &[
            ("factor", "totp"),
            ("password", "wrong password"),
            ("code", &codes[1]),
        ],
    )
    .await
    .assert(StatusCode::UNAUTHORIZED, "Your password is not right");
    c.post(
        "/disable_2fa",
        &[("factor", "totp"), ("password", PW), ("code", "")],
    )
    .await
    .assert(StatusCode::FORBIDDEN, "a current code");
    c.post(
        "/disable_2fa",
        &[("factor", "sms"), ("password", PW), ("code", &codes[1])],
    )
    .await
    .assert(StatusCode::CONFLICT, "not enabled");
    c.post("/disable_2fa", &[("factor", "bogus"), ("password", PW)])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "choose");
    c.post(
        "/disable_2fa",
        &[("factor", "totp"), ("password", PW), ("code", &codes[1])],
    )
    .await
    .redirect("/user/kate");
    c.get("/user/kate")
        .await
        .assert(StatusCode::OK, "Two-factor authentication is disabled")
        .assert(StatusCode::OK, "id=\"twofa-status\">Off");
    c.post("/logout", &[]).await;
    c.login("kate").await.redirect("/user/kate");
}

#[tokio::test]
async fn password_reset_by_email_link() {
    let mut c = Client::new().await;
    c.user_with_sms("liam").await;
    c.post("/logout", &[]).await;
    c.post(
        "/reset_password_request",
        &[("email", "nobody@example.com")],
    )
    .await
    .redirect("/login");
    c.post("/reset_password_request", &[("email", "")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "enter your email");
    c.post("/reset_password_request", &[("email", "not an email")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "Invalid email");
    c.post("/reset_password_request", &[("email", "LIAM@example.com")])
        .await
        .redirect("/login");
    c.get("/login")
        .await
        .assert(StatusCode::OK, "If that address belongs to an account");
    let outbox = c.state.mailer.console().unwrap().clone();
    let mut mail = None;
    for _ in 0..100 {
        mail = outbox
            .messages()
            .into_iter()
            .rfind(|m| m.subject.contains("Reset your password"));
        if mail.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mail = mail.expect("a reset email");
    let resets = || {
        outbox
            .messages()
            .into_iter()
            .filter(|m| m.subject.contains("Reset your password"))
            .count()
    };
    assert_eq!(resets(), 1, "none for the unknown address");
    assert_eq!(mail.to, "liam@example.com");
    let prefix = "http://127.0.0.1:8000/reset_password/";
    let start = mail.body.find(prefix).unwrap();
    let link = mail.body[start..].split_whitespace().next().unwrap();
    let path = &link["http://127.0.0.1:8000".len()..];

    c.get("/reset_password/garbage").await.assert(
        StatusCode::BAD_REQUEST,
        "invalid, was already used, has expired, or a newer link was sent",
    );
    c.get(path)
        .await
        .assert(StatusCode::OK, "Choose a new password");
    c.post(
        path,
        &[("password", "brand new passphrase"), ("password2", "other")],
    )
    .await
    .assert(StatusCode::UNPROCESSABLE_ENTITY, "do not match");
    c.post(path, &[("password", "password"), ("password2", "password")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "commonly used");
    c.post(
        path,
        &[
            ("password", "brand new passphrase"),
            ("password2", "brand new passphrase"),
        ],
    )
    .await
    .redirect("/login");
    c.get("/login")
        .await
        .assert(StatusCode::OK, "Your password has been reset");
    let notice = notice_to(&c, "liam@example.com", "Your password was reset").await;
    assert!(notice.body.contains("reset_password_request"));
    // Single use.
    c.get(path)
        .await
        .assert(StatusCode::BAD_REQUEST, "Link not valid");
    // The second factor stays on.
    c.post(
        "/login",
        &[("username", "liam"), ("password", "brand new passphrase")],
    )
    .await
    .redirect("/verify_2fa");
    c.post("/logout", &[]).await;
    // Rate limited per address: 3 an hour.
    for _ in 0..2 {
        c.post("/reset_password_request", &[("email", "liam@example.com")])
            .await
            .redirect("/login");
    }
    let r = c
        .post("/reset_password_request", &[("email", "liam@example.com")])
        .await;
    c.expect_wait(
        &r,
        "/reset_password_request",
        "Too many requests. You can try again",
    )
    .await
    .assert(StatusCode::OK, "value=\"liam@example.com\"");
}

#[tokio::test]
async fn step_up_sms_code_disables_sms() {
    let mut c = Client::new().await;
    c.user_with_sms("mia").await;
    c.get("/disable_2fa")
        .await
        .assert(StatusCode::OK, "Text a code to +1415*****71");
    c.post("/send_step_up_code", &[("next", "disable_2fa")])
        .await
        .redirect("/disable_2fa");
    // Asking again at once: back to the page, which says when.
    let r = c
        .post("/send_step_up_code", &[("next", "disable_2fa")])
        .await;
    c.expect_wait(&r, "/disable_2fa", "You can ask for a new code")
        .await;
    let code = c.sms_code();
    c.post("/disable_2fa", &[("password", PW), ("code", &code)])
        .await
        .redirect("/user/mia");
    c.get("/user/mia")
        .await
        .assert(StatusCode::OK, "Text-message codes are off");
}

#[tokio::test]
async fn odd_usernames_get_working_profile_links() {
    let mut c = Client::new().await;
    c.register("o/neil?#").await;
    c.login("o/neil?#").await.redirect("/user/o%2Fneil%3F%23");
    let r = c.get("/user/o%2Fneil%3F%23").await;
    r.assert(StatusCode::OK, "o&#x2f;neil?#")
        .assert(StatusCode::OK, "href=\"&#x2f;user&#x2f;o%2Fneil%3F%23\"");
}

// ------------------------------------------------------ hardened edges

impl Client {
    /// A POST with this `Content-Type` (none when `None`) and raw body.
    async fn post_as(&mut self, path: &str, content_type: Option<&str>, body: &str) -> Resp {
        let mut b = self.request("POST", path);
        if let Some(ct) = content_type {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        self.send(b.body(Body::from(body.to_owned())).unwrap())
            .await
    }

    /// The CSRF token of a fresh form page.
    async fn token(&mut self) -> String {
        // The logout page has a form for everyone, and leaves nothing.
        self.get("/logout").await;
        self.csrf.clone().unwrap()
    }
}

/// `next` values (form-encoded) that must not be followed: controls and
/// whitespace, raw and percent-encoded, other hosts, and bytes that are
/// not UTF-8.
const BAD_NEXT: &[&str] = &[
    "%2F%09%2Fevil.example",
    "%2F%250A",
    "%2F%250D",
    "%2F%2500",
    "%2F%2509%2Fevil.example",
    "%2F%0A",
    "%2F%0D%0ASet-Cookie%3A+x%3D1",
    "%2F%00",
    "%2F%FF",
    "%2Fuser%2F%FF%0A",
    "%FF",
    "%2F%2Fevil.example",
    "%2F%5Cevil.example",
    "%2F%255Cevil.example",
    "https%3A%2F%2Fevil.example%2F",
];

#[tokio::test]
async fn login_page_ignores_unsafe_next() {
    let mut c = Client::new().await;
    // The reported one, as a browser sends it.
    let r = c.get("/login?next=/%09/evil.com").await;
    r.assert(StatusCode::OK, "Log in");
    assert!(!r.body.contains("name=\"next\""), "{}", r.body);
    for next in BAD_NEXT {
        let r = c.get(&format!("/login?next={next}")).await;
        r.assert(StatusCode::OK, "Log in");
        assert!(!r.body.contains("name=\"next\""), "{next}");
        assert!(!r.body.contains("Please log in to see this page"), "{next}");
    }
    // A protected page whose address cannot come back as `next`: the plain
    // login page, never the home page or an error.
    let long = format!("/user/{}", "a".repeat(600));
    for path in [long.as_str(), "/user/a%09b"] {
        let r = c.get(path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert!(r.location().starts_with("/login?next="), "{path}");
        let r = c.get(r.location()).await;
        r.assert(StatusCode::OK, "Log in");
        assert!(!r.body.contains("name=\"next\""), "{path}");
    }
    // Repeated keys are no error either; the first one counts.
    let r = c.get("/login?next=%2Fedit_profile&next=x").await;
    r.assert(StatusCode::OK, "Please log in to see this page");
    assert!(
        r.body
            .contains("name=\"next\" value=\"&#x2f;edit_profile\"")
    );
}

#[tokio::test]
async fn unsafe_next_after_login_redirects_home_and_keeps_the_session() {
    let mut c = Client::new().await;
    c.register("nina").await;
    for next in BAD_NEXT {
        let mut b = c.other();
        let token = b.token().await;
        let r = b
            .post_raw(
                "/login",
                &format!(
                    "csrf_token={token}&username=nina&password={}&next={next}",
                    PW.replace(' ', "+")
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{next}: {}", r.body);
        assert_eq!(r.location(), "/user/nina", "{next}");
        // Still logged in: the session was saved.
        b.get("/edit_profile")
            .await
            .assert(StatusCode::OK, "Edit profile");
    }
    // A good `next` still works.
    let mut b = c.other();
    let token = b.token().await;
    b.post_raw(
        "/login",
        &format!(
            "csrf_token={token}&username=nina&password={}&next=%2Fedit_profile%3Fa%3D1",
            PW.replace(' ', "+")
        ),
    )
    .await
    .redirect("/edit_profile?a=1");
}

#[tokio::test]
async fn unsafe_next_after_the_second_factor_redirects_to_the_profile() {
    let mut c = Client::new().await;
    c.user_with_sms("olga").await;
    c.post("/logout", &[]).await.redirect("/");
    let token = c.token().await;
    c.post_raw(
        "/login",
        &format!(
            "csrf_token={token}&username=olga&password={}&next=%2F%0D%0A",
            PW.replace(' ', "+")
        ),
    )
    .await
    .redirect("/verify_2fa");
    // Odd query strings on the code page: no error page.
    for q in ["?method=sms&method=totp", "?method=%FF", "?method=%0A"] {
        c.get(&format!("/verify_2fa{q}"))
            .await
            .assert(StatusCode::OK, "Two-factor authentication");
    }
    let code = c.sms_code();
    c.post("/verify_2fa", &[("code", &code)])
        .await
        .redirect("/user/olga");
    c.get("/edit_profile")
        .await
        .assert(StatusCode::OK, "Edit profile");
}

#[tokio::test]
async fn anonymous_visitors_get_no_server_session() {
    let c = Client::new().await;
    let pages = [
        "/",
        "/login",
        "/register",
        "/reset_password_request",
        "/reset_password/not-a-token",
        "/logout",
        "/login?next=%2Fedit_profile",
        "/edit_profile",
        "/user/nobody",
        "/verify_2fa",
        "/no/such/page",
    ];
    for i in 0..1000 {
        let page = pages[i % pages.len()];
        let mut v = c.other();
        let r = v.get(page).await;
        assert!(!r.status.is_server_error(), "{page}: {}", r.status);
        assert_eq!(set_cookie(&r, "twofa_session"), None, "{page}");
        if r.status == StatusCode::OK && page != "/" {
            // A form page: its token comes with a nonce cookie.
            assert!(v.csrf.is_some(), "{page}");
            assert!(set_cookie(&r, "twofa_csrf").is_some(), "{page}");
        }
    }
    assert_eq!(c.sessions.len(), 0);
    // Forms a visitor may post without a login: a logout (of nobody, with
    // its flash message), a wrong password. Still no session stored.
    for i in 0..200 {
        let mut v = c.other();
        v.get("/logout").await.assert(StatusCode::OK, "Log out");
        v.post("/logout", &[]).await.redirect("/");
        v.get("/")
            .await
            .assert(StatusCode::OK, "You have been logged out");
        if i % 10 == 0 {
            v.get("/login").await;
            let r = v
                .post("/login", &[("username", "nobody"), ("password", "wrong")])
                .await;
            assert!(!r.status.is_server_error(), "{}", r.status);
        }
    }
    assert_eq!(c.sessions.len(), 0);
    assert_eq!(c.sessions.written(), Vec::<String>::new());
    // What needs a session still gets one: logging in works.
    let mut u = c.other();
    u.register("pia").await;
    u.login("pia").await.redirect("/user/pia");
    u.get("/edit_profile")
        .await
        .assert(StatusCode::OK, "Edit profile");
    assert_eq!(c.sessions.len(), 1, "the login session");
    u.post("/logout", &[]).await.redirect("/");
    u.get("/")
        .await
        .assert(StatusCode::OK, "You have been logged out");
    assert_eq!(c.sessions.len(), 0, "the flash was shown");
}

#[tokio::test]
async fn anonymous_csrf_token_must_match_the_nonce_cookie() {
    let mut a = Client::new().await;
    a.register("quin").await;
    let mut b = a.other();
    let a_token = a.token().await;
    let b_token = b.token().await;
    assert_ne!(a_token, b_token);
    let a_nonce = a.cookies["twofa_csrf"].clone();
    let form = |t: &str| format!("csrf_token={t}&username=quin&password=x");
    // Missing, forged, another visitor's, the nonce itself: 403.
    for body in [
        "username=quin&password=x".to_owned(),
        form("forged"),
        form(""),
        form(&b_token),
        form(&a_nonce),
    ] {
        a.post_raw("/login", &body)
            .await
            .assert(StatusCode::FORBIDDEN, "Form expired");
    }
    // The right token without its cookie: 403.
    let mut bare = a.other();
    bare.post_raw("/login", &form(&a_token))
        .await
        .assert(StatusCode::FORBIDDEN, "Form expired");
    // A forged nonce cookie with someone else's token: 403.
    bare.cookies.insert("twofa_csrf".into(), "A".repeat(43));
    bare.post_raw("/login", &form(&a_token))
        .await
        .assert(StatusCode::FORBIDDEN, "Form expired");
    // Another instance (another secret key) does not take this one's tokens.
    let mut other_site = Client::new().await;
    other_site.cookies = a.cookies.clone();
    other_site
        .post_raw("/login", &form(&a_token))
        .await
        .assert(StatusCode::FORBIDDEN, "Form expired");
    // The right pair passes the check (and reaches the login handler).
    a.post_raw("/login", &form(&a_token))
        .await
        .assert(StatusCode::UNAUTHORIZED, "Invalid username or password");

    // Logged in, only the session's token counts.
    a.login("quin").await.redirect("/user/quin");
    a.post_raw("/logout", &format!("csrf_token={a_token}"))
        .await
        .assert(StatusCode::FORBIDDEN, "Form expired");
    a.get("/edit_profile")
        .await
        .assert(StatusCode::OK, "Edit profile");
}

#[tokio::test]
async fn posts_must_be_url_encoded_forms() {
    let mut c = Client::new().await;
    c.register("rosa").await;
    let token = c.token().await;
    let body = format!(
        "csrf_token={token}&username=rosa&password={}",
        PW.replace(' ', "+")
    );
    for ct in [
        Some("application/json"),
        Some("multipart/form-data; boundary=x"),
        Some("text/plain"),
        Some("text/plain; charset=UTF-8"),
        Some("application/x-www-form-urlencoded-x"),
        Some("not a media type"),
        None,
    ] {
        let r = c.post_as("/login", ct, &body).await;
        r.assert(StatusCode::FORBIDDEN, "Form expired");
        assert!(r.body.contains("<html"), "a page: {ct:?}");
        // Refused before the handler: nobody was logged in.
        c.get("/edit_profile")
            .await
            .redirect("/login?next=%2Fedit_profile");
    }
    // Other POST routes too, whatever the CSRF token.
    for path in ["/register", "/reset_password_request"] {
        c.post_as(path, Some("application/json"), "{}")
            .await
            .assert(StatusCode::FORBIDDEN, "Form expired");
    }
    // Parameters and letter case do not matter.
    for ct in [
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/X-WWW-Form-URLEncoded",
    ] {
        let mut b = c.other();
        let token = b.token().await;
        let body = format!(
            "csrf_token={token}&username=rosa&password={}",
            PW.replace(' ', "+")
        );
        b.post_as("/login", Some(ct), &body)
            .await
            .redirect("/user/rosa");
    }
}

// ------------------------------------------- who is asking, registration

/// A state with this policy (and email-confirmed registration when asked).
async fn site(policy: twofa_verify::Policy, confirm_email: bool, trust_proxy: bool) -> Client {
    let state = axum_app::state_for_tests_with(
        demo_support::Options {
            policy: Some(policy),
            confirm_email,
            ..Default::default()
        },
        axum_app::Config {
            trust_proxy,
            ..axum_app::Config::for_tests()
        },
    )
    .await
    .unwrap();
    Client::with_state(state)
}

fn hourly(max: u32) -> twofa_verify::RateLimit {
    twofa_verify::RateLimit::new(max, std::time::Duration::from_secs(3600))
}

/// The outbox once it holds `n` emails (they are sent in the background).
async fn mails(c: &Client, n: usize) -> Vec<demo_support::SentMail> {
    let outbox = c.state.mailer.console().unwrap().clone();
    for _ in 0..500 {
        let all = outbox.messages();
        if all.len() >= n {
            return all;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("expected {n} emails, got {:?}", outbox.messages());
}

/// The path of the confirmation link in an email.
fn confirm_path(body: &str) -> String {
    let prefix = "http://127.0.0.1:8000/confirm_email/";
    let start = body.find(prefix).expect("a confirmation link");
    let link = body[start..].split_whitespace().next().unwrap();
    link["http://127.0.0.1:8000".len()..].to_owned()
}

/// The page with every CSRF token replaced by the same text.
fn without_csrf_tokens(body: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let (mut out, mut rest) = (String::new(), body);
    while let Some(i) = rest.find(marker) {
        let start = i + marker.len();
        out.push_str(&rest[..start]);
        out.push_str("TOKEN");
        rest = &rest[start + rest[start..].find('"').unwrap()..];
    }
    out.push_str(rest);
    out
}

/// Every field of the register form (a site that confirms addresses reads
/// only the username and the address).
fn registration<'a>(username: &'a str, email: &'a str) -> [(&'a str, &'a str); 6] {
    [
        ("username", username),
        ("first_name", "Ann"),
        ("last_name", "Example"),
        ("email", email),
        ("password", PW),
        ("password2", PW),
    ]
}

/// Opens a confirmation link (the page asks for the names and the
/// password), then posts its form with `password`.
async fn confirm(c: &mut Client, link: &str, password: &str) -> Resp {
    c.get(link)
        .await
        .assert(StatusCode::OK, "Finish creating your account");
    c.post(
        link,
        &[
            ("first_name", "Ann"),
            ("last_name", "Example"),
            ("password", password),
            ("password2", password),
        ],
    )
    .await
}

#[tokio::test]
async fn confirmed_registration_answers_new_and_taken_addresses_alike() {
    let mut owner = site(Default::default(), true, false).await;
    assert_eq!(
        owner.state.auth.policy().registration,
        twofa_verify::Registration::EmailConfirmed
    );
    // The first account, through its link.
    owner
        .post("/register", &registration("owner", "owner@example.com"))
        .await
        .assert(
            StatusCode::OK,
            "Check your inbox: we sent a link to confirm your address",
        );
    let link = confirm_path(&mails(&owner, 1).await[0].body);
    owner
        .login("owner")
        .await
        .assert(StatusCode::UNAUTHORIZED, "Invalid username or password");
    confirm(&mut owner, &link, PW).await.redirect("/login");
    owner.get("/login").await.assert(
        StatusCode::OK,
        "Your address is confirmed and your account is ready",
    );
    owner.login("owner").await.redirect("/user/owner");

    // A new and a taken address, each from a fresh browser: the same answer.
    let mut newbie = owner.other();
    let new = newbie
        .post("/register", &registration("newbie", "newbie@example.com"))
        .await;
    let mut mallory = owner.other();
    let taken = mallory
        .post("/register", &registration("mallory", "OWNER@example.com"))
        .await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.body);
    assert_eq!(taken.status, new.status);
    assert_eq!(
        without_csrf_tokens(&taken.body),
        without_csrf_tokens(&new.body)
    );
    let names = |r: &Resp| {
        r.headers
            .keys()
            .map(|k| k.as_str().to_owned())
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(names(&taken), names(&new));
    assert!(!new.body.contains("newbie@example.com"));

    // A link for the new address, a notice (no link) for the taken one.
    let all = mails(&owner, 3).await;
    assert_eq!(all.len(), 3, "{all:?}");
    let to_new = all.iter().find(|m| m.to == "newbie@example.com").unwrap();
    let notice = &all[1..]
        .iter()
        .find(|m| m.to == "owner@example.com")
        .expect("a notice to the owner");
    assert!(
        notice.body.contains("Someone tried to register"),
        "{notice:?}"
    );
    assert!(notice.body.contains("/reset_password_request"));
    assert!(!notice.body.contains("/confirm_email/"));
    // Nothing was created for the taken address.
    mallory
        .login("mallory")
        .await
        .assert(StatusCode::UNAUTHORIZED, "Invalid username or password");

    // The link creates the account, once; it does not log anyone in.
    let link = confirm_path(&to_new.body);
    newbie
        .login("newbie")
        .await
        .assert(StatusCode::UNAUTHORIZED, "Invalid username or password");
    confirm(&mut newbie, &link, PW).await.redirect("/login");
    newbie
        .get("/edit_profile")
        .await
        .redirect("/login?next=%2Fedit_profile");
    newbie.login("newbie").await.redirect("/user/newbie");
    let mut again = owner.other();
    let r = again.get(&link).await;
    r.assert(StatusCode::CONFLICT, "already confirmed")
        .assert(StatusCode::CONFLICT, "Please log in");
    assert!(r.body.contains("href=\"/login\""), "{}", r.body);
    again
        .get("/confirm_email/garbage")
        .await
        .assert(StatusCode::BAD_REQUEST, "Link not valid");
    // A taken username is still said to be taken.
    again
        .post("/register", &registration("Owner", "someone@example.com"))
        .await
        .assert(StatusCode::CONFLICT, "username is already taken");
}

#[tokio::test]
async fn a_burst_from_one_client_is_cut_at_its_failure_budget() {
    let mut policy = twofa_verify::Policy::default();
    policy.client_failures = twofa_verify::RateLimit::new(10, std::time::Duration::from_secs(900));
    let mut sam = site(policy, false, false).await;
    sam.register("sam").await;

    // 30 wrong passwords for 30 names, all at once, from one address.
    let mut attacker = sam.other().at_peer("203.0.113.5:40000");
    let token = attacker.token().await;
    let requests: Vec<_> = (0..30)
        .map(|i| {
            let name = format!("user{i}");
            let body = serde_urlencoded::to_string([
                ("csrf_token", token.as_str()),
                ("username", &name),
                ("password", "wrong password"),
            ])
            .unwrap();
            let req = attacker
                .request("POST", "/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap();
            let router = attacker.router.clone();
            async move { read(router.oneshot(req).await.unwrap()).await }
        })
        .collect();
    let answers = futures::future::join_all(requests).await;
    let count = |s: StatusCode| answers.iter().filter(|r| r.status == s).count();
    assert_eq!(count(StatusCode::UNAUTHORIZED), 10);
    assert_eq!(count(StatusCode::SEE_OTHER), 20);
    for r in &answers {
        if r.status == StatusCode::SEE_OTHER {
            r.redirect("/login");
            assert!(r.headers.contains_key(header::RETRY_AFTER));
        } else {
            r.assert(StatusCode::UNAUTHORIZED, "Invalid username or password");
        }
    }
    // The address is spent, even for a right password...
    let r = attacker.login("sam").await;
    attacker
        .expect_wait(
            &r,
            "/login",
            "Too many failed attempts from your network. You can try again",
        )
        .await
        .assert(StatusCode::OK, "value=\"sam\"");
    // ...while another address logs in, and so does a request with no
    // address at all (no per-client limit then).
    sam.other()
        .at_peer("198.51.100.7:50000")
        .login("sam")
        .await
        .redirect("/user/sam");
    sam.other().login("sam").await.redirect("/user/sam");
}

/// A wrong password for `name`, with this `X-Forwarded-For`.
async fn wrong_login(c: &mut Client, xff: Option<&str>, name: &str) -> StatusCode {
    c.forwarded_for = xff.map(str::to_owned);
    c.post(
        "/login",
        &[("username", name), ("password", "wrong password")],
    )
    .await
    .status
}

#[tokio::test]
async fn x_forwarded_for_counts_only_behind_a_trusted_proxy() {
    let mut policy = twofa_verify::Policy::default();
    policy.client_failures = hourly(1);
    // Not trusted (the default): the header is ignored; the socket counts.
    let mut c = site(policy.clone(), false, false)
        .await
        .at_peer("10.0.0.1:1000");
    assert_eq!(
        wrong_login(&mut c, Some("192.0.2.1"), "a").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        wrong_login(&mut c, Some("192.0.2.2"), "b").await,
        StatusCode::SEE_OTHER
    );

    // Trusted: the right-most address, the one the proxy appended.
    let mut p = site(policy, false, true).await.at_peer("10.0.0.1:1000");
    let cases = [
        (Some("198.51.100.1, 192.0.2.1"), StatusCode::UNAUTHORIZED),
        // The same client writing anything to the left: the same budget.
        (Some("203.0.113.99, 192.0.2.1"), StatusCode::SEE_OTHER),
        (Some("192.0.2.1"), StatusCode::SEE_OTHER),
        // Another client behind the same proxy.
        (Some("192.0.2.1, 192.0.2.2"), StatusCode::UNAUTHORIZED),
        // Unparsable, then absent: the socket's address (the proxy's).
        (Some("not an address"), StatusCode::UNAUTHORIZED),
        (None, StatusCode::SEE_OTHER),
    ];
    for (i, (xff, want)) in cases.into_iter().enumerate() {
        let got = wrong_login(&mut p, xff, &format!("user{i}")).await;
        assert_eq!(got, want, "X-Forwarded-For {xff:?}");
    }
}

#[tokio::test]
async fn per_client_refusals_are_friendly_form_pages() {
    let mut policy = twofa_verify::Policy::default();
    policy.client_registrations = hourly(1);
    policy.client_reset_requests = hourly(1);
    policy.client_sms = hourly(1);
    let friendly = "Too many requests. You can try again";

    let mut c = site(policy.clone(), false, false)
        .await
        .at_peer("203.0.113.9:1234");
    c.register("uma").await;
    // Every refusal is the form's own page, reached by a redirect, with
    // what was typed in it (but the password).
    let r = c
        .post("/register", &registration("vic", "vic@example.com"))
        .await;
    let page = c.expect_wait(&r, "/register", friendly).await;
    page.assert(StatusCode::OK, "action=\"/register\"")
        .assert(StatusCode::OK, "value=\"vic\"")
        .assert(StatusCode::OK, "value=\"vic@example.com\"");
    assert!(!page.body.contains(PW), "{}", page.body);
    // Shown once: a reload shows the empty form.
    let again = c.get("/register").await;
    assert!(!again.body.contains("value=\"vic\""), "{}", again.body);
    assert!(!again.body.contains(friendly), "{}", again.body);

    c.post("/reset_password_request", &[("email", "uma@example.com")])
        .await
        .redirect("/login");
    let r = c
        .post(
            "/reset_password_request",
            &[("email", "nobody@example.com")],
        )
        .await;
    c.expect_wait(&r, "/reset_password_request", friendly)
        .await
        .assert(StatusCode::OK, "action=\"/reset_password_request\"");

    c.login("uma").await.redirect("/user/uma");
    c.post("/enable_2fa", &[("phone", PHONE), ("password", PW)])
        .await
        .redirect("/enable_2fa/verify");
    let r = c
        .post(
            "/enable_2fa",
            &[
                ("phone", "415 555 2672"),
                ("country", "US"),
                ("password", PW),
            ],
        )
        .await;
    c.expect_wait(&r, "/enable_2fa", "You can ask for a new code")
        .await
        .assert(StatusCode::OK, "action=\"/enable_2fa\"")
        .assert(StatusCode::OK, "value=\"415 555 2672\"");

    // With confirmed registration too.
    let mut d = site(policy, true, false).await.at_peer("203.0.113.9:1234");
    d.post("/register", &registration("wes", "wes@example.com"))
        .await
        .assert(StatusCode::OK, "Check your inbox");
    let r = d
        .post("/register", &registration("xia", "xia@example.com"))
        .await;
    d.expect_wait(&r, "/register", friendly)
        .await
        .assert(StatusCode::OK, "value=\"xia\"");
}
/// Waits for a security notice to `to` whose body says `what`.
async fn notice_to(c: &Client, to: &str, what: &str) -> demo_support::SentMail {
    let outbox = c.state.mailer.console().unwrap().clone();
    for _ in 0..200 {
        if let Some(m) = outbox
            .messages()
            .into_iter()
            .find(|m| m.to == to && m.subject.contains("Security notice") && m.body.contains(what))
        {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no notice {what:?} to {to}: {:#?}", outbox.messages());
}

mod activity;
mod credential_changes;
mod edges;
mod sessions;

mod flask_import;
mod profile_data;

mod confirm_email;
mod hostile;
mod mail_budget;
mod metrics;
#[cfg(feature = "passkeys")]
mod passkeys;
mod require_2fa;
mod ux;
#[cfg(feature = "twilio")]
mod voice_fallback;
