//! What the property tests of `hostile_input.rs` share: strategies for
//! hostile strings, the proptest runner, and a `MemoryStore` fixture.

use std::future::Future;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestCaseError, TestRunner};
use secrecy::{ExposeSecret, SecretString};
use twofa_verify::StepUp;
use twofa_verify::clock::Clock;
use twofa_verify::clock::ManualClock;
use twofa_verify::event::RecordingSink;
use twofa_verify::factor::{ConsoleSms, LocalCodes, totp_code};
use twofa_verify::*;

pub const GOOD: &str = "correct horse battery";
pub const PHONE: &str = "+14155552671";
pub const KEY: &[u8] = b"0123456789abcdef0123456789abcdef-hostile-input";
pub const DAY: Duration = Duration::from_secs(24 * 3600);

/// Characters that break naive parsers: controls, spaces, zero-width and
/// direction marks, BOM, noncharacters, private use, combining marks, URL
/// and form syntax, look-alike digits, letters that change under NFKC or
/// case folding.
pub const NASTY: &str = "\0\u{7}\u{1b}\t\n\r \u{a0}\u{3000}\u{200b}\u{200e}\u{200f}\u{202e}\
    \u{2066}\u{feff}\u{fffd}\u{ffff}\u{10ffff}\u{e000}\u{301}\u{30c}\u{331}%@:-+/\\\"'<&=?#.\
    0179\u{ff11}\u{661}\u{1d7cf}aZJHİß\u{fb00}\u{212a}\u{1d2c}🦀";

/// One of [`NASTY`].
pub fn nasty() -> impl Strategy<Value = char> {
    select(NASTY.chars().collect::<Vec<_>>())
}

pub fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// Arbitrary strings, weighted towards the shapes the parsers look for.
pub fn hostile() -> BoxedStrategy<String> {
    prop_oneof![
        4 => any::<String>(),
        4 => vec(nasty(), 0..48).prop_map(|v| v.into_iter().collect()),
        2 => vec(any::<u8>(), 0..96).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => (nasty(), 60usize..200_000).prop_map(|(c, n)| c.to_string().repeat(n)),
        2 => "[A-Za-z0-9_-]{43}",
        2 => "[A-Za-z0-9_-]{64}",
        2 => "[0-9 -]{0,12}",
        2 => "[a-zA-Z2-7 -]{18,26}",
        1 => "(%[0-9a-fA-F]{2}){1,12}",
    ]
    .boxed()
}

/// Inputs someone might type into a phone field, and junk.
pub fn phone_input() -> BoxedStrategy<String> {
    prop_oneof![
        3 => hostile(),
        3 => "\\+?[0-9]{1,17}",
        3 => "\\+[1-9][0-9 ().-]{6,20}",
        2 => "[+＋]?[0-9０-９٠-٩ ]{6,16}",
        2 => "\\+1 ?[2-9][0-9]{2} ?[2-9][0-9]{2} ?[0-9]{4}( ?(ext\\.?|x|#) ?[0-9]{1,6})?",
        1 => "\\+44 ?7[0-9]{3} ?[0-9]{6}",
        1 => "[0-9A-Z]{4,14}",
    ]
    .boxed()
}

/// Names and addresses that pass validation, including letters whose
/// lower case composes with a following combining mark (`J` + U+030C).
pub fn plausible_name() -> BoxedStrategy<String> {
    prop_oneof![
        "[a-zA-Z0-9_.]{1,12}",
        vec(
            (
                select(&['J', 'H', 'W', 'Y', 'T', 'A', 'e', 'İ', 'ß', 'Ω', 'Ж'][..]),
                select(&["", "\u{30c}", "\u{331}", "\u{30a}", "\u{308}", "\u{301}"][..]),
            ),
            1..6
        )
        .prop_map(|v| v.into_iter().map(|(c, m)| format!("{c}{m}")).collect()),
    ]
    .boxed()
}

pub fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    // As the crate's own property tests (`src/proptest_config.rs`): in CI
    // the cases come from a fixed seed, so that a red run fails alike when
    // run again; `PROPTEST_RNG_SEED` fixes any run's.
    let set = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty() && v != "false" && v != "0")
    };
    let rng_seed = match (set("PROPTEST_RNG_SEED"), set("CI")) {
        (None, Some(_)) => RngSeed::Fixed(0x2fa_5eed),
        _ => Config::default().rng_seed,
    };
    Config {
        cases,
        // Failures become explicit regression tests instead of files.
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed,
        ..Config::default()
    }
}

