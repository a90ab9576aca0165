//! Second factors: text messages, an authenticator app, recovery codes,
//! turning a factor off. Adding a factor asks for the password first (and a
//! current code when a factor is already on), so that a stolen session
//! cannot add an attacker's phone or app.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::value::Serde;
use minijinja::{Value, context};
use serde::Deserialize;
use twofa_verify::axum::{EnrollingUser, RequireUser};
use twofa_verify::secrecy::SecretString;
use twofa_verify::{Enrolled, Error as AuthError, Factor, User};

use super::errors::{AppError, FormError, sentence, wait_secs, with_retry_after};
use super::phone;
use super::profile::{proof, refreshed, step_up_failed};
use super::recovery::keep_and_show;
use super::render::{AppForm, Page, Visitor, flash, form_error, ok, profile_url};
use super::waits::back_with_wait;
use super::{AppState, see_other};

/// Session key of the phone number being enrolled, in international
/// format: the confirmation page shows it in full to the user who just
/// typed it (a typo shows), where pages before a login mask it. The
/// session is the user's own, on the server; the key goes once the number
/// is confirmed or given up.
const ENROLL_PHONE: &str = "enroll_phone";

/// What the step-up fields of a page need.
pub(super) fn step_up_ctx(me: &User) -> Value {
    context! {
        has_2fa => me.has_second_factor(),
        sms => me.phone.is_some(),
        totp => me.totp_enabled,
        phone => me.masked_phone(),
        passkey => me.passkeys > 0,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PhoneForm {
    phone: String,
    country: String,
    password: String,
    code: String,
    passkey_response: String,
}

/// How many remembered devices adding a factor would forget: pages that
/// add one say so first (see `templates/_macros.html`, `devices_note`).
///
/// Every change of credentials (password, email, a factor added or
/// removed, the phone) voids the remembered devices along with the other
/// sessions: a device was trusted to skip the second factor of the
/// account as it was. One rule, with no exception for "safe" changes, is
/// the one a user and an auditor can predict; the account's owner gets a
/// notice of the change and logs in once with a code on each device.
async fn devices_forgotten(state: &AppState, me: &User) -> Result<usize, AppError> {
    Ok(state.auth.devices(me.id).await?.len())
}

/// What the text-message page needs besides what was typed.
async fn sms_ctx(state: &AppState, me: &User) -> Result<Value, AppError> {
    Ok(context! {
        sms_available => state.auth.sms_available(),
        countries => Serde(phone::countries()),
        default_country => state.config.default_phone_country.clone(),
        devices => devices_forgotten(state, me).await?,
        ..step_up_ctx(me)
    })
}

/// GET /enable_2fa
pub async fn enable_sms_form(
    State(state): State<AppState>,
    v: Visitor,
    EnrollingUser(me): EnrollingUser,
) -> Page {
    if me.phone.is_some() {
        flash(
            &v,
            "info",
            "Text-message codes are already on. To use another number, disable them first.",
        )
        .await?;
        return Ok(see_other(&profile_url(&me.username)));
    }
    let ctx = sms_ctx(&state, &me).await?;
    ok(&state, &v, "enable_2fa.html", ctx).await
}

/// POST /enable_2fa: the phone number, after the password (and a code).
pub async fn enable_sms(
    State(state): State<AppState>,
    v: Visitor,
    EnrollingUser(me): EnrollingUser,
    AppForm(f): AppForm<PhoneForm>,
) -> Page {
    let keep = context! {
        phone => f.phone.clone(),
        country => f.country.clone(),
        ..sms_ctx(&state, &me).await?
    };
    if f.phone.trim().is_empty() || f.password.is_empty() {
        let e = FormError::invalid("Please enter your mobile number and your password.");
        return form_error(&state, &v, "enable_2fa.html", e, keep).await;
    }
    let proof = proof(&v, f.password, &f.code, f.passkey_response).await?;
    let number = phone::for_library(&f.phone, &f.country);
    let result = v.auth().start_sms_enrollment(me.id, &number, &proof).await;
    match result {
        Ok(sent) => {
            let shown = phone::international(&number, &f.country).unwrap_or(sent.to);
            v.session().insert(ENROLL_PHONE, &shown).await?;
            let text = format!("We sent a code by text message to {shown}.");
            flash(&v, "info", text).await?;
            Ok(see_other("/enable_2fa/verify"))
        }
        Err(e) => {
            let fe = step_up_failed(&v, &me, e, "password").await?;
            form_error(&state, &v, "enable_2fa.html", fe, keep).await
        }
    }
}

/// GET /enable_2fa/verify
pub async fn enable_sms_verify_form(
    State(state): State<AppState>,
    v: Visitor,
    EnrollingUser(_): EnrollingUser,
) -> Page {
    let Some(phone) = v.session().get::<String>(ENROLL_PHONE).await? else {
        return Ok(see_other("/enable_2fa"));
    };
    ok(
        &state,
        &v,
        "enable_2fa_verify.html",
        context! { enroll_phone => phone },
    )
    .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CodeForm {
    code: String,
}

/// POST /enable_2fa/verify
pub async fn enable_sms_verify(
    State(state): State<AppState>,
    mut v: Visitor,
    EnrollingUser(me): EnrollingUser,
    AppForm(f): AppForm<CodeForm>,
) -> Page {
    let phone: Option<String> = v.session().get(ENROLL_PHONE).await?;
    let devices = devices_forgotten(&state, &me).await?;
    let result = v
        .auth()
        .confirm_sms_enrollment(me.id, &SecretString::from(f.code))
        .await;
    match result {
        Ok(enrolled) => {
            v.session().remove_value(ENROLL_PHONE).await?;
            let what = "Text-message codes are on.";
            enabled(&state, &mut v, &me, what, enrolled, devices).await
        }
        Err(
            e @ (AuthError::TooManyAttempts
            | AuthError::ChallengeExpired
            | AuthError::ChallengeNotFound),
        ) => {
            v.session().remove_value(ENROLL_PHONE).await?;
            let fe = FormError::new(
                StatusCode::BAD_REQUEST,
                format!("{} Enter your number again.", sentence(&e.to_string())),
            );
            let ctx = sms_ctx(&state, &me).await?;
            form_error(&state, &v, "enable_2fa.html", fe, ctx).await
        }
        Err(e) => {
            let ctx = context! { enroll_phone => phone };
            let fe = FormError::from_auth(e)?;
            form_error(&state, &v, "enable_2fa_verify.html", fe, ctx).await
        }
    }
}

/// After a factor is enabled: the session is stamped anew (the change ends
/// the other sessions), then the recovery codes when they are new (shown
/// once: see `recovery.rs`), else the profile.
async fn enabled(
    state: &AppState,
    v: &mut Visitor,
    me: &User,
    what: &str,
    enrolled: Enrolled,
    devices: usize,
) -> Page {
    // A logged-in session is stamped anew; a login that ended at
    // enrollment (a second factor required) becomes a login now.
    v.enrolled(&enrolled.user).await?;
    if devices > 0 {
        let text = match devices {
            1 => "Your remembered device was forgotten: it asks for a code at its next login."
                .to_owned(),
            n => format!(
                "Your {n} remembered devices were forgotten: each asks for a code at its next login."
            ),
        };
        flash(v, "info", text).await?;
    }
    match enrolled.recovery_codes {
        Some(codes) => {
            let text = format!("{what} Two-factor authentication is enabled.");
            flash(v, "success", text).await?;
            keep_and_show(state, v, me.id, &codes).await
        }
        None => {
            flash(v, "success", what).await?;
            Ok(see_other(&profile_url(&me.username)))
        }
    }
}

/// GET /enable_totp: the step-up form.
pub async fn enable_totp_form(
    State(state): State<AppState>,
    v: Visitor,
    EnrollingUser(me): EnrollingUser,
) -> Page {
    if me.totp_enabled {
        flash(&v, "info", "An authenticator app is already enabled.").await?;
        return Ok(see_other(&profile_url(&me.username)));
    }
    let ctx = context! {
        step_up => true,
        devices => devices_forgotten(&state, &me).await?,
        ..step_up_ctx(&me)
    };
    ok(&state, &v, "enable_totp.html", ctx).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StepUpForm {
    pub(super) password: String,
    pub(super) code: String,
    /// A passkey assertion in place of the code (`profile::proof`).
    pub(super) passkey_response: String,
    factor: String,
}

/// POST /enable_totp/start: after the step-up, a new secret and its QR code.
pub async fn start_totp(
    State(state): State<AppState>,
    v: Visitor,
    EnrollingUser(me): EnrollingUser,
    AppForm(f): AppForm<StepUpForm>,
) -> Page {
    use twofa_verify::secrecy::ExposeSecret;
    let proof = proof(&v, f.password, &f.code, f.passkey_response).await?;
    let result = v.auth().start_totp_enrollment(me.id, &proof).await;
    let e = match result {
        Ok(e) => e,
        Err(e) => {
            let fe = step_up_failed(&v, &me, e, "password").await?;
            let ctx = context! {
                step_up => true,
                devices => devices_forgotten(&state, &me).await?,
                ..step_up_ctx(&me)
            };
            return form_error(&state, &v, "enable_totp.html", fe, ctx).await;
        }
    };
    #[cfg(feature = "qr")]
    let qr = Some(e.qr_data_uri());
    #[cfg(not(feature = "qr"))]
    let qr: Option<String> = None;
    let (issuer, account) = otpauth_names(e.otpauth_uri.expose_secret());
    let groups: Vec<String> = e
        .secret_grouped()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let ctx = context! {
        qr => qr,
        secret_groups => groups,
        secret_raw => e.secret_base32.expose_secret().to_owned(),
        issuer => issuer,
        account => account.unwrap_or(me.username),
        fresh => true,
    };
    ok(&state, &v, "enable_totp.html", ctx).await
}

/// The issuer and account name an app records from an `otpauth://` URI
/// (what a user typing the key by hand should enter too): the `issuer`
/// parameter, and the label after its `Issuer:` prefix.
fn otpauth_names(uri: &str) -> (Option<String>, Option<String>) {
    let Ok(url) = url::Url::parse(uri) else {
        return (None, None);
    };
    let issuer = url
        .query_pairs()
        .find(|(k, _)| k == "issuer")
        .map(|(_, v)| v.into_owned());
    let label = percent_encoding::percent_decode_str(url.path().trim_start_matches('/'))
        .decode_utf8_lossy()
        .into_owned();
    let account = match label.split_once(':') {
        Some((_, account)) => account.trim().to_owned(),
        None => label,
    };
    (issuer, (!account.is_empty()).then_some(account))
}

/// POST /enable_totp: the first code from the app.
pub async fn enable_totp(
    State(state): State<AppState>,
    mut v: Visitor,
    EnrollingUser(me): EnrollingUser,
    AppForm(f): AppForm<CodeForm>,
) -> Page {
    let devices = devices_forgotten(&state, &me).await?;
    let result = v
        .auth()
        .confirm_totp_enrollment(me.id, &SecretString::from(f.code))
        .await;
    match result {
        Ok(enrolled) => {
            let what = "Your authenticator app is set up.";
            enabled(&state, &mut v, &me, what, enrolled, devices).await
        }
        Err(
            e @ (AuthError::TooManyAttempts
            | AuthError::ChallengeExpired
            | AuthError::ChallengeNotFound),
        ) => {
            let text = format!("{} Please start again.", sentence(&e.to_string()));
            flash(&v, "error", text).await?;
            Ok(see_other("/enable_totp"))
        }
        // The secret is not kept in the session, so the retry page shows
        // only the code form (and a link to start over with a new secret).
        Err(e) => {
            let fe = FormError::from_auth(e)?;
            form_error(
                &state,
                &v,
                "enable_totp.html",
                fe,
                context! { fresh => false },
            )
            .await
        }
    }
}

/// GET /disable_2fa
pub async fn disable_form(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(me): RequireUser,
) -> Page {
    if !me.has_second_factor() {
        flash(&v, "info", "Two-factor authentication is not enabled.").await?;
        return Ok(see_other(&profile_url(&me.username)));
    }
    if me.phone.is_none() && !me.totp_enabled {
        // Passkeys only: they are removed one by one on their own page.
        flash(
            &v,
            "info",
            "Your passkeys are your second factor: remove them on this page.",
        )
        .await?;
        return Ok(see_other("/passkeys"));
    }
    ok(&state, &v, "disable_2fa.html", step_up_ctx(&me)).await
}

/// POST /disable_2fa
pub async fn disable(
    State(state): State<AppState>,
    mut v: Visitor,
    RequireUser(me): RequireUser,
    AppForm(f): AppForm<StepUpForm>,
) -> Page {
    let factor = match f.factor.as_str() {
        "sms" => Factor::Sms,
        "totp" => Factor::Totp,
        "" if me.phone.is_some() && !me.totp_enabled => Factor::Sms,
        "" if me.totp_enabled && me.phone.is_none() => Factor::Totp,
        _ => {
            let e = FormError::invalid("Please choose what to turn off.");
            return form_error(&state, &v, "disable_2fa.html", e, step_up_ctx(&me)).await;
        }
    };
    if f.password.is_empty() {
        let e = FormError::invalid("Please enter your password.");
        return form_error(&state, &v, "disable_2fa.html", e, step_up_ctx(&me)).await;
    }
    let proof = proof(&v, f.password, &f.code, f.passkey_response).await?;
    let result = v.auth().disable_factor(me.id, factor, &proof).await;
    match result {
        Ok(user) => {
            refreshed(&mut v, &user).await?;
            let what = match factor {
                Factor::Sms => "Text-message codes are off.",
                _ => "Your authenticator app is removed.",
            };
            let msg = if v.user().is_some_and(User::has_second_factor) {
                what.to_owned()
            } else {
                format!("{what} Two-factor authentication is disabled.")
            };
            flash(&v, "success", msg).await?;
            Ok(see_other(&profile_url(&me.username)))
        }
        Err(e) => {
            let fe = step_up_failed(&v, &me, e, "password").await?;
            form_error(&state, &v, "disable_2fa.html", fe, step_up_ctx(&me)).await
        }
    }
}

/// The pages with a "Text a code to ..." button: the `next` it sends, the
/// page's path and its template.
const STEP_UP_PAGES: &[(&str, &str, &str)] = &[
    ("recovery_codes", "/recovery_codes", "regenerate_codes.html"),
    ("change_email", "/change_email", "change_email.html"),
    (
        "change_password",
        "/change_password",
        "change_password.html",
    ),
    (
        "sign_out_everywhere",
        "/sign_out_everywhere",
        "sign_out_everywhere.html",
    ),
    ("enable_totp", "/enable_totp", "enable_totp.html"),
    ("disable_2fa", "/disable_2fa", "disable_2fa.html"),
];

/// The button is in the step-up form it serves (`formaction`), so without
/// scripts the whole form comes: its typed fields go back to the page
/// (the password and the code do not: they are never kept).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SendCodeForm {
    next: String,
    email: String,
    factor: String,
}

/// Whether the request is the page's script's (`static/forms.js`), which
/// takes the answer as JSON and stays on the page, everything typed in it.
fn from_script(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// The answer to the page's script: what to say, and for a wait the
/// words before it and its seconds (rounded up) to count down.
pub(super) fn script_answer(status: StatusCode, message: &str, wait: Option<Duration>) -> Response {
    let body = serde_json::json!({
        "message": message,
        "wait": wait.map(wait_secs),
    });
    let mut resp = (status, axum::Json(body)).into_response();
    with_retry_after(&mut resp, wait);
    resp
}

/// POST /send_step_up_code: a text message with a code for a step-up
/// form. The page's script gets JSON; without scripts the answer is a
/// redirect back to the page, a wait included ("You can ask for a new code
/// in 27 s"), never a page at this URL.
pub async fn send_step_up_code(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(me): RequireUser,
    headers: HeaderMap,
    AppForm(f): AppForm<SendCodeForm>,
) -> Page {
    let (_, back, tpl) = STEP_UP_PAGES
        .iter()
        .find(|(next, ..)| *next == f.next)
        .copied()
        .unwrap_or(STEP_UP_PAGES[STEP_UP_PAGES.len() - 1]);
    let script = from_script(&headers);
    let typed = context! { email => f.email, factor => f.factor };
    let result = v.auth().send_step_up_code(me.id).await;
    let e = match result {
        Ok(_) => {
            let to = me.masked_phone().unwrap_or_default();
            let text = format!("We sent a code by text message to {to}.");
            if script {
                return Ok(script_answer(StatusCode::OK, &text, None));
            }
            flash(&v, "info", text).await?;
            v.keep_typed(tpl, &typed);
            return Ok(see_other(back));
        }
        Err(e) => FormError::from_auth(e)?,
    };
    if script {
        return Ok(script_answer(e.status, &e.message, e.retry_after));
    }
    match e.retry_after {
        Some(wait) => back_with_wait(&state, &v, tpl, &e.message, wait, &typed, back).await,
        None => {
            flash(&v, "error", e.sentence()).await?;
            v.keep_typed(tpl, &typed);
            Ok(see_other(back))
        }
    }
}
