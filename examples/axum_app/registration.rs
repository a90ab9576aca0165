//! Registration confirmed by email (`REGISTRATION_CONFIRM_EMAIL=1`, which
//! sets `Policy::registration` to `Registration::EmailConfirmed`).
//!
//! POST /register answers a new and an already registered address with the
//! same "check your inbox" page; only the email differs: a confirmation
//! link for a new address, a notice to the owner of a taken one. The
//! account exists once GET /confirm_email/{token} is opened, which sends
//! the visitor to the login page: a link in an email never logs anyone in.
//! A taken username is still said to be taken (usernames are public on
//! profile pages).
//!
//! The first and last name typed on the form wait for the link in the
//! authenticator's state store (under the hash of the token, for as long as
//! the token lives) and become the profile when the account is created.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use minijinja::{Value, context};
use secrecy::SecretString;
use twofa_verify::{Authenticator, Error as AuthError, RegistrationStart, UserId};

use super::auth::Names;
use super::errors::{AppError, FormError, human_duration};
use super::render::{Page, Visitor, flash, form_error, render};
use super::{AppState, see_other};

/// Where the names of a registration wait for its link: the token itself
/// is never stored.
fn pending_names_key(token: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(token.trim().as_bytes());
    format!(
        "app.pending_names.{}",
        data_encoding::HEXLOWER.encode(&hash)
    )
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PendingNames {
    first: String,
    last: String,
}

/// The names of a registration to keep until its link is opened: the key
/// and value for the state store, and until when.
struct KeepNames {
    key: String,
    value: Vec<u8>,
    until: twofa_verify::Timestamp,
}

impl KeepNames {
    fn new(auth: &Authenticator, token: &str, names: Names) -> Result<Self, AppError> {
        let value = serde_json::to_vec(&PendingNames {
            first: names.first,
            last: names.last,
        })
        .map_err(|e| AppError::Internal(format!("pending names: {e}")))?;
        Ok(KeepNames {
            key: pending_names_key(token),
            value,
            until: auth.now().plus(auth.policy().registration_token_ttl),
        })
    }
}

/// The names kept for a confirmed registration, saved as the new user's
/// profile. A failure is logged: the account exists either way, and the
/// names can be typed again on the edit page.
async fn save_kept_names(state: &AppState, auth: &Authenticator, token: &str, user: UserId) {
    let key = pending_names_key(token);
    let kept = match state.state_store.take(&key, auth.now()).await {
        Ok(Some(bytes)) => serde_json::from_slice::<PendingNames>(&bytes).ok(),
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "could not read the names of a confirmed registration");
            None
        }
    };
    if let Some(p) = kept {
        let names = Names {
            first: p.first,
            last: p.last,
        };
        if let Err(e) = names.save(state, user).await {
            tracing::error!(error = ?e, user = %user, "could not save the names of a new account");
        }
    }
}

/// A mail to send after the page is answered.
struct Mail {
    to: String,
    subject: String,
    body: String,
}

/// The confirmation link's email.
fn confirm_mail(
    state: &AppState,
    auth: &Authenticator,
    to: String,
    username: &str,
    token: &str,
) -> Mail {
    let app = &state.config.app_name;
    let link = format!("{}/confirm_email/{token}", state.config.base_url);
    Mail {
        to,
        subject: format!("[{app}] Confirm your email address"),
        body: format!(
            "Dear {username},\n\nTo finish creating your account, open this link:\n\n{link}\n\nThe link works once and expires in {}.\nIf you did not register, ignore this message: no account is created without the link.\n\n{app}\n",
            human_duration(auth.policy().registration_token_ttl),
        ),
    }
}

