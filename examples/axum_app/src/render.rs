//! Pages: the templates, the [`Visitor`] every page is rendered for (its
//! auth session and CSRF token), flash messages and small helpers.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, Uri, header, request::Parts};
use axum::response::{IntoResponse, Response};
use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use serde::{Serialize, de::DeserializeOwned};
use twofa_verify::axum::{AuthSession, CsrfToken};

use super::AppState;
use super::errors::{AppError, FormError, with_retry_after};
use super::flash::{FlashJar, FlashView, KeptForm};
use super::waits;

/// What a handler returns.
pub type Page = Result<Response, AppError>;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("index.html", include_str!("../templates/index.html")),
    ("register.html", include_str!("../templates/register.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("logout.html", include_str!("../templates/logout.html")),
    (
        "enroll_2fa.html",
        include_str!("../templates/enroll_2fa.html"),
    ),
    (
        "verify_2fa.html",
        include_str!("../templates/verify_2fa.html"),
    ),
    ("profile.html", include_str!("../templates/profile.html")),
    (
        "edit_profile.html",
        include_str!("../templates/edit_profile.html"),
    ),
    (
        "change_email.html",
        include_str!("../templates/change_email.html"),
    ),
    (
        "email_link_invalid.html",
        include_str!("../templates/email_link_invalid.html"),
    ),
    (
        "confirm_new_email.html",
        include_str!("../templates/confirm_new_email.html"),
    ),
    (
        "sign_out_everywhere.html",
        include_str!("../templates/sign_out_everywhere.html"),
    ),
    (
        "change_password.html",
        include_str!("../templates/change_password.html"),
    ),
    (
        "enable_2fa.html",
        include_str!("../templates/enable_2fa.html"),
    ),
    (
        "enable_2fa_verify.html",
        include_str!("../templates/enable_2fa_verify.html"),
    ),
    (
        "enable_totp.html",
        include_str!("../templates/enable_totp.html"),
    ),
    (
        "disable_2fa.html",
        include_str!("../templates/disable_2fa.html"),
    ),
    (
        "recovery_codes.html",
        include_str!("../templates/recovery_codes.html"),
    ),
    (
        "regenerate_codes.html",
        include_str!("../templates/regenerate_codes.html"),
    ),
    (
        "reset_password_request.html",
        include_str!("../templates/reset_password_request.html"),
    ),
    (
        "reset_password.html",
        include_str!("../templates/reset_password.html"),
    ),
    ("error.html", include_str!("../templates/error.html")),
    (
        "reset_link_invalid.html",
        include_str!("../templates/reset_link_invalid.html"),
    ),
    (
        "check_inbox.html",
        include_str!("../templates/check_inbox.html"),
    ),
    (
        "confirm_email.html",
        include_str!("../templates/confirm_email.html"),
    ),
    (
        "confirm_email_invalid.html",
        include_str!("../templates/confirm_email_invalid.html"),
    ),
    ("passkeys.html", include_str!("../templates/passkeys.html")),
    ("_macros.html", include_str!("../templates/_macros.html")),
    (
        "security_activity.html",
        include_str!("../templates/security_activity.html"),
    ),
];

const STYLES: &str = include_str!("../static/styles.css");
const COPY_JS: &str = include_str!("../static/copy.js");
const FORMS_JS: &str = include_str!("../static/forms.js");
#[cfg(feature = "passkeys")]
const PASSKEYS_JS: &str = include_str!("../static/passkeys.js");
const FAVICON: &str = include_str!("../static/favicon.svg");

/// The templates; `.html` ones are HTML-escaped automatically.
pub fn templates() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        env.add_template(name, source)?;
    }
    Ok(env)
}

/// A file of the site's own, cacheable for an hour.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// GET /static/styles.css
pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLES)
}

/// GET /static/copy.js: the copy buttons (progressive: pages work without).
pub async fn copy_script() -> Response {
    asset("text/javascript; charset=utf-8", COPY_JS)
}

