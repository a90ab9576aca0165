//! Property tests: arbitrary strings (huge, control characters, NUL,
//! direction marks, percent signs, noncharacters, look-alike digits) through
//! every public entry point that takes outside input, on a `MemoryStore`.
//!
//! Every case must end in a typed error or a well-formed success; a panic
//! fails the test. Argon2 runs at the policy's floor, so the cases that hash
//! are kept few; `PROPTEST_CASES=N` raises every count for a longer run.

#![cfg(feature = "totp")]

mod fixture;

use std::collections::HashSet;
use std::time::Duration;
use twofa_verify::secrecy::SecretString;

use fixture::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use secrecy::ExposeSecret;
use twofa_verify::StepUp;
use twofa_verify::store::NewUser;
use twofa_verify::user::mask_phone;
use twofa_verify::*;
use unicode_normalization::UnicodeNormalization;

#[test]
fn any_token_is_refused_with_a_typed_error() {
    let rt = runtime();
    let fx = fx();
    let (tf, live) = rt.block_on(async {
        let tf = fx.two_factor("alice").await;
        // A live challenge and a live reset token: a random token must not find them.
        let live = fx.challenge("alice").await;
        let reset = fx.auth.request_password_reset("alice@example.com").await;
        assert!(reset.unwrap().is_some());
        (tf, live)
    });
    let right = fx.totp_now(&tf.totp);
    check(&rt, 256, (hostile(), hostile()), |(token, code)| {
        let (fx, right) = (&fx, &right);
        async move {
            let r = fx
                .auth
                .verify(&token, &SecretString::from(code.as_str()))
                .await;
            prop_assert!(
                matches!(r, Err(Error::MalformedCode | Error::ChallengeNotFound)),
                "{r:?}"
            );
            let r = fx
                .auth
                .verify(&token, &SecretString::from(right.as_str()))
                .await;
            prop_assert!(matches!(r, Err(Error::ChallengeNotFound)), "{r:?}");
            let r = fx.auth.resend(&token).await;
            prop_assert!(matches!(r, Err(Error::ChallengeNotFound)), "{r:?}");
            let r = fx.auth.check_reset_token(&token).await;
            prop_assert!(matches!(r, Err(Error::InvalidResetToken)), "{r:?}");
            let r = fx
                .auth
                .reset_password(&token, &pw("a new long password"))
                .await;
            prop_assert!(matches!(r, Err(Error::InvalidResetToken)), "{r:?}");
            Ok(())
        }
    });
    // The live challenge was not disturbed.
    let user = rt
        .block_on(
            fx.auth
                .verify(live.token(), &SecretString::from(right.as_str())),
        )
        .unwrap();
    assert_eq!(user.user.id, tf.user.id);
}

/// One edit (replace, insert, delete a character) of a real token.
fn edit(token: &str, op: u8, at: usize, c: char) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let at = at % (chars.len() + 1);
    match op % 3 {
        0 if at < chars.len() => chars[at] = c,
        1 => chars.insert(at, c),
        _ if at < chars.len() => {
            chars.remove(at);
        }
        _ => chars.push(c),
    }
    chars.into_iter().collect()
}

