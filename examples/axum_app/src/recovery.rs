//! Recovery codes: making new ones (after a step-up), and showing fresh
//! ones once, Post/Redirect/Get.
//!
//! A POST that makes codes (a new set, or the first factor turned on)
//! keeps them ([`keep_and_show`]) and redirects to GET /recovery_codes/new,
//! which shows them once; a reload then says they were shown already
//! instead of posting the form again. The page's download button then gets
//! them once as a text file. The account keeps only their hashes.
//!
//! While they wait (at most [`KEEP_FOR`], until "I have saved them") they
//! are in the authenticator's state store, sealed (`sealed.rs`: AES-GCM
//! under a key derived from the app's secret key, bound to the user), under
//! names derived from a random handle that only the session holds: a read
//! of the database reveals no usable code, another session finds nothing.
//! Each step takes its entry atomically, so of a burst of requests of one
//! session (a thief replaying the cookie) one page shows them and one
//! download gets them; and the download needs the key printed in the page
//! that showed them, so a stolen cookie used after that page gets nothing.

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
use super::profile::{proof, step_up_failed};
use super::render::{AppForm, Page, Visitor, flash, form_error, ok, profile_url};
use super::{AppState, see_other};

/// Session key of the handle of the codes just made.
const FRESH: &str = "fresh_recovery_codes";

/// How long fresh codes wait for their page and download.
const KEEP_FOR: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// The file name of the download.
const FILE_NAME: &str = "recovery-codes.txt";

/// What the session holds of codes just made: a random handle naming the
/// state-store entries that hold them, sealed. Taking an entry is atomic,
/// so of concurrent requests of one session (a thief replaying the cookie
/// as the redirect lands) one shows them, and one downloads them.
#[derive(Serialize, Deserialize)]
struct Fresh {
    handle: String,
}

/// The download form: the key of the page that showed the codes.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DownloadForm {
    download_key: String,
}

/// Hex SHA-256 of the parts, each length-prefixed.
fn digest(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    data_encoding::HEXLOWER.encode(&h.finalize())
}

/// The state-store key of the sealed codes waiting for their page.
fn page_key(handle: &str) -> String {
    format!("app.fresh_codes.page.{}", digest(&[handle]))
}

/// The state-store key of the sealed codes waiting for their download:
/// named by the session's handle and the page's download key, so neither
/// alone finds them.
fn download_entry(handle: &str, download_key: &str) -> String {
    format!("app.fresh_codes.file.{}", digest(&[handle, download_key]))
}

/// A random 256-bit token, URL-safe.
fn token() -> String {
    data_encoding::BASE64URL_NOPAD.encode(&rand::random::<[u8; 32]>())
}

/// Keeps `codes`, sealed, for one display and sends the browser to the page
/// that shows them (Post/Redirect/Get).
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
    let handle = token();
    let until = state.auth.now().plus(KEEP_FOR);
    state
        .state_store
        .put(&page_key(&handle), sealed.as_bytes(), until)
        .await?;
    v.session().insert(FRESH, Fresh { handle }).await?;
    Ok(see_other("/recovery_codes/new"))
}

/// The handle of this session's fresh codes, if it made any.
async fn handle(v: &Visitor) -> Result<Option<String>, AppError> {
    Ok(v.session().get::<Fresh>(FRESH).await?.map(|f| f.handle))
}

/// The codes sealed in `sealed` for `me`. A blob that does not open
/// (another key, another user's, tampered) is an internal error, never
/// codes.
fn open(state: &AppState, me: UserId, sealed: &[u8]) -> Result<Vec<String>, AppError> {
    let sealed = std::str::from_utf8(sealed)
        .map_err(|_| AppError::Internal("the kept recovery codes are not text".into()))?;
    let plain = state
        .seal
        .open(me, sealed)
        .map_err(|_| AppError::Internal("the kept recovery codes do not open".into()))?;
    let text = std::str::from_utf8(&plain)
        .map_err(|_| AppError::Internal("the kept recovery codes are not text".into()))?;
    Ok(text.lines().map(str::to_owned).collect())
}

/// GET /recovery_codes/new: the fresh codes, once.
pub async fn show(State(state): State<AppState>, v: Visitor, RequireUser(me): RequireUser) -> Page {
    let now = state.auth.now();
    let taken = match handle(&v).await? {
        Some(h) => state
            .state_store
            .take(&page_key(&h), now)
            .await?
            .map(|sealed| (h, sealed)),
        None => None,
    };
    let Some((handle, sealed)) = taken else {
        let text = "Recovery codes are shown only once. If you did not save them, make new ones: that voids the old ones.";
        flash(&v, "info", text).await?;
        let to = if me.has_second_factor() {
            "/recovery_codes".to_owned()
        } else {
            profile_url(&me.username)
        };
        return Ok(see_other(&to));
    };
    let codes = open(&state, me.id, &sealed)?;
    // The download waits under a key only this page prints.
    let download_key = token();
    state
        .state_store
        .put(
            &download_entry(&handle, &download_key),
            &sealed,
            now.plus(KEEP_FOR),
        )
        .await?;
    let ctx = context! {
        codes => codes,
        download_key => download_key,
        downloadable => true,
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
    let taken = match handle(&v).await? {
        Some(h) if !form.download_key.is_empty() => {
            let entry = download_entry(&h, &form.download_key);
            state.state_store.take(&entry, state.auth.now()).await?
        }
        _ => None,
    };
    let Some(sealed) = taken else {
        return Err(AppError::page(
            StatusCode::NOT_FOUND,
            "Nothing to download",
            "There are no new recovery codes to download: they can be downloaded once, from the page that shows them just after they are made.",
        ));
    };
    let codes = open(&state, me.id, &sealed)?;
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
pub async fn done(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(me): RequireUser,
    AppForm(form): AppForm<DownloadForm>,
) -> Page {
    if let Some(h) = v.session().remove::<Fresh>(FRESH).await?.map(|f| f.handle) {
        state.state_store.delete(&page_key(&h)).await?;
        if !form.download_key.is_empty() {
            let entry = download_entry(&h, &form.download_key);
            state.state_store.delete(&entry).await?;
        }
    }
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
    v: Visitor,
    RequireUser(me): RequireUser,
    AppForm(f): AppForm<StepUpForm>,
) -> Page {
    let left = v.auth().recovery_codes_left(me.id).await?;
    let ctx = context! { codes_left => left, ..step_up_ctx(&me) };
    if f.password.is_empty() {
        let e = FormError::invalid("Please enter your password.");
        return form_error(&state, &v, "regenerate_codes.html", e, ctx).await;
    }
    let proof = proof(&v, f.password, &f.code, f.passkey_response).await?;
    let result = v.auth().regenerate_recovery_codes(me.id, &proof).await;
    match result {
        Ok(codes) => {
            // New codes leave the credential generation as it is: the
            // session needs no new stamp.
            flash(
                &v,
                "success",
                "New recovery codes are ready; the old ones no longer work.",
            )
            .await?;
            keep_and_show(&state, &v, me.id, &codes).await
        }
        Err(e) => {
            let fe = step_up_failed(&v, &me, e, "password").await?;
            form_error(&state, &v, "regenerate_codes.html", fe, ctx).await
        }
    }
}