/// The notice to the owner of an address someone tried to register again.
fn notice_mail(state: &AppState, to: String, username: &str) -> Mail {
    let app = &state.config.app_name;
    let base = &state.config.base_url;
    Mail {
        to,
        subject: format!("[{app}] Someone tried to register with your address"),
        body: format!(
            "Dear {username},\n\nSomeone tried to register a new account with this email address. It already has yours, so nothing was created.\n\nIf it was you, log in at {base}/login, or reset your password at {base}/reset_password_request if you have forgotten it.\nIf it was not you, ignore this message: nothing has changed.\n\n{app}\n"
        ),
    }
}

/// The email-confirmed branch of POST /register, after the form's own
/// checks (every field filled, the passwords match). `keep` refills the
/// form when it is shown again.
pub(super) async fn start(
    state: &AppState,
    session: &Visitor,
    username: &str,
    email: &str,
    password: &SecretString,
    names: Names,
    keep: Value,
) -> Page {
    let auth = session.auth();
    let (mail, kept) = match auth.start_registration(username, email, password).await {
        Ok(RegistrationStart::Confirm(m)) => (
            Some(confirm_mail(
                state,
                auth,
                m.email.clone(),
                &m.username,
                m.token(),
            )),
            Some(KeepNames::new(auth, m.token(), names)?),
        ),
        Ok(RegistrationStart::AlreadyRegistered { email, username }) => {
            (Some(notice_mail(state, email, &username)), None)
        }
        // The address's mail budget is spent (the library's event records
        // it): no mail, and the same page as the others.
        Ok(RegistrationStart::MailSuppressed) => (None, None),
        Ok(_) => {
            return Err(AppError::Internal(
                "an unknown kind of registration start".into(),
            ));
        }
        Err(e) => {
            return form_error(
                state,
                session,
                "register.html",
                FormError::from_auth(e)?,
                keep,
            )
            .await;
        }
    };
    // Sent in the background, so a slow mail server does not show in the
    // answer's timing (which would tell the two cases apart); so are the
    // names kept (a store write only for a new address), before the link
    // leaves.
    let mailer = state.mailer.clone();
    let store = state.state_store.clone();
    tokio::spawn(async move {
        if let Some(k) = kept
            && let Err(e) = store.put(&k.key, &k.value, k.until).await
        {
            tracing::error!(error = %e, "could not keep the names of a registration");
        }
        if let Some(mail) = mail
            && let Err(e) = mailer.send(&mail.to, &mail.subject, &mail.body).await
        {
            tracing::error!(error = %e, "could not send the registration email");
        }
    });
    // The same page either way: nothing on it depends on the address.
    render(
        state,
        session,
        "check_inbox.html",
        StatusCode::OK,
        context! { ttl => human_duration(auth.policy().registration_token_ttl) },
    )
    .await
}

/// GET /confirm_email/{token}: creates the account, then the login page.
pub(super) async fn confirm_email(
    State(state): State<AppState>,
    session: Visitor,
    Path(token): Path<String>,
) -> Page {
    let (status, message) = match session.auth().confirm_registration(&token).await {
        Ok(user) => {
            save_kept_names(&state, session.auth(), &token, user.id).await;
            flash(
                &session,
                "success",
                "Your address is confirmed; you can log in now.",
            )
            .await?;
            return Ok(see_other("/login"));
        }
        Err(AuthError::InvalidConfirmationToken) => (
            StatusCode::BAD_REQUEST,
            "This confirmation link is invalid, was already used or has expired. If you have confirmed your address already, log in; otherwise, please register again.",
        ),
        // Only the address's owner has the link, so saying this tells
        // nobody else anything.
        Err(AuthError::EmailTaken) => (
            StatusCode::CONFLICT,
            "This address got an account in the meantime. Please log in, or reset your password if you have forgotten it.",
        ),
        Err(AuthError::UsernameTaken) => (
            StatusCode::CONFLICT,
            "Someone took this username before you confirmed. Please register again with another one.",
        ),
        Err(e) => return Err(e.into()),
    };
    render(
        &state,
        &session,
        "confirm_email_invalid.html",
        status,
        context! { message => message },
    )
    .await
}
