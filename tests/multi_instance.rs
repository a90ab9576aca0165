//! Many app instances on one PostgreSQL: two `Authenticator`s with two pools
//! share pending logins, single use, counters and locks. Needs
//! `DATABASE_URL`; without it the tests print SKIPPED and pass.
#![cfg(feature = "postgres")]

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use twofa_verify::StepUp;
use twofa_verify::{Authenticator, ConsoleSms, Error, LocalCodes, Login, Policy, PostgresStore};

const GOOD: &str = "correct horse battery";
const PHONE: &str = "+14155552671";
const KEY: &[u8] = b"shared-secret-key-of-every-instance-0123";

fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: DATABASE_URL not set; multi-instance PostgreSQL tests did not run"
            );
            None
        }
    }
}

struct Cluster {
    a: Authenticator,
    b: Authenticator,
    sms: ConsoleSms,
    stores: Vec<PostgresStore>,
    schema: String,
}

/// Two instances, each with its own pool, on one fresh schema.
async fn cluster(policy: Policy) -> Option<Cluster> {
    let url = database_url()?;
    let schema = format!("twofa_multi_{:016x}", rand::random::<u64>());
    let sms = ConsoleSms::quiet();
    let mut stores = Vec::new();
    let mut auths = Vec::new();
    for _ in 0..2 {
        let store = PostgresStore::connect_with_schema(&url, &schema)
            .await
            .expect("connect");
        stores.push(store.clone());
        auths.push(
            Authenticator::builder()
                .store(store)
                .secret_key(twofa_verify::SecretKey::from_bytes(KEY.to_vec()).unwrap())
                .sms(LocalCodes::new(sms.clone()))
                .policy(policy.clone())
                .build()
                .unwrap(),
        );
    }
    let b = auths.pop().unwrap();
    let a = auths.pop().unwrap();
    Some(Cluster {
        a,
        b,
        sms,
        stores,
        schema,
    })
}

impl Cluster {
    async fn teardown(self) {
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema);
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(self.stores[0].pool())
            .await
            .unwrap();
        for s in self.stores {
            s.pool().close().await;
        }
    }

    async fn user_with_sms(&self) -> twofa_verify::User {
        let u = self
            .a
            .register("alice", "alice@example.com", &pw(GOOD))
            .await
            .unwrap();
        self.a
            .start_sms_enrollment(u.id, PHONE, &StepUp::password(GOOD))
            .await
            .unwrap();
        // Confirmed on the other instance.
        let _enrolled = self
            .b
            .confirm_sms_enrollment(
                u.id,
                &SecretString::from(self.sms.last_code_for(PHONE).unwrap().as_str()),
            )
            .await
            .unwrap();
        u
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn login_on_one_instance_finishes_on_the_other() {
    let Some(c) = cluster(Policy::default()).await else {
        return;
    };
    let u = c.user_with_sms().await;
    let Login::SecondFactor(ch) = c.a.login("alice", &pw(GOOD)).await.unwrap() else {
        panic!("expected 2FA")
    };
    let got =
        c.b.verify(
            ch.token(),
            &SecretString::from(c.sms.last_code_for(PHONE).unwrap().as_str()),
        )
        .await
        .unwrap();
    assert_eq!(got.user.id, u.id);
    // Used up everywhere.
    assert!(matches!(
        c.a.verify(
            ch.token(),
            &SecretString::from(c.sms.last_code_for(PHONE).unwrap().as_str())
        )
        .await,
        Err(Error::ChallengeNotFound)
    ));
    c.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_code_20_times_at_once_on_two_instances_one_success() {
    let mut p = Policy::default();
    // The losers count as failures; keep them from locking the account mid-test.
    p.delay_after_failures = 50;
    p.lock_after_failures = 50;
    let Some(c) = cluster(p).await else { return };
    c.user_with_sms().await;
    let Login::SecondFactor(ch) = c.a.login("alice", &pw(GOOD)).await.unwrap() else {
        panic!("expected 2FA")
    };
    let code = Arc::new(c.sms.last_code_for(PHONE).unwrap());
    let token = Arc::new(ch.token().to_owned());
    let mut tasks = Vec::new();
    for i in 0..20 {
        let auth = if i % 2 == 0 { c.a.clone() } else { c.b.clone() };
        let (code, token) = (code.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            auth.verify(&token, &SecretString::from(code.as_str()))
                .await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(
                Error::ChallengeNotFound
                | Error::ChallengeExpired
                | Error::InvalidCode { .. }
                | Error::TooManyAttempts,
            ) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(wins, 1);
    c.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failure_counters_and_locks_are_shared() {
    let Some(c) = cluster(Policy::default()).await else {
        return;
    };
    c.a.register("bob", "bob@example.com", &pw(GOOD))
        .await
        .unwrap();
    // Five failures spread over both instances start a delay seen by both.
    for i in 0..5 {
        let auth = if i % 2 == 0 { &c.a } else { &c.b };
        assert!(matches!(
            auth.login("bob", &pw("wrong pw")).await,
            Err(Error::InvalidCredentials)
        ));
    }
    for auth in [&c.a, &c.b] {
        match auth.login("bob", &pw(GOOD)).await {
            Err(Error::Delayed { retry_after } | Error::Locked { retry_after }) => {
                assert!(retry_after <= Duration::from_secs(1))
            }
            other => panic!("{other:?}"),
        }
    }
    c.teardown().await;
}
