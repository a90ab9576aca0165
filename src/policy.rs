//! Limits, lifetimes and windows. `Policy::default()` is the safe choice.

use std::time::Duration;

use crate::error::{Error, Result};

mod requirement;
pub use requirement::{GraceLeft, RequiredSignIns, SecondFactorRequirement};

/// Argon2id cost parameters, [`Policy::hash`]. Stronger ones apply to new
/// hashes at once and to stored ones at their next login; weaker than
/// OWASP's minimum is refused by [`Policy::validate`].
///
/// ```
/// use twofa_verify::Policy;
/// use twofa_verify::policy::HashParams;
///
/// let mut policy = Policy::default();
/// policy.hash = HashParams { memory_kib: 47_104, iterations: 1, parallelism: 1 };
/// assert!(policy.validate().is_ok()); // OWASP's m=46 MiB, t=1
/// policy.hash.memory_kib = 4_096;
/// assert!(policy.validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB (default 19456, OWASP's minimum for Argon2id).
    pub memory_kib: u32,
    /// Iterations (default 2).
    pub iterations: u32,
    /// Lanes (default 1).
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        HashParams {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// A fixed-window rate limit: at most `max` events per `window`, for the
/// limits of a [`Policy`] (see its example).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Events allowed per window.
    pub max: u32,
    /// The window's length.
    pub window: Duration,
}

impl RateLimit {
    /// `max` events per `window`; `const`, for limits kept as constants
    /// (see the [`Policy`] example).
    pub const fn new(max: u32, window: Duration) -> Self {
        RateLimit { max, window }
    }
}

/// How far per-client limits reach beyond one client's address: each
/// limit of [`Policy`] that names a client (`client_failures`,
/// `client_registrations`, `client_reset_requests`, `client_sms`,
/// `client_passkey_sign_ins`) holds for
/// the client's own address (IPv4) or /64 (IPv6), and, multiplied by these
/// factors, for the wider networks around it. Whoever holds many addresses
/// of one network (a /56 or /48 delegated to one IPv6 subscriber, a /24 of
/// rented IPv4 addresses) cannot multiply a limit by rotating through them.
///
/// Every factor is between 1 and 65536, and the /48's is at least the
/// /56's (a network never allows less than one inside it).
///
/// ```
/// use twofa_verify::Policy;
/// // A site whose users sit behind a few large IPv4 NATs (a campus):
/// // many honest clients share one /24.
/// let mut policy = Policy::default();
/// policy.client_networks.ipv4_24 = 64;
/// assert!(policy.validate().is_ok());
/// policy.client_networks.ipv6_48 = 2; // below the /56's 4
/// assert!(policy.validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientNetworks {
    /// The factor for an IPv6 client's /56, 256 /64s (default 4).
    pub ipv6_56: u32,
    /// The factor for an IPv6 client's /48, 65536 /64s (default 16).
    pub ipv6_48: u32,
    /// The factor for an IPv4 client's /24, 256 addresses (default 8).
    pub ipv4_24: u32,
}

impl Default for ClientNetworks {
    fn default() -> Self {
        ClientNetworks {
            ipv6_56: 4,
            ipv6_48: 16,
            ipv4_24: 8,
        }
    }
}

impl ClientNetworks {
    /// `limit` widened by `factor` (saturating).
    pub(crate) fn widen(limit: RateLimit, factor: u32) -> RateLimit {
        RateLimit::new(limit.max.saturating_mul(factor), limit.window)
    }
}

