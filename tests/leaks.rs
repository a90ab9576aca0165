//! What limits and locks must not tell an outsider, on every store and
//! across two app instances: which identifiers belong to one account, and
//! how the per-client limits hold when a client spreads over its network,
//! and that a spent enrollment SMS budget neither stops login codes nor
//! goes unnoticed.
//! PostgreSQL needs `DATABASE_URL` and Redis `REDIS_URL`; without them
//! those cases print SKIPPED and pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use harness::{BAD, GOOD, KINDS, Site, burst, policy, pw, site};
use twofa_verify::policy::ClientNetworks;
use twofa_verify::{
    AuthEvent, Error, Login, Policy, RateLimit, RequestContext, SmsDelivery, StepUp,
};

/// Fails `identifier` with wrong passwords until it answers
/// [`Error::Locked`] for the right one; returns the failures it took.
async fn fail_until_locked(site: &Site, identifier: &str, p: &Policy) -> u32 {
    let mut failures = 0;
    loop {
        match site.at(failures as usize).login(identifier, &pw(BAD)).await {
            Err(Error::InvalidCredentials) => failures += 1,
            Err(Error::Delayed { .. } | Error::Locked { .. }) => {
                // A delay: wait it out, unless it is the lock.
                if failures >= p.lock_after_failures {
                    return failures;
                }
                site.clock.advance(p.delay_max);
            }
            other => panic!("{identifier}: {other:?}"),
        }
        assert!(failures <= 100, "{identifier} never locked");
    }
}

/// The first answers a fresh identifier gives: wrong passwords are wrong
/// until the delay threshold, and the right one then logs in.
async fn answers_like_a_fresh_identifier(site: &Site, identifier: &str, p: &Policy) {
    for i in 1..p.delay_after_failures {
        let r = site.at(i as usize).login(identifier, &pw(BAD)).await;
        assert!(
            matches!(r, Err(Error::InvalidCredentials)),
            "{identifier}: failure {i} answered {r:?}"
        );
    }
    let r = site.at(1).login(identifier, &pw(GOOD)).await;
    assert!(
        matches!(r, Ok(Login::Complete(_))),
        "{identifier}: the right password answered {r:?}"
    );
}

/// Locking an account by its email address does not change what its
/// username answers, and the other way round: the lock does not tell that
/// the two belong together. Each, once locked, stays locked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lock_by_email_does_not_link_the_username() {
    let p = policy();
    for kind in KINDS {
        let Some(site) = site(kind, p.clone()).await else {
            continue;
        };
        site.user("alice").await;
        site.user("bob").await;
        let by_email = fail_until_locked(&site, "alice@example.com", &p).await;
        assert_eq!(by_email, p.lock_after_failures, "{kind:?}");
        answers_like_a_fresh_identifier(&site, "alice", &p).await;
        assert!(
            matches!(
                site.at(0).login("alice@example.com", &pw(GOOD)).await,
                Err(Error::Delayed { .. } | Error::Locked { .. })
            ),
            "{kind:?}: the email's lock holds"
        );

        let by_name = fail_until_locked(&site, "bob", &p).await;
        assert_eq!(by_name, p.lock_after_failures, "{kind:?}");
        answers_like_a_fresh_identifier(&site, "bob@example.com", &p).await;
        assert!(
            matches!(
                site.at(1).login("bob", &pw(GOOD)).await,
                Err(Error::Delayed { .. } | Error::Locked { .. })
            ),
            "{kind:?}: the username's lock holds"
        );
        // Both ways locked: the account saw at most 2 × 50 failures.
        site.clock.advance(p.lock_duration + Duration::from_secs(1));
        assert!(site.at(0).login("bob", &pw(GOOD)).await.is_ok());
    }
}

