//! The site's session store: tower-sessions' `MemoryStore`, counted, so the
//! number of sessions the server holds can be logged and tested.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;
use tower_sessions::session::{Id, Record};
use tower_sessions::{MemoryStore, SessionStore, session_store};

/// `MemoryStore` plus the ids of the records it holds.
#[derive(Clone, Debug, Default)]
pub struct CountingStore {
    inner: MemoryStore,
    ids: Arc<Mutex<HashSet<Id>>>,
}

impl CountingStore {
    /// How many session records the store holds (expired ones included:
    /// `MemoryStore` keeps them until they are deleted).
    pub async fn len(&self) -> usize {
        self.ids.lock().await.len()
    }
}

#[async_trait]
impl SessionStore for CountingStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.inner.create(record).await?;
        self.ids.lock().await.insert(record.id);
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.inner.save(record).await?;
        self.ids.lock().await.insert(record.id);
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.inner.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.inner.delete(id).await?;
        self.ids.lock().await.remove(id);
        Ok(())
    }
}
