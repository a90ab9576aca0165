#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

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

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use context::RequestContext;
pub use error::{BoxError, Error, ProviderError, ProviderErrorKind, Result, WeakPassword};
pub use key::{SecretKey, SecretKeyError};
pub use password::{Hasher, LegacyHashVerifier, Verified};
pub use policy::{ClientNetworks, HashParams, Policy, RateLimit, Registration};
pub use store::{
    Counter, DeviceRecord, MemoryStore, NewUser, StateStore, StoredSecret, UserRecord, UserStore,
};
pub use user::{User, UserId};
pub(crate) mod crypto;
pub mod factor;
#[cfg(feature = "totp")]
pub use factor::TotpEnrollment;
pub use factor::{
    ConsoleSms, LocalCodes, RecoveryCodes, SentVerification, SmsContext, SmsSender, SmsVerifier,
};
pub mod authenticator;
#[cfg(feature = "axum")]
pub mod axum;
pub mod event;
pub mod password;
pub use authenticator::{
    Authenticator, AuthenticatorBuilder, Challenge, DeviceToken, EmailChangeMail, ImportedUser,
    Login, MailDecision, PendingAccount, PendingEmailChange, RegistrationMail, RegistrationStart,
    RememberedDevice, ResetToken, SessionStamp, SmsDelivery, SmsEnrollment, StepUp, Verification,
};
pub use event::{
    AuthEvent, EventSink, Factor, LimitedAction, MailKind, RecordingSink, TracingSink,
};
#[cfg(feature = "postgres")]
pub use store::PostgresStore;
#[cfg(feature = "redis")]
pub use store::RedisStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
