//! Cookie names with the `__Host-` prefix on https sites.

/// The name a cookie of this site gets: `__Host-{name}` when the cookie is
/// `Secure` (the site is served over https), plain `name` otherwise.
///
/// Browsers accept a `__Host-` cookie only when it is `Secure`, has
/// `Path=/` and no `Domain`, so a sibling subdomain or a plain-http page of
/// the same host cannot set, replace or shadow it (cookie tossing, session
/// fixation). On plain http (local development) browsers refuse the
/// prefix, hence the plain name there. Give every cookie of the site
/// (session, CSRF nonce) its name from here, with `Path=/`.
///
/// ```
/// use twofa_verify::web::cookie_name;
/// assert_eq!(cookie_name("session", true), "__Host-session");
/// assert_eq!(cookie_name("session", false), "session");
/// ```
pub fn cookie_name(name: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{name}")
    } else {
        name.to_owned()
    }
}
