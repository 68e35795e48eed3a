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
use crate::Rfm;
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

/// Below this share of customers the fitted model believes have left (the weighted mean
/// of 1 − P(alive) over the data's customers), the dropout process is at its boundary:
/// fewer than 1 in 1,000 customers gone, P(alive) = 1 for everyone to three digits. Fits
/// of populations with real dropout sit far above (CDNOW: BG/NBD ~0.2, Pareto/NBD ~0.4);
/// fits where the dropout parameter ran to its boundary far below (1e-6 and less).
pub const MIN_DROPOUT_SHARE: f64 = 1e-3;

/// At most this many customer groups are scored for [`no_dropout`]: groups come in hash
/// order, so a stride is a fair subsample, and the mean of 1 − P(alive) is known well
/// enough for a threshold three orders of magnitude from ordinary values.
const DROPOUT_SAMPLE_GROUPS: usize = 20_000;

/// The fitted model's share of customers who have left, from P(alive) at each customer's
/// own (x, t_x, T); `None` if P(alive) fails for one of them (no diagnosis then).
pub fn dropout_share(
    family: &dyn TransactionFamily,
    params: &[f64],
    data: &GroupedRfm,
) -> Option<f64> {
    let stride = data.len().div_ceil(DROPOUT_SAMPLE_GROUPS).max(1);
    let (mut gone, mut weight) = (0.0, 0.0);
    for i in (0..data.len()).step_by(stride) {
        let c = Rfm {
            frequency: data.frequency[i],
            recency: data.recency[i],
            age: data.age[i],
        };
        let alive = family.p_alive(params, &c).ok()?;
        gone += data.weight[i] * (1.0 - alive);
        weight += data.weight[i];
    }
    (weight > 0.0).then(|| gone / weight)
}

/// At or below this shape, the distribution of the dropout parameter (BG/NBD's p ~
/// Beta(a, b), Pareto/NBD's μ ~ Gamma(s, β)) is a spike at zero: with shape k, the share
/// of customers whose dropout is below ε grows like ε^k, so at k = 0.05 some 70% of them
/// have p or μ/β below 10⁻³ (and more the larger b or β). On data without dropout the
/// fits land there (a or s of 10⁻² down to 10⁻⁹), often paired with a few customers put
/// down as leaving at their first check, which keeps the mean of 1 − P(alive) off zero and
/// [`MIN_DROPOUT_SHARE`] from seeing it. Ordinary fits have shapes of 0.2 and more
/// (CDNOW: a 0.79, s 0.61).
pub const DROPOUT_SPIKE_SHAPE: f64 = 0.05;

/// `no_dropout` when the fitted model believes fewer than [`MIN_DROPOUT_SHARE`] of the
/// customers have left, or when the shape of its dropout distribution is at most
/// [`DROPOUT_SPIKE_SHAPE`] (most customers never leave). `reading` says what the family's
/// parameters show (e.g. `E[p] = a/(a+b) = 1e-9`), so the message points at the parameter
/// at its boundary.
pub fn no_dropout(
    family: &dyn TransactionFamily,
    params: &[f64],
    data: &GroupedRfm,
    dropout_shape: f64,
    reading: &str,
) -> Option<FitWarning> {
    let share = dropout_share(family, params, data);
    let none_leave = share.is_some_and(|s| s < MIN_DROPOUT_SHARE);
    let spike = dropout_shape <= DROPOUT_SPIKE_SHAPE;
    (none_leave || spike).then(|| {
        let believed = share.map_or(String::new(), |s| {
            format!("; the fit believes {s:.2e} of the customers have left")
        });
        FitWarning::new(
            WarningCode::NoDropout,
            format!(
                "P(alive) = 1 for everyone: the data show no dropout this model can detect \
                 ({reading}{believed}); P(alive), and what depends on it, carry no information"
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
