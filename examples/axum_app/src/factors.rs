//! Second factors: text messages, an authenticator app, recovery codes,
//! turning a factor off. Adding a factor asks for the password first (and a
//! current code when a factor is already on), so that a stolen session
//! cannot add an attacker's phone or app.

use axum::extract::State;
use axum::http::StatusCode;
use minijinja::{Value, context};
use serde::Deserialize;
use twofa_verify::axum::RequireUser;
use twofa_verify::secrecy::SecretString;
use twofa_verify::{Enrolled, Error as AuthError, Factor, User};

use super::errors::{FormError, sentence};
use super::profile::{refreshed, step_up};
use super::recovery::keep_and_show;
use super::render::{AppForm, Page, Visitor, flash, form_error, ok, profile_url};
use super::{AppState, see_other};

/// Session key of the phone number being enrolled, masked as pages show
/// it (`+1415*****71`): the full number is the library's to keep.
const ENROLL_PHONE: &str = "enroll_phone";

/// What the step-up fields of a page need.
pub(super) fn step_up_ctx(me: &User) -> Value {
    context! {
        has_2fa => me.has_second_factor(),
        sms => me.phone.is_some(),
        totp => me.totp_enabled,
        phone => me.masked_phone(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PhoneForm {
    phone: String,
    password: String,
    code: String,
}

/// GET /enable_2fa
pub async fn enable_sms_form(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(me): RequireUser,
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
    let ctx = context! { sms_available => state.auth.sms_available(), ..step_up_ctx(&me) };
    ok(&state, &v, "enable_2fa.html", ctx).await
}

/// POST /enable_2fa: the phone number, after the password (and a code).
pub async fn enable_sms(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(me): RequireUser,
    AppForm(f): AppForm<PhoneForm>,
) -> Page {
    let keep = context! {
        phone => f.phone.clone(),
        sms_available => state.auth.sms_available(),
        ..step_up_ctx(&me)
    };
    if f.phone.trim().is_empty() || f.password.is_empty() {
        let e = FormError::invalid("Please enter your mobile number and your password.");
        return form_error(&state, &v, "enable_2fa.html", e, keep).await;
    }
    let proof = step_up(f.password, &f.code);
    let result = v.auth().start_sms_enrollment(me.id, &f.phone, &proof).await;
    match result {
        Ok(sent) => {
            v.session().insert(ENROLL_PHONE, &sent.to).await?;
            let text = format!("We sent a code by text message to {}.", sent.to);
            flash(&v, "info", text).await?;
            Ok(see_other("/enable_2fa/verify"))
        }
        Err(e) => {
            let fe = FormError::from_step_up(e)?;
            form_error(&state, &v, "enable_2fa.html", fe, keep).await
        }
    }
}

/// GET /enable_2fa/verify
pub async fn enable_sms_verify_form(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(_): RequireUser,
) -> Page {
    let Some(phone) = v.session().get::<String>(ENROLL_PHONE).await? else {
        return Ok(see_other("/enable_2fa"));
    };
    ok(
        &state,
        &v,
        "enable_2fa_verify.html",
        context! { masked_phone => phone },
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
    RequireUser(me): RequireUser,
    AppForm(f): AppForm<CodeForm>,
) -> Page {
    let phone: Option<String> = v.session().get(ENROLL_PHONE).await?;
    let result = v
        .auth()
        .confirm_sms_enrollment(me.id, &SecretString::from(f.code))
        .await;
    match result {
        Ok(enrolled) => {
            v.session().remove_value(ENROLL_PHONE).await?;
            enabled(&state, &mut v, &me, "Text-message codes are on.", enrolled).await
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
            let ctx = context! {
                sms_available => state.auth.sms_available(),
                ..step_up_ctx(&me)
            };
            form_error(&state, &v, "enable_2fa.html", fe, ctx).await
        }
        Err(e) => {
            let ctx = context! { masked_phone => phone };
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
) -> Page {
    refreshed(v, &enrolled.user).await?;
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
    RequireUser(me): RequireUser,
) -> Page {
    if me.totp_enabled {
        flash(&v, "info", "An authenticator app is already enabled.").await?;
        return Ok(see_other(&profile_url(&me.username)));
    }
    let ctx = context! { step_up => true, ..step_up_ctx(&me) };
    ok(&state, &v, "enable_totp.html", ctx).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StepUpForm {
    pub(super) password: String,
    pub(super) code: String,
    factor: String,
}

/// POST /enable_totp/start: after the step-up, a new secret and its QR code.
pub async fn start_totp(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(me): RequireUser,
    AppForm(f): AppForm<StepUpForm>,
) -> Page {
    use twofa_verify::secrecy::ExposeSecret;
    let proof = step_up(f.password, &f.code);
    let result = v.auth().start_totp_enrollment(me.id, &proof).await;
    let e = match result {
        Ok(e) => e,
        Err(e) => {
            let fe = FormError::from_step_up(e)?;
            let ctx = context! { step_up => true, ..step_up_ctx(&me) };
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
    RequireUser(me): RequireUser,
    AppForm(f): AppForm<CodeForm>,
) -> Page {
    let result = v
        .auth()
        .confirm_totp_enrollment(me.id, &SecretString::from(f.code))
        .await;
    match result {
        Ok(enrolled) => {
            let what = "Your authenticator app is set up.";
            enabled(&state, &mut v, &me, what, enrolled).await
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
    let proof = step_up(f.password, &f.code);
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
            let fe = FormError::from_step_up(e)?;
            form_error(&state, &v, "disable_2fa.html", fe, step_up_ctx(&me)).await
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SendCodeForm {
    next: String,
}

/// POST /send_step_up_code: a text message with a code for a step-up form.
pub async fn send_step_up_code(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(me): RequireUser,
    AppForm(f): AppForm<SendCodeForm>,
) -> Page {
    let (back, tpl) = match f.next.as_str() {
        "recovery_codes" => ("/recovery_codes", "regenerate_codes.html"),
        "change_email" => ("/change_email", "change_email.html"),
        "change_password" => ("/change_password", "change_password.html"),
        "sign_out_everywhere" => ("/sign_out_everywhere", "sign_out_everywhere.html"),
        "enable_totp" => ("/enable_totp", "enable_totp.html"),
        _ => ("/disable_2fa", "disable_2fa.html"),
    };
    let result = v.auth().send_step_up_code(me.id).await;
    match result {
        Ok(_) => {
            let to = me.masked_phone().unwrap_or_default();
            flash(
                &v,
                "info",
                format!("We sent a code by text message to {to}."),
            )
            .await?;
            Ok(see_other(back))
        }
        Err(e) => {
            let left = v.auth().recovery_codes_left(me.id).await?;
            let ctx = context! { codes_left => left, step_up => true, ..step_up_ctx(&me) };
            form_error(&state, &v, tpl, FormError::from_auth(e)?, ctx).await
        }
    }
}
