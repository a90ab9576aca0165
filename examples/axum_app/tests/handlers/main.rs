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

/// The `Set-Cookie` header of the response for cookie `name`.
fn set_cookie(r: &Resp, name: &str) -> Option<String> {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
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
mod clients;
mod credential_changes;
mod edges;
mod factor_flows;
mod hardened;
mod pages;
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
