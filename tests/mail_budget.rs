//! The mail budget of an address (`Policy::mail_per_address`, default 5
//! an hour): confirmation links, "already registered" notices, reset links
//! and the application's own notices share it, on every store and across
//! two instances. Past it, confirmations and resets are not produced (the
//! visitor's answer stays the same) and notices get exactly one summary per
//! window; every mail left out raises `AuthEvent::MailSuppressed`.
//! PostgreSQL and Redis need `DATABASE_URL` and `REDIS_URL`; without them
//! those cases print SKIPPED and pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::time::Duration;

use async_trait::async_trait;
use harness::{BAD, GOOD, KINDS, Site, burst, pw, site};
use twofa_verify::event::MailKind;
use twofa_verify::store::Counter;
use twofa_verify::{
    AuthEvent, Authenticator, Error, MailDecision, MemoryStore, Policy, RateLimit,
    RegistrationStart, StateStore, StepUp, Timestamp, UserId,
};

const BURST: usize = 300;

/// The harness policy with the other per-address and per-client limits out
/// of the way, so that only the mail budget (default) speaks.
fn mail_policy() -> Policy {
    let mut p = harness::policy();
    p.reset_requests = RateLimit::new(10_000, Duration::from_secs(3600));
    assert_eq!(
        p.mail_per_address,
        RateLimit::new(5, Duration::from_secs(3600)),
        "the documented default"
    );
    p
}

/// How many mails of `kind` were left out, and how many of those were
/// replaced by a summary.
fn suppressed(site: &Site, kind: MailKind) -> (usize, usize) {
    let events = site.events.events();
    let of_kind = |summary: bool| {
        events
            .iter()
            .filter(|e| {
                matches!(e, AuthEvent::MailSuppressed { mail, summary: s, .. }
                    if *mail == kind && *s == summary)
            })
            .count()
    };
    (of_kind(false) + of_kind(true), of_kind(true))
}

fn decisions(results: &[Result<MailDecision, Error>]) -> (usize, usize, usize) {
    let count = |d: MailDecision| {
        results
            .iter()
            .filter(|r| matches!(r, Ok(x) if *x == d))
            .count()
    };
    (
        count(MailDecision::Send),
        count(MailDecision::SendSummary),
        count(MailDecision::Suppressed),
    )
}

/// 40 registrations for one address, released together on two instances:
/// at most 5 mails (links or notices), the other 35 answered alike without
/// a mail, each recorded by an event.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_registrations_for_one_address_send_at_most_five_mails() {
    for kind in KINDS {
        let Some(site) = site(kind, mail_policy()).await else {
            continue;
        };
        let results = burst(40, |i| {
            let auth = site.at(i).clone();
            // Spellings of one address: the budget is the normalised one's.
            let email = if i % 2 == 0 {
                "Victim@Example.com"
            } else {
                " victim@example.com"
            };
            async move { auth.start_registration(&format!("reg{i}"), email).await }
        })
        .await;
        let mails = results
            .iter()
            .filter(|r| matches!(r, Ok(RegistrationStart::Confirm(_))))
            .count();
        let left_out = results
            .iter()
            .filter(|r| matches!(r, Ok(RegistrationStart::MailSuppressed)))
            .count();
        assert_eq!((mails, left_out), (5, 35), "{kind:?}: {results:?}");
        assert_eq!(
            suppressed(&site, MailKind::RegistrationConfirmation),
            (35, 0),
            "{kind:?}"
        );
    }
}

/// A taken address: the owner's "already registered" notices share the
/// budget, and past it the answer is the same as for a new address.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn already_registered_notices_share_the_budget() {
    for kind in KINDS {
        let Some(site) = site(kind, mail_policy()).await else {
            continue;
        };
        let owner = site
            .at(0)
            .start_registration("owner", "owner@example.com")
            .await
            .unwrap();
        let RegistrationStart::Confirm(link) = owner else {
            panic!("{kind:?}: {owner:?}")
        };
        let user = site
            .at(1)
            .confirm_registration(link.token(), &pw(GOOD))
            .await
            .unwrap();
        let mut notices = 0;
        for i in 0..12 {
            match site
                .at(i)
                .start_registration(&format!("again{i}"), "OWNER@example.com")
                .await
                .unwrap()
            {
                RegistrationStart::AlreadyRegistered { .. } => notices += 1,
                RegistrationStart::MailSuppressed => {}
                other => panic!("{kind:?}: {other:?}"),
            }
        }
        // The link took one place: 4 notices, 8 left out.
        assert_eq!(notices, 4, "{kind:?}");
        let events = site.events.events();
        let left_out: Vec<_> = events
            .iter()
            .filter(|e| matches!(e, AuthEvent::MailSuppressed { .. }))
            .collect();
        assert_eq!(left_out.len(), 8, "{kind:?}");
        assert!(
            left_out.iter().all(|e| **e
                == AuthEvent::MailSuppressed {
                    user: Some(user.id),
                    mail: MailKind::AlreadyRegistered,
                    summary: false,
                }),
            "{kind:?}: {left_out:?}"
        );
    }
}

