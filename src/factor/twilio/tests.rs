//! Unit tests of the provider through the [`SmsVerifier`] trait (its
//! context can only be built inside the crate).

use super::*;
use crate::clock::Timestamp;
use crate::store::MemoryStore;
use httpmock::prelude::*;
use secrecy::SecretString;

const SID: &str = "VE0123456789abcdef0123456789abcdef";

/// `TwilioVerify::builder()` once the process has the crypto provider that
/// `build` needs (the app's choice; the tests take aws-lc-rs).
pub(super) fn builder_with_provider() -> TwilioVerifyBuilder {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    TwilioVerify::builder()
}

/// The trait methods delegate to the inherent ones (the context is unused).
#[tokio::test]
async fn trait_delegates() {
    let server = MockServer::start_async().await;
    let start = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/Services/VA0123456789abcdef0123456789abcdef/Verifications");
            then.status(201)
                .json_body(serde_json::json!({"sid": SID, "status": "pending", "valid": false}));
        })
        .await;
    let check = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/Services/VA0123456789abcdef0123456789abcdef/VerificationCheck");
            then.status(200)
                .json_body(serde_json::json!({"sid": SID, "status": "approved", "valid": true}));
        })
        .await;
    let twilio = builder_with_provider()
        .account_sid("AC0123456789abcdef0123456789abcdef")
        .auth_token(SecretString::from("tok"))
        .service_sid("VA0123456789abcdef0123456789abcdef")
        .base_url(server.base_url())
        .build()
        .unwrap();
    let store = MemoryStore::new();
    let keys = crate::crypto::Keys::new(secrecy::SecretSlice::from(vec![7u8; 32]));
    let ctx = SmsContext {
        state: &store,
        now: Timestamp::from_millis(1_700_000_000_000),
        code_ttl: Duration::from_secs(600),
        hasher: &keys,
    };
    let v: &dyn SmsVerifier = &twilio;
    let handle = v.send("+14155552671", &ctx).await.unwrap().handle;
    assert_eq!(handle, SID);
    v.check("+14155552671", &handle, "123456", &ctx)
        .await
        .unwrap();
    start.assert_calls_async(1).await;
    check.assert_calls_async(1).await;
}

/// Through the trait, the channel actually used is told: the fallback's
/// when the delivery channel cannot reach the number.
#[tokio::test]
async fn send_verification_tells_the_channel() {
    let server = MockServer::start_async().await;
    let sms = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/Services/VA0123456789abcdef0123456789abcdef/Verifications")
                .form_urlencoded_tuple("To", "+14155552671")
                .form_urlencoded_tuple("Channel", "sms");
            then.status(400).json_body(
                serde_json::json!({"code": 60205, "message": "SMS is not supported", "status": 400}),
            );
        })
        .await;
    let call = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/Services/VA0123456789abcdef0123456789abcdef/Verifications")
                .form_urlencoded_tuple("To", "+14155552671")
                .form_urlencoded_tuple("Channel", "call");
            then.status(201)
                .json_body(serde_json::json!({"sid": SID, "status": "pending", "valid": false}));
        })
        .await;
    let builder = || {
        builder_with_provider()
            .account_sid("AC0123456789abcdef0123456789abcdef")
            .auth_token(SecretString::from("tok"))
            .service_sid("VA0123456789abcdef0123456789abcdef")
            .base_url(server.base_url())
    };
    let store = MemoryStore::new();
    let keys = crate::crypto::Keys::new(secrecy::SecretSlice::from(vec![7u8; 32]));
    let ctx = SmsContext {
        state: &store,
        now: Timestamp::from_millis(1_700_000_000_000),
        code_ttl: Duration::from_secs(600),
        hasher: &keys,
    };
    let with_fallback = builder().fallback_channel(Channel::Call).build().unwrap();
    let v: &dyn SmsVerifier = &with_fallback;
    let sent = v.send("+14155552671", &ctx).await.unwrap();
    assert_eq!(sent, SentVerification::new(SID).with_channel("call"));
    sms.assert_calls_async(1).await;
    call.assert_calls_async(1).await;

    let by_call = builder().channel(Channel::Call).build().unwrap();
    let v: &dyn SmsVerifier = &by_call;
    let sent = v.send("+14155552671", &ctx).await.unwrap();
    assert_eq!((sent.handle.as_str(), sent.channel), (SID, Some("call")));
    let without = builder().build().unwrap();
    let v: &dyn SmsVerifier = &without;
    let e = v.send("+14155552671", &ctx).await.unwrap_err();
    assert!(
        matches!(&e, Error::Provider(p) if p.code == Some(60205)),
        "{e:?}"
    );
    sms.assert_calls_async(2).await;
    call.assert_calls_async(2).await;
}
