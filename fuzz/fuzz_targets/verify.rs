//! `verify(token, code)` and `resend(token)`: any token is refused with a
//! typed error; against a live pending login, a code logs in only when it is
//! one of the right codes.

#![no_main]

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use twofa_verify::{Challenge, Error, Login};
use twofa_verify_fuzz::{Fx, GOOD, PHONE, TwoFactor, block_on, fx_with, normalized, policy, pw};

struct State {
    fx: Fx,
    tf: TwoFactor,
    live: Mutex<Option<Challenge>>,
}

static STATE: LazyLock<State> = LazyLock::new(|| {
    let fx = fx_with(policy(), "Fuzz").expect("authenticator");
    let tf = fx.two_factor();
    State {
        fx,
        tf,
        live: Mutex::new(None),
    }
});

impl State {
    /// A new pending login with an SMS code sent, on a new day so that no
    /// failure count or lock carries over.
    fn new_challenge(&self) -> Challenge {
        self.fx.clock.advance(Duration::from_secs(2 * 24 * 3600));
        block_on(async {
            let Ok(Login::SecondFactor(c)) = self.fx.auth.login("alice", &pw(GOOD)).await else {
                panic!("alice has a second factor")
            };
            self.fx.auth.resend(c.token()).await.expect("resend")
        })
    }

    fn right_codes(&self) -> HashSet<String> {
        let mut right: HashSet<String> = self.tf.recovery.iter().cloned().collect();
        right.insert(self.fx.totp_code(&self.tf.totp, 0));
        right.insert(self.fx.totp_code(&self.tf.totp, 1));
        right.extend(self.fx.sms.last_code_for(PHONE));
        right
    }
}

fuzz_target!(|input: (bool, String, String)| {
    let (against_live, token, code) = input;
    let s = &*STATE;
    if !against_live {
        let r = block_on(s.fx.auth.verify(&token, &code));
        assert!(
            matches!(r, Err(Error::MalformedCode | Error::ChallengeNotFound)),
            "{r:?}"
        );
        let r = block_on(s.fx.auth.resend(&token));
        assert!(matches!(r, Err(Error::ChallengeNotFound)), "{r:?}");
        return;
    }
    let mut live = s.live.lock().expect("not poisoned");
    let c = live.take().unwrap_or_else(|| s.new_challenge());
    match block_on(s.fx.auth.verify(c.token(), &code)) {
        Ok(user) => {
            assert_eq!(user.id, s.tf.user.id);
            assert!(
                s.right_codes().contains(&normalized(&code)),
                "{code:?} logged in"
            );
        }
        Err(Error::MalformedCode | Error::InvalidCode { .. }) => *live = Some(c),
        // Used up: the next input starts a new one.
        Err(Error::TooManyAttempts | Error::Locked { .. }) => {}
        Err(e) => panic!("{e:?}"),
    }
});