/// GET /static/forms.js: countdowns of waits, and "Text a code" without
/// leaving the page (progressive: pages work without).
pub async fn forms_script() -> Response {
    asset("text/javascript; charset=utf-8", FORMS_JS)
}

/// GET /static/passkeys.js: the passkey ceremonies' browser half
/// (`passkeys.rs`); the passkey buttons stay hidden without it.
#[cfg(feature = "passkeys")]
pub async fn passkeys_script() -> Response {
    asset("text/javascript; charset=utf-8", PASSKEYS_JS)
}

/// GET /static/favicon.svg, and /favicon.ico for browsers that ask there
/// whatever the page declares (they go by the content type, not the name).
pub async fn favicon() -> Response {
    asset("image/svg+xml", FAVICON)
}

/// The visitor of a page: the library's auth session (user, pending
/// login, authenticator with this client's context) and CSRF token.
pub struct Visitor {
    /// The auth session.
    pub session: AuthSession,
    /// `None` outside the CSRF middleware (error pages): then only a
    /// session with a login gets a token, its own.
    csrf: Option<CsrfToken>,
    /// The flash messages' cookie.
    flash: FlashJar,
    /// The request's path: a form refused with a wait goes back to its
    /// page (see [`form_error`]).
    path: String,
}

impl Visitor {
    /// The visitor of an error page rendered outside the CSRF middleware.
    pub fn without_csrf(session: AuthSession, flash: FlashJar) -> Self {
        Visitor {
            session,
            csrf: None,
            flash,
            path: String::new(),
        }
    }

    /// Keeps what was typed into the form of template `name` (the fields
    /// of `ctx` that are neither passwords nor codes) for the next time
    /// its page is shown, after a redirect.
    pub fn keep_typed(&self, name: &str, ctx: &Value) {
        self.flash.keep_form(KeptForm {
            template: name.to_owned(),
            fields: waits::kept_fields(ctx),
        });
    }

    /// The flash messages' cookie.
    pub(super) fn flash_jar(&self) -> &FlashJar {
        &self.flash
    }

    async fn csrf_value(&self) -> Result<String, AppError> {
        Ok(match &self.csrf {
            Some(t) => t.value().await?,
            None if self.user().is_some() || self.pending().is_some() => {
                twofa_verify::axum::csrf_token(self.session.session()).await?
            }
            // An anonymous error page has no form.
            None => String::new(),
        })
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let session = AuthSession::from_request_parts(parts, state).await?;
        let Ok(csrf) = CsrfToken::from_request_parts(parts, state).await;
        Ok(Visitor {
            session,
            csrf: Some(csrf),
            flash: FlashJar::new(&parts.extensions, state),
            path: parts.uri.path().to_owned(),
        })
    }
}

impl std::ops::Deref for Visitor {
    type Target = AuthSession;

    fn deref(&self) -> &AuthSession {
        &self.session
    }
}

impl std::ops::DerefMut for Visitor {
    fn deref_mut(&mut self) -> &mut AuthSession {
        &mut self.session
    }
}

/// A URL-encoded form (the CSRF middleware has checked the media type and
/// read the body): bad input gives a friendly 400 page, not a bare 422,
/// and the media type's letter case does not matter, unlike axum's `Form`.
pub struct AppForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppForm<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, _: &S) -> Result<Self, AppError> {
        let bad = || {
            AppError::page(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "That form could not be read. Please go back and try again.",
            )
        };
        // The CSRF middleware has read it already (16 KiB at most).
        let bytes = axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .map_err(|_| bad())?;
        serde_urlencoded::from_bytes(&bytes)
            .map(AppForm)
            .map_err(|_| bad())
    }
}

/// A message for the next page shown to this visitor (a cookie: see
/// `flash.rs`).
pub async fn flash(v: &Visitor, kind: &str, text: impl Into<String>) -> Result<(), AppError> {
    v.flash.push(kind, text.into());
    Ok(())
}

