//! Where models are kept: the [`ModelStore`] trait every backend implements, and what the
//! backends share (errors, the record encoding, rows that could not be read).
//!
//! [`SqliteStore`] (one SQLite file in the data directory) is the first backend; a second
//! one implements [`ModelStore`] and runs the same conformance suite in its tests.

use thiserror::Error;

use crate::record::ModelRecord;

mod sqlite;

#[cfg(test)]
pub(crate) mod conformance;

pub use sqlite::{STORE_FILE, SqliteStore};

/// Creates the data directory (and missing parents) readable by its owner only: models
/// are business data, not for every local user. An existing directory is left as it is.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// A failed store operation. The message names the store (`model store <location>: …`).
#[derive(Debug, Error)]
pub enum StoreError {
    /// The backend failed: I/O, a database error, a lock not granted in time.
    #[error("model store {location}: {source}")]
    Backend {
        location: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The record would not load again (JSON has no NaN or infinity); nothing was written.
    #[error("model store {location}: cannot encode model {name}: {source}")]
    Encode {
        location: String,
        name: String,
        source: serde_json::Error,
    },
}

/// A stored row that could not be decoded (written by a newer server, or damaged outside
/// the store). It stays where it is; the registry reports and skips it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableRow {
    pub name: String,
    pub version: i64,
    pub error: String,
}

/// Durable, versioned storage of [`ModelRecord`]s, under the registry's in-memory copy.
///
/// Every backend keeps these promises (the conformance suite in `store::conformance` checks
/// them):
///
/// * **One transaction per write.** [`insert_next`](ModelStore::insert_next) writes the
///   record and advances its name's version counter together or not at all: a crash in
///   the middle of a write leaves the store as it was before the write began, and a write
///   that returned is durable (on disk, or committed to the database).
/// * **A version counter per name**, which deletes never lower: versions of a name
///   increase from 1, and a version number, once given, is never given again.
/// * **Only records that load again are written**: records are stored as JSON
///   ([`encode`]); a record that would not decode (a NaN or an infinity) is refused with
///   [`StoreError::Encode`] before anything is written.
/// * **Undecodable rows are reported and skipped**, never deleted:
///   [`load_all`](ModelStore::load_all) returns them beside the records it could read.
///
/// Methods block (disk or network I/O): callers run them on the blocking pool. A store is
/// shared by the registry's threads, so it is `Send + Sync` and synchronizes itself.
pub trait ModelStore: std::fmt::Debug + Send + Sync {
    /// Where the models are (a file path, a database URL without credentials), for logs
    /// and error messages.
    fn location(&self) -> &str;

    /// Every stored model by name, then version; and the rows that could not be decoded.
    fn load_all(&self) -> Result<(Vec<ModelRecord>, Vec<UnreadableRow>), StoreError>;

    /// Stores `record` as the next version of its name, which it returns with `version`
    /// set. Atomic: either the record and the advanced counter are both written, or
    /// neither is.
    fn insert_next(&self, record: ModelRecord) -> Result<ModelRecord, StoreError>;

    /// Replaces the stored record of an existing (name, version), e.g. to attach a
    /// segmentation. Atomic; false when that version does not exist.
    fn replace(&self, record: &ModelRecord) -> Result<bool, StoreError>;

    /// Deletes one version (`Some`) or every version of `name`, in one transaction;
    /// returns the versions deleted, in increasing order. The name's version counter
    /// stays where it is.
    fn delete(&self, name: &str, version: Option<u64>) -> Result<Vec<u64>, StoreError>;
}

/// The record as every backend stores it: JSON, whose floats round-trip exactly. JSON has
/// no NaN or infinity (serde writes null): a record that would not load again is refused,
/// rather than stored for the next start-up to skip.
pub fn encode(location: &str, record: &ModelRecord) -> Result<String, StoreError> {
    let err = |source| StoreError::Encode {
        location: location.to_owned(),
        name: record.name.clone(),
        source,
    };
    let json = serde_json::to_string(record).map_err(err)?;
    serde_json::from_str::<ModelRecord>(&json).map_err(err)?;
    Ok(json)
}

/// A stored row back as a record, or why it cannot be: undecodable JSON, or a record
/// whose name and version differ from the row's key.
pub fn decode(name: String, version: i64, json: &str) -> Result<ModelRecord, UnreadableRow> {
    match serde_json::from_str::<ModelRecord>(json) {
        Ok(r) if r.name == name && i64::try_from(r.version) == Ok(version) => Ok(r),
        Ok(_) => Err(UnreadableRow {
            name,
            version,
            error: "record does not match its key".into(),
        }),
        Err(e) => Err(UnreadableRow {
            name,
            version,
            error: e.to_string(),
        }),
    }
}
