//! Fit-customer recommendations: one action per customer with the numbers behind it, and
//! the allocation of a marketing budget across customers and actions.
//!
//! The economics are stated assumptions, not estimates: a margin on revenue, a cost to
//! serve, and per action a cost per customer and an uplift, the fraction of the value the
//! action addresses that it is expected to realize. Values are over the scoring horizon.
//!
//! * retain — value at risk: margin × CLV_alive × (1 − P(alive)), where CLV_alive =
//!   CLV / P(alive) is the value if the customer is still active;
//! * grow — margin × CLV, for alive customers with high propensity who spend less per
//!   purchase than their segment;
//! * nurture — margin × CLV_alive, for new and one-time buyers with good propensity;
//! * maintain — no profitable action: standard service, no extra spend. The reason says
//!   which: HEALTHY (a returning customer the model calls alive), ONE_TIME_BUYER (no
//!   repeat purchase yet: its P(alive) says little), NO_PROFITABLE_ACTION (the rest);
//! * deprioritize — margin × CLV below the cost to serve: spend nothing.
//!
//! An action's incremental value is uplift × (value it addresses) − its cost. It is
//! recommended only when that is positive.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Retain,
    Grow,
    Nurture,
    Maintain,
    Deprioritize,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Action::Retain,
        Action::Grow,
        Action::Nurture,
        Action::Maintain,
        Action::Deprioritize,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Retain => "retain",
            Action::Grow => "grow",
            Action::Nurture => "nurture",
            Action::Maintain => "maintain",
            Action::Deprioritize => "deprioritize",
        }
    }
}

/// Why an action was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    HighValue,
    PAliveFalling,
    Alive,
    HighPropensity,
    SpendBelowSegment,
    OneTimeBuyer,
    ValueBelowCost,
    NoProfitableAction,
    Healthy,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::HighValue => "HIGH_VALUE",
            Reason::PAliveFalling => "P_ALIVE_FALLING",
            Reason::Alive => "ALIVE",
            Reason::HighPropensity => "HIGH_PROPENSITY",
            Reason::SpendBelowSegment => "SPEND_BELOW_SEGMENT",
            Reason::OneTimeBuyer => "ONE_TIME_BUYER",
            Reason::ValueBelowCost => "VALUE_BELOW_COST",
            Reason::NoProfitableAction => "NO_PROFITABLE_ACTION",
            Reason::Healthy => "HEALTHY",
        }
    }
}

/// Cost per customer contacted and the expected response.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ActionAssumption {
    pub cost: f64,
    /// Fraction of the addressed value the action realizes, in [0, 1].
    pub uplift: f64,
}

/// The stated assumptions behind every recommendation. Defaults are deliberately modest:
/// 30% margin, no cost to serve, retention 5.00 per customer for 20% of the value at risk,
/// growth 2.00 for 10% more value, nurture 1.00 for 15% of the value if alive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Economics {
    /// Profit per unit of revenue, in (0, 1].
    pub margin: f64,
    /// Cost of serving a customer over the horizon, >= 0.
    pub cost_to_serve: f64,
    pub retain: ActionAssumption,
    pub grow: ActionAssumption,
    pub nurture: ActionAssumption,
    /// P(alive) at or above which a customer is healthy.
    pub healthy_p_alive: f64,
    /// Propensity at or above which growth and nurture are worth trying.
    pub min_propensity: f64,
}

impl Default for Economics {
    fn default() -> Self {
        Economics {
            margin: 0.3,
            cost_to_serve: 0.0,
            retain: ActionAssumption {
                cost: 5.0,
                uplift: 0.2,
            },
            grow: ActionAssumption {
                cost: 2.0,
                uplift: 0.1,
            },
            nurture: ActionAssumption {
                cost: 1.0,
                uplift: 0.15,
            },
            healthy_p_alive: 0.7,
            min_propensity: 0.5,
        }
    }
}

