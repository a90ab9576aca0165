//! Register, log in (remember me, remembered devices), the second factor,
//! log out.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use minijinja::{Value, context};
use serde::Deserialize;
use twofa_verify::axum::tower_sessions::cookie::{Cookie, SameSite, time::OffsetDateTime};
use twofa_verify::axum::{PendingLogin, cookie_name};
use twofa_verify::secrecy::SecretString;
use twofa_verify::{Error as AuthError, Factor, Login, Registration, SmsDelivery, User};

use super::errors::{AppError, FormError, TRY_AGAIN, sentence};
use super::render::{AppForm, Page, Visitor, flash, form_error, ok, profile_url, query_param};
use super::{AppState, DEVICE_COOKIE, registration, safe_next, see_other};
use demo_support::profile_text::{self, Field, NAME_MAX};
use demo_support::profiles::Profile;

/// Session keys of the app's own, next to the library's.
const NEXT: &str = "login_next";
const SMS_NOTE: &str = "login_sms_note";

/// GET / and GET /home (the tutorial has both): the home page, which
/// greets a logged-in user as the login did ([`welcome`]).
pub async fn index(State(state): State<AppState>, v: Visitor) -> Page {
    let name = match v.user() {
        Some(u) => Some(greeting_name(&state, u).await?),
        None => None,
    };
    ok(
        &state,
        &v,
        "index.html",
        context! { sms_available => state.auth.sms_available(), greeting_name => name },
    )
    .await
}

/// Whom the site greets: the first name, else the username.
async fn greeting_name(state: &AppState, user: &User) -> Result<String, AppError> {
    let first_name = state.profiles.get(user.id).await?.first_name;
    Ok(if first_name.trim().is_empty() {
        user.username.clone()
    } else {
        first_name
    })
}

/// The one greeting of the site, after a login and on the home page:
/// "Welcome, Ada!".
async fn welcome(state: &AppState, user: &User) -> Result<String, AppError> {
    Ok(format!("Welcome, {}!", greeting_name(state, user).await?))
}

/// Where a logged-in visitor who asks for the login or register page goes:
/// the home page, with a note (a tab left open from before the login).
pub(super) async fn already_logged_in(v: &Visitor, user: &User) -> Page {
    flash(v, "info", logged_in_note(user)).await?;
    Ok(see_other("/"))
}

