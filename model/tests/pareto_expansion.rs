//! Pareto/NBD where one scale dwarfs the other, the regime every fit on data without
//! dropout runs into (β ≫ α + T): the likelihood there expands the larger scale's factor
//! (`ln_integral_expanded` in src/models/pareto_nbd/integral.rs). Its log-likelihoods and
//! P(alive) against 60-digit mpmath values (`tests/tools/gen_pareto_expansion_refs.py`
//! writes `tests/fixtures/pareto_expansion.json`), and a fit on a population that never
//! drops out: diagnosed as such, with the purchase parameters of the population.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use custval_model::fit::WarningCode;
use custval_model::models::PARETO_NBD;
use custval_model::simulate::{SimulationSpec, simulate_summaries};
use custval_model::{
    FitOptions, GroupedRfm, ParetoNbdParams, Rfm, TransactionFamily, TransactionModel,
};
use serde_json::Value;

fn cases() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pareto_expansion.json"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["cases"].as_array().unwrap().clone()
}

fn number(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap()
}

/// The expansion's limit on its ratio bound q (`EXPANSION_LIMIT`).
const LIMIT: f64 = 0.5;

/// Every case within 1e-12 (relative) of mpmath, P(alive) within 1e-10; the fixture has
/// cases deep inside the expansion's regime (q down to 1e-12), either side of its limit,
/// and in both orientations (β ≫ α and α ≫ β).
#[test]
fn log_likelihoods_match_mpmath_where_one_scale_dwarfs_the_other() {
    let cases = cases();
    let expanded = cases.iter().filter(|c| number(c, "q") < LIMIT).count();
    let near_limit = |lo: f64, hi: f64| cases.iter().any(|c| (lo..hi).contains(&number(c, "q")));
    assert!(
        expanded >= 250,
        "{expanded} of {} cases expanded",
        cases.len()
    );
    assert!(near_limit(0.45, LIMIT) && near_limit(LIMIT, 0.55));
    assert!(cases.iter().any(|c| number(c, "q") < 1e-9));
    let reversed = cases
        .iter()
        .filter(|c| c["params"][1].as_f64().unwrap() > c["params"][3].as_f64().unwrap())
        .count();
    assert!(reversed >= 50, "{reversed} cases with α > β");

    let mut worst = (0.0f64, String::new());
    for case in &cases {
        let p: Vec<f64> = case["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let c = Rfm::new(
            case["x"].as_u64().unwrap() as u32,
            number(case, "t_x"),
            number(case, "T"),
        )
        .unwrap();
        let data = GroupedRfm::build(&[c], None).unwrap();
        let got = PARETO_NBD.log_likelihood(&p, &data);
        let want = number(case, "ll");
        let err = (got - want).abs() / want.abs().max(1.0);
        // A NaN must count as the worst error, not slip past the comparison.
        if err.is_nan() || err > worst.0 {
            worst = (err, format!("{case}: {got}"));
        }
        let pa = number(case, "p_alive");
        let got = PARETO_NBD.p_alive(&p, &c).unwrap();
        assert!(
            (got - pa).abs() <= 1e-10 * pa + 1e-300,
            "P(alive) {case}: {got}"
        );
    }
    assert!(
        worst.0 <= 1e-12,
        "worst relative error {:e} at {}",
        worst.0,
        worst.1
    );
}

/// 20,000 customers of the benches' no-dropout population (CDNOW's purchase rates,
/// lifetimes of 2 million weeks): the fit is flagged `no_dropout`, recovers the purchase
/// process, and expects nobody to have left.
#[test]
fn fit_without_dropout_is_diagnosed_with_sensible_parameters() {
    let truth = ParetoNbdParams::new(0.553, 10.578, 0.5, 1e6).unwrap();
    let spec = SimulationSpec {
        process: TransactionModel::pareto_nbd(truth),
        ..SimulationSpec::cdnow_like(20_000, 3, 52.0)
    };
    let sim = simulate_summaries(&spec).unwrap();
    let data = GroupedRfm::build(&sim.table.rfm, None).unwrap();
    let fitted = TransactionModel::fit(&PARETO_NBD, &data, &FitOptions::default()).unwrap();
    let d = &fitted.diagnostics;
    assert!(d.converged, "{d:#?}");
    assert!(d.has_warning(WarningCode::NoDropout), "{:#?}", d.warnings);
    let [r, alpha, s, beta] = <[f64; 4]>::try_from(fitted.params.params()).unwrap();
    // The purchase process: the mean rate r/α within 5%, the shape within 20%.
    let rate = r / alpha;
    assert!((rate / (0.553 / 10.578) - 1.0).abs() < 0.05, "r/α = {rate}");
    assert!((r / 0.553 - 1.0).abs() < 0.2, "r = {r}");
    // Dropout: expected share lost over the window below 1e-3.
    let lost = -(-s * (52.0 / beta).ln_1p()).exp_m1();
    assert!(lost < 1e-3, "s = {s}, β = {beta}: lost {lost}");
}
