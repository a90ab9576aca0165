//! Twilio Verify v2 provider: Twilio makes, sends, expires and counts the
//! one-time codes; we start a verification, check a code and cancel.
//!
//! See `TWILIO-VERIFY.md` for the API facts this module relies on. In short:
//!
//! - one shared HTTP client (keep-alive, connect timeout 5 s, total 10 s, no
//!   redirects, `Accept: application/json`);
//! - every documented Twilio error code maps to a typed [`Error`];
//! - a check (and a cancel) is retried on connection errors, 5xx and 20429;
//!   a start (which sends an SMS and costs money) only when the request
//!   surely never reached Twilio (connection errors);
//! - nothing secret ever appears in an error or in `Debug`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{self, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{SmsContext, SmsVerifier};
use crate::error::{BoxError, Error, ProviderError, ProviderErrorKind, Result};

/// Twilio Verify's production base URL.
const DEFAULT_BASE_URL: &str = "https://verify.twilio.com/v2";
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_RETRIES: u32 = 2;
/// Upper bound for `max_retries`: retries happen inside one user request.
const MAX_RETRIES_LIMIT: u32 = 10;
/// First backoff between retries; doubled each time, capped at [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Largest answer body we read; Twilio's answers are a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;
/// Default wait after 60203 (max send attempts): a verification lives 10 minutes.
const SEND_LIMIT_WAIT: Duration = Duration::from_secs(600);
/// Default wait after 60212 (too many concurrent requests for this number).
const CONCURRENT_LIMIT_WAIT: Duration = Duration::from_secs(30);
/// A `Retry-After` beyond this is clamped (a misbehaving server cannot lock
/// users out for days).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
const USER_AGENT: &str = concat!("twofa-verify/", env!("CARGO_PKG_VERSION"));

const ENV_ACCOUNT_SID: &str = "TWILIO_ACCOUNT_SID";
const ENV_AUTH_TOKEN: &str = "TWILIO_AUTH_TOKEN";
const ENV_SERVICE_SID: &str = "TWILIO_VERIFY_SERVICE_SID";
const ENV_API_KEY_SID: &str = "TWILIO_API_KEY_SID";
const ENV_API_KEY_SECRET: &str = "TWILIO_API_KEY_SECRET";
const ENV_CHANNEL: &str = "TWILIO_VERIFY_CHANNEL";

/// How Twilio delivers the code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Channel {
    /// A text message (the default).
    #[default]
    Sms,
    /// A voice call reading the code out (works for landlines).
    Call,
    /// A WhatsApp message.
    Whatsapp,
}

impl Channel {
    /// The value of Twilio's `Channel` parameter: `sms`, `call` or `whatsapp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Call => "call",
            Channel::Whatsapp => "whatsapp",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = Error;

