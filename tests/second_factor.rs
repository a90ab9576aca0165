//! Second factors: SMS (local codes), TOTP, recovery codes, the pending
//! login, step-up, limits, concurrency and failing closed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use twofa_verify::StepUp;
use twofa_verify::clock::Clock;
use twofa_verify::clock::ManualClock;
use twofa_verify::error::ProviderError;
use twofa_verify::error::ProviderErrorKind;
use twofa_verify::event::RecordingSink;
use twofa_verify::factor::{ConsoleSms, LocalCodes, SentVerification, SmsContext, SmsVerifier};
use twofa_verify::store::Counter;
use twofa_verify::*;

const GOOD: &str = "correct horse battery";
const PHONE: &str = "+14155552671";

fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

struct Fx {
    auth: Authenticator,
    clock: ManualClock,
    sms: ConsoleSms,
    events: RecordingSink,
    user: User,
}

async fn fixture_with(policy: Policy) -> Fx {
    let sms = ConsoleSms::quiet();
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let events = RecordingSink::new();
    let auth = Authenticator::builder()
        .store(MemoryStore::new())
        .secret_key(
            twofa_verify::SecretKey::from_bytes(
                b"0123456789abcdef0123456789abcdef-2fa-key".to_vec(),
            )
            .unwrap(),
        )
        .clock(clock.clone())
        .events(events.clone())
        .sms(LocalCodes::new(sms.clone()).app_name("Test"))
        .issuer("Test App")
        .policy(policy)
        .build()
        .unwrap();
    let user = auth
        .register("alice", "alice@example.com", &pw(GOOD))
        .await
        .unwrap();
    Fx {
        auth,
        clock,
        sms,
        events,
        user,
    }
}

async fn fixture() -> Fx {
    fixture_with(Policy::default()).await
}

impl Fx {
    fn code(&self) -> String {
        self.sms.last_code_for(PHONE).expect("a code was sent")
    }

    async fn enable_sms(&self) -> RecoveryCodes {
        self.auth
            .start_sms_enrollment(self.user.id, PHONE, &StepUp::password(GOOD))
            .await
            .unwrap();
        self.auth
            .confirm_sms_enrollment(self.user.id, &SecretString::from(self.code().as_str()))
            .await
            .unwrap()
            .recovery_codes
            .expect("first factor gives codes")
    }

    async fn challenge(&self) -> Challenge {
        match self.auth.login("alice", &pw(GOOD)).await.unwrap() {
            Login::SecondFactor(c) => c,
            Login::Complete(_) => panic!("expected a second factor"),
            other => panic!("unexpected login outcome {other:?}"),
        }
    }

    /// Enrolls TOTP and returns the secret bytes.
    async fn enable_totp(&self) -> (Vec<u8>, Option<RecoveryCodes>) {
        // With SMS already on, adding the app needs a current code too.
        let step_up = match self.auth.user(self.user.id).await.unwrap() {
            Some(u) if u.has_second_factor() => {
                self.auth.send_step_up_code(self.user.id).await.unwrap();
                StepUp::new(GOOD, Some(self.code()))
            }
            _ => StepUp::password(GOOD),
        };
        let e = self
            .auth
            .start_totp_enrollment(self.user.id, &step_up)
            .await
            .unwrap();
        let secret = data_encoding::BASE32_NOPAD
            .decode(e.secret_base32.expose_secret().as_bytes())
            .unwrap();
        let codes = self
            .auth
            .confirm_totp_enrollment(
                self.user.id,
                &SecretString::from(self.totp(&secret, 0).as_str()),
            )
            .await
            .unwrap()
            .recovery_codes;
        (secret, codes)
    }

    /// The TOTP code `offset` steps from now.
    fn totp(&self, secret: &[u8], offset: i64) -> String {
        let t = (self.clock.now().as_secs() + offset * 30) as u64;
        factor::totp_code(secret, t, 30, 6)
    }
}

fn sms_sent(c: &Challenge) -> bool {
    matches!(c.sms, Some(SmsDelivery::Sent { .. }))
}

