//! The audit trail through the `Authenticator`: a failed write fails the
//! call closed, retention and pruning, and the admin actions' promises
//! (a lock holds against a burst from two instances; a forced reset looks
//! like any wrong password).

use std::sync::Arc;
use std::time::Duration;

use twofa_verify::authenticator::Operator;
use twofa_verify::clock::ManualClock;
use twofa_verify::event::RecordingSink;
use twofa_verify::secrecy::SecretString;
use twofa_verify::store::{AuditRecord, AuditStore, NewAuditRecord};
use twofa_verify::{
    AuthEvent, Authenticator, Error, Login, MemoryStore, Policy, RequestContext, SecretKey,
    Timestamp, UserId, async_trait,
};

const PASSWORD: &str = "correct horse battery";

fn key() -> SecretKey {
    SecretKey::from_bytes(b"audit-trail-tests-secret-key-0123456789".to_vec()).unwrap()
}

/// An audit store whose writes fail (a database that is down).
#[derive(Debug)]
struct BrokenAudit;

#[async_trait]
impl AuditStore for BrokenAudit {
    async fn append_audit(&self, _: &NewAuditRecord) -> twofa_verify::Result<()> {
        Err(Error::store("audit database unreachable"))
    }
    async fn audit_for_user(
        &self,
        _: UserId,
        _: Option<i64>,
        _: usize,
    ) -> twofa_verify::Result<Vec<AuditRecord>> {
        Err(Error::store("audit database unreachable"))
    }
    async fn prune_audit(&self, _: Timestamp) -> twofa_verify::Result<u64> {
        Err(Error::store("audit database unreachable"))
    }
}

#[tokio::test]
async fn a_failed_audit_write_refuses_the_login_and_the_sink_still_sees_it() {
    let store = MemoryStore::new();
    let good = Authenticator::builder()
        .store(store.clone())
        .secret_key(key())
        .build()
        .unwrap();
    let pw = SecretString::from(PASSWORD);
    let alice = good
        .register("alice", "alice@example.com", &pw)
        .await
        .unwrap();
    let sink = RecordingSink::new();
    let broken = Authenticator::builder()
        .store(store)
        .audit_store(BrokenAudit)
        .events(sink.clone())
        .secret_key(key())
        .build()
        .unwrap();
    let refused = broken.login("alice", &pw).await;
    assert!(matches!(refused, Err(Error::Store(_))), "{refused:?}");
    assert_eq!(
        sink.events(),
        vec![AuthEvent::LoginSucceeded {
            user: alice.id,
            factor: None
        }],
        "the event is not lost: the sink (a log) has it"
    );
}

