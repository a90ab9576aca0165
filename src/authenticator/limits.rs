//! Fixed-window rate limits, per client and per resource, reserved before
//! the work they guard.

use std::time::Duration;

use super::Authenticator;
use crate::error::{Error, Result};
use crate::event::{AuthEvent, LimitedAction};
use crate::policy::RateLimit;

/// One limit to reserve: the state key (without the `rl:` prefix) and the
/// limit.
pub(super) type Budget = (String, RateLimit);

/// Places taken in several counters by [`Authenticator::reserve_budgets`];
/// hand them back with [`Authenticator::release_budgets`] when the guarded
/// work turns out not to count (a success that should not spend a failure
/// budget).
#[must_use]
pub(super) struct Reserved(Vec<String>);

impl Authenticator {
    /// The per-client key of `scope`, when the call has a client IP.
    pub(super) fn client_budget(&self, scope: &str, limit: RateLimit) -> Option<Budget> {
        let client = self.ctx.client_key()?;
        Some((self.inner.keys.state_key(scope, &client), limit))
    }

    /// Takes one place in each budget, narrowest first. When one is full,
    /// the places already taken are handed back (so a refused request
    /// spends no other budget) and the call fails with
    /// [`Error::RateLimited`].
    pub(super) async fn reserve_budgets(&self, budgets: Vec<Budget>) -> Result<Reserved> {
        let now = self.now();
        let mut taken: Vec<String> = Vec::with_capacity(budgets.len());
        for (key, limit) in budgets {
            let key = format!("rl:{key}");
            let c = self
                .inner
                .state
                .increment(&key, limit.window, false, now)
                .await?;
            taken.push(key);
            if c.count > u64::from(limit.max) {
                for k in &taken {
                    self.inner.state.release(k, now).await?;
                }
                return Err(Error::RateLimited {
                    retry_after: now.until(c.expires_at).max(Duration::from_secs(1)),
                });
            }
        }
        Ok(Reserved(taken))
    }

    /// Hands back places taken by [`reserve_budgets`](Self::reserve_budgets).
    pub(super) async fn release_budgets(&self, reserved: Reserved) -> Result<()> {
        let now = self.now();
        for k in &reserved.0 {
            self.inner.state.release(k, now).await?;
        }
        Ok(())
    }

    /// Reserves one place in the client's budget for `action`, when the call
    /// has a client; reports a refusal as an event.
    pub(super) async fn reserve_client(
        &self,
        action: LimitedAction,
        scope: &str,
        limit: RateLimit,
    ) -> Result<Reserved> {
        let budgets = self.client_budget(scope, limit).into_iter().collect();
        self.reserve_budgets(budgets).await.inspect_err(|e| {
            if matches!(e, Error::RateLimited { .. }) {
                self.emit(AuthEvent::ClientLimited { action });
            }
        })
    }

    /// Reserves a place in the client's failure budget (failed logins and
    /// wrong codes across accounts) before a password or code is checked.
    pub(super) async fn reserve_client_failure(&self) -> Result<Reserved> {
        self.reserve_client(
            LimitedAction::Login,
            "cf",
            self.inner.policy.client_failures,
        )
        .await
    }
}
