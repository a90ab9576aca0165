//! A second factor required by the policy: the grace period at login, and
//! the half-way state of a login that ends at enrollment.

use std::fmt;

use super::{Authenticator, Login};
use crate::error::Result;
use crate::event::AuthEvent;
use crate::policy::GraceLeft;
use crate::user::User;

/// A login that ended at enrollment ([`Login::EnrollmentRequired`]): the
/// password was right, but the policy requires a second factor of this
/// user, they have none and their grace period is over. It is **not** a
/// login: keep [`user_id`](Self::user_id) in the session as a half-logged-in
/// state that reaches only the enrollment pages (with the `axum` feature,
/// `AuthSession::begin_enrollment` and the `PendingGuard`'s enrollment
/// paths). The enrollment calls take a step-up (the password again); once
/// a factor is confirmed, the user signs in anew with it.
///
/// ```
/// use std::time::Duration;
/// use twofa_verify::clock::ManualClock;
/// use twofa_verify::policy::SecondFactorRequirement;
/// use twofa_verify::secrecy::SecretString;
/// use twofa_verify::{Authenticator, Login, MemoryStore, Policy, SecretKey};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> twofa_verify::Result<()> {
/// let mut policy = Policy::default();
/// policy.second_factor_required = Some(SecondFactorRequirement::everyone().grace_sign_ins(1));
/// let auth = Authenticator::builder()
///     .store(MemoryStore::new())
///     .secret_key(SecretKey::generate())
///     .policy(policy)
///     .build()?;
/// let password = SecretString::from("correct horse battery");
/// let alice = auth.register("alice", "alice@example.com", &password).await?;
///
/// // The one sign-in of the grace: logged in, "set up a second factor now".
/// let Login::EnrollSoon { user, grace } = auth.login("alice", &password).await? else {
///     panic!("within the grace")
/// };
/// assert_eq!((user.id, grace.sign_ins), (alice.id, Some(0)));
///
/// // After it: not logged in, only enrollment.
/// let Login::EnrollmentRequired(pending) = auth.login("alice", &password).await? else {
///     panic!("grace over")
/// };
/// assert_eq!(pending.user_id(), alice.id);
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct RequiredEnrollment {
    user: User,
}

impl RequiredEnrollment {
    /// The user who must enroll (see the [`RequiredEnrollment`] example).
    pub fn user_id(&self) -> crate::UserId {
        self.user.id
    }

    /// The user's current view, e.g. to greet them on the enrollment page
    /// (see the [`RequiredEnrollment`] example).
    pub fn user(&self) -> &User {
        &self.user
    }
}

impl fmt::Debug for RequiredEnrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequiredEnrollment")
            .field("user", &self.user.id)
            .finish()
    }
}

/// Where an unenrolled user stands under the policy.
pub(super) enum Standing {
    /// No requirement applies: a plain login.
    Free,
    /// Within the grace period.
    Grace(GraceLeft),
    /// The grace period is over.
    Over,
}

impl Authenticator {
    /// Where `user` (who has no second factor) stands; counts this sign-in
    /// when a requirement applies (one atomic store call: reserve, then
    /// check).
    pub(super) async fn unenrolled_standing(&self, user: &User) -> Result<Standing> {
        let Some(rule) = &self.inner.policy.second_factor_required else {
            return Ok(Standing::Free);
        };
        if !rule.applies_to(user) {
            return Ok(Standing::Free);
        }
        let now = self.now();
        let record = self.users().record_unenrolled_sign_in(user.id, now).await?;
        Ok(match rule.standing(record, now) {
            Some(left) => Standing::Grace(left),
            None => Standing::Over,
        })
    }

    /// The outcome of a right password for an unenrolled user (the
    /// login's reservation refused an operator's lock).
    pub(super) async fn unenrolled_login(&self, user: User, standing: Standing) -> Result<Login> {
        let succeeded = AuthEvent::LoginSucceeded {
            user: user.id,
            factor: None,
        };
        match standing {
            Standing::Free => {
                self.emit(succeeded).await?;
                Ok(Login::Complete(user))
            }
            Standing::Grace(grace) => {
                self.emit(succeeded).await?;
                self.emit(AuthEvent::SecondFactorEnrollmentDue {
                    user: user.id,
                    grace_over: false,
                })
                .await?;
                Ok(Login::EnrollSoon { user, grace })
            }
            Standing::Over => {
                self.emit(AuthEvent::SecondFactorEnrollmentDue {
                    user: user.id,
                    grace_over: true,
                })
                .await?;
                Ok(Login::EnrollmentRequired(RequiredEnrollment { user }))
            }
        }
    }

    /// Whether the policy requires a second factor of `user`.
    pub(super) fn second_factor_required_of(&self, user: &User) -> bool {
        self.inner
            .policy
            .second_factor_required
            .as_ref()
            .is_some_and(|rule| rule.applies_to(user))
    }
}
