//! The model registry: every stored model in memory for fast scoring, written through to
//! the [`ModelStore`] first. A model is visible only after its write committed.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::error::ApiError;
use crate::record::ModelRecord;
use crate::store::{ModelStore, SqliteStore, StoreError};

type Versions = BTreeMap<u64, Arc<ModelRecord>>;

#[derive(Debug)]
pub struct Registry {
    store: Arc<dyn ModelStore>,
    /// Held across a store write and the cache update after it, so the cache sees writes
    /// in commit order.
    writes: Mutex<()>,
    models: RwLock<BTreeMap<String, Versions>>,
}

impl Registry {
    /// Opens the SQLite store in `dir` and loads every model. Blocking.
    pub fn open(dir: &Path, busy: Duration) -> Result<Registry, StoreError> {
        Registry::load(Arc::new(SqliteStore::open(dir, busy)?))
    }

    /// Loads every model of `store`; rows it cannot decode are logged and skipped.
    /// Blocking.
    pub fn load(store: Arc<dyn ModelStore>) -> Result<Registry, StoreError> {
        let (records, unreadable) = store.load_all()?;
        for row in &unreadable {
            tracing::warn!(name = %row.name, version = row.version, error = %row.error,
                "skipping a stored model this server cannot read (it stays in the store)");
        }
        let mut models: BTreeMap<String, Versions> = BTreeMap::new();
        for r in records {
            models
                .entry(r.name.clone())
                .or_default()
                .insert(r.version, Arc::new(r));
        }
        tracing::info!(path = %store.location(), names = models.len(),
            versions = models.values().map(BTreeMap::len).sum::<usize>(), "model registry loaded");
        Ok(Registry {
            store,
            writes: Mutex::new(()),
            models: RwLock::new(models),
        })
    }

    /// `version` 0 means the latest.
    pub fn get(&self, name: &str, version: u64) -> Result<Arc<ModelRecord>, ApiError> {
        let models = self.models.read().unwrap_or_else(|p| p.into_inner());
        let versions =
            models
                .get(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ApiError::NotFound {
                    resource: name.to_owned(),
                    message: format!("no model named {name:?}"),
                })?;
        let found = if version == 0 {
            versions.values().next_back()
        } else {
            versions.get(&version)
        };
        found.cloned().ok_or_else(|| ApiError::NotFound {
            resource: format!("{name}/versions/{version}"),
            message: format!(
                "model {name:?} has no version {version} (versions: {})",
                versions
                    .keys()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }

    /// Every version, by name then version; only `name`'s when given.
    pub fn list(&self, name: Option<&str>) -> Vec<Arc<ModelRecord>> {
        let models = self.models.read().unwrap_or_else(|p| p.into_inner());
        models
            .iter()
            .filter(|(n, _)| name.is_none_or(|want| want == n.as_str()))
            .flat_map(|(_, v)| v.values().cloned())
            .collect()
    }

    fn writing(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes a committed record visible to readers.
    fn cache(&self, stored: &Arc<ModelRecord>) {
        let mut models = self.models.write().unwrap_or_else(|p| p.into_inner());
        models
            .entry(stored.name.clone())
            .or_default()
            .insert(stored.version, stored.clone());
    }

    /// Stores `record` as the next version of its name. Blocking (a disk write).
    pub fn insert(&self, record: ModelRecord) -> Result<Arc<ModelRecord>, ApiError> {
        let _writing = self.writing();
        let stored = Arc::new(self.store.insert_next(record).map_err(internal)?);
        // Still under the write lock, so the cache sees writes in commit order.
        self.cache(&stored);
        Ok(stored)
    }

    /// Stores `record` in place of the same (name, version). Blocking.
    pub fn replace(&self, record: ModelRecord) -> Result<Arc<ModelRecord>, ApiError> {
        let _writing = self.writing();
        if !self.store.replace(&record).map_err(internal)? {
            return Err(ApiError::NotFound {
                resource: format!("{}/versions/{}", record.name, record.version),
                message: format!(
                    "model {:?} version {} was deleted",
                    record.name, record.version
                ),
            });
        }
        let stored = Arc::new(record);
        self.cache(&stored);
        Ok(stored)
    }

    /// Deletes one version, or every version when `version` is 0. Blocking.
    pub fn delete(&self, name: &str, version: u64) -> Result<Vec<u64>, ApiError> {
        // NOT_FOUND for what does not exist, before touching the store.
        self.get(name, version)?;
        let _writing = self.writing();
        let deleted = self
            .store
            .delete(name, (version != 0).then_some(version))
            .map_err(internal)?;
        let mut models = self.models.write().unwrap_or_else(|p| p.into_inner());
        if let Some(versions) = models.get_mut(name) {
            for v in &deleted {
                versions.remove(v);
            }
            if versions.is_empty() {
                models.remove(name);
            }
        }
        Ok(deleted)
    }
}

fn internal(e: StoreError) -> ApiError {
    ApiError::Internal(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::sample_record;

    #[test]
    fn latest_version_and_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(dir.path(), Duration::from_secs(1)).unwrap();
        assert!(matches!(reg.get("m", 0), Err(ApiError::NotFound { .. })));
        reg.insert(sample_record("m")).unwrap();
        reg.insert(sample_record("m")).unwrap();
        assert_eq!(reg.get("m", 0).unwrap().version, 2);
        assert_eq!(reg.get("m", 1).unwrap().version, 1);
        assert!(matches!(reg.get("m", 7), Err(ApiError::NotFound { .. })));
        assert_eq!(reg.delete("m", 2).unwrap(), vec![2]);
        assert_eq!(reg.get("m", 0).unwrap().version, 1);
        assert!(matches!(reg.delete("m", 2), Err(ApiError::NotFound { .. })));
        assert_eq!(reg.delete("m", 0).unwrap(), vec![1]);
        assert!(reg.list(None).is_empty());
        drop(reg);
        let reg = Registry::open(dir.path(), Duration::from_secs(1)).unwrap();
        assert!(reg.list(None).is_empty());
        assert_eq!(reg.insert(sample_record("m")).unwrap().version, 3);
    }
}
