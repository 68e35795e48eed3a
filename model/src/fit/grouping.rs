//! Grouping of identical (x, t_x, T) rows into weighted rows, so a likelihood is a sum over
//! distinct rows: rows are filed into hash partitions and each partition merged in a
//! cache-sized table, in an order that depends on the data only.

use super::times::DistinctTimes;
use crate::error::{ModelError, Result};

/// Identical (frequency, recency, T) rows merged into one row with a weight.
/// Groups come in hash order (a random order), which also makes every stride of them a
/// fair subsample; the weights of a group add up in row order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupedRfm {
    pub frequency: Vec<u32>,
    pub recency: Vec<f64>,
    pub age: Vec<f64>,
    pub weight: Vec<f64>,
    pub max_frequency: u32,
    /// Distinct ages / recencies, computed on first use and shared by every fit of this data.
    distinct_age: std::sync::OnceLock<Option<DistinctTimes>>,
    distinct_recency: std::sync::OnceLock<Option<DistinctTimes>>,
}

impl GroupedRfm {
    /// Groups validated rows; `weights` (default 1 each) must be finite and >= 0.
    ///
    /// One parallel pass over fixed-size chunks of the rows validates them and sorts each
    /// row's key into a partition by the high bits of its hash; each partition (a few
    /// thousand rows) is then merged with a small hash table that stays in cache, and its
    /// groups are put in hash order. Only groups are sorted, never every row: day-resolution
    /// data has five times fewer groups than rows. Chunks and partitions depend on the row
    /// count only, and weights add up in row order, so the result does not depend on the
    /// number of threads.
    pub fn build(rfm: &[crate::Rfm], weights: Option<&[f64]>) -> Result<Self> {
        use rayon::prelude::*;
        if let Some(w) = weights
            && w.len() != rfm.len()
        {
            return Err(ModelError::invalid(
                "weights",
                format!("expected {} weights, got {}", rfm.len(), w.len()),
            ));
        }
        if rfm.len() > u32::MAX as usize {
            return Err(ModelError::invalid(
                "customers",
                "more than 4,294,967,295 rows in one fit",
            ));
        }
        let n = rfm.len();
        let bits = partition_bits(n);
        let parts = 1usize << bits;
        let chunk = build_chunk_len(n);
        // Pass 1, per chunk: validate, then file each row under its partition.
        let per_chunk: Vec<Result<Vec<Vec<KeyedRow>>>> = rfm
            .par_chunks(chunk)
            .enumerate()
            .map(|(c, rows)| {
                let mut out: Vec<Vec<KeyedRow>> = (0..parts)
                    .map(|_| Vec::with_capacity(rows.len() / parts + rows.len() / (4 * parts) + 8))
                    .collect();
                for (j, r) in rows.iter().enumerate() {
                    let i = c * chunk + j;
                    if !r.is_valid() {
                        r.validate()
                            .map_err(|e| e.within(&format!("customers[{i}]")))?;
                    }
                    if let Some(w) = weights
                        && !(w[i].is_finite() && w[i] >= 0.0)
                    {
                        return Err(ModelError::invalid(
                            format!("weights[{i}]"),
                            "must be finite and >= 0",
                        ));
                    }
                    // Rounded summaries can carry recency a hair above T: clamp after
                    // validation.
                    let row = KeyedRow {
                        recency: r.recency.min(r.age).to_bits(),
                        age: r.age.to_bits(),
                        frequency: r.frequency,
                        index: i as u32,
                    };
                    out[partition_of(row.hash(), bits)].push(row);
                }
                Ok(out)
            })
            .collect();
        let mut chunks = Vec::with_capacity(per_chunk.len());
        for c in per_chunk {
            chunks.push(c?); // the first invalid row, in row order
        }
        // Pass 2, per partition: merge equal keys, then order the groups by hash.
        let merged: Vec<PartitionGroups> = (0..parts)
            .into_par_iter()
            .map(|p| PartitionGroups::merge(chunks.iter().map(|c| c[p].as_slice()), weights))
            .collect();
        drop(chunks);
        let total: usize = merged.iter().map(|m| m.frequency.len()).sum();
        let mut out = GroupedRfm {
            frequency: Vec::with_capacity(total),
            recency: Vec::with_capacity(total),
            age: Vec::with_capacity(total),
            weight: Vec::with_capacity(total),
            ..GroupedRfm::default()
        };
        for m in &merged {
            out.frequency.extend_from_slice(&m.frequency);
            out.recency.extend_from_slice(&m.recency);
            out.age.extend_from_slice(&m.age);
            out.weight.extend_from_slice(&m.weight);
        }
        out.max_frequency = out.frequency.iter().copied().max().unwrap_or(0);
        Ok(out)
    }

