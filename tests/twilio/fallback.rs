//! The fallback channel: a start refused because the delivery channel cannot
//! reach the number is tried once on the fallback channel; nothing else is.

use super::*;
use twofa_verify::clock::ManualClock;
use twofa_verify::secrecy::SecretString;

/// The sid of the verification started on the fallback channel.
const VE_CALL: &str = "VEcccc0000cccc0000cccc0000cccc0000";

fn with_fallback(server: &MockServer, fallback: Channel) -> TwilioVerify {
    builder(&server.base_url())
        .fallback_channel(fallback)
        .build()
        .unwrap()
}

fn error_body(http: u16, code: Option<u32>) -> String {
    match code {
        Some(code) => json!({
            "code": code, "message": format!("Twilio says no ({code})"),
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": http
        })
        .to_string(),
        None => "<html>Bad things</html>".to_owned(),
    }
}

/// A start on `channel` answered with an error.
async fn mock_start_error<'a>(
    server: &'a MockServer,
    channel: &'static str,
    http: u16,
    code: Option<u32>,
) -> httpmock::Mock<'a> {
    let body = error_body(http, code);
    server
        .mock_async(move |when, then| {
            when.method(POST)
                .path(start_path())
                .form_urlencoded_tuple("Channel", channel);
            then.status(http)
                .header("content-type", "application/json")
                .body(body);
        })
        .await
}

/// A start by call (same number, same credentials) that succeeds with
/// [`VE_CALL`].
async fn mock_call_ok(server: &MockServer) -> httpmock::Mock<'_> {
    let mut body = pending_body();
    body["sid"] = json!(VE_CALL);
    body["channel"] = json!("call");
    server
        .mock_async(move |when, then| {
            when.method(POST)
                .path(start_path())
                .header("authorization", basic(ACCOUNT, TOKEN))
                .header("content-type", FORM)
                .form_urlencoded_tuple("To", PHONE)
                .form_urlencoded_tuple("Channel", "call");
            then.status(201).json_body(body);
        })
        .await
}

/// Twilio refuses the SMS start with `code`; the call start succeeds, once,
/// and its sid checks like any other.
async fn falls_back_to_call(http: u16, code: u32) {
    let server = MockServer::start_async().await;
    let sms = mock_start_error(&server, "sms", http, Some(code)).await;
    let call = mock_call_ok(&server).await;
    let check = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(check_path())
                .form_urlencoded_tuple("VerificationSid", VE_CALL)
                .form_urlencoded_tuple("Code", "123456");
            then.status(200).json_body(json!({
                "sid": VE_CALL, "to": PHONE, "channel": "call",
                "status": "approved", "valid": true
            }));
        })
        .await;
    let t = with_fallback(&server, Channel::Call);
    let started = t.start(PHONE).await.unwrap();
    assert_eq!(started.sid, VE_CALL, "code {code}");
    assert_eq!(started.channel, Channel::Call, "code {code}");
    t.check_code(&started.sid, &SecretString::from("123456"))
        .await
        .unwrap();
    sms.assert_calls_async(1).await;
    call.assert_calls_async(1).await;
    check.assert_calls_async(1).await;
}

#[tokio::test]
async fn falls_back_on_60205_sms_not_supported() {
    falls_back_to_call(400, 60205).await;
}

#[tokio::test]
async fn falls_back_on_60223_channel_disabled() {
    falls_back_to_call(400, 60223).await;
}

#[tokio::test]
async fn falls_back_on_21614_not_a_mobile_number() {
    falls_back_to_call(400, 21614).await;
}

/// `start_verification` (the sid only) takes the same path.
#[tokio::test]
async fn start_verification_returns_the_fallback_sid() {
    let server = MockServer::start_async().await;
    let sms = mock_start_error(&server, "sms", 400, Some(60205)).await;
    let call = mock_call_ok(&server).await;
    let t = with_fallback(&server, Channel::Call);
    assert_eq!(t.start_verification(PHONE).await.unwrap(), VE_CALL);
    sms.assert_calls_async(1).await;
    call.assert_calls_async(1).await;
}

