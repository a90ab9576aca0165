//! Fixed-window rate limits, per client and per resource, reserved before
//! the work they guard.

use std::time::Duration;

use super::Authenticator;
use super::state::{BudgetKey, ClientBudget, StateKey};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::event::{AuthEvent, LimitedAction};
use crate::policy::RateLimit;

/// One limit to reserve: its counter and the limit.
pub(super) type Budget = (BudgetKey, RateLimit);

/// Places taken in several counters by [`Authenticator::reserve_budgets`]:
/// proof that the guarded work was counted. (Attempts that may hand their
/// places back reserve them with their lockout instead, see
/// [`AttemptBudget`](super::lockout::AttemptBudget).)
#[must_use]
pub(super) struct Reserved;

/// A budget that refused a reservation.
#[derive(Debug, Clone, Copy)]
pub(super) struct Refused {
    /// Its position in the budgets asked for.
    pub(super) index: usize,
    /// When its window ends.
    pub(super) until: Timestamp,
    /// How long until then (at least a second).
    pub(super) retry_after: Duration,
}

impl Refused {
    /// The error the caller answers, for a limit on `limit`.
    pub(super) fn error(self, limit: LimitedAction) -> Error {
        Error::RateLimited {
            limit,
            retry_after: self.retry_after,
        }
    }
}

impl Authenticator {
    /// The client's budgets of `kind`, narrowest network first (none
    /// without a client IP): its address or /64 at `limit`, and the wider
    /// networks around it at `limit` widened by the policy.
    pub(super) fn client_budget(&self, kind: ClientBudget, limit: RateLimit) -> Vec<Budget> {
        let networks = &self.inner.policy.client_networks;
        self.ctx
            .client_networks()
            .into_iter()
            .map(|(network, key)| (BudgetKey::Client(kind, key), network.limit(limit, networks)))
            .collect()
    }

    /// Takes one place in each budget, narrowest first. When one is full,
    /// the places already taken are handed back (so a refused request
    /// spends no other budget) and the call fails with
    /// [`Error::RateLimited`] on `limit`.
    pub(super) async fn reserve_budgets(
        &self,
        limit: LimitedAction,
        budgets: Vec<Budget>,
    ) -> Result<Reserved> {
        match self.try_reserve_budgets(budgets).await? {
            Ok(reserved) => Ok(reserved),
            Err(refused) => Err(refused.error(limit)),
        }
    }

    /// [`reserve_budgets`](Self::reserve_budgets), telling which budget
    /// refused (store errors are the outer `Err`).
    pub(super) async fn try_reserve_budgets(
        &self,
        budgets: Vec<Budget>,
    ) -> Result<std::result::Result<Reserved, Refused>> {
        let now = self.now();
        let state = self.state();
        let mut taken: Vec<BudgetKey> = Vec::with_capacity(budgets.len());
        for (index, (key, limit)) in budgets.into_iter().enumerate() {
            let c = state
                .increment(StateKey::Budget(&key), limit.window, false, now)
                .await?;
            taken.push(key);
            if c.count > u64::from(limit.max) {
                for k in &taken {
                    state.release(StateKey::Budget(k), now).await?;
                }
                return Ok(Err(Refused {
                    index,
                    until: c.expires_at,
                    retry_after: now.until(c.expires_at).max(Duration::from_secs(1)),
                }));
            }
        }
        Ok(Ok(Reserved))
    }

    /// Reserves one place in the client's budget for `action`, when the call
    /// has a client; reports a refusal as an event.
    pub(super) async fn reserve_client(
        &self,
        action: LimitedAction,
        kind: ClientBudget,
        limit: RateLimit,
    ) -> Result<Reserved> {
        let budgets = self.client_budget(kind, limit);
        self.reserve_budgets(action, budgets)
            .await
            .inspect_err(|e| {
                if matches!(e, Error::RateLimited { .. }) {
                    self.notify(&AuthEvent::ClientLimited { action });
                }
            })
    }
}