#[test]
fn an_edited_real_token_is_refused() {
    let rt = runtime();
    let fx = fx();
    let (tf, live, reset) = rt.block_on(async {
        let tf = fx.two_factor("alice").await;
        let live = fx.challenge("alice").await;
        let reset = fx.auth.request_password_reset("alice@example.com").await;
        (tf, live, reset.unwrap().unwrap())
    });
    let right = fx.totp_now(&tf.totp);
    let edits = (
        any::<u8>(),
        any::<usize>(),
        prop_oneof![any::<char>(), nasty()],
    );
    check(&rt, 256, edits, |(op, at, c)| {
        let (fx, right, live, reset) = (&fx, &right, &live, &reset);
        let ch = edit(live.token(), op, at, c);
        let rt = edit(reset.token(), op, at, c);
        async move {
            prop_assume!(ch != live.token() && rt.trim() != reset.token());
            let r = fx
                .auth
                .verify(&ch, &SecretString::from(right.as_str()))
                .await;
            prop_assert!(matches!(r, Err(Error::ChallengeNotFound)), "{r:?}");
            let r = fx.auth.check_reset_token(&rt).await;
            prop_assert!(matches!(r, Err(Error::InvalidResetToken)), "{r:?}");
            Ok(())
        }
    });
    let user = rt
        .block_on(
            fx.auth
                .verify(live.token(), &SecretString::from(right.as_str())),
        )
        .unwrap();
    assert_eq!(user.user.id, tf.user.id);
    let user = rt.block_on(fx.auth.check_reset_token(reset.token()));
    assert_eq!(user.unwrap().id, tf.user.id);
}

#[test]
fn a_wrong_code_never_logs_in_and_never_breaks_the_challenge() {
    let rt = runtime();
    let fx = fx();
    let tf = rt.block_on(fx.two_factor("alice"));
    let bob = rt.block_on(fx.user("bob"));
    let codes = prop_oneof![
        hostile(),
        "[0-9]{6}",
        "[a-z2-7]{5}-[a-z2-7]{5}-[a-z2-7]{5}-[a-z2-7]{5}"
    ];
    check(&rt, 20, codes, |code| {
        let (fx, tf) = (&fx, &tf);
        async move {
            let c = fx.challenge("alice").await;
            let mut right: HashSet<String> = tf.recovery.iter().cloned().collect();
            right.insert(fx.totp_at(&tf.totp, 0));
            right.insert(fx.totp_at(&tf.totp, 1));
            right.insert(fx.sms.last_code_for(PHONE).unwrap());
            prop_assume!(!right.contains(&norm(&code)));

            let r = fx
                .auth
                .verify(c.token(), &SecretString::from(code.as_str()))
                .await;
            prop_assert!(
                matches!(r, Err(Error::MalformedCode | Error::InvalidCode { .. })),
                "{r:?}"
            );
            // Step-up with the password and that code: refused, nothing changes.
            let r = fx
                .auth
                .regenerate_recovery_codes(tf.user.id, &StepUp::new(GOOD, Some(code.clone())))
                .await;
            prop_assert!(
                matches!(
                    r,
                    Err(Error::MalformedCode | Error::InvalidCode { .. } | Error::StepUpRequired)
                ),
                "{r:?}"
            );
            prop_assert_eq!(fx.auth.recovery_codes_left(tf.user.id).await.unwrap(), 10);
            // Enrollments in progress refuse it too.
            fx.auth
                .start_totp_enrollment(bob.id, &StepUp::password(GOOD))
                .await
                .unwrap();
            let r = fx
                .auth
                .confirm_totp_enrollment(bob.id, &SecretString::from(code.as_str()))
                .await;
            prop_assert!(
                matches!(r, Err(Error::MalformedCode | Error::InvalidCode { .. })),
                "{r:?}"
            );
            fx.auth
                .start_sms_enrollment(bob.id, "+14155550100", &StepUp::password(GOOD))
                .await
                .unwrap();
            prop_assume!(fx.sms.last_code_for("+14155550100") != Some(norm(&code)));
            let r = fx
                .auth
                .confirm_sms_enrollment(bob.id, &SecretString::from(code.as_str()))
                .await;
            prop_assert!(
                matches!(r, Err(Error::MalformedCode | Error::InvalidCode { .. })),
                "{r:?}"
            );
            let u = fx.auth.user(bob.id).await.unwrap().unwrap();
            prop_assert!(!u.has_second_factor());
            // The pending login still takes the right code.
            let u = fx
                .auth
                .verify(
                    c.token(),
                    &SecretString::from(fx.totp_now(&tf.totp).as_str()),
                )
                .await;
            prop_assert_eq!(u.map(|v| v.user.id).ok(), Some(tf.user.id));
            Ok(())
        }
    });
}

