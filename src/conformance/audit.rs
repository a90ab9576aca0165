//! Checks of an [`AuditStore`]: order, paging, per-user isolation, verbatim
//! text, pruning, bursts of appends, and the trail an [`Authenticator`]
//! writes through it (from two instances at once, with nothing secret in
//! it). Each takes a fresh store that is also a user and state store (the
//! trail's records belong to users); see [`run_audit_store`](super::run_audit_store).

use std::sync::Arc;

use secrecy::SecretString;

use super::{HOSTILE, RACERS, StoreUnderTest, at, create, race};
use crate::store::{AuditRecord, AuditStore, NewAuditRecord};
use crate::{Authenticator, Error, RequestContext, UserId};

/// What an audit store under test must be: also a user and state store,
/// cloneable and `'static` (see [`run_audit_store`](super::run_audit_store)).
pub trait AuditStoreUnderTest: StoreUnderTest + AuditStore {}
impl<S: StoreUnderTest + AuditStore> AuditStoreUnderTest for S {}

fn entry(user: UserId, ms: i64, kind: &str) -> NewAuditRecord {
    NewAuditRecord {
        user,
        at: at(ms),
        kind: kind.to_owned(),
        detail: Some("totp".into()),
        network: Some("203.0.113.0/24".into()),
        device: Some("Firefox on Linux".into()),
        operator: None,
        reason: None,
    }
}

async fn all(store: &impl AuditStore, user: UserId) -> Vec<AuditRecord> {
    store.audit_for_user(user, None, usize::MAX).await.unwrap()
}

