//! The embedded [`ModelStore`]: one SQLite file in the data directory.
//!
//! Every write is one transaction (WAL journal, `synchronous = FULL`): a crash in the
//! middle of a write leaves the store as it was before the write began, and a write that
//! returned is on disk. Versions come from a per-name counter (`model_names`) that deletes
//! never lower, so a version number is never reused.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{ModelStore, StoreError, UnreadableRow, decode, encode};
use crate::record::ModelRecord;

/// The store's file name in the data directory.
pub const STORE_FILE: &str = "models.sqlite3";

/// Models in one SQLite file. The connection is behind a lock: one statement or
/// transaction at a time.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    location: String,
    conn: Mutex<Connection>,
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

/// Creates the store file owner-only (0600) if it is missing, before SQLite creates it
/// with the umask's permissions; SQLite gives its -wal and -shm files the same mode.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`. Waits up to `busy` for another
    /// process holding the file's lock.
    pub fn open(dir: &Path, busy: Duration) -> Result<SqliteStore, StoreError> {
        let path = dir.join(STORE_FILE);
        let location = path.display().to_string();
        let err = |source| sqlite_error(&location, source);
        create_private_file(&path).map_err(|e| StoreError::Backend {
            location: location.clone(),
            source: Box::new(e),
        })?;
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(busy).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(SqliteStore {
            path,
            location,
            conn: Mutex::new(conn),
        })
    }

    /// The SQLite file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open: rusqlite rolls
        // back a dropped transaction.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sqlite(&self, source: rusqlite::Error) -> StoreError {
        sqlite_error(&self.location, source)
    }
}

fn sqlite_error(location: &str, source: rusqlite::Error) -> StoreError {
    StoreError::Backend {
        location: location.to_owned(),
        source: Box::new(source),
    }
}

impl ModelStore for SqliteStore {
    fn location(&self) -> &str {
        &self.location
    }

    fn load_all(&self) -> Result<(Vec<ModelRecord>, Vec<UnreadableRow>), StoreError> {
        let conn = self.conn();
        let mut stmt = conn
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
            match decode(name, version, &json) {
                Ok(r) => records.push(r),
                Err(row) => unreadable.push(row),
            }
        }
        Ok((records, unreadable))
    }

    fn insert_next(&self, mut record: ModelRecord) -> Result<ModelRecord, StoreError> {
        let err = |source| self.sqlite(source);
        let mut conn = self.conn();
        let tx = conn
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
        let json = encode(&self.location, &record)?;
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

    /// One statement, so atomic.
    fn replace(&self, record: &ModelRecord) -> Result<bool, StoreError> {
        let json = encode(&self.location, record)?;
        let changed = self
            .conn()
            .execute(
                "UPDATE models SET record = ?1 WHERE name = ?2 AND version = ?3",
                params![json, record.name, record.version as i64],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(changed == 1)
    }

    fn delete(&self, name: &str, version: Option<u64>) -> Result<Vec<u64>, StoreError> {
        let err = |source| self.sqlite(source);
        let mut conn = self.conn();
        let tx = conn
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
    use crate::store::conformance::{self, Backend};

    /// The SQLite store in `dir`, with its back doors for the suite: a row written
    /// straight into the table, and a write that dies before COMMIT.
    fn backend(dir: &Path) -> Backend<'_> {
        let raw = |dir: &Path| Connection::open(dir.join(STORE_FILE)).unwrap();
        Backend {
            open: Box::new(move || {
                Box::new(SqliteStore::open(dir, Duration::from_secs(1)).unwrap())
            }),
            write_raw: Box::new(move |name, version, json| {
                raw(dir)
                    .execute(
                        "INSERT INTO models VALUES (?1, ?2, 0, '', ?3)",
                        params![name, version, json],
                    )
                    .unwrap();
            }),
            abandon_write: Box::new(move |name, version| {
                // The transaction is dropped (rolled back), as the journal would roll it
                // back after a crash.
                let mut conn = raw(dir);
                let tx = conn.transaction().unwrap();
                tx.execute(
                    "INSERT INTO models (name, version, created_at_ms, fingerprint, record) \
                     VALUES (?1, ?2, 0, '', 'half a record')",
                    params![name, version],
                )
                .unwrap();
                tx.execute(
                    "UPDATE model_names SET last_version = ?2 WHERE name = ?1",
                    params![name, version],
                )
                .unwrap();
            }),
        }
    }

    #[test]
    fn versions_increase_and_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        conformance::versions_increase_and_are_never_reused(&backend(dir.path()));
    }

    #[test]
    fn an_interrupted_write_leaves_earlier_models_intact() {
        let dir = tempfile::tempdir().unwrap();
        conformance::an_interrupted_write_leaves_earlier_models_intact(&backend(dir.path()));
    }

    #[test]
    fn a_record_that_would_not_load_again_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        conformance::a_record_that_would_not_load_again_is_refused(&backend(dir.path()));
    }

    #[test]
    fn undecodable_rows_are_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        conformance::undecodable_rows_are_reported_not_fatal(&backend(dir.path()));
    }

    #[test]
    fn replace_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        conformance::replace_and_delete(&backend(dir.path()));
    }
}
