//! ln(1 + t/α) = ln(α + t) − ln α for a likelihood's time columns: tabulated once per
//! distinct value where times repeat (day-resolution data), computed row by row otherwise.
//! Relative to α, so that a likelihood never forms (r+x)·ln(α+T) and r·ln α separately:
//! with r and α near 1e8 (the Poisson limit) those are 1e9 each and their difference, the
//! answer, would keep only a few digits.

use super::grouping::mix64;

/// The distinct values of a time column and, per row, the index of its value: lets a
/// likelihood take ln(α + t) once per distinct t. Only built when values repeat a lot
/// (day-resolution data); continuous times get `None`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DistinctTimes {
    pub values: Vec<f64>,
    pub index: Vec<u32>,
}

impl DistinctTimes {
    /// `None` once more than a quarter of the rows hold distinct values. An open-addressing
    /// table of value indices, keyed by a strong hash of the bits: day-resolution times
    /// (k/7 weeks) share long runs of mantissa bits.
    pub(crate) fn build(column: &[f64]) -> Option<Self> {
        let limit = column.len() / 4;
        let mut values: Vec<f64> = Vec::new();
        let mut table = vec![u32::MAX; 64];
        let mut index = Vec::with_capacity(column.len());
        for &v in column {
            let bits = v.to_bits();
            let mask = table.len() - 1;
            let mut slot = mix64(bits) as usize & mask;
            let k = loop {
                let k = table[slot];
                if k == u32::MAX {
                    if values.len() >= limit {
                        return None;
                    }
                    let k = values.len() as u32;
                    values.push(v);
                    table[slot] = k;
                    if 2 * values.len() > table.len() {
                        table = Self::slots(&values, 2 * table.len());
                    }
                    break k;
                }
                if values[k as usize].to_bits() == bits {
                    break k;
                }
                slot = (slot + 1) & mask;
            };
            index.push(k);
        }
        Some(DistinctTimes { values, index })
    }

    /// A table of `len` slots (a power of two) holding the indices of `values`.
    fn slots(values: &[f64], len: usize) -> Vec<u32> {
        let mut table = vec![u32::MAX; len];
        for (k, v) in values.iter().enumerate() {
            let mut slot = mix64(v.to_bits()) as usize & (len - 1);
            while table[slot] != u32::MAX {
                slot = (slot + 1) & (len - 1);
            }
            table[slot] = k as u32;
        }
        table
    }

    /// The distinct times of every `stride`-th row: the same values, the index strided.
    pub(super) fn subsample(&self, stride: usize) -> Self {
        DistinctTimes {
            values: self.values.clone(),
            index: self.index.iter().step_by(stride).copied().collect(),
        }
    }
}

/// ln(1 + t/α) and 1/(α + t) of the rows of a time column: a likelihood kernel is generic
/// over how they are found, so that each combination compiles to straight-line code.
pub(crate) trait LogTimes: Sync {
    /// (ln(1 + t_i/α), 1/(α + t_i)) of row i.
    fn get(&self, i: usize) -> (f64, f64);
}

/// [`LogTimes`] tabulated per distinct value (one logarithm per distinct t).
pub(crate) struct DistinctLogTimes<'a> {
    /// (ln(1 + t/α), 1/(α + t)) per distinct t.
    terms: Vec<[f64; 2]>,
    index: &'a [u32],
}

impl<'a> DistinctLogTimes<'a> {
    pub(crate) fn new(distinct: &'a DistinctTimes, alpha: f64) -> Self {
        DistinctLogTimes {
            terms: distinct
                .values
                .iter()
                .map(|t| [(t / alpha).ln_1p(), 1.0 / (alpha + t)])
                .collect(),
            index: &distinct.index,
        }
    }
}

impl LogTimes for DistinctLogTimes<'_> {
    #[inline(always)]
    fn get(&self, i: usize) -> (f64, f64) {
        let [ln, inv] = self.terms[self.index[i] as usize];
        (ln, inv)
    }
}

/// [`LogTimes`] computed row by row (continuous times).
pub(crate) struct DirectLogTimes<'a> {
    pub column: &'a [f64],
    pub alpha: f64,
}

impl LogTimes for DirectLogTimes<'_> {
    #[inline(always)]
    fn get(&self, i: usize) -> (f64, f64) {
        let t = self.column[i];
        ((t / self.alpha).ln_1p(), 1.0 / (self.alpha + t))
    }
}
