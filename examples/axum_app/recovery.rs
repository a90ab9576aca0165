//! Recovery codes: making new ones (after a step-up), and showing fresh
//! ones once, Post/Redirect/Get.
//!
//! A POST that makes codes (a new set, or the first factor turned on) keeps
//! them in the session ([`keep_and_show`]) and redirects to
//! GET /recovery_codes/new, which shows them once; a reload then says they
//! were shown already instead of posting the form again. While they are
//! kept (at most [`KEEP_FOR`], until "I have saved them") the page's
//! download button gets them once as a text file. The account keeps only
//! their hashes; the session keeps them sealed (`sealed.rs`, AES-GCM under
//! a key derived from the app's secret key, bound to the user), so a read
//! of the session store does not reveal usable codes. Another session, or
//! one that made no codes, has nothing to show or download. The download
//! also needs the one-time key printed in the page that showed the codes:
//! a stolen session cookie, used after that page, cannot fetch them.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};
use twofa_verify::axum::RequireUser;
use twofa_verify::factor::RecoveryCodes;
use twofa_verify::{User, UserId};

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
    /// The codes, one a line, sealed for the user (`sealed.rs`).
    sealed: String,
    /// Dropped after this (unix seconds), seen or not.
    until: i64,
    shown: bool,
    downloaded: bool,
    /// SHA-256 (hex) of the download key printed in the page that showed
    /// the codes; set when it is shown.
    #[serde(default)]
    download_key: Option<String>,
}

/// The download form: the key of the page that showed the codes.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DownloadForm {
    download_key: String,
}

/// The stored form of a download key.
fn key_hash(key: &str) -> String {
    use sha2::{Digest, Sha256};
    data_encoding::HEXLOWER.encode(&Sha256::digest(key.as_bytes()))
}

/// Whether `typed` is the key whose hash is `stored` (constant time).
fn key_matches(stored: Option<&str>, typed: &str) -> bool {
    use subtle::ConstantTimeEq;
    stored.is_some_and(|h| bool::from(h.as_bytes().ct_eq(key_hash(typed).as_bytes())))
}

/// Keeps `codes` in the session and sends the browser to the page that
/// shows them (Post/Redirect/Get).
pub async fn keep_and_show(
    state: &AppState,
    v: &Visitor,
    me: UserId,
    codes: &RecoveryCodes,
) -> Page {
    let lines = zeroize::Zeroizing::new(codes.codes().join("\n"));
    let sealed = state
        .seal
        .seal(me, lines.as_bytes())
        .map_err(|_| AppError::Internal("sealing the recovery codes failed".into()))?;
    let fresh = Fresh {
        sealed,
        until: jiff::Timestamp::now()
            .checked_add(KEEP_FOR)
            .map_err(|e| AppError::Internal(format!("clock: {e}")))?
            .as_second(),
        shown: false,
        downloaded: false,
        download_key: None,
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

/// The codes sealed in `f` for `me`. A blob that does not open (another
/// key, another user's, tampered) is an internal error, never codes.
fn open(state: &AppState, me: UserId, f: &Fresh) -> Result<Vec<String>, AppError> {
    let plain = state
        .seal
        .open(me, &f.sealed)
        .map_err(|_| AppError::Internal("the kept recovery codes do not open".into()))?;
    let text = std::str::from_utf8(&plain)
        .map_err(|_| AppError::Internal("the kept recovery codes are not text".into()))?;
    Ok(text.lines().map(str::to_owned).collect())
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
    let codes = open(&state, me.id, &f)?;
    let key = data_encoding::BASE64URL_NOPAD.encode(&rand::random::<[u8; 32]>());
    f.shown = true;
    f.download_key = Some(key_hash(&key));
    save(&v, &f).await?;
    let ctx = context! {
        codes => codes,
        download_key => key,
        downloadable => !f.downloaded,
        profile => profile_url(&me.username),
    };
    ok(&state, &v, "recovery_codes.html", ctx).await
}

/// POST /recovery_codes/download: the fresh codes as a text file, once,
/// after the page showed them, with that page's download key.
pub async fn download(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(me): RequireUser,
    AppForm(form): AppForm<DownloadForm>,
) -> Page {
    let wanted = |f: &Fresh| {
        f.shown && !f.downloaded && key_matches(f.download_key.as_deref(), &form.download_key)
    };
    let Some(mut f) = fresh(&v).await?.filter(wanted) else {
        return Err(AppError::page(
            StatusCode::NOT_FOUND,
            "Nothing to download",
            "There are no new recovery codes to download: they can be downloaded once, from the page that shows them just after they are made.",
        ));
    };
    let codes = open(&state, me.id, &f)?;
    f.downloaded = true;
    save(&v, &f).await?;
    Ok(attachment(&me, &codes))
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
            keep_and_show(&state, &v, me.id, &codes).await
        }
        Err(e) => {
            let fe = FormError::from_step_up(e)?;
            form_error(&state, &v, "regenerate_codes.html", fe, ctx).await
        }
    }
}
