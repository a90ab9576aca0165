//! The profile page (with remembered devices and "sign out everywhere"),
//! edit profile (username, names, "about me"), change password. Changing
//! the password and signing out everywhere ask for a step-up (the
//! password, plus a current code with 2FA on).
//!
//! Every change of credentials made here ends the user's other sessions at
//! their next request (the library's session stamp); the handler then calls
//! `AuthSession::refresh` so that the acting session stays in. Names and
//! "about me" are the app's own data (`examples/demo-support/src/profiles.rs`): saving
//! them touches no credential and logs nobody out.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};
use twofa_verify::axum::RequireUser;
use twofa_verify::secrecy::SecretString;
use twofa_verify::{Error as AuthError, StepUp, User};

use super::errors::{AppError, FormError, TRY_AGAIN};
use super::factors::step_up_ctx;
use super::last_seen::time_ago;
use super::render::{AppForm, Page, Visitor, civil_date, flash, form_error, ok, profile_url};
use super::{AppState, see_other};
use demo_support::profile_text::{self, ABOUT_ME_MAX, Field, NAME_MAX};
use demo_support::profiles::Profile;

#[derive(Serialize)]
struct ProfileView {
    username: String,
    email: String,
    phone: Option<String>,
    totp_enabled: bool,
    has_2fa: bool,
    member_since: String,
    first_name: String,
    last_name: String,
    about_me: String,
    /// "3 minutes ago".
    last_seen: Option<String>,
    /// The date and time, for the tooltip.
    last_seen_at: Option<String>,
    /// The letter of the letter avatar.
    initial: String,
    /// The Gravatar image, on the user's own profile only.
    gravatar: Option<String>,
}

/// The tutorial's avatar: Gravatar's image for the address (an identicon
/// when it has none), 128 px.
///
/// Only the owner's page shows it: the URL carries the MD5 of the address,
/// which anyone can match against a list of addresses, and the profile
/// hides the address from other users. Offline (or when Gravatar is
/// blocked) the letter avatar drawn behind the image shows instead: the
/// page allows no scripts, so there is no `onerror` to swap them.
pub fn gravatar_url(email: &str) -> String {
    use md5::{Digest, Md5};
    let hash = Md5::digest(email.trim().to_lowercase().as_bytes());
    format!(
        "https://www.gravatar.com/avatar/{}?d=identicon&s=128",
        data_encoding::HEXLOWER.encode(&hash)
    )
}

