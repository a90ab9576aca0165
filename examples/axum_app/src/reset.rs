//! Password reset by an emailed link.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use minijinja::context;
use secrecy::SecretString;
use serde::Deserialize;
use twofa_verify::Error as AuthError;

use super::errors::{FormError, human_duration};
use super::render::{AppForm, Page, Visitor, flash, form_error, ok, render};
use super::{AppState, see_other};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EmailForm {
    email: String,
}

/// GET /reset_password_request
pub async fn reset_request_form(State(state): State<AppState>, v: Visitor) -> Page {
    ok(&state, &v, "reset_password_request.html", context! {}).await
}

/// POST /reset_password_request: the same answer whether or not the address
/// has an account.
pub async fn reset_request(
    State(state): State<AppState>,
    v: Visitor,
    AppForm(f): AppForm<EmailForm>,
) -> Page {
    let keep = context! { email => f.email.clone() };
    if f.email.trim().is_empty() {
        let e = FormError::invalid("Please enter your email address.");
        return form_error(&state, &v, "reset_password_request.html", e, keep).await;
    }
    let result = v.auth().request_password_reset(&f.email).await;
    match result {
        Ok(token) => {
            if let Some(t) = token {
                let link = format!("{}/reset_password/{}", state.config.base_url, t.token());
                let body = format!(
                    "Dear {},\n\nTo reset your password, open this link:\n\n{link}\n\nThe link works once and expires in {}.\nIf you did not ask for a password reset, ignore this message.\n\n{}\n",
                    t.username,
                    human_duration(v.auth().policy().reset_token_ttl),
                    state.config.app_name,
                );
                let subject = format!("[{}] Reset your password", state.config.app_name);
                let mailer = state.mailer.clone();
                let to = t.email.clone();
                // Sent in the background: the answer takes the same time
                // whether or not the address is registered.
                tokio::spawn(async move {
                    if let Err(e) = mailer.send(&to, &subject, &body).await {
                        tracing::error!(error = %e, "could not send the password reset email");
                    }
                });
            }
            flash(
                &v,
                "info",
                "If that address belongs to an account, we have sent it a link to reset the password. Check your email.",
            )
            .await?;
            Ok(see_other("/login"))
        }
        Err(e) => {
            let fe = FormError::from_auth(e)?;
            form_error(&state, &v, "reset_password_request.html", fe, keep).await
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ResetForm {
    password: String,
    password2: String,
}

/// The page of a used, expired or made-up link: a 400 that offers to send
/// a new one.
async fn bad_reset_link(state: &AppState, v: &Visitor) -> Page {
    render(
        state,
        v,
        "reset_link_invalid.html",
        StatusCode::BAD_REQUEST,
        context! {},
    )
    .await
}

/// GET /reset_password/{token}
pub async fn reset_form(
    State(state): State<AppState>,
    v: Visitor,
    Path(token): Path<String>,
) -> Page {
    match v.auth().check_reset_token(&token).await {
        Ok(user) => {
            let ctx = context! { token => token, username => user.username };
            ok(&state, &v, "reset_password.html", ctx).await
        }
        Err(AuthError::InvalidResetToken) => bad_reset_link(&state, &v).await,
        Err(e) => Err(e.into()),
    }
}

/// POST /reset_password/{token}: the new password; every session of the
/// user ends (the library's stamp), this one included.
pub async fn reset_password(
    State(state): State<AppState>,
    mut v: Visitor,
    Path(token): Path<String>,
    AppForm(f): AppForm<ResetForm>,
) -> Page {
    let user = match v.auth().check_reset_token(&token).await {
        Ok(u) => u,
        Err(AuthError::InvalidResetToken) => return bad_reset_link(&state, &v).await,
        Err(e) => return Err(e.into()),
    };
    let keep = context! { token => token.clone(), username => user.username.clone() };
    if f.password != f.password2 {
        let e = FormError::invalid("The two passwords do not match.");
        return form_error(&state, &v, "reset_password.html", e, keep).await;
    }
    let result = v
        .auth()
        .reset_password(&token, &SecretString::from(f.password))
        .await;
    match result {
        Ok(_) => {
            v.logout().await?;
            flash(
                &v,
                "success",
                "Your password has been reset. Please log in.",
            )
            .await?;
            Ok(see_other("/login"))
        }
        Err(AuthError::InvalidResetToken) => bad_reset_link(&state, &v).await,
        Err(e) => {
            let fe = FormError::from_auth(e)?;
            form_error(&state, &v, "reset_password.html", fe, keep).await
        }
    }
}