/// Every tunable of the authenticator. Build with `Policy::default()` and
/// change fields (the struct is non-exhaustive, so new fields are not a
/// breaking change); `AuthenticatorBuilder::build` validates the result.
///
/// ```
/// use std::time::Duration;
/// use twofa_verify::{Authenticator, MemoryStore, Policy, RateLimit, Registration, SecretKey};
///
/// let mut policy = Policy::default();
/// policy.registration = Registration::EmailConfirmed;
/// policy.sms_per_phone = RateLimit::new(3, Duration::from_secs(3600));
/// policy.lock_duration = Duration::from_secs(30 * 60);
/// let auth = Authenticator::builder()
///     .store(MemoryStore::new())
///     .secret_key(SecretKey::generate())
///     .policy(policy)
///     .build()?;
/// assert_eq!(auth.policy().sms_per_phone.max, 3);
///
/// let mut weak = Policy::default();
/// weak.password_min_chars = 4; // below NIST's 8: refused
/// assert!(Authenticator::builder()
///     .store(MemoryStore::new())
///     .secret_key(SecretKey::generate())
///     .policy(weak)
///     .build()
///     .is_err());
/// # Ok::<(), twofa_verify::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Policy {
    /// Minimum password length in characters (default 8; NIST 800-63B).
    pub password_min_chars: usize,
    /// Maximum password length in bytes after NFKC (default 1024; at least 64).
    pub password_max_bytes: usize,
    /// Argon2id parameters for new hashes; weaker stored hashes are upgraded at login.
    pub hash: HashParams,
    /// How many password hashes may run at once (default: the number of cores).
    pub hash_concurrency: usize,
    /// Consecutive failures before each new failure adds a delay (default 5).
    pub delay_after_failures: u32,
    /// The first delay; it doubles with every further failure (default 1 s).
    pub delay_base: Duration,
    /// The longest delay (default 5 min).
    pub delay_max: Duration,
    /// Consecutive failures that lock one way of signing in to an account
    /// (default 20; never above 50). The username (with the second factors)
    /// and the email address are counted apart, so that failing by one does
    /// not lock the other and tell that they belong together; both locked,
    /// the account has seen at most twice this many, within NIST SP
    /// 800-63B's 100.
    pub lock_after_failures: u32,
    /// How long a lock lasts; it ends by time alone (default 15 min).
    pub lock_duration: Duration,
    /// How long the consecutive-failure count is remembered without a new failure (default 24 h).
    pub failure_memory: Duration,
    /// Lifetime of a pending login (default 10 min).
    pub challenge_ttl: Duration,
    /// Code attempts per pending login (default 5).
    pub challenge_max_attempts: u32,
    /// Lifetime of a password reset token (default 1 h).
    pub reset_token_ttl: Duration,
    /// Password reset requests per email address (default 3 per hour).
    pub reset_requests: RateLimit,
    /// Mails to one address (default 5 per hour), whatever their kind:
    /// registration confirmations, "already registered" notices, reset
    /// links, email-change links, and the application's own notices
    /// reserved with
    /// [`Authenticator::reserve_mail`](crate::Authenticator::reserve_mail).
    /// Past it, a confirmation or reset is not produced (the visitor's
    /// answer stays the same) and the application's notices are coalesced
    /// into one summary per window; every mail left out raises
    /// [`AuthEvent::MailSuppressed`](crate::AuthEvent::MailSuppressed).
    pub mail_per_address: RateLimit,
    /// Lifetime of a locally generated SMS code (default 10 min).
    pub sms_code_ttl: Duration,
    /// SMS sends per phone number (default 5 per hour).
    pub sms_per_phone: RateLimit,
    /// SMS sends per account (default 10 per day).
    pub sms_per_account: RateLimit,
    /// SMS sends across the whole application (default 1000 per hour).
    pub sms_global: RateLimit,
    /// Minimum time between two sends on one challenge (default 30 s).
    pub resend_interval: Duration,
    /// TOTP steps accepted before the current one (default 1).
    pub totp_skew_back: u8,
    /// TOTP steps accepted after the current one (default 0).
    pub totp_skew_forward: u8,
    /// Number of recovery codes generated (default 10).
    pub recovery_codes: usize,
    /// Default region for phone numbers written without `+country` (default
    /// none: require E.164). Needs feature `phone-numbers`.
    pub default_phone_region: Option<String>,
    /// Failed logins and wrong codes from one client (IP, or IPv6 /64)
    /// across every account (default 50 per 15 min): password spraying.
    /// Applies to calls made with a [`RequestContext`](crate::RequestContext),
    /// as every `client_` limit does, widened to the client's networks by
    /// [`client_networks`](Self::client_networks).
    pub client_failures: RateLimit,
    /// Registrations from one client (default 10 per hour).
    pub client_registrations: RateLimit,
    /// Password reset requests from one client (default 10 per hour).
    pub client_reset_requests: RateLimit,
    /// Passwordless sign-ins one client may start
    /// (`Authenticator::start_passkey_login`, feature `passkeys`; default
    /// 100 per 15 min). Each start keeps a ceremony in the state
    /// store until it expires, and anyone may start one: without a limit a
    /// script could fill the store. A login page with passkey autofill
    /// starts one per view, hence a budget far above a person's.
    pub client_passkey_sign_ins: RateLimit,
    /// SMS sends triggered by one client, for any account (default 10 per
    /// hour). It trips long before `sms_global`, so one client cannot spend
    /// the whole site's budget.
    pub client_sms: RateLimit,
    /// Sends to one phone number that is not yet a verified factor, i.e.
    /// enrollments (default 3 per hour). Kept apart from `sms_per_phone`, so
    /// enrolling someone else's number never spends the budget of that
    /// number's own logins.
    pub sms_unverified_per_phone: RateLimit,
    /// Sends to unverified numbers across the application (default 200 per
    /// hour), apart from `sms_global`: a pumping attack through enrollments
    /// cannot stop the site's login codes. About 20 clients at their
    /// `client_sms` limit spend it, and then every enrollment waits for the
    /// window to end: the first refusal of each window raises
    /// [`AuthEvent::SmsBudgetExhausted`](crate::AuthEvent::SmsBudgetExhausted)
    /// for the operator (as does `sms_global`'s).
    pub sms_unverified_global: RateLimit,
    /// The factors by which the `client_` limits also hold for the
    /// networks around a client (IPv6 /56 and /48, IPv4 /24).
    pub client_networks: ClientNetworks,
    /// How accounts are created (default [`Registration::Immediate`]).
    pub registration: Registration,
    /// Lifetime of an email-confirmation link: registration and email
    /// change (default 24 h).
    pub registration_token_ttl: Duration,
    /// How long a remembered device skips the second factor (default 30
    /// days). A password or factor change ends it sooner.
    pub remember_device_for: Duration,
    /// How long a "remember me" login lasts instead of a browser session
    /// (default 30 days); still ended by a credential change.
    pub remember_me_for: Duration,
    /// Require a second factor of every user or of those the app selects,
    /// after a grace period (default `None`: a second factor is the user's
    /// choice). See [`SecondFactorRequirement`].
    pub second_factor_required: Option<SecondFactorRequirement>,
    /// How long the audit trail keeps a record (default 365 days, at least
    /// one day): [`Authenticator::prune_audit`](crate::Authenticator::prune_audit)
    /// deletes older ones.
    pub audit_retention: Duration,
}

