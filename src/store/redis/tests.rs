//! The keys each command and script sends, checked without a server: a
//! connection that records every command (and fails it) stands in for
//! Redis. On a cluster every key of every script must hash to one slot
//! (Redis Cluster refuses a script whose keys do not, `CROSSSLOT`); on a
//! single Redis the keys must stay `prefix` + key, the layout of data
//! already stored.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use super::*;
use crate::store::{Budget, Lockout};

type Log = Arc<Mutex<Vec<Vec<Vec<u8>>>>>;

const PREFIX: &str = "shop:twofa:";

fn recording_store(cluster: bool) -> (RedisStore, Log) {
    let log: Log = Arc::default();
    let store = RedisStore {
        conn: RedisConnection::Recorder(log.clone()),
        shared: Arc::new(Shared::new(
            PREFIX.to_owned(),
            cluster,
            DEFAULT_GC_GRACE,
            "recorder".to_owned(),
            0,
        )),
    };
    (store, log)
}

/// An attempt as the login flow makes it: an account's lockout and a
/// client's failure budgets, one per network around its address (keys as
/// `authenticator::state::keys` renders them).
fn login_spec() -> AttemptSpec {
    let budget = |key: &str| Budget {
        key: key.to_owned(),
        window: Duration::from_secs(3600),
        max: 100,
    };
    AttemptSpec {
        lockout: Lockout {
            counter: "fail:u:42".into(),
            gate: "lock:u:42".into(),
            gates: "gates:u:42".into(),
            hold: Some("admin-lock:u:42".into()),
            memory: Duration::from_secs(86_400),
            threshold: 3,
            waits: vec![Duration::from_secs(1), Duration::from_secs(900)],
            locks_from: 1,
        },
        budgets: vec![
            budget("rl:cf:1722394bca43bf7c660c7e773e5f62529d4cb688f9b12e6e78905e699227d98a"),
            budget("rl:cf:3d63b6723af6933fd74687e5d7b04ff9a1b73e767c4dc3364801d52dfb371c81"),
            budget("ch:657ba4c502397c3f3a488cc5278d3b76fdee1fec5014f6b6c2d458d2210a2625:n"),
        ],
    }
}

/// Calls every operation of the store once; returns what each sent: its
/// name, the script's SHA-1 (if a script), and its keys.
async fn every_operation(
    store: &RedisStore,
    log: &Log,
) -> Vec<(String, Option<String>, Vec<String>)> {
    let now = Timestamp::from_millis(1_000_000_000_000);
    let later = now.plus(Duration::from_secs(60));
    let spec = login_spec();
    let challenge = "ch:657ba4c502397c3f3a488cc5278d3b76fdee1fec5014f6b6c2d458d2210a2625";
    let mut names = Vec::new();
    macro_rules! call {
        ($name:expr, $e:expr) => {{
            // The recorder fails every command: the result says nothing.
            let _ = $e.await;
            names.push($name);
        }};
    }
    call!("put", store.put(challenge, b"v", later));
    call!(
        "put_if_absent",
        store.put_if_absent("reg-used:x", b"v", later, now)
    );
    call!(
        "put_if_present",
        store.put_if_present(challenge, b"v", later, now)
    );
    call!("get", store.get(challenge, now));
    call!("take", store.take(challenge, now));
    call!("delete", store.delete(challenge));
    call!(
        "increment",
        store.increment("rl:sms-g", Duration::from_secs(60), false, now)
    );
    call!("release", store.release("rl:sms-g", now));
    call!("advance", store.advance("totp-step:42", 7, later, now));
    call!("reserve_attempt", store.reserve_attempt(&spec, now));
    call!(
        "settle_attempt succeeded",
        store.settle_attempt(&spec, Settlement::Succeeded, now)
    );
    call!(
        "settle_attempt released",
        store.settle_attempt(&spec, Settlement::Released { gated: true }, now)
    );
    call!(
        "settle_attempt released then put",
        store.settle_attempt(
            &spec,
            Settlement::ReleasedThenPut {
                gated: false,
                key: challenge,
                value: b"pending",
                expires_at: later,
            },
            now,
        )
    );
    call!(
        "settle_attempt succeeded if taken",
        store.settle_attempt(
            &spec,
            Settlement::SucceededIfTaken {
                gated: true,
                key: challenge,
            },
            now,
        )
    );
    call!(
        "reserve_attempt_and_accept_step",
        store.reserve_attempt_and_accept_step(
            &spec,
            StepAcceptance {
                key: "totp-step:42",
                step: 7,
                expires_at: later,
                take: challenge,
            },
            now,
        )
    );
    call!(
        "reserve_attempt_and_check_step",
        store.reserve_attempt_and_check_step(
            &spec,
            crate::store::StepCheck {
                key: "totp-step:42",
                step: 7,
                expires_at: later,
            },
            now,
        )
    );
    let sent = log.lock().unwrap().clone();
    assert_eq!(sent.len(), names.len(), "one command per operation");
    names
        .into_iter()
        .zip(sent)
        .map(|(name, args)| {
            let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
            let command = text(&args[0]);
            match command.as_str() {
                "EVALSHA" => {
                    let n: usize = text(&args[2]).parse().unwrap();
                    let keys = args[3..3 + n].iter().map(|k| text(k)).collect();
                    (name.to_owned(), Some(text(&args[1])), keys)
                }
                "SET" | "GET" | "GETDEL" | "DEL" => (name.to_owned(), None, vec![text(&args[1])]),
                other => panic!("{name}: unexpected command {other}"),
            }
        })
        .collect()
}