/// `YYYY-MM-DD HH:MM UTC` from unix milliseconds.
fn date_time(millis: i64) -> Option<String> {
    let t = jiff::Timestamp::from_millisecond(millis).ok()?;
    Some(t.strftime("%Y-%m-%d %H:%M UTC").to_string())
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
    let profile = state.profiles.get(user.id).await?;
    let now = state.auth.now().as_millis();
    let view = ProfileView {
        has_2fa: user.has_second_factor(),
        phone: user.masked_phone(),
        totp_enabled: user.totp_enabled,
        member_since: civil_date(user.created_at.as_millis()),
        initial: user
            .username
            .chars()
            .next()
            .map(|c| c.to_uppercase().collect())
            .unwrap_or_default(),
        gravatar: own.then(|| gravatar_url(&user.email)),
        username: user.username,
        // Others see the username only.
        email: if own { user.email } else { String::new() },
        first_name: profile.first_name,
        last_name: profile.last_name,
        about_me: profile.about_me,
        last_seen: profile.last_seen.and_then(|t| time_ago(t, now)),
        last_seen_at: profile.last_seen.and_then(date_time),
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

/// The edit form. A field left out of the request keeps its value (a
/// client that only renames the user); one sent empty is checked as typed.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ProfileForm {
    username: String,
    first_name: Option<String>,
    last_name: Option<String>,
    about_me: Option<String>,
}

fn edit_ctx(username: &str, first: &str, last: &str, about_me: &str) -> minijinja::Value {
    context! {
        username => username,
        first_name => first,
        last_name => last,
        about_me => about_me,
        name_max => NAME_MAX,
        about_me_max => ABOUT_ME_MAX,
    }
}

/// GET /edit_profile
pub async fn edit_profile_form(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(me): RequireUser,
) -> Page {
    let p = state.profiles.get(me.id).await?;
    let ctx = edit_ctx(&me.username, &p.first_name, &p.last_name, &p.about_me);
    ok(&state, &v, "edit_profile.html", ctx).await
}

/// The profile as the form asks it to be, from what is stored now.
fn edited(current: Profile, f: &ProfileForm) -> Result<Profile, profile_text::TextError> {
    Ok(Profile {
        first_name: match &f.first_name {
            Some(raw) => profile_text::name(Field::FirstName, raw)?,
            None => current.first_name,
        },
        last_name: match &f.last_name {
            Some(raw) => profile_text::name(Field::LastName, raw)?,
            None => current.last_name,
        },
        about_me: match &f.about_me {
            Some(raw) => profile_text::about_me(raw)?,
            None => current.about_me,
        },
        last_seen: current.last_seen,
    })
}

/// POST /edit_profile: the username (the library's), the names and "about
/// me" (the app's). Everything is checked before anything is saved.
pub async fn edit_profile(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(me): RequireUser,
    AppForm(f): AppForm<ProfileForm>,
) -> Page {
    let current = state.profiles.get(me.id).await?;
    let shown = |o: &Option<String>, stored: &str| o.clone().unwrap_or_else(|| stored.to_owned());
    let keep = edit_ctx(
        &f.username,
        &shown(&f.first_name, &current.first_name),
        &shown(&f.last_name, &current.last_name),
        &shown(&f.about_me, &current.about_me),
    );
    if f.username.trim().is_empty() {
        let e = FormError::invalid("Please choose a username.");
        return form_error(&state, &v, "edit_profile.html", e, keep).await;
    }
    let profile = match edited(current.clone(), &f) {
        Ok(p) => p,
        Err(e) => {
            let e = FormError::invalid(e.to_string());
            return form_error(&state, &v, "edit_profile.html", e, keep).await;
        }
    };
    let mut username = me.username.clone();
    // Only a new name goes to the library (which records a
    // `ProfileUpdated` event for it).
    if f.username.trim() != me.username {
        match v
            .auth()
            .update_profile(me.id, Some(&f.username), None)
            .await
        {
            // No credential changed: the session keeps its stamp (a
            // refresh here would hand a stolen session in flight the stamp
            // of a concurrent "sign out everywhere").
            Ok(user) => username = user.username,
            Err(e) => {
                let fe = FormError::from_auth(e)?;
                return form_error(&state, &v, "edit_profile.html", fe, keep).await;
            }
        }
    }
    if profile != current {
        let now = state.auth.now().as_millis();
        state.profiles.save(me.id, &profile, now).await?;
    }
    flash(&v, "success", "Your changes have been saved.").await?;
    Ok(see_other(&profile_url(&username)))
}

/// A failed step-up as its form shows it: "your password" (or the form's
/// `password` field's name), and the wait the failure earned when it
/// earned one (the account's delay or lock, in the words of the login
/// page), rather than a plain "not right" and, at the next try, a wait out
/// of the blue.
pub async fn step_up_failed(
    v: &Visitor,
    me: &User,
    e: AuthError,
    password: &str,
) -> Result<FormError, AppError> {
    let wrong = matches!(
        e,
        AuthError::InvalidCredentials
            | AuthError::InvalidCode { .. }
            | AuthError::CodeAlreadyUsed { .. }
    );
    let mut fe = match e {
        AuthError::InvalidCredentials => FormError::new(
            StatusCode::UNAUTHORIZED,
            format!("Your {password} is not right."),
        ),
        e => FormError::from_auth(e)?,
    };
    // Step-ups count in the account's counter, the one its username logs
    // in with.
    if wrong && let Some(wait) = v.auth().login_wait(&me.username, None).await? {
        fe.message = format!("{} {TRY_AGAIN}", fe.message);
        fe.retry_after = Some(wait);
    }
    Ok(fe)
}

/// A step-up from a form: the password, and the code when one was typed.
fn step_up(password: String, code: &str) -> StepUp {
    if code.trim().is_empty() {
        StepUp::password(password)
    } else {
        StepUp::new(password, Some(code.trim()))
    }
}

/// The step-up proof of a form, the one way every step-up page builds it:
/// the password with a code, or with the passkey assertion that the
/// "Use a passkey instead" button (`_macros.html`, `passkey_step_up`) put
/// in `passkey_response`, its ceremony taken out of the session (single
/// use; see `passkeys.rs`). Without the `passkeys` feature there is no
/// ceremony to take: the code alone counts.
pub async fn proof(
    v: &Visitor,
    password: String,
    code: &str,
    passkey_response: String,
) -> Result<StepUp, AppError> {
    #[cfg(feature = "passkeys")]
    if !passkey_response.trim().is_empty() {
        return super::passkeys::step_up_proof(v, password, passkey_response).await;
    }
    #[cfg(not(feature = "passkeys"))]
    let _ = (v, passkey_response);
    Ok(step_up(password, code))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ChangePasswordForm {
    current: String,
    code: String,
    passkey_response: String,
    password: String,
    password2: String,
}

/// GET /change_password
pub async fn change_password_form(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(me): RequireUser,
) -> Page {
    ok(&state, &v, "change_password.html", step_up_ctx(&me)).await
}

/// POST /change_password: the current password, with 2FA on a current
/// code too, and the new password twice.
pub async fn change_password(
    State(state): State<AppState>,
    mut v: Visitor,
    RequireUser(me): RequireUser,
    AppForm(f): AppForm<ChangePasswordForm>,
) -> Page {
    let keep = step_up_ctx(&me);
    if f.password != f.password2 {
        let e = FormError::invalid("The two new passwords do not match.");
        return form_error(&state, &v, "change_password.html", e, keep).await;
    }
    let proof = proof(&v, f.current, &f.code, f.passkey_response).await?;
    let new = SecretString::from(f.password);
    let result = v.auth().change_password(me.id, &proof, &new).await;
    match result {
        Ok(user) => {
            refreshed(&mut v, &user).await?;
            flash(&v, "success", "Your password has been changed.").await?;
            Ok(see_other(&profile_url(&me.username)))
        }
        Err(e) => {
            let fe = step_up_failed(&v, &me, e, "current password").await?;
            form_error(&state, &v, "change_password.html", fe, keep).await
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
    v.auth().forget_device(me.id, &f.id).await?;
    flash(&v, "success", "That device will be asked for a code again.").await?;
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

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StepUpForm {
    password: String,
    code: String,
    passkey_response: String,
}

/// GET /sign_out_everywhere: the step-up it asks for.
pub async fn sign_out_everywhere_form(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(me): RequireUser,
) -> Page {
    ok(&state, &v, "sign_out_everywhere.html", step_up_ctx(&me)).await
}

/// POST /sign_out_everywhere: after a step-up (a stolen session alone
/// cannot throw the owner out), ends every session of the user but this
/// one. The user gets a notice (`notices.rs`).
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    mut v: Visitor,
    RequireUser(me): RequireUser,
    AppForm(f): AppForm<StepUpForm>,
) -> Page {
    let keep = step_up_ctx(&me);
    if f.password.is_empty() {
        let e = FormError::invalid("Please enter your password.");
        return form_error(&state, &v, "sign_out_everywhere.html", e, keep).await;
    }
    let proof = proof(&v, f.password, &f.code, f.passkey_response).await?;
    let user = match v.auth().sign_out_everywhere(me.id, &proof).await {
        Ok(user) => user,
        Err(e) => {
            let fe = step_up_failed(&v, &me, e, "password").await?;
            return form_error(&state, &v, "sign_out_everywhere.html", fe, keep).await;
        }
    };
    refreshed(&mut v, &user).await?;
    flash(&v, "success", "You are signed out everywhere else.").await?;
    Ok(see_other(&profile_url(&me.username)))
}