#[tokio::test]
async fn retention_prunes_old_records_only() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let mut policy = Policy::default();
    policy.audit_retention = Duration::from_secs(24 * 3600);
    let auth = Authenticator::builder()
        .store(store.clone())
        .audit_store(store.clone())
        .clock(clock.clone())
        .policy(policy.clone())
        .secret_key(key())
        .build()
        .unwrap();
    let pw = SecretString::from(PASSWORD);
    let alice = auth
        .register("alice", "alice@example.com", &pw)
        .await
        .unwrap();
    clock.advance(Duration::from_secs(2 * 24 * 3600));
    assert!(matches!(
        auth.login("alice", &pw).await,
        Ok(Login::Complete(_))
    ));
    assert_eq!(auth.prune_audit().await.unwrap(), 1);
    let left = store.audit_for_user(alice.id, None, 10).await.unwrap();
    let kinds: Vec<_> = left.iter().map(|r| r.entry.kind.as_str()).collect();
    assert_eq!(kinds, ["login_succeeded"]);
    assert_eq!(auth.prune_audit().await.unwrap(), 0);

    policy.audit_retention = Duration::from_secs(3600);
    let Err(Error::Config(why)) = policy.validate() else {
        panic!("an hour's retention was accepted")
    };
    assert!(why.contains("audit_retention"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_lock_holds_against_a_burst_from_two_instances() {
    let store = MemoryStore::new();
    let make = || {
        Authenticator::builder()
            .store(store.clone())
            .audit_store(store.clone())
            .secret_key(key())
            .build()
            .unwrap()
    };
    let (one, two) = (make(), make());
    let pw = SecretString::from(PASSWORD);
    let alice = one
        .register("alice", "alice@example.com", &pw)
        .await
        .unwrap();
    let op = Operator::new("jane", "account takeover suspected").unwrap();
    one.admin().lock(alice.id, &op).await.unwrap();
    let burst = 200;
    let barrier = Arc::new(tokio::sync::Barrier::new(burst));
    let handles: Vec<_> = (0..burst)
        .map(|i| {
            let auth = if i % 2 == 0 { one.clone() } else { two.clone() };
            let barrier = Arc::clone(&barrier);
            let ident = if i % 4 < 2 {
                "alice"
            } else {
                "alice@example.com"
            };
            tokio::spawn(async move {
                barrier.wait().await;
                auth.login(ident, &SecretString::from(PASSWORD)).await
            })
        })
        .collect();
    for h in handles {
        let r = h.await.unwrap();
        assert!(matches!(r, Err(Error::Locked { .. })), "{r:?}");
    }
    two.admin().unlock(alice.id, &op).await.unwrap();
    assert!(matches!(
        one.login("alice", &pw).await,
        Ok(Login::Complete(_))
    ));
}

#[tokio::test]
async fn a_forced_reset_answers_like_a_wrong_password() {
    let store = MemoryStore::new();
    let sink = RecordingSink::new();
    let auth = Authenticator::builder()
        .store(store.clone())
        .audit_store(store.clone())
        .events(sink.clone())
        .secret_key(key())
        .build()
        .unwrap();
    let pw = SecretString::from(PASSWORD);
    let alice = auth
        .register("alice", "alice@example.com", &pw)
        .await
        .unwrap();
    let bob = auth.register("bob", "bob@example.com", &pw).await.unwrap();
    let op = Operator::new("jane", "password found in a breach").unwrap();
    auth.admin()
        .force_password_reset(alice.id, &op)
        .await
        .unwrap();
    let client =
        auth.with_context(RequestContext::new().with_ip("2001:db8:7:1::9".parse().unwrap()));
    let forced = client.login("alice", &pw).await;
    let wrong = client
        .login("bob", &SecretString::from("not bob's password"))
        .await;
    assert!(
        matches!(forced, Err(Error::InvalidCredentials)),
        "{forced:?}"
    );
    assert!(matches!(wrong, Err(Error::InvalidCredentials)), "{wrong:?}");
    let failed: Vec<_> = sink
        .events()
        .into_iter()
        .filter(|e| matches!(e, AuthEvent::LoginFailed { .. }))
        .collect();
    assert_eq!(
        failed,
        [
            AuthEvent::LoginFailed {
                user: Some(alice.id),
                failures: 1
            },
            AuthEvent::LoginFailed {
                user: Some(bob.id),
                failures: 1
            },
        ]
    );
    let trail = store.audit_for_user(alice.id, None, 10).await.unwrap();
    assert_eq!(trail[0].entry.kind, "login_failed");
    assert_eq!(trail[0].entry.network.as_deref(), Some("2001:db8:7::/48"));
    assert_eq!(trail[1].entry.kind, "admin_password_reset_forced");
    assert_eq!(trail[1].entry.operator.as_deref(), Some("jane"));
    assert_eq!(
        trail[1].entry.reason.as_deref(),
        Some("password found in a breach")
    );
    // A reset link still works.
    let token = auth
        .request_password_reset("alice@example.com")
        .await
        .unwrap()
        .unwrap();
    let new = SecretString::from("a brand new passphrase");
    auth.reset_password(token.token(), &new).await.unwrap();
    assert!(matches!(
        auth.login("alice", &new).await,
        Ok(Login::Complete(_))
    ));
}