/// Runs `test` on `cases` values of `strategy`, each case on `rt`.
pub fn check<S, F, Fut>(rt: &tokio::runtime::Runtime, cases: u32, strategy: S, test: F)
where
    S: Strategy,
    F: Fn(S::Value) -> Fut,
    Fut: Future<Output = Result<(), TestCaseError>>,
{
    let mut runner = TestRunner::new(config(cases));
    if let Err(e) = runner.run(&strategy, |v| rt.block_on(test(v))) {
        panic!("{e}");
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub fn policy() -> Policy {
    // Sending limits out of the way: here the parsers are under test.
    let mut p = Policy::default();
    let many = RateLimit::new(u32::MAX, Duration::from_secs(3600));
    p.sms_per_phone = many;
    p.sms_per_account = many;
    p.sms_global = many;
    // The budgets of texts to numbers not yet verified too: enrollments
    // send to many (landlines among them since they are accepted).
    p.sms_unverified_per_phone = many;
    p.sms_unverified_global = many;
    p
}

pub struct Fx {
    pub auth: Authenticator,
    pub clock: ManualClock,
    pub sms: ConsoleSms,
    pub store: MemoryStore,
}

pub fn fx_with(policy: Policy, issuer: &str) -> Result<Fx, Error> {
    let store = MemoryStore::new();
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let sms = ConsoleSms::quiet();
    let auth = Authenticator::builder()
        .store(store.clone())
        .secret_key(twofa_verify::SecretKey::from_bytes(KEY.to_vec()).unwrap())
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

pub fn fx() -> Fx {
    fx_with(policy(), "Test App").unwrap()
}

/// A user with SMS and TOTP enabled, and what proves it.
pub struct TwoFactor {
    pub user: User,
    pub totp: Vec<u8>,
    pub recovery: Vec<String>,
}

impl Fx {
    pub async fn user(&self, name: &str) -> User {
        let email = format!("{name}@example.com");
        self.auth.register(name, &email, &pw(GOOD)).await.unwrap()
    }

    pub async fn two_factor(&self, name: &str) -> TwoFactor {
        let user = self.user(name).await;
        self.auth
            .start_sms_enrollment(user.id, PHONE, &StepUp::password(GOOD))
            .await
            .unwrap();
        let code = self.sms.last_code_for(PHONE).unwrap();
        let codes = self
            .auth
            .confirm_sms_enrollment(user.id, &SecretString::from(code.as_str()))
            .await;
        let recovery = codes
            .unwrap()
            .recovery_codes
            .unwrap()
            .codes()
            .iter()
            .map(|c| norm(c))
            .collect();
        // Adding the app needs the password and a current code: an SMS one
        // (a recovery code would spend one of the ten).
        self.auth.send_step_up_code(user.id).await.unwrap();
        let sms_code = self.sms.last_code_for(PHONE).unwrap();
        let e = self
            .auth
            .start_totp_enrollment(user.id, &StepUp::new(GOOD, Some(sms_code)))
            .await
            .unwrap();
        let totp = data_encoding::BASE32_NOPAD
            .decode(e.secret_base32.expose_secret().as_bytes())
            .unwrap();
        let now = self.totp_now(&totp);
        let codes = self
            .auth
            .confirm_totp_enrollment(user.id, &SecretString::from(now.as_str()))
            .await;
        assert!(codes.unwrap().recovery_codes.is_none());
        TwoFactor {
            user,
            totp,
            recovery,
        }
    }

    pub fn totp_at(&self, secret: &[u8], steps_back: i64) -> String {
        let t = self.clock.now().as_secs() - steps_back * 30;
        totp_code(secret, u64::try_from(t).unwrap(), 30, 6)
    }

    pub fn totp_now(&self, secret: &[u8]) -> String {
        self.totp_at(secret, 0)
    }

    /// A fresh pending login for `tf` with an SMS code sent, on a new day
    /// (so no failure count, lock or used TOTP step carries over).
    pub async fn challenge(&self, name: &str) -> Challenge {
        self.clock.advance(2 * DAY);
        let Login::SecondFactor(c) = self.auth.login(name, &pw(GOOD)).await.unwrap() else {
            panic!("a second factor is enabled")
        };
        self.auth.resend(c.token()).await.unwrap()
    }
}

/// What `verify` compares: separators dropped, ASCII upper case.
pub fn norm(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

pub fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| {
        (2..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

pub fn any_duration() -> BoxedStrategy<Duration> {
    prop_oneof![
        Just(Duration::MAX),
        Just(Duration::from_nanos(1)),
        Just(Duration::from_millis(999)),
        any::<u64>().prop_map(Duration::from_secs),
        any::<u64>().prop_map(Duration::from_millis),
        (any::<u64>(), 0..1_000_000_000u32).prop_map(|(s, n)| Duration::new(s, n)),
        (0u64..100_000).prop_map(Duration::from_secs),
    ]
    .boxed()
}
