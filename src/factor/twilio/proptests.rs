//! Property tests of everything that reads Twilio's answers: status, JSON
//! body and `Retry-After`, through a local mock server; and of the shape
//! checks and error mapping behind them.

use std::sync::LazyLock;

use httpmock::prelude::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

use super::client::{ApiError, MAX_RETRY_AFTER, Op, sanitize};
use super::errors::{SEND_LIMIT_WAIT, map_api_error};
use super::tests::builder_with_provider;
use super::validate::is_locale;
use super::*;
use secrecy::SecretString;

const SID: &str = "VE0123456789abcdef0123456789abcdef";
const SERVICE: &str = "VA0123456789abcdef0123456789abcdef";

fn json_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
    ]
}

/// A field: absent, a plausible value, or anything.
fn field(plausible: &'static [&'static str]) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        select(plausible).prop_map(|s| Some(Value::from(s))),
        json_value().prop_map(Some),
    ]
}

/// Bodies Twilio might send, and bodies it never would.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let statuses = &[
        "pending",
        "approved",
        "canceled",
        "expired",
        "max_attempts_reached",
        "deleted",
        "failed",
        "APPROVED",
        "",
    ][..];
    let object = (
        field(&[
            SID,
            "VE0123456789abcdef0123456789abcdee",
            "VA0123456789abcdef0123456789abcdef",
            "../x",
        ]),
        field(statuses),
        prop_oneof![
            Just(None),
            any::<bool>().prop_map(|b| Some(Value::from(b))),
            json_value().prop_map(Some)
        ],
        prop_oneof![
            Just(None),
            any::<u32>().prop_map(|c| Some(Value::from(c))),
            select(
                &[
                    20003u32, 20404, 20429, 60200, 60202, 60203, 60212, 60205, 60223, 60410
                ][..]
            )
            .prop_map(|c| Some(Value::from(c)))
        ],
        prop_oneof![
            Just(None),
            any::<String>().prop_map(|m| Some(Value::from(m))),
            Just(Some(Value::from("bad\r\nX-Injected: 1\u{1b}[31m")))
        ],
    )
        .prop_map(|(sid, status, valid, code, message)| {
            let mut m = Map::new();
            for (k, v) in [
                ("sid", sid),
                ("status", status),
                ("valid", valid),
                ("code", code),
                ("message", message),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
        });
    prop_oneof![3 => object, 1 => vec(any::<u8>(), 0..200), 1 => Just(b"{\"sid\":".to_vec())]
}

fn http_status() -> impl Strategy<Value = u16> {
    prop_oneof![
        select(&[200u16, 201, 204, 301, 400, 401, 404, 429, 500, 503][..]),
        200u16..600,
    ]
}

fn retry_after() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        "[0-9]{1,25}".prop_map(Some),
        "[ -~]{0,20}".prop_map(Some),
        Just(Some("18446744073709551615".to_owned())),
    ]
}

/// A field of the parsed body, when the body is a JSON object.
fn get<'a>(body: &'a Option<Value>, key: &str) -> Option<&'a Value> {
    body.as_ref().and_then(|b| b.get(key))
}

/// No error text (the whole source chain) carries control characters from
/// the answer, and no wait is beyond the clamp.
fn well_formed(e: &Error) -> Result<(), TestCaseError> {
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        let text = s.to_string();
        prop_assert!(!text.chars().any(char::is_control), "{text:?}");
        src = s.source();
    }
    if let Some(wait) = e.retry_after() {
        prop_assert!(wait <= MAX_RETRY_AFTER.max(SEND_LIMIT_WAIT), "{wait:?}");
    }
    Ok(())
}

