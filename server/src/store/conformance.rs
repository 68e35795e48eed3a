//! The conformance suite of [`ModelStore`]: what every backend promises, as test functions
//! over a [`Backend`]. Each backend's tests call every function here (see `sqlite.rs`).

use super::{ModelStore, StoreError};
use crate::record::tests::sample_record;

/// Opens a backend's store.
pub(crate) type Open<'a> = Box<dyn Fn() -> Box<dyn ModelStore> + 'a>;
/// Writes `(name, version, stored text)` straight into a backend's storage.
pub(crate) type WriteRaw<'a> = Box<dyn Fn(&str, i64, &str) + 'a>;
/// Begins and abandons a write of `(name, version)`.
pub(crate) type AbandonWrite<'a> = Box<dyn Fn(&str, i64) + 'a>;

/// A backend under test, over one empty storage location (a directory, a database).
pub(crate) struct Backend<'a> {
    /// Opens the store at that location; again after a drop, as a restarted server would.
    pub open: Open<'a>,
    /// Writes a row as a newer server (or damage outside the store) would: `(name,
    /// version, stored text)`, bypassing the store's encoding and version counter.
    pub write_raw: WriteRaw<'a>,
    /// Begins a write of `(name, version)` that advances the counter too, and abandons it
    /// before it commits, as a crash would.
    pub abandon_write: AbandonWrite<'a>,
}

fn keys(store: &dyn ModelStore) -> Vec<(String, u64)> {
    let (records, _) = store.load_all().unwrap();
    records
        .iter()
        .map(|r| (r.name.clone(), r.version))
        .collect()
}

pub(crate) fn versions_increase_and_are_never_reused(b: &Backend<'_>) {
    let store = (b.open)();
    let a1 = store.insert_next(sample_record("a")).unwrap();
    let a2 = store.insert_next(sample_record("a")).unwrap();
    let b1 = store.insert_next(sample_record("b")).unwrap();
    assert_eq!((a1.version, a2.version, b1.version), (1, 2, 1));
    assert_eq!(store.delete("a", None).unwrap(), vec![1, 2]);
    let a3 = store.insert_next(sample_record("a")).unwrap();
    assert_eq!(a3.version, 3, "deleted versions are not reused");
    drop(store);

    let store = (b.open)();
    let (records, unreadable) = store.load_all().unwrap();
    assert!(unreadable.is_empty());
    assert_eq!(keys(&*store), vec![("a".into(), 3), ("b".into(), 1)]);
    assert_eq!(records[0], a3);
}

pub(crate) fn an_interrupted_write_leaves_earlier_models_intact(b: &Backend<'_>) {
    let store = (b.open)();
    let kept = store.insert_next(sample_record("a")).unwrap();
    drop(store);
    (b.abandon_write)("a", 2);
    let store = (b.open)();
    let (records, unreadable) = store.load_all().unwrap();
    assert_eq!(records, vec![kept]);
    assert!(unreadable.is_empty());
    assert_eq!(store.insert_next(sample_record("a")).unwrap().version, 2);
}

pub(crate) fn a_record_that_would_not_load_again_is_refused(b: &Backend<'_>) {
    let store = (b.open)();
    let mut bad = sample_record("nan");
    bad.transaction_fit.aic = f64::NAN;
    assert!(matches!(
        store.insert_next(bad),
        Err(StoreError::Encode { .. })
    ));
    assert!(store.load_all().unwrap().0.is_empty());
    assert_eq!(store.insert_next(sample_record("nan")).unwrap().version, 1);
    let mut stored = store.load_all().unwrap().0.remove(0);
    stored.transaction_fit.bic = f64::INFINITY;
    assert!(matches!(
        store.replace(&stored),
        Err(StoreError::Encode { .. })
    ));
    assert_eq!(store.load_all().unwrap().0[0].transaction_fit.bic, 19195.9);
}

pub(crate) fn undecodable_rows_are_reported_not_fatal(b: &Backend<'_>) {
    let store = (b.open)();
    store.insert_next(sample_record("good")).unwrap();
    (b.write_raw)("future", 1, "{\"from\": \"a newer server\"}");
    let mut renamed = sample_record("elsewhere");
    renamed.version = 1;
    (b.write_raw)("moved", 1, &serde_json::to_string(&renamed).unwrap());
    let (records, unreadable) = store.load_all().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(unreadable.len(), 2);
    assert_eq!(unreadable[0].name, "future");
    assert_eq!(unreadable[1].name, "moved");
    assert_eq!(unreadable[1].error, "record does not match its key");
    // Reported, not deleted: still there after a restart.
    drop(store);
    assert_eq!((b.open)().load_all().unwrap().1.len(), 2);
}

pub(crate) fn replace_and_delete(b: &Backend<'_>) {
    let store = (b.open)();
    let m1 = store.insert_next(sample_record("m")).unwrap();
    store.insert_next(sample_record("m")).unwrap();
    store.insert_next(sample_record("m")).unwrap();
    let mut changed = m1.clone();
    changed.training.fit_seconds = 2.5;
    assert!(store.replace(&changed).unwrap());
    let mut missing = m1;
    missing.version = 9;
    assert!(!store.replace(&missing).unwrap(), "replace never inserts");

    assert_eq!(store.delete("m", Some(2)).unwrap(), vec![2]);
    assert_eq!(store.delete("m", Some(2)).unwrap(), Vec::<u64>::new());
    assert_eq!(store.delete("other", None).unwrap(), Vec::<u64>::new());
    drop(store);

    let store = (b.open)();
    assert_eq!(keys(&*store), vec![("m".into(), 1), ("m".into(), 3)]);
    assert_eq!(store.load_all().unwrap().0[0], changed);
    assert_eq!(store.delete("m", None).unwrap(), vec![1, 3]);
    assert_eq!(store.insert_next(sample_record("m")).unwrap().version, 4);
}
