//! `start_sms_enrollment(phone)`: a typed `InvalidPhoneNumber`, or a code
//! sent to an E.164 number that parses to itself.

#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use twofa_verify::user::mask_phone;
use twofa_verify::{Error, User};
use twofa_verify_fuzz::{Fx, GOOD, block_on, fx_with, is_e164, policy, pw};

const REGIONS: [Option<&str>; 4] = [None, Some("US"), Some("GB"), Some("IN")];

static STATE: LazyLock<Vec<(Fx, User)>> = LazyLock::new(|| {
    REGIONS
        .iter()
        .map(|region| {
            let mut p = policy();
            p.default_phone_region = region.map(str::to_owned);
            let fx = fx_with(p, "Fuzz").expect("authenticator");
            let user = block_on(fx.auth.register("alice", "alice@example.com", &pw(GOOD)));
            (fx, user.expect("register"))
        })
        .collect()
});

fn sent_to(fx: &Fx) -> String {
    fx.sms
        .messages()
        .last()
        .map(|m| m.to.clone())
        .unwrap_or_default()
}

fuzz_target!(|input: (u8, String)| {
    let (region, raw) = input;
    let (fx, user) = &STATE[usize::from(region) % REGIONS.len()];
    // Lets pending codes expire, so the store's sweep keeps memory flat.
    fx.clock.advance(Duration::from_secs(1));
    match block_on(fx.auth.start_sms_enrollment(user.id, &raw, None)) {
        Ok(e) => {
            let to = sent_to(fx);
            assert!(is_e164(&to), "{raw:?} -> {to:?}");
            assert_eq!(e.to, mask_phone(&to));
            let again = block_on(fx.auth.start_sms_enrollment(user.id, &to, None));
            assert!(again.is_ok(), "{to:?}: {again:?}");
            assert_eq!(sent_to(fx), to);
        }
        Err(Error::InvalidPhoneNumber(_)) => {}
        Err(e) => panic!("{raw:?}: {e:?}"),
    }
});
