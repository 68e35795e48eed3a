//! The embedded model store: one SQLite file in the data directory.
//!
//! Every write is one transaction (WAL journal, `synchronous = FULL`): a crash in the
//! middle of a write leaves the store as it was before the write began, and a write that
//! returned is on disk. Versions come from a per-name counter that deletes never lower, so
//! a version number is never reused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use thiserror::Error;

use crate::record::ModelRecord;

pub const STORE_FILE: &str = "models.sqlite3";

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("model store {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("model store {path}: cannot encode model {name}: {source}")]
    Encode {
        path: PathBuf,
        name: String,
        source: serde_json::Error,
    },
}

/// A stored row that could not be decoded (written by a newer server, or damaged outside
/// SQLite). It stays in the file; the registry reports and skips it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableRow {
    pub name: String,
    pub version: i64,
    pub error: String,
}

#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS model_names (
    name TEXT PRIMARY KEY NOT NULL,
    last_version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
";

impl Store {
    /// Opens (creating if needed) the store in `dir`. Waits up to `busy` for another
    /// process holding the file's lock.
    pub fn open(dir: &Path, busy: Duration) -> Result<Store, StoreError> {
        let path = dir.join(STORE_FILE);
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(busy).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Store { path, conn })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sqlite(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// The record as stored. JSON has no NaN or infinity (serde writes null): a record that
    /// would not load again is refused, rather than stored for the next start-up to skip.
    fn encode(path: &Path, record: &ModelRecord) -> Result<String, StoreError> {
        let err = |source| StoreError::Encode {
            path: path.to_owned(),
            name: record.name.clone(),
            source,
        };
        let json = serde_json::to_string(record).map_err(err)?;
        serde_json::from_str::<ModelRecord>(&json).map_err(err)?;
        Ok(json)
    }

    /// Every stored model, and the rows that could not be decoded.
    pub fn load_all(&self) -> Result<(Vec<ModelRecord>, Vec<UnreadableRow>), StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, version, record FROM models ORDER BY name, version")
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| self.sqlite(e))?;
        let (mut records, mut unreadable) = (Vec::new(), Vec::new());
        for row in rows {
            let (name, version, json) = row.map_err(|e| self.sqlite(e))?;
            match serde_json::from_str::<ModelRecord>(&json) {
                Ok(r) if r.name == name && i64::try_from(r.version) == Ok(version) => {
                    records.push(r)
                }
                Ok(_) => unreadable.push(UnreadableRow {
                    name,
                    version,
                    error: "record does not match its key".into(),
                }),
                Err(e) => unreadable.push(UnreadableRow {
                    name,
                    version,
                    error: e.to_string(),
                }),
            }
        }
        Ok((records, unreadable))
    }

    /// Stores `record` as the next version of its name, which it returns with `version`
    /// set. Atomic: either the row and the counter are both written, or neither is.
    pub fn insert_next(&mut self, mut record: ModelRecord) -> Result<ModelRecord, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let last: Option<i64> = tx
            .query_row(
                "SELECT last_version FROM model_names WHERE name = ?1",
                params![record.name],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        let version = last.unwrap_or(0) + 1;
        record.version = version as u64;
        let json = Store::encode(&path, &record)?;
        tx.execute(
            "INSERT INTO models (name, version, created_at_ms, fingerprint, record) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                record.name,
                version,
                record.created_at_ms,
                record.training.fingerprint,
                json
            ],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT INTO model_names (name, last_version) VALUES (?1, ?2) \
             ON CONFLICT(name) DO UPDATE SET last_version = excluded.last_version",
            params![record.name, version],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(record)
    }

    /// Replaces the stored record of an existing (name, version), e.g. to attach a
    /// segmentation. One statement, so atomic; false when the version does not exist.
    pub fn replace(&mut self, record: &ModelRecord) -> Result<bool, StoreError> {
        let json = Store::encode(&self.path, record)?;
        let changed = self
            .conn
            .execute(
                "UPDATE models SET record = ?1 WHERE name = ?2 AND version = ?3",
                params![json, record.name, record.version as i64],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(changed == 1)
    }

    /// Deletes one version (`Some`) or every version of `name`; returns what was deleted.
    pub fn delete(&mut self, name: &str, version: Option<u64>) -> Result<Vec<u64>, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let deleted: Vec<u64> = {
            let mut stmt = tx
                .prepare("SELECT version FROM models WHERE name = ?1 ORDER BY version")
                .map_err(err)?;
            let versions = stmt
                .query_map(params![name], |r| r.get::<_, i64>(0))
                .map_err(err)?
                .collect::<Result<Vec<i64>, _>>()
                .map_err(err)?;
            versions
                .into_iter()
                .map(|v| v as u64)
                .filter(|v| version.is_none_or(|want| want == *v))
                .collect()
        };
        for v in &deleted {
            tx.execute(
                "DELETE FROM models WHERE name = ?1 AND version = ?2",
                params![name, *v as i64],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::sample_record;

    #[test]
    fn versions_increase_and_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), Duration::from_secs(1)).unwrap();
        let a1 = store.insert_next(sample_record("a")).unwrap();
        let a2 = store.insert_next(sample_record("a")).unwrap();
        let b1 = store.insert_next(sample_record("b")).unwrap();
        assert_eq!((a1.version, a2.version, b1.version), (1, 2, 1));
        assert_eq!(store.delete("a", None).unwrap(), vec![1, 2]);
        let a3 = store.insert_next(sample_record("a")).unwrap();
        assert_eq!(a3.version, 3, "deleted versions are not reused");
        drop(store);

        let store = Store::open(dir.path(), Duration::from_secs(1)).unwrap();
        let (records, unreadable) = store.load_all().unwrap();
        assert!(unreadable.is_empty());
        let keys: Vec<(String, u64)> = records
            .iter()
            .map(|r| (r.name.clone(), r.version))
            .collect();
        assert_eq!(keys, vec![("a".into(), 3), ("b".into(), 1)]);
        assert_eq!(records[0], a3);
    }

    #[test]
    fn an_interrupted_write_leaves_earlier_models_intact() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), Duration::from_secs(1)).unwrap();
        let kept = store.insert_next(sample_record("a")).unwrap();
        // A write that dies before COMMIT: the transaction is dropped (rolled back), as the
        // journal would roll it back after a crash.
        {
            let tx = store.conn.transaction().unwrap();
            tx.execute(
                "INSERT INTO models (name, version, created_at_ms, fingerprint, record) \
                 VALUES ('a', 2, 0, '', 'half a record')",
                [],
            )
            .unwrap();
            tx.execute("UPDATE model_names SET last_version = 2", [])
                .unwrap();
        }
        drop(store);
        let mut store = Store::open(dir.path(), Duration::from_secs(1)).unwrap();
        let (records, unreadable) = store.load_all().unwrap();
        assert_eq!(records, vec![kept]);
        assert!(unreadable.is_empty());
        assert_eq!(store.insert_next(sample_record("a")).unwrap().version, 2);
    }

    #[test]
    fn a_record_that_would_not_load_again_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), Duration::from_secs(1)).unwrap();
        let mut bad = sample_record("nan");
        bad.transaction_fit.aic = f64::NAN;
        assert!(matches!(
            store.insert_next(bad),
            Err(StoreError::Encode { .. })
        ));
        assert!(store.load_all().unwrap().0.is_empty());
        assert_eq!(store.insert_next(sample_record("nan")).unwrap().version, 1);
    }

    #[test]
    fn undecodable_rows_are_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), Duration::from_secs(1)).unwrap();
        store.insert_next(sample_record("good")).unwrap();
        store
            .conn
            .execute(
                "INSERT INTO models VALUES ('future', 1, 0, '', '{\"from\": \"a newer server\"}')",
                [],
            )
            .unwrap();
        let (records, unreadable) = store.load_all().unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(unreadable.len(), 1);
        assert_eq!(unreadable[0].name, "future");
    }
}
