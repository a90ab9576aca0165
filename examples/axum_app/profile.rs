//! The profile page (with remembered devices and "sign out everywhere"),
//! edit profile (username), change email, change password.
//!
//! Every change made here ends the user's other sessions at their next
//! request (the library's session stamp); the handler then calls
//! `AuthSession::refresh` so that the acting session stays in.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use minijinja::context;
use minijinja::value::Serde;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use twofa_verify::axum::RequireUser;
use twofa_verify::{StepUp, User};

use super::errors::{AppError, FormError};
use super::render::{AppForm, Page, Visitor, civil_date, flash, form_error, ok, profile_url};
use super::{AppState, see_other};

#[derive(Serialize)]
struct ProfileView {
    username: String,
    email: String,
    phone: Option<String>,
    totp_enabled: bool,
    has_2fa: bool,
    member_since: String,
}

#[derive(Serialize)]
struct DeviceView {
    id: String,
    label: String,
    created: String,
    last_used: String,
}

/// GET /user/{username}
pub async fn profile(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(me): RequireUser,
    Path(username): Path<String>,
) -> Page {
    let Some(user) = state.auth.user_by_username(&username).await? else {
        return Err(AppError::page(
            StatusCode::NOT_FOUND,
            "User not found",
            format!("There is no user called \"{username}\"."),
        ));
    };
    let own = user.id == me.id;
    let codes_left = if own && user.has_second_factor() {
        Some(state.auth.recovery_codes_left(user.id).await?)
    } else {
        None
    };
    let devices: Vec<DeviceView> = if own {
        state
            .auth
            .devices(user.id)
            .await?
            .into_iter()
            .map(|d| DeviceView {
                id: d.id,
                label: d.label,
                created: civil_date(d.created_at.as_millis()),
                last_used: civil_date(d.last_used_at.as_millis()),
            })
            .collect()
    } else {
        Vec::new()
    };
    let view = ProfileView {
        has_2fa: user.has_second_factor(),
        phone: user.masked_phone(),
        totp_enabled: user.totp_enabled,
        member_since: civil_date(user.created_at.as_millis()),
        username: user.username,
        // Others see the username only.
        email: if own { user.email } else { String::new() },
    };
    ok(
        &state,
        &v,
        "profile.html",
        context! {
            user => Serde(view),
            own => own,
            codes_left => codes_left,
            devices => Serde(devices),
            sms_available => state.auth.sms_available(),
            totp_available => state.auth.totp_available(),
        },
    )
    .await
}

/// Keeps the acting session in after a change of credentials made in it.
pub async fn refreshed(v: &mut Visitor, user: &User) -> Result<(), AppError> {
    v.refresh(user).await?;
    Ok(())
}

