//! `start_totp_enrollment` with any issuer and any stored username: the
//! otpauth URI parses, and its label and `issuer` decode to exactly the
//! issuer and account (without `:`).

#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use secrecy::ExposeSecret;
use twofa_verify::{Error, NewUser, Timestamp, UserStore};
use twofa_verify_fuzz::{block_on, fx_with, policy};

fuzz_target!(|input: (String, String)| {
    let (issuer, username) = input;
    let fx = match fx_with(policy(), &issuer) {
        Ok(fx) => fx,
        Err(Error::Config(_)) => {
            assert!(issuer.trim().is_empty() || issuer.len() > 100 || issuer.contains(':'));
            return;
        }
        Err(e) => panic!("{e:?}"),
    };
    // Straight into the store: a third-party store may hold any name.
    let rec = block_on(fx.store.create_user(NewUser {
        username: username.clone(),
        username_key: username.to_lowercase(),
        email: "a@example.com".into(),
        password_hash: "unused".into(),
        created_at: Timestamp::from_millis(0),
    }))
    .expect("create user");
    let e = match block_on(fx.auth.start_totp_enrollment(rec.id)) {
        Ok(e) => e,
        // Only a name longer than any valid username can overflow a QR code.
        Err(Error::Internal(_)) if username.len() > 256 => return,
        Err(e) => panic!("{e:?}"),
    };
    let uri = url::Url::parse(e.otpauth_uri.expose_secret()).expect("a URL");
    assert_eq!(uri.scheme(), "otpauth");
    assert_eq!(uri.host_str(), Some("totp"));
    let label = percent_encoding::percent_decode_str(uri.path().trim_start_matches('/'))
        .decode_utf8()
        .expect("UTF-8 label");
    let (issuer, account) = (issuer.replace(':', ""), username.replace(':', ""));
    assert_eq!(label, format!("{issuer}:{account}"));
    let query: HashMap<String, String> = uri.query_pairs().into_owned().collect();
    assert_eq!(query.get("issuer"), Some(&issuer));
    assert_eq!(
        query.get("secret").map(String::as_str),
        Some(e.secret_base32.expose_secret())
    );
});
