//! The audit trail's store: security events kept per user, newest first,
//! pruned after a retention period. [`AuditStore`] is implemented by
//! [`MemoryStore`](crate::MemoryStore), `SqliteStore` and `PostgresStore`;
//! an [`Authenticator`](crate::Authenticator) given one with
//! [`AuthenticatorBuilder::audit_store`](crate::AuthenticatorBuilder::audit_store)
//! appends every event about a known user (see [`crate::audit`]).

use std::fmt;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::error::Result;
use crate::user::UserId;

/// Longest text kept in a record's device field; longer text is cut at a
/// character boundary (see the [`AuditStore`] example for a record).
pub const AUDIT_TEXT_MAX: usize = 200;

/// One audit entry to append: what happened to a user, when, from which
/// network and device. Never holds a secret, a code, a full IP address or a
/// full user agent. See the [`AuditStore`] example.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewAuditRecord {
    /// The account.
    pub user: UserId,
    /// When it happened.
    pub at: Timestamp,
    /// The event, a stable `snake_case` name (`"login_succeeded"`,
    /// `"admin_locked"`; see [`AuthEvent::kind`](crate::AuthEvent::kind)).
    pub kind: String,
    /// The factor or action it concerns (`"totp"`, `"via_reset"`), if any.
    pub detail: Option<String>,
    /// The client's network, never its address: `203.0.113.0/24`,
    /// `2001:db8:1::/48` ([`coarse_network`](crate::audit::coarse_network)).
    pub network: Option<String>,
    /// The device, as remembered devices name them ("Firefox on Linux").
    pub device: Option<String>,
    /// The operator who acted, for an admin action.
    pub operator: Option<String>,
    /// The operator's reason, for an admin action.
    pub reason: Option<String>,
}

/// A stored audit entry: a [`NewAuditRecord`] and the id the store gave it
/// (ids grow with each append; [`AuditStore::audit_for_user`] pages by them,
/// see the [`AuditStore`] example).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    /// The store's id, larger for later appends.
    pub id: i64,
    /// The entry.
    #[serde(flatten)]
    pub entry: NewAuditRecord,
}

/// Where the audit trail is kept (see the module documentation).
///
/// `append_audit` must be durable when it returns `Ok`; `audit_for_user`
/// returns a user's records newest first (by id), those with an id below
/// `before` when given, at most `limit`; `prune_audit` deletes every
/// record older than `older_than` and returns how many.
///
/// ```
/// use twofa_verify::store::{AuditStore, NewAuditRecord};
/// use twofa_verify::{MemoryStore, Timestamp, UserId};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> twofa_verify::Result<()> {
/// let store = MemoryStore::new();
/// let alice = UserId(1);
/// for (ms, kind) in [(1_000, "login_failed"), (2_000, "login_succeeded")] {
///     store.append_audit(&NewAuditRecord {
///         user: alice, at: Timestamp::from_millis(ms), kind: kind.into(), detail: None,
///         network: Some("203.0.113.0/24".into()), device: Some("Firefox on Linux".into()),
///         operator: None, reason: None,
///     }).await?;
/// }
/// let newest = store.audit_for_user(alice, None, 1).await?;
/// assert_eq!(newest[0].entry.kind, "login_succeeded");
/// let older = store.audit_for_user(alice, Some(newest[0].id), 10).await?;
/// assert_eq!(older[0].entry.kind, "login_failed");
/// assert_eq!(store.prune_audit(Timestamp::from_millis(1_500)).await?, 1);
/// assert_eq!(store.audit_for_user(alice, None, 10).await?.len(), 1);
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait AuditStore: Send + Sync + fmt::Debug {
    /// Appends one record (see the [`AuditStore`] example).
    async fn append_audit(&self, record: &NewAuditRecord) -> Result<()>;
    /// A user's records, newest first, below the id `before` when given, at
    /// most `limit` (see the [`AuditStore`] example).
    async fn audit_for_user(
        &self,
        user: UserId,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>>;
    /// Deletes the records older than `older_than`; returns how many (see
    /// the [`AuditStore`] example).
    async fn prune_audit(&self, older_than: Timestamp) -> Result<u64>;
}

/// Cuts `text` to at most [`AUDIT_TEXT_MAX`] bytes at a character boundary.
pub(crate) fn clip(text: &str) -> String {
    let mut end = text.len().min(AUDIT_TEXT_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}
