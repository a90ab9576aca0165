//! The typed reasons some variants of [`Error`] carry: why a factor, a
//! username, a phone number, a stored hash or a password was refused.

#[allow(unused_imports)] // the intra-doc links below
use super::Error;
use crate::event::Factor;

/// Why a second factor cannot be used or changed, in
/// [`Error::FactorUnavailable`]. The `Display` text is for the user.
///
/// ```
/// use twofa_verify::error::FactorUnavailable;
/// use twofa_verify::{Error, Factor};
/// let e = Error::FactorUnavailable(FactorUnavailable::NotConfigured(Factor::Sms));
/// assert_eq!(e.to_string(), "SMS is not configured");
/// assert_eq!(e.http_status(), 409);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FactorUnavailable {
    /// The authenticator has no provider for this factor (no SMS verifier
    /// was given to the builder).
    NotConfigured(Factor),
    /// The factor is not enabled for this account.
    NotEnabled(Factor),
    /// The factor is enabled already (an authenticator app: disable it
    /// before adding another).
    AlreadyEnabled(Factor),
    /// The account has no second factor (recovery codes need one).
    NoFactorEnabled,
    /// The store does not keep what this needs (remembered devices,
    /// passkeys).
    NotSupportedByStore,
    /// The policy requires a second factor of this account
    /// ([`Policy::second_factor_required`](crate::Policy::second_factor_required)):
    /// its last one cannot be removed.
    Required,
    /// Another removal of one of this account's factors is under way (two
    /// at once could each leave the other's factor as "the one left" and
    /// end with none); try again when it has finished.
    RemovalInProgress,
}

impl std::fmt::Display for FactorUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = |factor: &Factor| match factor {
            Factor::Sms => "SMS",
            Factor::Totp => "an authenticator app",
            Factor::RecoveryCode => "recovery codes",
            Factor::Passkey => "passkeys",
        };
        match self {
            FactorUnavailable::NotConfigured(factor) => {
                write!(f, "{} is not configured", name(factor))
            }
            FactorUnavailable::NotEnabled(factor) => {
                write!(f, "{} is not enabled for this account", name(factor))
            }
            FactorUnavailable::AlreadyEnabled(factor) => {
                write!(f, "{} is already enabled; disable it first", name(factor))
            }
            FactorUnavailable::NoFactorEnabled => f.write_str("enable a second factor first"),
            FactorUnavailable::NotSupportedByStore => {
                f.write_str("this store does not keep remembered devices or passkeys")
            }
            FactorUnavailable::Required => {
                f.write_str("a second factor is required for this account; add another first")
            }
            FactorUnavailable::RemovalInProgress => f.write_str(
                "another change to this account's second factors is under way; try again",
            ),
        }
    }
}

/// Why a username was refused, in [`Error::InvalidUsername`]. The
/// `Display` text is for the user ("invalid username: it must not contain
/// spaces").
///
/// ```
/// use twofa_verify::error::UsernameProblem;
/// use twofa_verify::user::Username;
/// use twofa_verify::Error;
/// let e = Username::parse("alice smith").unwrap_err();
/// assert!(matches!(e, Error::InvalidUsername(UsernameProblem::Space)));
/// assert_eq!(e.to_string(), "invalid username: it must not contain spaces");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsernameProblem {
    /// Nothing but whitespace.
    #[error("it must not be empty")]
    Empty,
    /// Longer than 64 characters.
    #[error("it must be at most 64 characters")]
    TooLong,
    /// A control character.
    #[error("it must not contain control characters")]
    ControlCharacter,
    /// A character that changes the text direction (bidi control).
    #[error("it must not contain characters that change the text direction")]
    DirectionControl,
    /// An invisible (default-ignorable) character.
    #[error("it must not contain invisible characters")]
    InvisibleCharacter,
    /// A space.
    #[error("it must not contain spaces")]
    Space,
    /// `@`: a username never looks like an email address.
    #[error("it must not contain '@'")]
    AtSign,
    /// `:`: it separates issuer and account in authenticator-app labels.
    #[error("it must not contain ':'")]
    Colon,
    /// Letters of scripts that do not belong together (Unicode TR39).
    #[error("it mixes letters from different scripts")]
    MixedScripts,
    /// A character RFC 8265 does not allow in usernames.
    #[error("it contains a character that is not allowed in usernames")]
    DisallowedCharacter,
    /// Right-to-left and left-to-right text mixed in a way that can display
    /// misleadingly (RFC 5893).
    #[error("it mixes right-to-left and left-to-right text in a way that can display misleadingly")]
    MisleadingDirection,
}