/// Twilio refuses the SMS start with `code`: the error is the one a provider
/// without a fallback gives, and no call is ever started.
async fn no_fallback(http: u16, code: Option<u32>, fallback: Channel, expect: fn(&Error) -> bool) {
    let server = MockServer::start_async().await;
    let sms = mock_start_error(&server, "sms", http, code).await;
    let other = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(start_path())
                .is_true(|req| !String::from_utf8_lossy(req.body_ref()).contains("Channel=sms"));
            then.status(201).json_body(pending_body());
        })
        .await;
    let e = with_fallback(&server, fallback)
        .start(PHONE)
        .await
        .unwrap_err();
    assert!(expect(&e), "{http} {code:?}: got {e:?}");
    let plain = provider(&server).start(PHONE).await.unwrap_err();
    assert_eq!(format!("{e:?}"), format!("{plain:?}"), "{http} {code:?}");
    // One start each, by the provider with and the one without a fallback.
    sms.assert_calls_async(2).await;
    other.assert_calls_async(0).await;
}

fn kind_code(e: &Error, kind: ProviderErrorKind, code: Option<u32>) -> bool {
    matches!(e, Error::Provider(p) if p.kind == kind && p.code == code)
}

#[tokio::test]
async fn no_fallback_on_60410_fraud_guard() {
    no_fallback(403, Some(60410), Channel::Call, |e| {
        kind_code(e, ProviderErrorKind::DeliveryRefused, Some(60410))
    })
    .await;
}

#[tokio::test]
async fn no_fallback_on_60605_geo_permissions() {
    no_fallback(403, Some(60605), Channel::Call, |e| {
        kind_code(e, ProviderErrorKind::DeliveryRefused, Some(60605))
    })
    .await;
}

#[tokio::test]
async fn no_fallback_on_60200_invalid_number() {
    no_fallback(400, Some(60200), Channel::Call, |e| {
        matches!(e, Error::InvalidPhoneNumber(_))
    })
    .await;
}

#[tokio::test]
async fn no_fallback_on_21211_invalid_number() {
    no_fallback(400, Some(21211), Channel::Call, |e| {
        matches!(e, Error::InvalidPhoneNumber(_))
    })
    .await;
}

#[tokio::test]
async fn no_fallback_on_20003_credentials() {
    no_fallback(401, Some(20003), Channel::Call, |e| {
        kind_code(e, ProviderErrorKind::Authentication, Some(20003))
    })
    .await;
}

#[tokio::test]
async fn no_fallback_on_20429_api_throttle() {
    no_fallback(429, Some(20429), Channel::Call, |e| {
        kind_code(e, ProviderErrorKind::Throttled, Some(20429))
    })
    .await;
}

#[tokio::test]
async fn no_fallback_on_60203_max_sends() {
    no_fallback(429, Some(60203), Channel::Call, |e| {
        matches!(e, Error::RateLimited { .. })
    })
    .await;
}

#[tokio::test]
async fn no_fallback_on_60212_concurrent_requests() {
    no_fallback(429, Some(60212), Channel::Call, |e| {
        matches!(e, Error::RateLimited { .. })
    })
    .await;
}

#[tokio::test]
async fn no_fallback_on_20404_unknown_service() {
    no_fallback(404, Some(20404), Channel::Call, |e| {
        kind_code(e, ProviderErrorKind::Misconfigured, Some(20404))
    })
    .await;
}

#[tokio::test]
async fn no_fallback_on_an_unknown_code() {
    no_fallback(400, Some(21608), Channel::Call, |e| {
        kind_code(e, ProviderErrorKind::Rejected, Some(21608))
    })
    .await;
}

