//! CSRF tokens for form apps, for any framework.
//!
//! A session gets a synchronizer token ([`session_token`]): 256 random
//! bits kept in the session, renewed at every login. Forms carry it in a
//! `csrf_token` field ([`FIELD`]), scripts in an `X-CSRF-Token` header
//! ([`HEADER`]), and every state-changing request ([`needs_token`]) whose
//! token does not match is refused, compared in constant time.
//!
//! Pages show every token masked ([`masked`]): XORed with a fresh random
//! pad, the pad in front, so that no two renders of a form carry the same
//! bytes. A page that is compressed (gzip, brotli) and also echoes what a
//! visitor typed would otherwise let an eavesdropper guess the token a
//! character at a time from the sizes of the answers (BREACH). The check
//! takes masked tokens and plain ones alike.
//!
//! Visitors without a session (the login and registration forms) would
//! need a session just for the token. [`CsrfTokens`] with a key gives them
//! a signed double submit instead: a random nonce in a cookie of its own
//! ([`NONCE_COOKIE`], `HttpOnly`, `SameSite=Lax`), and forms carry
//! `HMAC(key, nonce)`; a POST is accepted when its token matches the nonce
//! of the cookie it came with. Nothing is kept on the server until the
//! visitor logs in. A session that is logged in or half logged in always
//! needs its own token.
//!
//! ```
//! use twofa_verify::SecretKey;
//! use twofa_verify::web::csrf::{CsrfTokens, Presented, SessionCsrf};
//!
//! let csrf = CsrfTokens::new().anonymous(SecretKey::generate());
//! // GET /login: no session yet; the page's token and the cookie to set.
//! let form = csrf.anonymous_token(None).unwrap();
//! let cookie = form.set_cookie.unwrap();
//! // POST /login with that cookie and the form's field.
//! let sent = Presented { token: Some(&form.token), nonce_cookie: Some(&cookie) };
//! assert!(csrf.accepts(SessionCsrf::Anonymous, sent));
//! // Without the cookie (another site's form), refused.
//! let forged = Presented { token: Some(&form.token), nonce_cookie: None };
//! assert!(!csrf.accepts(SessionCsrf::Anonymous, forged));
//! ```

use std::fmt;

use crate::crypto::{Keys, ct_eq, fill_random, random_bytes, random_token};
use crate::key::SecretKey;

/// The form field that carries the token (see the [`CsrfTokens`] example).
pub const FIELD: &str = "csrf_token";
/// The header that carries the token, for scripts (see the [`CsrfTokens`]
/// example).
pub const HEADER: &str = "x-csrf-token";
/// The cookie of an anonymous visitor's nonce (`__Host-twofa_csrf` when
/// the cookie is `Secure`, see [`cookie_name`](super::cookie_name)).
pub const NONCE_COOKIE: &str = "twofa_csrf";

const NONCE_BYTES: usize = 32;
/// The longest presented token decoded: a masked one of a 43-character
/// token is 115 characters.
const MAX_PRESENTED: usize = 256;
const B64: data_encoding::Encoding = data_encoding::BASE64URL_NOPAD;
/// Domain separation of the anonymous-token MAC under the secret key.
const ANON_PURPOSE: &[u8] = b"csrf-anonymous-v1";

/// A new synchronizer token for a session (256 random bits, URL-safe
/// base64). Keep it in the session; make a new one at every login; show it
/// in pages [`masked`] (see the [`CsrfTokens`] example).
pub fn session_token() -> String {
    random_token::<32>()
}