/// Refreshes the session with the user as stored now.
pub async fn refresh_current(v: &mut Visitor, id: twofa_verify::UserId) -> Result<(), AppError> {
    if let Some(user) = v.auth().user(id).await? {
        v.refresh(&user).await?;
    }
    Ok(())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ProfileForm {
    username: String,
}

/// GET /edit_profile
pub async fn edit_profile_form(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(me): RequireUser,
) -> Page {
    ok(
        &state,
        &v,
        "edit_profile.html",
        context! { username => me.username },
    )
    .await
}

/// POST /edit_profile: the username (the email has its own page).
pub async fn edit_profile(
    State(state): State<AppState>,
    mut v: Visitor,
    RequireUser(me): RequireUser,
    AppForm(f): AppForm<ProfileForm>,
) -> Page {
    let keep = context! { username => f.username.clone() };
    if f.username.trim().is_empty() {
        let e = FormError::invalid("Please choose a username.");
        return form_error(&state, &v, "edit_profile.html", e, keep).await;
    }
    let result = v
        .auth()
        .update_profile(me.id, Some(&f.username), None)
        .await;
    match result {
        Ok(user) => {
            refreshed(&mut v, &user).await?;
            flash(&v, "success", "Your changes have been saved.").await?;
            Ok(see_other(&profile_url(&user.username)))
        }
        Err(e) => {
            form_error(
                &state,
                &v,
                "edit_profile.html",
                FormError::from_auth(e)?,
                keep,
            )
            .await
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EmailForm {
    email: String,
    password: String,
    code: String,
}

/// A step-up from a form: the password, and the code when one was typed.
pub fn step_up(password: String, code: &str) -> StepUp {
    if code.trim().is_empty() {
        StepUp::password(password)
    } else {
        StepUp::new(password, Some(code.trim().to_owned()))
    }
}

fn email_ctx(me: &User, email: &str) -> minijinja::Value {
    context! {
        email => email,
        current => me.email.clone(),
        has_2fa => me.has_second_factor(),
        totp => me.totp_enabled,
        sms => me.phone.is_some(),
        phone => me.masked_phone(),
    }
}

/// GET /change_email
pub async fn change_email_form(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(me): RequireUser,
) -> Page {
    ok(&state, &v, "change_email.html", email_ctx(&me, "")).await
}

/// POST /change_email: the new address, the password and (with 2FA on) a
/// current code. The old address gets a notice (`notices.rs`).
pub async fn change_email(
    State(state): State<AppState>,
    mut v: Visitor,
    RequireUser(me): RequireUser,
    AppForm(f): AppForm<EmailForm>,
) -> Page {
    let keep = email_ctx(&me, &f.email);
    if f.email.trim().is_empty() || f.password.is_empty() {
        let e = FormError::invalid("Please enter the new address and your password.");
        return form_error(&state, &v, "change_email.html", e, keep).await;
    }
    let proof = step_up(f.password, &f.code);
    let result = v.auth().change_email(me.id, &f.email, &proof).await;
    match result {
        Ok(user) => {
            refreshed(&mut v, &user).await?;
            flash(&v, "success", "Your email address has been changed.").await?;
            Ok(see_other(&profile_url(&user.username)))
        }
        Err(e) => {
            let fe = FormError::from_step_up(e)?;
            form_error(&state, &v, "change_email.html", fe, keep).await
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ChangePasswordForm {
    current: String,
    password: String,
    password2: String,
}

/// GET /change_password
pub async fn change_password_form(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(_): RequireUser,
) -> Page {
    ok(&state, &v, "change_password.html", context! {}).await
}

/// POST /change_password
pub async fn change_password(
    State(state): State<AppState>,
    mut v: Visitor,
    RequireUser(me): RequireUser,
    AppForm(f): AppForm<ChangePasswordForm>,
) -> Page {
    if f.password != f.password2 {
        let e = FormError::invalid("The two new passwords do not match.");
        return form_error(&state, &v, "change_password.html", e, context! {}).await;
    }
    let (cur, new) = (
        SecretString::from(f.current),
        SecretString::from(f.password),
    );
    let result = v.auth().change_password(me.id, &cur, &new).await;
    match result {
        Ok(user) => {
            refreshed(&mut v, &user).await?;
            flash(&v, "success", "Your password has been changed.").await?;
            Ok(see_other(&profile_url(&me.username)))
        }
        Err(twofa_verify::Error::InvalidCredentials) => {
            let fe = FormError::new(
                StatusCode::UNAUTHORIZED,
                "Your current password is not right.",
            );
            form_error(&state, &v, "change_password.html", fe, context! {}).await
        }
        Err(e) => {
            let fe = FormError::from_auth(e)?;
            form_error(&state, &v, "change_password.html", fe, context! {}).await
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DeviceForm {
    id: String,
}

/// POST /devices/forget: revokes one remembered device.
pub async fn forget_device(
    v: Visitor,
    RequireUser(me): RequireUser,
    AppForm(f): AppForm<DeviceForm>,
) -> Page {
    if v.auth().forget_device(me.id, &f.id).await? {
        flash(&v, "success", "That device will be asked for a code again.").await?;
    }
    Ok(see_other(&profile_url(&me.username)))
}

/// POST /devices/forget_all
pub async fn forget_all_devices(v: Visitor, RequireUser(me): RequireUser) -> Page {
    v.auth().forget_all_devices(me.id).await?;
    flash(
        &v,
        "success",
        "Every device will be asked for a code again.",
    )
    .await?;
    Ok(see_other(&profile_url(&me.username)))
}

/// POST /sign_out_everywhere: ends every session of the user but this one.
pub async fn sign_out_everywhere(mut v: Visitor, RequireUser(me): RequireUser) -> Page {
    v.auth().sign_out_everywhere(me.id).await?;
    refresh_current(&mut v, me.id).await?;
    flash(&v, "success", "You are signed out everywhere else.").await?;
    Ok(see_other(&profile_url(&me.username)))
}
