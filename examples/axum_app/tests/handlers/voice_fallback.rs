//! The tutorial's voice fallback on the demo: Twilio Verify (a mock server)
//! refuses the text message with 60205 (the number is a landline), the
//! library starts the verification again by call, and the code page says
//! "We are calling ...".

use httpmock::prelude::*;
use serde_json::json;
use twofa_verify::factor::{Channel, TwilioVerify};

use super::*;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const SERVICE: &str = "VA00112233445566778899aabbccddeeff";
const VE_CALL: &str = "VEcccc0000cccc0000cccc0000cccc0000";

/// The demo over Twilio Verify at `server`, with the call fallback the
/// demo sets up (`demo_support::twilio_from_env`).
async fn site_on_twilio(server: &MockServer) -> Client {
    // The crypto provider the demo installs (`common::twilio_from_env`).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let twilio = TwilioVerify::builder()
        .account_sid(ACCOUNT)
        .auth_token(secrecy::SecretString::from("test-token"))
        .service_sid(SERVICE)
        .base_url(server.base_url())
        .fallback_channel(Channel::Call)
        .build()
        .unwrap();
    let key = twofa_verify::SecretKey::generate();
    let store = twofa_verify::MemoryStore::new();
    let auth = twofa_verify::Authenticator::builder()
        .store(store.clone())
        .secret_key(key.clone())
        .sms(twilio)
        .build()
        .unwrap();
    let backend = demo_support::Backend {
        auth,
        console_sms: None,
        mailer: demo_support::Mailer::Console(demo_support::ConsoleMail::default()),
        summary: "store: in memory; SMS: Twilio Verify (mock)".into(),
        state: std::sync::Arc::new(store),
        secret_key: key,
        profiles: demo_support::profiles::ProfileStore::in_memory()
            .await
            .unwrap(),
    };
    Client::with_state(axum_app::AppState::new(backend, axum_app::Config::for_tests()).unwrap())
}

#[tokio::test]
async fn a_landline_gets_its_code_by_call_and_the_page_says_so() {
    let server = MockServer::start_async().await;
    let start = format!("/Services/{SERVICE}/Verifications");
    let sms = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(start.clone())
                .form_urlencoded_tuple("Channel", "sms");
            then.status(400).json_body(json!({
                "code": 60205, "status": 400,
                "message": "SMS is not supported by landline phone number",
                "more_info": "https://www.twilio.com/docs/errors/60205"
            }));
        })
        .await;
    let call = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(start.clone())
                .form_urlencoded_tuple("To", PHONE)
                .form_urlencoded_tuple("Channel", "call");
            then.status(201).json_body(json!({
                "sid": VE_CALL, "service_sid": SERVICE, "account_sid": ACCOUNT,
                "to": PHONE, "channel": "call", "status": "pending", "valid": false
            }));
        })
        .await;
    let check = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("/Services/{SERVICE}/VerificationCheck"))
                .form_urlencoded_tuple("VerificationSid", VE_CALL)
                .form_urlencoded_tuple("Code", "123456");
            then.status(200).json_body(json!({
                "sid": VE_CALL, "to": PHONE, "channel": "call",
                "status": "approved", "valid": true
            }));
        })
        .await;

    let mut c = site_on_twilio(&server).await;
    c.register("lane").await;
    c.login("lane").await.redirect("/user/lane");
    c.post(
        "/enable_2fa",
        &[("phone", "+1 415 555 2671"), ("password", PW)],
    )
    .await
    .redirect("/enable_2fa/verify");
    c.post("/enable_2fa/verify", &[("code", "123456")])
        .await
        .redirect("/recovery_codes/new");
    c.get("/recovery_codes/new")
        .await
        .assert(StatusCode::OK, "Your recovery codes");
    c.post("/logout", &[]).await.redirect("/");

    c.login("lane").await.redirect("/verify_2fa");
    let page = c.get("/verify_2fa").await;
    page.assert(StatusCode::OK, "We are calling +1415*****71");
    assert!(!page.body.contains("by text message to"), "{}", page.body);
    c.post("/verify_2fa", &[("code", "123456"), ("method", "sms")])
        .await
        .redirect("/user/lane");
    // Enrollment and login: each a refused text, then a call.
    sms.assert_calls_async(2).await;
    call.assert_calls_async(2).await;
    check.assert_calls_async(2).await;
}
