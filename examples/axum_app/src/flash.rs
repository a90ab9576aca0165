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

use axum::http::Extensions;
use serde::{Deserialize, Serialize};
use tower_cookies::Cookies;
use tower_sessions::cookie::{Cookie, SameSite};
use twofa_verify::axum::cookie_name;

use super::AppState;
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

/// One message.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Flash {
    /// `success`, `info` or `error` (the style).
    pub kind: String,
    /// The text (HTML-escaped by the templates).
    pub text: String,
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

    fn read(&self, cookies: &Cookies) -> Vec<Flash> {
        cookies
            .get(&self.name)
            .and_then(|c| self.seal.open_with(CONTEXT, c.value()).ok())
            .and_then(|plain| serde_json::from_slice(&plain).ok())
            .unwrap_or_default()
    }

    /// Adds a message for the next page shown to this visitor.
    pub fn push(&self, kind: &str, text: String) {
        let Some(cookies) = &self.cookies else {
            return;
        };
        let mut all = self.read(cookies);
        all.push(Flash {
            kind: kind.to_owned(),
            text: text.chars().take(MAX_CHARS).collect(),
        });
        let drop = all.len().saturating_sub(MAX_MESSAGES);
        all.drain(..drop);
        let sealed = serde_json::to_vec(&all)
            .ok()
            .and_then(|plain| self.seal.seal_with(CONTEXT, &plain).ok());
        match sealed {
            Some(value) => cookies.add(self.cookie(value)),
            None => tracing::warn!("a flash message could not be sealed"),
        }
    }

    /// Takes this visitor's messages (the cookie is cleared).
    pub fn take(&self) -> Vec<Flash> {
        let Some(cookies) = &self.cookies else {
            return Vec::new();
        };
        if cookies.get(&self.name).is_none() {
            return Vec::new();
        }
        let all = self.read(cookies);
        cookies.remove(self.cookie(String::new()));
        all
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
