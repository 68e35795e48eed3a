//! How well a per-customer score ranks customers by an outcome (holdout purchases or
//! revenue): the gain curve, normalized Gini, top shares and lift, and decile calibration.
//!
//! Every function here is pure and returns `None` where the metric is undefined (no
//! customers, an outcome that is all zero or all equal, a non-finite or negative input)
//! rather than a NaN, so a report never carries NaN or infinity.
//!
//! **Ties.** Customers with equal scores form one group. A ranking cannot tell them apart,
//! so every metric takes the *average over all orders* of each tied group: within a group
//! the outcome is spread evenly, i.e. the gain curve is a straight line across it. A score
//! that gives everybody the same value therefore has the gain of a random order (the
//! diagonal) and a Gini of 0, never the flattering order that puts the best customers first.

use serde::{Deserialize, Serialize};

/// Customer shares at which [`RankingMetrics::top`] is reported.
pub const TOP_SHARES: [f64; 4] = [0.01, 0.05, 0.10, 0.20];

/// Points of [`RankingMetrics::gain`]: customer shares 1/20, 2/20, …, 1. Twenty points
/// draw the curve's bend near the top of the ranking, where targeting decisions are made,
/// and keep a stored report small.
pub const GAIN_POINTS: usize = 20;

/// The gain curve of a score against an outcome: customers sorted by score, best first,
/// and the cumulative share of the total outcome they hold, at each tied group's end.
#[derive(Debug, Clone, PartialEq)]
pub struct GainCurve {
    /// Customer share (0..=1) at the start and at the end of every tied group.
    shares: Vec<f64>,
    /// Share of the total outcome held by the customers up to `shares[i]`.
    gains: Vec<f64>,
}

impl GainCurve {
    /// `None` when there are no customers, the lengths differ, any score or outcome is not
    /// finite, an outcome is negative, or the outcome totals 0 (nothing to capture).
    pub fn new(score: &[f64], outcome: &[f64]) -> Option<GainCurve> {
        let n = score.len();
        if n == 0 || outcome.len() != n {
            return None;
        }
        if score.iter().any(|s| !s.is_finite())
            || outcome.iter().any(|y| !y.is_finite() || *y < 0.0)
        {
            return None;
        }
        let total: f64 = outcome.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            return None;
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
        let (mut shares, mut gains) = (vec![0.0], vec![0.0]);
        let mut cumulative = 0.0;
        let mut i = 0;
        while i < n {
            let mut j = i;
            // `==` rather than total_cmp: 0.0 and -0.0 are the same score.
            while j < n && score[order[j]] == score[order[i]] {
                cumulative += outcome[order[j]];
                j += 1;
            }
            shares.push(j as f64 / n as f64);
            gains.push((cumulative / total).min(1.0));
            i = j;
        }
        Some(GainCurve { shares, gains })
    }

    /// Share of the total outcome held by the top `share` of customers (0..=1, clamped),
    /// linear within a tied group and within one customer (a fractional customer counts
    /// in part), so `at(0.01)` is meaningful even with fewer than 100 customers.
    pub fn at(&self, share: f64) -> f64 {
        let s = share.clamp(0.0, 1.0);
        let k = self.shares.partition_point(|&x| x < s);
        if k == 0 {
            return 0.0;
        }
        let k = k.min(self.shares.len() - 1);
        let (x0, x1) = (self.shares[k - 1], self.shares[k]);
        let (y0, y1) = (self.gains[k - 1], self.gains[k]);
        if x1 <= x0 {
            return y1;
        }
        // Linear within a tied group (its customers hold its outcome in equal parts, on
        // average over their orders) and within one customer (one-customer groups).
        y0 + (y1 - y0) * (s - x0) / (x1 - x0)
    }

    /// Area under the gain curve (0..=1; 0.5 for a random order).
    pub fn area(&self) -> f64 {
        self.shares
            .windows(2)
            .zip(self.gains.windows(2))
            .map(|(x, y)| (x[1] - x[0]) * (y[0] + y[1]) / 2.0)
            .sum()
    }

    /// Gini of the ordering: 2 · area − 1 (0 for a random order, > 0 when the score puts
    /// customers with more of the outcome first, < 0 when it puts them last).
    pub fn gini(&self) -> f64 {
        2.0 * self.area() - 1.0
    }
}

/// Gain of `score` against `outcome` at each customer share in `shares` (see
/// [`GainCurve::at`]); `None` when the curve is undefined (see [`GainCurve::new`]).
pub fn gain(score: &[f64], outcome: &[f64], shares: &[f64]) -> Option<Vec<f64>> {
    let curve = GainCurve::new(score, outcome)?;
    Some(shares.iter().map(|&s| curve.at(s)).collect())
}