/// The note of [`already_logged_in`].
pub(super) fn logged_in_note(user: &User) -> String {
    format!(
        "You are logged in as {}. To use another account, log out first.",
        user.username
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RegisterForm {
    username: String,
    first_name: String,
    last_name: String,
    email: String,
    password: String,
    password2: String,
}

/// The names typed on the register form (or, when addresses are confirmed,
/// on the confirmation link's page), checked.
pub struct Names {
    /// First name.
    pub first: String,
    /// Last name.
    pub last: String,
}

impl Names {
    /// The names as typed, or why they are refused.
    pub fn parse(first_name: &str, last_name: &str) -> Result<Self, FormError> {
        let check = |field, raw: &str| {
            profile_text::name(field, raw).map_err(|e| FormError::invalid(e.to_string()))
        };
        Ok(Names {
            first: check(Field::FirstName, first_name)?,
            last: check(Field::LastName, last_name)?,
        })
    }

    /// Saves them as the user's profile.
    pub async fn save(self, state: &AppState, user: twofa_verify::UserId) -> Result<(), AppError> {
        let profile = Profile {
            first_name: self.first,
            last_name: self.last,
            ..Profile::default()
        };
        let now = state.auth.now().as_millis();
        state.profiles.save(user, &profile, now).await?;
        Ok(())
    }

    /// The end of a registration (immediate or by the link): saves the
    /// names, says `message` and sends the new user to the login page.
    /// The account exists whatever happens to its names: a failure to save
    /// them is logged, and the user types them again on the edit page.
    pub async fn account_ready(
        self,
        state: &AppState,
        v: &Visitor,
        user: twofa_verify::UserId,
        message: &str,
    ) -> Page {
        if let Err(e) = self.save(state, user).await {
            tracing::error!(error = ?e, user = %user, "could not save the names of a new account");
        }
        flash(v, "success", message).await?;
        Ok(see_other("/login"))
    }
}

/// Whether this site confirms addresses: then the register form asks only
/// for a username and an address, and the rest is typed on the link's page
/// (see `registration.rs`).
fn confirms_email(v: &Visitor) -> bool {
    v.auth().policy().registration == Registration::EmailConfirmed
}

/// GET /register
pub async fn register_form(State(state): State<AppState>, v: Visitor) -> Page {
    if let Some(user) = v.user() {
        return already_logged_in(&v, user).await;
    }
    ok(
        &state,
        &v,
        "register.html",
        context! { name_max => NAME_MAX, confirm_email => confirms_email(&v) },
    )
    .await
}

/// POST /register
pub async fn register(
    State(state): State<AppState>,
    v: Visitor,
    AppForm(f): AppForm<RegisterForm>,
) -> Page {
    if let Some(user) = v.user() {
        return already_logged_in(&v, user).await;
    }
    let keep = context! {
        username => f.username.clone(),
        first_name => f.first_name.clone(),
        last_name => f.last_name.clone(),
        email => f.email.clone(),
        name_max => NAME_MAX,
        confirm_email => confirms_email(&v),
    };
    let fail = |e: FormError| form_error(&state, &v, "register.html", e, keep.clone());
    if confirms_email(&v) {
        if f.username.trim().is_empty() || f.email.trim().is_empty() {
            return fail(FormError::invalid("Please fill in every field.")).await;
        }
        return registration::start(&state, &v, &f.username, &f.email, keep).await;
    }
    if f.username.trim().is_empty()
        || f.first_name.trim().is_empty()
        || f.last_name.trim().is_empty()
        || f.email.trim().is_empty()
        || f.password.is_empty()
    {
        return fail(FormError::invalid("Please fill in every field.")).await;
    }
    let names = match Names::parse(&f.first_name, &f.last_name) {
        Ok(n) => n,
        Err(e) => return fail(e).await,
    };
    if f.password != f.password2 {
        return fail(FormError::invalid("The two passwords do not match.")).await;
    }
    let pw = SecretString::from(f.password);
    match v.auth().register(&f.username, &f.email, &pw).await {
        Ok(user) => {
            let message = "Congratulations, you are now registered! Please log in.";
            names.account_ready(&state, &v, user.id, message).await
        }
        Err(e) => fail(FormError::from_auth(e)?).await,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    username: String,
    password: String,
    next: String,
    remember_me: Option<String>,
}

/// GET /login
pub async fn login_form(State(state): State<AppState>, v: Visitor, uri: Uri) -> Page {
    if let Some(user) = v.user() {
        return already_logged_in(&v, user).await;
    }
    let next = safe_next(query_param(&uri, "next").as_deref());
    ok(
        &state,
        &v,
        "login.html",
        context! { login_required => next.is_some(), next => next },
    )
    .await
}

/// The remembered-device token the browser sent, if any.
fn device_cookie(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let name = cookie_name(DEVICE_COOKIE, state.config.cookie_secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// POST /login: the password, or the password and a remembered device.
pub async fn login(
    State(state): State<AppState>,
    mut v: Visitor,
    headers: HeaderMap,
    AppForm(f): AppForm<LoginForm>,
) -> Page {
    if let Some(user) = v.user() {
        return already_logged_in(&v, user).await;
    }
    let next = safe_next(Some(&f.next));
    let remember_me = f.remember_me.is_some();
    let keep = context! { username => f.username.clone(), next => next.clone(), remember_me => remember_me };
    if f.username.trim().is_empty() || f.password.is_empty() {
        let e = FormError::invalid("Please enter your username (or email) and password.");
        return form_error(&state, &v, "login.html", e, keep).await;
    }
    let pw = SecretString::from(f.password);
    let device = device_cookie(&state, &headers);
    let result = v
        .auth()
        .login_with_device(&f.username, &pw, device.as_deref())
        .await;
    match result {
        Ok(Login::Complete(user)) => {
            v.login(&user, remember_me).await?;
            flash(&v, "success", welcome(&state, &user).await?).await?;
            Ok(see_other(
                &next.unwrap_or_else(|| profile_url(&user.username)),
            ))
        }
        Ok(Login::SecondFactor(ch)) => {
            let note = sms_note(ch.sms.as_ref());
            v.begin_second_factor(&ch, remember_me).await?;
            let s = v.session();
            s.insert(SMS_NOTE, note).await?;
            s.insert(NEXT, next).await?;
            Ok(see_other("/verify_2fa"))
        }
        // A second factor required (`REQUIRE_2FA`): within the grace a
        // login with a notice, after it only the enrollment pages.
        Ok(Login::EnrollSoon { user, grace }) => {
            v.login(&user, remember_me).await?;
            flash(&v, "warning", super::required::grace_notice(&grace)).await?;
            Ok(see_other(super::required::ENROLL_PAGE))
        }
        Ok(Login::EnrollmentRequired(enrollment)) => {
            v.begin_enrollment(&enrollment).await?;
            let text = super::required::enrollment_notice(enrollment.user());
            flash(&v, "warning", text).await?;
            Ok(see_other(super::required::ENROLL_PAGE))
        }
        // A login outcome of a newer library this site does not handle
        // is no login.
        Ok(other) => Err(AppError::Internal(format!(
            "unhandled login outcome {other:?}"
        ))),
        // A failure that earned a delay or a lock says so, in the words
        // of the refusal that would follow it: never a plain "invalid"
        // between "try again in 1 s" and "try again in 2 s".
        Err(AuthError::InvalidCredentials) => {
            let mut e = FormError::from_auth(AuthError::InvalidCredentials)?;
            if let Some(wait) = v.auth().login_wait(&f.username, device.as_deref()).await? {
                e.message = format!("Invalid username or password. {TRY_AGAIN}");
                e.retry_after = Some(wait);
            }
            form_error(&state, &v, "login.html", e, keep).await
        }
        Err(e) => form_error(&state, &v, "login.html", FormError::from_auth(e)?, keep).await,
    }
}

/// What the code page says about a code sent to `to` over `channel` (the
/// provider's word; a call when Twilio Verify fell back to one because the
/// number cannot receive texts).
fn sent_note(to: &str, channel: Option<&str>, new: bool) -> String {
    let a = if new { "a new" } else { "a" };
    match channel {
        Some("call") => {
            format!("We are calling {to} to read you {a} code (text messages cannot reach it).")
        }
        Some("whatsapp") => format!("We sent {a} code by WhatsApp to {to}."),
        _ => format!("We sent {a} code by text message to {to}."),
    }
}

fn sms_note(sms: Option<&SmsDelivery>) -> Option<String> {
    Some(match sms? {
        SmsDelivery::Sent { to, channel, .. } => sent_note(to, *channel, false),
        SmsDelivery::Available { to } => format!("We can text a code to {to} if you need one."),
        SmsDelivery::Deferred { to, reason, .. } => format!(
            "We could not text a code to {to} right now ({reason}). Use your authenticator app or a recovery code, or try sending it again."
        ),
        _ => return None,
    })
}

/// GET /logout
pub async fn logout_form(State(state): State<AppState>, v: Visitor) -> Page {
    ok(&state, &v, "logout.html", context! {}).await
}

/// POST /logout
pub async fn logout(mut v: Visitor) -> Page {
    v.logout().await?;
    flash(&v, "info", "You have been logged out.").await?;
    Ok(see_other("/"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CodeForm {
    code: String,
    method: String,
    remember_device: Option<String>,
}

fn verify_method(p: &PendingLogin, asked: Option<&str>) -> &'static str {
    let totp = p.methods.contains(&Factor::Totp);
    let sms = p.methods.contains(&Factor::Sms);
    match asked {
        Some("recovery") => "recovery",
        Some("sms") if sms => "sms",
        Some("totp") if totp => "totp",
        _ if totp => "totp",
        _ if sms => "sms",
        _ => "recovery",
    }
}

async fn verify_ctx(v: &Visitor, p: &PendingLogin, method: &str) -> Result<Value, super::AppError> {
    let note: Option<String> = v.session().get(SMS_NOTE).await?.flatten();
    Ok(context! {
        method => method,
        sms_note => note,
        sms => p.methods.contains(&Factor::Sms),
        totp => p.methods.contains(&Factor::Totp),
        passkey => p.methods.contains(&Factor::Passkey),
        remember_days => v.auth().policy().remember_device_for.as_secs() / 86_400,
    })
}

/// GET /verify_2fa
pub async fn verify_form(State(state): State<AppState>, v: Visitor, uri: Uri) -> Page {
    let Some(p) = v.pending() else {
        return Ok(see_other("/login"));
    };
    let method = verify_method(&p, query_param(&uri, "method").as_deref());
    let ctx = verify_ctx(&v, &p, method).await?;
    ok(&state, &v, "verify_2fa.html", ctx).await
}

/// The long-lived cookie of a remembered device.
fn device_set_cookie(state: &AppState, token: &twofa_verify::DeviceToken) -> Option<HeaderValue> {
    let millis = i128::from(token.expires_at.as_millis());
    let expires = OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000).ok()?;
    // Whole seconds, rounded up: a short lifetime must not become
    // `Max-Age=0`, which deletes the cookie.
    let left = (expires - OffsetDateTime::now_utc()).whole_milliseconds();
    let max_age = twofa_verify::axum::tower_sessions::cookie::time::Duration::seconds(
        i64::try_from((left + 999) / 1000)
            .unwrap_or(i64::MAX)
            .max(1),
    );
    let name = cookie_name(DEVICE_COOKIE, state.config.cookie_secure);
    let cookie = Cookie::build((name, token.token().to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.cookie_secure)
        .max_age(max_age)
        .expires(expires)
        .build();
    HeaderValue::from_str(&cookie.to_string()).ok()
}

/// POST /verify_2fa
pub async fn verify(
    State(state): State<AppState>,
    mut v: Visitor,
    AppForm(f): AppForm<CodeForm>,
) -> Page {
    let Some(p) = v.pending() else {
        flash(&v, "info", "Please log in first.").await?;
        return Ok(see_other("/login"));
    };
    let method = verify_method(&p, Some(&f.method));
    if f.code.trim().is_empty() {
        let ctx = verify_ctx(&v, &p, method).await?;
        let e = FormError::invalid("Please enter the code.");
        return form_error(&state, &v, "verify_2fa.html", e, ctx).await;
    }
    let result = v
        .auth()
        .verify(p.token(), &SecretString::from(f.code.as_str()))
        .await;
    match result {
        Ok(verification) => {
            second_factor_done(&state, v, &verification, f.remember_device.is_some()).await
        }
        Err(
            e @ (AuthError::TooManyAttempts
            | AuthError::ChallengeExpired
            | AuthError::ChallengeNotFound),
        ) => {
            // The pending login is gone: back to the password.
            v.logout().await?;
            let fe = FormError::new(StatusCode::UNAUTHORIZED, sentence(&e.to_string()));
            form_error(&state, &v, "login.html", fe, context! {}).await
        }
        Err(e) => {
            let ctx = verify_ctx(&v, &p, method).await?;
            form_error(&state, &v, "verify_2fa.html", FormError::from_auth(e)?, ctx).await
        }
    }
}

/// The end of a second factor (a code, or a passkey in `passkeys.rs`):
/// the user is logged in, welcomed, and sent where the login was going,
/// with the remembered device's cookie when `remember_device`.
pub(super) async fn second_factor_done(
    state: &AppState,
    mut v: Visitor,
    verification: &twofa_verify::Verification,
    remember_device: bool,
) -> Page {
    let next: Option<String> = v.session().remove(NEXT).await?.flatten();
    v.session().remove_value(SMS_NOTE).await?;
    v.complete(verification).await?;
    let user = &verification.user;
    let to = signed_in(state, &v, user, next).await?;
    if let Some(left) = verification.recovery_codes_left {
        flash(
            &v,
            "warning",
            format!(
                "You used a recovery code; {left} left. Each code works once: make new ones on the recovery codes page if you are running low."
            ),
        )
        .await?;
    }
    let mut resp = see_other(&to);
    if remember_device {
        let token = v.auth().remember_device(verification).await?;
        if let Some(c) = device_set_cookie(state, &token) {
            resp.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    Ok(resp)
}

/// After a login: the welcome, and where to go (`next`, checked again:
/// the session may predate today's rules; else the profile).
pub(super) async fn signed_in(
    state: &AppState,
    v: &Visitor,
    user: &User,
    next: Option<String>,
) -> Result<String, AppError> {
    flash(v, "success", welcome(state, user).await?).await?;
    Ok(safe_next(next.as_deref()).unwrap_or_else(|| profile_url(&user.username)))
}

/// POST /verify_2fa/resend: a new SMS code for the pending login.
pub async fn verify_resend(State(state): State<AppState>, mut v: Visitor) -> Page {
    let Some(p) = v.pending() else {
        return Ok(see_other("/login"));
    };
    let result = v.auth().resend(p.token()).await;
    match result {
        Ok(ch) => {
            let (to, channel) = match &ch.sms {
                Some(SmsDelivery::Sent { to, channel, .. }) => (to.clone(), *channel),
                _ => ("your phone".into(), None),
            };
            let next: Option<String> = v.session().get(NEXT).await?.flatten();
            v.begin_second_factor(&ch, p.remember_me).await?;
            let s = v.session();
            s.insert(SMS_NOTE, Some(sent_note(&to, channel, true)))
                .await?;
            s.insert(NEXT, next).await?;
            flash(&v, "info", format!("A new code is on its way to {to}.")).await?;
            Ok(see_other("/verify_2fa?method=sms"))
        }
        Err(
            e @ (AuthError::TooManyAttempts
            | AuthError::ChallengeExpired
            | AuthError::ChallengeNotFound),
        ) => {
            v.logout().await?;
            flash(&v, "error", sentence(&e.to_string())).await?;
            Ok(see_other("/login"))
        }
        Err(e) => {
            let ctx = verify_ctx(&v, &p, "sms").await?;
            form_error(&state, &v, "verify_2fa.html", FormError::from_auth(e)?, ctx).await
        }
    }
}