impl Economics {
    /// Checks every assumption; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let nonneg = |v: f64, f: &str| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(ModelError::invalid(
                    f,
                    format!("must be finite and >= 0, got {v}"),
                ))
            }
        };
        let unit = |v: f64, f: &str| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(ModelError::invalid(
                    f,
                    format!("must be in [0, 1], got {v}"),
                ))
            }
        };
        if !(self.margin.is_finite() && self.margin > 0.0 && self.margin <= 1.0) {
            return Err(ModelError::invalid(
                "margin",
                format!("must be in (0, 1], got {}", self.margin),
            ));
        }
        nonneg(self.cost_to_serve, "cost_to_serve")?;
        for (a, name) in [
            (self.retain, "retain"),
            (self.grow, "grow"),
            (self.nurture, "nurture"),
        ] {
            nonneg(a.cost, &format!("{name}.cost"))?;
            unit(a.uplift, &format!("{name}.uplift"))?;
        }
        unit(self.healthy_p_alive, "healthy_p_alive")?;
        unit(self.min_propensity, "min_propensity")
    }
}

/// What a recommendation looks at for one customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CustomerView {
    pub frequency: u32,
    pub p_alive: f64,
    pub propensity: f64,
    pub expected_spend: Option<f64>,
    /// CLV over the horizon; without a spend model, pass expected purchases × a unit value.
    pub clv: f64,
    /// Mean expected spend of the customer's segment, when segmented.
    pub segment_spend: Option<f64>,
    /// In the key or growth tier.
    pub high_value: bool,
}

/// A candidate action for allocation: its cost and gross incremental value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActionOption {
    pub action: Action,
    pub cost: f64,
    pub gross: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    pub action: Action,
    pub reasons: Vec<Reason>,
    /// margin × CLV − cost to serve.
    pub expected_value: f64,
    /// Net incremental value of the action (0 for maintain and deprioritize).
    pub incremental_value: f64,
    pub cost: f64,
    /// incremental value / cost, when the action costs something.
    pub roi: Option<f64>,
    /// Every profitable action, for budget allocation.
    pub candidates: Vec<ActionOption>,
}

/// One customer's best action under `e`.
pub fn recommend(c: &CustomerView, e: &Economics) -> Recommendation {
    let clv = c.clv.max(0.0);
    let value = e.margin * clv;
    let expected_value = value - e.cost_to_serve;
    if expected_value < 0.0 || clv <= 0.0 {
        return Recommendation {
            action: Action::Deprioritize,
            reasons: vec![Reason::ValueBelowCost],
            expected_value,
            incremental_value: 0.0,
            cost: 0.0,
            roi: None,
            candidates: Vec::new(),
        };
    }
    let p_alive = c.p_alive.clamp(1e-12, 1.0);
    let value_if_alive = value / p_alive;
    // Healthy is what the numbers say of a customer who has come back: a one-time buyer's
    // P(alive) is 1 under BG/NBD by construction, which says nothing of its health.
    let healthy = c.p_alive >= e.healthy_p_alive && c.frequency >= 1;
    let falling = c.p_alive < e.healthy_p_alive;
    let keen = c.propensity >= e.min_propensity;
    let below_segment =
        matches!((c.expected_spend, c.segment_spend), (Some(s), Some(seg)) if s < seg);

    let mut candidates = Vec::with_capacity(3);
    let mut why: Vec<(Action, Vec<Reason>)> = Vec::with_capacity(3);
    if c.high_value && falling {
        let a = e.retain;
        candidates.push(ActionOption {
            action: Action::Retain,
            cost: a.cost,
            gross: a.uplift * value_if_alive * (1.0 - c.p_alive),
        });
        why.push((
            Action::Retain,
            vec![Reason::HighValue, Reason::PAliveFalling],
        ));
    }
    if healthy && keen && below_segment && c.frequency >= 2 {
        let a = e.grow;
        candidates.push(ActionOption {
            action: Action::Grow,
            cost: a.cost,
            gross: a.uplift * value,
        });
        why.push((
            Action::Grow,
            vec![
                Reason::Alive,
                Reason::HighPropensity,
                Reason::SpendBelowSegment,
            ],
        ));
    }
    if c.frequency <= 1 && keen {
        let a = e.nurture;
        candidates.push(ActionOption {
            action: Action::Nurture,
            cost: a.cost,
            gross: a.uplift * value_if_alive,
        });
        why.push((
            Action::Nurture,
            vec![Reason::OneTimeBuyer, Reason::HighPropensity],
        ));
    }
    candidates.retain(|o| o.gross - o.cost > 0.0);
    let best = candidates
        .iter()
        .copied()
        .max_by(|a, b| (a.gross - a.cost).total_cmp(&(b.gross - b.cost)));
    match best {
        Some(o) => Recommendation {
            action: o.action,
            reasons: why
                .into_iter()
                .find(|(a, _)| *a == o.action)
                .map(|(_, r)| r)
                .unwrap_or_default(),
            expected_value,
            incremental_value: o.gross - o.cost,
            cost: o.cost,
            roi: (o.cost > 0.0).then(|| (o.gross - o.cost) / o.cost),
            candidates,
        },
        None => Recommendation {
            action: Action::Maintain,
            reasons: vec![if healthy {
                Reason::Healthy
            } else if c.frequency == 0 {
                Reason::OneTimeBuyer
            } else {
                Reason::NoProfitableAction
            }],
            expected_value,
            incremental_value: 0.0,
            cost: 0.0,
            roi: None,
            candidates,
        },
    }
}