#[derive(Serialize)]
struct NavUser {
    url: String,
    username: String,
    email: String,
    has_2fa: bool,
}

/// A page as HTML.
pub async fn render_html(
    state: &AppState,
    v: &Visitor,
    name: &str,
    ctx: Value,
) -> Result<String, AppError> {
    let user = v.user().map(|u| NavUser {
        url: profile_url(&u.username),
        has_2fa: u.has_second_factor(),
        username: u.username.clone(),
        email: u.email.clone(),
    });
    let (flashes, kept) = v.flash.take();
    let now = state.auth.now().as_millis();
    let flashes: Vec<FlashView> = flashes
        .into_iter()
        .map(|f| FlashView::new(f, now))
        .collect();
    // What the visitor typed before a redirect back here wins over the
    // page's blank fields.
    let kept = kept
        .filter(|k| k.template == name)
        .map(|k| Value::from(k.fields))
        .unwrap_or_else(|| context! {});
    let base = context! {
        app_name => state.config.app_name.clone(),
        current_user => Serde(user),
        csrf_token => v.csrf_value().await?,
        flashes => Serde(flashes),
        pending_login => v.pending().is_some(),
        passkeys_available => passkeys_available(state),
    };
    let tmpl = state.templates.get_template(name)?;
    Ok(tmpl.render(context! { ..kept, ..ctx, ..base })?)
}

/// Whether the pages offer passkeys (feature `passkeys` and a relying party).
fn passkeys_available(state: &AppState) -> bool {
    #[cfg(feature = "passkeys")]
    return state.auth.passkeys_available();
    #[cfg(not(feature = "passkeys"))]
    {
        let _ = state;
        false
    }
}

/// A page with a status.
pub async fn render(
    state: &AppState,
    v: &Visitor,
    name: &str,
    status: StatusCode,
    ctx: Value,
) -> Page {
    let html = render_html(state, v, name, ctx).await?;
    Ok((status, axum::response::Html(html)).into_response())
}

/// A page with 200.
pub async fn ok(state: &AppState, v: &Visitor, name: &str, ctx: Value) -> Page {
    render(state, v, name, StatusCode::OK, ctx).await
}

/// Shows a form again with the error of `e`.
///
/// A refusal with a wait (a delay, a lock, a rate limit) is answered with
/// a redirect to the form's own page instead (Post/Redirect/Get): the
/// message and its countdown come as a flash, what was typed (but
/// passwords and codes) comes back in the fields, and a reload does not
/// post again. The redirect keeps `Retry-After`.
pub async fn form_error(
    state: &AppState,
    v: &Visitor,
    name: &str,
    e: FormError,
    ctx: Value,
) -> Page {
    if let Some(wait) = e.retry_after {
        return waits::back_with_wait(state, v, name, &e.message, wait, &ctx, &v.path).await;
    }
    let mut resp = render(
        state,
        v,
        name,
        e.status,
        context! { error => e.message, ..ctx },
    )
    .await?;
    with_retry_after(&mut resp, e.retry_after);
    Ok(resp)
}

/// The profile page of a user.
pub fn profile_url(username: &str) -> String {
    format!("/user/{}", urlencode(username))
}

/// Percent-encodes everything but unreserved characters.
pub fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The first value of `key` in the query string. Lenient where axum's
/// `Query` is strict: repeated keys and bytes that are not UTF-8 (replaced)
/// are no error.
pub fn query_param(uri: &Uri, key: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(uri.query()?)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// `YYYY-MM-DD` (UTC) from unix milliseconds; empty when out of range.
pub fn civil_date(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(1_700_000_000_000), "2023-11-14");
        assert_eq!(civil_date(-1), "1969-12-31");
        assert_eq!(civil_date(i64::MAX), "");
        assert_eq!(urlencode("a b/c"), "a%20b%2Fc");
    }
}