    /// Parses `sms`, `call` or `whatsapp` (case-insensitive).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sms" => Ok(Channel::Sms),
            "call" | "voice" => Ok(Channel::Call),
            "whatsapp" => Ok(Channel::Whatsapp),
            _ => Err(Error::Config(
                "unknown Twilio Verify channel; expected `sms`, `call` or `whatsapp`".into(),
            )),
        }
    }
}

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
pub struct TwilioVerifyBuilder {
    account_sid: Option<String>,
    auth_token: Option<SecretString>,
    api_key: Option<(String, SecretString)>,
    service_sid: Option<String>,
    channel: Channel,
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
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl TwilioVerifyBuilder {
    /// The Twilio account SID (`AC` + 32 hex digits).
    pub fn account_sid(mut self, sid: impl Into<String>) -> Self {
        self.account_sid = Some(sid.into());
        self
    }

    /// The account's auth token (Basic-auth password with the account SID).
    /// Use either this or [`api_key`](Self::api_key).
    pub fn auth_token(mut self, token: SecretString) -> Self {
        self.auth_token = Some(token);
        self
    }

    /// An API key (`SK` + 32 hex digits) and its secret, instead of the auth
    /// token. The account SID is still required: it names the account.
    pub fn api_key(mut self, sid: impl Into<String>, secret: SecretString) -> Self {
        self.api_key = Some((sid.into(), secret));
        self
    }

    /// The Verify service SID (`VA` + 32 hex digits), from Twilio Console →
    /// Verify → Services.
    pub fn service_sid(mut self, sid: impl Into<String>) -> Self {
        self.service_sid = Some(sid.into());
        self
    }

    /// How codes are delivered (default [`Channel::Sms`]).
    pub fn channel(mut self, channel: Channel) -> Self {
        self.channel = channel;
        self
    }

    /// The language of the message (`en`, `fr`, `pt-BR`, ...). Without it,
    /// Twilio picks one from the phone number's country.
    pub fn locale(mut self, locale: impl Into<String>) -> Self {
        self.locale = Some(locale.into());
        self
    }

    /// The API base URL (default `https://verify.twilio.com/v2`). Tests point
    /// it at a local mock server.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// How long to wait for a connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Total time allowed for one request, answer included (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times a failed request may be retried when retrying is safe
    /// (default 2, at most 10). Starting a verification is only retried when
    /// the request surely never reached Twilio.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Validates the settings and builds the provider (and its HTTP client).
    ///
    /// Fails with [`Error::Config`] when a SID is missing or malformed, the
    /// credentials are missing or ambiguous, the base URL is not an http(s)
    /// URL, or a timeout is zero. No message ever contains a credential.
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
        let base_url = parse_base_url(&self.base_url)?;
        if self.connect_timeout.is_zero() || self.timeout.is_zero() {
            return Err(config("Twilio timeouts must be greater than zero"));
        }
        if self.max_retries > MAX_RETRIES_LIMIT {
            return Err(config("Twilio max_retries must be at most 10"));
        }

        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let client = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .build()
            .map_err(|e| {
                Error::Config(format!(
                    "could not build the HTTP client for Twilio: {}",
                    e.without_url()
                ))
            })?;

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
            locale: self.locale,
            base_url,
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            max_retries: self.max_retries,
        })
    }
}

/// Twilio Verify v2 as an [`SmsVerifier`]: Twilio makes, sends, expires and
/// counts the codes (a code lives 10 minutes; 5 checks and 5 sends per
/// verification).
///
/// Build it with [`TwilioVerify::builder`] or [`TwilioVerify::from_env`].
/// It holds one HTTP client with a keep-alive connection pool: build it once
/// and share it (it is cheap to clone; clones share the pool).
///
/// Failures are errors, never a successful check: an outage at Twilio cannot
/// let anyone in.
#[derive(Clone)]
pub struct TwilioVerify {
    client: reqwest::Client,
    /// `{base}/Services/{VA…}/Verifications`
    verifications_url: String,
    /// `{base}/Services/{VA…}/VerificationCheck`
    check_url: String,
    account_sid: String,
    service_sid: String,
    api_key_sid: Option<String>,
    /// Precomputed `Basic …` header (marked sensitive).
    auth_header: HeaderValue,
    channel: Channel,
    locale: Option<String>,
    base_url: String,
    connect_timeout: Duration,
    timeout: Duration,
    max_retries: u32,
}

impl fmt::Debug for TwilioVerify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioVerify")
            .field("account_sid", &self.account_sid)
            .field("service_sid", &self.service_sid)
            .field("api_key_sid", &self.api_key_sid)
            .field("credentials", &Redacted)
            .field("channel", &self.channel)
            .field("locale", &self.locale)
            .field("base_url", &self.base_url)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

/// Which API call is being made; decides what may be retried and how a few
/// error codes read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Start,
    Check,
    Cancel,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Start => "start verification",
            Op::Check => "check code",
            Op::Cancel => "cancel verification",
        }
    }
}

/// A non-2xx answer from Twilio.
#[derive(Debug)]
struct ApiError {
    status: u16,
    code: Option<u32>,
    message: Option<String>,
    retry_after: Option<Duration>,
}

/// The JSON error body Twilio sends with non-2xx answers.
#[derive(Deserialize)]
struct ErrorBody {
    code: Option<u32>,
    message: Option<String>,
}

