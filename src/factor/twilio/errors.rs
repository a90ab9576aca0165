//! Twilio's error answers mapped to the crate's typed [`Error`].
//!
//! A non-2xx answer carries JSON such as `{"code": 60200, "message":
//! "Invalid parameter `To`: …", "more_info": "…", "status": 400}`. The codes
//! this module knows, and what each becomes:
//!
//! | HTTP | code | Twilio's meaning | our error |
//! |---|---|---|---|
//! | 401 | 20003 | authentication failed (bad SID, token or key) | [`ProviderErrorKind::Authentication`], logged loudly |
//! | 404 | 20404 | verification not found (expired, approved, canceled) | [`Error::ChallengeExpired`] on a check or cancel; on a start the service does not exist: [`ProviderErrorKind::Misconfigured`] |
//! | 429 | 20429 | too many requests to the API | [`ProviderErrorKind::Throttled`] (retryable) |
//! | 400 | 60200 | invalid parameter (on a start, usually `To`) | [`Error::InvalidPhoneNumber`] on a start, [`Error::MalformedCode`] on a check |
//! | 429 | 60202 | max check attempts reached (5 per verification) | [`Error::TooManyAttempts`] |
//! | 429 | 60203 | max send attempts reached (5 per verification) | [`Error::RateLimited`], 10 minutes unless `Retry-After` says otherwise |
//! | 400 | 60205 | SMS is not supported for this number (landline) | [`ProviderErrorKind::ChannelUnsupported`] |
//! | 429 | 60212 | too many concurrent requests for this number | [`Error::RateLimited`], 30 s unless `Retry-After` says otherwise |
//! | 400 | 60223 | channel disabled for this service | [`ProviderErrorKind::Misconfigured`], logged loudly |
//! | 403 | 60410 | delivery blocked (Fraud Guard, blocked prefix) | [`ProviderErrorKind::DeliveryRefused`], never retried |
//! | 403 | 60605 | country not allowed by the service's geo permissions | [`ProviderErrorKind::DeliveryRefused`], never retried |
//! | 400 | 21211, 21614 | invalid, or not a mobile, `To` number | [`Error::InvalidPhoneNumber`] on a start |
//! | 5xx | — | trouble at Twilio | [`ProviderErrorKind::Unavailable`] (retryable; never a login) |
//!
//! Any other answer is [`ProviderErrorKind::Rejected`] (a 3xx, which is never
//! followed, is [`ProviderErrorKind::UnexpectedResponse`]).
//!
//! [`allows_fallback`] decides which failed starts may be tried once more on
//! the fallback channel.

use std::fmt;
use std::time::Duration;

use super::Channel;
use super::client::{ApiError, Op};
use crate::error::{BoxError, Error, PhoneProblem, ProviderError, ProviderErrorKind};
use crate::event::LimitedAction;

/// Default wait after 60203 (max send attempts): a verification lives 10 minutes.
pub(super) const SEND_LIMIT_WAIT: Duration = Duration::from_secs(600);
/// Default wait after 60212 (too many concurrent requests for this number).
const CONCURRENT_LIMIT_WAIT: Duration = Duration::from_secs(30);

/// Detail attached as the `source` of a [`ProviderError`].
#[derive(Debug)]
pub(super) struct Detail(String);

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Detail {}

/// A configuration error with a fixed message (never a credential).
pub(super) fn config(msg: &str) -> Error {
    Error::Config(msg.to_owned())
}

/// A 2xx answer that is not what the API documents.
pub(super) fn unexpected(what: &str) -> Error {
    Error::Provider(ProviderError {
        source: Some(Box::new(Detail(format!("Twilio Verify: {what}")))),
        ..ProviderError::new(ProviderErrorKind::UnexpectedResponse)
    })
}

/// Whether a start that Twilio refused with `api` may be tried once more on
/// the `fallback` channel: only when the refusal says the delivery channel
/// cannot serve this number, which another channel may.
///
/// - 60223 (the channel is disabled for this service): any fallback, which
///   the service may have enabled.
/// - 60205 (SMS not supported: a landline) and 21614 (not a mobile number):
///   a voice call only; a landline gets no WhatsApp message either.
///
/// Never on anything else, in particular: 60410 (Fraud Guard) and 60605
/// (geo permissions), which refuse the number itself, and another channel
/// would get around the block; 60200 and 21211 (invalid number); 20003
/// (credentials); 20429, 60203 and 60212 (rate limits); 20404 (no such
/// service); 5xx (trouble at Twilio, when it may have sent already); unknown
/// codes. Timeouts and connection failures never reach here.
pub(super) fn allows_fallback(api: &ApiError, fallback: Channel) -> bool {
    if !(400..500).contains(&api.status) {
        return false;
    }
    match api.code {
        Some(60223) => true,
        Some(60205 | 21614) => fallback == Channel::Call,
        _ => false,
    }
}

/// Maps a non-2xx Twilio answer to the crate's error (see the table above).
pub(super) fn map_api_error(op: Op, api: ApiError) -> Error {
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
            Op::Start => Error::InvalidPhoneNumber(PhoneProblem::RefusedByProvider { code: c }),
            // No phone number is sent on a check; 60200 there means the code.
            Op::Check => Error::MalformedCode,
            Op::Cancel => provider(ProviderErrorKind::Rejected, None),
        },
        Some(60202) => Error::TooManyAttempts,
        Some(60203) => Error::RateLimited {
            limit: LimitedAction::SmsSend,
            retry_after: retry_after.unwrap_or(SEND_LIMIT_WAIT),
        },
        Some(60212) => Error::RateLimited {
            limit: LimitedAction::SmsSend,
            retry_after: retry_after.unwrap_or(CONCURRENT_LIMIT_WAIT),
        },
        Some(60205) => provider(
            ProviderErrorKind::ChannelUnsupported,
            Some(
                "Twilio error 60205: SMS is not supported for this number (probably a landline); \
                 try the voice channel (Channel::Call), or set it as the fallback channel"
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
