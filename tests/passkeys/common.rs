//! What the passkey tests share: the relying party, an authenticator
//! builder for it, users and their passkeys.

use secrecy::SecretString;
use serde_json::Value;
use twofa_verify::clock::ManualClock;
use twofa_verify::event::RecordingSink;
use twofa_verify::passkey::PasskeyConfig;
use twofa_verify::{Authenticator, SecretKey, StepUp, User};

use super::soft::SoftAuthenticator;

pub const ORIGIN: &str = "https://example.com";
pub const GOOD: &str = "correct horse battery";
const KEY: &[u8] = b"passkey-test-secret-key-0123456789abcdef";

pub fn config() -> PasskeyConfig {
    PasskeyConfig::builder()
        .rp_id("example.com")
        .rp_name("Example")
        .origin(ORIGIN)
        .build()
        .unwrap()
}

pub fn builder(clock: &ManualClock, events: &RecordingSink) -> twofa_verify::AuthenticatorBuilder {
    Authenticator::builder()
        .secret_key(SecretKey::from_bytes(KEY.to_vec()).unwrap())
        .clock(clock.clone())
        .events(events.clone())
        .passkeys(config())
}

pub fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

pub async fn user(auth: &Authenticator, name: &str) -> User {
    auth.register(
        name,
        &format!("{name}@example.com"),
        &SecretString::from(GOOD),
    )
    .await
    .unwrap()
}

/// Registers a passkey for `user` (their first factor: password step-up).
pub async fn add_passkey(
    auth: &Authenticator,
    user: &User,
    key: &mut SoftAuthenticator,
    name: &str,
) {
    let step_up = if auth.passkeys(user.id).await.unwrap().is_empty() {
        StepUp::password(GOOD)
    } else {
        let req = auth.start_passkey_step_up(user.id).await.unwrap();
        let answer = key.assert(&json(req.options()));
        StepUp::with_passkey(GOOD, req.ceremony_id(), answer)
    };
    let reg = auth
        .start_passkey_registration(user.id, name, &step_up)
        .await
        .unwrap();
    let answer = key.register(&json(reg.options()));
    let _ = auth
        .finish_passkey_registration(user.id, reg.ceremony_id(), &answer)
        .await
        .unwrap();
}