/// The fields of a verification (or verification check) we rely on.
#[derive(Deserialize)]
struct VerificationBody {
    sid: Option<String>,
    status: Option<String>,
    valid: Option<bool>,
}

/// Detail attached as the `source` of a [`ProviderError`].
#[derive(Debug)]
struct Detail(String);

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Detail {}

impl TwilioVerify {
    /// A builder; see [`TwilioVerifyBuilder`].
    pub fn builder() -> TwilioVerifyBuilder {
        TwilioVerifyBuilder::default()
    }

    /// Builds the provider from the environment: `TWILIO_ACCOUNT_SID`,
    /// `TWILIO_AUTH_TOKEN` and `TWILIO_VERIFY_SERVICE_SID`; optionally
    /// `TWILIO_API_KEY_SID` + `TWILIO_API_KEY_SECRET` (used instead of the
    /// auth token when both are set) and `TWILIO_VERIFY_CHANNEL` (`sms`,
    /// `call`, `whatsapp`).
    ///
    /// `Ok(None)` when none of these variables is set (empty counts as
    /// unset), so an app can fall back to another provider;
    /// `Err(Error::Config)` when only some are set or a value is malformed.
    pub fn from_env() -> Result<Option<TwilioVerify>> {
        let get = |name: &str| -> Result<Option<String>> {
            match std::env::var(name) {
                Ok(v) if v.trim().is_empty() => Ok(None),
                Ok(v) => Ok(Some(v.trim().to_owned())),
                Err(std::env::VarError::NotPresent) => Ok(None),
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(Error::Config(format!("{name} is not valid UTF-8")))
                }
            }
        };
        let account_sid = get(ENV_ACCOUNT_SID)?;
        let auth_token = get(ENV_AUTH_TOKEN)?;
        let service_sid = get(ENV_SERVICE_SID)?;
        let key_sid = get(ENV_API_KEY_SID)?;
        let key_secret = get(ENV_API_KEY_SECRET)?;
        let channel = get(ENV_CHANNEL)?;

        let any = account_sid.is_some()
            || auth_token.is_some()
            || service_sid.is_some()
            || key_sid.is_some()
            || key_secret.is_some()
            || channel.is_some();
        if !any {
            return Ok(None);
        }

        let mut missing = Vec::new();
        if account_sid.is_none() {
            missing.push(ENV_ACCOUNT_SID);
        }
        if service_sid.is_none() {
            missing.push(ENV_SERVICE_SID);
        }
        match (&key_sid, &key_secret) {
            (Some(_), None) => missing.push(ENV_API_KEY_SECRET),
            (None, Some(_)) => missing.push(ENV_API_KEY_SID),
            (None, None) if auth_token.is_none() => missing.push(ENV_AUTH_TOKEN),
            _ => {}
        }
        if !missing.is_empty() {
            return Err(Error::Config(format!(
                "Twilio Verify is partly configured: {} not set",
                missing.join(", ")
            )));
        }

