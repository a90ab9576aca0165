//! Shared set-up of the fuzz targets: one `Authenticator` on a `MemoryStore`
//! per target process, a manual clock, and SMS codes kept in memory.

use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use twofa_verify::factor::{ConsoleSms, LocalCodes, totp_code};
use twofa_verify::{
    Authenticator, Clock, Error, ManualClock, MemoryStore, Policy, RateLimit, RecordingSink,
    Timestamp, User,
};

/// The password of every fuzz user.
pub const GOOD: &str = "correct horse battery";
/// The phone of the SMS factor.
pub const PHONE: &str = "+14155552671";
const KEY: &[u8] = b"0123456789abcdef0123456789abcdef-fuzz";

static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
});

/// Runs a future to completion on the target's runtime.
pub fn block_on<F: Future>(f: F) -> F::Output {
    RT.block_on(f)
}

/// A password as the API takes it.
pub fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// One authenticator and what a target needs to look inside it.
pub struct Fx {
    /// The authenticator under test.
    pub auth: Authenticator,
    /// Its clock.
    pub clock: ManualClock,
    /// Its SMS outbox.
    pub sms: ConsoleSms,
    /// Its store.
    pub store: MemoryStore,
}

/// The default policy with the SMS sending limits out of the way.
pub fn policy() -> Policy {
    let mut p = Policy::default();
    let many = RateLimit::new(u32::MAX, Duration::from_secs(3600));
    p.sms_per_phone = many;
    p.sms_per_account = many;
    p.sms_global = many;
    p
}

/// An authenticator with `policy` and `issuer`, or the builder's error.
pub fn fx_with(policy: Policy, issuer: &str) -> Result<Fx, Error> {
    let store = MemoryStore::new();
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let sms = ConsoleSms::quiet();
    let auth = Authenticator::builder()
        .store(store.clone())
        .secret_key(twofa_verify::SecretKey::from_bytes(KEY.to_vec())?)
        .clock(clock.clone())
        .events(RecordingSink::new())
        .sms(LocalCodes::new(sms.clone()))
        .issuer(issuer)
        .policy(policy)
        .build()?;
    Ok(Fx {
        auth,
        clock,
        sms,
        store,
    })
}

/// A user with SMS and an authenticator app enabled.
pub struct TwoFactor {
    /// The user.
    pub user: User,
    /// The TOTP secret.
    pub totp: Vec<u8>,
    /// The recovery codes, normalised as `verify` compares them.
    pub recovery: Vec<String>,
}

impl Fx {
    /// Registers `alice` and enables SMS and TOTP for her.
    pub fn two_factor(&self) -> TwoFactor {
        block_on(async {
            let user = self
                .auth
                .register("alice", "alice@example.com", &pw(GOOD))
                .await
                .expect("register");
            self.auth
                .start_sms_enrollment(user.id, PHONE, None)
                .await
                .expect("start SMS");
            let code = self.sms.last_code_for(PHONE).expect("an SMS code");
            let codes = self.auth.confirm_sms_enrollment(user.id, &code).await;
            let codes = codes.expect("confirm SMS").expect("recovery codes");
            let recovery = codes.codes().iter().map(|c| normalized(c)).collect();
            let e = self
                .auth
                .start_totp_enrollment(user.id)
                .await
                .expect("TOTP");
            let totp = data_encoding::BASE32_NOPAD
                .decode(e.secret_base32.expose_secret().as_bytes())
                .expect("base32 secret");
            let now = self.totp_code(&totp, 0);
            let r = self.auth.confirm_totp_enrollment(user.id, &now).await;
            r.expect("confirm TOTP");
            TwoFactor {
                user,
                totp,
                recovery,
            }
        })
    }

    /// The TOTP code `steps_back` steps before now.
    pub fn totp_code(&self, secret: &[u8], steps_back: i64) -> String {
        let t = self.clock.now().as_secs() - steps_back * 30;
        totp_code(secret, u64::try_from(t).unwrap_or(0), 30, 6)
    }
}

/// What the library compares a typed code as: separators dropped, ASCII
/// upper case.
pub fn normalized(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// `+` and 2 to 15 digits, the first not 0.
pub fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| {
        (2..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}