#[test]
fn any_answer_is_a_typed_result_consistent_with_the_body() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(MockServer::start_async());
    let twilio = builder_with_provider()
        .account_sid("AC0123456789abcdef0123456789abcdef")
        .auth_token(SecretString::from("tok"))
        .service_sid(SERVICE)
        .base_url(server.base_url())
        .max_retries(0)
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        // Where its saved failures are (the `proptest!` macro sets it).
        source_file: Some(file!()),
        ..crate::proptest_config::config(128)
    });
    let result = runner.run(
        &(http_status(), body(), retry_after(), any::<bool>()),
        |(status, body, retry, start)| {
            rt.block_on(async {
                let path = if start {
                    "Verifications"
                } else {
                    "VerificationCheck"
                };
                let mock = server
                    .mock_async(|when, then| {
                        when.method(POST)
                            .path(format!("/Services/{SERVICE}/{path}"));
                        let then = then.status(status).body(body.clone());
                        if let Some(r) = &retry {
                            then.header("Retry-After", r);
                        }
                    })
                    .await;
                let parsed: Option<Value> = serde_json::from_slice(&body).ok();
                let ok = (200..300).contains(&status);
                let st = get(&parsed, "status").and_then(Value::as_str);
                let sid = get(&parsed, "sid").and_then(Value::as_str);
                if start {
                    match twilio.start_verification("+14155552671").await {
                        Ok(got) => {
                            prop_assert!(ok && st == Some("pending") && sid == Some(got.as_str()));
                            prop_assert!(is_sid(&got, "VE"));
                        }
                        Err(e) => well_formed(&e)?,
                    }
                } else {
                    let valid = get(&parsed, "valid").and_then(Value::as_bool);
                    match twilio.check_code(SID, &SecretString::from("123456")).await {
                        Ok(()) => prop_assert!(
                            ok && sid == Some(SID) && st == Some("approved") && valid == Some(true)
                        ),
                        Err(Error::WrongCode) => prop_assert!(
                            ok && sid == Some(SID) && st == Some("pending") && valid != Some(true)
                        ),
                        Err(e) => well_formed(&e)?,
                    }
                }
                mock.delete_async().await;
                Ok(())
            })
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A provider pointed at the discard port on loopback: were a request made,
/// it would fail as a `Provider` error, not as the errors asserted below.
static NOWHERE: LazyLock<TwilioVerify> = LazyLock::new(|| {
    builder_with_provider()
        .account_sid("AC0123456789abcdef0123456789abcdef")
        .auth_token(SecretString::from("tok"))
        .service_sid(SERVICE)
        .base_url("http://127.0.0.1:9")
        .max_retries(0)
        .build()
        .unwrap()
});

proptest! {
    #![proptest_config(crate::proptest_config::config(512))]

    #[test]
    fn any_error_answer_maps_to_a_well_formed_error(
        status in any::<u16>(),
        code in prop_oneof![
            Just(None),
            any::<u32>().prop_map(Some),
            (60_200u32..60_700).prop_map(Some),
        ],
        message in prop_oneof![Just(None), any::<String>().prop_map(|m| Some(sanitize(&m)))],
        // As `post_once` reads it: whole seconds, clamped.
        wait in prop_oneof![
            Just(None),
            any::<u64>().prop_map(|s| Some(Duration::from_secs(s).min(MAX_RETRY_AFTER))),
        ],
        op in select(&[Op::Start, Op::Check, Op::Cancel][..]),
    ) {
        let e = map_api_error(op, ApiError { status, code, message, retry_after: wait });
        well_formed(&e)?;
    }

    #[test]
    fn shape_checks_accept_only_their_shape(s in any::<String>()) {
        if is_sid(&s, "VE") {
            prop_assert!(s.len() == 34 && s.is_ascii());
        }
        if is_e164(&s) {
            prop_assert!(s.len() <= 16 && s[1..].bytes().all(|b| b.is_ascii_digit()));
        }
        if is_locale(&s) {
            let tag = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
            prop_assert!(s.len() <= 35 && s.bytes().all(tag));
        }
        let clean = sanitize(&s);
        prop_assert!(clean.chars().count() <= 200 && !clean.chars().any(char::is_control));
    }

    #[test]
    fn malformed_handles_and_codes_are_refused_before_any_request(
        handle in prop_oneof![any::<String>(), "VE[0-9a-f]{32}", "VE[0-9a-f/.]{32}"],
        code in prop_oneof![any::<String>(), "[0-9]{0,12}"],
        phone in prop_oneof![any::<String>(), "\\+?[0-9]{0,17}"],
    ) {
        let twilio = &*NOWHERE;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let code_ok = (4..=10).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit());
        if !is_sid(&handle, "VE") {
            let r = rt.block_on(twilio.check_code(&handle, &SecretString::from(code.as_str())));
            prop_assert!(matches!(r, Err(Error::ChallengeNotFound)));
            let r = rt.block_on(twilio.cancel_verification(&handle));
            prop_assert!(matches!(r, Err(Error::ChallengeNotFound)));
        } else if !code_ok {
            let r = rt.block_on(twilio.check_code(&handle, &SecretString::from(code.as_str())));
            prop_assert!(matches!(r, Err(Error::MalformedCode)));
        }
        if !is_e164(&phone) {
            let r = rt.block_on(twilio.start_verification(&phone));
            prop_assert!(matches!(r, Err(Error::InvalidPhoneNumber(_))));
        }
    }
}