        let mut builder = TwilioVerify::builder();
        if let Some(sid) = account_sid {
            builder = builder.account_sid(sid);
        }
        if let Some(sid) = service_sid {
            builder = builder.service_sid(sid);
        }
        builder = match (key_sid, key_secret, auth_token) {
            (Some(sid), Some(secret), _) => builder.api_key(sid, SecretString::from(secret)),
            (_, _, Some(token)) => builder.auth_token(SecretString::from(token)),
            // Unreachable: checked above. Let `build` report it.
            _ => builder,
        };
        if let Some(channel) = channel {
            builder = builder.channel(channel.parse()?);
        }
        builder.build().map(Some)
    }

    /// The delivery channel.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// Starts a verification: Twilio sends a fresh code to `phone` (E.164,
    /// e.g. `+14155552671`) and answers with the verification's `VE…` sid,
    /// returned here. Starting again for the same number while one is pending
    /// re-sends on the same verification.
    ///
    /// This sends a message and costs money, so it is only retried when the
    /// request surely never reached Twilio (connection errors).
    pub async fn start_verification(&self, phone: &str) -> Result<String> {
        if !is_e164(phone) {
            return Err(Error::InvalidPhoneNumber(
                "expected an E.164 number such as +14155552671".into(),
            ));
        }
        let mut form: Vec<(&str, &str)> = Vec::with_capacity(3);
        form.push(("To", phone));
        form.push(("Channel", self.channel.as_str()));
        if let Some(locale) = &self.locale {
            form.push(("Locale", locale));
        }
        let body = match self.post(Op::Start, &self.verifications_url, &form).await? {
            Ok(body) => body,
            Err(api) => return Err(map_api_error(Op::Start, api)),
        };
        let v: VerificationBody = parse_body(&body)?;
        let sid = match v.sid {
            Some(sid) if is_sid(&sid, "VE") => sid,
            Some(_) => return Err(unexpected("the verification `sid` is not a VE sid")),
            None => return Err(unexpected("the answer has no verification `sid`")),
        };
        match v.status.as_deref() {
            Some("pending") => Ok(sid),
            Some(_) => Err(unexpected("a new verification is not `pending`")),
            None => Err(unexpected("the answer has no `status`")),
        }
    }

    /// Checks `code` against the verification `handle` (the `VE…` sid from
    /// [`start_verification`](Self::start_verification)).
    ///
    /// `Ok(true)`: approved, and the verification is used up. `Ok(false)`:
    /// wrong code, the user may try again. `Err(ChallengeExpired)`: expired,
    /// used, cancelled or unknown at Twilio. `Err(TooManyAttempts)`: five
    /// wrong codes. A malformed handle is refused with
    /// [`Error::ChallengeNotFound`] and a code that is not 4 to 10 digits
    /// with [`Error::MalformedCode`], without asking Twilio.
    pub async fn check_code(&self, handle: &str, code: &str) -> Result<bool> {
        if !is_sid(handle, "VE") {
            return Err(Error::ChallengeNotFound);
        }
        if !(4..=10).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::MalformedCode);
        }
        let form = [("VerificationSid", handle), ("Code", code)];
        let body = match self.post(Op::Check, &self.check_url, &form).await? {
            Ok(body) => body,
            Err(api) => return Err(map_api_error(Op::Check, api)),
        };
        let v: VerificationBody = parse_body(&body)?;
        match v.sid.as_deref() {
            Some(sid) if sid == handle => {}
            Some(_) => return Err(unexpected("the check answer is for another verification")),
            None => return Err(unexpected("the check answer has no `sid`")),
        }
        match (v.status.as_deref(), v.valid) {
            (Some("approved"), Some(true)) => Ok(true),
            (Some("approved"), _) => Err(unexpected("`approved` without `valid: true`")),
            (Some("pending"), Some(true)) => Err(unexpected("`pending` with `valid: true`")),
            (Some("pending"), _) => Ok(false),
            (Some("max_attempts_reached"), _) => Err(Error::TooManyAttempts),
            (Some("canceled" | "expired" | "deleted" | "failed"), _) => {
                Err(Error::ChallengeExpired)
            }
            (Some(_), _) => Err(unexpected("unknown verification `status`")),
            (None, _) => Err(unexpected("the check answer has no `status`")),
        }
    }

    /// Cancels the verification `handle` (best effort). A verification that
    /// is already gone (404) is fine. A malformed handle is refused with
    /// [`Error::ChallengeNotFound`] without asking Twilio.
    pub async fn cancel_verification(&self, handle: &str) -> Result<()> {
        if !is_sid(handle, "VE") {
            return Err(Error::ChallengeNotFound);
        }
        let url = format!("{}/{handle}", self.verifications_url);
        match self
            .post(Op::Cancel, &url, &[("Status", "canceled")])
            .await?
        {
            Ok(_) => Ok(()),
            Err(api) if api.status == 404 || api.code == Some(20404) => Ok(()),
            Err(api) => Err(map_api_error(Op::Cancel, api)),
        }
    }

    /// POSTs `form` to `url`, retrying what is safe to retry for `op`.
    ///
    /// Outer error: transport failure (timeout, connection) after retries.
    /// Inner `Ok`: the body of a 2xx answer; inner `Err`: a non-2xx answer.
    async fn post(
        &self,
        op: Op,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<std::result::Result<Vec<u8>, ApiError>> {
        let mut attempt: u32 = 0;
        loop {
            let outcome = self.post_once(url, form).await;
            let can_retry = attempt < self.max_retries;
            let wait = match &outcome {
                // A connect error means the request never left: safe for all.
                Err(e) if e.is_connect() && can_retry => Some(backoff(attempt)),
                Ok(Err(api)) if can_retry && op != Op::Start => {
                    if api.status >= 500 {
                        Some(backoff(attempt))
                    } else if is_throttle(api) {
                        match api.retry_after {
                            // Twilio asked for longer than we want to hold the request.
                            Some(d) if d > MAX_BACKOFF => None,
                            Some(d) => Some(d),
                            None => Some(backoff(attempt)),
                        }
                    } else {
                        None
                    }
                }
                _ => None,
            };
            match (wait, outcome) {
                (Some(wait), outcome) => {
                    tracing::warn!(
                        op = op.name(),
                        attempt = attempt + 1,
                        status = outcome
                            .as_ref()
                            .ok()
                            .and_then(|r| r.as_ref().err())
                            .map(|a| a.status),
                        "Twilio Verify request failed; retrying in {wait:?}"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                (None, Ok(answer)) => return Ok(answer),
                (None, Err(e)) => return Err(transport_error(op, e)),
            }
        }
    }

    /// One POST; reads the whole (bounded) answer.
    async fn post_once(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> std::result::Result<std::result::Result<Vec<u8>, ApiError>, reqwest::Error> {
        let mut resp = self
            .client
            .post(url)
            .header(header::AUTHORIZATION, self.auth_header.clone())
            .form(form)
            .send()
            .await?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            if body.len() + chunk.len() > MAX_BODY {
                // Too large to be a Twilio answer: keep what fits, which will
                // not parse; the connection is dropped.
                break;
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() {
            return Ok(Ok(body));
        }
        let parsed: Option<ErrorBody> = serde_json::from_slice(&body).ok();
        let (code, message) = match parsed {
            Some(b) => (b.code, b.message.map(|m| sanitize(&m))),
            None => (None, None),
        };
        Ok(Err(ApiError {
            status: status.as_u16(),
            code,
            message,
            retry_after,
        }))
    }
}

#[async_trait]
impl SmsVerifier for TwilioVerify {
    async fn send(&self, phone: &str, _ctx: &SmsContext<'_>) -> Result<String> {
        self.start_verification(phone).await
    }

    async fn check(
        &self,
        _phone: &str,
        handle: &str,
        code: &str,
        _ctx: &SmsContext<'_>,
    ) -> Result<bool> {
        self.check_code(handle, code).await
    }

    async fn cancel(&self, _phone: &str, handle: &str, _ctx: &SmsContext<'_>) -> Result<()> {
        self.cancel_verification(handle).await
    }
}

fn config(msg: &str) -> Error {
    Error::Config(msg.to_owned())
}

fn unexpected(what: &str) -> Error {
    Error::Provider(ProviderError {
        source: Some(Box::new(Detail(format!("Twilio Verify: {what}")))),
        ..ProviderError::new(ProviderErrorKind::UnexpectedResponse)
    })
}

fn parse_body(body: &[u8]) -> Result<VerificationBody> {
    serde_json::from_slice(body)
        .map_err(|_| unexpected("the answer is not the documented JSON object"))
}

/// `prefix` + 32 hex digits: the shape of every Twilio SID. Checked before a
/// SID is used in a URL path.
fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit)
}

/// `+` then 8 to 15 digits, the first not 0.
fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// A BCP-47-ish tag: 2–3 letters, then `-` subtags of 2–8 alphanumerics.
fn is_locale(s: &str) -> bool {
    let mut parts = s.split('-');
    let lang_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    lang_ok
        && s.len() <= 35
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn parse_base_url(raw: &str) -> Result<String> {
    let bad = || {
        config(
            "Twilio base URL must be an absolute http(s) URL without credentials, query or fragment",
        )
    };
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(bad());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

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

/// Twilio's message, for logs: printable, at most 200 characters.
fn sanitize(msg: &str) -> String {
    msg.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

/// Exponential backoff with a little jitter: 100 ms, 200 ms, 400 ms, ... ≤ 2 s.
fn backoff(attempt: u32) -> Duration {
    use rand::Rng;
    let base = BASE_BACKOFF
        .saturating_mul(1u32 << attempt.min(5))
        .min(MAX_BACKOFF);
    base + Duration::from_millis(rand::rng().random_range(0..=25))
}

/// Twilio's "too many requests" to the API (not one of the per-number limits).
fn is_throttle(api: &ApiError) -> bool {
    api.code == Some(20429) || (api.status == 429 && api.code.is_none())
}

fn transport_error(op: Op, e: reqwest::Error) -> Error {
    let kind = if e.is_timeout() {
        ProviderErrorKind::Timeout
    } else {
        ProviderErrorKind::Unavailable
    };
    tracing::warn!(op = op.name(), kind = ?kind, "Twilio Verify request failed: {}", DisplayChain(&e));
    Error::Provider(ProviderError {
        source: Some(Box::new(e.without_url()) as BoxError),
        ..ProviderError::new(kind)
    })
}

/// Displays an error with its sources (`a: b: c`).
struct DisplayChain<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut src = self.0.source();
        while let Some(s) = src {
            write!(f, ": {s}")?;
            src = s.source();
        }
        Ok(())
    }
}

/// Maps a non-2xx Twilio answer to the crate's error (see the table in
/// `TWILIO-VERIFY.md`).
fn map_api_error(op: Op, api: ApiError) -> Error {
    let ApiError {
        status,
        code,
        message,
        retry_after,
    } = api;
    let provider = |kind: ProviderErrorKind, detail: Option<String>| {
        let detail = detail.or_else(|| {
            message
                .as_ref()
                .map(|m| format!("Twilio answered HTTP {status}: {m}"))
        });
        Error::Provider(ProviderError {
            kind,
            code,
            status: Some(status),
            retry_after: if kind == ProviderErrorKind::Throttled {
                retry_after
            } else {
                None
            },
            source: detail.map(|d| Box::new(Detail(d)) as BoxError),
        })
    };
    match code {
        Some(20003) => {
            tracing::error!(
                op = op.name(),
                status,
                code = 20003,
                "Twilio rejected our credentials (error 20003): check TWILIO_ACCOUNT_SID and the auth token or API key"
            );
            provider(ProviderErrorKind::Authentication, None)
        }
        Some(20404) => not_found(op, provider),
        Some(20429) => provider(ProviderErrorKind::Throttled, None),
        Some(c @ (60200 | 21211 | 21614)) => match op {
            Op::Start => {
                Error::InvalidPhoneNumber(format!("the provider refused this number (code {c})"))
            }
            // No phone number is sent on a check; 60200 there means the code.
            Op::Check => Error::MalformedCode,
            Op::Cancel => provider(ProviderErrorKind::Rejected, None),
        },
        Some(60202) => Error::TooManyAttempts,
        Some(60203) => Error::RateLimited {
            retry_after: retry_after.unwrap_or(SEND_LIMIT_WAIT),
        },
        Some(60212) => Error::RateLimited {
            retry_after: retry_after.unwrap_or(CONCURRENT_LIMIT_WAIT),
        },
        Some(60205) => provider(
            ProviderErrorKind::ChannelUnsupported,
            Some(
                "Twilio error 60205: SMS is not supported for this number (probably a landline); \
                 try the voice channel (Channel::Call)"
                    .into(),
            ),
        ),
        Some(60223) => {
            tracing::error!(
                op = op.name(),
                code = 60223,
                "Twilio Verify: this channel is disabled for the service; enable it in the Console or change the channel"
            );
            provider(ProviderErrorKind::Misconfigured, None)
        }
        Some(60410 | 60605) => provider(ProviderErrorKind::DeliveryRefused, None),
        _ => match status {
            401 => {
                tracing::error!(
                    op = op.name(),
                    status,
                    "Twilio answered 401: check TWILIO_ACCOUNT_SID and the auth token or API key"
                );
                provider(ProviderErrorKind::Authentication, None)
            }
            404 => not_found(op, provider),
            429 => provider(ProviderErrorKind::Throttled, None),
            500..=599 => provider(ProviderErrorKind::Unavailable, None),
            300..=399 => provider(
                ProviderErrorKind::UnexpectedResponse,
                Some(format!(
                    "Twilio answered a redirect (HTTP {status}); not followed"
                )),
            ),
            _ => provider(ProviderErrorKind::Rejected, None),
        },
    }
}

/// A 404 / 20404: the verification is gone on a check; on a start it is the
/// service that does not exist.
fn not_found(op: Op, provider: impl FnOnce(ProviderErrorKind, Option<String>) -> Error) -> Error {
    match op {
        Op::Check | Op::Cancel => Error::ChallengeExpired,
        Op::Start => {
            tracing::error!(
                "Twilio Verify answered 404 to a start: the service SID does not exist in this account"
            );
            provider(
                ProviderErrorKind::Misconfigured,
                Some("Twilio Verify service not found (check TWILIO_VERIFY_SERVICE_SID)".into()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::store::MemoryStore;
    use httpmock::prelude::*;

    const SID: &str = "VE0123456789abcdef0123456789abcdef";

    #[test]
    fn sid_shapes() {
        assert!(is_sid(SID, "VE"));
        assert!(!is_sid("VE0123456789abcdef0123456789abcde", "VE"));
        assert!(!is_sid("VE0123456789abcdef0123456789abcdeg", "VE"));
        assert!(!is_sid("VE0123456789abcdef0123456789abc/..", "VE"));
        assert!(!is_sid("VA0123456789abcdef0123456789abcdef", "VE"));
        assert!(!is_sid("VE0123456789abcdef0123456789abcdé", "VE"));
        assert!(is_e164("+14155552671"));
        assert!(!is_e164("14155552671"));
        assert!(!is_e164("+1415555267a"));
        assert!(is_locale("pt-BR") && is_locale("en") && !is_locale("e") && !is_locale("en_US"));
    }

    /// The trait methods delegate to the inherent ones (the context is unused).
    #[tokio::test]
    async fn trait_delegates() {
        let server = MockServer::start_async().await;
        let start = server
            .mock_async(|when, then| {
                when.method(POST)
                    .path("/Services/VA0123456789abcdef0123456789abcdef/Verifications");
                then.status(201).json_body(
                    serde_json::json!({"sid": SID, "status": "pending", "valid": false}),
                );
            })
            .await;
        let check = server
            .mock_async(|when, then| {
                when.method(POST)
                    .path("/Services/VA0123456789abcdef0123456789abcdef/VerificationCheck");
                then.status(200).json_body(
                    serde_json::json!({"sid": SID, "status": "approved", "valid": true}),
                );
            })
            .await;
        let twilio = TwilioVerify::builder()
            .account_sid("AC0123456789abcdef0123456789abcdef")
            .auth_token(SecretString::from("tok"))
            .service_sid("VA0123456789abcdef0123456789abcdef")
            .base_url(server.base_url())
            .build()
            .unwrap();
        let store = MemoryStore::new();
        let keys = crate::crypto::Keys::new(secrecy::SecretSlice::from(vec![7u8; 32]));
        let ctx = SmsContext {
            state: &store,
            now: Timestamp::from_millis(1_700_000_000_000),
            code_ttl: Duration::from_secs(600),
            hasher: &keys,
        };
        let v: &dyn SmsVerifier = &twilio;
        let handle = v.send("+14155552671", &ctx).await.unwrap();
        assert_eq!(handle, SID);
        assert!(
            v.check("+14155552671", &handle, "123456", &ctx)
                .await
                .unwrap()
        );
        start.assert_calls_async(1).await;
        check.assert_calls_async(1).await;
    }
}

#[cfg(test)]
mod proptests;