/// Reset links: past the budget the answer is `None`, as for an address
/// with no account, and an event names the account.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reset_links_past_the_budget_answer_like_unknown_addresses() {
    for kind in KINDS {
        let Some(site) = site(kind, mail_policy()).await else {
            continue;
        };
        let erin = site.user("erin").await;
        let tokens = burst(BURST, |i| {
            let auth = site.at(i).clone();
            async move { auth.request_password_reset("erin@example.com").await }
        })
        .await;
        let sent = tokens.iter().filter(|r| matches!(r, Ok(Some(_)))).count();
        let none = tokens.iter().filter(|r| matches!(r, Ok(None))).count();
        assert_eq!((sent, none), (5, BURST - 5), "{kind:?}");
        assert_eq!(
            site.count(|e| *e
                == AuthEvent::MailSuppressed {
                    user: Some(erin.id),
                    mail: MailKind::PasswordReset,
                    summary: false,
                }),
            BURST - 5,
            "{kind:?}"
        );
        // An unknown address answers `None` from the first request on, and
        // raises no event: no mail would have gone.
        for i in 0..8 {
            assert!(matches!(
                site.at(i)
                    .request_password_reset("nobody@example.com")
                    .await,
                Ok(None)
            ));
        }
        assert_eq!(
            site.count(|e| matches!(e, AuthEvent::MailSuppressed { user: None, .. })),
            0
        );
    }
}

/// Hundreds of notices for one address at once, on two instances: exactly
/// the budget is sent, exactly one summary, the rest suppressed, and every
/// one past the budget has its event.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notice_burst_sends_the_budget_and_one_summary() {
    for kind in KINDS {
        let Some(site) = site(kind, mail_policy()).await else {
            continue;
        };
        let dana = site.user("dana").await;
        let results = burst(BURST, |i| {
            let auth = site.at(i).clone();
            async move { auth.reserve_mail("dana@example.com", Some(dana.id)).await }
        })
        .await;
        assert_eq!(decisions(&results), (5, 1, BURST - 6), "{kind:?}");
        assert_eq!(
            suppressed(&site, MailKind::Notice),
            (BURST - 5, 1),
            "{kind:?}"
        );
    }
}

/// Email-change links go to an address the user types, perhaps someone
/// else's: they share that address's budget, and past it the change is
/// refused with `RateLimited` (no link made) and an event.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn email_change_links_share_the_new_addresss_budget() {
    for kind in KINDS {
        let Some(site) = site(kind, mail_policy()).await else {
            continue;
        };
        let kay = site.user("kay").await;
        // Someone else's mail to the target already took one place.
        assert_eq!(
            site.at(1)
                .reserve_mail("target@example.com", None)
                .await
                .unwrap(),
            MailDecision::Send
        );
        let mut links = 0;
        let mut refused = 0;
        for i in 0..8 {
            match site
                .at(i)
                .start_email_change(kay.id, "Target@example.com", &StepUp::password(GOOD))
                .await
            {
                Ok(_) => links += 1,
                Err(Error::RateLimited { retry_after, .. }) => {
                    assert!(retry_after <= Duration::from_secs(3600), "{retry_after:?}");
                    refused += 1;
                }
                Err(e) => panic!("{kind:?}: {e:?}"),
            }
        }
        assert_eq!((links, refused), (4, 4), "{kind:?}");
        assert_eq!(
            site.count(|e| *e
                == AuthEvent::MailSuppressed {
                    user: Some(kay.id),
                    mail: MailKind::EmailChangeConfirmation,
                    summary: false,
                }),
            4,
            "{kind:?}"
        );
        // A wrong password spends nothing of the target's budget.
        site.clock.advance(Duration::from_secs(3601));
        assert!(matches!(
            site.at(0)
                .start_email_change(kay.id, "target@example.com", &StepUp::password(BAD))
                .await,
            Err(Error::InvalidCredentials)
        ));
        let mut got = Vec::new();
        for i in 0..7 {
            got.push(site.at(i).reserve_mail("target@example.com", None).await);
        }
        assert_eq!(decisions(&got), (5, 1, 1), "{kind:?}");
    }
}

