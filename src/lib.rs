#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

/// The `secrecy` crate, whose `SecretString` carries passwords and codes
/// through this crate's API: use this re-export so that the versions match.
pub use secrecy;

/// The attribute the store and provider traits are written with: implement
/// [`UserStore`], [`StateStore`], [`SmsVerifier`] or [`SmsSender`] under
/// `#[twofa_verify::async_trait]`, with no `async-trait` dependency of your
/// own.
pub use async_trait::async_trait;

pub mod clock;
#[cfg(feature = "test-util")]
pub mod conformance;
pub mod context;
pub mod error;
mod key;
pub mod policy;
pub mod store;
pub mod user;
pub mod web;

// The root holds what an app uses every day. Implementor and test types
// (store records, `Hasher`, `ManualClock`, `RecordingSink`, the provider
// context) stay in their modules: `twofa_verify::store::UserRecord`,
// `twofa_verify::clock::ManualClock`, ...
pub use clock::Timestamp;
pub use context::RequestContext;
pub use error::{Error, Result};
pub use policy::{Policy, RateLimit, Registration};
pub use store::{MemoryStore, StateStore, UserStore};
pub use key::{SecretKey, SecretKeyError};
pub use user::{User, UserId};
pub(crate) mod crypto;
pub mod factor;
#[cfg(feature = "totp")]
pub use factor::TotpEnrollment;
pub use factor::{ConsoleSms, LocalCodes, RecoveryCodes, SmsSender, SmsVerifier};
pub mod authenticator;
#[cfg(feature = "axum")]
pub mod axum;
pub mod event;
pub mod password;
pub use authenticator::{
    Authenticator, AuthenticatorBuilder, Challenge, DeviceToken, EmailChangeMail, Enrolled,
    ImportedUser, Login, MailDecision, PendingAccount, PendingEmailChange, RegistrationMail,
    RegistrationStart, RememberedDevice, ResetToken, SessionStamp, SmsDelivery, SmsEnrollment,
    StepUp, Verification,
};
pub use event::{AuthEvent, EventSink, Factor};
#[cfg(feature = "postgres")]
pub use store::PostgresStore;
#[cfg(feature = "redis")]
pub use store::RedisStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
