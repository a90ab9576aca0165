//! Support and admin actions on an account, for an operator (the CLI's
//! `admin` commands, an app's own admin pages): [`Admin`], from
//! [`Authenticator::admin`].
//!
//! Every change takes an [`Operator`] (a name and a reason), is appended to
//! the audit trail with them, and is raised as
//! [`AuthEvent::AdminAction`] so that the app sends the user a notice.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

use super::Authenticator;
use super::state::{FailScope, Gate, StateKey};
use crate::error::{Error, FactorUnavailable, Result};
use crate::event::AuthEvent;
use crate::store::{AuditRecord, DeviceRecord};
use crate::user::{User, UserId, normalize_email};

/// Longest operator name, in characters.
const OPERATOR_NAME_MAX: usize = 64;
/// Shortest and longest reason, in characters.
const REASON_CHARS: std::ops::RangeInclusive<usize> = 4..=200;

/// Who acts on an account and why: recorded with every admin action.
///
/// ```
/// use twofa_verify::authenticator::Operator;
/// let op = Operator::new("jane", "user lost their phone, ticket #4821")?;
/// assert_eq!(op.name(), "jane");
/// assert!(Operator::new("", "a reason").is_err());
/// assert!(Operator::new("jane", "ok").is_err()); // too short a reason
/// assert!(Operator::new("jane\u{1b}[2J", "terminal escape").is_err());
/// # Ok::<(), twofa_verify::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    name: String,
    reason: String,
}

impl Operator {
    /// Checks and keeps the operator's name (1 to 64 characters) and the
    /// reason (4 to 200), both trimmed, with no control characters; else
    /// [`Error::InvalidOperator`]. See the [`Operator`] example.
    pub fn new(name: &str, reason: &str) -> Result<Self> {
        let (name, reason) = (name.trim(), reason.trim());
        let plain = |s: &str| !s.chars().any(char::is_control);
        if name.is_empty() || name.chars().count() > OPERATOR_NAME_MAX {
            return Err(Error::InvalidOperator(
                "the name must have 1 to 64 characters",
            ));
        }
        if !REASON_CHARS.contains(&reason.chars().count()) {
            return Err(Error::InvalidOperator(
                "the reason must have 4 to 200 characters",
            ));
        }
        if !plain(name) || !plain(reason) {
            return Err(Error::InvalidOperator("control characters are not allowed"));
        }
        Ok(Operator {
            name: name.to_owned(),
            reason: reason.to_owned(),
        })
    }
    /// The operator's name (see the [`Operator`] example).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Why they act (see the [`Operator`] example).
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// What an operator did, in [`AuthEvent::AdminAction`] (see the [`Admin`]
/// example).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AdminAction {
    /// Locked the account ([`Admin::lock`]).
    Locked,
    /// Unlocked it ([`Admin::unlock`]).
    Unlocked,
    /// Removed every second factor ([`Admin::reset_second_factor`]).
    SecondFactorReset,
    /// Ended every session and remembered device ([`Admin::revoke_sessions`]).
    SessionsRevoked,
    /// Made the password unusable until a reset ([`Admin::force_password_reset`]).
    PasswordResetForced,
}

impl AdminAction {
    /// The action's stable `snake_case` name (the audit trail's kind is
    /// `admin_` and this).
    ///
    /// ```
    /// use twofa_verify::authenticator::AdminAction;
    /// assert_eq!(AdminAction::SecondFactorReset.name(), "second_factor_reset");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            AdminAction::Locked => "locked",
            AdminAction::Unlocked => "unlocked",
            AdminAction::SecondFactorReset => "second_factor_reset",
            AdminAction::SessionsRevoked => "sessions_revoked",
            AdminAction::PasswordResetForced => "password_reset_forced",
        }
    }
}

impl AdminAction {
    /// The audit trail's kind: `admin_` and the name.
    pub(crate) fn audit_kind(self) -> &'static str {
        match self {
            AdminAction::Locked => "admin_locked",
            AdminAction::Unlocked => "admin_unlocked",
            AdminAction::SecondFactorReset => "admin_second_factor_reset",
            AdminAction::SessionsRevoked => "admin_sessions_revoked",
            AdminAction::PasswordResetForced => "admin_password_reset_forced",
        }
    }
}

impl fmt::Display for AdminAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An account's security state, for an operator ([`Admin::security_state`];
/// see the [`Admin`] example).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SecurityState {
    /// The user (phone shown masked by `Debug`).
    pub user: User,
    /// Unused recovery codes.
    pub recovery_codes_left: usize,
    /// Remembered devices.
    pub devices: Vec<DeviceRecord>,
    /// How long the account stays locked or delayed, if it is.
    pub locked_for: Option<Duration>,
    /// The most recent audit records, newest first.
    pub recent_events: Vec<AuditRecord>,
}

