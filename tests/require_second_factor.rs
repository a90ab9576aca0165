//! `Policy::second_factor_required`: the grace period by sign-ins and by
//! time, a predicate that selects some users, the refusal to remove the
//! last factor, and a burst of logins that never gets more sign-ins within
//! the grace than allowed, on every store and across two instances.
//! PostgreSQL (and Redis) cases need `DATABASE_URL` (and `REDIS_URL`);
//! without them they print SKIPPED and pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::time::Duration;

use harness::{GOOD, KINDS, burst, policy, pw, site};
use twofa_verify::error::FactorUnavailable;
use twofa_verify::policy::SecondFactorRequirement;
use twofa_verify::{AuthEvent, Error, Factor, Login, Policy, StepUp};

const DAY: Duration = Duration::from_secs(24 * 3600);

fn requiring(rule: SecondFactorRequirement) -> Policy {
    let mut p = policy();
    p.second_factor_required = Some(rule);
    p
}

/// Two sign-ins of grace: both log in and say how many are left, the third
/// ends at enrollment (on either instance), and once a factor is enabled
/// the login asks for it as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_by_sign_ins_then_enrollment_only() {
    for kind in KINDS {
        let Some(site) = site(
            kind,
            requiring(SecondFactorRequirement::everyone().grace_sign_ins(2)),
        )
        .await
        else {
            continue;
        };
        let alice = site.user("alice").await;
        for (i, left) in [1, 0].into_iter().enumerate() {
            match site.at(i).login("alice", &pw(GOOD)).await.unwrap() {
                Login::EnrollSoon { user, grace } => {
                    assert_eq!(user.id, alice.id);
                    assert_eq!(grace.sign_ins, Some(left), "{kind:?}");
                    assert_eq!(grace.until, None);
                }
                other => panic!("{kind:?}: sign-in {i} in grace gave {other:?}"),
            }
        }
        for i in 0..2 {
            match site.at(i).login("alice", &pw(GOOD)).await.unwrap() {
                Login::EnrollmentRequired(p) => assert_eq!(p.user_id(), alice.id),
                other => panic!("{kind:?}: after the grace gave {other:?}"),
            }
        }
        assert_eq!(
            site.count(|e| matches!(
                e,
                AuthEvent::SecondFactorEnrollmentDue {
                    grace_over: true,
                    ..
                }
            )),
            2
        );
        // A wrong password is still just wrong: the requirement tells
        // nothing before the password is right.
        let wrong = site.at(0).login("alice", &pw("not the password")).await;
        assert!(matches!(wrong, Err(Error::InvalidCredentials)), "{wrong:?}");

        site.with_sms(&alice, "+14155550100").await;
        let after = site.at(1).login("alice", &pw(GOOD)).await.unwrap();
        assert!(
            matches!(after, Login::SecondFactor(_)),
            "{kind:?}: {after:?}"
        );
    }
}

/// A week of grace counted from the first sign-in: the end stays put as
/// days pass, and at the end the login stops completing.
#[tokio::test]
async fn grace_by_days_counts_from_the_first_sign_in() {
    for kind in KINDS {
        let Some(site) = site(
            kind,
            requiring(SecondFactorRequirement::everyone().grace_period(7 * DAY)),
        )
        .await
        else {
            continue;
        };
        site.user("bob").await;
        // Registered long before the requirement's first sign-in: the
        // grace counts from the sign-in, not from the registration.
        site.clock.advance(30 * DAY);
        let start = site.at(0).now();
        let Login::EnrollSoon { grace, .. } = site.at(0).login("bob", &pw(GOOD)).await.unwrap()
        else {
            panic!("{kind:?}: first sign-in not in grace")
        };
        let end = start.plus(7 * DAY);
        assert_eq!((grace.until, grace.sign_ins), (Some(end), None));
        site.clock.advance(7 * DAY - Duration::from_secs(1));
        let Login::EnrollSoon { grace, .. } = site.at(1).login("bob", &pw(GOOD)).await.unwrap()
        else {
            panic!("{kind:?}: a second before the end not in grace")
        };
        assert_eq!(grace.until, Some(end));
        site.clock.advance(Duration::from_secs(1));
        let last = site.at(0).login("bob", &pw(GOOD)).await.unwrap();
        assert!(
            matches!(last, Login::EnrollmentRequired(_)),
            "{kind:?}: {last:?}"
        );
    }
}

/// Days and sign-ins together: whichever runs out first ends the grace.
#[tokio::test]
async fn days_and_sign_ins_whichever_first() {
    let rule = SecondFactorRequirement::everyone()
        .grace_period(DAY)
        .grace_sign_ins(10);
    let site = site(harness::Kind::Memory, requiring(rule)).await.unwrap();
    site.user("carol").await;
    let first = site.at(0).login("carol", &pw(GOOD)).await.unwrap();
    assert!(matches!(first, Login::EnrollSoon { grace, .. } if grace.sign_ins == Some(9)));
    site.clock.advance(DAY);
    let late = site.at(0).login("carol", &pw(GOOD)).await.unwrap();
    assert!(matches!(late, Login::EnrollmentRequired(_)), "{late:?}");
}

