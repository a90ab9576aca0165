//! Flash messages: one-time notes for the next page ("You have been logged
//! out."), kept in a cookie of their own, sealed like the other secrets a
//! browser holds for us (`sealed.rs`: AES-256-GCM under a key derived from
//! the app's secret key), not in the session.
//!
//! In the session, a message for a visitor who is not logged in (after a
//! logout, a failed login) would make the server keep a session for
//! someone it does not know, and taking the message on the next page would
//! write the whole session back, racing the visitor's other requests (a
//! logout among them). A cookie costs the server nothing and changes no
//! session. axum-messages keeps messages in the session and is built on an
//! older tower-sessions than this site's.
//!
//! A message may end with a wait ("You can ask for a new code in 27 s."):
//! pages show it counted down (`static/forms.js`), as plain text without
//! scripts. And a form refused by a redirect (a rate limit: see
//! `render::form_error`) leaves what was typed in it here for the page it
//! goes back to: the fields' values, never a password or a code.

use std::collections::BTreeMap;

use axum::http::Extensions;
use serde::{Deserialize, Serialize};
use tower_cookies::Cookies;
use twofa_verify::axum::cookie_name;
use twofa_verify::axum::tower_sessions::cookie::{Cookie, SameSite};

use super::AppState;
use super::errors::{short_wait, wait_secs};
use super::sealed::SessionSeal;

/// The cookie's name (`__Host-` prefixed over https).
pub const FLASH_COOKIE: &str = "twofa_flash";
/// The associated data that keeps a sealed message from opening as
/// anything else sealed with the same key.
const CONTEXT: &[u8] = b"flash";
/// Messages kept at most (the oldest go first): a cookie holds ~4 KiB.
const MAX_MESSAGES: usize = 4;
/// Characters of a message kept at most.
const MAX_CHARS: usize = 300;
/// Characters of a kept field value at most (an email address is 254).
const MAX_FIELD_CHARS: usize = 320;
/// Kept fields at most.
const MAX_FIELDS: usize = 8;

/// One message.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Flash {
    /// `success`, `info` or `error` (the style).
    pub kind: String,
    /// The text (HTML-escaped by the templates); with a wait, the words
    /// before it ("You can ask for a new code").
    pub text: String,
    /// When the wait the message ends with is over (unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
}

/// What typed into a form comes back with it after a redirect.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct KeptForm {
    /// The template of the form's page: only that page refills it.
    pub template: String,
    /// The fields' values by name.
    pub fields: BTreeMap<String, String>,
}

/// What the cookie holds.
#[derive(Serialize, Deserialize, Default)]
struct Contents {
    messages: Vec<Flash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    form: Option<KeptForm>,
}

/// This request's flash cookie.
#[derive(Clone)]
pub struct FlashJar {
    /// `None` outside the session layer (which manages the cookies).
    cookies: Option<Cookies>,
    seal: SessionSeal,
    name: String,
    secure: bool,
}

impl FlashJar {
    /// The jar of a request (its extensions, inside the session layer).
    pub fn new(extensions: &Extensions, state: &AppState) -> Self {
        FlashJar {
            cookies: extensions.get::<Cookies>().cloned(),
            seal: state.seal.clone(),
            name: cookie_name(FLASH_COOKIE, state.config.cookie_secure),
            secure: state.config.cookie_secure,
        }
    }

    fn read(&self, cookies: &Cookies) -> Contents {
        cookies
            .get(&self.name)
            .and_then(|c| self.seal.open_with(CONTEXT, c.value()).ok())
            .and_then(|plain| serde_json::from_slice(&plain).ok())
            .unwrap_or_default()
    }

    fn write(&self, cookies: &Cookies, contents: &Contents) {
        let sealed = serde_json::to_vec(contents)
            .ok()
            .and_then(|plain| self.seal.seal_with(CONTEXT, &plain).ok());
        match sealed {
            Some(value) => cookies.add(self.cookie(value)),
            None => tracing::warn!("a flash message could not be sealed"),
        }
    }

    /// Adds a message for the next page shown to this visitor.
    pub fn push(&self, kind: &str, text: String) {
        self.push_wait(kind, text, None);
    }

    /// Adds a message that ends with a wait, over at `until` (unix
    /// milliseconds).
    pub fn push_wait(&self, kind: &str, text: String, until: Option<i64>) {
        let Some(cookies) = &self.cookies else {
            return;
        };
        let mut contents = self.read(cookies);
        contents.messages.push(Flash {
            kind: kind.to_owned(),
            text: text.chars().take(MAX_CHARS).collect(),
            until,
        });
        let drop = contents.messages.len().saturating_sub(MAX_MESSAGES);
        contents.messages.drain(..drop);
        self.write(cookies, &contents);
    }

    /// Keeps what was typed into the form of `template` for its page.
    pub fn keep_form(&self, form: KeptForm) {
        let Some(cookies) = &self.cookies else {
            return;
        };
        let fields = form
            .fields
            .into_iter()
            .filter(|(_, v)| v.chars().count() <= MAX_FIELD_CHARS)
            .take(MAX_FIELDS)
            .collect();
        let mut contents = self.read(cookies);
        contents.form = Some(KeptForm {
            template: form.template,
            fields,
        });
        self.write(cookies, &contents);
    }

    /// Takes this visitor's messages and kept form (the cookie is cleared).
    pub fn take(&self) -> (Vec<Flash>, Option<KeptForm>) {
        let Some(cookies) = &self.cookies else {
            return (Vec::new(), None);
        };
        if cookies.get(&self.name).is_none() {
            return (Vec::new(), None);
        }
        let contents = self.read(cookies);
        cookies.remove(self.cookie(String::new()));
        (contents.messages, contents.form)
    }

    fn cookie(&self, value: String) -> Cookie<'static> {
        Cookie::build((self.name.clone(), value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .build()
    }
}

/// A flash message as the pages show it.
#[derive(Serialize)]
pub struct FlashView {
    kind: String,
    text: String,
    /// The wait left, in whole seconds rounded up (0: over), for the
    /// countdown; and in words ("27 s").
    seconds: Option<u64>,
    wait: Option<String>,
}

impl FlashView {
    /// The view of `f` at `now` (unix milliseconds).
    pub fn new(f: Flash, now: i64) -> Self {
        let left = f.until.map(|until| {
            let ms = u64::try_from(until.saturating_sub(now)).unwrap_or(0);
            std::time::Duration::from_millis(ms)
        });
        FlashView {
            kind: f.kind,
            text: f.text,
            seconds: left.map(|d| if d.is_zero() { 0 } else { wait_secs(d) }),
            wait: left.filter(|d| !d.is_zero()).map(short_wait),
        }
    }
}
