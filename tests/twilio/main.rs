//! `TwilioVerify` against a local mock of the Twilio Verify v2 API.
#![cfg(feature = "twilio")]

use std::error::Error as StdError;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use httpmock::prelude::*;
use secrecy::SecretString;
use serde_json::{Value, json};
use twofa_verify::Error;
use twofa_verify::error::ProviderErrorKind;
use twofa_verify::factor::{Channel, TwilioVerify};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const SERVICE: &str = "VA00112233445566778899aabbccddeeff";
const API_KEY: &str = "SKfedcba9876543210fedcba9876543210";
const VE: &str = "VEaaaabbbbccccddddeeeeffff00001111";
/// A distinctive token: it must never show up in any error or Debug output.
const TOKEN: &str = "Zq9-SUPER-SECRET-TOKEN-do-not-leak-7731";
const PHONE: &str = "+14155552671";
const FORM: &str = "application/x-www-form-urlencoded";

mod fallback;

fn start_path() -> String {
    format!("/Services/{SERVICE}/Verifications")
}
fn check_path() -> String {
    format!("/Services/{SERVICE}/VerificationCheck")
}
fn basic(user: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        data_encoding::BASE64.encode(format!("{user}:{secret}").as_bytes())
    )
}

/// Installs the crypto provider `build` needs (the app's choice: these
/// tests take aws-lc-rs), once per process.
fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// `TwilioVerify::builder()` in a process with a crypto provider.
fn twilio_builder() -> twofa_verify::factor::TwilioVerifyBuilder {
    install_crypto_provider();
    TwilioVerify::builder()
}

fn builder(base: &str) -> twofa_verify::factor::TwilioVerifyBuilder {
    twilio_builder()
        .account_sid(ACCOUNT)
        .auth_token(SecretString::from(TOKEN))
        .service_sid(SERVICE)
        .base_url(base)
        .timeout(Duration::from_secs(5))
}

fn provider(server: &MockServer) -> TwilioVerify {
    builder(&server.base_url()).build().unwrap()
}

/// Everything an error can show: Display, Debug and its source chain.
fn all_text(e: &Error) -> String {
    let mut s = format!("{e} | {e:?}");
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(&format!(" | {x} | {x:?}"));
        src = x.source();
    }
    s
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains(TOKEN), "token leaked: {text}");
    assert!(!text.contains("do-not-leak"), "token leaked: {text}");
    assert!(
        !text.contains(&basic(ACCOUNT, TOKEN)[6..]),
        "auth header leaked: {text}"
    );
}

fn pending_body() -> Value {
    json!({
        "sid": VE, "service_sid": SERVICE, "account_sid": ACCOUNT, "to": PHONE,
        "channel": "sms", "status": "pending", "valid": false,
        "lookup": {}, "send_code_attempts": [{"attempt_sid": "VLx", "channel": "sms", "time": "2024-01-01T00:00:00Z"}],
        "date_created": "2024-01-01T00:00:00Z", "date_updated": "2024-01-01T00:00:00Z",
        "url": format!("https://verify.twilio.com/v2/Services/{SERVICE}/Verifications/{VE}")
    })
}

fn check_body(status: &str, valid: bool) -> Value {
    json!({"sid": VE, "to": PHONE, "channel": "sms", "status": status, "valid": valid,
           "date_created": "2024-01-01T00:00:00Z", "date_updated": "2024-01-01T00:00:00Z"})
}

#[tokio::test]
async fn send_returns_the_sid() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(start_path())
                .header("authorization", basic(ACCOUNT, TOKEN))
                .header("content-type", FORM)
                .header("accept", "application/json")
                .header(
                    "user-agent",
                    concat!("twofa-verify/", env!("CARGO_PKG_VERSION")),
                )
                .form_urlencoded_tuple("To", PHONE)
                .form_urlencoded_tuple("Channel", "sms")
                .is_true(|req| !String::from_utf8_lossy(req.body_ref()).contains("Locale"));
            then.status(201).json_body(pending_body());
        })
        .await;
    let t = provider(&server);
    assert_eq!(t.start_verification(PHONE).await.unwrap(), VE);
    m.assert_calls_async(1).await;
}

