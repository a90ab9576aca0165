//! The mail budget of each address ([`Policy::mail_per_address`]): every
//! mail the crate produces (confirmation links, "already registered"
//! notices, reset links, email-change links) and every notice the application reserves with
//! [`Authenticator::reserve_mail`] takes a place in it first.
//!
//! The place is taken by one atomic increment of the address's counter and
//! the answer read from the count it returns, so a burst of requests for
//! one address, on any number of instances, produces at most the budget.
//! Past the budget the application's notices get one summary per window:
//! whichever request first sets the window's summary mark (`put_if_absent`,
//! expiring with the counter) sends it.
//!
//! [`Policy::mail_per_address`]: crate::Policy::mail_per_address

use super::Authenticator;
use super::state::{BudgetKey, Marker, StateKey};
use crate::clock::Timestamp;
use crate::error::Result;
use crate::event::{AuthEvent, MailKind};
use crate::user::{UserId, normalize_email};

/// What to do with a mail of the application's own, from
/// [`Authenticator::reserve_mail`] (see its example).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum MailDecision {
    /// Within the address's budget: send the mail.
    Send,
    /// The budget of this window is spent and this is the first mail past
    /// it: send one summary instead ("several security messages for your
    /// account in the last hour; sign in to review them"), not the mail.
    SendSummary,
    /// The budget and this window's summary are spent: send nothing.
    Suppressed,
}

/// Whether a place in an address's budget was free.
enum Place {
    /// Within the budget.
    Free,
    /// Past it, as the first of the window.
    FirstPast,
    /// Past it, after the first.
    Past,
}

impl Authenticator {
    /// Reserves a mail to `to` in its address's budget
    /// ([`Policy::mail_per_address`](crate::Policy::mail_per_address),
    /// shared with the mails the crate produces) before the application
    /// sends a mail of its own, such as a security notice. `about` is the
    /// account the mail concerns, for the event.
    ///
    /// Past the budget, exactly one call per window answers
    /// [`MailDecision::SendSummary`] and the others
    /// [`MailDecision::Suppressed`]; each raises
    /// [`AuthEvent::MailSuppressed`], so no notice goes unrecorded. The
    /// answer holds under concurrent calls on any number of instances
    /// sharing the state store.
    ///
    /// Fails with [`Error::InvalidEmail`](crate::Error::InvalidEmail) for
    /// an address that is not one, and with the store's error when the
    /// budget cannot be reserved: send nothing then.
    ///
    /// ```
    /// # async fn f(auth: &twofa_verify::Authenticator, user: twofa_verify::User) -> twofa_verify::Result<()> {
    /// use twofa_verify::MailDecision;
    /// match auth.reserve_mail(&user.email, Some(user.id)).await? {
    ///     MailDecision::Send => { /* the notice */ }
    ///     MailDecision::SendSummary => { /* one "several messages" summary */ }
    ///     _ => { /* nothing: the event says so */ }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn reserve_mail(&self, to: &str, about: Option<UserId>) -> Result<MailDecision> {
        let email = normalize_email(to)?;
        let decision = match self.take_mail_place(&email).await? {
            Place::Free => return Ok(MailDecision::Send),
            Place::FirstPast => MailDecision::SendSummary,
            Place::Past => MailDecision::Suppressed,
        };
        self.emit(AuthEvent::MailSuppressed {
            user: about,
            mail: MailKind::Notice,
            summary: decision == MailDecision::SendSummary,
        })
        .await?;
        Ok(decision)
    }

    /// Takes a place in the budget of `email` (normalised) for a mail the
    /// crate produces; whether it was free. The caller raises
    /// [`AuthEvent::MailSuppressed`] when it was not and a mail would have
    /// gone (see [`mail_suppressed`](Self::mail_suppressed)).
    pub(super) async fn reserve_own_mail(&self, email: &str) -> Result<bool> {
        Ok(self.count_mail(email).await?.is_none())
    }

    /// Records a mail the crate did not produce for want of budget.
    pub(super) async fn mail_suppressed(&self, user: Option<UserId>, mail: MailKind) -> Result<()> {
        self.emit(AuthEvent::MailSuppressed {
            user,
            mail,
            summary: false,
        })
        .await
    }

    /// Counts one mail to `email` (normalised): `None` within the budget,
    /// past it the end of the counter's window.
    pub(super) async fn count_mail(&self, email: &str) -> Result<Option<Timestamp>> {
        let budget = (
            BudgetKey::MailAddress(email.to_owned()),
            self.inner.policy.mail_per_address,
        );
        let refused = self.try_reserve_budgets(vec![budget]).await?.err();
        Ok(refused.map(|r| r.until))
    }

    /// Takes a place in the budget of `email` (normalised); past it, tries
    /// to take the window's summary.
    async fn take_mail_place(&self, email: &str) -> Result<Place> {
        let Some(window_end) = self.count_mail(email).await? else {
            return Ok(Place::Free);
        };
        // The mark lives as long as the counter's window: the next window
        // has a summary of its own.
        let first = self
            .state()
            .put_if_absent(
                StateKey::MailSummary(email),
                &Marker,
                window_end,
                self.now(),
            )
            .await?;
        Ok(if first { Place::FirstPast } else { Place::Past })
    }
}
