//! The diagnosis of a fitted purchase/dropout model: the checks any fit gets
//! (`crate::fit::diagnosis`) plus the family's own ([`TransactionFamily::diagnose`]), run
//! after every fit through [`TransactionModel::fit`](super::TransactionModel::fit) and the
//! typed fits (`fit_bgnbd`, `fit_mbgnbd`, `fit_pareto_nbd`).
//!
//! A maximum-likelihood optimizer converges just as happily to a point on a boundary or a
//! flat ridge as to a proper estimate; `converged: true` says nothing about which. These
//! checks say it, so that "P(alive) = 1 for everyone" is reported as what it is.
//!
//! The building blocks a family uses in its `diagnose` are here too: [`no_dropout`]
//! (for a family with a dropout process) and [`poisson_limit`] (for a family whose purchase
//! rates are Gamma(r, α)).

use super::TransactionFamily;
use crate::fit::diagnosis::{few_repeat_customers, imprecise_estimates};
use crate::fit::{FitDiagnostics, FitWarning, GroupedRfm, WarningCode};

/// Every warning the diagnosis of this fit gives, generic ones first.
pub fn diagnose_fit(
    family: &dyn TransactionFamily,
    params: &[f64],
    diagnostics: &FitDiagnostics,
    data: &GroupedRfm,
) -> Vec<FitWarning> {
    let mut out: Vec<FitWarning> = [
        imprecise_estimates(params, diagnostics),
        few_repeat_customers(data),
    ]
    .into_iter()
    .flatten()
    .collect();
    out.extend(family.diagnose(params, diagnostics, data));
    out
}

/// Below this share of customers the fitted model expects to lose over a typical
/// customer's observed span (its prior probability of dropping out by then), the dropout
/// process is at its boundary: fewer than 1 in 1,000 customers gone, P(alive) = 1 for
/// everyone to three digits. Fits of populations with real dropout sit far above (CDNOW:
/// BG/NBD 0.2, Pareto/NBD 0.5); fits where a ran to 0 against b far below (1e-7).
///
/// The share is the family's closed form from its parameters (`lost_share` of
/// [`no_dropout`]) rather than a mean of P(alive) over the customers: it costs nothing, and
/// P(alive) itself fails in the very regime to detect (Pareto/NBD's series do not converge
/// for β in the hundreds of thousands).
pub const MIN_DROPOUT_SHARE: f64 = 1e-3;

/// At or below this shape, the distribution of the dropout parameter (BG/NBD's p ~
/// Beta(a, b), Pareto/NBD's μ ~ Gamma(s, β)) is a spike at zero: with shape k, the share
/// of customers whose dropout is below ε grows like ε^k, so at k = 0.05 some 70% of them
/// have p or μ/β below 10⁻³ (and more the larger b or β). On data without dropout the
/// fits land there (a or s of 10⁻² down to 10⁻⁹), often paired with a few customers put
/// down as leaving at their first check, which keeps the mean of 1 − P(alive) off zero and
/// [`MIN_DROPOUT_SHARE`] from seeing it. Ordinary fits have shapes of 0.2 and more
/// (CDNOW: a 0.79, s 0.61).
pub const DROPOUT_SPIKE_SHAPE: f64 = 0.05;

/// `no_dropout` when the fitted model expects to lose fewer than [`MIN_DROPOUT_SHARE`] of
/// the customers over a typical customer's observed span (`lost_share`), or when the shape
/// of its dropout distribution is at most [`DROPOUT_SPIKE_SHAPE`] (most customers never
/// leave). `reading` says what the family's parameters show (e.g. `E[p] = a/(a+b) =
/// 1e-9`), so the message points at the parameter at its boundary.
pub fn no_dropout(dropout_shape: f64, lost_share: f64, reading: &str) -> Option<FitWarning> {
    let none_leave = lost_share < MIN_DROPOUT_SHARE;
    let spike = dropout_shape <= DROPOUT_SPIKE_SHAPE;
    (none_leave || spike).then(|| {
        // With a spike but a visible share lost, "everyone" is the bulk: say who the rest are.
        let rest = if none_leave {
            ""
        } else {
            "; the shape is a spike at zero dropout: all but those put down as leaving at \
             their first chance stay forever"
        };
        FitWarning::new(
            WarningCode::NoDropout,
            format!(
                "P(alive) = 1 for everyone: the data show no dropout this model can detect \
                 ({reading}; expected share of customers lost over a typical customer's span \
                 {lost_share:.2e}{rest}); P(alive), and what depends on it, carry no \
                 information"
            ),
        )
    })
}

/// From this shape on, the Gamma(r, α) of purchase rates is a single Poisson rate: the
/// rates' coefficient of variation 1/√r is below 1/√50 ≈ 14%, no heterogeneity worth the
/// name. Ordinary fits have r well below 10 (CDNOW: 0.24–0.55); fits of simulated
/// populations with one common rate run to r in the hundreds or more, with α in step.
pub const POISSON_LIMIT_SHAPE: f64 = 50.0;

/// `poisson_limit` when r ≥ [`POISSON_LIMIT_SHAPE`]: r and α have run off together with
/// r/α, the mean rate, all that is estimated.
pub fn poisson_limit(r: f64, alpha: f64) -> Option<FitWarning> {
    (r >= POISSON_LIMIT_SHAPE).then(|| {
        FitWarning::new(
            WarningCode::PoissonLimit,
            format!(
                "r = {r:.4e}, alpha = {alpha:.4e}: purchase rates do not differ between \
                 customers (coefficient of variation 1/sqrt(r) = {:.3}); only the mean rate \
                 r/alpha = {:.4e} is estimated, r and alpha separately are not",
                r.sqrt().recip(),
                r / alpha
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_dropout_fires_on_a_spike_at_zero_or_on_nobody_lost() {
        // CDNOW's BG/NBD: a = 0.79, a fifth of the customers lost.
        assert_eq!(no_dropout(0.79, 0.2, "cdnow"), None);
        assert_eq!(
            no_dropout(DROPOUT_SPIKE_SHAPE * 1.01, 0.02, "just above"),
            None
        );
        // a → 0 with b → 0 too: a few leave at once, the rest never.
        let spike = no_dropout(2e-9, 0.019, "spike").unwrap();
        assert_eq!(spike.code, WarningCode::NoDropout);
        assert!(spike.message.contains("spike at zero"), "{}", spike.message);
        // a ≪ b: an ordinary shape, but nobody leaves.
        let none = no_dropout(0.5, 1e-5, "a << b").unwrap();
        assert!(none.message.contains("a << b"), "{}", none.message);
        assert!(!none.message.contains("spike"), "{}", none.message);
    }

    #[test]
    fn poisson_limit_fires_from_its_shape_on() {
        assert_eq!(poisson_limit(0.243, 4.414), None);
        assert_eq!(poisson_limit(POISSON_LIMIT_SHAPE * 0.99, 100.0), None);
        let w = poisson_limit(1e5, 1e5 / 0.3).unwrap();
        assert_eq!(w.code, WarningCode::PoissonLimit);
        assert!(w.message.contains("r/alpha = 3.0000e-1"), "{}", w.message);
    }
}
