//! The set of customer ids a fit has seen, for refusing a duplicate across chunks.
//!
//! One `String` per customer in a growing hash set cost about a third of a large fit's
//! server time and ~100 bytes per customer. [`IdSet`] keeps the ids' bytes end to end in
//! one buffer and an open-addressing table of 8-byte slots (32 bits of the id's hash, 32
//! bits of its index), sized ahead when the count is known. The hash only narrows the
//! search: an id is a duplicate only when its bytes equal an earlier id's, so a hash
//! collision can never refuse a customer (tested with a hash that is constant).

use crate::fingerprint::id_hash;

/// An empty slot (no id has index `u32::MAX`: see [`IdSet::insert`]).
const EMPTY: u64 = u64::MAX;

/// Customer ids seen so far; see the module docs.
pub struct IdSet {
    hash: fn(&[u8]) -> u64,
    /// `(hash >> 32) << 32 | index`, or [`EMPTY`]; a power-of-two length, at most 5/8 full.
    slots: Vec<u64>,
    /// Every id's bytes, end to end, in arrival order.
    bytes: Vec<u8>,
    /// Where each id ends in `bytes`.
    ends: Vec<u64>,
}

impl std::fmt::Debug for IdSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdSet")
            .field("ids", &self.ends.len())
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl Default for IdSet {
    fn default() -> Self {
        IdSet::with_hasher(id_hash)
    }
}

impl IdSet {
    /// A set filing ids under `hash` (tests pass a weak one to force collisions).
    pub fn with_hasher(hash: fn(&[u8]) -> u64) -> IdSet {
        IdSet {
            hash,
            slots: Vec::new(),
            bytes: Vec::new(),
            ends: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Room for `additional` more ids without growing the table.
    pub fn reserve(&mut self, additional: usize) {
        let needed = self.len() + additional;
        if needed * 8 > self.slots.len() * 5 {
            let slots = (needed * 8 / 5 + 1).next_power_of_two().max(16);
            self.rebuild(slots);
        }
        self.ends.reserve(additional);
    }

    /// Adds `id`; false when an equal id is already in the set.
    ///
    /// Indices are 32-bit: a fit takes far fewer than 4,294,967,295 customers (the model's
    /// grouping refuses more), and the caller's customer limit is checked before.
    pub fn insert(&mut self, id: &str) -> bool {
        self.reserve(1);
        let h = (self.hash)(id.as_bytes());
        let tag = h >> 32;
        let mask = self.slots.len() - 1;
        let mut slot = h as usize & mask;
        loop {
            let s = self.slots[slot];
            if s == EMPTY {
                let index = self.ends.len() as u64;
                debug_assert!(index < u64::from(u32::MAX));
                self.slots[slot] = tag << 32 | index;
                self.bytes.extend_from_slice(id.as_bytes());
                self.ends.push(self.bytes.len() as u64);
                return true;
            }
            if s >> 32 == tag && self.id(s as u32 as usize) == id.as_bytes() {
                return false;
            }
            slot = (slot + 1) & mask;
        }
    }

    fn id(&self, index: usize) -> &[u8] {
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1] as usize
        };
        &self.bytes[start..self.ends[index] as usize]
    }

    /// Refiles every id in a table of `len` slots. The slots keep only 32 bits of each
    /// hash, so the ids are hashed again (in order: the bytes are read sequentially).
    fn rebuild(&mut self, len: usize) {
        let mut slots = vec![EMPTY; len];
        let mask = len - 1;
        for index in 0..self.ends.len() {
            let h = (self.hash)(self.id(index));
            let mut slot = h as usize & mask;
            while slots[slot] != EMPTY {
                slot = (slot + 1) & mask;
            }
            slots[slot] = (h >> 32) << 32 | index as u64;
        }
        self.slots = slots;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_found_and_distinct_ids_kept() {
        let mut set = IdSet::default();
        set.reserve(3);
        for i in 0..10_000 {
            assert!(set.insert(&format!("c{i}")));
        }
        for i in 0..10_000 {
            assert!(!set.insert(&format!("c{i}")), "c{i}");
        }
        assert!(set.insert(""));
        assert!(!set.insert(""));
        assert_eq!(set.len(), 10_001);
    }

    #[test]
    fn colliding_hashes_never_make_a_duplicate() {
        // Every id has the same hash: only the bytes tell them apart.
        let mut set = IdSet::with_hasher(|_| 0x1234_5678_9abc_def0);
        let ids = ["a", "b", "ab", "ba", "a\0", "", "b"];
        let fresh: Vec<bool> = ids.iter().map(|id| set.insert(id)).collect();
        assert_eq!(fresh, [true, true, true, true, true, true, false]);
        // Hashes that differ only in the bits that pick the slot, or only in the tag.
        let mut set = IdSet::with_hasher(|id| id.len() as u64);
        for id in ["x", "y", "z", "xy", "yz"] {
            assert!(set.insert(id));
        }
        assert!(!set.insert("y"));
        let mut set = IdSet::with_hasher(|id| (id.len() as u64) << 32);
        for i in 0..200 {
            assert!(set.insert(&format!("{i:03}")), "grown past 16 slots");
        }
        assert!(!set.insert("150"));
    }
}
