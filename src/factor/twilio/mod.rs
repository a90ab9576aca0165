//! Twilio Verify v2 provider: Twilio makes, sends, expires and counts the
//! one-time codes; we start a verification, check a code and cancel.
//!
//! The API as this module uses it: base URL `https://verify.twilio.com/v2`,
//! HTTP Basic authentication (the account SID, or an API key SID, with the
//! auth token or key secret), form-encoded requests, JSON answers.
//!
//! - Start: `POST /Services/{VA…}/Verifications` with `To` (E.164),
//!   `Channel` (`sms`, `call`, `whatsapp`) and optionally `Locale`. Answers
//!   `201` with the verification's `sid` (`VE…`) and `status: "pending"`.
//!   Starting again for a number with a pending verification re-sends on
//!   that same verification.
//! - Check: `POST /Services/{VA…}/VerificationCheck` with `VerificationSid`
//!   and `Code`. Answers `200` with `status` and `valid`: `approved` with
//!   `valid: true` is the right code (the verification is then used up),
//!   `pending` with `valid: false` a wrong one. An expired, approved or
//!   unknown verification answers 404 (error 20404): never a success.
//! - Cancel: `POST /Services/{VA…}/Verifications/{VE…}` with
//!   `Status=canceled`.
//! - Twilio's own limits are per verification: a code lives 10 minutes,
//!   with 5 checks and 5 sends; codes have 4 to 10 digits. Anyone can start
//!   a new verification, so the authenticator keeps its own limits too.
//!
//! In short, this module:
//!
//! - keeps one shared HTTP client (keep-alive, connect timeout 5 s, total
//!   10 s, no redirects, `Accept: application/json`);
//! - maps every documented Twilio error code to a typed [`Error`] (the table
//!   is in the `errors` submodule);
//! - retries a check (and a cancel) on connection errors, 5xx and 20429, and
//!   a start (which sends an SMS and costs money) only when the request
//!   surely never reached Twilio (connection errors);
//! - never lets anything secret appear in an error or in `Debug`;
//! - starts once more on the fallback channel, when one is set, only when
//!   Twilio says the primary channel cannot reach this number or is disabled
//!   for the service (see [`TwilioVerifyBuilder::fallback_channel`]).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{SentVerification, SmsContext, SmsVerifier};
use crate::error::{Error, PhoneProblem, Result};

mod builder;
mod channel;
mod client;
mod env;
mod errors;
mod validate;

pub use builder::TwilioVerifyBuilder;
pub use channel::Channel;

use builder::Redacted;
use client::Op;
use errors::{allows_fallback, map_api_error, unexpected};
use validate::{is_e164, is_sid};

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
///
/// # TLS: the app's crypto provider
///
/// The HTTPS client is reqwest over rustls without a crypto provider of its
/// own, so this crate builds no C library the app did not ask for. Install
/// one process-wide provider before [`build`](TwilioVerifyBuilder::build)
/// (which otherwise fails with [`Error::Config`], never a panic): depend on
/// `rustls` 0.23 with its `aws-lc-rs` feature (its default) or `ring`, and
/// at the start of `main`:
///
/// ```
/// use twofa_verify::factor::TwilioVerify;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Fails only when a provider is installed already (that one then serves).
/// let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
///
/// let twilio = TwilioVerify::builder()
///     .account_sid("AC00000000000000000000000000000000")
///     .auth_token(secrecy::SecretString::from("your-auth-token"))
///     .service_sid("VA00000000000000000000000000000000")
///     .build()?;
/// # let _ = twilio;
/// # Ok(()) }
/// ```
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
    fallback_channel: Option<Channel>,
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
            .field("fallback_channel", &self.fallback_channel)
            .field("locale", &self.locale)
            .field("base_url", &self.base_url)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