/// `token` as a page shows it: XORed with a fresh random pad of its
/// length, the pad in front, in URL-safe base64 (twice the length, in
/// bytes, before the encoding). Every call gives another value, each
/// accepted by [`CsrfTokens::accepts`] as `token` itself, so a page's bytes
/// never repeat the token (see the [module](self) on BREACH).
///
/// ```
/// use twofa_verify::web::csrf::{CsrfTokens, Presented, SessionCsrf, masked, session_token};
/// let token = session_token(); // kept in the session
/// let (a, b) = (masked(&token), masked(&token)); // two renders of a form
/// assert_ne!(a, b);
/// for shown in [&a, &b] {
///     let sent = Presented { token: Some(shown), nonce_cookie: None };
///     assert!(CsrfTokens::new().accepts(SessionCsrf::Token(&token), sent));
/// }
/// ```
pub fn masked(token: &str) -> String {
    let secret = token.as_bytes();
    let mut out = vec![0u8; secret.len() * 2];
    let (pad, body) = out.split_at_mut(secret.len());
    fill_random(pad);
    for ((b, p), s) in body.iter_mut().zip(pad.iter()).zip(secret) {
        *b = p ^ s;
    }
    B64.encode(&out)
}

/// Whether `sent` is `expected`, plain (forms of before masking) or
/// [`masked`], in constant time but for the lengths, which are public.
fn presents(sent: &str, expected: &str) -> bool {
    if sent.len() == expected.len() {
        return ct_eq(sent.as_bytes(), expected.as_bytes());
    }
    if sent.len() > MAX_PRESENTED {
        return false;
    }
    let Ok(bytes) = B64.decode(sent.as_bytes()) else {
        return false;
    };
    if bytes.len() != 2 * expected.len() {
        return false;
    }
    let (pad, body) = bytes.split_at(expected.len());
    let token: Vec<u8> = pad.iter().zip(body).map(|(p, b)| p ^ b).collect();
    ct_eq(&token, expected.as_bytes())
}

/// Whether a request with this method must carry a token: every method
/// but GET, HEAD, OPTIONS and TRACE (ASCII case-insensitive). See the
/// [`CsrfTokens`] example.
pub fn needs_token(method: &str) -> bool {
    !["GET", "HEAD", "OPTIONS", "TRACE"]
        .iter()
        .any(|safe| safe.eq_ignore_ascii_case(method))
}

/// Whether a `Content-Type` is `application/x-www-form-urlencoded` (any
/// parameters): the only body [`token_in_form`] reads. A JSON or
/// multipart request carries the token in the [`HEADER`]. See the
/// [`CsrfTokens`] example.
pub fn is_form(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|essence| {
        essence
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

/// The [`FIELD`] of an `application/x-www-form-urlencoded` body (see the
/// [`CsrfTokens`] example).
pub fn token_in_form(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == FIELD)
        .map(|(_, v)| v.into_owned())
}

/// What the session says about CSRF, for [`CsrfTokens::accepts`]. Its
/// `Debug` hides the token. See the [`CsrfTokens`] example.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum SessionCsrf<'a> {
    /// The session's synchronizer token.
    Token(&'a str),
    /// The session is logged in or half logged in but has no token:
    /// nothing is accepted (a session that has a login always has its own
    /// token).
    LoginWithoutToken,
    /// No session, or one without a login: only an anonymous (signed
    /// double-submit) token can be accepted.
    Anonymous,
}

impl fmt::Debug for SessionCsrf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionCsrf::Token(_) => f.write_str("Token([redacted])"),
            SessionCsrf::LoginWithoutToken => f.write_str("LoginWithoutToken"),
            SessionCsrf::Anonymous => f.write_str("Anonymous"),
        }
    }
}

/// What a request presented: its token (the [`HEADER`], else the
/// [`FIELD`] of a form body) and the value of its [`NONCE_COOKIE`]. See the
/// [`CsrfTokens`] example.
#[derive(Clone, Copy, Default)]
pub struct Presented<'a> {
    /// The token sent with the request.
    pub token: Option<&'a str>,
    /// The anonymous nonce cookie's value.
    pub nonce_cookie: Option<&'a str>,
}

impl fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presented")
            .field("token", &self.token.map(|_| "[redacted]"))
            .field("nonce_cookie", &self.nonce_cookie.map(|_| "[redacted]"))
            .finish()
    }
}

/// A token for a page of a visitor without a session (see the
/// [module's example](crate::web::csrf)).
#[derive(Clone)]
#[non_exhaustive]
pub struct AnonymousToken {
    /// The token for the page's forms, [`masked`]: another at every call.
    pub token: String,
    /// A new nonce to set as the [`NONCE_COOKIE`] (`HttpOnly`,
    /// `SameSite=Lax`, `Path=/`, `Secure` on https), when the request
    /// brought no valid one.
    pub set_cookie: Option<String>,
}

