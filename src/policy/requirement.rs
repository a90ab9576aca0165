//! Requiring a second factor, with a grace period:
//! [`Policy::second_factor_required`](super::Policy::second_factor_required).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::user::User;

/// The app's choice of whom a [`SecondFactorRequirement`] applies to.
type Selector = Arc<dyn Fn(&User) -> bool + Send + Sync>;

/// A second factor is required of every user, or of those an app-given
/// predicate selects, after a grace period counted per user from the first
/// password sign-in the requirement applied to: a number of days, a number
/// of sign-ins, or both (whichever runs out first).
///
/// A user it applies to who has no second factor yet signs in like this:
/// - within the grace period, [`Login::EnrollSoon`](crate::Login::EnrollSoon):
///   logged in, with the grace left, so the app sends them to enrollment;
/// - after it, [`Login::EnrollmentRequired`](crate::Login::EnrollmentRequired):
///   not logged in; the app lets that session reach only its enrollment pages.
///
/// Removing the last second factor of such a user is refused
/// ([`FactorUnavailable::Required`](crate::error::FactorUnavailable::Required)).
/// Without a grace (neither set) the requirement holds from the first sign-in.
///
/// The grace is kept by the user store
/// ([`UserStore::record_unenrolled_sign_in`](crate::UserStore::record_unenrolled_sign_in)),
/// atomically: concurrent sign-ins each count, so a burst never gets more
/// sign-ins within the grace than allowed.
///
/// ```
/// use std::collections::HashSet;
/// use std::time::Duration;
/// use twofa_verify::policy::SecondFactorRequirement;
/// use twofa_verify::{Policy, UserId};
///
/// let mut policy = Policy::default();
/// // Staff must enroll within a week or five sign-ins, whichever comes
/// // first. Selected by id, which users cannot change (see `for_users`).
/// let staff: HashSet<UserId> = [UserId(1), UserId(7)].into();
/// policy.second_factor_required = Some(
///     SecondFactorRequirement::for_users(move |user| staff.contains(&user.id))
///         .grace_period(Duration::from_secs(7 * 24 * 3600))
///         .grace_sign_ins(5),
/// );
/// assert!(policy.validate().is_ok());
/// let rule = policy.second_factor_required.as_ref().unwrap();
/// assert_eq!(rule.grace_sign_ins_allowed(), Some(5));
/// ```
#[derive(Clone)]
pub struct SecondFactorRequirement {
    selector: Option<Selector>,
    grace_period: Option<Duration>,
    grace_sign_ins: Option<u32>,
}

impl SecondFactorRequirement {
    /// Every user must have a second factor (see the
    /// [`SecondFactorRequirement`] example).
    pub fn everyone() -> Self {
        SecondFactorRequirement {
            selector: None,
            grace_period: None,
            grace_sign_ins: None,
        }
    }

    /// The users for whom `select` is true must have a second factor (see
    /// the [`SecondFactorRequirement`] example). It is called at every
    /// password sign-in of a user without a second factor and when a user
    /// removes a factor; keep it cheap and free of I/O.
    ///
    /// Select by what the user cannot change themselves, such as their id
    /// in a set the app keeps: users edit their username, and an email
    /// change moves the address to any domain they own, so a selector on
    /// either is one the user can step out of (and then remove their last
    /// factor).
    pub fn for_users(select: impl Fn(&User) -> bool + Send + Sync + 'static) -> Self {
        SecondFactorRequirement {
            selector: Some(Arc::new(select)),
            ..Self::everyone()
        }
    }

    /// The grace period in time, from the first sign-in the requirement
    /// applied to (see the [`SecondFactorRequirement`] example).
    pub fn grace_period(mut self, period: Duration) -> Self {
        self.grace_period = Some(period);
        self
    }

    /// The grace period in sign-ins: this many password sign-ins still log
    /// in (see the [`SecondFactorRequirement`] example).
    pub fn grace_sign_ins(mut self, sign_ins: u32) -> Self {
        self.grace_sign_ins = Some(sign_ins);
        self
    }

    /// The grace period in time, if one is set.
    ///
    /// ```
    /// use std::time::Duration;
    /// use twofa_verify::policy::SecondFactorRequirement;
    /// let rule = SecondFactorRequirement::everyone().grace_period(Duration::from_secs(60));
    /// assert_eq!(rule.grace_period_allowed(), Some(Duration::from_secs(60)));
    /// ```
    pub fn grace_period_allowed(&self) -> Option<Duration> {
        self.grace_period
    }

    /// The grace period in sign-ins, if one is set (see the
    /// [`SecondFactorRequirement`] example).
    pub fn grace_sign_ins_allowed(&self) -> Option<u32> {
        self.grace_sign_ins
    }

    /// Whether the requirement applies to `user` (everyone, or the app's
    /// predicate).
    ///
    /// ```
    /// use twofa_verify::policy::SecondFactorRequirement;
    /// use twofa_verify::{Authenticator, MemoryStore, SecretKey};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> twofa_verify::Result<()> {
    /// # let auth = Authenticator::builder().store(MemoryStore::new()).secret_key(SecretKey::generate()).build()?;
    /// # let pw = twofa_verify::secrecy::SecretString::from("correct horse battery");
    /// let admin = auth.register("admin-bob", "bob@example.com", &pw).await?;
    /// let carol = auth.register("carol", "carol@example.com", &pw).await?;
    /// let admins = [admin.id];
    /// let rule = SecondFactorRequirement::for_users(move |u| admins.contains(&u.id));
    /// assert!(rule.applies_to(&admin));
    /// assert!(!rule.applies_to(&carol));
    /// assert!(SecondFactorRequirement::everyone().applies_to(&carol));
    /// # Ok(())
    /// # }
    /// ```
    pub fn applies_to(&self, user: &User) -> bool {
        self.selector.as_ref().is_none_or(|select| select(user))
    }

