//! Passkeys (feature `passkeys`): the profile's Passkeys page (add, rename,
//! remove), "Sign in with a passkey" on the login page (a button, and the
//! browser's autofill), the passkey on the code page, and a passkey as the
//! step-up proof of the removal.
//!
//! The browser's half of each ceremony is `static/passkeys.js`: it posts to
//! a `.../start` endpoint (CSRF token in the `X-CSRF-Token` header), hands
//! the JSON options to `navigator.credentials`, and posts the credential as
//! JSON to the matching `.../finish`, which answers `{"redirect": URL}` or
//! `{"message": ...}` with a 4xx. Each ceremony's id stays in the
//! server-side session, one key per use, and a finish takes it out: a
//! replayed finish finds nothing, and a page cannot name another session's
//! ceremony. Everything else on the pages works without scripts; the
//! passkey buttons are hidden where WebAuthn is unavailable.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::Deserialize;
use twofa_verify::axum::{EnrollingUser, RequireUser};
use twofa_verify::{Error as AuthError, StepUp, User};

use super::auth;
use super::errors::{AppError, FormError, sentence};
use super::factors::{script_answer, step_up_ctx};
use super::profile::{proof, refreshed, step_up_failed};
use super::recovery::keep_and_show;
use super::render::{AppForm, Page, Visitor, civil_date, flash, form_error, ok, query_param};
use super::{AppState, see_other};

/// Session keys of the ceremonies' ids, one per use.
const REGISTRATION: &str = "passkey_registration";
const SIGN_IN: &str = "passkey_sign_in";
const SECOND_FACTOR: &str = "passkey_second_factor";
const STEP_UP: &str = "passkey_step_up";

/// The page's path.
const PAGE: &str = "/passkeys";

/// A refusal for the page's script: the status and the words (and a wait).
fn refusal(e: &FormError) -> Response {
    script_answer(e.status, &e.message, e.retry_after)
}

/// A library error for the page's script: a 4xx with words, or the site's
/// error page for what is not the user's (a store down: nothing gets in).
fn refused(e: AuthError) -> Page {
    Ok(refusal(&FormError::from_auth(e)?))
}

/// The options of a ceremony, for `navigator.credentials`.
fn options(value: &impl serde::Serialize) -> Page {
    Ok(axum::Json(value).into_response())
}

/// Where the script goes after a finish.
fn go_to(url: &str) -> Page {
    Ok(axum::Json(serde_json::json!({ "redirect": url })).into_response())
}

/// A finish without its start in this session (or a second finish).
fn no_ceremony() -> Page {
    Ok(refusal(&FormError::new(
        StatusCode::BAD_REQUEST,
        "That passkey request has expired. Please try again.",
    )))
}

/// Takes the ceremony id kept under `key`: single use in this session.
async fn take(v: &Visitor, key: &str) -> Result<Option<String>, AppError> {
    Ok(v.session().remove::<String>(key).await?)
}

/// One passkey as the page shows it.
#[derive(serde::Serialize)]
struct Row {
    id: String,
    name: String,
    created: String,
    last_used: Option<String>,
    backed_up: bool,
    backup_eligible: bool,
}

async fn page_ctx(state: &AppState, me: &User) -> Result<minijinja::Value, AppError> {
    let rows: Vec<Row> = state
        .auth
        .passkeys(me.id)
        .await?
        .into_iter()
        .map(|p| Row {
            created: civil_date(p.created_at.as_millis()),
            last_used: p.last_used_at.map(|t| civil_date(t.as_millis())),
            backed_up: p.backed_up,
            backup_eligible: p.backup_eligible,
            id: p.id,
            name: p.name,
        })
        .collect();
    Ok(context! { passkeys => minijinja::value::Serde(rows), ..step_up_ctx(me) })
}

