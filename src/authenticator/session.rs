//! Sessions that end when credentials change, and remembered devices.
//!
//! Every account has a credential generation that goes up at each change of
//! the password, the email, a factor or the phone, and at "sign out
//! everywhere". A [`SessionStamp`] is a keyed MAC over the user id and that
//! generation: an application keeps it in the session at login and checks
//! it on every request with [`Authenticator::session_user`], so every other
//! session of the user ends at its next request after a change. Pending
//! logins and remembered devices carry the generation too.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::state::StateKey;
use super::{Authenticator, StepUp, Verification};
use crate::clock::Timestamp;
use crate::crypto::{ct_eq, random_bytes, random_token};
use crate::error::Result;
use crate::event::AuthEvent;
use crate::store::DeviceRecord;
use crate::user::{User, UserId};

/// Binds a session to the user's current credentials. Keep it in the
/// session next to the user id; [`Authenticator::session_user`] checks it.
/// Opaque and URL-safe; `Debug` hides it. See the
/// [`Authenticator::session_user`] example.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SessionStamp(String);

impl SessionStamp {
    /// The stamp as text, to store in a session (see the
    /// [`Authenticator::session_user`] example).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionStamp([redacted])")
    }
}

/// The token of a remembered device, to keep in a long-lived, `HttpOnly`
/// cookie (or a file). 256 random bits; the store keeps only its keyed hash.
/// `Debug` hides it. See the [`Authenticator::remember_device`] example.
pub struct DeviceToken {
    token: SecretString,
    /// When it stops working.
    pub expires_at: Timestamp,
}

