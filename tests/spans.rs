//! Every flow runs in a `twofa` span naming the flow, and nothing the
//! crate records through `tracing` during a full flow (spans, their
//! fields, the audit events inside them) carries the username, email,
//! phone number, a code, a token or the password.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;
use twofa_verify::secrecy::SecretString;
use twofa_verify::{Authenticator, ConsoleSms, Factor, LocalCodes, Login, MemoryStore, SecretKey};
use twofa_verify::{Registration, StepUp};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

const NAME: &str = "quintessa";
const EMAIL: &str = "quintessa.mail@example.org";
const PHONE: &str = "+14155550199";
const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "another horse battery";

#[tokio::test(flavor = "current_thread")]
async fn flows_have_spans_without_personal_data() {
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buffer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::NEW | FmtSpan::CLOSE)
        .with_ansi(false)
        .without_time()
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sms = ConsoleSms::quiet();
    let auth = Authenticator::builder()
        .store(MemoryStore::new())
        .secret_key(SecretKey::generate())
        .sms(LocalCodes::new(sms.clone()))
        .build()
        .unwrap();
    assert_eq!(auth.policy().registration, Registration::Immediate);
    let pw = SecretString::from(PASSWORD);
    let user = auth.register(NAME, EMAIL, &pw).await.unwrap();
    let mut secrets: Vec<String> = Vec::new();
    auth.start_sms_enrollment(user.id, PHONE, &StepUp::password(PASSWORD))
        .await
        .unwrap();
    let code = sms.last_code_for(PHONE).unwrap();
    secrets.push(code.clone());
    let enrolled = auth
        .confirm_sms_enrollment(user.id, &SecretString::from(code))
        .await
        .unwrap();
    let recovery: Vec<String> = enrolled
        .recovery_codes
        .unwrap()
        .codes()
        .iter()
        .map(|c| c.to_string())
        .collect();
    secrets.extend(recovery.iter().cloned());
    let Login::SecondFactor(ch) = auth.login(EMAIL, &pw).await.unwrap() else {
        panic!("SMS is on")
    };
    secrets.push(ch.token().to_owned());
    let code = sms.last_code_for(PHONE).unwrap();
    secrets.push(code.clone());
    auth.verify(ch.token(), &SecretString::from(code))
        .await
        .unwrap();
    let token = auth.request_password_reset(EMAIL).await.unwrap().unwrap();
    secrets.push(token.token().to_owned());
    auth.reset_password(token.token(), &SecretString::from(NEW_PASSWORD))
        .await
        .unwrap();
    let Login::SecondFactor(ch) = auth
        .login(NAME, &SecretString::from(NEW_PASSWORD))
        .await
        .unwrap()
    else {
        panic!("a reset keeps the factor")
    };
    secrets.push(ch.token().to_owned());
    auth.verify(ch.token(), &SecretString::from(recovery[0].clone()))
        .await
        .unwrap();
    let step_up = {
        auth.send_step_up_code(user.id).await.unwrap();
        let code = sms.last_code_for(PHONE).unwrap();
        secrets.push(code.clone());
        StepUp::new(NEW_PASSWORD, Some(code))
    };
    auth.disable_factor(user.id, Factor::Sms, &step_up)
        .await
        .unwrap();

    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    for flow in [
        "register",
        "enroll_sms",
        "login",
        "verify",
        "reset",
        "disable_factor",
    ] {
        assert!(
            text.contains(&format!("twofa{{flow=\"{flow}\"}}")),
            "no span of {flow}:\n{text}"
        );
    }
    // The audit events ran inside the spans (the check below reads them).
    assert!(
        text.contains("twofa{flow=\"verify\"}: twofa_verify::audit"),
        "{text}"
    );
    let digits: String = PHONE.chars().filter(char::is_ascii_digit).collect();
    let mut personal = vec![
        NAME.to_owned(),
        EMAIL.to_owned(),
        "quintessa.mail".to_owned(),
        digits[1..].to_owned(),
        PASSWORD.to_owned(),
        NEW_PASSWORD.to_owned(),
    ];
    personal.extend(secrets);
    for p in personal {
        assert!(!text.contains(&p), "{p:?} recorded:\n{text}");
    }
}
