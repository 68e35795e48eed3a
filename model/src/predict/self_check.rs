//! Whether a fitted model can score the customers it was fitted on. A fit can converge
//! to parameters at which its own heaviest customers have no finite prediction (BG/NBD at
//! r = 1.5e10, a = 4e-8 after 20,000 purchases in one week); stored, such a model would
//! refuse every score of those customers. Checked once after the fit, over the distinct
//! rows it already grouped, so that the fit is refused (or the family dropped from a
//! competition) instead of stored.

use crate::data::rfm::{CustomerTable, Rfm};
use crate::error::{ModelError, Result};
use crate::fit::GroupedRfm;
use crate::predict::clv::{ClvSpec, CustomerModel};

/// Distinct rows scored at a time by the check.
const CHECK_SLICE: usize = 1 << 16;

/// The horizon and discount of the check: a year (twelve of lifetimes' months) at 1 % a
/// month, as a first score would ask. Predictions grow smoothly with the horizon, so a
/// model that fails at other horizons fails here too in every case seen.
pub fn check_spec(model: &CustomerModel) -> ClvSpec {
    ClvSpec::lifetimes_convention(12, 0.01, model.unit)
}

impl CustomerModel {
    /// `Ok` when every training customer scores finitely: expected purchases, P(alive) and
    /// propensity of every distinct row of `rows` (the fit's grouped `table`, in the
    /// model's unit), and, with a spend model, every customer's expected spend and a CLV
    /// bound (the largest spend times the largest expected purchases). Otherwise
    /// [`ModelError::Numerical`] naming the first such customer of `table` and the value.
    /// Costs one batch score of the distinct rows and one spend formula per customer.
    pub fn check_scores_training(&self, table: &CustomerTable, rows: &GroupedRfm) -> Result<()> {
        let most_purchases = self.check_purchases_of_training(table, rows)?;
        self.check_spend_of_training(table, most_purchases)
    }

    /// The transaction half of [`CustomerModel::check_scores_training`], on its own so that
    /// a caller can free the grouped rows before fitting the spend model (they are as large
    /// as the table for continuous times). Returns the largest expected purchases, which
    /// [`CustomerModel::check_spend_of_training`] needs.
    pub fn check_purchases_of_training(
        &self,
        table: &CustomerTable,
        rows: &GroupedRfm,
    ) -> Result<f64> {
        let spec = check_spec(self);
        let transaction_only = CustomerModel {
            spend: None,
            ..self.clone()
        };
        let failed = |row: &Rfm, problem: String| {
            // The first customer with this history, to name in the error.
            let who = table
                .rfm
                .iter()
                .position(|c| {
                    c.frequency == row.frequency
                        && c.recency.to_bits() == row.recency.to_bits()
                        && c.age.to_bits() == row.age.to_bits()
                })
                .map_or_else(String::new, |i| format!("{} ", customer_name(table, i)));
            ModelError::Numerical {
                what: "scoring the training customers",
                reason: format!(
                    "{who}(frequency {}, recency {}, age {}): {problem}",
                    row.frequency, row.recency, row.age
                ),
            }
        };
        // In slices, so the check's copies and scores stay small beside the fit's own data
        // (a table of continuous times has as many distinct rows as customers).
        let mut most_purchases = 0.0f64;
        for start in (0..rows.len()).step_by(CHECK_SLICE) {
            let end = (start + CHECK_SLICE).min(rows.len());
            let distinct: Vec<Rfm> = (start..end)
                .map(|i| Rfm {
                    frequency: rows.frequency[i],
                    recency: rows.recency[i],
                    age: rows.age[i],
                })
                .collect();
            let zeros = vec![0.0; distinct.len()];
            let scores = match transaction_only.score(&distinct, &zeros, self.unit, &spec) {
                Ok(s) => s,
                Err(e) => {
                    // Which row: one at a time, on this failure path only.
                    let row = distinct
                        .iter()
                        .find(|c| {
                            transaction_only
                                .score(std::slice::from_ref(c), &[0.0], self.unit, &spec)
                                .is_err()
                        })
                        .copied()
                        .unwrap_or(distinct[0]);
                    return Err(failed(&row, e.to_string()));
                }
            };
            for (i, row) in distinct.iter().enumerate() {
                for (name, v) in [
                    ("expected purchases", scores.expected_purchases[i]),
                    ("P(alive)", scores.p_alive[i]),
                    ("propensity", scores.propensity[i]),
                ] {
                    if !v.is_finite() {
                        return Err(failed(row, format!("its {name} is {v}")));
                    }
                }
                most_purchases = most_purchases.max(scores.expected_purchases[i]);
            }
        }
        Ok(most_purchases)
    }

    /// The spend half of [`CustomerModel::check_scores_training`]: every customer's
    /// expected spend, and the CLV bound with `most_purchases` from
    /// [`CustomerModel::check_purchases_of_training`]. `Ok` without a spend model.
    pub fn check_spend_of_training(
        &self,
        table: &CustomerTable,
        most_purchases: f64,
    ) -> Result<()> {
        let Some(spend) = self.spend else {
            return Ok(());
        };
        for (i, (c, &m)) in table.rfm.iter().zip(&table.monetary_value).enumerate() {
            // `None`: undefined (q ≤ 1 and too few purchases), which scores report as such.
            let Some(v) = spend.expected_spend(c.frequency, m) else {
                continue;
            };
            let problem = if !v.is_finite() {
                format!("its expected spend is {v}")
            } else if !(v * most_purchases).is_finite() {
                format!(
                    "its expected spend {v} times {most_purchases} expected purchases overflows \
                     the CLV"
                )
            } else {
                continue;
            };
            return Err(ModelError::Numerical {
                what: "scoring the training customers",
                reason: format!(
                    "{} (frequency {}, monetary value {m}): {problem}",
                    customer_name(table, i),
                    c.frequency
                ),
            });
        }
        Ok(())
    }
}

/// The `i`-th customer of `table` by id, or by its place in the request when the table
/// keeps no ids (a fit's summaries are decoded without them, to save memory).
fn customer_name(table: &CustomerTable, i: usize) -> String {
    match table.ids.get(i) {
        Some(id) => format!("customer {id:?}"),
        None => format!("customer #{} (in request order)", i + 1),
    }
}
