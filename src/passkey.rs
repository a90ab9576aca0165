//! Passkeys (WebAuthn), feature `passkeys`: the relying party's
//! configuration, the ceremonies' options for the browser, and the passkeys
//! of a user.
//!
//! A passkey is used three ways: as the second factor after the password
//! ([`Authenticator::verify_passkey`](crate::Authenticator::verify_passkey)),
//! for passwordless sign-in with a discoverable credential
//! ([`Authenticator::login_with_passkey`](crate::Authenticator::login_with_passkey),
//! autofill included) and as a step-up proof
//! ([`StepUp::with_passkey`](crate::StepUp::with_passkey)). Each ceremony is
//! a start/finish pair: the start gives options for the browser and an
//! opaque ceremony id the app keeps in its session; the finish takes that
//! id and the credential JSON the browser sent back. The ceremony's state
//! stays in the [`StateStore`](crate::StateStore): single use, expiring,
//! bound to the user or pending login that started it.
//!
//! Browsers treat `http://localhost` as a secure context, so a local
//! demo works without TLS; an IP address can never be a relying party id.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use webauthn_rs::prelude::Url;

use crate::clock::Timestamp;
use crate::error::{Error, Result};

pub use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse,
};

/// Longest passkey name, in characters; a longer one is
/// [`Error::InvalidPasskeyName`] (see the
/// [`Authenticator::rename_passkey`](crate::Authenticator::rename_passkey) example).
pub const PASSKEY_NAME_MAX_CHARS: usize = 64;

/// The relying party: its id (the site's domain), its name shown by the
/// browser, and the origins the browser may report. Give it to
/// [`AuthenticatorBuilder::passkeys`](crate::AuthenticatorBuilder::passkeys).
///
/// ```
/// use twofa_verify::passkey::PasskeyConfig;
/// let config = PasskeyConfig::builder()
///     .rp_id("example.com")
///     .rp_name("Example")
///     .origin("https://example.com")
///     .build()?;
/// assert_eq!(config.rp_id(), "example.com");
/// // An IP address cannot be a relying party id; origins need https (or http://localhost).
/// assert!(PasskeyConfig::builder().rp_id("127.0.0.1").origin("http://127.0.0.1:3000").build().is_err());
/// assert!(PasskeyConfig::builder().rp_id("example.com").origin("http://example.com").build().is_err());
/// # Ok::<(), twofa_verify::Error>(())
/// ```
#[derive(Clone)]
pub struct PasskeyConfig {
    rp_id: String,
    rp_name: String,
    origins: Vec<Url>,
}