    /// The frequencies that occur, their total weights and each row's index among them:
    /// what a likelihood tabulates per frequency, in space and time that grow with the
    /// number of distinct frequencies, not with the largest (a million purchases).
    pub(crate) fn frequencies(&self) -> Frequencies {
        let mut values = self.frequency.clone();
        values.sort_unstable();
        values.dedup();
        let row: Vec<u32> = self
            .frequency
            .iter()
            .map(|x| values.partition_point(|v| v < x) as u32)
            .collect();
        // In row order, as the weights of a group add up.
        let mut weight = vec![0.0; values.len()];
        for (&i, w) in row.iter().zip(&self.weight) {
            weight[i as usize] += w;
        }
        Frequencies {
            values,
            weight,
            row,
        }
    }

    pub(crate) fn distinct_age(&self) -> Option<&DistinctTimes> {
        self.distinct_age
            .get_or_init(|| DistinctTimes::build(&self.age))
            .as_ref()
    }

    pub(crate) fn distinct_recency(&self) -> Option<&DistinctTimes> {
        self.distinct_recency
            .get_or_init(|| DistinctTimes::build(&self.recency))
            .as_ref()
    }

    /// Every `stride`-th group, with weights scaled so the total is preserved: a cheap
    /// stand-in of the data used to find a starting point for large fits.
    pub(crate) fn subsample(&self, stride: usize) -> GroupedRfm {
        let stride = stride.max(1);
        let scale = self.total_weight()
            / self
                .weight
                .iter()
                .step_by(stride)
                .sum::<f64>()
                .max(f64::MIN_POSITIVE);
        let pick = |v: &[f64]| v.iter().step_by(stride).copied().collect::<Vec<f64>>();
        let frequency: Vec<u32> = self.frequency.iter().step_by(stride).copied().collect();
        // The parent's distinct times serve the subsample too (strided indices).
        let distinct =
            |d: Option<&DistinctTimes>| std::sync::OnceLock::from(d.map(|d| d.subsample(stride)));
        GroupedRfm {
            max_frequency: frequency.iter().copied().max().unwrap_or(0),
            frequency,
            recency: pick(&self.recency),
            age: pick(&self.age),
            weight: pick(&self.weight).into_iter().map(|w| w * scale).collect(),
            distinct_age: distinct(self.distinct_age()),
            distinct_recency: distinct(self.distinct_recency()),
        }
    }

    pub fn len(&self) -> usize {
        self.frequency.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frequency.is_empty()
    }

    pub fn total_weight(&self) -> f64 {
        self.weight.iter().sum()
    }

    /// Moment-based starting point for the purchase-rate Gamma(r, α): r = 1 and α matching
    /// the mean repeat rate, so the optimizer starts on the right time scale.
    pub(crate) fn rate_start(&self) -> (f64, f64) {
        let (mut sx, mut st, mut sw) = (0.0, 0.0, 0.0);
        for i in 0..self.len() {
            sx += self.weight[i] * self.frequency[i] as f64;
            st += self.weight[i] * self.age[i];
            sw += self.weight[i];
        }
        let rate = (sx / st.max(1e-12 * sw)).max(1e-6);
        (1.0, (1.0 / rate).clamp(1e-3, 1e6))
    }
}

/// The distinct frequencies of a [`GroupedRfm`] (see [`GroupedRfm::frequencies`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Frequencies {
    /// Ascending.
    pub values: Vec<u32>,
    /// Total weight of the rows with each value.
    pub weight: Vec<f64>,
    /// Each row's index into `values`.
    pub row: Vec<u32>,
}

/// A validated row's grouping key (times as bits, recency clamped to T) and its index.
#[derive(Debug, Clone, Copy)]
struct KeyedRow {
    recency: u64,
    age: u64,
    frequency: u32,
    index: u32,
}

impl KeyedRow {
    #[inline(always)]
    fn key(&self) -> (u32, u64, u64) {
        (self.frequency, self.recency, self.age)
    }