#[test]
fn phone_numbers_parse_to_e164_or_a_typed_error() {
    let rt = runtime();
    // A default region needs the numbering plans of feature `phone-numbers`.
    let regions: &[Option<&str>] = if cfg!(feature = "phone-numbers") {
        &[None, Some("US"), Some("GB"), Some("IN")]
    } else {
        &[None]
    };
    for &region in regions {
        let mut p = policy();
        p.default_phone_region = region.map(str::to_owned);
        let fx = fx_with(p, "Test App").unwrap();
        let user = rt.block_on(fx.user("alice"));
        check(&rt, 128, phone_input(), |raw| {
            let fx = &fx;
            async move {
                match fx
                    .auth
                    .start_sms_enrollment(user.id, &raw, &StepUp::password(GOOD))
                    .await
                {
                    Ok(e) => {
                        let to = fx.sms.messages().last().unwrap().to.clone();
                        prop_assert!(is_e164(&to), "{raw:?} -> {to:?}");
                        prop_assert_eq!(e.to, mask_phone(&to));
                        // The E.164 form is a fixed point.
                        fx.auth
                            .start_sms_enrollment(user.id, &to, &StepUp::password(GOOD))
                            .await
                            .unwrap();
                        let again = fx.sms.messages().last().unwrap().to.clone();
                        prop_assert_eq!(again, to);
                    }
                    Err(Error::InvalidPhoneNumber(_)) => {}
                    Err(e) => prop_assert!(false, "{raw:?}: {e:?}"),
                }
                Ok(())
            }
        });
    }
}

#[test]
fn a_hostile_login_is_refused_and_never_finds_another_user() {
    let rt = runtime();
    let fx = fx();
    let alice = rt.block_on(fx.user("alice"));
    let ident = prop_oneof![
        hostile(),
        Just("alice".to_owned()),
        "(?i)alice(@example\\.com)?.?"
    ];
    check(&rt, 24, (ident, hostile()), |(ident, password)| {
        let fx = &fx;
        async move {
            fx.clock.advance(2 * DAY);
            prop_assume!(password != GOOD);
            let r = fx.auth.login(&ident, &pw(&password)).await;
            prop_assert!(
                matches!(
                    r,
                    Err(Error::InvalidCredentials | Error::Delayed { .. } | Error::Locked { .. })
                ),
                "{r:?}"
            );
            // With the right password: alice, and only for her own name or address.
            let key = ident.nfkc().collect::<String>().trim().to_lowercase();
            match fx.auth.login(&ident, &pw(GOOD)).await {
                Ok(Login::Complete(u)) => {
                    prop_assert_eq!(u.id, alice.id);
                    prop_assert!(key == "alice" || key == "alice@example.com", "{key:?}");
                }
                Err(Error::InvalidCredentials | Error::Delayed { .. } | Error::Locked { .. }) => {
                    prop_assert!(key != "alice" && key != "alice@example.com", "{key:?}");
                }
                other => prop_assert!(false, "{other:?}"),
            }
            Ok(())
        }
    });
}

/// After a successful registration, the typed name, the stored name, the
/// address, and canonically equivalent spellings of each find the user.
async fn round_trips(fx: &Fx, raw_name: &str, raw_email: &str, password: &str, u: &User) {
    for ident in [raw_name, raw_email, &u.username, &u.email] {
        let r = fx.auth.login(ident, &pw(password)).await;
        let Ok(Login::Complete(got)) = r else {
            panic!("login({ident:?}) after register: {r:?}");
        };
        assert_eq!(got.id, u.id);
    }
    let id = Some(u.id);
    for name in [raw_name, &u.username] {
        for form in [name.nfc().collect::<String>(), name.nfd().collect()] {
            let found = fx.auth.user_by_username(&form).await.unwrap();
            assert_eq!(found.map(|f| f.id), id, "user_by_username({form:?})");
        }
    }
    for email in [raw_email, &u.email] {
        for form in [email.nfc().collect::<String>(), email.nfd().collect()] {
            let found = fx.auth.user_by_email(&form).await.unwrap();
            assert_eq!(found.map(|f| f.id), id, "user_by_email({form:?})");
        }
    }
}

