//! The `StateStore` of both SQL stores: one statement per primitive.
//!
//! The statements are identical for SQLite and PostgreSQL (`$n` parameters,
//! which SQLite also reads, in order); only the empty-blob literal differs.
//! [`state_store!`] writes, for a store, `StateConn` (the statements over
//! one connection, which a transaction also is), the `StateStore` impl and
//! the public `purge_expired`. The store supplies `pool`, `purge` (its
//! [`PurgeTicker`](super::PurgeTicker)) and the compound operations as
//! `compound_reserve_attempt`, `compound_settle_attempt`,
//! `compound_reserve_attempt_and_accept_step` and
//! `compound_reserve_attempt_and_check_step`: SQLite runs the reference
//! steps over `StateConn` in one `BEGIN IMMEDIATE` transaction (which takes
//! the write lock first); PostgreSQL calls one SQL function per operation
//! (`postgres_attempt`), so each is one round trip.

macro_rules! state_store {
    ($store:ty, $conn:ty, $empty:literal) => {
        /// The state statements over one connection or transaction.
        struct StateConn<'c>(&'c mut $conn);

        #[async_trait::async_trait]
        impl crate::store::attempt::Primitives for StateConn<'_> {
            async fn get(&mut self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>> {
                sqlx::query_scalar(
                    "SELECT value FROM twofa_state WHERE key = $1 AND expires_at > $2",
                )
                .bind(key.to_owned())
                .bind(now.as_millis())
                .fetch_optional(&mut *self.0)
                .await
                .map_err(Error::store)
            }

            async fn put(&mut self, key: &str, value: &[u8], expires_at: Timestamp) -> Result<()> {
                sqlx::query(
                    "INSERT INTO twofa_state (key, value, num, expires_at) VALUES ($1, $2, 0, $3) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, num = 0, \
                     expires_at = excluded.expires_at",
                )
                .bind(key.to_owned())
                .bind(value.to_vec())
                .bind(expires_at.as_millis())
                .execute(&mut *self.0)
                .await
                .map_err(Error::store)?;
                Ok(())
            }

            async fn put_if_absent(
                &mut self,
                key: &str,
                value: &[u8],
                expires_at: Timestamp,
                now: Timestamp,
            ) -> Result<bool> {
                // On a conflict the existing row is locked and the WHERE is
                // checked on its latest version: of racing callers exactly
                // one wins.
                let done = sqlx::query(
                    "INSERT INTO twofa_state (key, value, num, expires_at) VALUES ($1, $2, 0, $3) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, num = 0, \
                     expires_at = excluded.expires_at WHERE twofa_state.expires_at <= $4",
                )
                .bind(key.to_owned())
                .bind(value.to_vec())
                .bind(expires_at.as_millis())
                .bind(now.as_millis())
                .execute(&mut *self.0)
                .await
                .map_err(Error::store)?;
                Ok(done.rows_affected() == 1)
            }

            async fn take(&mut self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>> {
                // Removes the entry whether live or expired; only a live one
                // is returned.
                let row: Option<(Vec<u8>, i64)> = sqlx::query_as(
                    "DELETE FROM twofa_state WHERE key = $1 RETURNING value, expires_at",
                )
                .bind(key.to_owned())
                .fetch_optional(&mut *self.0)
                .await
                .map_err(Error::store)?;
                Ok(row
                    .filter(|(_, exp)| *exp > now.as_millis())
                    .map(|(v, _)| v))
            }

            async fn delete(&mut self, key: &str) -> Result<()> {
                sqlx::query("DELETE FROM twofa_state WHERE key = $1")
                    .bind(key.to_owned())
                    .execute(&mut *self.0)
                    .await
                    .map_err(Error::store)?;
                Ok(())
            }

            async fn increment(
                &mut self,
                key: &str,
                ttl: std::time::Duration,
                extend: bool,
                now: Timestamp,
            ) -> Result<Counter> {
                // All SET expressions see the row as it was before this statement.
                let (count, expires_at): (i64, i64) = sqlx::query_as(concat!(
                    "INSERT INTO twofa_state (key, value, num, expires_at) VALUES ($1, ",
                    $empty,
                    ", 1, $2) ON CONFLICT (key) DO UPDATE SET \
                     num = CASE WHEN twofa_state.expires_at > $3 THEN twofa_state.num + 1 ELSE 1 END, \
                     expires_at = CASE WHEN twofa_state.expires_at > $3 AND NOT $4 \
                                       THEN twofa_state.expires_at ELSE excluded.expires_at END \
                     RETURNING num, expires_at"
                ))
                .bind(key.to_owned())
                .bind(now.plus(ttl).as_millis())
                .bind(now.as_millis())
                .bind(extend)
                .fetch_one(&mut *self.0)
                .await
                .map_err(Error::store)?;
                Ok(Counter {
                    count: super::count_from_db(count)?,
                    expires_at: Timestamp::from_millis(expires_at),
                })
            }

            async fn release(&mut self, key: &str, now: Timestamp) -> Result<()> {
                sqlx::query(
                    "UPDATE twofa_state SET num = num - 1 \
                     WHERE key = $1 AND expires_at > $2 AND num > 0",
                )
                .bind(key.to_owned())
                .bind(now.as_millis())
                .execute(&mut *self.0)
                .await
                .map_err(Error::store)?;
                Ok(())
            }

            async fn advance(
                &mut self,
                key: &str,
                value: i64,
                expires_at: Timestamp,
                now: Timestamp,
            ) -> Result<bool> {
                let done = sqlx::query(concat!(
                    "INSERT INTO twofa_state (key, value, num, expires_at) VALUES ($1, ",
                    $empty,
                    ", $2, $3) ON CONFLICT (key) DO UPDATE SET num = excluded.num, \
                     expires_at = excluded.expires_at \
                     WHERE twofa_state.expires_at <= $4 OR twofa_state.num < excluded.num"
                ))
                .bind(key.to_owned())
                .bind(value)
                .bind(expires_at.as_millis())
                .bind(now.as_millis())
                .execute(&mut *self.0)
                .await
                .map_err(Error::store)?;
                Ok(done.rows_affected() == 1)
            }
        }

        impl $store {
            /// Deletes the state entries that expired at or before `now`;
            /// returns how many. The store also does this by itself every
            /// 1024 state writes; a quiet site can run it from a timer. An
            /// expired entry already reads as absent (see the
            /// [`StateStore`](crate::StateStore) example): this only frees space.
            pub async fn purge_expired(&self, now: Timestamp) -> Result<u64> {
                let done = sqlx::query("DELETE FROM twofa_state WHERE expires_at <= $1")
                    .bind(now.as_millis())
                    .execute(&self.pool)
                    .await
                    .map_err(Error::store)?;
                Ok(done.rows_affected())
            }

            /// Runs the occasional purge; its failure does not fail the caller.
            async fn maybe_purge(&self, now: Timestamp) {
                if self.purge.tick()
                    && let Err(e) = self.purge_expired(now).await
                {
                    tracing::warn!(error = %e, "purging expired state failed");
                }
            }

            /// One statement on a pool connection.
            async fn state_conn(&self) -> Result<sqlx::pool::PoolConnection<<$conn as sqlx::Connection>::Database>> {
                self.pool.acquire().await.map_err(Error::store)
            }
        }

        #[async_trait::async_trait]
        impl crate::store::StateStore for $store {
            async fn put(&self, key: &str, value: &[u8], expires_at: Timestamp) -> Result<()> {
                use crate::store::attempt::Primitives;
                let mut c = self.state_conn().await?;
                StateConn(&mut c).put(key, value, expires_at).await
            }

            async fn put_if_absent(
                &self,
                key: &str,
                value: &[u8],
                expires_at: Timestamp,
                now: Timestamp,
            ) -> Result<bool> {
                use crate::store::attempt::Primitives;
                let mut c = self.state_conn().await?;
                let won = StateConn(&mut c)
                    .put_if_absent(key, value, expires_at, now)
                    .await?;
                drop(c);
                self.maybe_purge(now).await;
                Ok(won)
            }

            async fn put_if_present(
                &self,
                key: &str,
                value: &[u8],
                expires_at: Timestamp,
                now: Timestamp,
            ) -> Result<bool> {
                // One statement: the row is locked while its expiry is
                // checked, and a row that a delete removed (or is removing)
                // is not there to update.
                let mut c = self.state_conn().await?;
                let done = sqlx::query(
                    "UPDATE twofa_state SET value = $2, num = 0, expires_at = $3 \
                     WHERE key = $1 AND expires_at > $4",
                )
                .bind(key.to_owned())
                .bind(value.to_vec())
                .bind(expires_at.as_millis())
                .bind(now.as_millis())
                .execute(&mut *c)
                .await
                .map_err(Error::store)?;
                Ok(done.rows_affected() == 1)
            }

            async fn get(&self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>> {
                use crate::store::attempt::Primitives;
                let mut c = self.state_conn().await?;
                StateConn(&mut c).get(key, now).await
            }

            async fn take(&self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>> {
                use crate::store::attempt::Primitives;
                let mut c = self.state_conn().await?;
                StateConn(&mut c).take(key, now).await
            }

            async fn delete(&self, key: &str) -> Result<()> {
                use crate::store::attempt::Primitives;
                let mut c = self.state_conn().await?;
                StateConn(&mut c).delete(key).await
            }

            async fn increment(
                &self,
                key: &str,
                ttl: std::time::Duration,
                extend: bool,
                now: Timestamp,
            ) -> Result<Counter> {
                use crate::store::attempt::Primitives;
                let mut c = self.state_conn().await?;
                let counter = StateConn(&mut c).increment(key, ttl, extend, now).await?;
                drop(c);
                self.maybe_purge(now).await;
                Ok(counter)
            }

            async fn release(&self, key: &str, now: Timestamp) -> Result<()> {
                use crate::store::attempt::Primitives;
                let mut c = self.state_conn().await?;
                StateConn(&mut c).release(key, now).await
            }

            async fn advance(
                &self,
                key: &str,
                value: i64,
                expires_at: Timestamp,
                now: Timestamp,
            ) -> Result<bool> {
                use crate::store::attempt::Primitives;
                let mut c = self.state_conn().await?;
                let advanced = StateConn(&mut c)
                    .advance(key, value, expires_at, now)
                    .await?;
                drop(c);
                self.maybe_purge(now).await;
                Ok(advanced)
            }

            // The compound operations are the store's own (`compound_*`):
            // SQLite runs the reference steps in one transaction, PostgreSQL
            // calls one function.
            async fn reserve_attempt(
                &self,
                spec: &crate::store::AttemptSpec,
                now: Timestamp,
            ) -> Result<crate::store::Admission> {
                self.compound_reserve_attempt(spec, now).await
            }

            async fn settle_attempt(
                &self,
                spec: &crate::store::AttemptSpec,
                settlement: crate::store::Settlement<'_>,
                now: Timestamp,
            ) -> Result<Option<Vec<u8>>> {
                self.compound_settle_attempt(spec, settlement, now).await
            }

            async fn reserve_attempt_and_accept_step(
                &self,
                spec: &crate::store::AttemptSpec,
                step: crate::store::StepAcceptance<'_>,
                now: Timestamp,
            ) -> Result<(crate::store::Admission, Option<crate::store::StepOutcome>)> {
                self.compound_reserve_attempt_and_accept_step(spec, step, now).await
            }

            async fn reserve_attempt_and_check_step(
                &self,
                spec: &crate::store::AttemptSpec,
                step: crate::store::StepCheck<'_>,
                now: Timestamp,
            ) -> Result<(crate::store::Admission, Option<crate::store::StepOutcome>)> {
                self.compound_reserve_attempt_and_check_step(spec, step, now).await
            }
        }
    };
}
pub(crate) use state_store;
