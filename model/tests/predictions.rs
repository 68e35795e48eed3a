//! Predictions that have no lifetimes reference value, checked against independent
//! computations: DERT, the new-customer expectation, the penalizer.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions
mod common;

use custval_model::TransactionFamily;
use custval_model::models::{BG_NBD, MBG_NBD};

use common::{assert_rel, cdnow_summary};
use custval_model::{
    BetaGeoParams, FitOptions, GroupedRfm, ParetoNbdParams, Rfm, TransactionModel,
};

/// ∫_0^∞ f(t) dt by 16-point Gauss-Legendre on many panels of [0, upper].
fn integrate(upper: f64, panels: usize, f: impl Fn(f64) -> f64) -> f64 {
    // Nodes and weights of the 8-point rule on [-1, 1] (symmetric pairs).
    const X: [f64; 4] = [
        0.183_434_642_495_649_8,
        0.525_532_409_916_329,
        0.796_666_477_413_626_7,
        0.960_289_856_497_536_3,
    ];
    const W: [f64; 4] = [
        0.362_683_783_378_362,
        0.313_706_645_877_887_3,
        0.222_381_034_453_374_5,
        0.101_228_536_290_376_3,
    ];
    let h = upper / panels as f64;
    (0..panels)
        .map(|p| {
            let mid = (p as f64 + 0.5) * h;
            X.iter()
                .zip(W)
                .map(|(x, w)| w * (f(mid + 0.5 * h * x) + f(mid - 0.5 * h * x)))
                .sum::<f64>()
                * 0.5
                * h
        })
        .sum()
}

/// DERT = ∫ e^(−δt) dE[X(t)] = δ ∫ e^(−δt) E[X(t)] dt: the closed-form-plus-quadrature
/// DERT equals the integral of the model's own conditional expectation.
#[test]
fn pareto_dert_equals_discounted_expected_purchases() {
    let m =
        TransactionModel::pareto_nbd(ParetoNbdParams::new(0.553, 10.578, 0.606, 11.669).unwrap());
    // 15% a year, continuously compounded, per week (Fader, Hardie & Lee's RFM/CLV paper).
    let delta = 1.15f64.ln() / 52.0;
    for c in [
        Rfm::new(0, 0.0, 38.86).unwrap(),
        Rfm::new(2, 30.43, 38.86).unwrap(),
        Rfm::new(7, 29.43, 38.86).unwrap(),
        Rfm::new(26, 30.86, 31.0).unwrap(),
    ] {
        let dert = m.dert(&c, delta).unwrap();
        let upper = 60.0 / delta;
        let by_parts = delta
            * integrate(upper, 4000, |t| {
                (-delta * t).exp() * m.expected_purchases(&c, t).unwrap()
            });
        assert_rel(dert, by_parts, 1e-7, &format!("DERT x={}", c.frequency));
    }
    // Other models refuse instead of answering something else.
    let bg = TransactionModel::bg_nbd(BetaGeoParams::new(0.243, 4.414, 0.793, 2.426).unwrap());
    assert!(bg.dert(&Rfm::new(1, 1.0, 2.0).unwrap(), delta).is_err());
    assert!(m.dert(&Rfm::new(1, 1.0, 2.0).unwrap(), 0.0).is_err());
}

/// A new customer is one with x = 0 observed for no time: for BG/NBD and Pareto/NBD the
/// population expectation (FHL 2005 eq. 9; SMC's) equals the conditional one at
/// (x, t_x, T) = (0, 0, 0), computed by a different formula. All grow with t.
#[test]
fn new_customer_expectation_is_the_conditional_one_at_age_zero() {
    let models = [
        TransactionModel::bg_nbd(BetaGeoParams::new(0.243, 4.414, 0.793, 2.426).unwrap()),
        TransactionModel::mbg_nbd(BetaGeoParams::new(0.525, 6.183, 0.891, 1.614).unwrap()),
        TransactionModel::pareto_nbd(ParetoNbdParams::new(0.553, 10.578, 0.606, 11.669).unwrap()),
    ];
    let newborn = Rfm::new(0, 0.0, 0.0).unwrap();
    for m in models {
        let mut prev = 0.0;
        for t in [1.0, 13.0, 39.0, 78.0, 520.0] {
            let e = m.expected_purchases_new_customer(t).unwrap();
            // MBG/NBD's conditional view at age 0 has already survived nothing; its
            // population expectation includes the dropout right after the first purchase.
            if m.family().name() != MBG_NBD.name() {
                assert_rel(
                    e,
                    m.expected_purchases(&newborn, t).unwrap(),
                    1e-12,
                    "new vs conditional at 0",
                );
            }
            assert!(e > prev);
            prev = e;
        }
    }
}

/// The L2 penalizer shrinks parameters toward zero, lowers the likelihood, and keeps the
/// fit converged; its objective is lifetimes' (−LL/n + λ Σ θ²).
#[test]
fn penalizer_shrinks_the_fit() {
    let rows: Vec<Rfm> = cdnow_summary().into_iter().map(|(_, r, _)| r).collect();
    let g = GroupedRfm::build(&rows, None).unwrap();
    let plain = TransactionModel::fit(&BG_NBD, &g, &FitOptions::default()).unwrap();
    let pen = TransactionModel::fit(
        &BG_NBD,
        &g,
        &FitOptions {
            penalizer: 0.01,
            ..FitOptions::default()
        },
    )
    .unwrap();
    assert!(pen.diagnostics.converged, "{}", pen.diagnostics.message);
    assert!(pen.diagnostics.log_likelihood < plain.diagnostics.log_likelihood);
    let norm = |f: &TransactionModel| f.named_params().iter().map(|(_, v)| v * v).sum::<f64>();
    assert!(norm(&pen.params) < norm(&plain.params));
    // At the penalized optimum the gradient of −LL/n equals −2λθ·θ (log-space chain rule):
    // check through the objective value being lower than at the plain MLE.
    let objective = |f: &TransactionModel| -f.log_likelihood(&g) / 2357.0 + 0.01 * norm(f);
    assert!(objective(&pen.params) < objective(&plain.params));
}