/// A verification Twilio started: what [`TwilioVerify::start`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StartedVerification {
    /// The verification's `VE…` sid: the handle to check the code against.
    pub sid: String,
    /// The channel the code went out on: the configured one, or the fallback
    /// channel when the configured one could not reach the number.
    pub channel: Channel,
}

/// The fields of a verification (or verification check) we rely on.
#[derive(Deserialize)]
struct VerificationBody {
    sid: Option<String>,
    status: Option<String>,
    valid: Option<bool>,
}

impl TwilioVerify {
    /// A builder; see [`TwilioVerifyBuilder`].
    pub fn builder() -> TwilioVerifyBuilder {
        TwilioVerifyBuilder::default()
    }

    /// The delivery channel.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// The channel tried when the delivery channel cannot reach a number, if
    /// one is set (see [`TwilioVerifyBuilder::fallback_channel`]).
    pub fn fallback_channel(&self) -> Option<Channel> {
        self.fallback_channel
    }

    /// Starts a verification: Twilio sends a fresh code to `phone` (E.164,
    /// e.g. `+14155552671`) and answers with the verification's `VE…` sid,
    /// returned here. Starting again for the same number while one is pending
    /// re-sends on the same verification.
    ///
    /// This sends a message and costs money, so it is only retried when the
    /// request surely never reached Twilio (connection errors). With a
    /// fallback channel set, the code may go out on it instead; use
    /// [`start`](Self::start) to learn which channel was used.
    pub async fn start_verification(&self, phone: &str) -> Result<String> {
        self.start(phone).await.map(|v| v.sid)
    }

    /// Starts a verification like
    /// [`start_verification`](Self::start_verification), and tells which
    /// channel the code went out on.
    ///
    /// When a [fallback channel](TwilioVerifyBuilder::fallback_channel) is
    /// set and Twilio answers that the delivery channel cannot reach this
    /// number or is disabled for the service, the verification is started
    /// once more on the fallback channel; its sid is checked like any other.
    /// Any other failure is returned as it is, without a second request. When
    /// the fallback start fails too, its error is returned.
    ///
    /// A number known to be a landline ([`LineType::FixedLine`], feature
    /// `phone-numbers`) is not sent a text that would fail: with delivery
    /// channel [`Channel::Sms`], its verification starts on
    /// [`Channel::Call`] at once.
    ///
    /// [`LineType::FixedLine`]: crate::factor::LineType::FixedLine
    pub async fn start(&self, phone: &str) -> Result<StartedVerification> {
        if !is_e164(phone) {
            return Err(Error::InvalidPhoneNumber(PhoneProblem::NotE164));
        }
        let channel = self.channel_for(phone);
        let api = match self.start_on(phone, channel).await? {
            Ok(sid) => return Ok(StartedVerification { sid, channel }),
            Err(api) => api,
        };
        let Some(fallback) = self
            .fallback_channel
            .filter(|&fallback| fallback != channel && allows_fallback(&api, fallback))
        else {
            return Err(map_api_error(Op::Start, api));
        };
        let code = api.code;
        let primary = map_api_error(Op::Start, api);
        tracing::warn!(
            code,
            %channel,
            fallback = %fallback,
            "Twilio Verify could not start on the delivery channel ({primary}); starting once on the fallback channel"
        );
        // One request (retried only on connection errors, like every start):
        // whatever it answers is final, so the fallback never sends twice.
        match self.start_on(phone, fallback).await? {
            Ok(sid) => Ok(StartedVerification {
                sid,
                channel: fallback,
            }),
            Err(api) => Err(map_api_error(Op::Start, api)),
        }
    }

    /// The channel a verification for `phone` starts on: the delivery
    /// channel, except a text to a known landline, which goes by call.
    fn channel_for(&self, phone: &str) -> Channel {
        if self.channel == Channel::Sms && crate::factor::LineType::of(phone).is_fixed_line() {
            Channel::Call
        } else {
            self.channel
        }
    }

