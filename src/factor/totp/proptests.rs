//! Property tests of the TOTP window check, the otpauth label and opening
//! stored secrets.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;
use secrecy::{ExposeSecret, SecretBox};

use super::{DIGITS, STEP, SealKeys, code_at, enrollment, matching_step};
use crate::store::StoredSecret;
use crate::user::UserId;

proptest! {
    #![proptest_config(crate::proptest_config::config(256))]

    #[test]
    fn a_match_is_the_code_of_a_step_inside_the_window(
        secret in vec(any::<u8>(), 0..80),
        code in prop_oneof![any::<String>(), "[0-9]{6}", "[0-9]{5,7}"],
        now in prop_oneof![any::<u64>(), 1_000_000_000u64..2_000_000_000],
        back in 0u8..=10,
        forward in 0u8..=10,
    ) {
        if let Some(step) = matching_step(&secret, &code, now, back, forward) {
            let current = now / STEP;
            prop_assert!(step + u64::from(back) >= current && step <= current + u64::from(forward));
            if let Some(t) = step.checked_mul(STEP) {
                prop_assert_eq!(code_at(&secret, t, STEP, DIGITS), code);
            }
        }
    }

    #[test]
    fn the_current_code_always_matches(
        secret in vec(any::<u8>(), 1..64),
        now in 0u64..u64::MAX / 2,
    ) {
        let code = code_at(&secret, now, STEP, DIGITS);
        prop_assert_eq!(matching_step(&secret, &code, now, 0, 0), Some(now / STEP));
    }

    #[test]
    fn a_tampered_or_foreign_secret_never_opens(
        key_id in prop_oneof![Just(1u32), any::<u32>()],
        sealed in vec(any::<u8>(), 0..120),
        user in any::<i64>(),
    ) {
        let key = Arc::new(SecretBox::new(Box::new([9u8; 32])));
        let keys = SealKeys::new(BTreeMap::from([(1, key)]));
        let stored = StoredSecret { key_id, sealed };
        prop_assert!(keys.open(UserId(user), &stored).is_err());
    }
}

proptest! {
    // Each case renders a QR code (PNG and SVG).
    #![proptest_config(crate::proptest_config::config(24))]

    #[test]
    fn the_otpauth_label_decodes_to_issuer_and_account(
        issuer in prop_oneof![any::<String>(), "[ -~]{0,40}"],
        account in prop_oneof![any::<String>(), "[ -~]{0,40}", "(%[0-9A-F]{2}|:){0,12}"],
    ) {
        prop_assume!(issuer.len() <= 300 && account.len() <= 300);
        let e = enrollment(b"12345678901234567890", &issuer, &account);
        let e = e.map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let uri = url::Url::parse(e.otpauth_uri.expose_secret())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(uri.scheme(), "otpauth");
        prop_assert_eq!(uri.host_str(), Some("totp"));
        let label = percent_encoding::percent_decode_str(uri.path().trim_start_matches('/'))
            .decode_utf8()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        // The issuer loses its `:` (the builder refuses one anyway); the
        // account keeps it, percent-encoded, so the label is exact.
        let issuer = issuer.replace(':', "");
        prop_assert_eq!(label, format!("{issuer}:{account}"));
        let query: HashMap<String, String> = uri.query_pairs().into_owned().collect();
        prop_assert_eq!(query.get("issuer"), Some(&issuer));
        prop_assert_eq!(
            query.get("secret").map(String::as_str),
            Some("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        );
    }
}
