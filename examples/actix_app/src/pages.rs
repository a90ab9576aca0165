//! The pages: minimal HTML, one form each.

use actix_session::Session;
use actix_web::cookie::Cookie;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;
use twofa_verify::Login;

use super::{
    AppError, CSRF, NEXT, PENDING, Site, after_login, check_csrf, current_user, form_token, log_in,
    see_other,
};

/// Text for HTML: the five characters that matter escaped.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A page with `body`, and the CSRF nonce cookie when one is new.
fn page(title: &str, body: &str, cookie: Option<Cookie<'static>>) -> HttpResponse {
    let mut resp = HttpResponse::Ok();
    if let Some(c) = cookie {
        resp.cookie(c);
    }
    resp.content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html><title>{t}</title><h1>{t}</h1>{body}",
        t = esc(title)
    ))
}

/// A form posting `fields` (HTML) and the CSRF token to `action`.
fn form(action: &str, token: &str, fields: &str, button: &str) -> String {
    format!(
        r#"<form method="post" action="{action}"><input type="hidden" name="csrf_token" value="{token}">{fields}<button>{button}</button></form>"#,
        token = esc(token),
    )
}

pub async fn index(site: web::Data<Site>, session: Session) -> Result<HttpResponse, AppError> {
    Ok(match current_user(&site, &session).await? {
        Some(_) => see_other("/profile"),
        None => see_other("/login"),
    })
}

pub async fn register_form(
    site: web::Data<Site>,
    req: HttpRequest,
    session: Session,
) -> Result<HttpResponse, AppError> {
    let (token, cookie) = form_token(&site, &req, &session)?;
    let fields = r#"<input name="username" placeholder="username"><input name="email" placeholder="email"><input name="password" type="password" placeholder="password">"#;
    Ok(page(
        "Register",
        &form("/register", &token, fields, "Register"),
        cookie,
    ))
}

#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    csrf_token: String,
    username: String,
    email: String,
    password: String,
}

pub async fn register(
    site: web::Data<Site>,
    req: HttpRequest,
    session: Session,
    web::Form(f): web::Form<RegisterForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&site, &req, &session, &f.csrf_token)?;
    site.auth_for(&req)
        .register(&f.username, &f.email, &SecretString::from(f.password))
        .await?;
    Ok(see_other("/login"))
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_form(
    site: web::Data<Site>,
    req: HttpRequest,
    session: Session,
    web::Query(q): web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    let (token, cookie) = form_token(&site, &req, &session)?;
    let next = q.next.unwrap_or_default();
    let fields = format!(
        r#"<input name="username" placeholder="username or email"><input name="password" type="password" placeholder="password"><input type="hidden" name="next" value="{}">"#,
        esc(&next)
    );
    Ok(page(
        "Log in",
        &form("/login", &token, &fields, "Log in"),
        cookie,
    ))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf_token: String,
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn login(
    site: web::Data<Site>,
    req: HttpRequest,
    session: Session,
    web::Form(f): web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&site, &req, &session, &f.csrf_token)?;
    let auth = site.auth_for(&req);
    match auth
        .login(&f.username, &SecretString::from(f.password))
        .await?
    {
        Login::Complete(user) => {
            log_in(&site, &session, &user)?;
            Ok(after_login(f.next.as_deref()))
        }
        Login::SecondFactor(challenge) => {
            // Half logged in: a new session id, the challenge, nobody's
            // user; the code page finishes the login.
            session.renew();
            session.remove(super::USER);
            session.insert(PENDING, challenge.token())?;
            session.insert(NEXT, f.next)?;
            session.insert(CSRF, twofa_verify::web::csrf::session_token())?;
            Ok(see_other("/code"))
        }
        // A second factor is required of this account, within its grace:
        // signed in; the profile says so.
        Login::EnrollSoon { user, .. } => {
            log_in(&site, &session, &user)?;
            Ok(after_login(f.next.as_deref()))
        }
        // The grace is over: no session. This small app has no enrollment
        // pages (the axum demo's /enroll_2fa is the full version).
        Login::EnrollmentRequired(_) => Ok(HttpResponse::Forbidden()
            .content_type("text/html; charset=utf-8")
            .body(format!(
                "<!doctype html><title>Two-factor authentication required</title>\
                 <h1>Two-factor authentication required</h1><p>{}</p>",
                esc(
                    "This account must turn on two-factor authentication before it can sign in, \
                     and its grace period is over. Set it up on the main site, or ask support."
                )
            ))),
        // `Login` is non-exhaustive: an outcome this app does not know is
        // no login.
        _ => Err(twofa_verify::Error::InvalidCredentials.into()),
    }
}

pub async fn code_form(
    site: web::Data<Site>,
    req: HttpRequest,
    session: Session,
) -> Result<HttpResponse, AppError> {
    if super::pending(&session)?.is_none() {
        return Ok(see_other("/login"));
    }
    let (token, cookie) = form_token(&site, &req, &session)?;
    let fields = r#"<input name="code" autocomplete="one-time-code" placeholder="code from the SMS, your app, or a recovery code">"#;
    Ok(page(
        "Enter your code",
        &form("/code", &token, fields, "Verify"),
        cookie,
    ))
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf_token: String,
    code: String,
}

pub async fn code(
    site: web::Data<Site>,
    req: HttpRequest,
    session: Session,
    web::Form(f): web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&site, &req, &session, &f.csrf_token)?;
    let Some(token) = super::pending(&session)? else {
        return Ok(see_other("/login"));
    };
    let verification = site
        .auth_for(&req)
        .verify(&token, &SecretString::from(f.code))
        .await?;
    let next = session.get::<Option<String>>(NEXT)?.flatten();
    session.remove(NEXT);
    log_in(&site, &session, &verification.user)?;
    Ok(after_login(next.as_deref()))
}

pub async fn profile(
    site: web::Data<Site>,
    req: HttpRequest,
    session: Session,
) -> Result<HttpResponse, AppError> {
    let Some(user) = current_user(&site, &session).await? else {
        return Ok(see_other("/login?next=%2Fprofile"));
    };
    let (token, cookie) = form_token(&site, &req, &session)?;
    let body = format!(
        "<p>Logged in as <b>{}</b> ({}).</p>{}",
        esc(&user.username),
        esc(&user.email),
        form("/logout", &token, "", "Log out")
    );
    Ok(page("Profile", &body, cookie))
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

pub async fn logout(
    site: web::Data<Site>,
    req: HttpRequest,
    session: Session,
    web::Form(f): web::Form<LogoutForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&site, &req, &session, &f.csrf_token)?;
    session.purge();
    Ok(see_other("/login"))
}
