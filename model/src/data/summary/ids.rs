//! Customer-id interning for the builder: [`IdMap`], an open-addressing table from a
//! customer id ([`Key`], inline when short) to that customer's [`CustomerState`], laid out
//! so that a lookup normally reads one slot and can be touched ahead of time.

use std::hash::BuildHasher;

use rustc_hash::FxBuildHasher;

use super::customer::CustomerState;

/// A customer id in [`IdMap`]: short ids (most of them) are stored inline, so that a
/// lookup compares bytes inside the table instead of chasing a pointer.
#[derive(Debug, Clone)]
pub(super) enum Key {
    Inline { len: u8, bytes: [u8; 22] },
    Heap(Box<str>),
}

impl Key {
    pub(super) fn new(id: &str) -> Key {
        let src = id.as_bytes();
        let mut bytes = [0u8; 22];
        match (bytes.get_mut(..src.len()), u8::try_from(src.len())) {
            (Some(dst), Ok(len)) => {
                dst.copy_from_slice(src);
                Key::Inline { len, bytes }
            }
            _ => Key::Heap(Box::from(id)),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Key::Heap(s) => s.as_bytes(),
        }
    }

    #[inline]
    fn touch_byte(&self) -> u8 {
        match self {
            Key::Inline { len, .. } => *len,
            Key::Heap(s) => s.len() as u8,
        }
    }

    pub(super) fn into_string(self) -> String {
        match self {
            Key::Inline { .. } => String::from_utf8_lossy(self.as_bytes()).into_owned(),
            Key::Heap(s) => s.into_string(),
        }
    }
}

/// Hash of a customer id; [`IdMap`] takes its slot from the high bits and a tag from the
/// low ones.
#[inline]
pub(super) fn id_hash(id: &[u8]) -> u64 {
    FxBuildHasher
        .hash_one(id)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Customer id -> state: open addressing with linear probing, the state stored in the slot
/// next to the id (inline when short). A lookup normally reads one 88-byte slot, and the
/// home slot of an id can be touched ahead of time (see
/// [`SummaryBuilder::accept_batch`]). Load factor <= 5/8.
#[derive(Debug)]
pub(super) struct IdMap {
    slots: Vec<(Key, CustomerState)>,
    len: usize,
    /// 64 − log2(slots.len()).
    shift: u32,
}

pub(super) enum Found<'a> {
    Yes(&'a mut CustomerState),
    No,
}

const EMPTY_KEY: Key = Key::Inline {
    len: 0,
    bytes: [0; 22],
};

impl IdMap {
    const MIN_BITS: u32 = 6;

    pub(super) fn new() -> Self {
        Self::with_bits(Self::MIN_BITS)
    }

    fn with_bits(bits: u32) -> Self {
        IdMap {
            slots: vec![(EMPTY_KEY, CustomerState::EMPTY); 1usize << bits],
            len: 0,
            shift: 64 - bits,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn tag(hash: u64) -> u32 {
        (hash as u32) | 1
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        (hash >> self.shift) as usize
    }

    /// Reads the id's home slot so that the memory is on its way when it is needed.
    #[inline]
    pub(super) fn touch(&self, hash: u64) -> u32 {
        // An 88-byte slot spans up to three cache lines; bytes 0, 48 and 84 are in all
        // of them.
        self.slots.get(self.home(hash)).map_or(0, |s| {
            s.1.tag ^ u32::from(s.0.touch_byte()) ^ (s.1.hold_spend.to_bits() as u32)
        })
    }

    /// Ok(slot of `id`) or Err(the empty slot where it would go).
    #[inline]
    fn probe(&self, id: &[u8], hash: u64) -> Result<usize, usize> {
        let tag = Self::tag(hash);
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = self.home(hash);
        // The table always has an empty slot, so this ends; the bound is a safeguard.
        for _ in 0..self.slots.len() {
            let Some((key, state)) = self.slots.get(i) else {
                break;
            };
            if state.tag == 0 {
                return Err(i);
            }
            if state.tag == tag && key.as_bytes() == id {
                return Ok(i);
            }
            i = (i + 1) & mask;
        }
        Err(usize::MAX)
    }

    #[inline]
    pub(super) fn find(&mut self, id: &[u8], hash: u64) -> Found<'_> {
        match self.probe(id, hash) {
            Ok(i) => match self.slots.get_mut(i) {
                Some(slot) => Found::Yes(&mut slot.1),
                None => Found::No,
            },
            Err(_) => Found::No,
        }
    }

    /// Inserts an id known to be absent.
    pub(super) fn insert(&mut self, key: Key, hash: u64, mut state: CustomerState) {
        if (self.len + 1) * 8 > self.slots.len() * 5 {
            self.grow();
        }
        state.tag = Self::tag(hash);
        if let Err(i) = self.probe(key.as_bytes(), hash)
            && let Some(slot) = self.slots.get_mut(i)
        {
            *slot = (key, state);
            self.len += 1;
        }
    }

    fn grow(&mut self) {
        let bits = 64 - self.shift + 1;
        let old = std::mem::replace(self, Self::with_bits(bits));
        for (key, state) in old.slots {
            if state.tag != 0 {
                let hash = id_hash(key.as_bytes());
                self.insert(key, hash, state);
            }
        }
    }

    pub(super) fn into_entries(self) -> impl Iterator<Item = (Key, CustomerState)> {
        self.slots.into_iter().filter(|s| s.1.tag != 0)
    }
}