/// How [`Authenticator`](crate::Authenticator) creates accounts, chosen by
/// [`Policy::registration`] (see the [`Policy`] example and, for the
/// confirmed flow,
/// [`Authenticator::start_registration`](crate::Authenticator::start_registration)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Registration {
    /// `register` creates the account at once and says when the username or
    /// email is taken (the tutorial's behaviour; it tells a visitor whether
    /// an address has an account).
    #[default]
    Immediate,
    /// `start_registration` answers a new and a taken email address alike:
    /// a new address gets a confirmation link, a taken one a notice to its
    /// owner. Opening the link creates nothing; the account exists once the
    /// password is chosen on the link's page (`confirm_registration`), so
    /// only the holder of the mailbox sets it. `register` is refused, so
    /// nothing bypasses the confirmation.
    EmailConfirmed,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            password_min_chars: 8,
            password_max_bytes: 1024,
            hash: HashParams::default(),
            hash_concurrency: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            delay_after_failures: 5,
            delay_base: Duration::from_secs(1),
            delay_max: Duration::from_secs(300),
            lock_after_failures: 20,
            lock_duration: Duration::from_secs(15 * 60),
            failure_memory: Duration::from_secs(24 * 3600),
            challenge_ttl: Duration::from_secs(600),
            challenge_max_attempts: 5,
            reset_token_ttl: Duration::from_secs(3600),
            reset_requests: RateLimit::new(3, Duration::from_secs(3600)),
            mail_per_address: RateLimit::new(5, Duration::from_secs(3600)),
            sms_code_ttl: Duration::from_secs(600),
            sms_per_phone: RateLimit::new(5, Duration::from_secs(3600)),
            sms_per_account: RateLimit::new(10, Duration::from_secs(24 * 3600)),
            sms_global: RateLimit::new(1000, Duration::from_secs(3600)),
            resend_interval: Duration::from_secs(30),
            totp_skew_back: 1,
            totp_skew_forward: 0,
            recovery_codes: 10,
            default_phone_region: None,
            client_failures: RateLimit::new(50, Duration::from_secs(15 * 60)),
            client_registrations: RateLimit::new(10, Duration::from_secs(3600)),
            client_reset_requests: RateLimit::new(10, Duration::from_secs(3600)),
            client_passkey_sign_ins: RateLimit::new(100, Duration::from_secs(15 * 60)),
            client_sms: RateLimit::new(10, Duration::from_secs(3600)),
            sms_unverified_per_phone: RateLimit::new(3, Duration::from_secs(3600)),
            sms_unverified_global: RateLimit::new(200, Duration::from_secs(3600)),
            client_networks: ClientNetworks::default(),
            registration: Registration::Immediate,
            registration_token_ttl: Duration::from_secs(24 * 3600),
            remember_device_for: Duration::from_secs(30 * 24 * 3600),
            remember_me_for: Duration::from_secs(30 * 24 * 3600),
            second_factor_required: None,
            audit_retention: Duration::from_secs(365 * 24 * 3600),
        }
    }
}