impl fmt::Debug for AnonymousToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnonymousToken")
            .field("set_cookie", &self.set_cookie.is_some())
            .finish_non_exhaustive()
    }
}

/// The CSRF check: session tokens, and with [`anonymous`](Self::anonymous)
/// signed double-submit tokens for visitors without a session. Cheap to
/// clone.
///
/// A framework's handlers, with a session that holds a token (for
/// visitors without one, see the [module's example](crate::web::csrf)):
///
/// ```
/// use twofa_verify::web::csrf::{self, CsrfTokens, FIELD, HEADER, Presented, SessionCsrf};
///
/// let check = CsrfTokens::new(); // session tokens only
/// assert!(!check.has_anonymous());
///
/// // At login: a new token, kept in the session.
/// let in_session = csrf::session_token();
/// // Every page's forms carry it, masked anew at each render; scripts
/// // send it in the header.
/// let shown = csrf::masked(&in_session);
/// let field = format!(r#"<input type="hidden" name="{FIELD}" value="{shown}">"#);
/// assert_eq!(HEADER, "x-csrf-token");
/// # let _ = field;
///
/// // A POST of that form.
/// let (method, content_type) = ("POST", "application/x-www-form-urlencoded; charset=UTF-8");
/// let body = format!("amount=10&{FIELD}={shown}");
/// assert!(csrf::needs_token(method) && !csrf::needs_token("get"));
/// let sent = if csrf::is_form(content_type) { csrf::token_in_form(body.as_bytes()) } else { None };
/// let presented = Presented { token: sent.as_deref(), nonce_cookie: None };
/// assert!(check.accepts(SessionCsrf::Token(&in_session), presented));
///
/// // Another site's form has no token; a logged-in session without a token
/// // accepts nothing.
/// assert!(!check.accepts(SessionCsrf::Token(&in_session), Presented::default()));
/// assert!(!check.accepts(SessionCsrf::LoginWithoutToken, presented));
/// ```
#[derive(Debug, Clone, Default)]
pub struct CsrfTokens {
    anonymous: Option<Keys>,
}

impl CsrfTokens {
    /// Session-bound tokens only (see the [`CsrfTokens`] example).
    pub fn new() -> Self {
        Self::default()
    }

    /// Visitors without a session get signed double-submit tokens, signed
    /// with a key derived from `secret_key` (the same on every instance;
    /// the authenticator's is the one to give). See the
    /// [module's example](crate::web::csrf).
    pub fn anonymous(mut self, secret_key: SecretKey) -> Self {
        self.anonymous = Some(Keys::from(&secret_key));
        self
    }

    /// Anonymous tokens under already derived keys (the authenticator's).
    #[cfg(feature = "axum")]
    pub(crate) fn anonymous_with(keys: Keys) -> Self {
        CsrfTokens {
            anonymous: Some(keys),
        }
    }

    /// Whether anonymous tokens are on (see the [`CsrfTokens`] example).
    pub fn has_anonymous(&self) -> bool {
        self.anonymous.is_some()
    }

    /// The token for a page of a visitor without a session, for the nonce
    /// cookie the request brought (`None` when it brought none). `None`
    /// when anonymous tokens are off. See the
    /// [module's example](crate::web::csrf).
    pub fn anonymous_token(&self, nonce_cookie: Option<&str>) -> Option<AnonymousToken> {
        let keys = self.anonymous.as_ref()?;
        let (nonce, set_cookie) = match nonce_cookie.and_then(parse_nonce) {
            Some(nonce) => (nonce, None),
            None => {
                let nonce = random_bytes::<NONCE_BYTES>();
                (nonce, Some(B64.encode(&nonce)))
            }
        };
        Some(AnonymousToken {
            token: masked(&B64.encode(&keys.mac(ANON_PURPOSE, &nonce))),
            set_cookie,
        })
    }

