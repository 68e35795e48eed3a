//! The duplicate-id check of the summary readers: each customer appears once in a summary
//! file, and a file that repeats one is refused naming both lines before its end is sent
//! (a fit's stream is then cancelled, so the server never fits or stores it).
//!
//! Ids are not kept: only a keyed 64-bit hash of each (8 bytes per customer, never a
//! `String`), appended to one of 256 buckets by its top byte. A bucket grows in fixed
//! blocks, never by copying (a growing `Vec` would hold up to twice its contents, and the
//! allocator keeps the old copies' pages), and the final check sorts one small,
//! cache-sized bucket at a time. At the end of the file a
//! hash seen twice is a suspect; suspects are confirmed (or cleared: different ids may
//! share a hash, with odds of about n²/2⁶⁵) by reading the file's ids again and comparing
//! the ids themselves. The keys are random per process, so a file cannot be built to
//! collide and make that second reading common.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};

/// Hashes per block of a bucket (32 KiB).
const BLOCK: usize = 4096;

/// Hashes of the ids read so far.
#[derive(Debug)]
pub(super) struct UniqueIds {
    keys: RandomState,
    /// By the hash's top byte; each a list of blocks of at most [`BLOCK`] hashes.
    buckets: Vec<Vec<Vec<u64>>>,
}

impl Default for UniqueIds {
    fn default() -> Self {
        UniqueIds {
            keys: RandomState::new(),
            buckets: vec![Vec::new(); 256],
        }
    }
}

impl UniqueIds {
    fn hash(&self, id: &str) -> u64 {
        self.keys.hash_one(id)
    }

    /// Notes one id.
    pub(super) fn add(&mut self, id: &str) {
        let h = self.hash(id);
        let Some(bucket) = self.buckets.get_mut((h >> 56) as usize) else {
            return;
        };
        match bucket.last_mut() {
            Some(block) if block.len() < BLOCK => block.push(h),
            _ => {
                let mut block = Vec::with_capacity(BLOCK);
                block.push(h);
                bucket.push(block);
            }
        }
    }

    /// Ends the reading: the hashes seen more than once (almost always none), with the
    /// memory of the others released.
    pub(super) fn suspects(&mut self) -> Suspects {
        let mut hashes = HashSet::new();
        for blocks in std::mem::take(&mut self.buckets) {
            let mut bucket = blocks.concat();
            drop(blocks);
            bucket.sort_unstable();
            hashes.extend(bucket.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]));
        }
        Suspects {
            keys: self.keys.clone(),
            hashes,
            seen: HashMap::new(),
        }
    }
}

/// Hashes seen more than once, checked against the ids themselves on a second reading.
#[derive(Debug)]
pub(super) struct Suspects {
    keys: RandomState,
    hashes: HashSet<u64>,
    /// Ids with a suspect hash met on the second reading, and the line of each.
    seen: HashMap<String, u64>,
}

impl Suspects {
    /// Whether there is nothing to confirm: every id was unique.
    pub(super) fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Feeds the second reading the id on `line`, in file order: the line it first
    /// appeared on if it is a repeat.
    pub(super) fn repeat(&mut self, id: &str, line: u64) -> Option<u64> {
        if !self.hashes.contains(&self.keys.hash_one(id)) {
            return None;
        }
        match self.seen.get(id) {
            Some(&first) => Some(first),
            None => {
                self.seen.insert(id.to_owned(), line);
                None
            }
        }
    }
}

/// The message for `id` repeated, first seen on line `first`.
pub(super) fn repeated(id: &str, first: u64) -> String {
    format!(
        "{id:?} appears again (first on line {first}); each customer must appear once in a \
         summary file"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_is_a_suspect_confirmed_on_the_second_reading() {
        let ids = ["a", "b", "c", "b", "d", "a"];
        let mut u = UniqueIds::default();
        ids.iter().for_each(|id| u.add(id));
        let mut s = u.suspects();
        assert!(!s.is_empty());
        let repeats: Vec<_> = ids
            .iter()
            .zip(2u64..)
            .filter_map(|(id, line)| s.repeat(id, line).map(|first| (line, first)))
            .collect();
        assert_eq!(repeats, [(5, 3), (7, 2)]);

        // Enough ids to fill many blocks of every bucket; one repeat among them.
        let mut u = UniqueIds::default();
        (0..2_000_000).for_each(|i| u.add(&format!("c{i}")));
        assert!(u.suspects().is_empty());
        u = UniqueIds::default();
        (0..2_000_000).for_each(|i| u.add(&format!("c{}", i.min(1_999_998))));
        assert_eq!(u.suspects().hashes.len(), 1);
    }

    #[test]
    fn different_ids_sharing_a_hash_are_cleared_by_the_ids_themselves() {
        // A hash collision, forced: "x" and "y" both stand for the hash of "x".
        let u = UniqueIds::default();
        let mut s = Suspects {
            hashes: HashSet::from([u.hash("x"), u.hash("y")]),
            keys: u.keys.clone(),
            seen: HashMap::new(),
        };
        assert_eq!(s.repeat("x", 2), None);
        assert_eq!(s.repeat("y", 3), None, "same hash set, different id");
        assert_eq!(s.repeat("z", 4), None);
        assert_eq!(s.repeat("y", 5), Some(3));
    }
}
