//! Log-likelihoods and P(alive) at the edges of the parameter space, against 60-digit
//! mpmath values (`tests/tools/gen_extreme_likelihoods.py --small` writes
//! `tests/fixtures/extreme_likelihoods.json`): β up to 1e9 with s down to 1e-6 (nobody
//! drops out), r and α up to 1e8 (the Poisson limit), a down to 1e-6 and b up to 1e9,
//! x up to 1,000 and a million (`MAX_FREQUENCY`), histories of 1 to 520 weeks. And over a wider grid: never a NaN.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use custval_model::models::registry;
use custval_model::{GroupedRfm, Rfm};
use serde_json::Value;

fn cases() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/extreme_likelihoods.json"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["cases"].as_array().unwrap().clone()
}

fn customer(case: &Value) -> Rfm {
    let x = case["x"].as_u64().unwrap() as u32;
    Rfm::new(
        x,
        case["t_x"].as_f64().unwrap(),
        case["T"].as_f64().unwrap(),
    )
    .unwrap()
}

fn params(case: &Value) -> Vec<f64> {
    case["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect()
}

/// Every family's per-customer log-likelihood within 1e-10 (relative) of mpmath, and
/// Pareto/NBD's P(alive) within 1e-9.
#[test]
fn per_customer_log_likelihoods_match_mpmath_at_extreme_parameters() {
    let cases = cases();
    assert!(cases.len() > 300, "{} cases", cases.len());
    let mut worst = (0.0f64, String::new());
    for case in &cases {
        let family = registry::family(case["family"].as_str().unwrap()).unwrap();
        let (p, c) = (params(case), customer(case));
        let data = GroupedRfm::build(&[c], None).unwrap();
        let got = family.log_likelihood(&p, &data);
        let want = case["ll"].as_f64().unwrap();
        // A NaN must count as the worst error, not slip past the comparison.
        let err = (got - want).abs() / want.abs().max(1.0);
        if err.is_nan() || err > worst.0 {
            worst = (err, format!("{case}: {got}"));
        }
        if let Some(pa) = case.get("p_alive").and_then(Value::as_f64) {
            let got = family.p_alive(&p, &c).unwrap();
            assert!(
                (got - pa).abs() <= 1e-9 * pa + 1e-300,
                "P(alive) {case}: {got}"
            );
        }
    }
    assert!(
        worst.0 <= 1e-10,
        "worst relative error {:e} at {}",
        worst.0,
        worst.1
    );
}

/// Scales from 1e-3 to 1e10 and shapes from 1e-8 to 1e8: wider than the references.
const SCALES: [f64; 6] = [1e-3, 1.0, 52.0, 1e4, 1e7, 1e10];
const SHAPES: [f64; 7] = [1e-8, 1e-3, 0.5, 1.0, 30.0, 1e5, 1e8];

fn grid_customers() -> [Rfm; 5] {
    [
        Rfm::new(0, 0.0, 1e-3).unwrap(),
        Rfm::new(0, 0.0, 3650.0).unwrap(),
        Rfm::new(1, 1e-3, 52.0).unwrap(),
        Rfm::new(40, 51.99, 52.0).unwrap(),
        Rfm::new(1000, 10.0, 520.0).unwrap(),
    ]
}

/// Every (shape, scale, shape, second) combination of the grid; BG/NBD's a, b are both
/// shapes, Pareto/NBD's β is a scale: the fourth value runs over both kinds.
fn grid() -> Vec<[f64; 4]> {
    let mut out = Vec::new();
    for &shape1 in &SHAPES {
        for &scale in &SCALES {
            for &shape2 in &SHAPES {
                for second in [1e-3, 52.0, 1e7, 1e10] {
                    out.push([shape1, scale, shape2, second]);
                }
            }
        }
    }
    out
}

/// The predictions the no-NaN property covers; an `Err` is a clear answer, a NaN is not.
fn predictions(
    family: &dyn custval_model::TransactionFamily,
    p: &[f64],
    c: &Rfm,
) -> [(&'static str, custval_model::Result<f64>); 4] {
    [
        ("P(alive)", family.p_alive(p, c)),
        ("E[X(52)]", family.expected_purchases(p, c, 52.0)),
        ("propensity", family.propensity(p, c, 52.0)),
        ("P(alive at +52)", family.p_alive_at(p, c, 52.0)),
    ]
}

/// Over the grid every log-likelihood of every family is finite, and every Pareto/NBD
/// prediction is finite or a clear error (a fraction of a second in all: the cost is
/// bounded at every corner).
#[test]
fn no_nan_over_a_grid_of_extreme_parameters() {
    let mut failures = Vec::new();
    for name in ["bgnbd", "mbgnbd", "pareto-nbd"] {
        let family = registry::family(name).unwrap();
        for p in grid() {
            for c in &grid_customers() {
                let what = format!("{name} {p:?} {c:?}");
                let data = GroupedRfm::build(std::slice::from_ref(c), None).unwrap();
                let ll = family.log_likelihood(&p, &data);
                if !ll.is_finite() {
                    failures.push(format!("{what}: log-likelihood {ll}"));
                }
                if name != "pareto-nbd" {
                    continue;
                }
                for (prediction, v) in predictions(family, &p, c) {
                    if let Ok(v) = v
                        && !v.is_finite()
                    {
                        failures.push(format!("{what}: {prediction} = {v}"));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures, the first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(20)]
    );
}

/// BG/NBD and MBG/NBD predictions over the grid's corners are finite or a clear error.
/// (Only the corners: with r or a at 1e5 and beyond their expectation series take up to
/// 0.1 s per customer, which is not addressed yet.)
#[test]
fn beta_geometric_predictions_are_never_nan() {
    let corners = |v: &[f64]| [v[0], v[v.len() / 2], v[v.len() - 1]];
    for name in ["bgnbd", "mbgnbd"] {
        let family = registry::family(name).unwrap();
        for r in corners(&SHAPES) {
            for alpha in corners(&SCALES) {
                for a in corners(&SHAPES) {
                    for b in corners(&SHAPES) {
                        let p = [r, alpha, a, b];
                        for c in &grid_customers() {
                            for (prediction, v) in predictions(family, &p, c) {
                                if let Ok(v) = v {
                                    assert!(
                                        v.is_finite(),
                                        "{name} {p:?} {c:?}: {prediction} = {v}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