/// Every kind of mail at once on one address (registrations, resets,
/// notices): together at most the budget, plus one summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_burst_holds_one_budget_for_every_kind() {
    for kind in KINDS {
        let Some(site) = site(kind, mail_policy()).await else {
            continue;
        };
        let fay = site.user("fay").await;
        #[derive(Debug)]
        enum Sent {
            Mail,
            Summary,
            Nothing,
        }
        let results = burst(BURST, |i| {
            let auth = site.at(i).clone();
            async move {
                match i % 10 {
                    // A few registrations.
                    0 if i < 60 => match auth
                        .start_registration(&format!("x{i}"), "fay@example.com")
                        .await
                        .unwrap()
                    {
                        RegistrationStart::AlreadyRegistered { .. } => Sent::Mail,
                        RegistrationStart::MailSuppressed => Sent::Nothing,
                        other => panic!("{other:?}"),
                    },
                    1..=4 => match auth.request_password_reset("FAY@example.com").await {
                        Ok(Some(_)) => Sent::Mail,
                        Ok(None) => Sent::Nothing,
                        Err(e) => panic!("{e:?}"),
                    },
                    _ => match auth.reserve_mail("fay@example.com", Some(fay.id)).await {
                        Ok(MailDecision::Send) => Sent::Mail,
                        Ok(MailDecision::SendSummary) => Sent::Summary,
                        Ok(_) => Sent::Nothing,
                        Err(e) => panic!("{e:?}"),
                    },
                }
            }
        })
        .await;
        let mails = results.iter().filter(|s| matches!(s, Sent::Mail)).count();
        let summaries = results
            .iter()
            .filter(|s| matches!(s, Sent::Summary))
            .count();
        assert_eq!((mails, summaries), (5, 1), "{kind:?}: {results:?}");
        let left_out = site.count(|e| matches!(e, AuthEvent::MailSuppressed { .. }));
        assert_eq!(
            left_out,
            BURST - 5,
            "{kind:?}: every mail left out is recorded"
        );
    }
}

/// The budget is a window: once it has run out, the address gets its
/// budget and a summary of its own again. Other addresses are untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_window_brings_a_new_budget_and_summary() {
    for kind in KINDS {
        let Some(site) = site(kind, mail_policy()).await else {
            continue;
        };
        let id = Some(UserId(7));
        let reserve = |i: usize, to: &'static str| site.at(i).reserve_mail(to, id);
        for round in 0..2 {
            let mut got = Vec::new();
            for i in 0..9 {
                got.push(reserve(i, "gus@example.com").await);
            }
            assert_eq!(decisions(&got), (5, 1, 3), "{kind:?} round {round}");
            assert_eq!(
                reserve(0, "other@example.com").await.unwrap(),
                MailDecision::Send,
                "{kind:?}: another address has its own budget"
            );
            site.clock.advance(Duration::from_secs(3601));
        }
    }
}

/// Hostile addresses are typed errors that spend nothing; the budget is
/// the normalised address's, whatever its spelling.
#[tokio::test]
async fn bad_addresses_are_refused_and_spellings_share_one_budget() {
    let site = site(harness::Kind::Memory, mail_policy()).await.unwrap();
    let long = format!("{}@example.com", "a".repeat(2000));
    for bad in [
        "",
        "no-at-sign",
        "a@b@c",
        "a b@example.com",
        "\0@x.org",
        &long,
    ] {
        assert!(
            matches!(
                site.at(0).reserve_mail(bad, None).await,
                Err(Error::InvalidEmail)
            ),
            "{bad:?}"
        );
    }
    let spellings = [
        "hal@example.com",
        "HAL@EXAMPLE.COM",
        " hal@example.com ",
        "\u{FF48}al@example.com", // fullwidth h, NFKC
        "Hal@Example.com",
    ];
    for s in spellings {
        assert_eq!(
            site.at(0).reserve_mail(s, None).await.unwrap(),
            MailDecision::Send,
            "{s:?}"
        );
    }
    assert_eq!(
        site.at(1)
            .reserve_mail("hAL@example.COM", None)
            .await
            .unwrap(),
        MailDecision::SendSummary
    );
}

