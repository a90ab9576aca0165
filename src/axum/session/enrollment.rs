//! A login that ended at enrollment ([`Login::EnrollmentRequired`]): kept
//! in the session apart from a login, so that nothing mistakes it for one.

use serde::{Deserialize, Serialize};
use tower_sessions::Expiry;

use super::{AuthSession, PENDING_KEY, USER_KEY, read};
use crate::authenticator::{RequiredEnrollment, SessionStamp};
use crate::axum::response::WebError;
use crate::clock::Timestamp;
use crate::user::{User, UserId};

#[cfg(doc)]
use crate::Login;

/// Session key of a login that ended at enrollment.
pub(in crate::axum) const ENROLL_KEY: &str = "twofa.enrolling";

/// How long a session may stay at enrollment: long enough to install an
/// authenticator app, short enough that a forgotten tab does not keep it.
const ENROLLMENT_WINDOW: std::time::Duration = std::time::Duration::from_secs(30 * 60);

#[derive(Serialize, Deserialize)]
pub(super) struct Enrolling {
    id: UserId,
    stamp: SessionStamp,
    expires_at: Timestamp,
}

impl AuthSession {
    /// Reads the enrollment-only state: dropped when expired or when the
    /// user's credentials changed since (the stamp, as for a login).
    pub(super) async fn load_enrolling(&mut self, now: Timestamp) -> Result<(), WebError> {
        let Some(e) = read::<Enrolling>(&self.session, ENROLL_KEY).await? else {
            return Ok(());
        };
        let user = if e.expires_at > now {
            self.auth.session_user(e.id, e.stamp.as_str()).await?
        } else {
            None
        };
        match user {
            Some(u) => self.enrolling = Some(u),
            None => {
                self.session.remove_value(ENROLL_KEY).await?;
            }
        }
        Ok(())
    }

    /// Keeps a login that ended at enrollment
    /// ([`Login::EnrollmentRequired`]): nobody is logged in
    /// ([`user`](Self::user) is `None`, [`RequireUser`](crate::axum::RequireUser)
    /// refuses), the session gets a new id, and the
    /// [`PendingGuard`](crate::axum::PendingGuard) keeps it on the
    /// enrollment pages the app names. The enrollment pages take the user
    /// from [`EnrollingUser`](crate::axum::EnrollingUser) and, once a
    /// factor is confirmed, call [`enrolled`](Self::enrolled). It lasts 30
    /// minutes, and ends with any change of the user's credentials.
    ///
    /// ```
    /// use axum::response::Redirect;
    /// use twofa_verify::Login;
    /// use twofa_verify::axum::{AuthSession, WebError};
    /// async fn after_password(mut s: AuthSession, outcome: Login) -> Result<Redirect, WebError> {
    ///     Ok(match outcome {
    ///         Login::Complete(user) => { s.login(&user, false).await?; Redirect::to("/") }
    ///         Login::EnrollSoon { user, .. } => { s.login(&user, false).await?; Redirect::to("/enroll") }
    ///         Login::EnrollmentRequired(e) => { s.begin_enrollment(&e).await?; Redirect::to("/enroll") }
    ///         Login::SecondFactor(c) => { s.begin_second_factor(&c, false).await?; Redirect::to("/code") }
    ///         _ => Redirect::to("/login"),
    ///     })
    /// }
    /// ```
    pub async fn begin_enrollment(
        &mut self,
        enrollment: &RequiredEnrollment,
    ) -> Result<(), WebError> {
        self.rotate(None).await?;
        self.session.remove_value(USER_KEY).await?;
        self.session.remove_value(PENDING_KEY).await?;
        self.user = None;
        self.pending = None;
        let user = enrollment.user();
        let state = Enrolling {
            id: user.id,
            stamp: self.auth.session_stamp(user),
            expires_at: self.auth.now().plus(ENROLLMENT_WINDOW),
        };
        self.session.insert(ENROLL_KEY, &state).await?;
        self.session.set_expiry(Some(Expiry::OnSessionEnd));
        self.enrolling = Some(user.clone());
        Ok(())
    }

    /// The user of a login that ended at enrollment, if this session is
    /// one (see [`begin_enrollment`](Self::begin_enrollment)). Not a
    /// logged-in user: only enrollment pages may act for them.
    pub fn enrolling(&self) -> Option<&User> {
        self.enrolling.as_ref()
    }

    /// After a factor was enabled in this session (`user` as the
    /// enrollment returned it,
    /// [`Enrolled::user`](crate::Enrolled::user)): a logged-in session is
    /// stamped anew ([`refresh`](Self::refresh)); a session at enrollment
    /// for this user, whose user now has a second factor, becomes a login
    /// (a browser session): the user proved the password and the new
    /// factor. Anything else is [`WebError::LoginRequired`].
    ///
    /// ```
    /// use axum::{Form, response::Redirect};
    /// use twofa_verify::axum::{AuthSession, EnrollingUser, WebError};
    /// use twofa_verify::secrecy::SecretString;
    /// #[derive(serde::Deserialize)]
    /// struct CodeForm { code: SecretString }
    /// async fn confirm_sms(
    ///     EnrollingUser(me): EnrollingUser,
    ///     mut s: AuthSession,
    ///     Form(f): Form<CodeForm>,
    /// ) -> Result<Redirect, WebError> {
    ///     let enrolled = s.auth().confirm_sms_enrollment(me.id, &f.code).await?;
    ///     s.enrolled(&enrolled.user).await?; // logged in from here on
    ///     Ok(Redirect::to("/recovery_codes"))
    /// }
    /// ```
    pub async fn enrolled(&mut self, user: &User) -> Result<(), WebError> {
        if self.user.is_some() {
            return self.refresh(user).await;
        }
        let for_this_user = self.enrolling.as_ref().is_some_and(|e| e.id == user.id);
        if !for_this_user || !user.has_second_factor() {
            return Err(WebError::LoginRequired { redirect: None });
        }
        self.session.remove_value(ENROLL_KEY).await?;
        self.enrolling = None;
        self.login(user, false).await
    }
}
