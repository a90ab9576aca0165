//! The actix site over HTTP, as the axum integration tests drive theirs:
//! login with and without a second factor, CSRF refused, logout ends the
//! session, a stolen pre-2FA session cannot reach the profile, open
//! redirects refused.

use std::collections::HashMap;

use actix_app::Site;
use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::cookie::Cookie;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::{App, test};
use secrecy::SecretString;
use twofa_verify::{SecretKey, StepUp, User};

const GOOD: &str = "correct horse battery";
const PHONE: &str = "+14155552671";

/// A browser: its cookies, and the `Set-Cookie` lines it last got.
#[derive(Default, Clone)]
struct Jar {
    cookies: HashMap<String, String>,
    last_set: Vec<String>,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Jar {
    async fn send<S, B>(&mut self, app: &S, mut req: test::TestRequest) -> Page
    where
        S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        if !self.cookies.is_empty() {
            let line = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req = req.insert_header((header::COOKIE, line));
        }
        let resp = test::call_service(app, req.to_request()).await;
        self.last_set.clear();
        for v in resp.headers().get_all(header::SET_COOKIE) {
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
        let status = resp.status();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        let body = test::read_body(resp).await;
        Page {
            status,
            location,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    async fn get<S, B>(&mut self, app: &S, path: &str) -> Page
    where
        S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        self.send(app, test::TestRequest::get().uri(path)).await
    }

    /// A form POST with the CSRF token of the page `from`, as a browser
    /// sends it.
    async fn post<S, B>(&mut self, app: &S, from: &str, path: &str, fields: &[(&str, &str)]) -> Page
    where
        S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let page = self.get(app, from).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let token = token_in(&page.body);
        let mut all = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post_raw(app, path, &all).await
    }

    async fn post_raw<S, B>(&mut self, app: &S, path: &str, fields: &[(&str, &str)]) -> Page
    where
        S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        self.send(
            app,
            test::TestRequest::post()
                .uri(path)
                .set_form(fields.iter().copied().collect::<HashMap<_, _>>()),
        )
        .await
    }

    async fn login<S, B>(&mut self, app: &S, name: &str, next: &str) -> Page
    where
        S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        self.post(
            app,
            "/login",
            "/login",
            &[("username", name), ("password", GOOD), ("next", next)],
        )
        .await
    }
}