    /// One start on `channel`. Outer error: transport failure or a 2xx answer
    /// that is not a pending verification; inner `Err`: Twilio's refusal, not
    /// yet mapped, so that the caller can decide on a fallback.
    async fn start_on(
        &self,
        phone: &str,
        channel: Channel,
    ) -> Result<std::result::Result<String, client::ApiError>> {
        let mut form: Vec<(&str, &str)> = Vec::with_capacity(3);
        form.push(("To", phone));
        form.push(("Channel", channel.as_str()));
        if let Some(locale) = &self.locale {
            form.push(("Locale", locale));
        }
        let body = match self.post(Op::Start, &self.verifications_url, &form).await? {
            Ok(body) => body,
            Err(api) => return Ok(Err(api)),
        };
        let v: VerificationBody = parse_body(&body)?;
        let sid = match v.sid {
            Some(sid) if is_sid(&sid, "VE") => sid,
            Some(_) => return Err(unexpected("the verification `sid` is not a VE sid")),
            None => return Err(unexpected("the answer has no verification `sid`")),
        };
        match v.status.as_deref() {
            Some("pending") => Ok(Ok(sid)),
            Some(_) => Err(unexpected("a new verification is not `pending`")),
            None => Err(unexpected("the answer has no `status`")),
        }
    }

    /// Checks `code` against the verification `handle` (the `VE…` sid from
    /// [`start_verification`](Self::start_verification)).
    ///
    /// `Ok(())`: approved, and the verification is used up.
    /// `Err(WrongCode)`: wrong code, the user may try again (so `?` never
    /// waves a wrong code through). `Err(ChallengeExpired)`: expired,
    /// used, cancelled or unknown at Twilio. `Err(TooManyAttempts)`: five
    /// wrong codes. A malformed handle is refused with
    /// [`Error::ChallengeNotFound`] and a code that is not 4 to 10 digits
    /// with [`Error::MalformedCode`], without asking Twilio.
    ///
    /// ```no_run
    /// # async fn f(twilio: &twofa_verify::factor::TwilioVerify, sid: &str) -> twofa_verify::Result<()> {
    /// use twofa_verify::Error;
    /// let code = twofa_verify::secrecy::SecretString::from("123456");
    /// match twilio.check_code(sid, &code).await {
    ///     Ok(()) => println!("approved"),
    ///     Err(Error::WrongCode) => println!("wrong code, try again"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn check_code(&self, handle: &str, code: &SecretString) -> Result<()> {
        self.check_digits(handle, code.expose_secret()).await
    }

    /// [`check_code`](Self::check_code) on the code's text, which the
    /// [`SmsVerifier`] side receives already unwrapped.
    async fn check_digits(&self, handle: &str, code: &str) -> Result<()> {
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
            (Some("approved"), Some(true)) => Ok(()),
            (Some("approved"), _) => Err(unexpected("`approved` without `valid: true`")),
            (Some("pending"), Some(true)) => Err(unexpected("`pending` with `valid: true`")),
            (Some("pending"), _) => Err(Error::WrongCode),
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
}

#[async_trait]
impl SmsVerifier for TwilioVerify {
    async fn send(&self, phone: &str, _ctx: &SmsContext<'_>) -> Result<SentVerification> {
        let started = self.start(phone).await?;
        Ok(SentVerification::new(started.sid).with_channel(started.channel.as_str()))
    }

    async fn check(
        &self,
        _phone: &str,
        handle: &str,
        code: &str,
        _ctx: &SmsContext<'_>,
    ) -> Result<()> {
        self.check_digits(handle, code).await
    }

    async fn cancel(&self, _phone: &str, handle: &str, _ctx: &SmsContext<'_>) -> Result<()> {
        self.cancel_verification(handle).await
    }
}

fn parse_body(body: &[u8]) -> Result<VerificationBody> {
    serde_json::from_slice(body)
        .map_err(|_| unexpected("the answer is not the documented JSON object"))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