/// A landline (a London number, which the numbering plans know as a fixed
/// line) is accepted as the SMS factor; its codes, for the enrollment and
/// for each login, are read out by a voice call, and the challenge says so.
/// Without feature `phone-numbers` no line is known: they are texted.
#[tokio::test]
async fn a_landline_gets_its_codes_by_call() {
    const LANDLINE: &str = "+442071838750";
    let fx = fixture().await;
    fx.auth
        .start_sms_enrollment(fx.user.id, "+44 20 7183 8750", &StepUp::password(GOOD))
        .await
        .unwrap();
    let by = if cfg!(feature = "phone-numbers") {
        "call"
    } else {
        "sms"
    };
    let sent = fx.sms.messages().pop().expect("a code went out");
    assert_eq!((sent.to.as_str(), sent.channel), (LANDLINE, by));
    let code = sent.code().expect("a code").to_owned();
    let user = fx
        .auth
        .confirm_sms_enrollment(fx.user.id, &SecretString::from(code))
        .await
        .unwrap()
        .user;
    assert_eq!(user.phone.as_deref(), Some(LANDLINE));
    let c = fx.challenge().await;
    match &c.sms {
        Some(SmsDelivery::Sent { channel, .. }) => {
            assert_eq!(*channel, cfg!(feature = "phone-numbers").then_some("call"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fx.sms.messages().pop().unwrap().channel, by);
}

#[tokio::test]
async fn sms_enrollment_needs_a_valid_phone_and_the_code() {
    let fx = fixture().await;
    // Without feature `phone-numbers` the format is checked, not whether
    // the number exists: +999 is no country code, only the plans say so.
    let unassigned_country = cfg!(feature = "phone-numbers").then_some("+999 123456789");
    let long = "9".repeat(500);
    for junk in ["", "hello", "+1 000", "12345", &long]
        .into_iter()
        .chain(unassigned_country)
    {
        assert!(
            matches!(
                fx.auth
                    .start_sms_enrollment(fx.user.id, junk, &StepUp::password(GOOD))
                    .await,
                Err(Error::InvalidPhoneNumber(_))
            ),
            "{junk:.20}"
        );
    }
    let e = fx
        .auth
        .start_sms_enrollment(fx.user.id, "+1 (415) 555-2671", &StepUp::password(GOOD))
        .await
        .unwrap();
    assert_eq!(e.to, "+1415*****71");
    // Not enabled before confirmation.
    assert!(
        fx.auth
            .user(fx.user.id)
            .await
            .unwrap()
            .unwrap()
            .phone
            .is_none()
    );
    let code = fx.code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert!(matches!(
        fx.auth
            .confirm_sms_enrollment(fx.user.id, &SecretString::from(wrong))
            .await,
        Err(Error::InvalidCode { attempts_left: 4 })
    ));
    assert!(matches!(
        fx.auth
            .confirm_sms_enrollment(fx.user.id, &SecretString::from("abc"))
            .await,
        Err(Error::MalformedCode)
    ));
    let stamp_before = fx.auth.session_stamp(&fx.user);
    let enrolled = fx
        .auth
        .confirm_sms_enrollment(fx.user.id, &SecretString::from(code.as_str()))
        .await
        .unwrap();
    // The change ends every session; the returned user stamps the acting
    // one anew.
    assert_eq!(enrolled.user.phone.as_deref(), Some(PHONE));
    let stamp = fx.auth.session_stamp(&enrolled.user);
    let id = fx.user.id;
    assert!(
        fx.auth
            .session_user(id, stamp.as_str())
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        fx.auth
            .session_user(id, stamp_before.as_str())
            .await
            .unwrap()
            .is_none()
    );
    let codes = enrolled.recovery_codes.unwrap();
    assert_eq!(codes.len(), 10);
    assert_eq!(fx.auth.recovery_codes_left(fx.user.id).await.unwrap(), 10);
    let u = fx.auth.user(fx.user.id).await.unwrap().unwrap();
    assert_eq!(u.phone.as_deref(), Some(PHONE));
    assert!(fx.events.events().contains(&AuthEvent::FactorEnabled {
        user: u.id,
        factor: Factor::Sms
    }));
    // The code was single use.
    assert!(matches!(
        fx.auth
            .confirm_sms_enrollment(fx.user.id, &SecretString::from(code.as_str()))
            .await,
        Err(Error::ChallengeNotFound)
    ));
}

#[tokio::test]
async fn login_with_sms_code() {
    let fx = fixture().await;
    fx.enable_sms().await;
    let c = fx.challenge().await;
    assert!(sms_sent(&c));
    // Local codes go out on the configured channel: none is told.
    assert!(
        matches!(&c.sms, Some(SmsDelivery::Sent { to, channel: None, .. }) if to == "+1415*****71"),
        "{:?}",
        c.sms
    );
    assert_eq!(c.methods, vec![Factor::Sms, Factor::RecoveryCode]);
    assert!(!format!("{c:?}").contains(c.token()));
    assert!(c.token().len() >= 22, "128+ bits");
    let code = fx.code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert!(matches!(
        fx.auth.verify(c.token(), &SecretString::from(wrong)).await,
        Err(Error::InvalidCode { attempts_left: 4 })
    ));
    let v = fx
        .auth
        .verify(c.token(), &SecretString::from(code.as_str()))
        .await
        .unwrap();
    assert_eq!((v.factor, v.recovery_codes_left), (Factor::Sms, None));
    let u = v.user;
    assert_eq!(u.id, fx.user.id);
    assert!(fx.events.events().contains(&AuthEvent::LoginSucceeded {
        user: u.id,
        factor: Some(Factor::Sms)
    }));
    // Single use.
    assert!(matches!(
        fx.auth
            .verify(c.token(), &SecretString::from(code.as_str()))
            .await,
        Err(Error::ChallengeNotFound)
    ));
}

#[tokio::test]
async fn challenge_expires() {
    let fx = fixture().await;
    fx.enable_sms().await;
    let c = fx.challenge().await;
    fx.clock.advance(Duration::from_secs(600));
    assert!(matches!(
        fx.auth
            .verify(c.token(), &SecretString::from(fx.code().as_str()))
            .await,
        Err(Error::ChallengeExpired)
    ));
}

#[tokio::test]
async fn at_most_five_attempts_per_challenge() {
    let fx = fixture().await;
    fx.enable_sms().await;
    let c = fx.challenge().await;
    let code = fx.code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (1..5).rev() {
        assert!(
            matches!(fx.auth.verify(c.token(), &SecretString::from(wrong)).await, Err(Error::InvalidCode { attempts_left }) if attempts_left == left)
        );
    }
    assert!(matches!(
        fx.auth.verify(c.token(), &SecretString::from(wrong)).await,
        Err(Error::TooManyAttempts)
    ));
    // Spent: even the right code is refused, once the account's delay
    // after five failures has passed too.
    fx.clock.advance(Duration::from_secs(60));
    let after = fx
        .auth
        .verify(c.token(), &SecretString::from(code.as_str()))
        .await;
    assert!(matches!(after, Err(Error::TooManyAttempts)), "{after:?}");
}

#[tokio::test]
async fn resend_is_limited_and_replaces_the_code() {
    let fx = fixture().await;
    fx.enable_sms().await;
    let c = fx.challenge().await;
    let first = fx.code();
    assert!(
        matches!(fx.auth.resend(c.token()).await, Err(Error::RateLimited { retry_after, .. }) if retry_after == Duration::from_secs(30))
    );
    fx.clock.advance(Duration::from_secs(30));
    let c2 = fx.auth.resend(c.token()).await.unwrap();
    assert!(sms_sent(&c2));
    let second = fx.code();
    if first != second {
        let err = fx
            .auth
            .verify(c.token(), &SecretString::from(first.as_str()))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidCode { .. }), "{err:?}");
    }
    fx.auth
        .verify(c.token(), &SecretString::from(second.as_str()))
        .await
        .unwrap();
}

#[tokio::test]
async fn sms_sends_are_limited_per_phone_account_and_globally() {
    let mut p = Policy::default();
    p.sms_per_phone = RateLimit::new(3, Duration::from_secs(3600));
    p.resend_interval = Duration::from_secs(1);
    let fx = fixture_with(p).await;
    // The enrollment's text went to a number not yet verified: it spends
    // the unverified budget, not this one.
    fx.enable_sms().await;
    let c = fx.challenge().await; // 1
    fx.clock.advance(Duration::from_secs(1));
    fx.auth.resend(c.token()).await.unwrap(); // 2
    fx.clock.advance(Duration::from_secs(1));
    fx.auth.resend(c.token()).await.unwrap(); // 3
    fx.clock.advance(Duration::from_secs(1));
    assert!(matches!(
        fx.auth.resend(c.token()).await,
        Err(Error::RateLimited { .. })
    ));
    // A new login still gets a challenge; the SMS is deferred with the reason.
    let c2 = fx.challenge().await;
    assert!(
        matches!(
            &c2.sms,
            Some(SmsDelivery::Deferred {
                retry_after: Some(_),
                ..
            })
        ),
        "{:?}",
        c2.sms
    );
    assert!(
        fx.events
            .events()
            .iter()
            .any(|e| matches!(e, AuthEvent::SendLimited { .. }))
    );

    let mut p = Policy::default();
    p.sms_global = RateLimit::new(2, Duration::from_secs(60));
    let fx = fixture_with(p).await;
    fx.enable_sms().await; // the unverified budget, not this one
    fx.challenge().await;
    fx.challenge().await;
    assert!(matches!(
        fx.challenge().await.sms,
        Some(SmsDelivery::Deferred { .. })
    ));
    fx.clock.advance(Duration::from_secs(60));
    assert!(sms_sent(&fx.challenge().await));

    let mut p = Policy::default();
    p.sms_per_account = RateLimit::new(1, Duration::from_secs(60));
    let fx = fixture_with(p).await;
    fx.enable_sms().await; // every text of the account counts here

    assert!(matches!(
        fx.challenge().await.sms,
        Some(SmsDelivery::Deferred { .. })
    ));
}

#[tokio::test]
async fn totp_enroll_login_and_replay_refused() {
    let fx = fixture().await;
    let e = fx
        .auth
        .start_totp_enrollment(fx.user.id, &StepUp::password(GOOD))
        .await
        .unwrap();
    let uri = e.otpauth_uri.expose_secret().to_owned();
    assert!(uri.starts_with("otpauth://totp/Test%20App:alice?"), "{uri}");
    assert!(e.qr_png.starts_with(b"\x89PNG"));
    assert!(e.qr_svg.contains("<svg"));
    assert!(e.qr_data_uri().starts_with("data:image/png;base64,"));
    assert!(!format!("{e:?}").contains(e.secret_base32.expose_secret()));
    let secret = data_encoding::BASE32_NOPAD
        .decode(e.secret_base32.expose_secret().as_bytes())
        .unwrap();
    assert_eq!(secret.len(), 20, "160 bits");
    // Not enabled before a correct code.
    assert!(
        !fx.auth
            .user(fx.user.id)
            .await
            .unwrap()
            .unwrap()
            .totp_enabled
    );
    assert!(
        matches!(
            fx.auth
                .confirm_totp_enrollment(fx.user.id, &SecretString::from("000000"))
                .await,
            Err(Error::InvalidCode { .. })
        ) || fx.totp(&secret, 0) == "000000"
    );
    let codes = fx
        .auth
        .confirm_totp_enrollment(
            fx.user.id,
            &SecretString::from(fx.totp(&secret, 0).as_str()),
        )
        .await
        .unwrap()
        .recovery_codes;
    assert_eq!(codes.map(|c| c.len()), Some(10));
    assert!(
        fx.auth
            .user(fx.user.id)
            .await
            .unwrap()
            .unwrap()
            .totp_enabled
    );

    // The enrollment code's step is burnt: the same code cannot log in.
    let c = fx.challenge().await;
    assert_eq!(c.methods, vec![Factor::Totp, Factor::RecoveryCode]);
    assert!(c.sms.is_none());
    assert!(matches!(
        fx.auth
            .verify(c.token(), &SecretString::from(fx.totp(&secret, 0).as_str()))
            .await,
        Err(Error::CodeAlreadyUsed { attempts_left: 4 })
    ));
    assert!(
        fx.events
            .events()
            .contains(&AuthEvent::TotpReplayRefused { user: fx.user.id })
    );
    fx.clock.advance(Duration::from_secs(30));
    fx.auth
        .verify(c.token(), &SecretString::from(fx.totp(&secret, 0).as_str()))
        .await
        .unwrap();
    // Replay of a used code in a fresh login is refused.
    let c = fx.challenge().await;
    assert!(matches!(
        fx.auth
            .verify(c.token(), &SecretString::from(fx.totp(&secret, 0).as_str()))
            .await,
        Err(Error::CodeAlreadyUsed { .. })
    ));
    // An earlier step than the last accepted one is refused too.
    assert!(matches!(
        fx.auth
            .verify(
                c.token(),
                &SecretString::from(fx.totp(&secret, -1).as_str())
            )
            .await,
        Err(Error::CodeAlreadyUsed { .. })
    ));
}

/// A right code whose step is used says so (the user should wait for the
/// next one), and counts like a wrong one: the same attempts, the same
/// account failures, the same event.
#[tokio::test]
async fn a_replayed_totp_code_is_told_apart_and_counted_as_a_failure() {
    // The account's own delays stay out of the way of the challenge's count.
    let mut p = Policy::default();
    p.delay_after_failures = 50;
    p.lock_after_failures = 50;
    let fx = fixture_with(p).await;
    let (secret, codes) = fx.enable_totp().await;
    let used = fx.totp(&secret, 0);
    let wrong = if used == "000000" { "111111" } else { "000000" };
    let c = fx.challenge().await;
    let rejected = || {
        fx.events
            .events()
            .iter()
            .filter(|e| matches!(e, AuthEvent::CodeRejected { .. }))
            .count()
    };
    let before = rejected();
    assert!(matches!(
        fx.auth
            .verify(c.token(), &SecretString::from(used.as_str()))
            .await,
        Err(Error::CodeAlreadyUsed { attempts_left: 4 })
    ));
    assert!(matches!(
        fx.auth.verify(c.token(), &SecretString::from(wrong)).await,
        Err(Error::InvalidCode { attempts_left: 3 })
    ));
    assert!(matches!(
        fx.auth
            .verify(c.token(), &SecretString::from(used.as_str()))
            .await,
        Err(Error::CodeAlreadyUsed { attempts_left: 2 })
    ));
    assert_eq!(rejected(), before + 3, "each refusal is a rejected code");
    let e = Error::CodeAlreadyUsed { attempts_left: 2 };
    assert!(e.is_user_error());
    assert_eq!(
        e.to_string(),
        "this code was already used; wait for the next one (2 attempts left)"
    );
    // A step-up with the used code: the same answer, nothing done.
    let r = fx
        .auth
        .disable_factor(
            fx.user.id,
            Factor::Totp,
            &StepUp::new(GOOD, Some(used.clone())),
        )
        .await;
    assert!(matches!(r, Err(Error::CodeAlreadyUsed { .. })), "{r:?}");
    assert!(
        fx.auth
            .user(fx.user.id)
            .await
            .unwrap()
            .unwrap()
            .totp_enabled
    );
    // The challenge ends after its attempts like with wrong codes.
    assert!(matches!(
        fx.auth
            .verify(c.token(), &SecretString::from(used.as_str()))
            .await,
        Err(Error::CodeAlreadyUsed { attempts_left: 1 })
    ));
    assert!(matches!(
        fx.auth
            .verify(c.token(), &SecretString::from(used.as_str()))
            .await,
        Err(Error::TooManyAttempts)
    ));
    // The next step's code works.
    fx.clock.advance(Duration::from_secs(30));
    let c = fx.challenge().await;
    fx.auth
        .verify(c.token(), &SecretString::from(fx.totp(&secret, 0).as_str()))
        .await
        .unwrap();
    assert!(codes.is_some());
}

/// `verify_totp` answers `Ok(())` only for a right, unused code: a wrong
/// or replayed code is an error, so `?` cannot wave it through.
#[tokio::test]
async fn verify_totp_refuses_wrong_and_replayed_codes_as_errors() {
    let fx = fixture().await;
    let (secret, _) = fx.enable_totp().await;
    fx.clock.advance(Duration::from_secs(30));
    let right = fx.totp(&secret, 0);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let left = Policy::default().lock_after_failures;
    assert!(matches!(
        fx.auth.verify_totp(fx.user.id, &SecretString::from(wrong)).await,
        Err(Error::InvalidCode { attempts_left }) if attempts_left == left - 1
    ));
    fx.auth
        .verify_totp(fx.user.id, &SecretString::from(right.as_str()))
        .await
        .unwrap();
    assert!(matches!(
        fx.auth
            .verify_totp(fx.user.id, &SecretString::from(right.as_str()))
            .await,
        Err(Error::CodeAlreadyUsed { .. })
    ));
    assert!(matches!(
        fx.auth
            .verify_totp(fx.user.id, &SecretString::from("12345"))
            .await,
        Err(Error::MalformedCode)
    ));
}

#[tokio::test]
async fn totp_window_edges() {
    let fx = fixture().await;
    let (secret, _) = fx.enable_totp().await;
    fx.clock.advance(Duration::from_secs(120));
    let c = fx.challenge().await;
    // Two steps back and one step ahead are outside the default window.
    for off in [-2, 1] {
        assert!(
            matches!(
                fx.auth
                    .verify(
                        c.token(),
                        &SecretString::from(fx.totp(&secret, off).as_str())
                    )
                    .await,
                Err(Error::InvalidCode { .. })
            ),
            "{off}"
        );
    }
    // The previous step is inside it.
    fx.auth
        .verify(
            c.token(),
            &SecretString::from(fx.totp(&secret, -1).as_str()),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn recovery_codes_work_once_and_are_counted() {
    let fx = fixture().await;
    let codes = fx.enable_sms().await;
    let code = codes.codes()[3].to_owned();
    let c = fx.challenge().await;
    // Typed in upper case with spaces: still accepted.
    fx.auth
        .verify(
            c.token(),
            &SecretString::from(code.to_uppercase().replace('-', " ").as_str()),
        )
        .await
        .unwrap();
    assert_eq!(fx.auth.recovery_codes_left(fx.user.id).await.unwrap(), 9);
    assert!(fx.events.events().contains(&AuthEvent::RecoveryCodeUsed {
        user: fx.user.id,
        remaining: 9
    }));
    let c = fx.challenge().await;
    assert!(matches!(
        fx.auth
            .verify(c.token(), &SecretString::from(code.as_str()))
            .await,
        Err(Error::InvalidCode { .. })
    ));
    assert!(!format!("{codes:?}").contains(&code));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_code_submitted_20_times_at_once_lets_exactly_one_in() {
    // The 19 losers count as failures; keep the account unlocked for the test.
    let mut p = Policy::default();
    p.delay_after_failures = 50;
    p.lock_after_failures = 50;
    let fx = fixture_with(p.clone()).await;
    let codes = fx.enable_sms().await;
    let c = fx.challenge().await;
    assert_eq!(race(&fx.auth, c.token(), &fx.code()).await, 1, "sms");
    let c = fx.challenge().await;
    assert_eq!(
        race(&fx.auth, c.token(), codes.codes()[0]).await,
        1,
        "recovery code"
    );

    let fx = fixture_with(p).await;
    let (secret, _) = fx.enable_totp().await;
    fx.clock.advance(Duration::from_secs(30));
    let code = fx.totp(&secret, 0);
    let c = fx.challenge().await;
    assert_eq!(race(&fx.auth, c.token(), &code).await, 1, "totp");
    // And across 20 separate challenges (20 logins) the same TOTP code still wins once.
    fx.clock.advance(Duration::from_secs(30));
    let code = fx.totp(&secret, 0);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let c = fx.challenge().await;
        let (auth, code) = (fx.auth.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            auth.verify(c.token(), &SecretString::from(code.as_str()))
                .await
                .is_ok()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1, "totp across challenges");
}

async fn race(auth: &Authenticator, token: &str, code: &str) -> usize {
    let tok = Arc::new(token.to_owned());
    let code = Arc::new(code.to_owned());
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (auth, tok, code) = (auth.clone(), tok.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            auth.verify(&tok, &SecretString::from(code.as_str())).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(
                Error::ChallengeNotFound
                | Error::InvalidCode { .. }
                | Error::CodeAlreadyUsed { .. }
                | Error::TooManyAttempts
                | Error::ChallengeExpired,
            ) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    ok
}

#[tokio::test]
async fn code_failures_lock_the_account_and_the_lock_ends() {
    let fx = fixture().await;
    let codes = fx.enable_sms().await;
    let p = Policy::default();
    let mut failures = 0;
    'outer: loop {
        let c = match fx.auth.login("alice", &pw(GOOD)).await {
            Ok(Login::SecondFactor(c)) => c,
            Err(Error::Delayed { retry_after } | Error::Locked { retry_after }) => {
                fx.clock.advance(retry_after);
                continue;
            }
            other => panic!("{other:?}"),
        };
        let code = fx.code();
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..5 {
            match fx.auth.verify(c.token(), &SecretString::from(wrong)).await {
                Err(Error::InvalidCode { .. } | Error::TooManyAttempts) => failures += 1,
                Err(Error::Delayed { retry_after } | Error::Locked { retry_after }) => {
                    if failures >= p.lock_after_failures {
                        assert_eq!(retry_after, p.lock_duration);
                        break 'outer;
                    }
                    fx.clock.advance(retry_after);
                }
                // Waiting out the delays outlived this challenge: log in again.
                Err(Error::ChallengeExpired | Error::ChallengeNotFound) => break,
                other => panic!("{other:?}"),
            }
        }
        fx.clock.advance(Duration::from_secs(31));
    }
    // Even the right code is refused while locked; the lock ends by time.
    assert!(matches!(
        fx.auth.login("alice", &pw(GOOD)).await,
        Err(Error::Delayed { .. } | Error::Locked { .. })
    ));
    fx.clock.advance(p.lock_duration);
    let c = fx.challenge().await;
    // (The SMS budget for the day is spent by now; a recovery code still works.)
    fx.auth
        .verify(c.token(), &SecretString::from(codes.codes()[0]))
        .await
        .unwrap();
}

#[tokio::test]
async fn step_up_guards_disable_phone_change_and_regenerate() {
    let fx = fixture().await;
    let codes = fx.enable_sms().await;
    let id = fx.user.id;
    // Changing the phone needs a step-up.
    assert!(matches!(
        fx.auth
            .start_sms_enrollment(id, "+14155550123", &StepUp::password(GOOD))
            .await,
        Err(Error::StepUpRequired)
    ));
    // Password alone is not enough once a factor is on.
    assert!(matches!(
        fx.auth
            .disable_factor(id, Factor::Sms, &StepUp::new(GOOD, None::<String>))
            .await,
        Err(Error::StepUpRequired)
    ));
    assert!(matches!(
        fx.auth
            .disable_factor(id, Factor::Sms, &StepUp::new("wrong pw", Some("123456")))
            .await,
        Err(Error::InvalidCredentials)
    ));
    assert!(matches!(
        fx.auth
            .disable_factor(id, Factor::Totp, &StepUp::new(GOOD, Some("123456")))
            .await,
        Err(Error::FactorUnavailable(_))
    ));
    // SMS step-up code.
    fx.clock.advance(Duration::from_secs(31));
    fx.auth.send_step_up_code(id).await.unwrap();
    let new_codes = fx
        .auth
        .regenerate_recovery_codes(id, &StepUp::new(GOOD, Some(fx.code())))
        .await
        .unwrap();
    assert!(
        fx.events
            .events()
            .contains(&AuthEvent::RecoveryCodesGenerated { user: id })
    );
    // Old recovery codes are dead; new ones work for a step-up.
    assert!(matches!(
        fx.auth
            .disable_factor(id, Factor::Sms, &StepUp::new(GOOD, Some(codes.codes()[0])))
            .await,
        Err(Error::InvalidCode { .. })
    ));
    fx.auth
        .start_sms_enrollment(
            id,
            "+14155550123",
            &StepUp::new(GOOD, Some(new_codes.codes()[0])),
        )
        .await
        .unwrap();
    let code = fx.sms.last_code_for("+14155550123").unwrap();
    assert!(
        fx.auth
            .confirm_sms_enrollment(id, &SecretString::from(code.as_str()))
            .await
            .unwrap()
            .recovery_codes
            .is_none(),
        "not the first factor: no new codes"
    );
    assert!(
        fx.events
            .events()
            .contains(&AuthEvent::PhoneChanged { user: id })
    );
    fx.auth
        .disable_factor(
            id,
            Factor::Sms,
            &StepUp::new(GOOD, Some(new_codes.codes()[1])),
        )
        .await
        .unwrap();
    assert!(fx.events.events().contains(&AuthEvent::FactorDisabled {
        user: id,
        factor: Factor::Sms
    }));
    let u = fx.auth.user(id).await.unwrap().unwrap();
    assert!(!u.has_second_factor());
    assert_eq!(fx.auth.recovery_codes_left(id).await.unwrap(), 0);
    assert!(matches!(
        fx.auth.login("alice", &pw(GOOD)).await.unwrap(),
        Login::Complete(_)
    ));
}

#[tokio::test]
async fn totp_step_up_and_password_reset_keeps_the_factor() {
    let fx = fixture().await;
    let (secret, _) = fx.enable_totp().await;
    let t = fx
        .auth
        .request_password_reset("alice@example.com")
        .await
        .unwrap()
        .unwrap();
    fx.auth
        .reset_password(t.token(), &pw("brand new passphrase"))
        .await
        .unwrap();
    match fx
        .auth
        .login("alice", &pw("brand new passphrase"))
        .await
        .unwrap()
    {
        Login::SecondFactor(_) => {}
        Login::Complete(_) => panic!("a reset must not remove the second factor"),
        other => panic!("unexpected login outcome {other:?}"),
    }
    fx.clock.advance(Duration::from_secs(30));
    fx.auth
        .disable_factor(
            fx.user.id,
            Factor::Totp,
            &StepUp::new("brand new passphrase", Some(fx.totp(&secret, 0))),
        )
        .await
        .unwrap();
    assert!(
        !fx.auth
            .user(fx.user.id)
            .await
            .unwrap()
            .unwrap()
            .totp_enabled
    );
}

#[tokio::test]
async fn both_factors_sms_is_sent_on_request() {
    let fx = fixture().await;
    fx.enable_sms().await;
    fx.enable_totp().await;
    let sent_before = fx.sms.messages().len();
    let c = fx.challenge().await;
    assert!(matches!(c.sms, Some(SmsDelivery::Available { .. })));
    assert_eq!(fx.sms.messages().len(), sent_before);
    fx.auth.resend(c.token()).await.unwrap();
    fx.auth
        .verify(c.token(), &SecretString::from(fx.code().as_str()))
        .await
        .unwrap();
}

/// An SMS provider that always fails, to show failures stay closed.
#[derive(Debug)]
struct Broken;

#[async_trait]
impl SmsVerifier for Broken {
    async fn send(&self, _: &str, _: &SmsContext<'_>) -> Result<SentVerification> {
        Ok(SentVerification::new("handle"))
    }
    async fn check(&self, _: &str, _: &str, _: &str, _: &SmsContext<'_>) -> Result<()> {
        Err(Error::Provider(ProviderError::new(
            ProviderErrorKind::Unavailable,
        )))
    }
    async fn cancel(&self, _: &str, _: &str, _: &SmsContext<'_>) -> Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn provider_failure_never_lets_anyone_in() {
    let store = MemoryStore::new();
    let sms = ConsoleSms::quiet();
    let key = b"0123456789abcdef0123456789abcdef-2fa-key".to_vec();
    let good = Authenticator::builder()
        .store(store.clone())
        .secret_key(twofa_verify::SecretKey::from_bytes(key.clone()).unwrap())
        .sms(LocalCodes::new(sms.clone()))
        .build()
        .unwrap();
    let u = good
        .register("alice", "alice@example.com", &pw(GOOD))
        .await
        .unwrap();
    good.start_sms_enrollment(u.id, PHONE, &StepUp::password(GOOD))
        .await
        .unwrap();
    let _enrolled = good
        .confirm_sms_enrollment(
            u.id,
            &SecretString::from(sms.last_code_for(PHONE).unwrap().as_str()),
        )
        .await
        .unwrap();
    let broken = Authenticator::builder()
        .store(store)
        .secret_key(twofa_verify::SecretKey::from_bytes(key).unwrap())
        .sms(Broken)
        .build()
        .unwrap();
    let Login::SecondFactor(c) = broken.login("alice", &pw(GOOD)).await.unwrap() else {
        panic!()
    };
    for code in ["123456", "000000"] {
        assert!(matches!(
            broken.verify(c.token(), &SecretString::from(code)).await,
            Err(Error::Provider(_))
        ));
    }
}

/// A state store whose atomic take fails, to show store errors stay closed.
#[derive(Debug, Clone)]
struct FailingTake(MemoryStore);

#[async_trait]
impl StateStore for FailingTake {
    async fn put(&self, k: &str, v: &[u8], e: Timestamp) -> Result<()> {
        self.0.put(k, v, e).await
    }
    async fn put_if_absent(&self, k: &str, v: &[u8], e: Timestamp, n: Timestamp) -> Result<bool> {
        self.0.put_if_absent(k, v, e, n).await
    }
    async fn put_if_present(&self, k: &str, v: &[u8], e: Timestamp, n: Timestamp) -> Result<bool> {
        self.0.put_if_present(k, v, e, n).await
    }
    async fn get(&self, k: &str, n: Timestamp) -> Result<Option<Vec<u8>>> {
        self.0.get(k, n).await
    }
    async fn take(&self, _: &str, _: Timestamp) -> Result<Option<Vec<u8>>> {
        Err(Error::store(std::io::Error::other("database is gone")))
    }
    async fn delete(&self, k: &str) -> Result<()> {
        self.0.delete(k).await
    }
    async fn increment(&self, k: &str, t: Duration, x: bool, n: Timestamp) -> Result<Counter> {
        self.0.increment(k, t, x, n).await
    }
    async fn advance(&self, k: &str, v: i64, e: Timestamp, n: Timestamp) -> Result<bool> {
        self.0.advance(k, v, e, n).await
    }
}

#[tokio::test]
async fn store_failure_never_lets_anyone_in() {
    let store = MemoryStore::new();
    let sms = ConsoleSms::quiet();
    let auth = Authenticator::builder()
        .user_store(store.clone())
        .state_store(FailingTake(store))
        .secret_key(
            twofa_verify::SecretKey::from_bytes(
                b"0123456789abcdef0123456789abcdef-2fa-key".to_vec(),
            )
            .unwrap(),
        )
        .sms(LocalCodes::new(sms.clone()))
        .build()
        .unwrap();
    let u = auth
        .register("alice", "alice@example.com", &pw(GOOD))
        .await
        .unwrap();
    auth.start_sms_enrollment(u.id, PHONE, &StepUp::password(GOOD))
        .await
        .unwrap();
    assert!(matches!(
        auth.confirm_sms_enrollment(
            u.id,
            &SecretString::from(sms.last_code_for(PHONE).unwrap().as_str())
        )
        .await,
        Err(Error::Store(_))
    ));
    assert!(
        auth.user(u.id).await.unwrap().unwrap().phone.is_none(),
        "nothing enabled on a store error"
    );
}

#[test]
fn rfc_6238_appendix_b_sha1_vectors() {
    let secret = b"12345678901234567890";
    for (t, want) in [
        (59u64, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ] {
        assert_eq!(factor::totp_code(secret, t, 30, 8), want, "T={t}");
    }
}

#[test]
fn rfc_4226_appendix_d_hotp_vectors() {
    let secret = b"12345678901234567890";
    let want = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];
    for (counter, w) in want.iter().enumerate() {
        // TOTP with a one-second step is HOTP at counter = time.
        assert_eq!(
            factor::totp_code(secret, counter as u64, 1, 6),
            *w,
            "counter {counter}"
        );
    }
}

#[tokio::test]
async fn no_resend_while_locked() {
    let mut p = Policy::default();
    p.delay_after_failures = 1;
    p.lock_after_failures = 1;
    let fx = fixture_with(p).await;
    fx.enable_sms().await;
    let c = fx.challenge().await;
    let code = fx.code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert!(matches!(
        fx.auth.verify(c.token(), &SecretString::from(wrong)).await,
        Err(Error::InvalidCode { .. })
    ));
    fx.clock.advance(Duration::from_secs(31));
    let sent = fx.sms.messages().len();
    assert!(matches!(
        fx.auth.resend(c.token()).await,
        Err(Error::Delayed { .. } | Error::Locked { .. })
    ));
    assert_eq!(fx.sms.messages().len(), sent, "nothing sent while locked");
}

/// A burst of the same replayed authenticator-app code on one challenge,
/// released together: counted exactly like wrong codes (the challenge's
/// attempts, one rejected code each), nobody gets in, and no more than the
/// challenge's attempts are ever checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_replayed_totp_codes_is_counted_like_wrong_ones() {
    let mut p = Policy::default();
    p.delay_after_failures = 50;
    p.lock_after_failures = 50;
    let max = p.challenge_max_attempts;
    let fx = fixture_with(p).await;
    let (secret, _) = fx.enable_totp().await;
    let used = fx.totp(&secret, 0);
    let c = fx.challenge().await;
    let rejected = || {
        fx.events
            .events()
            .iter()
            .filter(|e| matches!(e, AuthEvent::CodeRejected { .. }))
            .count()
    };
    let before = rejected();
    let gate = Arc::new(tokio::sync::Barrier::new(200));
    let token = Arc::new(c.token().to_owned());
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (auth, gate, token, code) =
            (fx.auth.clone(), gate.clone(), token.clone(), used.clone());
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            auth.verify(&token, &SecretString::from(code.as_str()))
                .await
        }));
    }
    let (mut replayed, mut ended) = (0u32, 0u32);
    for t in tasks {
        match t.await.unwrap() {
            Err(Error::CodeAlreadyUsed { .. }) => replayed += 1,
            Err(Error::TooManyAttempts | Error::ChallengeNotFound) => ended += 1,
            other => panic!("a replayed code got {other:?}"),
        }
    }
    // The last allowed attempt ends the challenge instead of saying "used".
    assert_eq!(replayed, max - 1, "{replayed} replays answered");
    assert_eq!(replayed + ended, 200);
    assert_eq!(
        rejected() - before,
        max as usize,
        "each checked replay is a rejected code, like a wrong one"
    );
    // The challenge is spent: even the next step's right code is refused.
    fx.clock.advance(Duration::from_secs(30));
    assert!(matches!(
        fx.auth
            .verify(c.token(), &SecretString::from(fx.totp(&secret, 0).as_str()))
            .await,
        Err(Error::TooManyAttempts | Error::ChallengeNotFound)
    ));
}