/// An account named both ways at once: 400 wrong passwords, half by email
/// and half by username, released together on two instances. Each way is
/// held to its own free attempts (5), so the account sees exactly twice
/// that before its delays: the two counters never add up to more.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn both_identifiers_at_once_are_each_held() {
    let p = policy();
    for kind in KINDS {
        let Some(site) = site(kind, p.clone()).await else {
            continue;
        };
        site.user("erin").await;
        let results = burst(400, |i| {
            let auth = site.at(i).clone();
            let name = if i % 2 == 0 {
                "erin"
            } else {
                "erin@example.com"
            };
            async move { (i % 2, auth.login(name, &pw(BAD)).await) }
        })
        .await;
        for way in 0..2 {
            let evaluated = results
                .iter()
                .filter(|(w, r)| *w == way && matches!(r, Err(Error::InvalidCredentials)))
                .count();
            let refused = results
                .iter()
                .filter(|(w, r)| {
                    *w == way && matches!(r, Err(Error::Delayed { .. } | Error::Locked { .. }))
                })
                .count();
            assert_eq!(
                evaluated, p.delay_after_failures as usize,
                "{kind:?}: way {way}"
            );
            assert_eq!(evaluated + refused, 200, "{kind:?}: way {way}");
        }
    }
}

/// The policy of the network tests: 4 failures per client, and the
/// networks around it at 3× (IPv4 /24), 2× (IPv6 /56) and 5× (IPv6 /48).
fn network_policy() -> Policy {
    let mut p = policy();
    p.client_failures = RateLimit::new(4, Duration::from_secs(900));
    p.client_registrations = RateLimit::new(4, Duration::from_secs(3600));
    let mut n = ClientNetworks::default();
    n.ipv4_24 = 3;
    n.ipv6_56 = 2;
    n.ipv6_48 = 5;
    p.client_networks = n;
    p
}

fn at(ip: String) -> RequestContext {
    RequestContext::new().with_ip(ip.parse::<IpAddr>().unwrap())
}

/// Each network's "at most N" failures under a burst, on every store and
/// both instances: 200 failed logins spread over many clients of one network
/// (each far under its own limit) evaluate exactly the network's limit; a
/// client of a neighbouring network is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_network_holds_its_failure_limit_under_a_burst() {
    type Spread = fn(usize) -> String;
    let tiers: [(&str, Spread, usize, String); 3] = [
        // 50 addresses of 198.51.100.0/24: 4 each would be 200.
        (
            "IPv4 /24",
            |i| format!("198.51.100.{}", i % 50),
            12,
            "198.51.101.1".into(),
        ),
        // 100 /64s of 2001:db8:1::/56: 4 each would be 400.
        (
            "IPv6 /56",
            |i| format!("2001:db8:1:{:x}::1", i % 100),
            8,
            "2001:db8:1:100::1".into(),
        ),
        // 100 /56s of 2001:db8:2::/48: 8 each would be 800.
        (
            "IPv6 /48",
            |i| format!("2001:db8:2:{:x}00::1", i % 100),
            20,
            "2001:db8:3::1".into(),
        ),
    ];
    for kind in KINDS {
        let Some(site) = site(kind, network_policy()).await else {
            continue;
        };
        site.user("carol").await;
        for (tier, spread, limit, neighbour) in &tiers {
            let results = burst(200, |i| {
                let auth = site.at(i).with_context(at(spread(i)));
                async move { auth.login(&format!("user{i}"), &pw(BAD)).await }
            })
            .await;
            let evaluated = results
                .iter()
                .filter(|r| matches!(r, Err(Error::InvalidCredentials)))
                .count();
            let limited = results
                .iter()
                .filter(|r| matches!(r, Err(Error::RateLimited { .. })))
                .count();
            assert_eq!(evaluated, *limit, "{kind:?} {tier}: {results:?}");
            assert_eq!(limited, 200 - limit, "{kind:?} {tier}");
            // A fresh client of the network is refused even the right
            // password; one next door logs in.
            let r = site
                .at(0)
                .with_context(at(spread(77)))
                .login("carol", &pw(GOOD))
                .await;
            assert!(
                matches!(r, Err(Error::RateLimited { .. })),
                "{kind:?} {tier}: {r:?}"
            );
            let r = site
                .at(1)
                .with_context(at(neighbour.clone()))
                .login("carol", &pw(GOOD))
                .await;
            assert!(r.is_ok(), "{kind:?} {tier}: the neighbour: {r:?}");
        }
        assert!(site.count(|e| matches!(e, AuthEvent::ClientLimited { .. })) >= 3);
    }
}