    /// A hash whose every bit depends on every key bit (see [`folded_multiply`]): the
    /// high bits pick the partition, the low bits the slot.
    #[inline(always)]
    fn hash(&self) -> u64 {
        let h = folded_multiply(self.recency ^ HASH_SEEDS[0], self.age ^ HASH_SEEDS[1]);
        folded_multiply(h ^ u64::from(self.frequency), HASH_SEEDS[2])
    }
}

/// Digits of π, as in rustc-hash's and foldhash's seeds.
const HASH_SEEDS: [u64; 3] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
];

/// The 128-bit product of a and b, its halves xor-ed (foldhash's mixer): every output
/// bit depends on every input bit. Day-resolution times (k/7 weeks) share long runs of
/// mantissa bits, which a plain multiplicative hash such as FxHash only carries upwards,
/// so its low and high bits then take few values.
#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// A strong hash of one 64-bit key.
#[inline(always)]
pub(super) fn mix64(v: u64) -> u64 {
    folded_multiply(v ^ HASH_SEEDS[0], HASH_SEEDS[1])
}

/// Most rows per partition [`GroupedRfm::build`] aims at: a partition's hash table (two
/// slots per row) and groups (40 bytes each; as many as rows for continuous times) then
/// stay within a 1 MB L2 cache.
const ROWS_PER_PARTITION: usize = 16 * 1024;

/// log2 of the number of partitions for n rows: at most 256, one for small inputs.
fn partition_bits(n: usize) -> u32 {
    n.div_ceil(ROWS_PER_PARTITION)
        .next_power_of_two()
        .ilog2()
        .min(8)
}

#[inline(always)]
fn partition_of(hash: u64, bits: u32) -> usize {
    if bits == 0 {
        0
    } else {
        (hash >> (64 - bits)) as usize
    }
}

/// Rows per chunk of the first grouping pass: a function of the row count only (at most
/// 64 chunks), so that the chunks do not depend on the thread count.
fn build_chunk_len(n: usize) -> usize {
    n.div_ceil(64).max(1 << 15)
}

/// The groups of one partition, in hash order.
struct PartitionGroups {
    frequency: Vec<u32>,
    recency: Vec<f64>,
    age: Vec<f64>,
    weight: Vec<f64>,
}

