//! Password login plus optional two-factor authentication for any Rust app: SMS codes through
//! Twilio Verify (or your own SMS gateway), authenticator-app codes (TOTP) and recovery codes,
//! over pluggable stores.
//!
//! The core is one type, [`Authenticator`], built once at start-up over a [`UserStore`] and a
//! [`StateStore`] (one store can be both) and shared by every request. Its methods are plain
//! async calls; the optional [`axum`] module (feature `axum`) and the
//! framework-neutral [`web`] helpers wire them into a site.
//!
//! # Quick start
//!
//! ```rust
//! use twofa_verify::secrecy::SecretString;
//! use twofa_verify::{Authenticator, ConsoleSms, LocalCodes, Login, MemoryStore, SecretKey, StepUp};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> twofa_verify::Result<()> {
//! let sms = ConsoleSms::quiet(); // prints codes; TwilioVerify in production
//! let auth = Authenticator::builder()
//!     .store(MemoryStore::new()) // or SqliteStore / PostgresStore
//!     .secret_key(SecretKey::generate()) // in production: SecretKey::from_env("TWOFA_SECRET_KEY")?
//!     .sms(LocalCodes::new(sms.clone()))
//!     .build()?;
//!
//! let password = SecretString::from("correct horse battery");
//! let user = auth.register("alice", "alice@example.com", &password).await?;
//!
//! // Turn on SMS 2FA from the profile page (the password again), send a code, confirm it.
//! auth.start_sms_enrollment(user.id, "+1 415 555 2671", &StepUp::password("correct horse battery")).await?;
//! let code = SecretString::from(sms.last_code_for("+14155552671").unwrap()); // as typed in a form
//! let enrolled = auth.confirm_sms_enrollment(user.id, &code).await?;
//! let stamp = auth.session_stamp(&enrolled.user); // the acting session keeps going with this
//! assert_eq!(enrolled.recovery_codes.map(|r| r.len()), Some(10)); // show these once
//!
//! // Log in: the password, then the code.
//! match auth.login("alice", &password).await? {
//!     Login::Complete(user) => println!("welcome {}", user.username),
//!     Login::SecondFactor(challenge) => {
//!         // keep challenge.token() in the session; the code went to +1415*****71
//!         let code = SecretString::from(sms.last_code_for("+14155552671").unwrap());
//!         let verified = auth.verify(challenge.token(), &code).await?;
//!         println!("welcome {} (by {})", verified.user.username, verified.factor);
//!     }
//!     _ => println!("not logged in"), // `Login` is non-exhaustive
//! }
//! # let _ = stamp;
//! # Ok(())
//! # }
//! ```
//!
//! A wrong password or code is an `Err` (`InvalidCredentials`, `InvalidCode { attempts_left }`),
//! never an `Ok(false)`, so `?` cannot wave one through.
//!
//! # The path of a login
//!
//! 1. [`Authenticator::login`] takes an identifier (username or email) and a password, and
//!    answers [`Login::Complete`] with the [`User`] when the account has no second factor (or the
//!    browser is a remembered device, [`Authenticator::login_with_device`]), or
//!    [`Login::SecondFactor`] with a [`Challenge`]: a pending login that expires, allows a few
//!    attempts and works once. With SMS, the code has been sent; the challenge says where
//!    ([`Challenge::sms`], the phone masked).
//! 2. The app keeps [`Challenge::token`] (in its session, never in a URL) and asks for the code.
//!    [`Authenticator::verify`] takes the token and the code (SMS, authenticator app or a
//!    recovery code) and answers a [`Verification`]: the user and the factor used. A wrong code
//!    is [`Error::InvalidCode`] with the attempts left.
//! 3. The app stores [`Authenticator::session_stamp`] in its session and checks it with
//!    [`Authenticator::session_user`] on every request: a password, email or factor change, or
//!    [`Authenticator::sign_out_everywhere`], ends every other session at its next request.
//!    Calls that change a credential return the refreshed user, whose new stamp keeps the acting
//!    session alive.
//!
//! Every failure is an [`Error`]; [`Error::is_user_error`] and [`Error::http_status`] tell a
//! caller's mistake from an outage. Each step reports an [`event::AuthEvent`] to an
//! [`event::EventSink`] (by default `tracing`).
//!
//! # Feature flags
//!
//! | Feature | Default | What it adds |
//! |---|---|---|
//! | `twilio` | yes | [`factor::TwilioVerify`]; the app installs a rustls crypto provider |
//! | `totp` | yes | authenticator-app codes ([`Authenticator::start_totp_enrollment`]) |
//! | `qr` | no | QR codes (PNG, SVG, data URI) in the TOTP enrollment |
//! | `sqlite` | no | `SqliteStore` |
//! | `postgres` | no | `PostgresStore`, for many app instances on one database |
//! | `redis` | no | `RedisStore`, the short-lived state in Redis beside a SQL user store |
//! | `redis-tls` | no | `rediss://` URLs for `RedisStore` (rustls, a custom CA); the app installs a rustls crypto provider |
//! | `axum` | no | the [`axum`] module: `AuthLayer`, `AuthSession`, `RequireUser` |
//! | `phone-numbers` | no | numbers checked against libphonenumber's plans, national formats; landlines called ([`factor::LineType`]) |
//! | `user-agent` | no | remembered devices named from their user agent |
//! | `legacy-hashes` | no | Werkzeug (PBKDF2, scrypt) and bcrypt verifiers for imported users |
//! | `passkeys` | no | passkeys (WebAuthn): second factor, passwordless sign-in, step-up ([`passkey`]) |
//! | `test-util` | no | the store conformance suite (`conformance`) for stores of other crates |
//!
//! # More
//!
//! The repository's README links the guides: stores (SQLite, PostgreSQL, Redis, an app's own
//! tables), Twilio Verify and SMS pumping, migrating from the Flask tutorial, the demo site, the
//! CLI, `SECURITY.md` (every promise with the tests that hold it) and the benchmarks.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

