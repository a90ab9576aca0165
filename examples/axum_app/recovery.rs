//! Recovery codes: making new ones (after a step-up), and showing fresh
//! ones once, Post/Redirect/Get.
//!
//! A POST that makes codes (a new set, or the first factor turned on) keeps
//! them in the session ([`keep_and_show`]) and redirects to
//! GET /recovery_codes/new, which shows them once; a reload then says they
//! were shown already instead of posting the form again. While they are
//! kept (at most [`KEEP_FOR`], until "I have saved them") the page's
//! download button gets them once as a text file. The session is the only
//! place that holds them in the clear, briefly: the account keeps only
//! their hashes. Another session, or one that made no codes, has nothing to
//! show or download.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};
use twofa_verify::User;
use twofa_verify::axum::RequireUser;
use twofa_verify::factor::RecoveryCodes;

use super::errors::{AppError, FormError};
use super::factors::{StepUpForm, step_up_ctx};
use super::profile::{refresh_current, step_up};
use super::render::{AppForm, Page, Visitor, flash, form_error, ok, profile_url};
use super::{AppState, see_other};

/// Session key of the codes just made.
const FRESH: &str = "fresh_recovery_codes";

/// How long fresh codes wait in the session for their page and download.
const KEEP_FOR: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

/// The file name of the download.
const FILE_NAME: &str = "recovery-codes.txt";

/// Codes just made, kept for one display and one download.
#[derive(Serialize, Deserialize)]
struct Fresh {
    codes: Vec<String>,
    /// Dropped after this (unix seconds), seen or not.
    until: i64,
    shown: bool,
    downloaded: bool,
}

/// Keeps `codes` in the session and sends the browser to the page that
/// shows them (Post/Redirect/Get).
pub async fn keep_and_show(v: &Visitor, codes: &RecoveryCodes) -> Page {
    let fresh = Fresh {
        codes: codes.codes().iter().map(|c| (*c).to_owned()).collect(),
        until: jiff::Timestamp::now()
            .checked_add(KEEP_FOR)
            .map_err(|e| AppError::Internal(format!("clock: {e}")))?
            .as_second(),
        shown: false,
        downloaded: false,
    };
    v.session().insert(FRESH, fresh).await?;
    Ok(see_other("/recovery_codes/new"))
}

/// The fresh codes of this session, if any are still kept (expired ones
/// are removed).
async fn fresh(v: &Visitor) -> Result<Option<Fresh>, AppError> {
    let Some(f) = v.session().get::<Fresh>(FRESH).await? else {
        return Ok(None);
    };
    if f.until <= jiff::Timestamp::now().as_second() {
        v.session().remove_value(FRESH).await?;
        return Ok(None);
    }
    Ok(Some(f))
}

/// Saves `f` back, or removes it once shown and downloaded.
async fn save(v: &Visitor, f: &Fresh) -> Result<(), AppError> {
    if f.shown && f.downloaded {
        v.session().remove_value(FRESH).await?;
    } else {
        v.session().insert(FRESH, f).await?;
    }
    Ok(())
}

/// GET /recovery_codes/new: the fresh codes, once.
pub async fn show(State(state): State<AppState>, v: Visitor, RequireUser(me): RequireUser) -> Page {
    let Some(mut f) = fresh(&v).await?.filter(|f| !f.shown) else {
        let text = "Recovery codes are shown only once. If you did not save them, make new ones: that voids the old ones.";
        flash(&v, "info", text).await?;
        let to = if me.has_second_factor() {
            "/recovery_codes".to_owned()
        } else {
            profile_url(&me.username)
        };
        return Ok(see_other(&to));
    };
    f.shown = true;
    save(&v, &f).await?;
    let ctx = context! {
        codes => f.codes,
        downloadable => !f.downloaded,
        profile => profile_url(&me.username),
    };
    ok(&state, &v, "recovery_codes.html", ctx).await
}

/// POST /recovery_codes/download: the fresh codes as a text file, once,
/// after the page showed them.
pub async fn download(v: Visitor, RequireUser(me): RequireUser) -> Page {
    let Some(mut f) = fresh(&v).await?.filter(|f| f.shown && !f.downloaded) else {
        return Err(AppError::page(
            StatusCode::NOT_FOUND,
            "Nothing to download",
            "There are no new recovery codes to download: they can be downloaded once, from the page that shows them just after they are made.",
        ));
    };
    f.downloaded = true;
    save(&v, &f).await?;
    Ok(attachment(&me, &f.codes))
}

/// The codes as a `text/plain` attachment.
fn attachment(me: &User, codes: &[String]) -> Response {
    let mut body = format!(
        "Recovery codes for {}\nEach code works once, instead of a code from your phone or app.\n\n",
        me.username
    );
    for c in codes {
        body.push_str(c);
        body.push('\n');
    }
    // A fixed ASCII name needs no RFC 6266 encoding.
    let disposition = format!("attachment; filename=\"{FILE_NAME}\"");
    let mut resp = ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// POST /recovery_codes/done: "I have saved them": the session forgets them.
pub async fn done(v: Visitor, RequireUser(me): RequireUser) -> Page {
    v.session().remove_value(FRESH).await?;
    Ok(see_other(&profile_url(&me.username)))
}

/// GET /recovery_codes
pub async fn regenerate_form(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(me): RequireUser,
) -> Page {
    if !me.has_second_factor() {
        flash(
            &v,
            "info",
            "Recovery codes come with two-factor authentication: enable it first.",
        )
        .await?;
        return Ok(see_other(&profile_url(&me.username)));
    }
    let left = state.auth.recovery_codes_left(me.id).await?;
    let ctx = context! { codes_left => left, ..step_up_ctx(&me) };
    ok(&state, &v, "regenerate_codes.html", ctx).await
}

/// POST /recovery_codes: a new set, after the step-up.
pub async fn regenerate(
    State(state): State<AppState>,
    mut v: Visitor,
    RequireUser(me): RequireUser,
    AppForm(f): AppForm<StepUpForm>,
) -> Page {
    let left = v.auth().recovery_codes_left(me.id).await?;
    let ctx = context! { codes_left => left, ..step_up_ctx(&me) };
    if f.password.is_empty() {
        let e = FormError::invalid("Please enter your password.");
        return form_error(&state, &v, "regenerate_codes.html", e, ctx).await;
    }
    let proof = step_up(f.password, &f.code);
    let result = v.auth().regenerate_recovery_codes(me.id, &proof).await;
    match result {
        Ok(codes) => {
            refresh_current(&mut v, me.id).await?;
            flash(
                &v,
                "success",
                "New recovery codes are ready; the old ones no longer work.",
            )
            .await?;
            keep_and_show(&v, &codes).await
        }
        Err(e) => {
            let fe = FormError::from_step_up(e)?;
            form_error(&state, &v, "regenerate_codes.html", fe, ctx).await
        }
    }
}