#[test]
fn register_refuses_with_a_typed_error_or_round_trips() {
    let rt = runtime();
    let fx = fx();
    let name = prop_oneof![2 => hostile(), 3 => plausible_name()];
    let email = prop_oneof![
        2 => hostile(),
        3 => (plausible_name(), "[a-z]{1,8}\\.[a-z]{2,4}").prop_map(|(l, d)| format!("{l}@{d}")),
    ];
    let password = prop_oneof![hostile(), Just(GOOD.to_owned())];
    check(
        &rt,
        24,
        (name, email, password),
        |(name, email, password)| {
            let fx = &fx;
            async move {
                match fx.auth.register(&name, &email, &pw(&password)).await {
                    Ok(u) => {
                        let n = u.username.chars().count();
                        prop_assert!((1..=64).contains(&n));
                        prop_assert!(!u.username.chars().any(|c| c.is_whitespace() || c == '@'));
                        prop_assert!(!u.username.chars().any(char::is_control));
                        round_trips(fx, &name, &email, &password, &u).await;
                    }
                    Err(
                        Error::InvalidUsername(_)
                        | Error::InvalidEmail
                        | Error::WeakPassword(_)
                        | Error::UsernameTaken
                        | Error::EmailTaken,
                    ) => {}
                    Err(e) => prop_assert!(false, "{e:?}"),
                }
                Ok(())
            }
        },
    );
}

#[test]
fn otpauth_label_round_trips_issuer_and_account() {
    let rt = runtime();
    let issuer = prop_oneof![hostile(), "[A-Za-z0-9 %&?#/=+.:-]{1,30}"];
    check(
        &rt,
        48,
        (issuer, hostile()),
        |(issuer, username)| async move {
            let fx = match fx_with(policy(), &issuer) {
                Ok(fx) => fx,
                Err(Error::Config(_)) => {
                    prop_assert!(
                        issuer.trim().is_empty() || issuer.len() > 100 || issuer.contains(':')
                    );
                    return Ok(());
                }
                Err(e) => return Err(TestCaseError::fail(format!("{e:?}"))),
            };
            // A real hash, so the step-up before the enrollment passes.
            let carrier = fx.user("carrier").await;
            let hash = fx
                .store
                .user_by_id(carrier.id)
                .await
                .unwrap()
                .unwrap()
                .password_hash;
            // Straight into the store, as a third-party or older store may hold it.
            let rec = fx
                .store
                .create_user(NewUser {
                    username: username.clone(),
                    username_key: username.to_lowercase(),
                    username_skeleton: twofa_verify::user::username_skeleton(
                        &username.to_lowercase(),
                    ),
                    email: "hostile@example.com".into(),
                    password_hash: hash,
                    created_at: Timestamp::from_millis(0),
                })
                .await
                .unwrap();
            let e = match fx
                .auth
                .start_totp_enrollment(rec.id, &StepUp::password(GOOD))
                .await
            {
                Ok(e) => e,
                // Only a name longer than any valid username can overflow a QR code.
                Err(Error::Internal(_)) if username.len() > 256 => return Ok(()),
                Err(e) => return Err(TestCaseError::fail(format!("{e:?}"))),
            };
            let uri = url::Url::parse(e.otpauth_uri.expose_secret());
            let uri = uri.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(uri.scheme(), "otpauth");
            prop_assert_eq!(uri.host_str(), Some("totp"));
            let label = percent_encoding::percent_decode_str(uri.path().trim_start_matches('/'));
            let label = label.decode_utf8().unwrap().into_owned();
            let want = format!("{}:{}", issuer.replace(':', ""), username);
            prop_assert_eq!(label, want);
            let query: std::collections::HashMap<String, String> =
                uri.query_pairs().into_owned().collect();
            prop_assert_eq!(query.get("issuer"), Some(&issuer));
            let secret = query.get("secret").map(String::as_str);
            prop_assert_eq!(secret, Some(e.secret_base32.expose_secret()));
            prop_assert!(!e.qr_svg.is_empty() && !e.qr_png.is_empty());
            Ok(())
        },
    );
}

