//! Calibration data of a covariate fit: customers with identical (x, t_x, T, purchase
//! covariates, lifetime covariates) merged into one weighted row, as
//! [`crate::fit::GroupedRfm`] merges identical (x, t_x, T) rows. With categorical
//! covariates most customers share a row; with a continuous one nearly none do, and the
//! likelihood then runs over every customer.

use std::hash::Hasher;

use rustc_hash::{FxHashMap, FxHasher};

use super::schema::CovariateMatrix;
use crate::data::rfm::Rfm;
use crate::error::{ModelError, Result};
use crate::fit::GroupedRfm;

/// Grouped rows with their covariates (row-major, `purchase_width` and `lifetime_width`
/// values per row). Groups come in order of first appearance. Built only by
/// [`CovariateData::build`], so its columns always agree in length.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CovariateData {
    pub(crate) frequency: Vec<u32>,
    pub(crate) recency: Vec<f64>,
    pub(crate) age: Vec<f64>,
    pub(crate) weight: Vec<f64>,
    pub(crate) purchase: Vec<f64>,
    pub(crate) lifetime: Vec<f64>,
    pub(crate) purchase_names: Vec<String>,
    pub(crate) lifetime_names: Vec<String>,
    pub(crate) max_frequency: u32,
}

impl CovariateData {
    /// Groups validated rows; `weights` (default 1 each) must be finite and >= 0, and
    /// each covariate matrix must have one row per customer.
    pub fn build(
        rfm: &[Rfm],
        weights: Option<&[f64]>,
        purchase: &CovariateMatrix,
        lifetime: &CovariateMatrix,
    ) -> Result<Self> {
        let n = rfm.len();
        if n >= u32::MAX as usize {
            return Err(ModelError::invalid(
                "customers",
                "more than 4,294,967,294 rows in one fit",
            ));
        }
        for (what, m) in [("purchase", purchase), ("lifetime", lifetime)] {
            if m.rows() != n {
                return Err(ModelError::invalid(
                    format!("covariates.{what}"),
                    format!("expected {n} rows (one per customer), got {}", m.rows()),
                ));
            }
        }
        if let Some(w) = weights
            && w.len() != n
        {
            return Err(ModelError::invalid(
                "weights",
                format!("expected {n} weights, got {}", w.len()),
            ));
        }
        let (kp, kl) = (purchase.width(), lifetime.width());
        let mut out = CovariateData {
            purchase_names: purchase.names().to_vec(),
            lifetime_names: lifetime.names().to_vec(),
            ..CovariateData::default()
        };
        // Hash of the key → the newest group with that hash; `next` chains the older ones
        // (hash collisions), so no key is allocated per row.
        let mut heads: FxHashMap<u64, u32> = FxHashMap::default();
        heads.reserve(n);
        let mut next: Vec<u32> = Vec::with_capacity(n);
        for (i, r) in rfm.iter().enumerate() {
            r.validate()
                .map_err(|e| e.within(&format!("customers[{i}]")))?;
            let w = weights.map_or(1.0, |w| w[i]);
            if !(w.is_finite() && w >= 0.0) {
                return Err(ModelError::invalid(
                    format!("weights[{i}]"),
                    "must be finite and >= 0",
                ));
            }
            let recency = r.recency.min(r.age);
            let (z, l) = (purchase.row(i), lifetime.row(i));
            // + 0.0 makes −0.0 and 0.0 one key.
            let mut hasher = FxHasher::default();
            hasher.write_u32(r.frequency);
            hasher.write_u64(recency.to_bits());
            hasher.write_u64(r.age.to_bits());
            for v in z.iter().chain(l) {
                hasher.write_u64((v + 0.0).to_bits());
            }
            let hash = hasher.finish();
            let same = |g: usize| {
                out.frequency[g] == r.frequency
                    && out.recency[g].to_bits() == recency.to_bits()
                    && out.age[g].to_bits() == r.age.to_bits()
                    && bits_equal(&out.purchase[g * kp..(g + 1) * kp], z)
                    && bits_equal(&out.lifetime[g * kl..(g + 1) * kl], l)
            };
            let head = heads.get(&hash).copied();
            let mut at = head;
            while let Some(g) = at {
                if same(g as usize) {
                    break;
                }
                at = Some(next[g as usize]).filter(|&h| h != u32::MAX);
            }
            if let Some(g) = at {
                out.weight[g as usize] += w;
                continue;
            }
            let g = out.frequency.len() as u32;
            next.push(head.unwrap_or(u32::MAX));
            heads.insert(hash, g);
            out.frequency.push(r.frequency);
            out.recency.push(recency);
            out.age.push(r.age);
            out.weight.push(w);
            out.purchase.extend(z.iter().map(|v| v + 0.0));
            out.lifetime.extend(l.iter().map(|v| v + 0.0));
        }
        out.max_frequency = out.frequency.iter().copied().max().unwrap_or(0);
        Ok(out)
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

    /// The encoded purchase covariates' column names.
    pub fn purchase_names(&self) -> &[String] {
        &self.purchase_names
    }

    /// The encoded lifetime covariates' column names.
    pub fn lifetime_names(&self) -> &[String] {
        &self.lifetime_names
    }

    pub fn purchase_width(&self) -> usize {
        self.purchase_names.len()
    }

    pub fn lifetime_width(&self) -> usize {
        self.lifetime_names.len()
    }

    pub(crate) fn purchase_row(&self, i: usize) -> &[f64] {
        let k = self.purchase_width();
        &self.purchase[i * k..(i + 1) * k]
    }

    pub(crate) fn lifetime_row(&self, i: usize) -> &[f64] {
        let k = self.lifetime_width();
        &self.lifetime[i * k..(i + 1) * k]
    }

    /// The same customers without their covariates, for the checks any purchase/dropout
    /// fit gets (few repeat customers, the family's boundary diagnosis).
    pub(crate) fn without_covariates(&self) -> GroupedRfm {
        let mut plain = GroupedRfm::default();
        plain.frequency = self.frequency.clone();
        plain.recency = self.recency.clone();
        plain.age = self.age.clone();
        plain.weight = self.weight.clone();
        plain.max_frequency = self.max_frequency;
        plain
    }

    /// Every `stride`-th group, weights scaled to keep the total: the warm start of a large
    /// fit, as [`GroupedRfm`]'s subsample is for the families without covariates.
    pub(crate) fn subsample(&self, stride: usize) -> CovariateData {
        let stride = stride.max(1);
        let picked: Vec<usize> = (0..self.len()).step_by(stride).collect();
        let kept: f64 = picked.iter().map(|&i| self.weight[i]).sum();
        let scale = self.total_weight() / kept.max(f64::MIN_POSITIVE);
        let frequency: Vec<u32> = picked.iter().map(|&i| self.frequency[i]).collect();
        CovariateData {
            max_frequency: frequency.iter().copied().max().unwrap_or(0),
            frequency,
            recency: picked.iter().map(|&i| self.recency[i]).collect(),
            age: picked.iter().map(|&i| self.age[i]).collect(),
            weight: picked.iter().map(|&i| self.weight[i] * scale).collect(),
            purchase: picked
                .iter()
                .flat_map(|&i| self.purchase_row(i).iter().copied())
                .collect(),
            lifetime: picked
                .iter()
                .flat_map(|&i| self.lifetime_row(i).iter().copied())
                .collect(),
            purchase_names: self.purchase_names.clone(),
            lifetime_names: self.lifetime_names.clone(),
        }
    }
}

/// Equal as stored keys: the same bits after mapping −0.0 to 0.0.
fn bits_equal(stored: &[f64], row: &[f64]) -> bool {
    stored
        .iter()
        .zip(row)
        .all(|(s, v)| s.to_bits() == (v + 0.0).to_bits())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_customers_with_identical_covariates_share_a_row() {
        let rfm = [
            Rfm::new(2, 5.0, 10.0).unwrap(),
            Rfm::new(2, 5.0, 10.0).unwrap(),
            Rfm::new(2, 5.0, 10.0).unwrap(),
            Rfm::new(0, 0.0, 10.0).unwrap(),
        ];
        let z = CovariateMatrix::new(vec!["web".into()], 4, vec![1.0, 1.0, 0.0, -0.0]).unwrap();
        let d = CovariateData::build(&rfm, None, &z, &CovariateMatrix::empty(4)).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d.weight, [2.0, 1.0, 1.0]);
        assert_eq!(d.purchase, [1.0, 0.0, 0.0]);
        let err = CovariateData::build(&rfm, None, &z, &CovariateMatrix::empty(3)).unwrap_err();
        assert!(err.to_string().contains("covariates.lifetime"), "{err}");
    }
}