/// Normalized Gini: the Gini of the score's ordering ([`GainCurve::gini`], ties averaged)
/// divided by the Gini of the perfect ordering (the outcome sorted by itself). 1 for a
/// score that orders customers as the outcome does, 0 for a random or constant score, −1
/// for the reversed order. `None` when the outcome is all zero or all equal (no ordering
/// is better than another) or the curve is undefined.
pub fn normalized_gini(score: &[f64], outcome: &[f64]) -> Option<f64> {
    normalized(&GainCurve::new(score, outcome)?, outcome)
}

/// `curve`'s Gini over the perfect ordering's.
fn normalized(curve: &GainCurve, outcome: &[f64]) -> Option<f64> {
    let perfect = GainCurve::new(outcome, outcome)?.gini();
    if perfect <= 0.0 {
        return None;
    }
    let g = curve.gini() / perfect;
    g.is_finite().then_some(g)
}

/// Share of the total outcome captured by the top `q` (0 < q ≤ 1) of customers by score,
/// ties averaged (see [`GainCurve::at`]). `None` if q is outside (0, 1] or the curve is
/// undefined.
pub fn top_share(score: &[f64], outcome: &[f64], q: f64) -> Option<f64> {
    if !(q > 0.0 && q <= 1.0) {
        return None;
    }
    Some(GainCurve::new(score, outcome)?.at(q))
}

/// Lift of the top `q`: [`top_share`] / q (1 for a random order; 1/q at most).
pub fn lift(score: &[f64], outcome: &[f64], q: f64) -> Option<f64> {
    top_share(score, outcome, q).map(|s| s / q)
}

/// One decile of a prediction: the customers in it and their mean predicted and actual
/// values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecileBin {
    /// 1 (lowest predictions) … 10 (highest).
    pub decile: u8,
    pub customers: u64,
    pub mean_predicted: f64,
    pub mean_actual: f64,
}

/// Decile calibration of a prediction of the outcome itself (same quantity, same period):
/// customers sorted by prediction, cut into ten groups of (nearly) equal size, mean
/// predicted vs mean actual in each. Customers with equal predictions stay together, in
/// the decile their group's middle rank falls in, so with many ties some deciles are empty
/// and are left out. Empty when the inputs are empty, of different lengths or not finite.
pub fn decile_calibration(predicted: &[f64], actual: &[f64]) -> Vec<DecileBin> {
    let n = predicted.len();
    if n == 0 || actual.len() != n || predicted.iter().chain(actual).any(|v| !v.is_finite()) {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| predicted[a].total_cmp(&predicted[b]));
    let mut sums = [(0u64, 0.0f64, 0.0f64); 10];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j < n && predicted[order[j]] == predicted[order[i]] {
            j += 1;
        }
        // Ranks i..j; the middle customer's centre is (i + j) / 2 in customer units.
        let decile = ((10.0 * (i + j) as f64 / 2.0 / n as f64) as usize).min(9);
        for &k in &order[i..j] {
            sums[decile].0 += 1;
            sums[decile].1 += predicted[k];
            sums[decile].2 += actual[k];
        }
        i = j;
    }
    sums.iter()
        .enumerate()
        .filter(|(_, s)| s.0 > 0)
        .map(|(d, &(count, p, a))| DecileBin {
            decile: d as u8 + 1,
            customers: count,
            mean_predicted: p / count as f64,
            mean_actual: a / count as f64,
        })
        .collect()
}

/// Mean absolute error; `None` when empty, of different lengths or not finite.
pub fn mean_absolute_error(predicted: &[f64], actual: &[f64]) -> Option<f64> {
    if predicted.is_empty() || predicted.len() != actual.len() {
        return None;
    }
    let mae = predicted
        .iter()
        .zip(actual)
        .map(|(p, a)| (p - a).abs())
        .sum::<f64>()
        / predicted.len() as f64;
    mae.is_finite().then_some(mae)
}

/// The gain curve at one customer share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GainPoint {
    /// Share of customers, best-scored first (0.05, 0.10, …, 1; [`GAIN_POINTS`]).
    pub customer_share: f64,
    /// Share of the total outcome they hold.
    pub outcome_share: f64,
}

/// What the top `customer_share` of customers by score capture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopShare {
    /// 0.01, 0.05, 0.10, 0.20 ([`TOP_SHARES`]).
    pub customer_share: f64,
    /// Share of the total outcome they hold ([`top_share`]).
    pub outcome_share: f64,
    /// outcome_share / customer_share ([`lift`]).
    pub lift: f64,
}