#[test]
fn locks_and_rate_limits_survive_hostile_durations_and_clocks() {
    let rt = runtime();
    let durations = vec(any_duration(), 5);
    let counts = (1u32..=3, 0u32..=3, 1u32..=3);
    let start = prop_oneof![0..=i64::MAX / 4, i64::MIN / 4..0];
    check(
        &rt,
        12,
        (durations, counts, start),
        |(d, (lock_after, delay_after, resets), start)| async move {
            let mut p = policy();
            (p.lock_duration, p.delay_base, p.delay_max, p.failure_memory) =
                (d[0], d[1], d[2], d[3]);
            p.reset_requests = RateLimit::new(resets, d[4]);
            p.reset_token_ttl = d[4];
            p.lock_after_failures = lock_after;
            p.delay_after_failures = delay_after.min(lock_after);
            let fx = match fx_with(p.clone(), "Test App") {
                Ok(fx) => fx,
                Err(Error::Config(_)) => return Ok(()),
                Err(e) => return Err(TestCaseError::fail(format!("{e:?}"))),
            };
            fx.clock.set(Timestamp::from_millis(start));
            fx.user("alice").await;
            let longest = p.lock_duration.max(p.delay_max);
            for _ in 0..=lock_after {
                match fx.auth.login("alice", &pw("not the password")).await {
                    Err(Error::InvalidCredentials) => {}
                    Err(e @ (Error::Delayed { retry_after } | Error::Locked { retry_after })) => {
                        prop_assert!(!retry_after.is_zero() && retry_after <= longest, "{e:?}");
                        prop_assert_eq!(e.retry_after(), Some(retry_after));
                        prop_assert!(!e.to_string().is_empty());
                    }
                    other => prop_assert!(false, "{other:?}"),
                }
            }
            for i in 0..=resets {
                match fx.auth.request_password_reset("alice@example.com").await {
                    // A window under the clock's millisecond resolution limits nothing.
                    Ok(t) => prop_assert!(
                        t.is_some() && (i < resets || p.reset_requests.window.as_millis() == 0)
                    ),
                    Err(e @ Error::RateLimited { retry_after, .. }) => {
                        prop_assert_eq!(i, resets);
                        let most = p.reset_requests.window.max(Duration::from_secs(1));
                        prop_assert!(retry_after >= Duration::from_secs(1) && retry_after <= most);
                        prop_assert!(!e.to_string().is_empty());
                    }
                    Err(e) => prop_assert!(false, "{e:?}"),
                }
            }
            Ok(())
        },
    );
}

#[tokio::test]
async fn a_letter_whose_lower_case_composes_is_one_account() {
    // "J" + U+030C lower-cases to "j" + U+030C, which NFKC composes into
    // U+01F0: both spellings must give one lookup key.
    let fx = fx();
    let (name, email) = ("J\u{30c}", "J\u{30c}@example.com");
    let u = fx.auth.register(name, email, &pw(GOOD)).await.unwrap();
    round_trips(&fx, name, email, GOOD, &u).await;
    let r = fx
        .auth
        .register("\u{1f0}", "other@example.com", &pw(GOOD))
        .await;
    assert!(matches!(r, Err(Error::UsernameTaken)), "{r:?}");
    let r = fx
        .auth
        .register("other", "\u{1f0}@example.com", &pw(GOOD))
        .await;
    assert!(matches!(r, Err(Error::EmailTaken)), "{r:?}");
}