#[tokio::test]
async fn no_fallback_on_5xx() {
    no_fallback(503, None, Channel::Call, |e| {
        kind_code(e, ProviderErrorKind::Unavailable, None)
    })
    .await;
    no_fallback(500, Some(20500), Channel::Call, |e| {
        kind_code(e, ProviderErrorKind::Unavailable, Some(20500))
    })
    .await;
}

/// A code in the fallback table on a 5xx answer is still an outage.
#[tokio::test]
async fn no_fallback_on_a_qualifying_code_with_a_5xx_status() {
    no_fallback(500, Some(60205), Channel::Call, |e| {
        kind_code(e, ProviderErrorKind::ChannelUnsupported, Some(60205))
    })
    .await;
}

/// A landline gets no WhatsApp message either: only a call is tried.
#[tokio::test]
async fn no_whatsapp_fallback_for_a_landline() {
    no_fallback(400, Some(60205), Channel::Whatsapp, |e| {
        kind_code(e, ProviderErrorKind::ChannelUnsupported, Some(60205))
    })
    .await;
    no_fallback(400, Some(21614), Channel::Whatsapp, |e| {
        matches!(e, Error::InvalidPhoneNumber(_))
    })
    .await;
}

/// A disabled channel may fall back to any channel.
#[tokio::test]
async fn channel_disabled_falls_back_to_whatsapp() {
    let server = MockServer::start_async().await;
    let sms = mock_start_error(&server, "sms", 400, Some(60223)).await;
    let whatsapp = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(start_path())
                .form_urlencoded_tuple("Channel", "whatsapp");
            then.status(201).json_body(pending_body());
        })
        .await;
    let started = with_fallback(&server, Channel::Whatsapp)
        .start(PHONE)
        .await
        .unwrap();
    assert_eq!(
        (started.sid.as_str(), started.channel),
        (VE, Channel::Whatsapp)
    );
    sms.assert_calls_async(1).await;
    whatsapp.assert_calls_async(1).await;
}

#[tokio::test]
async fn no_fallback_on_a_timeout() {
    let server = MockServer::start_async().await;
    let sms = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(start_path())
                .form_urlencoded_tuple("Channel", "sms");
            then.status(201)
                .json_body(pending_body())
                .delay(Duration::from_secs(3));
        })
        .await;
    let call = mock_call_ok(&server).await;
    let t = builder(&server.base_url())
        .fallback_channel(Channel::Call)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let e = t.start(PHONE).await.unwrap_err();
    assert!(kind_code(&e, ProviderErrorKind::Timeout, None), "{e:?}");
    sms.assert_calls_async(1).await;
    call.assert_calls_async(0).await;
}

/// A start that never reached Twilio: retried as before, never a fallback.
#[tokio::test]
async fn no_fallback_when_twilio_is_unreachable() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let t = builder(&format!("http://127.0.0.1:{port}/v2"))
        .fallback_channel(Channel::Call)
        .build()
        .unwrap();
    let e = t.start(PHONE).await.unwrap_err();
    assert!(kind_code(&e, ProviderErrorKind::Unavailable, None), "{e:?}");
}

/// The primary start is refused and the fallback start fails too: the
/// fallback's error, after exactly one fallback request.
async fn fallback_fails(http: u16, code: Option<u32>, expect: fn(&Error) -> bool) {
    let server = MockServer::start_async().await;
    let sms = mock_start_error(&server, "sms", 400, Some(60205)).await;
    let call = mock_start_error(&server, "call", http, code).await;
    let e = with_fallback(&server, Channel::Call)
        .start(PHONE)
        .await
        .unwrap_err();
    assert!(expect(&e), "{http} {code:?}: got {e:?}");
    assert_no_secret(&all_text(&e));
    sms.assert_calls_async(1).await;
    call.assert_calls_async(1).await;
}

