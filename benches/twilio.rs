//! `TwilioVerify` start + check against a local httpmock server, compared with
//! a raw reqwest round trip of the same two requests (same client settings).
//!
//! `cargo bench --bench twilio -- --warm-up-time 1 --measurement-time 3`

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use httpmock::prelude::*;
use secrecy::SecretString;
use serde_json::json;
use twofa_verify::factor::TwilioVerify;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const SERVICE: &str = "VA00112233445566778899aabbccddeeff";
const VE: &str = "VEaaaabbbbccccddddeeeeffff00001111";
const TOKEN: &str = "bench-token";
const PHONE: &str = "+14155552671";

struct Setup {
    rt: tokio::runtime::Runtime,
    twilio: TwilioVerify,
    raw: reqwest::Client,
    start_url: String,
    check_url: String,
    _server: MockServer,
}

fn setup() -> Setup {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST)
            .path(format!("/Services/{SERVICE}/Verifications"));
        then.status(201).json_body(
            json!({"sid": VE, "status": "pending", "valid": false, "to": PHONE, "channel": "sms"}),
        );
    });
    server.mock(|when, then| {
        when.method(POST)
            .path(format!("/Services/{SERVICE}/VerificationCheck"));
        then.status(200).json_body(
            json!({"sid": VE, "status": "approved", "valid": true, "to": PHONE, "channel": "sms"}),
        );
    });
    // Feature `twilio` leaves the crypto provider to the app.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let twilio = TwilioVerify::builder()
        .account_sid(ACCOUNT)
        .auth_token(SecretString::from(TOKEN))
        .service_sid(SERVICE)
        .base_url(server.base_url())
        .build()
        .unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    let raw = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("twofa-verify/", env!("CARGO_PKG_VERSION")))
        .default_headers(headers)
        .build()
        .unwrap();
    Setup {
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        twilio,
        raw,
        start_url: server.url(format!("/Services/{SERVICE}/Verifications")),
        check_url: server.url(format!("/Services/{SERVICE}/VerificationCheck")),
        _server: server,
    }
}

async fn provider_round(s: &Setup) {
    let sid = s.twilio.start_verification(PHONE).await.unwrap();
    s.twilio
        .check_code(&sid, &SecretString::from("123456"))
        .await
        .unwrap();
}

async fn raw_round(s: &Setup) {
    let a = s
        .raw
        .post(&s.start_url)
        .basic_auth(ACCOUNT, Some(TOKEN))
        .form(&[("To", PHONE), ("Channel", "sms")])
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 201);
    let _ = a.bytes().await.unwrap();
    let b = s
        .raw
        .post(&s.check_url)
        .basic_auth(ACCOUNT, Some(TOKEN))
        .form(&[("VerificationSid", VE), ("Code", "123456")])
        .send()
        .await
        .unwrap();
    assert_eq!(b.status(), 200);
    let _ = b.bytes().await.unwrap();
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let mut g = c.benchmark_group("start+check");
    g.bench_function("twilio_verify", |b| {
        b.to_async(&s.rt).iter(|| provider_round(&s))
    });
    g.bench_function("raw_reqwest", |b| b.to_async(&s.rt).iter(|| raw_round(&s)));
    g.finish();

    // Interleaved direct comparison, so that drift of the machine affects both.
    let rounds = 500;
    let (mut provider, mut raw) = (Duration::ZERO, Duration::ZERO);
    s.rt.block_on(async {
        for _ in 0..rounds {
            let t = Instant::now();
            provider_round(&s).await;
            provider += t.elapsed();
            let t = Instant::now();
            raw_round(&s).await;
            raw += t.elapsed();
        }
    });
    println!(
        "interleaved x{rounds}: twilio_verify {:?}/round, raw_reqwest {:?}/round, ratio {:.3}",
        provider / rounds,
        raw / rounds,
        provider.as_secs_f64() / raw.as_secs_f64()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
