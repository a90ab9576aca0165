//! Without a rustls crypto provider installed, building the Twilio provider
//! is a configuration error, not a panic inside reqwest. A test binary of
//! its own: every other test process installs a provider.
#![cfg(feature = "twilio")]

use secrecy::SecretString;
use twofa_verify::Error;
use twofa_verify::factor::TwilioVerify;

fn builder() -> twofa_verify::factor::TwilioVerifyBuilder {
    TwilioVerify::builder()
        .account_sid("AC00000000000000000000000000000000")
        .auth_token(SecretString::from("token"))
        .service_sid("VA00000000000000000000000000000000")
}

#[test]
fn build_without_a_crypto_provider_is_a_config_error_then_works_once_one_is_installed() {
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
    match builder().build() {
        Err(Error::Config(msg)) => {
            assert!(msg.contains("crypto provider"), "{msg}");
            assert!(
                !msg.contains("token"),
                "no credential in the message: {msg}"
            );
        }
        other => panic!("expected Error::Config, got {other:?}"),
    }

    rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .expect("no provider installed before");
    assert!(builder().build().is_ok());
}
