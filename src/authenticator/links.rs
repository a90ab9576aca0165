//! Emailed links of which only the newest of each user works: password
//! reset links and email-change confirmations.
//!
//! Issuing a link writes its keyed hash to the user's one entry in the
//! state store, replacing the previous link's: an older link no longer
//! matches and is refused. Using a link takes the entry (atomic: of
//! concurrent uses at most one gets it), so it works once. The entry
//! expires with its link; a state store that loses it refuses the link.

use super::Authenticator;
use super::state::{LiveLink, StateKey};
use crate::crypto::ct_eq;
use crate::error::Result;

impl Authenticator {
    /// Makes `link` the user's only live link under `key`.
    pub(super) async fn issue_link(&self, key: StateKey<'_>, link: &LiveLink) -> Result<()> {
        self.state().put(key, link, link.expires_at).await
    }

    /// The live link under `key` if its token hashes to `hash` (compared in
    /// constant time); nothing is used up.
    pub(super) async fn live_link(
        &self,
        key: StateKey<'_>,
        hash: &[u8; 32],
    ) -> Result<Option<LiveLink>> {
        let link: Option<LiveLink> = self.state().get(key, self.now()).await?;
        Ok(link.filter(|l| ct_eq(&l.hash, hash)))
    }

    /// Uses up the live link under `key` if its token hashes to `hash`. Of
    /// concurrent calls with one token at most one gets it. An older token
    /// is refused before anything is taken; should a newer link be issued
    /// between that check and the take, the newer one is put back.
    pub(super) async fn take_link(
        &self,
        key: StateKey<'_>,
        hash: &[u8; 32],
    ) -> Result<Option<LiveLink>> {
        if self.live_link(key, hash).await?.is_none() {
            return Ok(None);
        }
        let now = self.now();
        let Some(taken) = self.state().take::<LiveLink>(key, now).await? else {
            return Ok(None);
        };
        if ct_eq(&taken.hash, hash) {
            return Ok(Some(taken));
        }
        // Not ours: restore it unless an even newer one is already there.
        self.state()
            .put_if_absent(key, &taken, taken.expires_at, now)
            .await?;
        Ok(None)
    }
}
