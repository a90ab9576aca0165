//! [`TwilioVerifyBuilder`]: settings, validation and `Debug` without secrets.

use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use super::client::http_client;
use super::errors::config;
use super::validate::{is_locale, is_sid, parse_base_url};
use super::{Channel, TwilioVerify};
use crate::error::Result;

/// Twilio Verify's production base URL.
const DEFAULT_BASE_URL: &str = "https://verify.twilio.com/v2";
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_RETRIES: u32 = 2;
/// Upper bound for `max_retries`: retries happen inside one user request.
const MAX_RETRIES_LIMIT: u32 = 10;

/// Credentials for HTTP Basic authentication.
#[derive(Clone)]
enum Credentials {
    /// Account SID + auth token.
    AuthToken(SecretString),
    /// API key SID (`SK…`) + key secret.
    ApiKey { sid: String, secret: SecretString },
}

/// Builder for [`TwilioVerify`]; see [`TwilioVerify::builder`].
///
/// Required: [`account_sid`](Self::account_sid), one of
/// [`auth_token`](Self::auth_token) or [`api_key`](Self::api_key), and
/// [`service_sid`](Self::service_sid).
///
/// ```
/// use std::time::Duration;
/// use twofa_verify::factor::{Channel, TwilioVerify};
/// use twofa_verify::secrecy::SecretString;
///
/// # fn main() -> twofa_verify::Result<()> {
/// # let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
/// let twilio = TwilioVerify::builder()
///     .account_sid("AC00000000000000000000000000000000")
///     // An API key rather than the account's auth token (`auth_token`).
///     .api_key("SK00000000000000000000000000000000", SecretString::from("key-secret"))
///     .service_sid("VA00000000000000000000000000000000")
///     .channel(Channel::Sms)
///     .fallback_channel(Channel::Call) // landlines get a call
///     .locale("fr")
///     .connect_timeout(Duration::from_secs(2))
///     .timeout(Duration::from_secs(5))
///     .max_retries(1)
///     .build()?;
/// assert_eq!((twilio.channel(), twilio.fallback_channel()), (Channel::Sms, Some(Channel::Call)));
///
/// // Tests point it at a mock server.
/// let mock = TwilioVerify::builder()
///     .account_sid("AC00000000000000000000000000000000")
///     .auth_token(SecretString::from("test-token"))
///     .service_sid("VA00000000000000000000000000000000")
///     .base_url("http://127.0.0.1:8080/v2")
///     .build()?;
/// # let _ = mock;
///
/// // Settings are checked in `build`, and no message holds a credential.
/// let missing = TwilioVerify::builder().auth_token(SecretString::from("t")).build();
/// assert!(matches!(missing, Err(twofa_verify::Error::Config(_))));
/// # Ok(())
/// # }
/// ```
pub struct TwilioVerifyBuilder {
    account_sid: Option<String>,
    auth_token: Option<SecretString>,
    api_key: Option<(String, SecretString)>,
    service_sid: Option<String>,
    channel: Channel,
    fallback_channel: Option<Channel>,
    locale: Option<String>,
    base_url: String,
    connect_timeout: Duration,
    timeout: Duration,
    max_retries: u32,
}

impl Default for TwilioVerifyBuilder {
    fn default() -> Self {
        TwilioVerifyBuilder {
            account_sid: None,
            auth_token: None,
            api_key: None,
            service_sid: None,
            channel: Channel::Sms,
            fallback_channel: None,
            locale: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
        }
    }
}

impl fmt::Debug for TwilioVerifyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioVerifyBuilder")
            .field(
                "account_sid",
                &self.account_sid.as_deref().map(|s| SidDebug(s, "AC")),
            )
            .field("auth_token", &self.auth_token.as_ref().map(|_| Redacted))
            .field(
                "api_key_sid",
                &self.api_key.as_ref().map(|(sid, _)| SidDebug(sid, "SK")),
            )
            .field("api_key_secret", &self.api_key.as_ref().map(|_| Redacted))
            .field(
                "service_sid",
                &self.service_sid.as_deref().map(|s| SidDebug(s, "VA")),
            )
            .field("channel", &self.channel)
            .field("fallback_channel", &self.fallback_channel)
            .field("locale", &self.locale)
            // Shown only when valid (an invalid one might hold credentials).
            .field(
                "base_url",
                &parse_base_url(&self.base_url).unwrap_or_else(|_| "[invalid]".into()),
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

/// A SID in `Debug` output of the builder: shown only when well-formed, so
/// that a secret pasted into the wrong setting is never printed.
struct SidDebug<'a>(&'a str, &'static str);

impl fmt::Debug for SidDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_sid(self.0, self.1) {
            fmt::Debug::fmt(self.0, f)
        } else {
            f.write_str("[malformed]")
        }
    }
}