/// Why a phone number was refused, in [`Error::InvalidPhoneNumber`]. The
/// `Display` text is for the user.
///
/// ```
/// use twofa_verify::error::PhoneProblem;
/// use twofa_verify::secrecy::SecretString;
/// use twofa_verify::{Authenticator, Error, MemoryStore, SecretKey, StepUp};
/// use twofa_verify::{ConsoleSms, LocalCodes};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> twofa_verify::Result<()> {
/// let auth = Authenticator::builder()
///     .store(MemoryStore::new())
///     .secret_key(SecretKey::generate())
///     .sms(LocalCodes::new(ConsoleSms::quiet()))
///     .build()?;
/// let password = SecretString::from("correct horse battery");
/// let user = auth.register("alice", "alice@example.com", &password).await?;
/// let step_up = StepUp::password("correct horse battery");
/// let refused = auth.start_sms_enrollment(user.id, "555 2671", &step_up).await;
/// assert!(matches!(refused, Err(Error::InvalidPhoneNumber(PhoneProblem::NotANumber))));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PhoneProblem {
    /// Far longer than any phone number.
    #[error("it is too long")]
    TooLong,
    /// Not a phone number at all (or, without a default region, not in the
    /// international format).
    #[error("not a phone number; use the international format, e.g. +14155552671")]
    NotANumber,
    /// Not in E.164 form where one is required (`+14155552671`).
    #[error("expected an E.164 number such as +14155552671")]
    NotE164,
    /// Not a number of its country's numbering plan.
    #[error("this number does not exist in its country's numbering plan")]
    NotInNumberingPlan,
    /// A number that reaches no one's own phone, or costs the sender a
    /// premium: premium-rate, shared-cost, toll-free, pager, voicemail
    /// access and company (UAN) numbers (feature `phone-numbers`).
    /// Landlines are accepted: their codes go by voice call.
    #[error(
        "this number cannot receive codes (premium-rate, shared-cost, toll-free or pager number)"
    )]
    CannotReceiveSms,
    /// The provider refused the number, with its error code (Twilio
    /// 60200, 21211, 21614).
    #[error("the provider refused this number (code {code})")]
    RefusedByProvider {
        /// The provider's error code.
        code: u32,
    },
}

/// Why a stored password hash in a recognised format can never verify
/// ([`LegacyHashVerifier::check`](crate::password::LegacyHashVerifier::check)),
/// found without computing it.
///
/// ```
/// use twofa_verify::password::legacy::WerkzeugPbkdf2;
/// use twofa_verify::password::{HashProblem, LegacyHashVerifier};
///
/// let werkzeug = WerkzeugPbkdf2::new();
/// let hash = "pbkdf2:sha256:150000$Vq3xYb7LmN2pQr8T$\
///             0246befa15e73937d0a269a8a2a1c362480d3c19fb978a887396b02ba33b9512";
/// assert_eq!(werkzeug.check(hash), Ok(()));
/// assert_eq!(werkzeug.check(&hash[..hash.len() - 8]), Err(HashProblem::Digest)); // truncated
/// assert_eq!(werkzeug.check(&hash.replace(":150000$", ":5000000$")), Err(HashProblem::BeyondBound));
/// assert_eq!(werkzeug.check(&hash.replace("sha256", "md5")), Err(HashProblem::Parameters));
/// assert_eq!(HashProblem::Digest.to_string(), "its digest is missing, truncated or malformed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum HashProblem {
    /// It asks for more work than the verifier's bound
    /// ([`Error::PasswordHashBeyondBound`] at import).
    #[error("it asks for more work than its verifier's bound")]
    BeyondBound,
    /// Its fields are not where the format has them (missing, extra, not
    /// numbers where numbers belong).
    #[error("it is not in its format's layout")]
    Malformed,
    /// Its parameters are impossible: an unknown hash function, an scrypt
    /// `N` that is not a power of two, a zero, a cost below the minimum.
    #[error("its parameters are impossible")]
    Parameters,
    /// The salt is missing or not in the format's alphabet.
    #[error("its salt is missing or malformed")]
    Salt,
    /// The digest (the hash's output) is missing, not in the format's
    /// encoding, or not the length its hash function gives (truncated).
    #[error("its digest is missing, truncated or malformed")]
    Digest,
}

/// Why a password was refused, in [`Error::WeakPassword`]. The `Display`
/// text is for the user.
///
/// ```
/// use twofa_verify::error::WeakPassword;
/// use twofa_verify::secrecy::SecretString;
/// use twofa_verify::{Authenticator, Error, MemoryStore, SecretKey};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> twofa_verify::Result<()> {
/// # let auth = Authenticator::builder()
/// #     .store(MemoryStore::new())
/// #     .secret_key(SecretKey::generate())
/// #     .build()?;
/// let refused = auth.register("alice", "alice@example.com", &SecretString::from("password")).await;
/// let Err(Error::WeakPassword(why)) = refused else { panic!("accepted") };
/// assert_eq!(why, WeakPassword::Common);
/// assert_eq!(why.to_string(), "it is one of the most commonly used passwords");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WeakPassword {
    /// Shorter than the policy's minimum (in characters).
    #[error("it must be at least {0} characters long")]
    TooShort(usize),
    /// Longer than the policy's maximum (in bytes).
    #[error("it must be at most {0} bytes long")]
    TooLong(usize),
    /// On the list of commonly used passwords.
    #[error("it is one of the most commonly used passwords")]
    Common,
    /// Equal to (or contains only) the username or email.
    #[error("it must not be your username or email address")]
    SameAsIdentity,
    /// Made of control characters only or otherwise unusable.
    #[error("it contains characters that cannot be used")]
    InvalidCharacters,
}