impl Policy {
    /// Checks that the policy is coherent and no weaker than the crate's
    /// floor; the error is [`Error::Config`] naming the field.
    /// [`AuthenticatorBuilder::build`](crate::AuthenticatorBuilder::build)
    /// calls it; call it yourself to check a policy read from a
    /// configuration file at start-up.
    ///
    /// ```
    /// use std::time::Duration;
    /// use twofa_verify::{Error, Policy};
    /// let mut policy = Policy::default();
    /// policy.challenge_ttl = Duration::from_secs(2 * 3600);
    /// let Err(Error::Config(why)) = policy.validate() else { panic!("accepted") };
    /// assert_eq!(why, "policy: challenge_ttl must be at most one hour");
    /// ```
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(format!("policy: {m}")));
        if self.audit_retention < Duration::from_secs(24 * 3600) {
            return bad("audit_retention must be at least one day");
        }
        if self.password_min_chars < 8 {
            return bad("password_min_chars must be at least 8");
        }
        if self.password_max_bytes < 64 || self.password_max_bytes > 4096 {
            return bad("password_max_bytes must be between 64 and 4096");
        }
        if self.password_min_chars > self.password_max_bytes {
            return bad("password_min_chars exceeds password_max_bytes");
        }
        let h = self.hash;
        if h.memory_kib < 19_456 && !(h.memory_kib >= 7_168 && h.iterations >= 5) {
            return bad("argon2 parameters are weaker than OWASP's minimum (m=19456, t=2)");
        }
        if h.iterations < 1
            || h.parallelism < 1
            || h.parallelism > 64
            || h.memory_kib > 4 * 1024 * 1024
        {
            return bad("argon2 parameters are out of range");
        }
        if self.hash_concurrency == 0 || self.hash_concurrency > 1024 {
            return bad("hash_concurrency must be between 1 and 1024");
        }
        // Two lockouts per account (username, email): 2 × 50 ≤ 100.
        if self.lock_after_failures == 0 || self.lock_after_failures > 50 {
            return bad("lock_after_failures must be between 1 and 50");
        }
        if self.delay_after_failures > self.lock_after_failures {
            return bad("delay_after_failures exceeds lock_after_failures");
        }
        // Stores keep time in whole milliseconds: a shorter duration would
        // be stored as zero, i.e. expire at once (or never delay).
        let under_a_ms = |d: Duration| d < Duration::from_millis(1);
        for (name, d) in [
            ("lock_duration", self.lock_duration),
            ("failure_memory", self.failure_memory),
            ("challenge_ttl", self.challenge_ttl),
            ("reset_token_ttl", self.reset_token_ttl),
            ("sms_code_ttl", self.sms_code_ttl),
            ("registration_token_ttl", self.registration_token_ttl),
            ("remember_device_for", self.remember_device_for),
            ("remember_me_for", self.remember_me_for),
        ] {
            if under_a_ms(d) {
                return bad(&format!("{name} must be at least 1 ms"));
            }
        }
        for (name, d) in [
            ("delay_base", self.delay_base),
            ("delay_max", self.delay_max),
            ("resend_interval", self.resend_interval),
        ] {
            if !d.is_zero() && under_a_ms(d) {
                return bad(&format!("{name} must be zero or at least 1 ms"));
            }
        }
        if self.remember_device_for > Duration::from_secs(400 * 24 * 3600)
            || self.remember_me_for > Duration::from_secs(400 * 24 * 3600)
        {
            // Browsers cap cookie lifetimes at 400 days anyway.
            return bad("remember_device_for and remember_me_for must be at most 400 days");
        }
        if self.challenge_ttl > Duration::from_secs(3600) {
            return bad("challenge_ttl must be at most one hour");
        }
        if self.challenge_max_attempts == 0 || self.challenge_max_attempts > 10 {
            return bad("challenge_max_attempts must be between 1 and 10");
        }
        for (name, r) in [
            ("reset_requests", self.reset_requests),
            ("mail_per_address", self.mail_per_address),
            ("sms_per_phone", self.sms_per_phone),
            ("sms_per_account", self.sms_per_account),
            ("sms_global", self.sms_global),
            ("client_failures", self.client_failures),
            ("client_registrations", self.client_registrations),
            ("client_reset_requests", self.client_reset_requests),
            ("client_passkey_sign_ins", self.client_passkey_sign_ins),
            ("client_sms", self.client_sms),
            ("sms_unverified_per_phone", self.sms_unverified_per_phone),
            ("sms_unverified_global", self.sms_unverified_global),
        ] {
            if r.max == 0 || under_a_ms(r.window) {
                return bad(&format!(
                    "{name} must allow at least one event in a positive window"
                ));
            }
        }
        let n = self.client_networks;
        if [n.ipv6_56, n.ipv6_48, n.ipv4_24]
            .iter()
            .any(|f| !(1..=65_536).contains(f))
            || n.ipv6_48 < n.ipv6_56
        {
            return bad("client_networks factors must be 1 to 65536, the /48's at least the /56's");
        }
        if self.totp_skew_back > 10 || self.totp_skew_forward > 10 {
            return bad("TOTP skew must be at most 10 steps");
        }
        if self.recovery_codes == 0 || self.recovery_codes > 100 {
            return bad("recovery_codes must be between 1 and 100");
        }
        if let Some(Err(why)) = self.second_factor_required.as_ref().map(|r| r.validate()) {
            return bad(why);
        }
        #[cfg(feature = "phone-numbers")]
        if let Some(r) = &self.default_phone_region
            && r.parse::<phonenumber::country::Id>().is_err()
        {
            return bad("default_phone_region is not a known region code");
        }
        #[cfg(not(feature = "phone-numbers"))]
        if self.default_phone_region.is_some() {
            return bad("default_phone_region needs feature `phone-numbers`");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every duration the stores keep: under a millisecond it would be
    /// stored as zero, so `validate` refuses it and names the field.
    #[test]
    fn a_default_phone_region_needs_the_numbering_plans() {
        let mut p = Policy {
            default_phone_region: Some("KE".into()),
            ..Policy::default()
        };
        assert_eq!(p.validate().is_ok(), cfg!(feature = "phone-numbers"));
        p.default_phone_region = Some("XX".into());
        assert!(p.validate().is_err());
    }

    #[test]
    fn sub_millisecond_durations_are_refused_by_name() {
        type Set = fn(&mut Policy, Duration);
        let fields: [(&str, Set); 10] = [
            ("lock_duration", |p, d| p.lock_duration = d),
            ("failure_memory", |p, d| p.failure_memory = d),
            ("challenge_ttl", |p, d| p.challenge_ttl = d),
            ("reset_token_ttl", |p, d| p.reset_token_ttl = d),
            ("sms_code_ttl", |p, d| p.sms_code_ttl = d),
            ("registration_token_ttl", |p, d| {
                p.registration_token_ttl = d
            }),
            ("remember_device_for", |p, d| p.remember_device_for = d),
            ("remember_me_for", |p, d| p.remember_me_for = d),
            ("sms_per_phone", |p, d| p.sms_per_phone.window = d),
            ("mail_per_address", |p, d| p.mail_per_address.window = d),
        ];
        for (name, set) in fields {
            for d in [Duration::ZERO, Duration::from_micros(999)] {
                let mut p = Policy::default();
                set(&mut p, d);
                match p.validate() {
                    Err(Error::Config(m)) => assert!(m.contains(name), "{name}: {m}"),
                    other => panic!("{name} = {d:?} accepted: {other:?}"),
                }
            }
            let mut p = Policy::default();
            set(&mut p, Duration::from_millis(1));
            assert!(p.validate().is_ok(), "{name} = 1 ms refused");
        }
    }

    /// Network factors: 1 to 65536, and a /48 never below its /56.
    #[test]
    fn client_network_factors_are_bounded_and_ordered() {
        assert!(Policy::default().validate().is_ok());
        type Set = fn(&mut ClientNetworks);
        let bad: [Set; 5] = [
            |n| n.ipv4_24 = 0,
            |n| n.ipv6_56 = 0,
            |n| n.ipv6_48 = 65_537,
            |n| n.ipv4_24 = u32::MAX,
            |n| n.ipv6_48 = n.ipv6_56 - 1,
        ];
        for set in bad {
            let mut p = Policy::default();
            set(&mut p.client_networks);
            match p.validate() {
                Err(Error::Config(m)) => assert!(m.contains("client_networks"), "{m}"),
                other => panic!("{:?} accepted: {other:?}", p.client_networks),
            }
        }
        let mut p = Policy::default();
        p.client_networks.ipv6_56 = 1;
        p.client_networks.ipv6_48 = 1;
        p.client_networks.ipv4_24 = 65_536;
        assert!(p.validate().is_ok());
    }

    /// Delays may be off (zero) but not a fraction of a millisecond.
    #[test]
    fn delays_are_zero_or_at_least_a_millisecond() {
        type Set = fn(&mut Policy, Duration);
        let fields: [(&str, Set); 3] = [
            ("delay_base", |p, d| p.delay_base = d),
            ("delay_max", |p, d| p.delay_max = d),
            ("resend_interval", |p, d| p.resend_interval = d),
        ];
        for (name, set) in fields {
            let mut p = Policy::default();
            set(&mut p, Duration::from_nanos(1));
            assert!(p.validate().is_err(), "{name} = 1 ns accepted");
            for ok in [Duration::ZERO, Duration::from_millis(1)] {
                let mut p = Policy::default();
                set(&mut p, ok);
                assert!(p.validate().is_ok(), "{name} = {ok:?} refused");
            }
        }
    }
}