/// Support and admin actions (see the module documentation).
///
/// ```
/// use twofa_verify::authenticator::{AdminAction, Operator};
/// use twofa_verify::secrecy::SecretString;
/// use twofa_verify::{AuthEvent, Authenticator, Error, MemoryStore, SecretKey};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> twofa_verify::Result<()> {
/// let store = MemoryStore::new();
/// let auth = Authenticator::builder()
///     .store(store.clone())
///     .audit_store(store)
///     .secret_key(SecretKey::generate())
///     .build()?;
/// let password = SecretString::from("correct horse battery");
/// let alice = auth.register("alice", "alice@example.com", &password).await?;
///
/// let admin = auth.admin();
/// let jane = Operator::new("jane", "suspicious logins, ticket #12")?;
/// let found = admin.find_user("Alice@Example.com").await?.expect("found by email");
/// let state = admin.security_state(found.id).await?;
/// assert_eq!((state.recovery_codes_left, state.locked_for), (0, None));
/// admin.lock(found.id, &jane).await?;
/// assert!(matches!(auth.login("alice", &password).await, Err(Error::Locked { .. })));
/// admin.unlock(found.id, &jane).await?;
/// admin.reset_second_factor(found.id, &jane).await?; // none to remove here
/// assert_eq!(admin.revoke_sessions(found.id, &jane).await?, 0); // devices forgotten
/// admin.force_password_reset(found.id, &jane).await?;
/// // Like any wrong password: nothing tells an attacker more.
/// assert!(matches!(auth.login("alice", &password).await, Err(Error::InvalidCredentials)));
/// let trail = admin.events(alice.id, None, 10).await?;
/// assert_eq!(trail[0].entry.kind, "login_failed");
/// assert_eq!(trail[1].entry.kind, "admin_password_reset_forced");
/// assert_eq!(trail[1].entry.operator.as_deref(), Some("jane"));
/// assert_eq!(trail[1].entry.reason.as_deref(), Some("suspicious logins, ticket #12"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Admin<'a> {
    auth: &'a Authenticator,
}

/// How long an admin lock lasts when not lifted: a year.
const ADMIN_LOCK: Duration = Duration::from_secs(365 * 24 * 3600);

impl Authenticator {
    /// The support and admin actions (see the [`Admin`] example).
    pub fn admin(&self) -> Admin<'_> {
        Admin { auth: self }
    }

    /// The user's own audit records, newest first, below the id `before`
    /// when given (the next page), at most `limit`; empty without an audit
    /// store. For a "recent security activity" page: each record has the
    /// time, the event, the client's network and device, never a secret.
    ///
    /// ```
    /// # async fn f(auth: twofa_verify::Authenticator, me: twofa_verify::User) -> twofa_verify::Result<()> {
    /// for r in auth.security_activity(me.id, None, 50).await? {
    ///     println!("{} {} {:?}", r.entry.at.as_secs(), r.entry.kind, r.entry.network);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn security_activity(
        &self,
        id: UserId,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>> {
        match &self.inner.audit {
            Some(audit) => audit.audit_for_user(id, before, limit).await,
            None => Ok(Vec::new()),
        }
    }

    /// Deletes the audit records older than
    /// [`Policy::audit_retention`](crate::Policy::audit_retention); returns
    /// how many (0 without an audit store). Run it daily, e.g. from a
    /// scheduled task (see the [`audit`](crate::audit) module).
    ///
    /// ```
    /// # async fn f(auth: twofa_verify::Authenticator) -> twofa_verify::Result<()> {
    /// let pruned = auth.prune_audit().await?;
    /// # let _ = pruned; Ok(()) }
    /// ```
    pub async fn prune_audit(&self) -> Result<u64> {
        let Some(audit) = &self.inner.audit else {
            return Ok(0);
        };
        let cutoff = self.now().as_millis().saturating_sub(
            i64::try_from(self.inner.policy.audit_retention.as_millis()).unwrap_or(i64::MAX),
        );
        audit
            .prune_audit(crate::Timestamp::from_millis(cutoff))
            .await
    }
}