/// Prints `[redacted]` in `Debug` output.
pub(super) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl TwilioVerifyBuilder {
    /// The Twilio account SID (`AC` + 32 hex digits); see the
    /// [`TwilioVerifyBuilder`] example.
    pub fn account_sid(mut self, sid: impl Into<String>) -> Self {
        self.account_sid = Some(sid.into());
        self
    }

    /// The account's auth token (Basic-auth password with the account SID).
    /// Use either this or [`api_key`](Self::api_key). See the
    /// [`TwilioVerifyBuilder`] example.
    pub fn auth_token(mut self, token: SecretString) -> Self {
        self.auth_token = Some(token);
        self
    }

    /// An API key (`SK` + 32 hex digits) and its secret, instead of the auth
    /// token. The account SID is still required: it names the account. See
    /// the [`TwilioVerifyBuilder`] example.
    pub fn api_key(mut self, sid: impl Into<String>, secret: SecretString) -> Self {
        self.api_key = Some((sid.into(), secret));
        self
    }

    /// The Verify service SID (`VA` + 32 hex digits), from Twilio Console →
    /// Verify → Services. See the [`TwilioVerifyBuilder`] example.
    pub fn service_sid(mut self, sid: impl Into<String>) -> Self {
        self.service_sid = Some(sid.into());
        self
    }

    /// How codes are delivered (default [`Channel::Sms`]); see the
    /// [`TwilioVerifyBuilder`] example.
    pub fn channel(mut self, channel: Channel) -> Self {
        self.channel = channel;
        self
    }

    /// A second channel, tried once when Twilio answers that the delivery
    /// channel cannot reach the number: SMS to a landline (60205) or a number
    /// that is not a mobile (21614), for which only [`Channel::Call`] is
    /// tried, or a channel disabled for the service (60223). Nothing else
    /// falls back: not a blocked number (Fraud Guard 60410, geo permissions
    /// 60605), an invalid one, rate limits, credentials, timeouts or outages.
    /// Default: none. It must differ from [`channel`](Self::channel).
    ///
    /// [`TwilioVerify::start`] tells which channel was used. See the
    /// [`TwilioVerifyBuilder`] example.
    pub fn fallback_channel(mut self, channel: Channel) -> Self {
        self.fallback_channel = Some(channel);
        self
    }

    /// The language of the message (`en`, `fr`, `pt-BR`, ...). Without it,
    /// Twilio picks one from the phone number's country. See the
    /// [`TwilioVerifyBuilder`] example.
    pub fn locale(mut self, locale: impl Into<String>) -> Self {
        self.locale = Some(locale.into());
        self
    }

    /// The API base URL (default `https://verify.twilio.com/v2`). Tests point
    /// it at a local mock server (see the [`TwilioVerifyBuilder`] example).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// How long to wait for a connection (default 5 s); see the
    /// [`TwilioVerifyBuilder`] example.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Total time allowed for one request, answer included (default 10 s);
    /// see the [`TwilioVerifyBuilder`] example.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times a failed request may be retried when retrying is safe
    /// (default 2, at most 10). Starting a verification is only retried when
    /// the request surely never reached Twilio. See the
    /// [`TwilioVerifyBuilder`] example.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Validates the settings and builds the provider (and its HTTP client).
    ///
    /// Fails with [`Error::Config`](crate::Error::Config) when a SID is
    /// missing or malformed, the credentials are missing or ambiguous, the
    /// base URL is not an http(s) URL, a timeout is zero, or the fallback
    /// channel is the channel, or when the app has installed no rustls
    /// crypto provider (see [`TwilioVerify`'s TLS section](TwilioVerify#tls-the-apps-crypto-provider)).
    /// No message ever contains a credential. See the
    /// [`TwilioVerifyBuilder`] example.
    pub fn build(self) -> Result<TwilioVerify> {
        let account_sid = self
            .account_sid
            .ok_or_else(|| config("Twilio account SID is missing (TWILIO_ACCOUNT_SID)"))?;
        if !is_sid(&account_sid, "AC") {
            return Err(config(
                "Twilio account SID is malformed: expected `AC` followed by 32 hex digits",
            ));
        }
        let service_sid = self.service_sid.ok_or_else(|| {
            config("Twilio Verify service SID is missing (TWILIO_VERIFY_SERVICE_SID)")
        })?;
        if !is_sid(&service_sid, "VA") {
            return Err(config(
                "Twilio Verify service SID is malformed: expected `VA` followed by 32 hex digits",
            ));
        }
        let credentials = match (self.auth_token, self.api_key) {
            (Some(_), Some(_)) => {
                return Err(config(
                    "set either a Twilio auth token or an API key, not both",
                ));
            }
            (None, None) => {
                return Err(config(
                    "Twilio credentials are missing: set an auth token or an API key",
                ));
            }
            (Some(token), None) => Credentials::AuthToken(token),
            (None, Some((sid, secret))) => {
                if !is_sid(&sid, "SK") {
                    return Err(config(
                        "Twilio API key SID is malformed: expected `SK` followed by 32 hex digits",
                    ));
                }
                Credentials::ApiKey { sid, secret }
            }
        };
        let (user, secret) = match &credentials {
            Credentials::AuthToken(t) => (account_sid.as_str(), t),
            Credentials::ApiKey { sid, secret } => (sid.as_str(), secret),
        };
        if secret.expose_secret().is_empty() {
            return Err(config("the Twilio auth token or API key secret is empty"));
        }
        if secret
            .expose_secret()
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(config(
                "the Twilio auth token or API key secret contains whitespace or control characters",
            ));
        }
        let auth_header = basic_auth(user, secret.expose_secret()).ok_or_else(|| {
            config("the Twilio auth token or API key secret contains invalid characters")
        })?;

        if let Some(locale) = &self.locale
            && !is_locale(locale)
        {
            return Err(config(
                "Twilio Verify locale is malformed: expected a language tag such as `en` or `pt-BR`",
            ));
        }
        if self.fallback_channel == Some(self.channel) {
            return Err(config(
                "the Twilio Verify fallback channel must differ from the channel",
            ));
        }
        let base_url = parse_base_url(&self.base_url)?;
        if self.connect_timeout.is_zero() || self.timeout.is_zero() {
            return Err(config("Twilio timeouts must be greater than zero"));
        }
        if self.max_retries > MAX_RETRIES_LIMIT {
            return Err(config("Twilio max_retries must be at most 10"));
        }

        let client = http_client(self.connect_timeout, self.timeout)?;

        let service_url = format!("{base_url}/Services/{service_sid}");
        Ok(TwilioVerify {
            client,
            verifications_url: format!("{service_url}/Verifications"),
            check_url: format!("{service_url}/VerificationCheck"),
            account_sid,
            service_sid,
            api_key_sid: match credentials {
                Credentials::ApiKey { sid, .. } => Some(sid),
                Credentials::AuthToken(_) => None,
            },
            auth_header,
            channel: self.channel,
            fallback_channel: self.fallback_channel,
            locale: self.locale,
            base_url,
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            max_retries: self.max_retries,
        })
    }
}

/// The `Authorization: Basic …` value, marked sensitive so that it is never
/// logged; the intermediate copies are zeroized.
fn basic_auth(user: &str, secret: &str) -> Option<HeaderValue> {
    let raw = format!("{user}:{secret}");
    let encoded = format!("Basic {}", data_encoding::BASE64.encode(raw.as_bytes()));
    let mut zeroize_me = raw.into_bytes();
    zeroize::Zeroize::zeroize(&mut zeroize_me);
    let mut value = HeaderValue::from_str(&encoded).ok()?;
    let mut encoded = encoded.into_bytes();
    zeroize::Zeroize::zeroize(&mut encoded);
    value.set_sensitive(true);
    Some(value)
}
