//! The memory store's audit trail.

use async_trait::async_trait;

use super::MemoryStore;
use crate::clock::Timestamp;
use crate::error::Result;
use crate::store::{AuditRecord, AuditStore, NewAuditRecord};
use crate::user::UserId;

#[async_trait]
impl AuditStore for MemoryStore {
    async fn append_audit(&self, record: &NewAuditRecord) -> Result<()> {
        let mut inner = self.lock()?;
        inner.last_audit_id += 1;
        let id = inner.last_audit_id;
        inner.audit.push(AuditRecord {
            id,
            entry: record.clone(),
        });
        Ok(())
    }

    async fn audit_for_user(
        &self,
        user: UserId,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>> {
        let inner = self.lock()?;
        Ok(inner
            .audit
            .iter()
            .rev()
            .filter(|r| r.entry.user == user && before.is_none_or(|b| r.id < b))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn prune_audit(&self, older_than: Timestamp) -> Result<u64> {
        let mut inner = self.lock()?;
        let before = inner.audit.len();
        inner.audit.retain(|r| r.entry.at >= older_than);
        Ok((before - inner.audit.len()) as u64)
    }
}