#[tokio::test]
async fn send_with_channel_locale_and_api_key() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(start_path())
                .header("authorization", basic(API_KEY, TOKEN))
                .header("content-type", FORM)
                .form_urlencoded_tuple("To", PHONE)
                .form_urlencoded_tuple("Channel", "call")
                .form_urlencoded_tuple("Locale", "pt-BR");
            then.status(201).json_body(pending_body());
        })
        .await;
    let t = twilio_builder()
        .account_sid(ACCOUNT)
        .api_key(API_KEY, SecretString::from(TOKEN))
        .service_sid(SERVICE)
        .channel(Channel::Call)
        .locale("pt-BR")
        .base_url(format!("{}/", server.base_url()))
        .build()
        .unwrap();
    assert_eq!(t.channel(), Channel::Call);
    assert_eq!(t.start_verification(PHONE).await.unwrap(), VE);
    m.assert_calls_async(1).await;
    assert_no_secret(&format!("{t:?}"));
}

#[tokio::test]
async fn send_refuses_a_malformed_number_locally() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(201).json_body(pending_body());
        })
        .await;
    let t = provider(&server);
    for bad in [
        "4155552671",
        "+1 415 555",
        "+0123456789",
        "",
        "+1415555267&Channel=call",
    ] {
        let e = t.start_verification(bad).await.unwrap_err();
        assert!(matches!(e, Error::InvalidPhoneNumber(_)), "{bad}: {e:?}");
    }
    m.assert_calls_async(0).await;
}

async fn mock_check<'a>(
    server: &'a MockServer,
    code: &'static str,
    status: &str,
    valid: bool,
) -> httpmock::Mock<'a> {
    let body = check_body(status, valid);
    server
        .mock_async(move |when, then| {
            when.method(POST)
                .path(check_path())
                .header("authorization", basic(ACCOUNT, TOKEN))
                .header("content-type", FORM)
                .form_urlencoded_tuple("VerificationSid", VE)
                .form_urlencoded_tuple("Code", code);
            then.status(200).json_body(body);
        })
        .await
}

#[tokio::test]
async fn check_approved_is_ok() {
    let server = MockServer::start_async().await;
    let m = mock_check(&server, "123456", "approved", true).await;
    provider(&server)
        .check_code(VE, &SecretString::from("123456"))
        .await
        .unwrap();
    m.assert_calls_async(1).await;
}

#[tokio::test]
async fn check_pending_is_a_wrong_code() {
    let server = MockServer::start_async().await;
    let m = mock_check(&server, "000000", "pending", false).await;
    assert!(matches!(
        provider(&server)
            .check_code(VE, &SecretString::from("000000"))
            .await,
        Err(Error::WrongCode)
    ));
    m.assert_calls_async(1).await;
}

