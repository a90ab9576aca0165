//! `check_reset_token` and `reset_password`: any token, and any edit of a
//! real one, is refused with `InvalidResetToken`.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use twofa_verify::Error;
use twofa_verify_fuzz::{Fx, GOOD, block_on, fx_with, policy, pw};

static STATE: LazyLock<(Fx, String)> = LazyLock::new(|| {
    let fx = fx_with(policy(), "Fuzz").expect("authenticator");
    let token = block_on(async {
        fx.auth
            .register("alice", "alice@example.com", &pw(GOOD))
            .await
            .expect("register");
        let t = fx.auth.request_password_reset("alice@example.com").await;
        t.expect("reset").expect("a token").token().to_owned()
    });
    (fx, token)
});

/// Replaces (even `op`) or inserts (odd `op`) `text` at `at` in `token`.
fn edit(token: &str, op: u8, at: u16, text: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    let at = usize::from(at) % (chars.len() + 1);
    let skip = usize::from(op.is_multiple_of(2));
    let head: String = chars[..at].iter().collect();
    let tail: String = chars[(at + skip).min(chars.len())..].iter().collect();
    format!("{head}{text}{tail}")
}

fuzz_target!(|input: (u8, u16, String)| {
    let (op, at, text) = input;
    let (fx, real) = &*STATE;
    // Surrounding whitespace is trimmed on purpose (pasted links). The
    // comparisons with the real token below show it to libFuzzer (it hooks
    // `memcmp`), which then tries it: that is no finding.
    if text.trim() != real {
        let r = block_on(fx.auth.check_reset_token(&text));
        assert!(matches!(r, Err(Error::InvalidResetToken)), "{r:?}");
        let r = block_on(fx.auth.reset_password(&text, &pw("a brand new password")));
        assert!(matches!(r, Err(Error::InvalidResetToken)), "{r:?}");
    }
    let edited = edit(real, op, at, &text);
    if edited.trim() != real {
        let r = block_on(fx.auth.check_reset_token(&edited));
        assert!(matches!(r, Err(Error::InvalidResetToken)), "{r:?}");
    }
});
