//! The training-data fingerprint of a fit, and the 128-bit hash it and the duplicate-id
//! check ([`crate::ids`]) are built on.
//!
//! The fingerprint is the sum (mod 2^128) of one 128-bit hash per customer, over the
//! customer's id and summary, finished with SHA-256 together with the unit and the count.
//! A sum does not depend on the order customers come in, so it is accumulated as chunks
//! arrive, needs no sort and no ids kept, and parts of a table can be summed in parallel;
//! duplicate ids are refused before, so the sum is over a set. Fingerprints of models
//! stored before this scheme (SHA-256 of the table in id order) are not comparable with
//! new ones: equal data fitted before and after the change gives different prints.

use custval_model::{CustomerTable, Rfm, TimeUnit};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// Digits of π (as in the model's grouping hash): fixed, so prints are stable across
/// builds and machines.
const SEEDS: [u64; 6] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
    0x4528_21e6_38d0_1377,
    0xbe54_66cf_34e9_0c6c,
];

/// The 128-bit product of a and b, its halves xor-ed: every output bit depends on every
/// input bit.
#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// A fast, fixed, non-cryptographic 128-bit hash: two independent lanes of folded
/// multiplies over 64-bit words. Not for adversaries (a print identifies data, it does not
/// authenticate it); the collision-safe duplicate check never trusts it alone.
#[derive(Debug, Clone)]
pub struct Hasher128 {
    a: u64,
    b: u64,
}

impl Default for Hasher128 {
    fn default() -> Self {
        Hasher128 {
            a: SEEDS[0],
            b: SEEDS[1],
        }
    }
}

impl Hasher128 {
    #[inline(always)]
    pub fn write_u64(&mut self, v: u64) {
        self.a = folded_multiply(self.a ^ v, SEEDS[2]);
        self.b = folded_multiply(self.b ^ v ^ SEEDS[4], SEEDS[3]);
    }

    /// The length, then the bytes in little-endian 64-bit words (the last one padded with
    /// zeros): the length keeps "a" and "a\0" apart.
    #[inline]
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.write_u64(bytes.len() as u64);
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            self.write_u64(u64::from_le_bytes(word));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    #[inline]
    pub fn finish(&self) -> u128 {
        let a = folded_multiply(self.a, SEEDS[5]);
        let b = folded_multiply(self.b ^ a, SEEDS[2]);
        (u128::from(b) << 64) | u128::from(a)
    }
}

/// The 64-bit hash of a customer id the duplicate check files it under.
#[inline]
pub fn id_hash(id: &[u8]) -> u64 {
    let mut h = Hasher128::default();
    h.write_bytes(id);
    h.finish() as u64
}

/// One customer's summary as the fingerprint sees it.
#[derive(Debug, Clone, Copy)]
pub struct PrintedCustomer<'a> {
    pub id: &'a str,
    pub rfm: Rfm,
    pub monetary_value: f64,
    /// Holdout purchases and spend, when the table has a holdout.
    pub holdout: Option<(u32, f64)>,
}

impl PrintedCustomer<'_> {
    #[inline]
    fn hash(&self) -> u128 {
        let mut h = Hasher128::default();
        h.write_bytes(self.id.as_bytes());
        h.write_u64(u64::from(self.rfm.frequency));
        h.write_u64(self.rfm.recency.to_bits());
        h.write_u64(self.rfm.age.to_bits());
        h.write_u64(self.monetary_value.to_bits());
        if let Some((frequency, spend)) = self.holdout {
            h.write_u64(u64::from(frequency) | 1 << 32);
            h.write_u64(spend.to_bits());
        }
        h.finish()
    }
}

/// The order-independent sum of customers' hashes, added to as customers arrive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fingerprint {
    sum: u128,
    customers: u64,
}

impl Fingerprint {
    #[inline]
    pub fn add(&mut self, customer: PrintedCustomer<'_>) {
        self.sum = self.sum.wrapping_add(customer.hash());
        self.customers += 1;
    }

    /// The print of both parts' customers together.
    pub fn merge(self, other: Fingerprint) -> Fingerprint {
        Fingerprint {
            sum: self.sum.wrapping_add(other.sum),
            customers: self.customers + other.customers,
        }
    }

    /// The print of every customer of `table` (in parallel; any order gives the same).
    pub fn of_table(table: &CustomerTable) -> Fingerprint {
        (0..table.len())
            .into_par_iter()
            .with_min_len(4096)
            .map(|i| {
                let mut f = Fingerprint::default();
                f.add(PrintedCustomer {
                    id: &table.ids[i],
                    rfm: table.rfm[i],
                    monetary_value: table.monetary_value[i],
                    holdout: table.holdout.as_ref().map(|h| (h.frequency[i], h.spend[i])),
                });
                f
            })
            .reduce(Fingerprint::default, Fingerprint::merge)
    }

    /// 64 hex digits: SHA-256 of a version tag, the unit, the count and the sum.
    pub fn finish(&self, unit: Option<TimeUnit>) -> String {
        let mut h = Sha256::new();
        h.update(b"custval training fingerprint v2\0");
        h.update(unit.map_or("", |u| u.as_str()).as_bytes());
        h.update(b"\0");
        h.update(self.customers.to_le_bytes());
        h.update(self.sum.to_le_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(id: &str, x: u32) -> PrintedCustomer<'_> {
        PrintedCustomer {
            id,
            rfm: Rfm {
                frequency: x,
                recency: 1.0,
                age: 2.0,
            },
            monetary_value: 3.0,
            holdout: None,
        }
    }

    #[test]
    fn the_sum_ignores_order_and_sees_every_field() {
        let mut a = Fingerprint::default();
        a.add(customer("a", 1));
        a.add(customer("b", 2));
        let mut b = Fingerprint::default();
        b.add(customer("b", 2));
        b.add(customer("a", 1));
        assert_eq!(a, b);
        assert_eq!(a.finish(None), b.finish(None));
        assert_ne!(a.finish(None), a.finish(Some(TimeUnit::Week)));
        let base = customer("a", 1).hash();
        assert_ne!(customer("b", 1).hash(), base);
        assert_ne!(customer("a", 2).hash(), base);
        let with = |f: fn(&mut PrintedCustomer<'_>)| {
            let mut c = customer("a", 1);
            f(&mut c);
            c.hash()
        };
        assert_ne!(with(|c| c.rfm.recency = 1.5), base);
        assert_ne!(with(|c| c.rfm.age = 2.5), base);
        assert_ne!(with(|c| c.monetary_value = 0.0), base);
        assert_ne!(with(|c| c.holdout = Some((0, 0.0))), base);
        // Ids that differ only in padding or length stay apart.
        assert_ne!(customer("a\0", 1).hash(), base);
        assert_ne!(id_hash(b"abcdefgh"), id_hash(b"abcdefgh\0"));
    }
}