/// The `secrecy` crate, whose `SecretString` carries passwords and codes
/// through this crate's API: use this re-export so that the versions match.
///
/// Its `serde` support is on, so a form field can be read straight into a
/// `SecretString`: `struct CodeForm { code: SecretString }` with
/// `#[derive(serde::Deserialize)]` keeps the code out of `Debug` and logs
/// from the moment it arrives.
pub use secrecy;

/// The attribute the store and provider traits are written with: implement
/// [`UserStore`], [`StateStore`], [`SmsVerifier`] or [`SmsSender`] under
/// `#[twofa_verify::async_trait]`, with no `async-trait` dependency of your
/// own.
pub use async_trait::async_trait;

pub mod audit;
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
pub use key::{SecretKey, SecretKeyError};
pub use policy::{Policy, RateLimit, Registration};
pub use store::{MemoryStore, StateStore, UserStore};
pub use user::{User, UserId};
pub(crate) mod crypto;
pub mod factor;
#[cfg(test)]
mod proptest_config;
#[cfg(feature = "totp")]
pub use factor::TotpEnrollment;
pub use factor::{ConsoleSms, LocalCodes, RecoveryCodes, SmsSender, SmsVerifier};
pub mod authenticator;
#[cfg(feature = "axum")]
pub mod axum;
pub mod event;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "passkeys")]
pub mod passkey;
pub mod password;
pub use authenticator::RequiredEnrollment;
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

// The README's and the guides' examples compile as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
#[cfg(doctest)]
#[doc = include_str!("../docs/stores.md")]
struct StoresDoctests;
#[cfg(doctest)]
#[doc = include_str!("../docs/twilio.md")]
struct TwilioDoctests;
#[cfg(doctest)]
#[doc = include_str!("../docs/migrating-from-flask.md")]
struct MigratingDoctests;
