//! CSRF tokens for visitors without a session: a signed double submit.
//!
//! The visitor gets a random nonce in a cookie of its own (`HttpOnly`,
//! `SameSite=Lax`, `Secure` like the session cookie); the form carries
//! `HMAC-SHA256(key, nonce)`, where the key is derived from the app's secret
//! key. A POST is accepted when the token matches the nonce of the cookie it
//! came with, so nothing is kept on the server until the visitor needs a
//! session (logged in, half logged in, or a message to show after a
//! redirect). Sessions that exist keep their session-bound token.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tower_sessions::cookie::{Cookie, SameSite};
use zeroize::Zeroizing;

use super::AppState;

/// The nonce cookie.
pub const NONCE_COOKIE: &str = "twofa_csrf";

const NONCE_BYTES: usize = 32;

/// Separates this key from every other use of the app's secret key.
const KEY_LABEL: &[u8] = b"twofa-verify demo: anonymous CSRF tokens v1";

type HmacSha256 = Hmac<Sha256>;

const B64: data_encoding::Encoding = data_encoding::BASE64URL_NOPAD;

/// The key that signs anonymous form tokens.
#[derive(Clone)]
pub struct CsrfKey(Arc<Zeroizing<Vec<u8>>>);

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey(..)")
    }
}

impl CsrfKey {
    /// Derived from the app's secret key: `HMAC-SHA256(secret, label)`.
    pub fn derive(secret_key: &[u8]) -> Self {
        CsrfKey(Arc::new(Zeroizing::new(hmac(secret_key, KEY_LABEL))))
    }

    /// The form token for `nonce`.
    fn token(&self, nonce: &Nonce) -> String {
        B64.encode(&hmac(&self.0, &nonce.0))
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so this never fails.
    match HmacSha256::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// The random value of the nonce cookie.
#[derive(Clone)]
struct Nonce([u8; NONCE_BYTES]);

impl Nonce {
    fn random() -> Self {
        use rand::RngCore;
        let mut b = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut b);
        Nonce(b)
    }

    /// The nonce of the request's cookie, if it holds a well-formed one.
    fn from_headers(headers: &HeaderMap) -> Option<Self> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .filter(|c| c.name() == NONCE_COOKIE)
            .find_map(|c| {
                let bytes = B64.decode(c.value().as_bytes()).ok()?;
                <[u8; NONCE_BYTES]>::try_from(bytes.as_slice())
                    .ok()
                    .map(Nonce)
            })
    }
}

/// The visitor's nonce for this request, in the request extensions (put
/// there by [`nonce_cookie`]).
#[derive(Clone)]
pub struct AnonCsrf {
    key: CsrfKey,
    nonce: Nonce,
    /// No cookie came with the request: the nonce is new.
    fresh: bool,
    /// A page showed the token, so a new nonce must be sent as a cookie.
    used: Arc<AtomicBool>,
}

impl AnonCsrf {
    /// The token for a form on this page.
    pub fn token(&self) -> String {
        self.used.store(true, Ordering::Relaxed);
        self.key.token(&self.nonce)
    }

    /// Whether `sent` is the token for the nonce cookie of the request
    /// (constant-time comparison). Without a cookie nothing matches.
    pub fn accepts(&self, sent: Option<&str>) -> bool {
        match sent {
            Some(s) if !self.fresh => {
                bool::from(s.as_bytes().ct_eq(self.key.token(&self.nonce).as_bytes()))
            }
            _ => false,
        }
    }
}

/// Gives every request its [`AnonCsrf`], and sets the nonce cookie when a
/// page used a new nonce. Sits outside the session layer, so its cookie is
/// the last `Set-Cookie` of the response.
pub async fn nonce_cookie(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let (nonce, fresh) = match Nonce::from_headers(req.headers()) {
        Some(n) => (n, false),
        None => (Nonce::random(), true),
    };
    let csrf = AnonCsrf {
        key: state.csrf_key.clone(),
        nonce,
        fresh,
        used: Arc::default(),
    };
    req.extensions_mut().insert(csrf.clone());
    let mut resp = next.run(req).await;
    if csrf.fresh && csrf.used.load(Ordering::Relaxed) {
        let cookie = Cookie::build((NONCE_COOKIE, B64.encode(&csrf.nonce.0)))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(state.config.cookie_secure)
            .build();
        // Base64url and fixed attributes: always a valid header value.
        match HeaderValue::from_str(&cookie.to_string()) {
            Ok(v) => {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            Err(e) => tracing::error!(error = %e, "cannot set the CSRF cookie"),
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(key: &CsrfKey, cookie: Option<&str>) -> AnonCsrf {
        let mut h = HeaderMap::new();
        if let Some(c) = cookie {
            h.insert(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        match Nonce::from_headers(&h) {
            Some(nonce) => AnonCsrf {
                key: key.clone(),
                nonce,
                fresh: false,
                used: Arc::default(),
            },
            None => AnonCsrf {
                key: key.clone(),
                nonce: Nonce::random(),
                fresh: true,
                used: Arc::default(),
            },
        }
    }

    #[test]
    fn tokens_match_their_nonce_and_key_only() {
        let key = CsrfKey::derive(&[7; 32]);
        let n1 = B64.encode(&[1; NONCE_BYTES]);
        let n2 = B64.encode(&[2; NONCE_BYTES]);
        let a = with_cookie(&key, Some(&format!("x=1; {NONCE_COOKIE}={n1}")));
        let b = with_cookie(&key, Some(&format!("{NONCE_COOKIE}={n2}")));
        let t = a.token();
        assert!(a.accepts(Some(&t)));
        assert!(!a.accepts(None));
        assert!(!a.accepts(Some("")));
        assert!(!b.accepts(Some(&t)), "another nonce");
        let other_key = with_cookie(
            &CsrfKey::derive(&[8; 32]),
            Some(&format!("{NONCE_COOKIE}={n1}")),
        );
        assert!(!other_key.accepts(Some(&t)), "another key");
        // The nonce itself is not the token.
        assert!(!a.accepts(Some(&n1)));
    }

    #[test]
    fn malformed_or_missing_cookies_give_a_fresh_nonce() {
        let key = CsrfKey::derive(&[7; 32]);
        for c in [
            None,
            Some(format!("{NONCE_COOKIE}=")),
            Some(format!("{NONCE_COOKIE}=short")),
            Some(format!("{NONCE_COOKIE}={}", B64.encode(&[1; 31]))),
            Some("other=1".to_owned()),
        ] {
            let a = with_cookie(&key, c.as_deref());
            assert!(a.fresh, "{c:?}");
            // Even its own token is refused: no cookie carried it.
            assert!(!a.accepts(Some(&a.token())), "{c:?}");
        }
    }

    #[test]
    fn key_is_not_shown() {
        assert_eq!(format!("{:?}", CsrfKey::derive(b"secret")), "CsrfKey(..)");
    }
}
