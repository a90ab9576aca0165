//! Changing the email address: a step-up (the password, plus a current code
//! with 2FA on), then a link mailed to the new address. Only the link
//! changes the address, and only through its page's button (a POST with a
//! CSRF token): a mail scanner or a prefetch that GETs the link changes
//! nothing. The current address is told when the change is asked for, the
//! old one when it is made (`notices.rs`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use minijinja::context;
use serde::Deserialize;
use twofa_verify::axum::RequireUser;
use twofa_verify::{EmailChangeMail, Error as AuthError, User};

use super::errors::{FormError, human_duration};
use super::factors::step_up_ctx;
use super::profile::{proof, refreshed, step_up_failed};
use super::render::{AppForm, Page, Visitor, flash, form_error, ok, profile_url, render};
use super::{AppState, see_other};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EmailForm {
    email: String,
    password: String,
    code: String,
    passkey_response: String,
}

fn email_ctx(me: &User, email: &str) -> minijinja::Value {
    context! {
        email => email,
        current => me.email.clone(),
        ..step_up_ctx(me)
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

/// POST /change_email: the new address and the step-up. Mails the link to
/// the new address; the address stays as it is until the link is used.
pub async fn change_email(
    State(state): State<AppState>,
    v: Visitor,
    RequireUser(me): RequireUser,
    AppForm(f): AppForm<EmailForm>,
) -> Page {
    let keep = email_ctx(&me, &f.email);
    if f.email.trim().is_empty() || f.password.is_empty() {
        let e = FormError::invalid("Please enter the new address and your password.");
        return form_error(&state, &v, "change_email.html", e, keep).await;
    }
    let proof = proof(&v, f.password, &f.code, f.passkey_response).await?;
    let result = v.auth().start_email_change(me.id, &f.email, &proof).await;
    match result {
        Ok(mail) => {
            send_link(&state, &v, &mail);
            flash(
                &v,
                "info",
                format!(
                    "We sent a link to {}. Your address stays {} until you open it.",
                    mail.email, mail.current_email
                ),
            )
            .await?;
            Ok(see_other(&profile_url(&me.username)))
        }
        Err(AuthError::EmailTaken) => {
            let e = FormError::invalid("That is your address already.");
            form_error(&state, &v, "change_email.html", e, keep).await
        }
        Err(e) => {
            let fe = step_up_failed(&v, &me, e, "password").await?;
            form_error(&state, &v, "change_email.html", fe, keep).await
        }
    }
}

/// Mails the confirmation link to the new address (in the background: the
/// page does not wait for the mail server).
fn send_link(state: &AppState, v: &Visitor, mail: &EmailChangeMail) {
    let app = &state.config.app_name;
    let link = format!(
        "{}/confirm_new_email/{}",
        state.config.base_url,
        mail.token()
    );
    let body = format!(
        "Dear {},\n\nTo make this the email address of your account, open this link and press the button on its page:\n\n{link}\n\nThe link works once and expires in {}.\nIf you did not ask for this, ignore this message: nothing changes.\n\n{app}\n",
        mail.username,
        human_duration(v.auth().policy().registration_token_ttl),
    );
    let subject = format!("[{app}] Confirm your new email address");
    let mailer = state.mailer.clone();
    let to = mail.email.clone();
    tokio::spawn(async move {
        if let Err(e) = mailer.send(&to, &subject, &body).await {
            tracing::error!(error = %e, "could not send the email-change link");
        }
    });
}

/// The page of a used, expired, superseded or made-up link: a 400.
async fn bad_link(state: &AppState, v: &Visitor) -> Page {
    let message = "This link is invalid, was already used, has expired, or a newer change or a password change replaced it. Ask for the change again from your profile.";
    render(
        state,
        v,
        "email_link_invalid.html",
        StatusCode::BAD_REQUEST,
        context! { message => message },
    )
    .await
}

/// GET /confirm_new_email/{token}: what the link will do, and a button that
/// does it. Changes nothing.
pub async fn confirm_page(
    State(state): State<AppState>,
    v: Visitor,
    Path(token): Path<String>,
) -> Page {
    match v.auth().check_email_change(&token).await {
        Ok(pending) => {
            let ctx = context! {
                token => token,
                username => pending.user.username,
                current => pending.user.email,
                new_email => pending.new_email,
            };
            ok(&state, &v, "confirm_new_email.html", ctx).await
        }
        Err(AuthError::InvalidConfirmationToken) => bad_link(&state, &v).await,
        Err(e) => Err(e.into()),
    }
}

/// POST /confirm_new_email/{token}: changes the address. Every session of
/// the user ends; the one that pressed the button stays in when it is the
/// user's.
pub async fn confirm(
    State(state): State<AppState>,
    mut v: Visitor,
    Path(token): Path<String>,
) -> Page {
    match v.auth().confirm_email_change(&token).await {
        Ok(user) => {
            let here = v.user().is_some_and(|u| u.id == user.id);
            let msg = format!("Your email address is now {}.", user.email);
            if here {
                refreshed(&mut v, &user).await?;
                flash(&v, "success", msg).await?;
                Ok(see_other(&profile_url(&user.username)))
            } else {
                flash(&v, "success", format!("{msg} Please log in.")).await?;
                Ok(see_other("/login"))
            }
        }
        Err(AuthError::InvalidConfirmationToken) => bad_link(&state, &v).await,
        Err(AuthError::EmailTaken) => {
            let message = "Another account uses that address now, so yours was not changed.";
            render(
                &state,
                &v,
                "email_link_invalid.html",
                StatusCode::CONFLICT,
                context! { message => message },
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