    /// Where a user stands after their `sign_ins`-th unenrolled sign-in,
    /// the first at `since`, at `now`.
    pub(crate) fn standing(&self, record: RequiredSignIns, now: Timestamp) -> Option<GraceLeft> {
        let until = match self.grace_period {
            Some(p) => {
                let ms = i64::try_from(p.as_millis()).unwrap_or(i64::MAX);
                let until = Timestamp::from_millis(record.since.as_millis().saturating_add(ms));
                if now >= until {
                    return None;
                }
                Some(until)
            }
            None => None,
        };
        let sign_ins = match self.grace_sign_ins {
            Some(n) => {
                let left = u64::from(n).checked_sub(record.sign_ins)?;
                Some(u32::try_from(left).unwrap_or(u32::MAX))
            }
            None => None,
        };
        if until.is_none() && sign_ins.is_none() {
            return None; // no grace at all
        }
        Some(GraceLeft { until, sign_ins })
    }

    /// The checks of [`Policy::validate`](super::Policy::validate).
    pub(crate) fn validate(&self) -> std::result::Result<(), &'static str> {
        if let Some(p) = self.grace_period
            && (p < Duration::from_millis(1) || p > Duration::from_secs(366 * 24 * 3600))
        {
            return Err("second_factor_required: grace_period must be 1 ms to 366 days");
        }
        if self.grace_sign_ins.is_some_and(|n| n > 10_000) {
            return Err("second_factor_required: grace_sign_ins must be at most 10000");
        }
        Ok(())
    }
}

impl fmt::Debug for SecondFactorRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let applies = if self.selector.is_some() {
            "selected users"
        } else {
            "everyone"
        };
        f.debug_struct("SecondFactorRequirement")
            .field("applies_to", &applies)
            .field("grace_period", &self.grace_period)
            .field("grace_sign_ins", &self.grace_sign_ins)
            .finish()
    }
}

/// Two requirements are equal when they have the same grace and the same
/// selector: everyone, or the very same predicate (one `Arc`).
impl PartialEq for SecondFactorRequirement {
    fn eq(&self, other: &Self) -> bool {
        let same_selector = match (&self.selector, &other.selector) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        same_selector
            && self.grace_period == other.grace_period
            && self.grace_sign_ins == other.grace_sign_ins
    }
}

/// What is left of a user's grace period
/// ([`Login::EnrollSoon`](crate::Login::EnrollSoon)): the end in time and
/// the sign-ins still allowed after this one, each when the requirement
/// sets it.
///
/// ```
/// # use twofa_verify::policy::GraceLeft;
/// # fn show(grace: &GraceLeft) -> String {
/// match (grace.sign_ins, grace.until) {
///     (Some(0), _) => "this was your last sign-in without a second factor".into(),
///     (Some(n), _) => format!("{n} more sign-ins without a second factor"),
///     (None, Some(until)) => format!("set up a second factor before {}", until.as_secs()),
///     (None, None) => unreachable!("a grace has an end"),
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct GraceLeft {
    /// When the grace period ends, if it is counted in time.
    pub until: Option<Timestamp>,
    /// Sign-ins left after this one, if it is counted in sign-ins.
    pub sign_ins: Option<u32>,
}

/// A user's unenrolled sign-ins under a second-factor requirement, as
/// [`UserStore::record_unenrolled_sign_in`](crate::UserStore::record_unenrolled_sign_in)
/// returns them.
///
/// ```
/// use twofa_verify::Timestamp;
/// use twofa_verify::policy::RequiredSignIns;
/// let first = RequiredSignIns { since: Timestamp::from_millis(1_000), sign_ins: 1 };
/// assert_eq!(first.sign_ins, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequiredSignIns {
    /// The first such sign-in: the grace period counts from here.
    pub since: Timestamp,
    /// How many there have been, this one included.
    pub sign_ins: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn grace_by_count_and_by_time_whichever_ends_first() {
        let rule = SecondFactorRequirement::everyone()
            .grace_sign_ins(2)
            .grace_period(Duration::from_secs(10));
        let rec = |n| RequiredSignIns {
            since: at(0),
            sign_ins: n,
        };
        let g = rule.standing(rec(1), at(0)).map(|g| g.sign_ins);
        assert_eq!(g, Some(Some(1)));
        assert_eq!(
            rule.standing(rec(2), at(0)).map(|g| g.sign_ins),
            Some(Some(0))
        );
        assert_eq!(rule.standing(rec(3), at(0)), None);
        assert_eq!(
            rule.standing(rec(1), at(9_999)).map(|g| g.until),
            Some(Some(at(10_000)))
        );
        assert_eq!(rule.standing(rec(1), at(10_000)), None);
        assert_eq!(
            SecondFactorRequirement::everyone().standing(rec(1), at(0)),
            None
        );
    }

    #[test]
    fn validate_bounds_and_debug_hides_the_predicate() {
        assert!(SecondFactorRequirement::everyone().validate().is_ok());
        let zero = SecondFactorRequirement::everyone().grace_period(Duration::ZERO);
        assert!(zero.validate().is_err());
        let many = SecondFactorRequirement::everyone().grace_sign_ins(10_001);
        assert!(many.validate().is_err());
        let some = SecondFactorRequirement::for_users(|_| true);
        assert!(format!("{some:?}").contains("selected users"));
        assert_eq!(some, some.clone());
        assert_ne!(some, SecondFactorRequirement::for_users(|_| true));
    }
}