#[tokio::test]
async fn check_other_statuses_are_errors() {
    type StatusCase = (&'static str, bool, fn(&Error) -> bool);
    let cases: [StatusCase; 6] = [
        ("canceled", false, |e| matches!(e, Error::ChallengeExpired)),
        ("expired", false, |e| matches!(e, Error::ChallengeExpired)),
        ("deleted", false, |e| matches!(e, Error::ChallengeExpired)),
        ("failed", false, |e| matches!(e, Error::ChallengeExpired)),
        ("max_attempts_reached", false, |e| {
            matches!(e, Error::TooManyAttempts)
        }),
        ("approvedish", true, |e| is_unexpected(e)),
    ];
    for (status, valid, ok) in cases {
        let server = MockServer::start_async().await;
        let m = mock_check(&server, "123456", status, valid).await;
        let e = provider(&server)
            .check_code(VE, &SecretString::from("123456"))
            .await
            .unwrap_err();
        assert!(ok(&e), "{status}: {e:?}");
        m.assert_calls_async(1).await;
    }
}

fn is_unexpected(e: &Error) -> bool {
    matches!(e, Error::Provider(p) if p.kind == ProviderErrorKind::UnexpectedResponse)
}

#[tokio::test]
async fn check_refuses_bad_handles_and_codes_locally() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(check_body("approved", true));
        })
        .await;
    let t = provider(&server);
    for bad in [
        "",
        "VE",
        "../../Accounts",
        "VEaaaabbbbccccddddeeeeffff0000111",
        "VEaaaabbbbccccddddeeeeffff0000111/",
        "VAaaaabbbbccccddddeeeeffff00001111",
        "VEaaaabbbbccccddddeeeeffff0000111g",
    ] {
        assert!(
            matches!(
                t.check_code(bad, &SecretString::from("123456")).await,
                Err(Error::ChallengeNotFound)
            ),
            "{bad}"
        );
        assert!(
            matches!(
                t.cancel_verification(bad).await,
                Err(Error::ChallengeNotFound)
            ),
            "{bad}"
        );
    }
    for bad in [
        "",
        "123",
        "12345678901",
        "12a456",
        "１２３４５６",
        "123456 ",
    ] {
        assert!(
            matches!(
                t.check_code(VE, &SecretString::from(bad)).await,
                Err(Error::MalformedCode)
            ),
            "{bad:?}"
        );
    }
    m.assert_calls_async(0).await;
}