/// Recommendations for scored customers placed in a segmentation.
pub fn recommend_all(
    rfm: &[crate::Rfm],
    scores: &crate::Scores,
    segments: &crate::decide::segments::SegmentModel,
    placement: &crate::decide::segments::Placement,
    economics: &Economics,
) -> Vec<Recommendation> {
    use crate::decide::segments::Tier;
    (0..rfm.len())
        .into_par_iter()
        .map(|i| {
            let view = CustomerView {
                frequency: rfm[i].frequency,
                p_alive: scores.p_alive[i],
                propensity: scores.propensity[i],
                expected_spend: scores.expected_spend[i],
                clv: scores.clv[i].unwrap_or(0.0),
                segment_spend: segments.segment_spend(placement.labels[i]),
                high_value: matches!(placement.tiers[i], Tier::Key | Tier::Growth),
            };
            recommend(&view, economics)
        })
        .collect()
}

/// The chosen action per funded customer, and what the plan is worth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetPlan {
    pub budget: f64,
    pub spent: f64,
    /// (customer index, action) for every funded customer, by customer index.
    pub funded: Vec<(usize, Action)>,
    /// Σ (gross − cost) over funded actions.
    pub expected_incremental_value: f64,
    /// expected incremental value / spent.
    pub roi: Option<f64>,
    /// Net value per unit of budget of the last increment funded: what one more unit of
    /// budget is worth at the margin (0 when every profitable action is funded).
    pub marginal_value: f64,
}