    /// Whether a state-changing request may go on, in constant time (see
    /// the [`CsrfTokens`] example).
    pub fn accepts(&self, session: SessionCsrf<'_>, presented: Presented<'_>) -> bool {
        let Some(sent) = presented.token else {
            return false;
        };
        match session {
            SessionCsrf::Token(expected) => presents(sent, expected),
            SessionCsrf::LoginWithoutToken => false,
            SessionCsrf::Anonymous => {
                let (Some(keys), Some(nonce)) = (
                    &self.anonymous,
                    presented.nonce_cookie.and_then(parse_nonce),
                ) else {
                    return false;
                };
                let expected = B64.encode(&keys.mac(ANON_PURPOSE, &nonce));
                presents(sent, &expected)
            }
        }
    }
}

/// A nonce cookie's value, when it is one.
fn parse_nonce(value: &str) -> Option<[u8; NONCE_BYTES]> {
    let bytes = B64.decode(value.as_bytes()).ok()?;
    <[u8; NONCE_BYTES]>::try_from(bytes.as_slice()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> CsrfTokens {
        CsrfTokens::new().anonymous(SecretKey::generate())
    }

    #[test]
    fn anonymous_tokens_match_their_nonce_and_key_only() {
        let csrf = tokens();
        let n1 = B64.encode(&[1; NONCE_BYTES]);
        let n2 = B64.encode(&[2; NONCE_BYTES]);
        let t = csrf.anonymous_token(Some(&n1)).unwrap();
        assert!(t.set_cookie.is_none(), "a valid cookie is kept");
        let with = |token: Option<&str>, cookie: Option<&str>| {
            csrf.accepts(
                SessionCsrf::Anonymous,
                Presented {
                    token,
                    nonce_cookie: cookie,
                },
            )
        };
        assert!(with(Some(&t.token), Some(&n1)));
        assert!(!with(None, Some(&n1)));
        assert!(!with(Some(""), Some(&n1)));
        assert!(!with(Some(&t.token), Some(&n2)), "another nonce");
        assert!(!with(Some(&t.token), None), "no cookie");
        assert!(!with(Some(&n1), Some(&n1)), "the nonce is not the token");
        let other_key = tokens();
        assert!(!other_key.accepts(
            SessionCsrf::Anonymous,
            Presented {
                token: Some(&t.token),
                nonce_cookie: Some(&n1)
            }
        ));
        // Off: no anonymous token is made, none is accepted.
        assert!(CsrfTokens::new().anonymous_token(None).is_none());
        assert!(!CsrfTokens::new().accepts(
            SessionCsrf::Anonymous,
            Presented {
                token: Some(&t.token),
                nonce_cookie: Some(&n1)
            }
        ));
    }

    #[test]
    fn malformed_cookies_get_a_fresh_nonce() {
        let csrf = tokens();
        for c in [
            None,
            Some(String::new()),
            Some("short".to_owned()),
            Some(B64.encode(&[1; 31])),
        ] {
            let t = csrf.anonymous_token(c.as_deref()).unwrap();
            let fresh = t.set_cookie.clone().unwrap();
            assert_eq!(parse_nonce(&fresh).map(|n| n.len()), Some(NONCE_BYTES));
            // Accepted only with the new cookie, never with the old one.
            let p = |cookie| Presented {
                token: Some(&t.token),
                nonce_cookie: cookie,
            };
            assert!(csrf.accepts(SessionCsrf::Anonymous, p(Some(&fresh))));
            assert!(
                !csrf.accepts(SessionCsrf::Anonymous, p(c.as_deref())),
                "{c:?}"
            );
        }
    }

    #[test]
    fn masked_tokens_differ_every_time_and_stand_for_theirs_only() {
        let csrf = tokens();
        let t = session_token();
        let other = session_token();
        let shown: Vec<String> = (0..50).map(|_| masked(&t)).collect();
        let distinct: std::collections::HashSet<_> = shown.iter().collect();
        assert_eq!(distinct.len(), shown.len());
        fn p(token: &str) -> Presented<'_> {
            Presented {
                token: Some(token),
                nonce_cookie: None,
            }
        }
        for m in &shown {
            assert_eq!(m.len(), 115);
            assert!(!m.contains(&t), "the token never shows plain");
            assert!(csrf.accepts(SessionCsrf::Token(&t), p(m)));
            assert!(!csrf.accepts(SessionCsrf::Token(&other), p(m)));
        }
        // Plain still works (forms of before); anything else does not.
        assert!(csrf.accepts(SessionCsrf::Token(&t), p(&t)));
        let mut bytes = B64.decode(shown[0].as_bytes()).unwrap();
        bytes[60] ^= 1;
        let tampered = B64.encode(&bytes);
        assert!(!csrf.accepts(SessionCsrf::Token(&t), p(&tampered)));
        let half = &shown[0][..86];
        assert!(!csrf.accepts(SessionCsrf::Token(&t), p(half)));
        assert!(!csrf.accepts(SessionCsrf::Token(&t), p(&masked(&t[1..]))));
        assert!(!csrf.accepts(SessionCsrf::Token(&t), p(&"A".repeat(100_000))));
        assert!(!csrf.accepts(SessionCsrf::Token(&t), p("!!!!")));
        // Anonymous tokens are masked too: two renders, one nonce.
        let n = B64.encode(&[7; NONCE_BYTES]);
        let (a, b) = (
            csrf.anonymous_token(Some(&n)).unwrap().token,
            csrf.anonymous_token(Some(&n)).unwrap().token,
        );
        assert_ne!(a, b);
        for token in [&a, &b] {
            let sent = Presented {
                token: Some(token),
                nonce_cookie: Some(&n),
            };
            assert!(csrf.accepts(SessionCsrf::Anonymous, sent));
        }
    }

    #[test]
    fn session_tokens_stay_out_of_debug() {
        let token = session_token();
        assert!(!format!("{:?}", SessionCsrf::Token(&token)).contains(&token));
    }

    #[test]
    fn session_tokens_and_logins() {
        let csrf = tokens();
        let t = session_token();
        assert_eq!(t.len(), 43);
        assert_ne!(t, session_token());
        let p = |token| Presented {
            token,
            nonce_cookie: None,
        };
        assert!(csrf.accepts(SessionCsrf::Token(&t), p(Some(&t))));
        assert!(!csrf.accepts(SessionCsrf::Token(&t), p(Some(&t[1..]))));
        assert!(!csrf.accepts(SessionCsrf::Token(&t), p(None)));
        // A session with a login never falls back to the anonymous token.
        let n = B64.encode(&[1; NONCE_BYTES]);
        let anon = csrf.anonymous_token(Some(&n)).unwrap();
        let both = Presented {
            token: Some(&anon.token),
            nonce_cookie: Some(&n),
        };
        assert!(csrf.accepts(SessionCsrf::Anonymous, both));
        assert!(!csrf.accepts(SessionCsrf::LoginWithoutToken, both));
        assert!(!csrf.accepts(SessionCsrf::Token(&t), both));
    }

    #[test]
    fn methods_bodies_and_hidden_values() {
        for m in ["GET", "head", "OPTIONS", "TRACE"] {
            assert!(!needs_token(m), "{m}");
        }
        for m in ["POST", "put", "DELETE", "PATCH", "WHATEVER"] {
            assert!(needs_token(m), "{m}");
        }
        assert!(is_form("application/x-www-form-urlencoded; charset=UTF-8"));
        assert!(is_form("Application/X-WWW-Form-Urlencoded"));
        assert!(!is_form("application/json"));
        assert!(!is_form(""));
        assert_eq!(
            token_in_form(b"a=1&csrf_token=abc%2Bd&b=2").as_deref(),
            Some("abc+d")
        );
        assert_eq!(token_in_form(b"a=1"), None);
        assert_eq!(token_in_form(b"\xff\xfe=%%%"), None);
        let csrf = tokens();
        assert!(format!("{csrf:?}").contains("redacted"));
        let t = csrf.anonymous_token(None).unwrap();
        assert!(!format!("{t:?}").contains(&t.token));
        let p = Presented {
            token: Some("secret-token"),
            nonce_cookie: None,
        };
        assert!(!format!("{p:?}").contains("secret-token"));
    }
}
