//! Registration confirmed by email (`REGISTRATION_CONFIRM_EMAIL=1`, which
//! sets `Policy::registration` to `Registration::EmailConfirmed`).
//!
//! POST /register takes only a username and an address, and answers a new
//! and an already registered address with the same "check your inbox"
//! page; only the email differs: a confirmation link for a new address, a
//! notice to the owner of a taken one. A taken username is still said to be
//! taken (usernames are public on profile pages).
//!
//! GET /confirm_email/{token} only shows a page: mail scanners and link
//! previews open links, so opening one creates and uses up nothing (HEAD
//! answers like GET). The page asks for the names and the password, so
//! everything the account holds besides its username was typed by whoever
//! holds the mailbox, never by whoever filled in the register form. Its
//! POST (CSRF-checked like every form) creates the account once and sends
//! the visitor to the login page (post, redirect, get: a reload does not
//! post again, and a link in an email never logs anyone in). A used link
//! says "already confirmed, log in" until it would have expired.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use minijinja::{Value, context};
use secrecy::SecretString;
use serde::Deserialize;
use twofa_verify::{Authenticator, Error as AuthError, PendingAccount, RegistrationStart};

use super::AppState;
use super::auth::Names;
use super::errors::{AppError, FormError, human_duration};
use super::render::{AppForm, Page, Visitor, form_error, ok, render};

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
            "Dear {username},\n\nTo finish creating your account, open this link and choose your password:\n\n{link}\n\nThe link works once and expires in {}.\nIf you did not register, ignore this message: no account is created unless a password is chosen on that page.\n\n{app}\n",
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
/// check (both fields filled). `keep` refills the form when it is shown
/// again.
pub(super) async fn start(
    state: &AppState,
    session: &Visitor,
    username: &str,
    email: &str,
    keep: Value,
) -> Page {
    let auth = session.auth();
    let mail = match auth.start_registration(username, email).await {
        Ok(RegistrationStart::Confirm(m)) => Some(confirm_mail(
            state,
            auth,
            m.email.clone(),
            &m.username,
            m.token(),
        )),
        Ok(RegistrationStart::AlreadyRegistered { email, username }) => {
            Some(notice_mail(state, email, &username))
        }
        // The address's mail budget is spent (the library's event records
        // it): no mail, and the same page as the others.
        Ok(RegistrationStart::MailSuppressed) => None,
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
    // answer's timing (which would tell the two cases apart).
    let mailer = state.mailer.clone();
    tokio::spawn(async move {
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

/// The page of a link that cannot be confirmed (any more), or the error
/// when the library failed.
async fn link_page(state: &AppState, v: &Visitor, e: AuthError) -> Page {
    let (status, title, message, used) = match e {
        AuthError::RegistrationAlreadyConfirmed => (
            StatusCode::CONFLICT,
            "Already confirmed",
            "This address is already confirmed and its account exists. Please log in.",
            true,
        ),
        AuthError::InvalidConfirmationToken => (
            StatusCode::BAD_REQUEST,
            "Link not valid",
            "This confirmation link is invalid or has expired. Please register again.",
            false,
        ),
        // Only the address's owner has the link, so saying this tells
        // nobody else anything.
        AuthError::EmailTaken => (
            StatusCode::CONFLICT,
            "Address already registered",
            "This address got an account in the meantime. Please log in, or reset your password if you have forgotten it.",
            true,
        ),
        AuthError::UsernameTaken => (
            StatusCode::CONFLICT,
            "Username taken",
            "Someone took this username before you confirmed. Please register again with another one.",
            false,
        ),
        e => return Err(e.into()),
    };
    render(
        state,
        v,
        "confirm_email_invalid.html",
        status,
        context! { title => title, message => message, used => used },
    )
    .await
}

/// What the confirmation page shows besides its form fields.
fn page_context(token: &str, pending: &PendingAccount) -> Value {
    context! {
        token => token,
        username => pending.username.clone(),
        email => pending.email.clone(),
    }
}

/// GET (and HEAD) /confirm_email/{token}: the page that asks for the names
/// and the password. Checks the link and changes nothing.
pub(super) async fn confirm_form(
    State(state): State<AppState>,
    v: Visitor,
    Path(token): Path<String>,
) -> Page {
    match v.auth().check_registration_token(&token).await {
        Ok(pending) => {
            ok(
                &state,
                &v,
                "confirm_email.html",
                page_context(&token, &pending),
            )
            .await
        }
        Err(e) => link_page(&state, &v, e).await,
    }
}

/// The confirmation page's form.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ConfirmForm {
    first_name: String,
    last_name: String,
    password: String,
    password2: String,
}

/// POST /confirm_email/{token}: creates the account with the names and
/// password typed on the page, then the login page.
pub(super) async fn confirm_email(
    State(state): State<AppState>,
    v: Visitor,
    Path(token): Path<String>,
    AppForm(f): AppForm<ConfirmForm>,
) -> Page {
    let auth = v.auth();
    let pending = match auth.check_registration_token(&token).await {
        Ok(p) => p,
        Err(e) => return link_page(&state, &v, e).await,
    };
    let keep = context! {
        first_name => f.first_name.clone(),
        last_name => f.last_name.clone(),
        ..page_context(&token, &pending)
    };
    let fail = |e: FormError| form_error(&state, &v, "confirm_email.html", e, keep.clone());
    if f.first_name.trim().is_empty() || f.last_name.trim().is_empty() || f.password.is_empty() {
        return fail(FormError::invalid("Please fill in every field.")).await;
    }
    let names = match Names::parse(&f.first_name, &f.last_name) {
        Ok(n) => n,
        Err(e) => return fail(e).await,
    };
    if f.password != f.password2 {
        return fail(FormError::invalid("The two passwords do not match.")).await;
    }
    let password = SecretString::from(f.password);
    match auth.confirm_registration(&token, &password).await {
        Ok(user) => {
            let message = "Your address is confirmed and your account is ready. Please log in.";
            names.account_ready(&state, &v, user.id, message).await
        }
        Err(
            e @ (AuthError::RegistrationAlreadyConfirmed
            | AuthError::InvalidConfirmationToken
            | AuthError::EmailTaken
            | AuthError::UsernameTaken),
        ) => link_page(&state, &v, e).await,
        Err(e) => fail(FormError::from_auth(e)?).await,
    }
}