impl Admin<'_> {
    /// The account with this username, email address or phone number (as
    /// typed: case and spacing do not matter), if any.
    /// See the [`Admin`] example.
    pub async fn find_user(&self, query: &str) -> Result<Option<User>> {
        let query = query.trim();
        if query.is_empty() || query.len() > 1024 {
            return Ok(None);
        }
        let users = self.auth.users();
        let rec = if query.contains('@') {
            match normalize_email(query) {
                Ok(e) => users.user_by_email(&e).await?,
                Err(_) => None,
            }
        } else if query.starts_with('+') {
            let phone: String = query
                .chars()
                .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
                .collect();
            users.user_by_phone(&phone).await?
        } else {
            self.auth.find_by_username(query).await?
        };
        Ok(rec.map(|r| r.to_user()))
    }

    /// Factors, devices, lock state and the 20 most recent audit records
    /// of the account; [`Error::UserNotFound`] when it does not exist.
    /// See the [`Admin`] example.
    pub async fn security_state(&self, id: UserId) -> Result<SecurityState> {
        let rec = self.auth.record(id).await?;
        let users = self.auth.users();
        let locked_for = [FailScope::Account(id), FailScope::Email(id)];
        let mut wait = self.auth.admin_lock_wait(id).await?;
        for scope in &locked_for {
            if let Some(w) = self.auth.gate_wait(scope).await? {
                wait = Some(wait.map_or(w, |v: Duration| v.max(w)));
            }
        }
        Ok(SecurityState {
            user: rec.to_user(),
            recovery_codes_left: users.recovery_codes_left(id).await?,
            devices: users.devices(id).await?,
            locked_for: wait,
            recent_events: self.events(id, None, 20).await?,
        })
    }

    /// The account's audit records, newest first, below the id `before`
    /// when given (the next page), at most `limit`; empty without an audit
    /// store. See the [`Admin`] example.
    pub async fn events(
        &self,
        id: UserId,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>> {
        self.auth.security_activity(id, before, limit).await
    }

    /// Locks the account until [`unlock`](Self::unlock) (at most a year):
    /// logins by username and by email answer [`Error::Locked`], as after
    /// too many failures; sessions, pending logins and remembered devices
    /// end. See the [`Admin`] example.
    pub async fn lock(&self, id: UserId, operator: &Operator) -> Result<()> {
        self.auth.record(id).await?;
        let until = self.auth.now().plus(ADMIN_LOCK);
        let gate = Gate { until, lock: true };
        // The lock itself, which only `unlock` removes; then the lockout's
        // gates, so a login is refused before its password is hashed.
        self.auth
            .state()
            .put(StateKey::AdminLock(id), &gate, until)
            .await?;
        for scope in [FailScope::Account(id), FailScope::Email(id)] {
            self.auth
                .state()
                .put(StateKey::Gate(&scope), &gate, until)
                .await?;
        }
        self.auth.credentials_changed(id).await?;
        self.acted(id, AdminAction::Locked, operator).await
    }

    /// Lifts a lock (an operator's or one earned by failures) and clears
    /// the failure counters. See the [`Admin`] example.
    pub async fn unlock(&self, id: UserId, operator: &Operator) -> Result<()> {
        self.auth.record(id).await?;
        self.auth.state().delete(StateKey::AdminLock(id)).await?;
        for scope in [FailScope::Account(id), FailScope::Email(id)] {
            let state = self.auth.state();
            state.delete(StateKey::Gate(&scope)).await?;
            state.delete(StateKey::Gates(&scope)).await?;
            state.delete(StateKey::Failures(&scope)).await?;
        }
        self.acted(id, AdminAction::Unlocked, operator).await
    }

    /// Removes every second factor (phone, authenticator app, passkeys,
    /// recovery codes): the user logs in with the password alone and enrolls again.
    /// Ends every session and remembered device. See the [`Admin`] example.
    pub async fn reset_second_factor(&self, id: UserId, operator: &Operator) -> Result<User> {
        self.auth.record(id).await?;
        let users = self.auth.users();
        users.set_phone(id, None).await?;
        users.set_totp(id, None).await?;
        users.replace_recovery_codes(id, &[]).await?;
        // The passkeys too: a reset after a stolen device must leave no
        // credential that signs in. A store without passkeys holds none.
        match users.passkeys(id).await {
            Ok(passkeys) => {
                for passkey in passkeys {
                    users.remove_passkey(id, &passkey.credential_id).await?;
                }
            }
            Err(Error::FactorUnavailable(FactorUnavailable::NotSupportedByStore)) => {}
            Err(e) => return Err(e),
        }
        self.auth.credentials_changed(id).await?;
        self.acted(id, AdminAction::SecondFactorReset, operator)
            .await?;
        Ok(self.auth.record(id).await?.to_user())
    }

    /// Ends every session, pending login and remembered device; returns how
    /// many devices were forgotten. See the [`Admin`] example.
    pub async fn revoke_sessions(&self, id: UserId, operator: &Operator) -> Result<u64> {
        self.auth.record(id).await?;
        let devices = self.auth.users().devices(id).await?.len() as u64;
        self.auth.credentials_changed(id).await?;
        self.acted(id, AdminAction::SessionsRevoked, operator)
            .await?;
        Ok(devices)
    }

    /// Replaces the password with the hash of a random one nobody knows:
    /// every password is then refused exactly like a wrong one (same
    /// error, same cost), and a reset link
    /// ([`Authenticator::request_password_reset`]) sets a new one. Ends
    /// every session and remembered device. The account's passkeys still
    /// sign in without a password (a leaked password gives no passkey):
    /// after a takeover, where the intruder may have added one, also
    /// [`reset_second_factor`](Self::reset_second_factor). See the
    /// [`Admin`] example.
    pub async fn force_password_reset(&self, id: UserId, operator: &Operator) -> Result<()> {
        self.auth.record(id).await?;
        let unknown = crate::crypto::random_token::<32>();
        let hash = self
            .auth
            .inner
            .hasher
            .hash(SecretString::from(unknown))
            .await?;
        if !self.auth.users().set_password_hash(id, &hash).await? {
            return Err(Error::UserNotFound);
        }
        self.auth.credentials_changed(id).await?;
        self.acted(id, AdminAction::PasswordResetForced, operator)
            .await
    }

    async fn acted(&self, user: UserId, action: AdminAction, operator: &Operator) -> Result<()> {
        self.auth
            .emit(AuthEvent::AdminAction {
                user,
                action,
                operator: operator.clone(),
            })
            .await
    }
}
