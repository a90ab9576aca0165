//! The HTTP side: one shared client, one POST, and the retry policy.
//!
//! Requests are `application/x-www-form-urlencoded` with HTTP Basic
//! authentication; answers are JSON. The client keeps connections alive, has
//! a connect timeout and a total timeout, follows no redirects, sends
//! `Accept: application/json` and a `User-Agent` naming the crate.
//!
//! What is retried, and why:
//!
//! - a connection error (the request never left): every call;
//! - a 5xx answer, or Twilio's API throttle (20429, or a bare 429): a check
//!   or a cancel, which change nothing when repeated;
//! - nothing else for a start: it sends a message and costs money, and after
//!   a timeout mid-request it may well have been sent.

use std::fmt;
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::Deserialize;

use super::TwilioVerify;
use crate::error::{BoxError, Error, ProviderError, ProviderErrorKind, Result};

/// First backoff between retries; doubled each time, capped at [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Largest answer body we read; Twilio's answers are a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;
/// A `Retry-After` beyond this is clamped (a misbehaving server cannot lock
/// users out for days).
pub(super) const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
const USER_AGENT: &str = concat!("twofa-verify/", env!("CARGO_PKG_VERSION"));

/// Which API call is being made; decides what may be retried and how a few
/// error codes read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Start,
    Check,
    Cancel,
}

impl Op {
    pub(super) fn name(self) -> &'static str {
        match self {
            Op::Start => "start verification",
            Op::Check => "check code",
            Op::Cancel => "cancel verification",
        }
    }
}

/// A non-2xx answer from Twilio.
#[derive(Debug)]
pub(super) struct ApiError {
    /// The HTTP status.
    pub(super) status: u16,
    /// Twilio's error code, when the body had one.
    pub(super) code: Option<u32>,
    /// Twilio's message, sanitized for logs.
    pub(super) message: Option<String>,
    /// The `Retry-After` header, clamped.
    pub(super) retry_after: Option<Duration>,
}

/// The JSON error body Twilio sends with non-2xx answers.
#[derive(Deserialize)]
struct ErrorBody {
    code: Option<u32>,
    message: Option<String>,
}

/// What [`TwilioVerifyBuilder::build`](super::TwilioVerifyBuilder::build)
/// says when the app has installed no rustls crypto provider.
pub(super) const NO_CRYPTO_PROVIDER: &str = "no rustls crypto provider is installed: \
    call `rustls::crypto::aws_lc_rs::default_provider().install_default()` (or `ring`'s) \
    once at start-up, before building the Twilio provider";

/// The one HTTP client of a provider (cheap to clone; clones share the
/// connection pool).
///
/// reqwest is built without a crypto provider of its own (the app picks
/// one) and panics when none is installed: that case is a configuration
/// error here, before reqwest is asked.
pub(super) fn http_client(connect_timeout: Duration, timeout: Duration) -> Result<reqwest::Client> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        return Err(Error::Config(NO_CRYPTO_PROVIDER.to_owned()));
    }
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .default_headers(headers)
        .build()
        .map_err(|e| {
            Error::Config(format!(
                "could not build the HTTP client for Twilio: {}",
                e.without_url()
            ))
        })
}

impl TwilioVerify {
    /// POSTs `form` to `url`, retrying what is safe to retry for `op`.
    ///
    /// Outer error: transport failure (timeout, connection) after retries.
    /// Inner `Ok`: the body of a 2xx answer; inner `Err`: a non-2xx answer.
    pub(super) async fn post(
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

/// Twilio's message, for logs: printable, at most 200 characters.
pub(super) fn sanitize(msg: &str) -> String {
    msg.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

/// Exponential backoff with a little jitter: 100 ms, 200 ms, 400 ms, ... ≤ 2 s.
fn backoff(attempt: u32) -> Duration {
    use rand::RngExt;
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