/// Chooses at most one action per customer so that the net incremental value is as large
/// as possible within `budget`: each customer's options form an upper concave hull in
/// (cost, net value); hull steps of all customers are funded in order of value per unit
/// cost while they fit (the greedy solution of the multiple-choice knapsack's relaxation,
/// exact up to the one step that does not fit).
pub fn allocate(candidates: &[Vec<ActionOption>], budget: f64) -> Result<BudgetPlan> {
    if !(budget.is_finite() && budget >= 0.0) {
        return Err(ModelError::invalid(
            "budget",
            format!("must be finite and >= 0, got {budget}"),
        ));
    }
    // (efficiency, customer, step, Δcost, Δnet, action)
    let mut steps: Vec<(f64, usize, usize, f64, f64, Action)> = candidates
        .par_iter()
        .enumerate()
        .flat_map_iter(|(i, opts)| {
            let mut o: Vec<ActionOption> = opts
                .iter()
                .copied()
                .filter(|o| o.gross - o.cost > 0.0 && o.cost >= 0.0)
                .collect();
            o.sort_by(|a, b| a.cost.total_cmp(&b.cost));
            // Upper concave hull from (0, 0).
            let mut hull: Vec<(f64, f64, Action)> = Vec::new();
            for x in o {
                let net = x.gross - x.cost;
                if hull.last().is_some_and(|h| net <= h.1) {
                    continue;
                }
                while !hull.is_empty() {
                    let (c1, v1) = if hull.len() >= 2 {
                        let h = hull[hull.len() - 2];
                        (h.0, h.1)
                    } else {
                        (0.0, 0.0)
                    };
                    let h2 = hull[hull.len() - 1];
                    let slope_prev = (h2.1 - v1) / (h2.0 - c1).max(1e-300);
                    let slope_new = (net - h2.1) / (x.cost - h2.0).max(1e-300);
                    if slope_new >= slope_prev {
                        hull.pop();
                    } else {
                        break;
                    }
                }
                hull.push((x.cost, net, x.action));
            }
            let mut prev = (0.0, 0.0);
            hull.into_iter()
                .enumerate()
                .map(move |(k, (c, v, a))| {
                    let dc = c - prev.0;
                    let dv = v - prev.1;
                    prev = (c, v);
                    let eff = if dc > 0.0 { dv / dc } else { f64::INFINITY };
                    (eff, i, k, dc, dv, a)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    steps.par_sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut chosen: Vec<Option<(usize, Action)>> = vec![None; candidates.len()];
    let mut blocked = vec![false; candidates.len()];
    let (mut spent, mut value, mut marginal) = (0.0, 0.0, 0.0);
    for &(eff, i, k, dc, dv, a) in &steps {
        if blocked[i] {
            continue;
        }
        let next_step = chosen[i].map_or(0, |(s, _)| s + 1);
        if k != next_step || spent + dc > budget * (1.0 + 1e-12) {
            // A customer's hull steps are taken in order; one that does not fit ends it.
            blocked[i] = true;
            continue;
        }
        spent += dc;
        value += dv;
        chosen[i] = Some((k, a));
        if eff.is_finite() {
            marginal = eff;
        }
    }
    let funded: Vec<(usize, Action)> = chosen
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.map(|(_, a)| (i, a)))
        .collect();
    let every_step_funded = steps
        .iter()
        .all(|s| chosen[s.1].is_some_and(|(k, _)| k >= s.2));
    Ok(BudgetPlan {
        budget,
        spent,
        funded,
        expected_incremental_value: value,
        roi: (spent > 0.0).then(|| value / spent),
        marginal_value: if every_step_funded { 0.0 } else { marginal },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(clv: f64, p_alive: f64, frequency: u32) -> CustomerView {
        CustomerView {
            frequency,
            p_alive,
            propensity: 0.8,
            expected_spend: Some(20.0),
            clv,
            segment_spend: Some(40.0),
            high_value: true,
        }
    }

    #[test]
    fn value_below_cost_never_gets_spend() {
        let e = Economics {
            cost_to_serve: 50.0,
            ..Economics::default()
        };
        let r = recommend(&view(100.0, 0.3, 5), &e);
        assert_eq!(r.action, Action::Deprioritize);
        assert_eq!(r.cost, 0.0);
        assert!(r.candidates.is_empty());
    }

    #[test]
    fn actions_follow_the_situation() {
        let e = Economics::default();
        assert_eq!(recommend(&view(500.0, 0.3, 5), &e).action, Action::Retain);
        assert_eq!(recommend(&view(500.0, 0.95, 5), &e).action, Action::Grow);
        assert_eq!(recommend(&view(500.0, 0.95, 0), &e).action, Action::Nurture);
        let r = recommend(&view(1.0, 0.95, 5), &e);
        assert_eq!(
            r.action,
            Action::Maintain,
            "too little value to pay for growth"
        );
        let r = recommend(&view(500.0, 0.3, 5), &e);
        assert!(r.incremental_value > 0.0);
        assert!((r.roi.unwrap() - r.incremental_value / 5.0).abs() < 1e-12);
    }

    #[test]
    fn bad_assumptions_name_the_field() {
        let mut e = Economics::default();
        e.grow.uplift = 1.5;
        assert!(
            matches!(e.validate(), Err(ModelError::InvalidInput { field, .. }) if field == "grow.uplift")
        );
        let mut e = Economics::default();
        e.retain.cost = -1.0;
        assert!(
            matches!(e.validate(), Err(ModelError::InvalidInput { field, .. }) if field == "retain.cost")
        );
        assert!(allocate(&[], -1.0).is_err());
    }

    #[test]
    fn allocation_respects_the_budget_and_prefers_efficient_steps() {
        let o = |action, cost, gross| ActionOption {
            action,
            cost,
            gross,
        };
        let c = vec![
            vec![o(Action::Retain, 5.0, 50.0), o(Action::Nurture, 1.0, 20.0)],
            vec![o(Action::Grow, 2.0, 4.0)],
            vec![o(Action::Retain, 5.0, 6.0)],
            vec![],
        ];
        let plan = allocate(&c, 6.0).unwrap();
        assert!(plan.spent <= 6.0);
        // Customer 0 takes nurture (19 for 1) then upgrades to retain (26 more for 4).
        assert_eq!(plan.funded, vec![(0, Action::Retain)]);
        assert!((plan.expected_incremental_value - 45.0).abs() < 1e-9);
        assert!(plan.marginal_value > 0.0);
        let all = allocate(&c, 1e9).unwrap();
        assert_eq!(all.funded.len(), 3);
        assert_eq!(all.marginal_value, 0.0);
        assert_eq!(allocate(&c, 0.0).unwrap().funded.len(), 0);
    }
}