/// A policy without a mail budget is refused when built.
#[test]
fn a_zero_mail_budget_is_refused() {
    let mut p = Policy::default();
    p.mail_per_address = RateLimit::new(0, Duration::from_secs(3600));
    assert!(matches!(p.validate(), Err(Error::Config(m)) if m.contains("mail_per_address")));
}

/// A state store whose mail counter (or summary mark) fails: the failure
/// closes, i.e. no mail is produced and no decision says "send".
#[derive(Debug, Clone)]
struct BrokenMailBudget {
    inner: MemoryStore,
    /// Fail the summary mark rather than the counter.
    mark: bool,
}

fn gone() -> Error {
    Error::store(std::io::Error::other("the state store is gone"))
}

#[async_trait]
impl StateStore for BrokenMailBudget {
    async fn put(&self, k: &str, v: &[u8], e: Timestamp) -> twofa_verify::Result<()> {
        self.inner.put(k, v, e).await
    }
    async fn put_if_absent(
        &self,
        k: &str,
        v: &[u8],
        e: Timestamp,
        n: Timestamp,
    ) -> twofa_verify::Result<bool> {
        if self.mark && k.starts_with("mail-sum:") {
            return Err(gone());
        }
        self.inner.put_if_absent(k, v, e, n).await
    }
    async fn put_if_present(
        &self,
        k: &str,
        v: &[u8],
        e: Timestamp,
        n: Timestamp,
    ) -> twofa_verify::Result<bool> {
        self.inner.put_if_present(k, v, e, n).await
    }
    async fn get(&self, k: &str, n: Timestamp) -> twofa_verify::Result<Option<Vec<u8>>> {
        self.inner.get(k, n).await
    }
    async fn take(&self, k: &str, n: Timestamp) -> twofa_verify::Result<Option<Vec<u8>>> {
        self.inner.take(k, n).await
    }
    async fn delete(&self, k: &str) -> twofa_verify::Result<()> {
        self.inner.delete(k).await
    }
    async fn increment(
        &self,
        k: &str,
        t: Duration,
        x: bool,
        n: Timestamp,
    ) -> twofa_verify::Result<Counter> {
        if !self.mark && k.starts_with("rl:mail:") {
            return Err(gone());
        }
        self.inner.increment(k, t, x, n).await
    }
    async fn advance(
        &self,
        k: &str,
        v: i64,
        e: Timestamp,
        n: Timestamp,
    ) -> twofa_verify::Result<bool> {
        self.inner.advance(k, v, e, n).await
    }
}

#[tokio::test]
async fn a_failing_mail_budget_sends_nothing() {
    for mark in [false, true] {
        let users = MemoryStore::new();
        let auth = Authenticator::builder()
            .user_store(users.clone())
            .state_store(BrokenMailBudget { inner: users, mark })
            .secret_key(
                twofa_verify::SecretKey::from_bytes(
                    b"mail-budget-test-secret-key-0123456789".to_vec(),
                )
                .unwrap(),
            )
            .policy(mail_policy())
            .build()
            .unwrap();
        if mark {
            // The counter works: the budget is spent, then the summary
            // mark fails and nothing is sent in its place.
            for _ in 0..5 {
                assert_eq!(
                    auth.reserve_mail("jo@example.com", None).await.unwrap(),
                    MailDecision::Send
                );
            }
            assert!(matches!(
                auth.reserve_mail("jo@example.com", None).await,
                Err(Error::Store(_))
            ));
            continue;
        }
        assert!(matches!(
            auth.reserve_mail("jo@example.com", None).await,
            Err(Error::Store(_))
        ));
        assert!(matches!(
            auth.start_registration("jo", "jo@example.com").await,
            Err(Error::Store(_))
        ));
        assert!(matches!(
            auth.request_password_reset("jo@example.com").await,
            Err(Error::Store(_))
        ));
    }
}