/// The SHA-1 of every script the store has (a new field of `Scripts`
/// must be listed here, or this does not compile).
fn every_script(scripts: &Scripts) -> BTreeSet<String> {
    let Scripts {
        put_if_absent,
        put_if_present,
        increment,
        release,
        advance,
        reserve,
        settle,
        reserve_and_accept_step,
        reserve_and_check_step,
    } = scripts;
    [
        put_if_absent,
        put_if_present,
        increment,
        release,
        advance,
        reserve,
        settle,
        reserve_and_accept_step,
        reserve_and_check_step,
    ]
    .iter()
    .map(|s| s.get_hash().to_owned())
    .collect()
}

/// On a cluster, every key of every command and script is tagged with the
/// prefix, so each script touches one slot: the prefix's. Every script is
/// among those checked.
#[cfg(feature = "redis-cluster")]
#[tokio::test]
async fn on_a_cluster_every_script_touches_one_slot() {
    use ::redis::cluster_routing::Slot;
    let (store, log) = recording_store(true);
    let sent = every_operation(&store, &log).await;
    let slot = Slot::for_key(PREFIX);
    for (name, _, keys) in &sent {
        assert!(!keys.is_empty(), "{name}");
        for key in keys {
            assert!(key.starts_with(&format!("{{{PREFIX}}}")), "{name}: {key}");
            assert_eq!(Slot::for_key(key), slot, "{name}: {key} is in another slot");
        }
    }
    let scripts: BTreeSet<String> = sent.iter().filter_map(|(_, sha, _)| sha.clone()).collect();
    assert_eq!(
        scripts,
        every_script(&store.shared.scripts),
        "every script is run by some operation above"
    );
    // The compound scripts do touch several entities' keys.
    let (_, _, keys) = &sent[9];
    assert!(keys.len() >= 5, "{keys:?}");
}

/// The tag is the prefix whatever the state key holds: braces in the key
/// come after the tag's, so they cannot pick another slot.
#[cfg(feature = "redis-cluster")]
#[test]
fn the_tag_is_the_prefix_whatever_the_key() {
    use ::redis::cluster_routing::Slot;
    let (store, _) = recording_store(true);
    let slot = Slot::for_key(PREFIX);
    for key in [
        "",
        "k",
        "{x}",
        "}",
        "{",
        "{}",
        "a{b}c",
        "fail:{u:42}",
        "\u{0}{z}",
    ] {
        let redis_key = store.redis_key(key);
        assert_eq!(Slot::for_key(&redis_key), slot, "{key:?} → {redis_key:?}");
    }
}

/// On a single Redis the keys are as they were before cluster support:
/// the prefix, then the state key, untagged (a changed layout would drop
/// every live entry on upgrade).
#[tokio::test]
async fn on_a_single_redis_keys_are_prefix_then_key() {
    let (store, log) = recording_store(false);
    let sent = every_operation(&store, &log).await;
    for (name, _, keys) in &sent {
        for key in keys {
            assert!(key.starts_with(PREFIX), "{name}: {key}");
            assert!(!key.contains('{'), "{name}: {key}");
        }
    }
    assert_eq!(store.redis_key("lock:u:42"), "shop:twofa:lock:u:42");
    let (_, _, keys) = &sent[9];
    assert_eq!(
        keys[..3],
        [
            "shop:twofa:lock:u:42",
            "shop:twofa:fail:u:42",
            "shop:twofa:gates:u:42"
        ]
    );
}