impl fmt::Debug for PasskeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyConfig")
            .field("rp_id", &self.rp_id)
            .field("rp_name", &self.rp_name)
            .field(
                "origins",
                &self.origins.iter().map(Url::as_str).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl PasskeyConfig {
    /// Starts a configuration (see the [`PasskeyConfig`] example).
    pub fn builder() -> PasskeyConfigBuilder {
        PasskeyConfigBuilder::default()
    }

    /// The relying party id (see the [`PasskeyConfig`] example).
    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    /// The name browsers show (see the [`PasskeyConfig`] example).
    pub fn rp_name(&self) -> &str {
        &self.rp_name
    }

    /// The webauthn-rs relying party.
    pub(crate) fn webauthn(&self) -> Result<webauthn_rs::Webauthn> {
        let (first, rest) = self
            .origins
            .split_first()
            .ok_or_else(|| Error::Config("passkeys need an origin".into()))?;
        let mut builder = webauthn_rs::WebauthnBuilder::new(&self.rp_id, first)
            .map_err(|e| Error::Config(format!("passkeys: {e}")))?
            .rp_name(&self.rp_name);
        for origin in rest {
            builder = builder.append_allowed_origin(origin);
        }
        builder
            .build()
            .map_err(|e| Error::Config(format!("passkeys: {e}")))
    }
}

/// Builds a [`PasskeyConfig`]; [`build`](Self::build) checks it (see the
/// [`PasskeyConfig`] example).
#[derive(Debug, Default, Clone)]
pub struct PasskeyConfigBuilder {
    rp_id: Option<String>,
    rp_name: Option<String>,
    origins: Vec<String>,
}

impl PasskeyConfigBuilder {
    /// The relying party id: the site's registrable domain or a host
    /// under it (`example.com`, `localhost`), never an IP address (see the
    /// [`PasskeyConfig`] example).
    pub fn rp_id(mut self, rp_id: impl Into<String>) -> Self {
        self.rp_id = Some(rp_id.into());
        self
    }

    /// The name browsers show; the RP id when not set (see the
    /// [`PasskeyConfig`] example).
    pub fn rp_name(mut self, rp_name: impl Into<String>) -> Self {
        self.rp_name = Some(rp_name.into());
        self
    }

    /// An origin the browser may report (`https://example.com`,
    /// `http://localhost:3000`); call once per origin (see the
    /// [`PasskeyConfig`] example).
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origins.push(origin.into());
        self
    }

    /// Checks and builds: an RP id that is a domain (not an IP address),
    /// at least one origin, each `https` or `http://localhost`, whose host
    /// is the RP id or under it. Anything else is [`Error::Config`] (see
    /// the [`PasskeyConfig`] example).
    pub fn build(self) -> Result<PasskeyConfig> {
        let rp_id = self
            .rp_id
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::Config("passkeys need an RP id (the site's domain)".into()))?;
        let bare = rp_id.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<std::net::IpAddr>().is_ok() {
            return Err(Error::Config(format!(
                "passkeys: the RP id {rp_id:?} is an IP address; browsers only accept a domain \
                 (use localhost for local testing)"
            )));
        }
        if rp_id.len() > 253
            || !rp_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(Error::Config(format!(
                "passkeys: the RP id {rp_id:?} is not a domain name"
            )));
        }
        if self.origins.is_empty() {
            return Err(Error::Config("passkeys need at least one origin".into()));
        }
        let mut origins = Vec::with_capacity(self.origins.len());
        for raw in &self.origins {
            let url = Url::parse(raw.trim())
                .map_err(|_| Error::Config(format!("passkeys: the origin {raw:?} is not a URL")))?;
            let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
            let secure = match url.scheme() {
                "https" => true,
                "http" => host == "localhost" || host.ends_with(".localhost"),
                _ => false,
            };
            if !secure {
                return Err(Error::Config(format!(
                    "passkeys: the origin {raw:?} must be https (or http://localhost)"
                )));
            }
            if host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
                return Err(Error::Config(format!(
                    "passkeys: the origin {raw:?} is not on the RP id {rp_id:?}"
                )));
            }
            origins.push(url);
        }
        let rp_name = self
            .rp_name
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| rp_id.clone());
        if rp_name.chars().count() > 100 || rp_name.chars().any(char::is_control) {
            return Err(Error::Config(
                "passkeys: the RP name must be at most 100 characters, no control characters"
                    .into(),
            ));
        }
        let config = PasskeyConfig {
            rp_id,
            rp_name,
            origins,
        };
        // webauthn-rs's own checks, now rather than at the first ceremony.
        config.webauthn()?;
        Ok(config)
    }
}

/// A passkey of a user, as listed on a profile page (see
/// [`Authenticator::passkeys`](crate::Authenticator::passkeys)). No key
/// material: the public key stays in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Passkey {
    /// The credential id, base64url: what rename and remove take.
    pub id: String,
    /// The name the user gave it.
    pub name: String,
    /// When it was added.
    pub created_at: Timestamp,
    /// When it last signed in or stepped up.
    pub last_used_at: Option<Timestamp>,
    /// The authenticator may sync it to other devices (a synced passkey).
    pub backup_eligible: bool,
    /// It is synced (backed up) now.
    pub backed_up: bool,
}

/// A registration ceremony started by
/// [`Authenticator::start_passkey_registration`](crate::Authenticator::start_passkey_registration):
/// send [`options`](Self::options) to the browser, keep
/// [`ceremony_id`](Self::ceremony_id) in the session. `Debug` hides both.
#[derive(Clone)]
#[must_use]
pub struct PasskeyRegistration {
    pub(crate) ceremony: SecretString,
    pub(crate) options: CreationChallengeResponse,
    /// When the ceremony expires.
    pub expires_at: Timestamp,
}

impl PasskeyRegistration {
    /// The opaque id to keep in the session and pass to the finish (see
    /// [`Authenticator::start_passkey_registration`](crate::Authenticator::start_passkey_registration)).
    pub fn ceremony_id(&self) -> &str {
        self.ceremony.expose_secret()
    }

    /// The options for `navigator.credentials.create` (as JSON; see
    /// [`Authenticator::start_passkey_registration`](crate::Authenticator::start_passkey_registration)).
    pub fn options(&self) -> &CreationChallengeResponse {
        &self.options
    }
}

