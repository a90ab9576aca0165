//! The `AuditStore` of both SQL stores, written once by [`audit_store!`]:
//! the statements read alike in SQLite and PostgreSQL.

/// A row of `twofa_audit` as the database returns it.
#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    id: i64,
    user_id: i64,
    at: i64,
    kind: String,
    detail: Option<String>,
    network: Option<String>,
    device: Option<String>,
    operator: Option<String>,
    reason: Option<String>,
}

impl AuditRow {
    pub(super) fn into_record(self) -> crate::store::AuditRecord {
        crate::store::AuditRecord {
            id: self.id,
            entry: crate::store::NewAuditRecord {
                user: crate::user::UserId(self.user_id),
                at: crate::clock::Timestamp::from_millis(self.at),
                kind: self.kind,
                detail: self.detail,
                network: self.network,
                device: self.device,
                operator: self.operator,
                reason: self.reason,
            },
        }
    }
}

/// Writes the `AuditStore` impl of the SQL store `$store` (which supplies
/// `pool()`).
macro_rules! audit_store {
    ($store:ty) => {
        const _: () = {
            use crate::clock::Timestamp;
            use crate::error::{Error, Result};
            use crate::store::sql::audit::AuditRow;
            use crate::store::{AuditRecord, AuditStore, NewAuditRecord};
            use crate::user::UserId;

            #[async_trait::async_trait]
            impl AuditStore for $store {
                async fn append_audit(&self, r: &NewAuditRecord) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO twofa_audit (user_id, at, kind, detail, network, device, operator, reason) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(r.user.0)
                    .bind(r.at.as_millis())
                    .bind(&r.kind)
                    .bind(&r.detail)
                    .bind(&r.network)
                    .bind(&r.device)
                    .bind(&r.operator)
                    .bind(&r.reason)
                    .execute(self.pool())
                    .await
                    .map_err(Error::store)?;
                    Ok(())
                }

                async fn audit_for_user(
                    &self,
                    user: UserId,
                    before: Option<i64>,
                    limit: usize,
                ) -> Result<Vec<AuditRecord>> {
                    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                    let rows: Vec<AuditRow> = sqlx::query_as(
                        "SELECT id, user_id, at, kind, detail, network, device, operator, reason \
                         FROM twofa_audit WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                    )
                    .bind(user.0)
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await
                    .map_err(Error::store)?;
                    Ok(rows.into_iter().map(AuditRow::into_record).collect())
                }

                async fn prune_audit(&self, older_than: Timestamp) -> Result<u64> {
                    let done = sqlx::query("DELETE FROM twofa_audit WHERE at < $1")
                        .bind(older_than.as_millis())
                        .execute(self.pool())
                        .await
                        .map_err(Error::store)?;
                    Ok(done.rows_affected())
                }
            }
        };
    };
}
pub(super) use audit_store;