/// The app's predicate picks the users: the others log in as before, and
/// with no grace the selected ones go to enrollment at once.
#[tokio::test]
async fn predicate_selects_some_users() {
    for kind in KINDS {
        let rule = SecondFactorRequirement::for_users(|u| u.username.starts_with("admin"));
        let Some(site) = site(kind, requiring(rule)).await else {
            continue;
        };
        site.user("carol").await;
        site.user("admin-dave").await;
        for _ in 0..3 {
            let carol = site.at(0).login("carol", &pw(GOOD)).await.unwrap();
            assert!(matches!(carol, Login::Complete(_)), "{kind:?}: {carol:?}");
        }
        let dave = site.at(1).login("admin-dave", &pw(GOOD)).await.unwrap();
        assert!(
            matches!(dave, Login::EnrollmentRequired(_)),
            "{kind:?}: {dave:?}"
        );
        // By email too.
        let dave = site
            .at(0)
            .login("admin-dave@example.com", &pw(GOOD))
            .await
            .unwrap();
        assert!(
            matches!(dave, Login::EnrollmentRequired(_)),
            "{kind:?}: {dave:?}"
        );
    }
}

/// The last factor of a user the policy covers cannot be removed (before
/// any step-up is checked, so no code is spent); a user it does not cover
/// can remove theirs.
#[tokio::test]
async fn removing_the_last_factor_is_refused_while_required() {
    for kind in KINDS {
        let rule = SecondFactorRequirement::for_users(|u| u.username.starts_with("admin"));
        let Some(site) = site(kind, requiring(rule)).await else {
            continue;
        };
        let admin = site.user("admin-erin").await;
        site.with_sms(&admin, "+14155550101").await;
        let refused = site
            .at(0)
            .disable_factor(admin.id, Factor::Sms, &StepUp::password(GOOD))
            .await;
        assert!(
            matches!(
                refused,
                Err(Error::FactorUnavailable(FactorUnavailable::Required))
            ),
            "{kind:?}: {refused:?}"
        );
        let err = refused.unwrap_err();
        assert_eq!(err.http_status(), 409);
        assert!(err.to_string().contains("required"), "{err}");
        // Still enabled.
        let login = site.at(1).login("admin-erin", &pw(GOOD)).await.unwrap();
        assert!(matches!(login, Login::SecondFactor(_)), "{kind:?}");

        let frank = site.user("frank").await;
        site.with_sms(&frank, "+14155550102").await;
        let step_up = site.sms_step_up(frank.id, GOOD, "+14155550102").await;
        let user = site
            .at(0)
            .disable_factor(frank.id, Factor::Sms, &step_up)
            .await
            .unwrap();
        assert!(!user.has_second_factor());
    }
}

/// Two factors and ten recovery codes: 200 removals released together on
/// both instances, half of SMS and half of the authenticator app, ten of
/// them with a valid step-up (each its own recovery code). However they
/// interleave, exactly one removal succeeds and the account keeps the
/// other factor: the "is another factor left" check and the removal are
/// one step for each account ([`FactorUnavailable::RemovalInProgress`] for
/// the removals that overlap one under way).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_removals_of_different_factors_leaves_one() {
    const N: usize = 200;
    for kind in KINDS {
        let Some(site) = site(kind, requiring(SecondFactorRequirement::everyone())).await else {
            continue;
        };
        let user = site.user("two-factors").await;
        let codes = site.with_sms(&user, "+14155550103").await;
        let step_up = site.sms_step_up(user.id, GOOD, "+14155550103").await;
        site.with_totp(user.id, &step_up).await;
        let results = burst(N, |i| {
            let auth = site.at(i).clone();
            let factor = if i % 2 == 0 {
                Factor::Sms
            } else {
                Factor::Totp
            };
            let code = codes[(i / 2) % codes.len()].clone();
            async move {
                let proof = StepUp::new(GOOD, Some(code));
                auth.disable_factor(user.id, factor, &proof).await
            }
        })
        .await;
        let removed = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(removed, 1, "{kind:?}: {results:?}");
        let in_progress = results
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    Err(Error::FactorUnavailable(
                        FactorUnavailable::RemovalInProgress
                    ))
                )
            })
            .count();
        assert!(in_progress > 0, "{kind:?}: no removal overlapped");
        let login = site.at(1).login("two-factors", &pw(GOOD)).await.unwrap();
        assert!(
            matches!(login, Login::SecondFactor(_)),
            "{kind:?}: {login:?}"
        );
    }
}

