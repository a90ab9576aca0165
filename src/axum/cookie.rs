//! Cookie names with the `__Host-` prefix on https sites.

/// The name a cookie of this site gets: `__Host-{name}` when the cookie is
/// `Secure` (the site is served over https), plain `name` otherwise.
///
/// Browsers accept a `__Host-` cookie only when it is `Secure`, has
/// `Path=/` and no `Domain`, so a sibling subdomain or a plain-http page of
/// the same host cannot set, replace or shadow it (cookie tossing, session
/// fixation). On plain http (local development) browsers refuse the
/// prefix, hence the plain name there.
///
/// Give the session layer the same name:
///
/// ```
/// use twofa_verify::axum::tower_sessions::{MemoryStore, SessionManagerLayer};
/// use twofa_verify::axum::cookie_name;
/// let secure = true; // served over https
/// let layer = SessionManagerLayer::new(MemoryStore::default())
///     .with_name(cookie_name("session", secure))
///     .with_secure(secure)
///     .with_path("/");
/// assert_eq!(cookie_name("session", secure), "__Host-session");
/// assert_eq!(cookie_name("session", false), "session");
/// # let _ = layer;
/// ```
pub fn cookie_name(name: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{name}")
    } else {
        name.to_owned()
    }
}