impl DeviceToken {
    /// The token text (URL-safe), the cookie's value (see the
    /// [`Authenticator::remember_device`] example).
    pub fn token(&self) -> &str {
        self.token.expose_secret()
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceToken")
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A remembered device as the user sees it in a list (see the
/// [`Authenticator::remember_device`] example).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RememberedDevice {
    /// Id to revoke it with [`Authenticator::forget_device`].
    pub id: String,
    /// From the user agent, e.g. "Firefox on Linux" (feature `user-agent`;
    /// without it, "Unknown device").
    pub label: String,
    /// When it was remembered.
    pub created_at: Timestamp,
    /// When it last skipped the second factor.
    pub last_used_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// A label for a device from its user agent: "Browser on OS".
#[cfg(feature = "user-agent")]
pub(crate) fn device_label(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent else {
        return UNKNOWN_DEVICE.into();
    };
    match woothee::parser::Parser::new().parse(ua) {
        Some(r) if r.name != "UNKNOWN" && r.os != "UNKNOWN" => format!("{} on {}", r.name, r.os),
        Some(r) if r.name != "UNKNOWN" => r.name.to_owned(),
        _ => UNKNOWN_DEVICE.into(),
    }
}

/// Without feature `user-agent` (and its parser) devices are not told apart
/// by name.
#[cfg(not(feature = "user-agent"))]
pub(crate) fn device_label(_user_agent: Option<&str>) -> String {
    UNKNOWN_DEVICE.into()
}

const UNKNOWN_DEVICE: &str = "Unknown device";

impl Authenticator {
    /// The stamp of `user` as read now. Store it in the session at login
    /// and again after a change made in this session (the change moves the
    /// generation on; re-read the user and stamp it anew). See the
    /// [`session_user`](Self::session_user) example.
    pub fn session_stamp(&self, user: &User) -> SessionStamp {
        SessionStamp(
            data_encoding::BASE64URL_NOPAD.encode(&self.stamp_mac(user.id, user.generation)),
        )
    }

    fn stamp_mac(&self, id: UserId, generation: i64) -> [u8; 32] {
        self.inner.keys.mac_parts(
            b"session-stamp",
            &[&id.0.to_be_bytes(), &generation.to_be_bytes()],
        )
    }

    /// The user of a session, if the session's stamp still matches the
    /// user's credentials (compared in constant time). `None` when the user
    /// is gone or anything changed since the stamp was made: the
    /// application then ends the session.
    ///
    /// ```
    /// use twofa_verify::secrecy::SecretString;
    /// use twofa_verify::{Authenticator, Login, MemoryStore, SecretKey, StepUp};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> twofa_verify::Result<()> {
    /// # let auth = Authenticator::builder()
    /// #     .store(MemoryStore::new())
    /// #     .secret_key(SecretKey::generate())
    /// #     .build()?;
    /// # let password = SecretString::from("correct horse battery");
    /// # auth.register("alice", "alice@example.com", &password).await?;
    /// // At login: keep the user id and the stamp in the session.
    /// let Login::Complete(user) = auth.login("alice", &password).await? else { unreachable!() };
    /// let (id, stamp) = (user.id, auth.session_stamp(&user));
    /// let session = (id, stamp.as_str().to_owned());
    ///
    /// // On every request: the session's user, while its stamp holds.
    /// assert!(auth.session_user(session.0, &session.1).await?.is_some());
    ///
    /// // A password change elsewhere (another browser) ends this session.
    /// let new = SecretString::from("staple battery horse correct");
    /// auth.change_password(id, &StepUp::password("correct horse battery"), &new).await?;
    /// assert!(auth.session_user(session.0, &session.1).await?.is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn session_user(&self, id: UserId, stamp: &str) -> Result<Option<User>> {
        let Some(rec) = self.users().user_by_id(id).await? else {
            return Ok(None);
        };
        let expected = self.stamp_mac(id, rec.credential_generation);
        let given = data_encoding::BASE64URL_NOPAD
            .decode(stamp.as_bytes())
            .unwrap_or_default();
        Ok(ct_eq(&expected, &given).then(|| rec.to_user()))
    }

    /// Ends every session, pending login and remembered device of the user,
    /// after a [`StepUp`]: the password, plus a current code when a second
    /// factor is enabled, so a stolen session cannot throw the owner out.
    /// Refused as [`change_password`](Self::change_password) refuses a
    /// step-up. [`AuthEvent::SignedOutEverywhere`] is worth a notice to the
    /// user.
    ///
    /// The caller's own session ends too, unless it is stamped anew from
    /// the returned user (of the new credential generation): "sign out
    /// everywhere else". Stamp from this user rather than from one read
    /// again later, which may already stand for a later change.
    ///
    /// ```
    /// # async fn f(auth: &twofa_verify::Authenticator, id: twofa_verify::UserId) -> twofa_verify::Result<()> {
    /// use twofa_verify::StepUp;
    /// let user = auth.sign_out_everywhere(id, &StepUp::password("current password")).await?;
    /// let stamp = auth.session_stamp(&user); // this session stays in
    /// # let _ = stamp; Ok(()) }
    /// ```
    pub async fn sign_out_everywhere(&self, id: UserId, step_up: &StepUp) -> Result<User> {
        let rec = self.record(id).await?;
        self.verify_step_up(&rec, step_up).await?;
        self.credentials_changed(id).await?;
        self.emit(AuthEvent::SignedOutEverywhere { user: id })
            .await?;
        self.user_to_restamp(id).await
    }

    /// The user that the acting session is stamped anew from after a change
    /// of `id`'s credentials: read, then the operator's lock checked. A lock
    /// set before the read is refused; one set after it has moved the
    /// credential generation past the one read, so the new stamp ends with
    /// it. (Read last and not checked, a lock that landed during the change
    /// would be stamped over and the session would outlive it.)
    pub(super) async fn user_to_restamp(&self, id: UserId) -> Result<User> {
        let user = self.record(id).await?.to_user();
        self.refuse_if_admin_locked(id).await?;
        Ok(user)
    }

    /// Moves the credential generation on after a change of a credential
    /// or factor: other sessions and pending logins are void, and the
    /// remembered devices (void too) are removed. So are enrollments in
    /// progress: a confirm sent after a password reset, a lock or "sign out
    /// everywhere" must not add a factor, nor re-stamp the session it came
    /// from (a passkey registration checks the generation it started at).
    pub(super) async fn credentials_changed(&self, id: UserId) -> Result<()> {
        self.users().bump_credential_generation(id).await?;
        self.users().remove_devices(id).await?;
        let state = self.state();
        state.delete(StateKey::SmsEnrollment(id)).await?;
        state.delete(StateKey::TotpEnrollment(id)).await?;
        Ok(())
    }

    /// Remembers the device that just passed the second factor, so that
    /// the next login from it needs only the password
    /// ([`login_with_device`](Self::login_with_device)) for
    /// [`Policy::remember_device_for`](crate::Policy::remember_device_for).
    /// The label comes from the call's user agent. Taking the
    /// [`Verification`] makes sure a second factor was passed.
    ///
    /// ```
    /// use twofa_verify::secrecy::SecretString;
    /// use twofa_verify::{Authenticator, ConsoleSms, LocalCodes, Login, MemoryStore};
    /// use twofa_verify::{RequestContext, SecretKey, StepUp};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> twofa_verify::Result<()> {
    /// # let sms = ConsoleSms::quiet();
    /// # let auth = Authenticator::builder()
    /// #     .store(MemoryStore::new())
    /// #     .secret_key(SecretKey::generate())
    /// #     .sms(LocalCodes::new(sms.clone()))
    /// #     .build()?;
    /// # let password = SecretString::from("correct horse battery");
    /// # let alice = auth.register("alice", "alice@example.com", &password).await?;
    /// # auth.start_sms_enrollment(alice.id, "+14155552671", &StepUp::password("correct horse battery")).await?;
    /// # let code = SecretString::from(sms.last_code_for("+14155552671").unwrap());
    /// # let _ = auth.confirm_sms_enrollment(alice.id, &code).await?;
    /// let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    /// let browser = auth.with_context(RequestContext::new().with_user_agent(ua));
    /// let Login::SecondFactor(challenge) = browser.login("alice", &password).await? else {
    ///     unreachable!()
    /// };
    /// # let code = SecretString::from(sms.last_code_for("+14155552671").unwrap());
    /// let verified = browser.verify(challenge.token(), &code).await?;
    /// // "Remember this browser" was ticked: set a long-lived cookie.
    /// let device = browser.remember_device(&verified).await?;
    /// let cookie = device.token().to_owned();
    ///
    /// // Next time, the cookie skips the code.
    /// let next = browser.login_with_device("alice", &password, Some(&cookie)).await?;
    /// assert!(matches!(next, Login::Complete(_)));
    ///
    /// // The profile page lists the devices, and forgets them.
    /// let devices = auth.devices(alice.id).await?;
    /// assert_eq!(devices[0].label, "Firefox on Linux"); // feature `user-agent`
    /// auth.forget_device(alice.id, &devices[0].id).await?;
    /// assert!(auth.devices(alice.id).await?.is_empty());
    /// assert_eq!(auth.forget_all_devices(alice.id).await?, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn remember_device(&self, verification: &Verification) -> Result<DeviceToken> {
        let user = &verification.user;
        let now = self.now();
        // Expired and voided devices of the user go first.
        for d in self.users().devices(user.id).await? {
            if d.expires_at <= now || d.credential_generation != user.generation {
                self.users().remove_device(user.id, &d.id).await?;
            }
        }
        let token = random_token::<32>();
        let expires_at = now.plus(self.inner.policy.remember_device_for);
        let device = DeviceRecord {
            id: data_encoding::HEXLOWER.encode(&random_bytes::<12>()),
            user: user.id,
            token_hash: self.inner.keys.mac(b"device", token.as_bytes()),
            credential_generation: user.generation,
            label: device_label(self.ctx.user_agent()),
            created_at: now,
            last_used_at: now,
            expires_at,
        };
        self.users().add_device(&device).await?;
        self.emit(AuthEvent::DeviceRemembered { user: user.id })
            .await?;
        Ok(DeviceToken {
            token: SecretString::from(token),
            expires_at,
        })
    }

    /// The user's remembered devices that still work, oldest first (see
    /// the [`remember_device`](Self::remember_device) example).
    pub async fn devices(&self, id: UserId) -> Result<Vec<RememberedDevice>> {
        let rec = self.record(id).await?;
        let now = self.now();
        Ok(self
            .users()
            .devices(id)
            .await?
            .into_iter()
            .filter(|d| d.expires_at > now && d.credential_generation == rec.credential_generation)
            .map(|d| RememberedDevice {
                id: d.id,
                label: d.label,
                created_at: d.created_at,
                last_used_at: d.last_used_at,
                expires_at: d.expires_at,
            })
            .collect())
    }

    /// Forgets one remembered device of the user.
    ///
    /// Idempotent, like an HTTP `DELETE`: a device that is already gone
    /// (forgotten in another tab, expired and pruned, voided by a
    /// credential change) is `Ok(())` too, since what the user asked for
    /// holds. So is an id that is not one of this user's devices: it is
    /// left alone, and the answer does not tell another account's device
    /// ids apart from unknown ones. [`AuthEvent::DeviceForgotten`] is
    /// emitted only when a device was removed. See the
    /// [`remember_device`](Self::remember_device) example.
    pub async fn forget_device(&self, id: UserId, device_id: &str) -> Result<()> {
        if self.users().remove_device(id, device_id).await? {
            self.emit(AuthEvent::DeviceForgotten { user: id }).await?;
        }
        Ok(())
    }

    /// Forgets every remembered device of the user; returns how many
    /// entries were removed (expired ones not yet pruned included). See the
    /// [`remember_device`](Self::remember_device) example.
    pub async fn forget_all_devices(&self, id: UserId) -> Result<u64> {
        let n = self.users().remove_devices(id).await?;
        if n > 0 {
            self.emit(AuthEvent::DeviceForgotten { user: id }).await?;
        }
        Ok(n)
    }

    /// The device of `token` if it is remembered for `user`, unexpired and
    /// of the user's current credential generation.
    pub(super) async fn trusted_device(
        &self,
        user: UserId,
        generation: i64,
        token: Option<&str>,
    ) -> Result<Option<DeviceRecord>> {
        let Some(token) = token.filter(|t| !t.is_empty() && t.len() <= 128) else {
            return Ok(None);
        };
        let hash = self.inner.keys.mac(b"device", token.as_bytes());
        let Some(d) = self.users().device_by_token(&hash).await? else {
            return Ok(None);
        };
        let valid = d.user == user
            && d.expires_at > self.now()
            && d.credential_generation == generation
            && ct_eq(&d.token_hash, &hash);
        Ok(valid.then_some(d))
    }
}

#[cfg(test)]
mod tests {
    use super::device_label;

    #[test]
    #[cfg(feature = "user-agent")]
    fn labels_from_user_agents() {
        assert_eq!(
            device_label(Some(
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
            )),
            "Firefox on Linux"
        );
        assert_eq!(device_label(None), "Unknown device");
        assert_eq!(device_label(Some("\u{0}\u{202e}")), "Unknown device");
    }

    #[test]
    #[cfg(not(feature = "user-agent"))]
    fn without_the_parser_every_device_is_unknown() {
        assert_eq!(device_label(None), "Unknown device");
        assert_eq!(
            device_label(Some(
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0"
            )),
            "Unknown device"
        );
    }
}