/// The limits reserved one budget after another (registrations here) hold
/// for a network too: a burst of registrations from 40 addresses of one
/// /24 creates at most the /24's 12 accounts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_network_holds_its_registration_limit_under_a_burst() {
    for kind in KINDS {
        let Some(site) = site(kind, network_policy()).await else {
            continue;
        };
        let results = burst(200, |i| {
            let auth = site.at(i).with_context(at(format!("203.0.113.{}", i % 40)));
            async move {
                auth.register(
                    &format!("new{i}"),
                    &format!("new{i}@example.com"),
                    &pw(GOOD),
                )
                .await
            }
        })
        .await;
        let created = results.iter().filter(|r| r.is_ok()).count();
        let limited = results
            .iter()
            .filter(|r| matches!(r, Err(Error::RateLimited { .. })))
            .count();
        assert!((1..=12).contains(&created), "{kind:?}: {created} created");
        assert_eq!(created + limited, 200, "{kind:?}: {results:?}");
        let r = site
            .at(0)
            .with_context(at("203.0.114.1".into()))
            .register("next_door", "next_door@example.com", &pw(GOOD))
            .await;
        assert!(r.is_ok(), "{kind:?}: {r:?}");
    }
}

/// About 20 addresses spend the site's budget of texts to unverified
/// numbers (enrollments): 21 clients, each within its own SMS limit, enroll
/// 210 numbers at once. Exactly the budget's texts go out; the operator is
/// told once (across both instances); a verified phone still gets its
/// login code, and its owner's step-up code.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spent_enrollment_budget_never_stops_login_codes() {
    let mut p = policy();
    p.client_sms = RateLimit::new(10, Duration::from_secs(3600));
    // Each pumper steps up ten times at once: its account's delays (which
    // count attempts in flight) stay out of the way.
    p.delay_after_failures = 50;
    p.lock_after_failures = 50;
    let budget = p.sms_unverified_global.max as usize;
    assert_eq!(budget, 200, "the default budget");
    for kind in KINDS {
        let Some(site) = site(kind, p.clone()).await else {
            continue;
        };
        let victim = site.user("victim").await;
        site.with_sms(&victim, "+14155552671").await;
        let mut pumpers = Vec::new();
        for i in 0..21 {
            pumpers.push(site.user(&format!("pumper{i}")).await);
        }
        let pumpers = Arc::new(pumpers);
        let results = burst(210, |i| {
            // Client i / 10, each in a /24 of its own.
            let client = i / 10;
            let auth = site.at(i).with_context(at(format!("10.{client}.0.1")));
            let pumpers = pumpers.clone();
            async move {
                auth.start_sms_enrollment(
                    pumpers[client].id,
                    &format!("+1415555{:04}", 5000 + i),
                    &StepUp::password(GOOD),
                )
                .await
            }
        })
        .await;
        let sent = results.iter().filter(|r| r.is_ok()).count();
        let limited = results
            .iter()
            .filter(|r| matches!(r, Err(Error::RateLimited { .. })))
            .count();
        // The victim's own enrollment spent one.
        assert_eq!(sent, budget - 1, "{kind:?}");
        assert_eq!(limited, 210 - sent, "{kind:?}");
        let told = site.count(|e| {
            matches!(
                e,
                AuthEvent::SmsBudgetExhausted {
                    unverified: true,
                    retry_after
                } if *retry_after > 0 && *retry_after <= 3600
            )
        });
        assert_eq!(told, 1, "{kind:?}: the operator is told once");
        // Not the clients' fault: no client is reported for it.
        assert_eq!(
            site.count(|e| matches!(e, AuthEvent::ClientLimited { .. })),
            0,
            "{kind:?}"
        );
        // Later refusals in the same window tell nothing new.
        let r = site
            .at(1)
            .with_context(at("10.99.0.1".into()))
            .start_sms_enrollment(pumpers[20].id, "+14155559999", &StepUp::password(GOOD))
            .await;
        assert!(
            matches!(r, Err(Error::RateLimited { .. })),
            "{kind:?}: {r:?}"
        );
        assert_eq!(
            site.count(|e| matches!(e, AuthEvent::SmsBudgetExhausted { .. })),
            1,
            "{kind:?}"
        );
        // The verified phone's login code goes out, from either instance.
        for i in 0..2 {
            let login = site
                .at(i)
                .with_context(at("10.200.0.1".into()))
                .login("victim", &pw(GOOD))
                .await;
            match login {
                Ok(Login::SecondFactor(ch)) => assert!(
                    matches!(ch.sms, Some(SmsDelivery::Sent { .. })),
                    "{kind:?}: {:?}",
                    ch.sms
                ),
                other => panic!("{kind:?}: {other:?}"),
            }
        }
        // The next window has its budget back, and is told again when spent.
        site.clock.advance(Duration::from_secs(3601));
        let r = site
            .at(0)
            .start_sms_enrollment(pumpers[0].id, "+14155558888", &StepUp::password(GOOD))
            .await;
        assert!(r.is_ok(), "{kind:?}: {r:?}");
    }
}