/// A score's metrics against one outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RankingMetrics {
    /// [`normalized_gini`]; `None` when the outcome is all zero or all equal.
    pub normalized_gini: Option<f64>,
    /// The gain curve at customer shares 0.05, 0.10, …, 1 ([`GAIN_POINTS`]); empty when
    /// undefined.
    #[serde(default)]
    pub gain: Vec<GainPoint>,
    /// Top 1 %, 5 %, 10 %, 20 %; empty when undefined.
    pub top: Vec<TopShare>,
    /// Mean absolute error, only for a score that predicts the outcome itself.
    pub mae: Option<f64>,
    /// [`decile_calibration`], only for a score that predicts the outcome itself.
    #[serde(default)]
    pub calibration: Vec<DecileBin>,
}

impl RankingMetrics {
    /// The metrics of `score` against `outcome`. `predicts_outcome` says whether the score
    /// is a prediction of the outcome's own quantity (holdout purchases for purchases,
    /// holdout spend for revenue): only then are MAE and calibration meaningful.
    pub fn of(score: &[f64], outcome: &[f64], predicts_outcome: bool) -> RankingMetrics {
        let curve = GainCurve::new(score, outcome);
        let gain = curve
            .as_ref()
            .map(|c| {
                (1..=GAIN_POINTS)
                    .map(|k| {
                        let s = k as f64 / GAIN_POINTS as f64;
                        GainPoint {
                            customer_share: s,
                            outcome_share: c.at(s),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let top = curve
            .as_ref()
            .map(|c| {
                TOP_SHARES
                    .iter()
                    .map(|&q| TopShare {
                        customer_share: q,
                        outcome_share: c.at(q),
                        lift: c.at(q) / q,
                    })
                    .collect()
            })
            .unwrap_or_default();
        RankingMetrics {
            normalized_gini: curve.as_ref().and_then(|c| normalized(c, outcome)),
            gain,
            top,
            mae: if predicts_outcome {
                mean_absolute_error(score, outcome)
            } else {
                None
            },
            calibration: if predicts_outcome {
                decile_calibration(score, outcome)
            } else {
                Vec::new()
            },
        }
    }

    /// The outcome share of the top `q` customers, if reported.
    pub fn top_share(&self, q: f64) -> Option<f64> {
        self.top
            .iter()
            .find(|t| (t.customer_share - q).abs() < 1e-12)
            .map(|t| t.outcome_share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn normalized_gini_of_perfect_reversed_and_hand_computed_orders() {
        let outcome = [5.0, 3.0, 2.0, 0.0, 1.0];
        // Any score ordering customers as the outcome does is perfect.
        let same_order = [10.0, 6.0, 4.0, 0.5, 2.0];
        assert!(close(normalized_gini(&same_order, &outcome).unwrap(), 1.0));
        let reversed: Vec<f64> = outcome.iter().map(|y| -y).collect();
        assert!(close(normalized_gini(&reversed, &outcome).unwrap(), -1.0));

        // By hand: outcome [3, 1, 0, 2] (total 6), score order 0, 2, 3, 1 → cumulative
        // shares 1/2, 1/2, 5/6, 1; trapezoid area 0.583 33, Gini 2A − 1 = 1/6. The perfect
        // order 3, 2, 1, 0 → 1/2, 5/6, 1, 1; area 0.708 33, Gini 5/12. Ratio 0.4.
        let outcome = [3.0, 1.0, 0.0, 2.0];
        let score = [0.9, 0.1, 0.5, 0.4];
        let curve = GainCurve::new(&score, &outcome).unwrap();
        assert!(close(curve.gini(), 1.0 / 6.0));
        assert!(close(
            GainCurve::new(&outcome, &outcome).unwrap().gini(),
            5.0 / 12.0
        ));
        assert!(close(normalized_gini(&score, &outcome).unwrap(), 0.4));
    }

    #[test]
    fn ties_are_averaged_not_broken_in_the_scores_favour() {
        // Customers 0 and 1 tie at the top and hold 0 and 3 of the total 4. Averaged over
        // both orders, the top half holds 3/4 spread evenly: gain 0.375 at 1/4, 0.75 at 1/2,
        // Gini 0.25, perfect Gini 0.625, normalized 0.4. Breaking the tie with the 3 first
        // would give 0.8.
        let score = [1.0, 1.0, 0.0, 0.0];
        let outcome = [0.0, 3.0, 1.0, 0.0];
        assert!(close(normalized_gini(&score, &outcome).unwrap(), 0.4));
        assert!(close(top_share(&score, &outcome, 0.25).unwrap(), 0.375));
        assert!(close(lift(&score, &outcome, 0.25).unwrap(), 1.5));
        // The order of the tied customers in the input does not matter.
        assert!(close(
            normalized_gini(&[1.0, 1.0, 0.0, 0.0], &[3.0, 0.0, 1.0, 0.0]).unwrap(),
            0.4
        ));
        // A constant score is a random order: the diagonal, Gini 0, lift 1.
        let flat = [2.0; 4];
        assert!(close(normalized_gini(&flat, &outcome).unwrap(), 0.0));
        assert!(close(lift(&flat, &outcome, 0.05).unwrap(), 1.0));
        // 0.0 and -0.0 are one score.
        assert!(close(
            normalized_gini(&[0.0, -0.0, 1.0, 1.0], &[1.0, 0.0, 0.0, 3.0]).unwrap(),
            normalized_gini(&[0.0, 0.0, 1.0, 1.0], &[1.0, 0.0, 0.0, 3.0]).unwrap()
        ));
    }

    #[test]
    fn top_share_lift_and_gain_by_hand() {
        let outcome = [3.0, 1.0, 0.0, 2.0];
        let score = [0.9, 0.1, 0.5, 0.4];
        // Top quarter = customer 0 with 3 of 6.
        assert!(close(top_share(&score, &outcome, 0.25).unwrap(), 0.5));
        assert!(close(lift(&score, &outcome, 0.25).unwrap(), 2.0));
        // Top half = customers 0 and 2: still 3 of 6, lift 1.
        assert!(close(lift(&score, &outcome, 0.5).unwrap(), 1.0));
        // The top 10 % of 4 customers is 0.4 of customer 0: 0.4 · 3 / 6.
        assert!(close(top_share(&score, &outcome, 0.1).unwrap(), 0.2));
        assert!(close(lift(&score, &outcome, 0.1).unwrap(), 2.0));
        assert_eq!(
            gain(&score, &outcome, &[0.0, 0.75, 1.0]).unwrap(),
            vec![0.0, 5.0 / 6.0, 1.0]
        );
        assert_eq!(top_share(&score, &outcome, 0.0), None);
        assert_eq!(top_share(&score, &outcome, 1.5), None);
    }

    #[test]
    fn undefined_metrics_are_none_never_nan() {
        assert_eq!(normalized_gini(&[1.0, 2.0], &[0.0, 0.0]), None);
        // All outcomes equal: every order is as good as any other.
        assert_eq!(normalized_gini(&[1.0, 2.0], &[4.0, 4.0]), None);
        assert_eq!(normalized_gini(&[], &[]), None);
        assert_eq!(normalized_gini(&[f64::NAN, 1.0], &[1.0, 0.0]), None);
        assert_eq!(normalized_gini(&[1.0, 2.0], &[1.0, -1.0]), None);
        assert_eq!(normalized_gini(&[1.0], &[1.0, 2.0]), None);
        assert_eq!(top_share(&[1.0, 2.0], &[0.0, 0.0], 0.1), None);
        let m = RankingMetrics::of(&[1.0, 2.0], &[0.0, 0.0], true);
        assert_eq!(m.normalized_gini, None);
        assert!(m.gain.is_empty() && m.top.is_empty());
        assert_eq!(m.mae, Some(1.5));
        assert_eq!(mean_absolute_error(&[f64::INFINITY], &[1.0]), None);
        assert!(decile_calibration(&[f64::NAN], &[1.0]).is_empty());
    }

    #[test]
    fn decile_calibration_by_hand() {
        // 20 customers predicted 1..=20, actually doing twice that: two per decile.
        let predicted: Vec<f64> = (1..=20).map(f64::from).collect();
        let actual: Vec<f64> = predicted.iter().map(|p| 2.0 * p).collect();
        let bins = decile_calibration(&predicted, &actual);
        assert_eq!(bins.len(), 10);
        assert_eq!(
            bins[0],
            DecileBin {
                decile: 1,
                customers: 2,
                mean_predicted: 1.5,
                mean_actual: 3.0
            }
        );
        assert_eq!(bins[9].mean_predicted, 19.5);
        assert_eq!(bins[9].mean_actual, 39.0);
        // Tied predictions stay together, in the decile of their middle rank: six zeros
        // span ranks 0..6 (middle 3 of 10 → decile 4); deciles 1-3, 5 and 6 are empty.
        let predicted = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0];
        let actual = [0.0, 1.0, 0.0, 0.0, 2.0, 0.0, 1.0, 1.0, 5.0, 3.0];
        let bins = decile_calibration(&predicted, &actual);
        let deciles: Vec<u8> = bins.iter().map(|b| b.decile).collect();
        assert_eq!(deciles, vec![4, 7, 8, 9, 10]);
        assert_eq!(bins[0].customers, 6);
        assert_eq!(bins[0].mean_actual, 0.5);
        assert_eq!(bins[3].mean_actual, 5.0);
    }

    #[test]
    fn metrics_report_mae_and_calibration_only_for_a_prediction_of_the_outcome() {
        let outcome = [3.0, 1.0, 0.0, 2.0];
        let score = [0.9, 0.1, 0.5, 0.4];
        let ranking_only = RankingMetrics::of(&score, &outcome, false);
        assert_eq!(ranking_only.mae, None);
        assert!(ranking_only.calibration.is_empty());
        assert_eq!(ranking_only.gain.len(), GAIN_POINTS);
        assert_eq!(ranking_only.gain[GAIN_POINTS - 1].outcome_share, 1.0);
        assert_eq!(ranking_only.top.len(), TOP_SHARES.len());
        assert!(close(ranking_only.top_share(0.1).unwrap(), 0.2));
        let prediction = RankingMetrics::of(&score, &outcome, true);
        assert!(close(
            prediction.mae.unwrap(),
            (2.1 + 0.9 + 0.5 + 1.6) / 4.0
        ));
        assert!(!prediction.calibration.is_empty());
    }

    #[test]
    fn gain_points_by_hand() {
        // Score order 0, 2, 3, 1 holds 3, 0, 2, 1 of 6: cumulative 1/2, 1/2, 5/6, 1 at
        // customer shares 1/4, 1/2, 3/4, 1, linear in between (a fractional customer).
        let m = RankingMetrics::of(&[0.9, 0.1, 0.5, 0.4], &[3.0, 1.0, 0.0, 2.0], false);
        let at = |share: f64| {
            m.gain
                .iter()
                .find(|p| (p.customer_share - share).abs() < 1e-12)
                .map(|p| p.outcome_share)
                .unwrap()
        };
        assert!(close(at(0.05), 0.05 / 0.25 * 0.5));
        assert!(close(at(0.25), 0.5));
        assert!(close(at(0.40), 0.5));
        assert!(close(at(0.60), 0.5 + (0.10 / 0.25) * (5.0 / 6.0 - 0.5)));
        assert!(close(at(0.75), 5.0 / 6.0));
        assert!(close(at(1.0), 1.0));
        let shares: Vec<f64> = m.gain.iter().map(|p| p.customer_share).collect();
        assert!(
            shares.windows(2).all(|w| close(w[1] - w[0], 0.05)),
            "{shares:?}"
        );
        // A constant score is the diagonal at every point: ties are never broken in the
        // score's favour.
        let flat = RankingMetrics::of(&[1.0; 4], &[3.0, 1.0, 0.0, 2.0], false);
        assert!(
            flat.gain
                .iter()
                .all(|p| close(p.outcome_share, p.customer_share))
        );
        // Tied at the top (customers 0 and 1 hold 0 and 3 of 4): the top half holds 3/4,
        // spread evenly over its quarter-customers.
        let tied = RankingMetrics::of(&[1.0, 1.0, 0.0, 0.0], &[0.0, 3.0, 1.0, 0.0], false);
        assert!(close(tied.gain[4].outcome_share, 0.375)); // 25 %
        assert!(close(tied.gain[9].outcome_share, 0.75)); // 50 %
        assert!(close(tied.gain[14].outcome_share, 0.875)); // 75 %
    }

    #[test]
    fn deciles_are_nearly_equal_when_customers_do_not_divide_by_ten() {
        // 25 distinct predictions: a customer of rank i falls in decile ⌊(i + ½) · 10 / 25⌋,
        // so the deciles alternate 2 and 3 customers.
        let predicted: Vec<f64> = (0..25).map(f64::from).collect();
        let actual = vec![1.0; 25];
        let bins = decile_calibration(&predicted, &actual);
        let sizes: Vec<u64> = bins.iter().map(|b| b.customers).collect();
        assert_eq!(sizes, vec![2, 3, 2, 3, 2, 3, 2, 3, 2, 3]);
        // Decile 2 holds ranks 2, 3 and 4.
        assert_eq!(bins[1].mean_predicted, 3.0);
        assert!(bins.iter().all(|b| b.mean_actual == 1.0));
        // Deciles run from the lowest predictions to the highest.
        assert!(
            bins.windows(2)
                .all(|w| w[0].mean_predicted < w[1].mean_predicted)
        );
    }
}