#[tokio::test]
async fn failing_fallback_gives_its_own_error() {
    fallback_fails(403, Some(60410), |e| {
        kind_code(e, ProviderErrorKind::DeliveryRefused, Some(60410))
    })
    .await;
    fallback_fails(400, Some(60223), |e| {
        kind_code(e, ProviderErrorKind::Misconfigured, Some(60223))
    })
    .await;
    fallback_fails(400, Some(60200), |e| {
        matches!(e, Error::InvalidPhoneNumber(_))
    })
    .await;
}

/// The fallback start is never repeated: not on 5xx, not on a throttle.
#[tokio::test]
async fn failing_fallback_is_never_retried() {
    fallback_fails(503, None, |e| {
        kind_code(e, ProviderErrorKind::Unavailable, None)
    })
    .await;
    fallback_fails(429, Some(20429), |e| {
        kind_code(e, ProviderErrorKind::Throttled, Some(20429))
    })
    .await;
}

#[tokio::test]
async fn fallback_timing_out_is_not_retried() {
    let server = MockServer::start_async().await;
    let sms = mock_start_error(&server, "sms", 400, Some(60205)).await;
    let call = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(start_path())
                .form_urlencoded_tuple("Channel", "call");
            then.status(201)
                .json_body(pending_body())
                .delay(Duration::from_secs(3));
        })
        .await;
    let t = builder(&server.base_url())
        .fallback_channel(Channel::Call)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let e = t.start(PHONE).await.unwrap_err();
    assert!(kind_code(&e, ProviderErrorKind::Timeout, None), "{e:?}");
    sms.assert_calls_async(1).await;
    call.assert_calls_async(1).await;
}

/// A number the numbering plans know as a landline (feature
/// `phone-numbers`) is called from the start: no text that Twilio would
/// refuse with 60205 first, with or without a fallback channel. A mobile
/// is texted as before.
#[cfg(feature = "phone-numbers")]
#[tokio::test]
async fn a_known_landline_is_called_from_the_start() {
    const LANDLINE: &str = "+442071838750";
    const MOBILE: &str = "+447400123456";
    let server = MockServer::start_async().await;
    let started = |to: &'static str, channel: &'static str, sid: &'static str| {
        let mut body = pending_body();
        body["sid"] = json!(sid);
        body["to"] = json!(to);
        body["channel"] = json!(channel);
        server.mock_async(move |when, then| {
            when.method(POST)
                .path(start_path())
                .form_urlencoded_tuple("To", to)
                .form_urlencoded_tuple("Channel", channel);
            then.status(201).json_body(body);
        })
    };
    let landline_sms = started(LANDLINE, "sms", VE).await;
    let landline_call = started(LANDLINE, "call", VE_CALL).await;
    let mobile_sms = started(MOBILE, "sms", VE).await;
    for t in [provider(&server), with_fallback(&server, Channel::Call)] {
        let v = t.start(LANDLINE).await.unwrap();
        assert_eq!((v.sid.as_str(), v.channel), (VE_CALL, Channel::Call));
        let v = t.start(MOBILE).await.unwrap();
        assert_eq!((v.sid.as_str(), v.channel), (VE, Channel::Sms));
    }
    landline_sms.assert_calls_async(0).await;
    landline_call.assert_calls_async(2).await;
    mobile_sms.assert_calls_async(2).await;
    // A delivery channel other than SMS is kept.
    let whatsapp = builder(&server.base_url())
        .channel(Channel::Whatsapp)
        .build()
        .unwrap();
    let landline_whatsapp = started(LANDLINE, "whatsapp", VE).await;
    assert_eq!(
        whatsapp.start(LANDLINE).await.unwrap().channel,
        Channel::Whatsapp
    );
    landline_whatsapp.assert_calls_async(1).await;
}