/// The login-code budget raises the same event when spent (marked as the
/// verified phones' budget), once per window.
#[tokio::test]
async fn a_spent_login_code_budget_is_told_once() {
    let mut p = policy();
    p.sms_global = RateLimit::new(2, Duration::from_secs(3600));
    p.resend_interval = Duration::ZERO;
    let site = site(harness::Kind::Memory, p).await.unwrap();
    let user = site.user("dora").await;
    site.with_sms(&user, "+14155552671").await;
    let Ok(Login::SecondFactor(ch)) = site.at(0).login("dora", &pw(GOOD)).await else {
        panic!("SMS is enabled")
    };
    assert!(site.at(1).resend(ch.token()).await.is_ok());
    for _ in 0..3 {
        let r = site.at(0).resend(ch.token()).await;
        assert!(matches!(r, Err(Error::RateLimited { .. })), "{r:?}");
    }
    let told: Vec<_> = site
        .events
        .events()
        .into_iter()
        .filter(|e| matches!(e, AuthEvent::SmsBudgetExhausted { .. }))
        .collect();
    assert!(
        matches!(
            told.as_slice(),
            [AuthEvent::SmsBudgetExhausted {
                unverified: false,
                ..
            }]
        ),
        "{told:?}"
    );
}

/// Unusual client addresses (IPv4-mapped and IPv4-compatible IPv6,
/// link-local, loopback, unspecified, 6to4, the broadcast address) are
/// limited like any other: no panic, and an IPv4-mapped address shares the
/// budget of the IPv4 address it carries.
#[tokio::test]
async fn unusual_client_addresses_are_limited_like_others() {
    let site = site(harness::Kind::Memory, network_policy()).await.unwrap();
    for (n, ip) in [
        "fe80::1",
        "::1",
        "2002:c000:201::1",
        "255.255.255.255",
        "0.0.0.0",
        "ff02::1",
    ]
    .iter()
    .enumerate()
    {
        let auth = site.at(0).with_context(at(ip.to_string()));
        for i in 0..4 {
            // A name of its own each: the unknown names' lockouts stay out of it.
            let r = auth.login(&format!("ghost{n}x{i}"), &pw(BAD)).await;
            assert!(matches!(r, Err(Error::InvalidCredentials)), "{ip}: {r:?}");
        }
        let r = auth.login("ghost9", &pw(BAD)).await;
        assert!(matches!(r, Err(Error::RateLimited { .. })), "{ip}: {r:?}");
    }
    // The unspecified and IPv4-compatible addresses are in the /64 of
    // loopback, whose budget is spent.
    for ip in ["::", "::192.0.2.1"] {
        let r = site
            .at(1)
            .with_context(at(ip.into()))
            .login("ghost", &pw(BAD))
            .await;
        assert!(matches!(r, Err(Error::RateLimited { .. })), "{ip}: {r:?}");
    }
    // Four failures from an address, one more from its IPv4-mapped form: refused.
    for i in 0..4 {
        let r = site
            .at(1)
            .with_context(at("192.0.2.77".into()))
            .login(&format!("spook{i}"), &pw(BAD))
            .await;
        assert!(matches!(r, Err(Error::InvalidCredentials)), "{r:?}");
    }
    let r = site
        .at(0)
        .with_context(at("::ffff:192.0.2.77".into()))
        .login("spook9", &pw(BAD))
        .await;
    assert!(matches!(r, Err(Error::RateLimited { .. })), "{r:?}");
}