/// 200 right passwords released together, half on each instance, with a
/// grace of 3 sign-ins: exactly 3 log in (each told a different number
/// left); every other one evaluated ends at enrollment, the rest wait for
/// the account's attempt gate (in-flight attempts count until settled).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_logins_never_exceeds_the_grace_sign_ins() {
    const N: usize = 200;
    for kind in KINDS {
        let mut p = requiring(SecondFactorRequirement::everyone().grace_sign_ins(3));
        // As many in flight as the policy allows, so that many more than
        // the grace's 3 reach the count at once.
        p.lock_after_failures = 50;
        p.delay_after_failures = 50;
        let Some(site) = site(kind, p).await else {
            continue;
        };
        site.user("grace").await;
        let results = burst(N, |i| {
            let auth = site.at(i).clone();
            async move { auth.login("grace", &pw(GOOD)).await }
        })
        .await;
        let mut left: Vec<u32> = results
            .iter()
            .filter_map(|r| match r {
                Ok(Login::EnrollSoon { grace, .. }) => grace.sign_ins,
                _ => None,
            })
            .collect();
        left.sort_unstable();
        assert_eq!(left, vec![0, 1, 2], "{kind:?}");
        let enrollment = results
            .iter()
            .filter(|r| matches!(r, Ok(Login::EnrollmentRequired(_))))
            .count();
        let gated = results
            .iter()
            .filter(|r| matches!(r, Err(Error::Delayed { .. } | Error::Locked { .. })))
            .count();
        assert_eq!(enrollment + gated, N - 3, "{kind:?}: {results:?}");
        assert!(
            enrollment >= 10,
            "{kind:?}: only {enrollment} evaluated past the grace"
        );
    }
}

/// Without the requirement nothing changes: a user without a factor logs
/// in, every time.
#[tokio::test]
async fn no_requirement_no_change() {
    let site = site(harness::Kind::Memory, policy()).await.unwrap();
    site.user("gina").await;
    for _ in 0..3 {
        let l = site.at(0).login("gina", &pw(GOOD)).await.unwrap();
        assert!(matches!(l, Login::Complete(_)), "{l:?}");
    }
}

/// The store call itself, 300 at once across two handles of one store
/// (two pools on one SQLite file, two PostgreSQL pools): every caller gets
/// a different count, 1 to 300, and all see the first call's start.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn record_unenrolled_sign_in_counts_each_call_once() {
    use twofa_verify::{Timestamp, UserStore};
    const N: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let mut pairs: Vec<(&str, [std::sync::Arc<dyn UserStore>; 2])> = Vec::new();
    let mem = twofa_verify::MemoryStore::new();
    pairs.push((
        "memory",
        [std::sync::Arc::new(mem.clone()), std::sync::Arc::new(mem)],
    ));
    let path = dir.path().join("grace.db").to_str().unwrap().to_owned();
    let a = twofa_verify::SqliteStore::open(&path).await.unwrap();
    let b = twofa_verify::SqliteStore::open(&path).await.unwrap();
    pairs.push(("sqlite", [std::sync::Arc::new(a), std::sync::Arc::new(b)]));
    let mut _schema_guard = None;
    match std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => {
            let schema = format!("twofa_grace_{:016x}", rand::random::<u64>());
            _schema_guard = Some(harness::SchemaGuard::new(&url, &schema));
            let a = twofa_verify::PostgresStore::connect_with_schema(&url, &schema)
                .await
                .unwrap();
            let b = twofa_verify::PostgresStore::connect_with_schema(&url, &schema)
                .await
                .unwrap();
            pairs.push(("postgres", [std::sync::Arc::new(a), std::sync::Arc::new(b)]));
        }
        None => eprintln!("SKIPPED: DATABASE_URL not set; PostgreSQL case did not run"),
    }
    for (name, stores) in pairs {
        let user = stores[0]
            .create_user(twofa_verify::store::NewUser {
                username: "hank".into(),
                username_key: "hank".into(),
                username_skeleton: twofa_verify::user::username_skeleton("hank"),
                email: "hank@example.com".into(),
                password_hash: "$argon2id$unused".into(),
                created_at: Timestamp::from_millis(0),
            })
            .await
            .unwrap();
        let results = burst(N, |i| {
            let store = stores[i % 2].clone();
            let now = Timestamp::from_millis(1_000 + i as i64);
            async move { store.record_unenrolled_sign_in(user.id, now).await }
        })
        .await;
        let mut counts: Vec<u64> = results
            .iter()
            .map(|r| r.as_ref().unwrap().sign_ins)
            .collect();
        counts.sort_unstable();
        assert_eq!(counts, (1..=N as u64).collect::<Vec<_>>(), "{name}");
        let first = results
            .iter()
            .map(|r| r.as_ref().unwrap())
            .find(|r| r.sign_ins == 1)
            .unwrap()
            .since;
        assert!(
            results.iter().all(|r| r.as_ref().unwrap().since == first),
            "{name}"
        );
        let gone = stores[1]
            .record_unenrolled_sign_in(twofa_verify::UserId(i64::MAX), Timestamp::from_millis(0))
            .await;
        assert!(matches!(gone, Err(Error::UserNotFound)), "{name}: {gone:?}");
    }
}