/// The hidden CSRF field's value in a page.
fn token_in(body: &str) -> String {
    let start = body.find(r#"name="csrf_token" value=""#).unwrap() + 25;
    body[start..start + body[start..].find('"').unwrap()].to_owned()
}

fn site() -> Site {
    Site::with_sms(
        SecretKey::generate(),
        "http://localhost",
        twofa_verify::ConsoleSms::quiet(),
    )
    .unwrap()
}

/// The site as a test service.
macro_rules! service {
    ($site:expr) => {{
        let s = $site.clone();
        test::init_service(
            App::new()
                .wrap($site.sessions())
                .configure(move |cfg| s.configure(cfg)),
        )
        .await
    }};
}

async fn user(site: &Site, name: &str) -> User {
    site.auth
        .register(
            name,
            &format!("{name}@example.com"),
            &SecretString::from(GOOD),
        )
        .await
        .unwrap()
}

async fn with_sms(site: &Site, user: &User) {
    site.auth
        .start_sms_enrollment(user.id, PHONE, &StepUp::password(GOOD))
        .await
        .unwrap();
    let code = site.sms.last_code_for(PHONE).unwrap();
    let enrolled = site
        .auth
        .confirm_sms_enrollment(user.id, &SecretString::from(code.as_str()))
        .await
        .unwrap();
    assert!(
        enrolled.recovery_codes.is_some(),
        "the first factor brings recovery codes"
    );
}

#[actix_web::test]
async fn register_and_login_without_a_second_factor() {
    let site = site();
    let app = service!(site);
    let mut jar = Jar::default();
    assert_eq!(
        jar.get(&app, "/profile").await.location.as_deref(),
        Some("/login?next=%2Fprofile")
    );
    let r = jar
        .post(
            &app,
            "/register",
            "/register",
            &[
                ("username", "alice"),
                ("email", "alice@example.com"),
                ("password", GOOD),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/login"))
    );
    let r = jar.login(&app, "alice", "").await;
    assert_eq!(r.location.as_deref(), Some("/profile"));
    let set = jar.last_set.join("\n");
    assert!(
        set.contains("twofa_session=") && set.contains("HttpOnly"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain http: {set}");
    let page = jar.get(&app, "/profile").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("alice@example.com"), "{}", page.body);
    // A wrong password is a 401 with the library's text.
    let r = Jar::default()
        .post(
            &app,
            "/login",
            "/login",
            &[("username", "alice"), ("password", "wrong wrong wrong")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
}

#[actix_web::test]
async fn login_with_an_sms_code_and_a_stolen_pending_session() {
    let site = site();
    let app = service!(site);
    let alice = user(&site, "alice").await;
    with_sms(&site, &alice).await;
    let mut jar = Jar::default();
    let r = jar.login(&app, "alice", "/profile?tab=1").await;
    assert_eq!(r.location.as_deref(), Some("/code"));
    // The session of the password step, stolen: it reaches no profile.
    let mut thief = jar.clone();
    let r = thief.get(&app, "/profile").await;
    assert_eq!(r.location.as_deref(), Some("/login?next=%2Fprofile"));
    assert_eq!(
        jar.get(&app, "/profile").await.status,
        StatusCode::SEE_OTHER
    );
    // A wrong code: 401, the pending login goes on.
    let r = jar
        .post(&app, "/code", "/code", &[("code", "000000")])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let code = site.sms.last_code_for(PHONE).unwrap();
    let r = jar.post(&app, "/code", "/code", &[("code", &code)]).await;
    assert_eq!(r.location.as_deref(), Some("/profile?tab=1"), "{}", r.body);
    assert_eq!(jar.get(&app, "/profile").await.status, StatusCode::OK);
    // The thief's copy is the old session id: still nobody.
    assert_eq!(
        thief.get(&app, "/profile").await.status,
        StatusCode::SEE_OTHER
    );
}

#[actix_web::test]
async fn posts_without_the_right_token_are_refused() {
    let site = site();
    let app = service!(site);
    user(&site, "alice").await;
    let mut jar = Jar::default();
    let login = [("username", "alice"), ("password", GOOD)];
    // No token, a made-up one, another browser's: 403, and nobody logs in.
    let r = jar.post_raw(&app, "/login", &login).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = jar
        .post_raw(
            &app,
            "/login",
            &[login[0], login[1], ("csrf_token", "forged")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let mut other = Jar::default();
    let page = other.get(&app, "/login").await;
    let foreign = token_in(&page.body);
    let r = jar
        .post_raw(
            &app,
            "/login",
            &[login[0], login[1], ("csrf_token", &foreign)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Logged in, the anonymous token of the login page no longer serves.
    assert_eq!(
        jar.login(&app, "alice", "").await.status,
        StatusCode::SEE_OTHER
    );
    let stale = token_in(&other.get(&app, "/login").await.body);
    let nonce = other.cookies.get("twofa_csrf").unwrap().clone();
    jar.cookies.insert("twofa_csrf".into(), nonce);
    let r = jar
        .post_raw(&app, "/logout", &[("csrf_token", &stale)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(jar.get(&app, "/profile").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn logout_ends_the_session() {
    let site = site();
    let app = service!(site);
    user(&site, "alice").await;
    let mut jar = Jar::default();
    jar.login(&app, "alice", "").await;
    let copy = jar.clone();
    let r = jar.post(&app, "/profile", "/logout", &[]).await;
    assert_eq!(r.location.as_deref(), Some("/login"));
    assert_eq!(
        jar.get(&app, "/profile").await.status,
        StatusCode::SEE_OTHER
    );
    // The cookie from before the logout names a deleted session.
    let mut copy = copy;
    assert_eq!(
        copy.get(&app, "/profile").await.status,
        StatusCode::SEE_OTHER
    );
}

#[actix_web::test]
async fn open_redirects_are_refused() {
    let site = site();
    let app = service!(site);
    user(&site, "alice").await;
    for (next, to) in [
        ("https://evil.example/", "/profile"),
        ("//evil.example", "/profile"),
        ("/%2F/evil.example", "/profile"),
        ("/\\evil.example", "/profile"),
        ("/profile?x=1", "/profile?x=1"),
    ] {
        let mut jar = Jar::default();
        let r = jar.login(&app, "alice", next).await;
        assert_eq!(r.location.as_deref(), Some(to), "{next:?}");
    }
}