/// Appends come back newest first, paged by id, each user's alone, every
/// field as written.
///
/// One of the checks [`run_audit_store`](super::run_audit_store) runs (see
/// its example).
pub async fn audit_append_and_list<S: AuditStoreUnderTest>(store: S) {
    let alice = create(&store, "alice").await.id;
    let bob = create(&store, "bob").await.id;
    assert!(all(&store, alice).await.is_empty());
    for i in 0..5 {
        store
            .append_audit(&entry(alice, i, &format!("k{i}")))
            .await
            .unwrap();
        store.append_audit(&entry(bob, i, "bob")).await.unwrap();
    }
    let list = all(&store, alice).await;
    let kinds: Vec<_> = list.iter().map(|r| r.entry.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["k4", "k3", "k2", "k1", "k0"],
        "newest first, alice's only"
    );
    assert_eq!(list[0].entry, entry(alice, 4, "k4"), "kept as written");
    let page = store.audit_for_user(alice, None, 2).await.unwrap();
    assert_eq!(page.len(), 2);
    let next = store
        .audit_for_user(alice, Some(page[1].id), 2)
        .await
        .unwrap();
    assert_eq!(next[0].entry.kind, "k2", "the page after the cursor");
    assert!(
        store
            .audit_for_user(alice, None, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(all(&store, bob).await.len(), 5);
    assert!(all(&store, UserId(i64::MAX)).await.is_empty());
}

/// Hostile text in every field is stored and returned byte for byte.
///
/// One of the checks [`run_audit_store`](super::run_audit_store) runs (see
/// its example).
pub async fn audit_hostile_text<S: AuditStoreUnderTest>(store: S) {
    let alice = create(&store, "alice").await.id;
    for text in HOSTILE {
        let mut e = entry(alice, 0, text);
        e.detail = Some((*text).into());
        e.network = Some((*text).into());
        e.device = Some((*text).into());
        e.operator = Some((*text).into());
        e.reason = Some((*text).into());
        store.append_audit(&e).await.unwrap();
        assert_eq!(all(&store, alice).await[0].entry, e);
    }
}

/// Pruning deletes exactly the records older than the bound, of every
/// user, and ids given afterwards are still larger.
///
/// One of the checks [`run_audit_store`](super::run_audit_store) runs (see
/// its example).
pub async fn audit_prune<S: AuditStoreUnderTest>(store: S) {
    let alice = create(&store, "alice").await.id;
    let bob = create(&store, "bob").await.id;
    for ms in [0, 1_000, 2_000] {
        store.append_audit(&entry(alice, ms, "a")).await.unwrap();
        store.append_audit(&entry(bob, ms, "b")).await.unwrap();
    }
    let last = all(&store, alice).await[0].id;
    assert_eq!(
        store.prune_audit(at(1_000)).await.unwrap(),
        2,
        "the two at 0"
    );
    assert_eq!(store.prune_audit(at(1_000)).await.unwrap(), 0, "idempotent");
    let left: Vec<_> = all(&store, alice)
        .await
        .iter()
        .map(|r| r.entry.at)
        .collect();
    assert_eq!(left, [at(2_000), at(1_000)]);
    assert_eq!(store.prune_audit(at(10_000)).await.unwrap(), 4);
    store
        .append_audit(&entry(alice, 3_000, "after"))
        .await
        .unwrap();
    assert!(
        all(&store, alice).await[0].id > last,
        "ids are never reused"
    );
}

/// Many appends released together: every one is kept, each with its own id.
///
/// One of the checks [`run_audit_store`](super::run_audit_store) runs (see
/// its example).
pub async fn audit_concurrent_append<S: AuditStoreUnderTest>(store: S) {
    let alice = create(&store, "alice").await.id;
    let n = RACERS * 10;
    let done = race(&store, n, move |s, i| async move {
        s.append_audit(&entry(alice, i as i64, &format!("k{i}")))
            .await
    })
    .await;
    assert!(done.iter().all(Result::is_ok), "{done:?}");
    let list = all(&store, alice).await;
    assert_eq!(list.len(), n);
    let mut ids: Vec<_> = list.iter().map(|r| r.id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "newest first, ids distinct"
    );
    ids.dedup();
    assert_eq!(ids.len(), n);
}

fn authenticator<S: AuditStoreUnderTest>(store: &S) -> Authenticator {
    Authenticator::builder()
        .store(store.clone())
        .audit_store(store.clone())
        .secret_key(
            crate::SecretKey::from_bytes(b"conformance-suite-secret-key-0123456789".to_vec())
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// Two authenticators sharing the store take a burst of wrong passwords
/// for one account: the trail holds one `login_failed` per refusal that
/// said so, with the client's /24 and device, and nothing secret.
///
/// One of the checks [`run_audit_store`](super::run_audit_store) runs (see
/// its example).
pub async fn audit_through_authenticators<S: AuditStoreUnderTest>(store: S) {
    const PASSWORD: &str = "correct horse battery staple";
    const GUESS: &str = "hunter2-guess-never-kept";
    const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
    let (one, two) = (authenticator(&store), authenticator(&store));
    let alice = one
        .register("alice", "alice@example.com", &SecretString::from(PASSWORD))
        .await
        .unwrap();
    let burst = 2 * RACERS;
    let barrier = Arc::new(tokio::sync::Barrier::new(burst));
    let handles: Vec<_> = (0..burst)
        .map(|i| {
            let auth = if i % 2 == 0 { &one } else { &two };
            let ip = format!("198.51.100.{}", 1 + i % 200).parse().unwrap();
            let client = auth.with_context(RequestContext::new().with_ip(ip).with_user_agent(UA));
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                client.login("alice", &SecretString::from(GUESS)).await
            })
        })
        .collect();
    let mut refused = 0;
    for h in handles {
        match h.await.unwrap() {
            Err(Error::InvalidCredentials) => refused += 1,
            Err(_) => {}
            Ok(_) => panic!("a wrong password logged in"),
        }
    }
    let trail = all(&store, alice.id).await;
    let failed = trail
        .iter()
        .filter(|r| r.entry.kind == "login_failed")
        .count();
    assert!(refused > 0);
    assert_eq!(failed, refused, "one record per refused password");
    let record = trail
        .iter()
        .find(|r| r.entry.kind == "login_failed")
        .unwrap();
    assert_eq!(
        record
            .entry
            .network
            .as_deref()
            .map(|n| n.ends_with(".0/24")),
        Some(true)
    );
    assert!(record.entry.device.is_some());
    assert_eq!(trail.last().unwrap().entry.kind, "registered");
    let text = format!("{trail:?}");
    for secret in [PASSWORD, GUESS, "alice@example.com", "198.51.100.1", UA] {
        assert!(!text.contains(secret), "{secret:?} in the trail: {text}");
    }
}