/// GET /passkeys: the user's passkeys, and the forms to add, rename and
/// remove them. Also one of the enrollment pages (`REQUIRE_2FA`): a
/// passkey is a second factor like the others.
pub async fn page(
    State(state): State<AppState>,
    v: Visitor,
    EnrollingUser(me): EnrollingUser,
) -> Page {
    let ctx = page_ctx(&state, &me).await?;
    ok(&state, &v, "passkeys.html", ctx).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AddForm {
    name: String,
    password: String,
    code: String,
}

/// POST /passkeys/add/start: after the step-up (as for any factor), the
/// options of `navigator.credentials.create`.
pub async fn add_start(
    v: Visitor,
    EnrollingUser(me): EnrollingUser,
    AppForm(f): AppForm<AddForm>,
) -> Page {
    if f.password.is_empty() {
        return Ok(refusal(&FormError::invalid("Please enter your password.")));
    }
    let proof = proof(&v, f.password, &f.code, String::new()).await?;
    let result = v
        .auth()
        .start_passkey_registration(me.id, f.name.trim(), &proof)
        .await;
    match result {
        Ok(reg) => {
            v.session().insert(REGISTRATION, reg.ceremony_id()).await?;
            options(reg.options())
        }
        Err(e) => Ok(refusal(&step_up_failed(&v, &me, e, "password").await?)),
    }
}

/// POST /passkeys/add/finish: the new credential (JSON).
pub async fn add_finish(
    State(state): State<AppState>,
    mut v: Visitor,
    EnrollingUser(me): EnrollingUser,
    body: String,
) -> Page {
    let Some(ceremony) = take(&v, REGISTRATION).await? else {
        return no_ceremony();
    };
    let result = v
        .auth()
        .finish_passkey_registration(me.id, &ceremony, &body)
        .await;
    let enrolled = match result {
        Ok(enrolled) => enrolled,
        Err(e) => return refused(e),
    };
    // A logged-in session is stamped anew; a login that ended at
    // enrollment (a second factor required) becomes a login now.
    v.enrolled(&enrolled.user).await?;
    match enrolled.recovery_codes {
        Some(codes) => {
            flash(
                &v,
                "success",
                "Your passkey is added. Two-factor authentication is enabled.",
            )
            .await?;
            let to = keep_and_show(&state, &v, me.id, &codes).await?;
            let location = to
                .headers()
                .get(axum::http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or("/recovery_codes/new")
                .to_owned();
            go_to(&location)
        }
        None => {
            flash(&v, "success", "Your passkey is added.").await?;
            go_to(PAGE)
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RenameForm {
    id: String,
    name: String,
}

/// POST /passkeys/rename: a new name (no step-up: a name proves nothing).
pub async fn rename(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(me): RequireUser,
    AppForm(f): AppForm<RenameForm>,
) -> Page {
    match v.auth().rename_passkey(me.id, &f.id, f.name.trim()).await {
        Ok(p) => {
            flash(&v, "success", format!("Renamed to {}.", p.name)).await?;
            Ok(see_other(PAGE))
        }
        Err(e) => {
            let fe = FormError::from_auth(e)?;
            let ctx = page_ctx(&state, &me).await?;
            form_error(&state, &v, "passkeys.html", fe, ctx).await
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RemoveForm {
    id: String,
    password: String,
    code: String,
    /// The assertion of the page's "Confirm with a passkey" (JSON), in
    /// place of the code.
    passkey_response: String,
}

/// The step-up proof of a passkey assertion (for `profile::proof`): its
/// ceremony taken out of the session, single use.
pub(super) async fn step_up_proof(
    v: &Visitor,
    password: String,
    passkey_response: String,
) -> Result<StepUp, AppError> {
    // No ceremony in the session: an id nobody issued, which the library
    // refuses like a used one.
    let ceremony = take(v, STEP_UP).await?.unwrap_or_default();
    Ok(StepUp::with_passkey(password, ceremony, passkey_response))
}

/// POST /passkeys/remove: after a step-up (a code, or another passkey).
pub async fn remove(
    State(state): State<AppState>,
    mut v: Visitor,
    RequireUser(me): RequireUser,
    AppForm(f): AppForm<RemoveForm>,
) -> Page {
    if f.password.is_empty() {
        let ctx = page_ctx(&state, &me).await?;
        let e = FormError::invalid("Please enter your password.");
        return form_error(&state, &v, "passkeys.html", e, ctx).await;
    }
    let proof = proof(&v, f.password, &f.code, f.passkey_response).await?;
    match v.auth().remove_passkey(me.id, &f.id, &proof).await {
        Ok(user) => {
            refreshed(&mut v, &user).await?;
            let msg = if user.has_second_factor() {
                "The passkey is removed.".to_owned()
            } else {
                "The passkey is removed. Two-factor authentication is disabled.".to_owned()
            };
            flash(&v, "success", msg).await?;
            Ok(see_other(PAGE))
        }
        Err(e) => {
            let fe = step_up_failed(&v, &me, e, "password").await?;
            let ctx = page_ctx(&state, &me).await?;
            form_error(&state, &v, "passkeys.html", fe, ctx).await
        }
    }
}

/// POST /passkeys/step_up/start: the options of a step-up by passkey
/// (the user's own passkeys only).
pub async fn step_up_start(v: Visitor, RequireUser(me): RequireUser) -> Page {
    match v.auth().start_passkey_step_up(me.id).await {
        Ok(req) => {
            v.session().insert(STEP_UP, req.ceremony_id()).await?;
            options(req.options())
        }
        Err(e) => refused(e),
    }
}

/// POST /login/passkey/start: the options of a passwordless sign-in (the
/// button, and the autofill of the username field).
pub async fn sign_in_start(v: Visitor) -> Page {
    if v.user().is_some() {
        return go_to("/");
    }
    match v.auth().start_passkey_login().await {
        Ok(req) => {
            v.session().insert(SIGN_IN, req.ceremony_id()).await?;
            options(req.options())
        }
        Err(e) => refused(e),
    }
}

/// POST /login/passkey/finish: the assertion (JSON); `?next=` as on the
/// login form.
pub async fn sign_in_finish(
    State(state): State<AppState>,
    mut v: Visitor,
    uri: Uri,
    body: String,
) -> Page {
    if v.user().is_some() {
        return go_to("/");
    }
    let Some(ceremony) = take(&v, SIGN_IN).await? else {
        return no_ceremony();
    };
    match v.auth().login_with_passkey(&ceremony, &body).await {
        Ok(verification) => {
            // A passkey with user verification is both factors: a full login.
            v.login(&verification.user, false).await?;
            let next = super::safe_next(query_param(&uri, "next").as_deref());
            let to = auth::signed_in(&state, &v, &verification.user, next).await?;
            go_to(&to)
        }
        Err(e) => refused(e),
    }
}

/// POST /verify_2fa/passkey/start: the options of the second factor (the
/// pending user's passkeys only).
pub async fn second_factor_start(v: Visitor) -> Page {
    let Some(p) = v.pending() else {
        return go_to("/login");
    };
    match v.auth().start_passkey_verification(p.token()).await {
        Ok(req) => {
            v.session().insert(SECOND_FACTOR, req.ceremony_id()).await?;
            options(req.options())
        }
        Err(e) => refused(e),
    }
}

/// POST /verify_2fa/passkey/finish: the assertion (JSON);
/// `?remember_device=1` as the code form's box.
pub async fn second_factor_finish(
    State(state): State<AppState>,
    v: Visitor,
    uri: Uri,
    body: String,
) -> Page {
    let Some(p) = v.pending() else {
        return go_to("/login");
    };
    let Some(ceremony) = take(&v, SECOND_FACTOR).await? else {
        return no_ceremony();
    };
    match v.auth().verify_passkey(p.token(), &ceremony, &body).await {
        Ok(verification) => {
            let remember = query_param(&uri, "remember_device").is_some_and(|r| r == "1");
            let resp = auth::second_factor_done(&state, v, &verification, remember).await?;
            // The script follows the redirect itself; the cookies of the
            // answer (a remembered device) are set by this one.
            let to = resp
                .headers()
                .get(axum::http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or("/")
                .to_owned();
            let mut json = go_to(&to)?;
            for c in resp.headers().get_all(axum::http::header::SET_COOKIE) {
                json.headers_mut()
                    .append(axum::http::header::SET_COOKIE, c.clone());
            }
            Ok(json)
        }
        // The pending login is gone: back to the password.
        Err(e @ (AuthError::TooManyAttempts | AuthError::ChallengeExpired)) => {
            let mut v = v;
            v.logout().await?;
            flash(&v, "error", sentence(&e.to_string())).await?;
            go_to("/login")
        }
        Err(e) => refused(e),
    }
}
