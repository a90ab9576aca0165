//! `login(identifier, password)` and the lookups by username and email:
//! typed errors, and only the one user's own name or address finds her.
//! Every login runs Argon2, so this target is slow (tens of runs a second).

#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use twofa_verify::{Error, Login, User};
use twofa_verify_fuzz::{Fx, GOOD, block_on, fx_with, policy, pw};

static STATE: LazyLock<(Fx, User)> = LazyLock::new(|| {
    let fx = fx_with(policy(), "Fuzz").expect("authenticator");
    let user = block_on(fx.auth.register("alice", "alice@example.com", &pw(GOOD)));
    (fx, user.expect("register"))
});

fuzz_target!(|input: (String, String)| {
    let (ident, password) = input;
    let (fx, alice) = &*STATE;
    fx.clock.advance(Duration::from_secs(1));
    let by_name = block_on(fx.auth.user_by_username(&ident)).expect("lookup");
    let by_email = block_on(fx.auth.user_by_email(&ident)).expect("lookup");
    let found = by_name.or(by_email);
    if let Some(u) = &found {
        assert_eq!(u.id, alice.id);
    }
    match block_on(fx.auth.login(&ident, &pw(&password))) {
        Ok(Login::Complete(u)) => {
            assert_eq!(u.id, alice.id);
            assert!(found.is_some(), "{ident:?} logged in but finds no one");
        }
        Ok(Login::SecondFactor(_)) => panic!("alice has no second factor"),
        Err(Error::InvalidCredentials | Error::Locked { .. }) => {}
        Err(e) => panic!("{e:?}"),
    }
});