impl PartitionGroups {
    /// Merges the rows of one partition (each chunk's share, in row order) with an
    /// open-addressing table of group indices keyed by the low bits of the hash, grown to
    /// stay at most half full: day-resolution data has a few groups per partition, and a
    /// table sized for them stays in L1.
    fn merge<'r>(pieces: impl Iterator<Item = &'r [KeyedRow]>, weights: Option<&[f64]>) -> Self {
        let mut table = vec![u32::MAX; 1024];
        let mut hashes: Vec<u64> = Vec::new();
        let mut keys: Vec<(u32, u64, u64)> = Vec::new();
        let mut weight: Vec<f64> = Vec::new();
        for piece in pieces {
            for row in piece {
                let h = row.hash();
                let key = row.key();
                let w = weights.map_or(1.0, |w| w[row.index as usize]);
                let mask = table.len() - 1;
                let mut slot = h as usize & mask;
                loop {
                    let g = table[slot];
                    if g == u32::MAX {
                        table[slot] = hashes.len() as u32;
                        hashes.push(h);
                        keys.push(key);
                        weight.push(w);
                        if 2 * hashes.len() > table.len() {
                            table = Self::slots(&hashes, 2 * table.len());
                        }
                        break;
                    }
                    let g = g as usize;
                    if hashes[g] == h && keys[g] == key {
                        weight[g] += w;
                        break;
                    }
                    slot = (slot + 1) & mask;
                }
            }
        }
        let mut order: Vec<(u64, u32)> = hashes
            .iter()
            .enumerate()
            .map(|(g, &h)| (h, g as u32))
            .collect();
        order.sort_unstable();
        let pick = order.iter().map(|&(_, g)| g as usize);
        PartitionGroups {
            frequency: pick.clone().map(|g| keys[g].0).collect(),
            recency: pick.clone().map(|g| f64::from_bits(keys[g].1)).collect(),
            age: pick.clone().map(|g| f64::from_bits(keys[g].2)).collect(),
            weight: pick.map(|g| weight[g]).collect(),
        }
    }

    /// A table of `len` slots (a power of two) holding the indices of groups with `hashes`.
    fn slots(hashes: &[u64], len: usize) -> Vec<u32> {
        let mut table = vec![u32::MAX; len];
        for (g, &h) in hashes.iter().enumerate() {
            let mut slot = h as usize & (len - 1);
            while table[slot] != u32::MAX {
                slot = (slot + 1) & (len - 1);
            }
            table[slot] = g as u32;
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rfm;
    use crate::fit::FitOptions;

    /// 100k rows (several chunks and partitions) with heavy repetition, x = 0 rows and
    /// recency a hair above T.
    fn repeated_rows(n: usize) -> Vec<Rfm> {
        (0..n)
            .map(|i| {
                let h = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
                let x = (h % 7) as u32;
                let age = ((h >> 3) % 60) as f64 / 7.0;
                let recency = if x == 0 {
                    0.0
                } else if h.is_multiple_of(97) {
                    age * (1.0 + 1e-12)
                } else {
                    (((h >> 12) % 60) as f64 / 7.0).min(age)
                };
                Rfm {
                    frequency: x,
                    recency,
                    age,
                }
            })
            .collect()
    }

    #[test]
    fn grouping_merges_equal_rows_in_hash_order_summing_weights_in_row_order() {
        let rows = repeated_rows(100_000);
        let weights: Vec<f64> = (0..rows.len()).map(|i| 0.1 * (i % 13) as f64).collect();
        let g = GroupedRfm::build(&rows, Some(&weights)).unwrap();
        // Reference: an ordered map filled in row order.
        let mut reference = std::collections::BTreeMap::new();
        for (r, w) in rows.iter().zip(&weights) {
            let key = (r.frequency, r.recency.min(r.age).to_bits(), r.age.to_bits());
            *reference.entry(key).or_insert(0.0) += w;
        }
        assert_eq!(g.len(), reference.len());
        assert!(g.len() < rows.len() / 4, "{} groups", g.len());
        let mut previous = 0;
        for i in 0..g.len() {
            let key = (g.frequency[i], g.recency[i].to_bits(), g.age[i].to_bits());
            assert_eq!(g.weight[i].to_bits(), reference[&key].to_bits(), "{key:?}");
            let hash = KeyedRow {
                recency: key.1,
                age: key.2,
                frequency: key.0,
                index: 0,
            }
            .hash();
            assert!(hash >= previous, "group {i} out of hash order");
            previous = hash;
        }
        assert_eq!(g.max_frequency, 6);
        // Unit weights: the same groups whatever the row order.
        let mut reversed = rows.clone();
        reversed.reverse();
        let (a, b) = (
            GroupedRfm::build(&rows, None).unwrap(),
            GroupedRfm::build(&reversed, None).unwrap(),
        );
        assert_eq!(a, b);
    }

    /// Grouping and fitting give the same bits on one thread as on three.
    #[test]
    fn fits_do_not_depend_on_the_thread_count() {
        use crate::simulate::{SimulationSpec, simulate_summaries};
        let sim = simulate_summaries(&SimulationSpec::cdnow_like(150_000, 7, 52.0)).unwrap();
        let days: Vec<Rfm> = sim
            .table
            .rfm
            .iter()
            .map(|c| {
                let age = (c.age * 7.0).floor() / 7.0;
                Rfm {
                    frequency: c.frequency,
                    recency: ((c.recency * 7.0).floor() / 7.0).min(age),
                    age,
                }
            })
            .collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let g = GroupedRfm::build(&days, None).unwrap();
                let fit = crate::models::beta_geo::fit_bgnbd(&g, &FitOptions::default()).unwrap();
                (g, fit)
            })
        };
        let (g1, f1) = run(1);
        let (g3, f3) = run(3);
        assert!(
            g1.len() > 2 * 16 * 1024,
            "{} groups: one chunk only",
            g1.len()
        );
        assert_eq!(g1, g3);
        assert_eq!(f1, f3);
    }

    #[test]
    fn grouping_reports_the_first_invalid_row() {
        let mut rows = repeated_rows(100_000);
        let mut weights = vec![1.0; rows.len()];
        rows[90_000].age = f64::NAN;
        rows[70_000].recency = -1.0;
        weights[80_000] = f64::INFINITY;
        let field = |r: Result<GroupedRfm>| match r {
            Err(ModelError::InvalidInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(GroupedRfm::build(&rows, Some(&weights))),
            "customers[70000].recency"
        );
        rows[70_000].recency = 0.0;
        rows[70_000].frequency = 1;
        assert_eq!(
            field(GroupedRfm::build(&rows, Some(&weights))),
            "weights[80000]"
        );
        assert_eq!(field(GroupedRfm::build(&rows, None)), "customers[90000].T");
    }
}
