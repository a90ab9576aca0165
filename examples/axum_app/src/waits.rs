//! Forms refused with a wait (a delay or a lock after failures, a code
//! asked for too soon, a per-client limit): the answer is a redirect to
//! the form's own page (Post/Redirect/Get), never a 429 page at the
//! form's URL that a reload would post again. The message and its wait go
//! as a flash (the page counts it down: `static/forms.js`), and what was
//! typed, but passwords and codes, comes back in the fields.

use std::collections::BTreeMap;
use std::time::Duration;

use minijinja::Value;

use super::AppState;
use super::errors::{AppError, with_retry_after};
use super::flash::KeptForm;
use super::render::{Page, Visitor, urlencode};

/// A message that ends with `wait` ("You can ask for a new code" and 27 s),
/// counted down on the next page.
async fn flash_wait(
    state: &AppState,
    v: &Visitor,
    kind: &str,
    text: impl Into<String>,
    wait: Duration,
) -> Result<(), AppError> {
    let until = state.auth.now().plus(wait).as_millis();
    v.flash_jar().push_wait(kind, text.into(), Some(until));
    Ok(())
}

/// The fields of a form that come back with it after a redirect: what the
/// user typed that is neither a password nor a code.
const KEPT_FIELDS: &[&str] = &[
    "username",
    "email",
    "first_name",
    "last_name",
    "phone",
    "country",
    "factor",
    "next",
    "remember_me",
    "method",
];

/// The kept fields of `ctx`, the context a form is shown again with.
pub(super) fn kept_fields(ctx: &Value) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    for name in KEPT_FIELDS {
        let Ok(v) = ctx.get_attr(name) else { continue };
        if let Some(s) = v.as_str() {
            if !s.is_empty() {
                fields.insert((*name).to_owned(), s.to_owned());
            }
        } else if v.kind() == minijinja::value::ValueKind::Bool && v.is_true() {
            fields.insert((*name).to_owned(), "1".to_owned());
        }
    }
    fields
}

/// The page of the form posted to `path`: its own path, but for the forms
/// posted elsewhere than the page that shows them.
fn form_page(path: &str) -> &str {
    match path {
        "/enable_totp/start" => "/enable_totp",
        "/verify_2fa/resend" => "/verify_2fa?method=sms",
        p => p,
    }
}

/// Sends the visitor back to the page of the form posted to `posted_to`
/// with `text` and its `wait` as a flash, and the typed fields of `ctx`
/// kept for template `name`.
pub async fn back_with_wait(
    state: &AppState,
    v: &Visitor,
    name: &str,
    text: &str,
    wait: Duration,
    ctx: &Value,
    posted_to: &str,
) -> Page {
    flash_wait(state, v, "error", text, wait).await?;
    let fields = kept_fields(ctx);
    let page = match fields.get("next").filter(|_| name == "login.html") {
        // The login form's `next` goes back in its query, as it came.
        Some(next) => format!("/login?next={}", urlencode(next)),
        None => form_page(posted_to).to_owned(),
    };
    v.flash_jar().keep_form(KeptForm {
        template: name.to_owned(),
        fields,
    });
    let mut resp = super::see_other(&page);
    with_retry_after(&mut resp, Some(wait));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn only_typed_fields_that_are_not_secrets_are_kept() {
        let ctx = context! {
            username => "ada",
            email => "",
            password => "correct horse",
            code => "123456",
            current => "old password",
            remember_me => true,
            has_2fa => true,
            next => "/edit_profile",
        };
        let kept = kept_fields(&ctx);
        assert_eq!(
            kept.into_iter().collect::<Vec<_>>(),
            [
                ("next".to_owned(), "/edit_profile".to_owned()),
                ("remember_me".to_owned(), "1".to_owned()),
                ("username".to_owned(), "ada".to_owned()),
            ]
        );
    }

    #[test]
    fn forms_posted_elsewhere_go_back_to_their_page() {
        assert_eq!(form_page("/enable_totp/start"), "/enable_totp");
        assert_eq!(form_page("/verify_2fa/resend"), "/verify_2fa?method=sms");
        assert_eq!(form_page("/change_email"), "/change_email");
    }
}