#[tokio::test]
async fn approved_but_inconsistent_answers_are_never_true() {
    let other = "VEffffeeeeddddccccbbbbaaaa99998888";
    let bodies = [
        json!({"sid": other, "status": "approved", "valid": true}),
        json!({"sid": "VE../../../x", "status": "approved", "valid": true}),
        json!({"status": "approved", "valid": true}),
        json!({"sid": VE, "status": "approved", "valid": false}),
        json!({"sid": VE, "status": "approved"}),
        json!({"sid": VE, "status": "approved", "valid": "true"}),
        json!({"sid": VE, "status": true, "valid": true}),
        json!({"sid": VE, "valid": true}),
        json!({"sid": VE, "status": "pending", "valid": true}),
        json!(["approved"]),
    ];
    for body in bodies {
        let server = MockServer::start_async().await;
        let b = body.clone();
        let m = server
            .mock_async(move |when, then| {
                when.method(POST).path(check_path());
                then.status(200).json_body(b);
            })
            .await;
        let r = provider(&server)
            .check_code(VE, &SecretString::from("123456"))
            .await;
        assert!(matches!(&r, Err(e) if is_unexpected(e)), "{body}: {r:?}");
        m.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn garbage_2xx_on_send_is_unexpected() {
    let cases: [(&str, &str); 6] = [
        (
            "text/html",
            "<html><body>Hello from a captive portal</body></html>",
        ),
        ("application/json", "{\"status\": \"pending\"}"),
        ("application/json", "{\"sid\": 12, \"status\": \"pending\"}"),
        (
            "application/json",
            "{\"sid\": \"VE/../../Accounts/AC1234567890abcdef12345\", \"status\": \"pending\"}",
        ),
        (
            "application/json",
            "{\"sid\": \"VEaaaabbbbccccddddeeeeffff00001111\", \"status\": 3}",
        ),
        ("application/json", ""),
    ];
    for (ctype, body) in cases {
        let server = MockServer::start_async().await;
        let m = server
            .mock_async(|when, then| {
                when.method(POST).path(start_path());
                then.status(201).header("content-type", ctype).body(body);
            })
            .await;
        let r = provider(&server).start_verification(PHONE).await;
        assert!(matches!(&r, Err(e) if is_unexpected(e)), "{body}: {r:?}");
        m.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn cancel_posts_status_canceled_and_tolerates_404() {
    for (status, body) in [
        (200, json!({"sid": VE, "status": "canceled"})),
        (
            404,
            json!({"code": 20404, "message": "not found", "status": 404}),
        ),
    ] {
        let server = MockServer::start_async().await;
        let m = server
            .mock_async(|when, then| {
                when.method(POST)
                    .path(format!("{}/{VE}", start_path()))
                    .header("authorization", basic(ACCOUNT, TOKEN))
                    .header("content-type", FORM)
                    .form_urlencoded_tuple("Status", "canceled");
                then.status(status).json_body(body);
            })
            .await;
        provider(&server).cancel_verification(VE).await.unwrap();
        m.assert_calls_async(1).await;
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Start,
    Check,
}

struct Case {
    op: Op,
    http: u16,
    code: Option<u32>,
    retry_after: Option<&'static str>,
    hits: usize,
    expect: fn(&Error) -> bool,
}

fn provider_err(e: &Error, kind: ProviderErrorKind, code: Option<u32>, status: u16) -> bool {
    matches!(e, Error::Provider(p) if p.kind == kind && p.code == code && p.status == Some(status))
}

/// Every code of the error table in `src/factor/twilio/errors.rs`, and a few more.
#[tokio::test]
async fn every_error_code_maps_to_a_typed_error() {
    use ProviderErrorKind as K;
    let case = |op, http, code, hits, expect| Case {
        op,
        http,
        code,
        retry_after: None,
        hits,
        expect,
    };
    let cases = vec![
        case(Op::Start, 401, Some(20003), 1, |e| {
            provider_err(e, K::Authentication, Some(20003), 401)
        }),
        case(Op::Check, 401, Some(20003), 1, |e| {
            provider_err(e, K::Authentication, Some(20003), 401)
        }),
        case(Op::Check, 404, Some(20404), 1, |e| {
            matches!(e, Error::ChallengeExpired)
        }),
        case(Op::Check, 404, None, 1, |e| {
            matches!(e, Error::ChallengeExpired)
        }),
        // On a start, 404 means the service itself does not exist.
        case(Op::Start, 404, Some(20404), 1, |e| {
            provider_err(e, K::Misconfigured, Some(20404), 404)
        }),
        // 20429: check retried (1 + max_retries), start never.
        case(Op::Check, 429, Some(20429), 3, |e| {
            provider_err(e, K::Throttled, Some(20429), 429)
                && matches!(e, Error::Provider(p) if p.is_retryable())
        }),
        case(Op::Start, 429, Some(20429), 1, |e| {
            provider_err(e, K::Throttled, Some(20429), 429)
        }),
        case(Op::Start, 400, Some(60200), 1, |e| {
            matches!(e, Error::InvalidPhoneNumber(_))
        }),
        case(Op::Start, 400, Some(21211), 1, |e| {
            matches!(e, Error::InvalidPhoneNumber(_))
        }),
        case(Op::Start, 400, Some(21614), 1, |e| {
            matches!(e, Error::InvalidPhoneNumber(_))
        }),
        // On a check no number is sent: 60200 is about the code.
        case(Op::Check, 400, Some(60200), 1, |e| {
            matches!(e, Error::MalformedCode)
        }),
        case(Op::Check, 429, Some(60202), 1, |e| {
            matches!(e, Error::TooManyAttempts)
        }),
        case(
            Op::Start,
            429,
            Some(60203),
            1,
            |e| matches!(e, Error::RateLimited { retry_after, .. } if *retry_after == Duration::from_secs(600)),
        ),
        case(
            Op::Start,
            429,
            Some(60212),
            1,
            |e| matches!(e, Error::RateLimited { retry_after, .. } if *retry_after == Duration::from_secs(30)),
        ),
        case(Op::Start, 400, Some(60205), 1, |e| {
            provider_err(e, K::ChannelUnsupported, Some(60205), 400)
                && all_text(e).contains("Channel::Call")
        }),
        case(Op::Start, 400, Some(60223), 1, |e| {
            provider_err(e, K::Misconfigured, Some(60223), 400)
        }),
        case(Op::Start, 403, Some(60410), 1, |e| {
            provider_err(e, K::DeliveryRefused, Some(60410), 403)
        }),
        case(Op::Start, 403, Some(60605), 1, |e| {
            provider_err(e, K::DeliveryRefused, Some(60605), 403)
        }),
        case(Op::Start, 400, Some(21608), 1, |e| {
            provider_err(e, K::Rejected, Some(21608), 400)
        }),
        case(Op::Start, 418, None, 1, |e| {
            provider_err(e, K::Rejected, None, 418)
        }),
        // 5xx: check retried, start (costs money) never.
        case(Op::Start, 503, None, 1, |e| {
            provider_err(e, K::Unavailable, None, 503)
                && matches!(e, Error::Provider(p) if p.is_retryable())
        }),
        case(Op::Check, 500, Some(20500), 3, |e| {
            provider_err(e, K::Unavailable, Some(20500), 500)
        }),
        Case {
            retry_after: Some("120"),
            ..case(
                Op::Start,
                429,
                Some(60203),
                1,
                |e| matches!(e, Error::RateLimited { retry_after, .. } if *retry_after == Duration::from_secs(120)),
            )
        },
        Case {
            retry_after: Some("5"),
            ..case(
                Op::Start,
                429,
                Some(60212),
                1,
                |e| matches!(e, Error::RateLimited { retry_after, .. } if *retry_after == Duration::from_secs(5)),
            )
        },
        Case {
            retry_after: Some("7"),
            ..case(
                Op::Start,
                429,
                Some(20429),
                1,
                |e| matches!(e, Error::Provider(p) if p.kind == K::Throttled && p.retry_after == Some(Duration::from_secs(7))),
            )
        },
    ];
    for c in cases {
        let server = MockServer::start_async().await;
        let path = match c.op {
            Op::Start => start_path(),
            Op::Check => check_path(),
        };
        let body = match c.code {
            Some(code) => json!({
                "code": code, "message": format!("Twilio says no ({code})"),
                "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": c.http
            })
            .to_string(),
            None => "<html>Bad things</html>".to_owned(),
        };
        let m = server
            .mock_async(|when, then| {
                when.method(POST).path(path);
                let then = then
                    .status(c.http)
                    .header("content-type", "application/json")
                    .body(body);
                if let Some(ra) = c.retry_after {
                    then.header("retry-after", ra);
                }
            })
            .await;
        let t = provider(&server);
        let e = match c.op {
            Op::Start => t.start_verification(PHONE).await.unwrap_err(),
            Op::Check => t
                .check_code(VE, &SecretString::from("123456"))
                .await
                .unwrap_err(),
        };
        assert!(
            (c.expect)(&e),
            "{:?} {} {:?}: got {e:?}",
            c.op,
            c.http,
            c.code
        );
        m.assert_calls_async(c.hits).await;
        assert_no_secret(&all_text(&e));
    }
}

#[tokio::test]
async fn check_retries_5xx_then_succeeds() {
    let server = MockServer::start_async().await;
    let failures = Arc::new(AtomicUsize::new(0));
    let f = failures.clone();
    // Created first, so it is tried first: answers 503 to the first two requests.
    let failing = server
        .mock_async(move |when, then| {
            when.method(POST)
                .path(check_path())
                .is_true(move |_| f.fetch_add(1, Ordering::SeqCst) < 2);
            then.status(503).body("Service Unavailable");
        })
        .await;
    let ok = mock_check(&server, "123456", "approved", true).await;
    provider(&server)
        .check_code(VE, &SecretString::from("123456"))
        .await
        .unwrap();
    failing.assert_calls_async(2).await;
    ok.assert_calls_async(1).await;
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = MockServer::start_async().await;
    let target = server
        .mock_async(|when, then| {
            when.path("/elsewhere");
            then.status(201).json_body(pending_body());
        })
        .await;
    let m = server
        .mock_async(|when, then| {
            when.method(POST).path(start_path());
            then.status(307)
                .header("location", server.url("/elsewhere"));
        })
        .await;
    let e = provider(&server)
        .start_verification(PHONE)
        .await
        .unwrap_err();
    assert!(is_unexpected(&e), "{e:?}");
    m.assert_calls_async(1).await;
    target.assert_calls_async(0).await;
}

#[tokio::test]
async fn timeouts_are_typed_and_never_retried() {
    let server = MockServer::start_async().await;
    let start = server
        .mock_async(|when, then| {
            when.method(POST).path(start_path());
            then.status(201)
                .json_body(pending_body())
                .delay(Duration::from_secs(3));
        })
        .await;
    let check = server
        .mock_async(|when, then| {
            when.method(POST).path(check_path());
            then.status(200)
                .json_body(check_body("approved", true))
                .delay(Duration::from_secs(3));
        })
        .await;
    let t = builder(&server.base_url())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let began = std::time::Instant::now();
    let e = t.start_verification(PHONE).await.unwrap_err();
    assert!(
        matches!(&e, Error::Provider(p) if p.kind == ProviderErrorKind::Timeout),
        "{e:?}"
    );
    assert_no_secret(&all_text(&e));
    assert!(
        !all_text(&e).contains("127.0.0.1"),
        "URL not stripped: {}",
        all_text(&e)
    );
    let e = t
        .check_code(VE, &SecretString::from("123456"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Provider(p) if p.kind == ProviderErrorKind::Timeout),
        "{e:?}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    start.assert_calls_async(1).await;
    check.assert_calls_async(1).await;
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let t = builder(&format!("http://127.0.0.1:{port}/v2"))
        .build()
        .unwrap();
    for e in [
        t.start_verification(PHONE).await.unwrap_err(),
        t.check_code(VE, &SecretString::from("123456"))
            .await
            .unwrap_err(),
        t.cancel_verification(VE).await.unwrap_err(),
    ] {
        assert!(
            matches!(&e, Error::Provider(p) if p.kind == ProviderErrorKind::Unavailable && p.is_retryable()),
            "{e:?}"
        );
        assert_no_secret(&all_text(&e));
        assert!(
            !all_text(&e).contains("http://"),
            "URL not stripped: {}",
            all_text(&e)
        );
    }
}

#[test]
fn builder_validation() {
    let ok = || builder("https://verify.twilio.com/v2");
    assert!(ok().build().is_ok());
    let token_as_sid = twilio_builder()
        .account_sid(TOKEN)
        .auth_token(SecretString::from(TOKEN))
        .service_sid(SERVICE);
    let cases = vec![
        (
            "no account",
            twilio_builder()
                .auth_token(SecretString::from(TOKEN))
                .service_sid(SERVICE),
        ),
        ("token as account sid", token_as_sid),
        ("short account", ok().account_sid("AC0123")),
        ("wrong prefix account", ok().account_sid(SERVICE)),
        (
            "no service",
            twilio_builder()
                .account_sid(ACCOUNT)
                .auth_token(SecretString::from(TOKEN)),
        ),
        (
            "bad service",
            ok().service_sid("VA0123456789abcdef0123456789abcdeZ"),
        ),
        (
            "no credentials",
            twilio_builder().account_sid(ACCOUNT).service_sid(SERVICE),
        ),
        (
            "both credentials",
            ok().api_key(API_KEY, SecretString::from(TOKEN)),
        ),
        (
            "bad api key",
            twilio_builder()
                .account_sid(ACCOUNT)
                .service_sid(SERVICE)
                .api_key(ACCOUNT, SecretString::from(TOKEN)),
        ),
        ("empty token", ok().auth_token(SecretString::from(""))),
        (
            "newline token",
            ok().auth_token(SecretString::from(format!("{TOKEN}\n"))),
        ),
        ("not a url", ok().base_url("not a url")),
        ("ftp url", ok().base_url("ftp://verify.twilio.com/v2")),
        (
            "url with credentials",
            ok().base_url(format!("https://{ACCOUNT}:{TOKEN}@verify.twilio.com/v2")),
        ),
        (
            "url with query",
            ok().base_url("https://verify.twilio.com/v2?x=1"),
        ),
        ("zero timeout", ok().timeout(Duration::ZERO)),
        ("zero connect timeout", ok().connect_timeout(Duration::ZERO)),
        ("too many retries", ok().max_retries(11)),
        ("bad locale", ok().locale("en_US")),
        (
            "fallback is the channel",
            ok().fallback_channel(Channel::Sms),
        ),
    ];
    for (what, b) in cases {
        assert_no_secret(&format!("{b:?}"));
        match b.build() {
            Err(e @ Error::Config(_)) => assert_no_secret(&all_text(&e)),
            other => panic!("{what}: expected a config error, got {other:?}"),
        }
    }
}

#[test]
fn debug_never_shows_the_token() {
    let b = builder("https://verify.twilio.com/v2");
    let text = format!("{b:?}");
    assert!(text.contains("[redacted]"), "{text}");
    assert_no_secret(&text);
    let t = b.build().unwrap();
    let text = format!("{t:?} {t:#?}");
    assert!(
        text.contains("[redacted]") && text.contains(ACCOUNT),
        "{text}"
    );
    assert_no_secret(&text);
    let b = twilio_builder().api_key(API_KEY, SecretString::from(TOKEN));
    assert_no_secret(&format!("{b:?}"));
}

/// `from_env` reads process-global state: each scenario runs in a child
/// process (this test binary, running `from_env_child`) with its own
/// environment, so no test ever mutates the environment of this process.
#[test]
fn from_env_behaviour() {
    let vars = [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_VERIFY_SERVICE_SID",
        "TWILIO_API_KEY_SID",
        "TWILIO_API_KEY_SECRET",
        "TWILIO_VERIFY_CHANNEL",
        "TWILIO_VERIFY_FALLBACK_CHANNEL",
    ];
    let scenarios: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("none", vec![]),
        (
            "none",
            vec![("TWILIO_ACCOUNT_SID", "  "), ("TWILIO_AUTH_TOKEN", "")],
        ),
        (
            "sms",
            vec![
                ("TWILIO_ACCOUNT_SID", ACCOUNT),
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("TWILIO_VERIFY_SERVICE_SID", SERVICE),
            ],
        ),
        (
            "call",
            vec![
                ("TWILIO_ACCOUNT_SID", ACCOUNT),
                ("TWILIO_API_KEY_SID", API_KEY),
                ("TWILIO_API_KEY_SECRET", TOKEN),
                ("TWILIO_VERIFY_SERVICE_SID", SERVICE),
                ("TWILIO_VERIFY_CHANNEL", "call"),
            ],
        ),
        (
            "err:TWILIO_VERIFY_SERVICE_SID",
            vec![
                ("TWILIO_ACCOUNT_SID", ACCOUNT),
                ("TWILIO_AUTH_TOKEN", TOKEN),
            ],
        ),
        (
            "err:TWILIO_ACCOUNT_SID",
            vec![
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("TWILIO_VERIFY_SERVICE_SID", SERVICE),
            ],
        ),
        (
            "err:TWILIO_AUTH_TOKEN",
            vec![
                ("TWILIO_ACCOUNT_SID", ACCOUNT),
                ("TWILIO_VERIFY_SERVICE_SID", SERVICE),
            ],
        ),
        (
            "err:TWILIO_API_KEY_SECRET",
            vec![
                ("TWILIO_ACCOUNT_SID", ACCOUNT),
                ("TWILIO_VERIFY_SERVICE_SID", SERVICE),
                ("TWILIO_API_KEY_SID", API_KEY),
            ],
        ),
        (
            "err:TWILIO_ACCOUNT_SID",
            vec![("TWILIO_VERIFY_CHANNEL", "sms")],
        ),
        (
            "err:channel",
            vec![
                ("TWILIO_ACCOUNT_SID", ACCOUNT),
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("TWILIO_VERIFY_SERVICE_SID", SERVICE),
                ("TWILIO_VERIFY_CHANNEL", "pigeon"),
            ],
        ),
        (
            "fallback",
            vec![
                ("TWILIO_ACCOUNT_SID", ACCOUNT),
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("TWILIO_VERIFY_SERVICE_SID", SERVICE),
                ("TWILIO_VERIFY_FALLBACK_CHANNEL", "Call"),
            ],
        ),
        (
            "err:TWILIO_VERIFY_FALLBACK_CHANNEL",
            vec![
                ("TWILIO_ACCOUNT_SID", ACCOUNT),
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("TWILIO_VERIFY_SERVICE_SID", SERVICE),
                ("TWILIO_VERIFY_FALLBACK_CHANNEL", "pigeon"),
            ],
        ),
        (
            "err:fallback is the channel",
            vec![
                ("TWILIO_ACCOUNT_SID", ACCOUNT),
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("TWILIO_VERIFY_SERVICE_SID", SERVICE),
                ("TWILIO_VERIFY_CHANNEL", "call"),
                ("TWILIO_VERIFY_FALLBACK_CHANNEL", "call"),
            ],
        ),
        (
            "err:TWILIO_ACCOUNT_SID",
            vec![("TWILIO_VERIFY_FALLBACK_CHANNEL", "call")],
        ),
        (
            "err:malformed",
            vec![
                ("TWILIO_ACCOUNT_SID", TOKEN),
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("TWILIO_VERIFY_SERVICE_SID", SERVICE),
            ],
        ),
    ];
    let exe = std::env::current_exe().unwrap();
    for (expect, env) in scenarios {
        let mut cmd = std::process::Command::new(&exe);
        cmd.args([
            "from_env_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ]);
        for v in vars {
            cmd.env_remove(v);
        }
        cmd.envs(env.iter().copied())
            .env("TWOFA_FROM_ENV_EXPECT", expect);
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "scenario {expect} {env:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Run by [`from_env_behaviour`] in a child process with a prepared environment.
#[test]
#[ignore = "run by from_env_behaviour in a child process"]
fn from_env_child() {
    let Ok(expect) = std::env::var("TWOFA_FROM_ENV_EXPECT") else {
        return;
    };
    install_crypto_provider();
    let r = TwilioVerify::from_env();
    match expect.as_str() {
        "none" => assert!(matches!(r, Ok(None)), "{r:?}"),
        "sms" | "call" => {
            let t = r.unwrap().unwrap();
            assert_eq!(t.channel().as_str(), expect);
            assert_eq!(t.fallback_channel(), None);
            assert_no_secret(&format!("{t:?}"));
        }
        "fallback" => {
            let t = r.unwrap().unwrap();
            assert_eq!(t.channel(), Channel::Sms);
            assert_eq!(t.fallback_channel(), Some(Channel::Call));
        }
        other => {
            let e = r.unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{e:?}");
            let text = all_text(&e);
            assert_no_secret(&text);
            let want = other.trim_start_matches("err:");
            if want.starts_with("TWILIO_") {
                assert!(text.contains(want), "{text}");
            }
        }
    }
}

/// A minimal HTTP/1.1 keep-alive server that answers like Twilio Verify and
/// counts accepted connections.
fn keepalive_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || serve_connection(stream));
        }
    });
    (format!("http://{addr}/v2"), accepted)
}

fn serve_connection(stream: TcpStream) {
    let start = pending_body().to_string();
    let check = check_body("approved", true).to_string();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, body) = if request_line.contains("/VerificationCheck ") {
            ("200 OK", &check)
        } else {
            ("201 Created", &start)
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn one_connection_is_reused_for_1000_calls() {
    let (base, accepted) = keepalive_server();
    let t = builder(&base).build().unwrap();
    for i in 0..1000 {
        if i % 2 == 0 {
            assert_eq!(t.start_verification(PHONE).await.unwrap(), VE);
        } else {
            t.check_code(VE, &SecretString::from("123456"))
                .await
                .unwrap();
        }
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}
