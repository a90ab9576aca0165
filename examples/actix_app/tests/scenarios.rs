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
    headers: actix_web::http::header::HeaderMap,
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
        let headers = resp.headers().clone();
        let body = test::read_body(resp).await;
        Page {
            status,
            location,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
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
    site_at("http://localhost")
}

fn site_at(url: &str) -> Site {
    Site::with_sms(
        SecretKey::generate(),
        url,
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
                .wrap(actix_app::security_headers())
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
    // The thief's copy is the old session id: still nobody, and no
    // longer pending either (the login deleted it).
    assert_eq!(
        thief.get(&app, "/profile").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        thief.get(&app, "/code").await.location.as_deref(),
        Some("/login")
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
        ("%2F%2Fevil.example", "/profile"),
        ("/%5C%5Cevil.example", "/profile"),
        ("https:evil.example", "/profile"),
        ("/\t/evil.example", "/profile"),
        ("/\u{2215}/evil.example", "/profile"),
        ("\u{FF0F}\u{FF0F}evil.example", "/profile"),
        (
            "/%EF%BC%8F%EF%BC%8Fevil.example",
            "/%EF%BC%8F%EF%BC%8Fevil.example",
        ),
        ("/profile\r\nSet-Cookie: x=1", "/profile"),
        (&format!("/{}", "a".repeat(600)), "/profile"),
        ("/profile?x=1", "/profile?x=1"),
    ] {
        let mut jar = Jar::default();
        let r = jar.login(&app, "alice", next).await;
        assert_eq!(r.location.as_deref(), Some(to), "{next:?}");
    }
}

/// The headers every answer carries, error answers included.
fn assert_security_headers(page: &Page, what: &str) {
    let h = |k: &str| {
        page.headers
            .get(k)
            .unwrap_or_else(|| panic!("{what}: no {k} in {:?}", page.headers))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(h("content-security-policy"), actix_app::CSP, "{what}");
    assert_eq!(h("x-frame-options"), "DENY", "{what}");
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(h("cache-control"), "no-store", "{what}");
}

#[actix_web::test]
async fn every_answer_carries_the_security_headers() {
    let site = site();
    let app = service!(site);
    user(&site, "alice").await;
    let mut jar = Jar::default();
    let page = jar.get(&app, "/login").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_security_headers(&page, "a page");
    let r = jar.get(&app, "/profile").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_security_headers(&r, "a redirect");
    let r = jar.post_raw(&app, "/login", &[("username", "a")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_security_headers(&r, "400");
    let r = jar
        .post_raw(&app, "/login", &[("username", "a"), ("password", "b")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_security_headers(&r, "403");
    let r = jar
        .post(
            &app,
            "/login",
            "/login",
            &[("username", "alice"), ("password", "wrong wrong")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_security_headers(&r, "401");
    let r = jar.get(&app, "/no/such/page").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_security_headers(&r, "404");
    let big = "a".repeat(64 * 1024);
    let r = jar
        .post_raw(&app, "/login", &[("username", &big), ("password", "b")])
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_security_headers(&r, "413");
}

/// Session fixation: a session id planted in the victim's browser (the
/// attacker's own logged-in session) is replaced at the password step and
/// at the code, and every id of before is dead afterwards.
#[actix_web::test]
async fn planted_and_earlier_session_ids_never_carry_a_login() {
    let site = site();
    let app = service!(site);
    let alice = user(&site, "alice").await;
    with_sms(&site, &alice).await;
    user(&site, "mallory").await;
    let mut mallory = Jar::default();
    assert_eq!(
        mallory.login(&app, "mallory", "").await.location.as_deref(),
        Some("/profile")
    );
    let planted = mallory.cookies.clone();

    let mut victim = Jar {
        cookies: planted.clone(),
        last_set: Vec::new(),
    };
    let r = victim.login(&app, "alice", "").await;
    assert_eq!(r.location.as_deref(), Some("/code"));
    let pending = victim.cookies.clone();
    assert_ne!(pending.get("twofa_session"), planted.get("twofa_session"));
    let code = site.sms.last_code_for(PHONE).unwrap();
    let r = victim
        .post(&app, "/code", "/code", &[("code", &code)])
        .await;
    assert_eq!(r.location.as_deref(), Some("/profile"));
    assert_ne!(
        victim.cookies.get("twofa_session"),
        pending.get("twofa_session")
    );
    let page = victim.get(&app, "/profile").await;
    assert!(page.body.contains("alice@example.com"), "{}", page.body);
    for (what, cookies) in [("planted", planted), ("pending", pending)] {
        let mut old = Jar {
            cookies,
            last_set: Vec::new(),
        };
        assert_eq!(
            old.get(&app, "/profile").await.status,
            StatusCode::SEE_OTHER,
            "{what}"
        );
        assert_eq!(
            old.get(&app, "/code").await.location.as_deref(),
            Some("/login"),
            "{what}"
        );
    }
}

/// Over https every cookie is `__Host-`, `Secure`, `HttpOnly`,
/// `SameSite=Lax`, `Path=/`, and so is the logout's removal (or browsers
/// would ignore it and keep the cookie).
#[actix_web::test]
async fn https_cookies_are_host_only_and_removed_for_real() {
    let site = site_at("https://site.example");
    let app = service!(site);
    user(&site, "alice").await;
    let mut jar = Jar::default();
    jar.get(&app, "/login").await;
    let host_only = |line: &str| {
        let c = Cookie::parse(line.to_owned()).unwrap();
        assert!(c.name().starts_with("__Host-"), "{line}");
        assert_eq!(c.secure(), Some(true), "{line}");
        assert_eq!(c.http_only(), Some(true), "{line}");
        assert_eq!(c.path(), Some("/"), "{line}");
        assert_eq!(c.domain(), None, "{line}");
        assert_eq!(
            c.same_site(),
            Some(actix_web::cookie::SameSite::Lax),
            "{line}"
        );
    };
    assert_eq!(jar.last_set.len(), 1, "{:?}", jar.last_set);
    host_only(&jar.last_set[0]);
    let r = jar.login(&app, "alice", "").await;
    assert_eq!(r.location.as_deref(), Some("/profile"));
    assert_eq!(jar.last_set.len(), 1, "{:?}", jar.last_set);
    host_only(&jar.last_set[0]);
    let r = jar.post(&app, "/profile", "/logout", &[]).await;
    assert_eq!(r.location.as_deref(), Some("/login"));
    assert_eq!(jar.last_set.len(), 1, "{:?}", jar.last_set);
    host_only(&jar.last_set[0]);
    assert!(!jar.cookies.contains_key("__Host-twofa_session"));
}

/// Hostile input: NUL and control characters, huge fields, bodies that are
/// not UTF-8 or not forms. Each is a 4xx, never a 500, and nobody logs in.
#[actix_web::test]
async fn hostile_input_is_a_4xx_never_a_500() {
    let site = site();
    let app = service!(site);
    user(&site, "alice").await;
    let long = "a".repeat(12 * 1024);
    for (name, password) in [
        ("alice\0", GOOD),
        ("\0", GOOD),
        ("alice", "correct horse\0battery"),
        ("al\u{202e}ice", GOOD),
        ("", ""),
        (long.as_str(), GOOD),
        ("alice", long.as_str()),
        ("alice\r\nSet-Cookie: x=1", GOOD),
    ] {
        let mut jar = Jar::default();
        let r = jar
            .post(
                &app,
                "/login",
                "/login",
                &[("username", name), ("password", password)],
            )
            .await;
        assert!(
            r.status.is_client_error(),
            "{:?}: {} {}",
            &name[..name.len().min(20)],
            r.status,
            r.body
        );
        assert!(!jar.cookies.contains_key("twofa_session"));
    }
    let mut jar = Jar::default();
    let token = token_in(&jar.get(&app, "/login").await.body);
    for (body, content_type) in [
        (
            b"username=al\xffice&password=x".to_vec(),
            "application/x-www-form-urlencoded",
        ),
        (
            b"username=alice&password=%FF%FE".to_vec(),
            "application/x-www-form-urlencoded",
        ),
        (b"%%%%&&&==".to_vec(), "application/x-www-form-urlencoded"),
        (vec![0; 1000], "application/x-www-form-urlencoded"),
        (b"{\"username\":\"alice\"}".to_vec(), "application/json"),
        (vec![b'a'; 10 << 20], "application/x-www-form-urlencoded"),
    ] {
        let mut body = body;
        body.extend_from_slice(format!("&csrf_token={token}").as_bytes());
        let r = jar
            .send(
                &app,
                test::TestRequest::post()
                    .uri("/login")
                    .insert_header((header::CONTENT_TYPE, content_type))
                    .set_payload(body),
            )
            .await;
        assert!(r.status.is_client_error(), "{content_type}: {}", r.status);
    }
    assert!(!jar.cookies.contains_key("twofa_session"));
    // The `next` of the login page is text in an attribute, never markup.
    let page = jar
        .get(
            &app,
            "/login?next=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        )
        .await;
    assert!(!page.body.contains("<script>"), "{}", page.body);
    assert!(
        page.body.contains("&quot;&gt;&lt;script&gt;"),
        "{}",
        page.body
    );
}

/// Pages show the CSRF token masked (BREACH): two renders of a form
/// differ, and both work, before the login and after it.
#[actix_web::test]
async fn forms_show_the_token_masked_every_time() {
    let site = site();
    let app = service!(site);
    user(&site, "alice").await;
    let mut jar = Jar::default();
    let first = token_in(&jar.get(&app, "/login").await.body);
    let second = token_in(&jar.get(&app, "/login").await.body);
    assert_ne!(first, second);
    for token in [&first, &second] {
        let r = jar
            .post_raw(
                &app,
                "/login",
                &[
                    ("username", "alice"),
                    ("password", "wrong wrong"),
                    ("csrf_token", token),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "accepted, then refused");
    }
    jar.login(&app, "alice", "").await;
    let first = token_in(&jar.get(&app, "/profile").await.body);
    let second = token_in(&jar.get(&app, "/profile").await.body);
    assert_ne!(first, second);
    // A POST of the code form without a pending login changes nothing:
    // past the CSRF check, it sends the visitor to the login page.
    for token in [&first, &second] {
        let r = jar
            .post_raw(&app, "/code", &[("code", "000000"), ("csrf_token", token)])
            .await;
        assert_eq!(r.location.as_deref(), Some("/login"), "{}", r.body);
    }
    let r = jar
        .post_raw(
            &app,
            "/code",
            &[("code", "000000"), ("csrf_token", "forged")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

/// A second factor required with one sign-in of grace: the first login
/// signs in (the profile opens), the next is a 403 page that says why and
/// leaves no session.
#[actix_web::test]
async fn a_required_second_factor_signs_in_during_the_grace_only() {
    let mut policy = twofa_verify::Policy::default();
    policy.second_factor_required =
        Some(twofa_verify::policy::SecondFactorRequirement::everyone().grace_sign_ins(1));
    let site = Site::with_policy(
        SecretKey::generate(),
        "http://localhost",
        twofa_verify::ConsoleSms::quiet(),
        policy,
    )
    .unwrap();
    let app = service!(site);
    user(&site, "erin").await;
    let mut jar = Jar::default();
    let r = jar.login(&app, "erin", "").await;
    assert_eq!(r.location.as_deref(), Some("/profile"));
    assert_eq!(jar.get(&app, "/profile").await.status, StatusCode::OK);

    let mut later = Jar::default();
    let r = later.login(&app, "erin", "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("grace period is over"), "{}", r.body);
    assert_eq!(
        later.get(&app, "/profile").await.location.as_deref(),
        Some("/login?next=%2Fprofile")
    );
}
