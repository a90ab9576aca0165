//! One removal of a second factor at a time per account.
//!
//! Whether another factor is left is a read, and the removal a later write:
//! two removals run side by side (SMS and the authenticator app, or two
//! passkeys) would each count the other's factor as the one left, and the
//! account would end with none where the policy requires one. A lease in
//! the state store, taken before the check and handed back after the write,
//! puts them one after the other, across instances.

use std::future::Future;
use std::time::Duration;

use super::Authenticator;
use super::state::{Marker, StateKey};
use crate::error::{Error, FactorUnavailable, Result};
use crate::user::UserId;

/// How long a lease holds if its holder never hands it back (a crash
/// between the check and the write): long enough for a step-up's password
/// hash on a loaded machine, short enough that a user is not kept waiting.
const LEASE: Duration = Duration::from_secs(30);

impl Authenticator {
    /// Runs `removal` holding the account's factor-removal lease;
    /// [`FactorUnavailable::RemovalInProgress`] while another holds it.
    /// `removal` must do its "is another factor left" check itself, inside.
    pub(super) async fn removing_factor<T>(
        &self,
        id: UserId,
        removal: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let now = self.now();
        let leased = self
            .state()
            .put_if_absent(StateKey::FactorRemoval(id), &Marker, now.plus(LEASE), now)
            .await?;
        if !leased {
            return Err(Error::FactorUnavailable(
                FactorUnavailable::RemovalInProgress,
            ));
        }
        let outcome = removal.await;
        // A removal that outlasted its lease no longer holds it: another
        // may have taken it since, and deleting that one would let a third
        // removal run beside it. The lease then ends by expiring.
        if self.now() < now.plus(LEASE)
            && let Err(e) = self.state().delete(StateKey::FactorRemoval(id)).await
        {
            // The removal stands either way; the lease expires on its own.
            tracing::warn!(error = %e, "could not hand back a factor-removal lease");
        }
        outcome
    }
}
