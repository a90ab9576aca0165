//! What [`AuthLayer`](super::AuthLayer) adds around tower-sessions: any
//! session store behind one type, and removal cookies a browser accepts.

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use tower_sessions::SessionStore;
use tower_sessions::cookie::{Cookie, SameSite};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store;

/// The session store of an [`AuthLayer`](super::AuthLayer): the
/// authenticator's, or the app's own, behind one type so that the layer
/// stays one type.
#[derive(Debug, Clone)]
pub(super) struct SharedStore(pub(super) Arc<dyn SessionStore>);

#[async_trait]
impl SessionStore for SharedStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.0.create(record).await
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.0.save(record).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.0.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.0.delete(id).await
    }
}

/// Gives the removal of the session cookie (logout, a session ended
/// elsewhere) the attributes of the cookie itself. tower-sessions 0.15
/// removes it with a `Path` only, and browsers ignore a `__Host-` cookie's
/// `Set-Cookie` without `Secure`: the dead cookie would stay and be sent
/// on. (Fixed upstream in tower-sessions#268, not yet released.)
pub(super) fn harden_removals(mut resp: Response, name: &str, secure: bool) -> Response {
    let headers = resp.headers_mut();
    let is_removal = |line: &HeaderValue| {
        line.to_str()
            .ok()
            .and_then(|l| Cookie::parse(l).ok())
            .is_some_and(|c| c.name() == name && c.max_age().is_some_and(|a| a.is_zero()))
    };
    if !headers.get_all(header::SET_COOKIE).iter().any(is_removal) {
        return resp;
    }
    let lines: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for line in lines {
        let fixed = if is_removal(&line) {
            harden(&line, secure).unwrap_or(line)
        } else {
            line
        };
        headers.append(header::SET_COOKIE, fixed);
    }
    resp
}

/// A removal line with `Secure` (on https), `HttpOnly`, `SameSite=Lax`
/// and `Path=/`, as the cookie was set.
fn harden(line: &HeaderValue, secure: bool) -> Option<HeaderValue> {
    let mut cookie = Cookie::parse(line.to_str().ok()?).ok()?;
    cookie.set_path("/");
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_secure(secure);
    HeaderValue::from_str(&cookie.to_string()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookies(lines: &[&str]) -> Response {
        let mut resp = Response::default();
        for l in lines {
            resp.headers_mut()
                .append(header::SET_COOKIE, HeaderValue::from_str(l).unwrap());
        }
        resp
    }

    fn lines(resp: &Response) -> Vec<String> {
        resp.headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn only_the_session_cookies_removal_is_changed() {
        let removal = "__Host-s=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT";
        let other = "__Host-flash=x; Path=/; Secure; HttpOnly";
        let live = "__Host-s=abc; Path=/; Secure; HttpOnly; SameSite=Lax";
        let out = lines(&harden_removals(
            with_cookies(&[other, removal, "s2=; Max-Age=0"]),
            "__Host-s",
            true,
        ));
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(out[0], other);
        let c = Cookie::parse(out[1].clone()).unwrap();
        assert_eq!(c.name(), "__Host-s");
        assert_eq!(
            (c.secure(), c.http_only(), c.path()),
            (Some(true), Some(true), Some("/"))
        );
        assert_eq!(c.same_site(), Some(SameSite::Lax));
        assert!(c.max_age().is_some_and(|a| a.is_zero()));
        assert_eq!(out[2], "s2=; Max-Age=0", "another cookie's removal");
        // A live cookie, and plain http, are left as they are.
        assert_eq!(
            lines(&harden_removals(with_cookies(&[live]), "__Host-s", true)),
            [live]
        );
        let plain = lines(&harden_removals(
            with_cookies(&["s=; Path=/; Max-Age=0"]),
            "s",
            false,
        ));
        assert!(!plain[0].contains("Secure"), "{plain:?}");
    }
}
