//! actix-session's `SessionStore` over twofa-verify's
//! [`SessionRecords`]: sessions live server-side in the authenticator's
//! `StateStore`, under keyed-hash keys, and a logout stays final.

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use twofa_verify::Timestamp;
use twofa_verify::web::SessionRecords;

/// The session store of the site.
#[derive(Clone, Debug)]
pub struct StateSessions {
    records: SessionRecords,
}

impl StateSessions {
    /// Sessions in `records`.
    pub fn new(records: SessionRecords) -> Self {
        StateSessions { records }
    }

    fn expiry(&self, ttl: &Duration) -> Timestamp {
        let ms = i64::try_from(ttl.whole_milliseconds()).unwrap_or(i64::MAX);
        Timestamp::from_millis(self.records.now().as_millis().saturating_add(ms.max(0)))
    }
}

type State = HashMap<String, String>;

impl SessionStore for StateSessions {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let Some(bytes) = self
            .records
            .load(key.as_ref().as_bytes())
            .await
            .map_err(|e| LoadError::Other(e.into()))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| LoadError::Deserialization(e.into()))
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let bytes = serde_json::to_vec(&state).map_err(|e| SaveError::Serialization(e.into()))?;
        let id = self
            .records
            .create_random(&bytes, self.expiry(ttl))
            .await
            .map_err(|e| SaveError::Other(e.into()))?;
        SessionKey::try_from(id).map_err(|e| SaveError::Other(e.into()))
    }

    async fn update(
        &self,
        key: SessionKey,
        state: State,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let bytes = serde_json::to_vec(&state).map_err(|e| UpdateError::Serialization(e.into()))?;
        // A session that a logout deleted is not written back: the cookie
        // then names a session that no longer exists, which loads as none.
        self.records
            .save(key.as_ref().as_bytes(), &bytes, self.expiry(ttl))
            .await
            .map_err(|e| UpdateError::Other(e.into()))?;
        Ok(key)
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        let id = key.as_ref().as_bytes();
        if let Some(bytes) = self.records.load(id).await? {
            self.records.save(id, &bytes, self.expiry(ttl)).await?;
        }
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        Ok(self.records.delete(key.as_ref().as_bytes()).await?)
    }
}