/// Without a fallback, a landline gets today's error and no call.
#[tokio::test]
async fn without_fallback_the_primary_error_is_returned() {
    let server = MockServer::start_async().await;
    let sms = mock_start_error(&server, "sms", 400, Some(60205)).await;
    let call = mock_call_ok(&server).await;
    let t = provider(&server);
    assert_eq!(t.fallback_channel(), None);
    let e = t.start(PHONE).await.unwrap_err();
    assert!(
        kind_code(&e, ProviderErrorKind::ChannelUnsupported, Some(60205)),
        "{e:?}"
    );
    sms.assert_calls_async(1).await;
    call.assert_calls_async(0).await;
}

#[test]
fn fallback_channel_is_validated_and_shown() {
    let t = builder("https://verify.twilio.com/v2")
        .fallback_channel(Channel::Call)
        .build()
        .unwrap();
    assert_eq!(t.fallback_channel(), Some(Channel::Call));
    assert!(format!("{t:?}").contains("fallback_channel: Some(Call)"));
    let e = builder("https://verify.twilio.com/v2")
        .channel(Channel::Call)
        .fallback_channel(Channel::Call)
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
}

/// Through the authenticator: Twilio refuses the login text with 60205 (a
/// landline), the code is read out by a call, and the challenge says so
/// (as does the code of an enrollment, and a resent one).
#[tokio::test]
async fn the_challenge_tells_the_code_went_out_by_call() {
    use twofa_verify::{Authenticator, Login, MemoryStore, SmsDelivery, StepUp};
    let server = MockServer::start_async().await;
    let sms = mock_start_error(&server, "sms", 400, Some(60205)).await;
    let call = mock_call_ok(&server).await;
    let check = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(check_path())
                .form_urlencoded_tuple("VerificationSid", VE_CALL)
                .form_urlencoded_tuple("Code", "123456");
            then.status(200).json_body(json!({
                "sid": VE_CALL, "to": PHONE, "channel": "call",
                "status": "approved", "valid": true
            }));
        })
        .await;
    let clock = ManualClock::starting_now();
    let auth = Authenticator::builder()
        .store(MemoryStore::new())
        .secret_key(twofa_verify::SecretKey::generate())
        .sms(with_fallback(&server, Channel::Call))
        .clock(clock.clone())
        .build()
        .unwrap();
    let pw = SecretString::from("correct horse battery staple");
    let user = auth
        .register("lena", "lena@example.com", &pw)
        .await
        .unwrap();
    let step_up = StepUp::password("correct horse battery staple");
    auth.start_sms_enrollment(user.id, PHONE, &step_up)
        .await
        .unwrap();
    let _enrolled = auth
        .confirm_sms_enrollment(user.id, &SecretString::from("123456"))
        .await
        .unwrap();

    let Login::SecondFactor(ch) = auth.login("lena", &pw).await.unwrap() else {
        panic!("SMS 2FA is on");
    };
    assert!(
        matches!(&ch.sms, Some(SmsDelivery::Sent { to, channel: Some("call"), .. }) if to == "+1415*****71"),
        "{:?}",
        ch.sms
    );
    assert!(
        auth.verify(ch.token(), &SecretString::from("123456"))
            .await
            .is_ok()
    );

    let Login::SecondFactor(ch) = auth.login("lena", &pw).await.unwrap() else {
        panic!("SMS 2FA is on");
    };
    clock.advance(Duration::from_secs(120));
    let again = auth.resend(ch.token()).await.unwrap();
    assert!(
        matches!(
            &again.sms,
            Some(SmsDelivery::Sent {
                channel: Some("call"),
                ..
            })
        ),
        "{:?}",
        again.sms
    );
    let step_up_code = auth.send_step_up_code(user.id).await.unwrap();
    assert!(
        matches!(
            &step_up_code,
            SmsDelivery::Sent {
                channel: Some("call"),
                ..
            }
        ),
        "{step_up_code:?}"
    );
    // Every code: one refused text, then one call.
    sms.assert_calls_async(5).await;
    call.assert_calls_async(5).await;
    check.assert_calls_async(2).await;
}