impl fmt::Debug for PasskeyRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyRegistration")
            .field("ceremony", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A sign-in, second-factor or step-up ceremony: send
/// [`options`](Self::options) to the browser (for
/// `navigator.credentials.get`, conditional mediation included), keep
/// [`ceremony_id`](Self::ceremony_id) in the session. See
/// [`Authenticator::start_passkey_login`](crate::Authenticator::start_passkey_login).
#[derive(Clone)]
#[must_use]
pub struct PasskeyRequest {
    pub(crate) ceremony: SecretString,
    pub(crate) options: RequestChallengeResponse,
    /// When the ceremony expires.
    pub expires_at: Timestamp,
}

impl PasskeyRequest {
    /// The opaque id to keep in the session and pass to the finish (see
    /// [`Authenticator::start_passkey_login`](crate::Authenticator::start_passkey_login)).
    pub fn ceremony_id(&self) -> &str {
        self.ceremony.expose_secret()
    }

    /// The options for `navigator.credentials.get` (as JSON; see
    /// [`Authenticator::start_passkey_login`](crate::Authenticator::start_passkey_login)).
    pub fn options(&self) -> &RequestChallengeResponse {
        &self.options
    }
}

impl fmt::Debug for PasskeyRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyRequest")
            .field("ceremony", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Largest credential JSON a finish reads: real ones are a few KiB.
const RESPONSE_MAX_BYTES: usize = 64 * 1024;

/// Reads the credential JSON the browser sent: bounded, and anything that
/// is not one is [`Error::PasskeyMalformed`].
pub(crate) fn parse_response<T: serde::de::DeserializeOwned>(json: &str) -> Result<T> {
    if json.len() > RESPONSE_MAX_BYTES {
        return Err(Error::PasskeyMalformed);
    }
    serde_json::from_str(json).map_err(|_| Error::PasskeyMalformed)
}

/// A passkey name as given, trimmed: 1 to [`PASSKEY_NAME_MAX_CHARS`]
/// characters, no control, direction-control or invisible characters.
pub(crate) fn check_name(raw: &str) -> Result<String> {
    use crate::error::UsernameProblem;
    use icu_properties::CodePointSetData;
    use icu_properties::props::{BidiControl, DefaultIgnorableCodePoint};
    let name = raw.trim();
    let refuse = |p| Err(Error::InvalidPasskeyName(p));
    if name.is_empty() {
        return refuse(UsernameProblem::Empty);
    }
    if name.chars().count() > PASSKEY_NAME_MAX_CHARS {
        return refuse(UsernameProblem::TooLong);
    }
    let bidi = CodePointSetData::new::<BidiControl>();
    let ignorable = CodePointSetData::new::<DefaultIgnorableCodePoint>();
    for c in name.chars() {
        if c.is_control() {
            return refuse(UsernameProblem::ControlCharacter);
        }
        if bidi.contains(c) {
            return refuse(UsernameProblem::DirectionControl);
        }
        if ignorable.contains(c) {
            return refuse(UsernameProblem::InvisibleCharacter);
        }
    }
    Ok(name.to_owned())
}

/// The id a page shows for a credential id (base64url).
pub(crate) fn display_id(credential_id: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(credential_id)
}

/// The credential id of a page's id; `PasskeyNotFound` when it is none.
pub(crate) fn parse_id(id: &str) -> Result<Vec<u8>> {
    if id.len() > 1400 {
        return Err(Error::PasskeyNotFound);
    }
    data_encoding::BASE64URL_NOPAD
        .decode(id.trim().as_bytes())
        .map_err(|_| Error::PasskeyNotFound)
}

impl Passkey {
    pub(crate) fn from_record(r: &crate::store::PasskeyRecord) -> Self {
        Passkey {
            id: display_id(&r.credential_id),
            name: r.name.clone(),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            backup_eligible: r.backup_eligible,
            backed_up: r.backed_up,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_display_text() {
        assert_eq!(check_name("  MacBook  ").ok().as_deref(), Some("MacBook"));
        for bad in [
            "",
            "   ",
            "a\u{0}b",
            "a\u{202e}b",
            "a\u{200b}b",
            &"x".repeat(65),
        ] {
            assert!(
                matches!(check_name(bad), Err(Error::InvalidPasskeyName(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn hostile_responses_are_malformed() {
        let huge = format!("\"{}\"", "a".repeat(RESPONSE_MAX_BYTES));
        for bad in ["", "nul", "{", "[]", "{\"id\": 5}", "\"x\"", huge.as_str()] {
            assert!(matches!(
                parse_response::<PublicKeyCredential>(bad),
                Err(Error::PasskeyMalformed)
            ));
        }
    }

    #[test]
    fn origins_and_rp_ids() {
        let ok = |id: &str, o: &str| PasskeyConfig::builder().rp_id(id).origin(o).build().is_ok();
        assert!(ok("localhost", "http://localhost:3000"));
        assert!(ok("example.com", "https://login.example.com"));
        assert!(!ok("127.0.0.1", "http://127.0.0.1"));
        assert!(!ok("::1", "http://[::1]:3000"));
        assert!(!ok("[::1]", "http://localhost"));
        assert!(!ok("example.com", "http://example.com"));
        assert!(!ok("example.com", "https://example.org"));
        assert!(!ok("example.com", "https://notexample.com"));
        assert!(!ok("example.com", "ftp://example.com"));
        assert!(!ok("exa mple.com", "https://example.com"));
        assert!(
            PasskeyConfig::builder()
                .rp_id("example.com")
                .build()
                .is_err()
        );
        assert!(
            PasskeyConfig::builder()
                .origin("https://example.com")
                .build()
                .is_err()
        );
    }
}
