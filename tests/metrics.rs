//! Feature `metrics`: a recorder installed for this test binary observes
//! the counters of a scripted flow (`MetricsSink`), and no label carries
//! personal data.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use twofa_verify::metrics::MetricsSink;
use twofa_verify::secrecy::SecretString;
use twofa_verify::{Authenticator, ConsoleSms, LocalCodes, Login, MemoryStore, SecretKey, StepUp};

/// Keeps every counter by its name and sorted labels.
#[derive(Default, Clone)]
struct Counters(Arc<Mutex<HashMap<String, Arc<Cell>>>>);

#[derive(Default)]
struct Cell(AtomicU64);

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::SeqCst);
    }
    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::SeqCst);
    }
}

impl HistogramFn for Cell {
    fn record(&self, _: f64) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn render(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Counters {
    fn cell(&self, key: &Key) -> Arc<Cell> {
        self.0
            .lock()
            .unwrap()
            .entry(render(key))
            .or_default()
            .clone()
    }
    fn get(&self, series: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(series)
            .map_or(0, |c| c.0.load(Ordering::SeqCst))
    }
    fn series(&self) -> Vec<String> {
        self.0.lock().unwrap().keys().cloned().collect()
    }
}

impl Recorder for Counters {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.cell(key))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.cell(key))
    }
}

const PHONE: &str = "+14155552671";

#[tokio::test]
async fn a_scripted_flow_is_counted_without_personal_data() {
    let counters = Counters::default();
    metrics::set_global_recorder(counters.clone()).unwrap();
    let sms = ConsoleSms::quiet();
    let auth = Authenticator::builder()
        .store(MemoryStore::new())
        .secret_key(SecretKey::generate())
        .sms(LocalCodes::new(sms.clone()))
        .events(MetricsSink::new())
        .build()
        .unwrap();
    let pw = SecretString::from("correct horse battery");
    let alice = auth
        .register("alice", "alice@example.com", &pw)
        .await
        .unwrap();
    assert!(
        auth.login("alice", &SecretString::from("wrong horse battery"))
            .await
            .is_err()
    );
    assert!(matches!(
        auth.login("alice", &pw).await.unwrap(),
        Login::Complete(_)
    ));
    auth.start_sms_enrollment(alice.id, PHONE, &StepUp::password("correct horse battery"))
        .await
        .unwrap();
    let code = sms.last_code_for(PHONE).unwrap();
    let _enrolled = auth
        .confirm_sms_enrollment(alice.id, &SecretString::from(code))
        .await
        .unwrap();
    let Login::SecondFactor(ch) = auth.login("alice", &pw).await.unwrap() else {
        panic!("SMS is on")
    };
    let good = sms.last_code_for(PHONE).unwrap();
    let wrong = if good == "000000" { "111111" } else { "000000" };
    assert!(
        auth.verify(ch.token(), &SecretString::from(wrong))
            .await
            .is_err()
    );
    auth.verify(ch.token(), &SecretString::from(good))
        .await
        .unwrap();
    // Step-ups: a wrong password, then the password and an SMS code.
    let wrong_pw = StepUp::new("wrong horse battery", Some("123456"));
    assert!(auth.sign_out_everywhere(alice.id, &wrong_pw).await.is_err());
    auth.send_step_up_code(alice.id).await.unwrap();
    let code = sms.last_code_for(PHONE).unwrap();
    auth.regenerate_recovery_codes(alice.id, &StepUp::new("correct horse battery", Some(code)))
        .await
        .unwrap();

    let got = |s: &str| counters.get(s);
    assert_eq!(got("twofa_logins_total{factor=none,outcome=failure}"), 1);
    assert_eq!(got("twofa_logins_total{factor=none,outcome=success}"), 1);
    assert_eq!(
        got("twofa_logins_total{factor=none,outcome=second_factor}"),
        1
    );
    assert_eq!(got("twofa_logins_total{factor=sms,outcome=success}"), 1);
    assert_eq!(
        got("twofa_codes_sent_total{channel=sms}"),
        3, // the enrollment's, the login's, the step-up's
        "{:?}",
        counters.series()
    );
    assert_eq!(got("twofa_codes_rejected_total{factor=sms}"), 1);
    // The enrollment's step-up (the password alone), the wrong password,
    // the step-up with an SMS code.
    assert_eq!(got("twofa_step_ups_total{factor=none,outcome=passed}"), 1);
    assert_eq!(got("twofa_step_ups_total{factor=none,outcome=failed}"), 1);
    assert_eq!(got("twofa_step_ups_total{factor=sms,outcome=passed}"), 1);
    // Every login reserves and settles an attempt in the state store.
    assert!(got("twofa_state_store_seconds{op=reserve_attempt}") >= 4);
    assert!(got("twofa_state_store_seconds{op=settle_attempt}") >= 4);
    // And looks the user up in the user store; the registration wrote it.
    assert!(got("twofa_user_store_seconds{op=user_by_username}") >= 4);
    assert_eq!(got("twofa_user_store_seconds{op=create_user}"), 1);
    assert_eq!(got("twofa_events_total{event=registered}"), 1);
    assert_eq!(got("twofa_events_total{event=factor_enabled}"), 1);
    for series in counters.series() {
        for personal in [
            "alice",
            "example.com",
            "415",
            "2671",
            &alice.id.0.to_string(),
        ] {
            let labels = series.split_once('{').map_or("", |(_, l)| l);
            assert!(!labels.contains(personal), "{series} carries {personal}");
        }
    }
}
