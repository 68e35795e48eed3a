//! The numerical traps other libraries fall into stay finite and right here.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions
mod common;

use custval_model::models::{BG_NBD, PARETO_NBD};

use common::assert_rel;
use custval_model::models::gamma_gamma::{self, SpendData};
use custval_model::simulate::{SimulationSpec, simulate_summaries};
use custval_model::{
    BetaGeoParams, ClvSpec, CustomerModel, FitOptions, GammaGammaParams, GroupedRfm, MAX_FREQUENCY,
    ModelError, ParetoNbdParams, Rfm, TimeUnit, TransactionModel,
};

fn models_in_days() -> Vec<TransactionModel> {
    // CDNOW estimates converted from weeks to days (α, β scale with time).
    vec![
        TransactionModel::bg_nbd(BetaGeoParams::new(0.243, 4.414 * 7.0, 0.793, 2.426).unwrap()),
        TransactionModel::mbg_nbd(BetaGeoParams::new(0.525, 6.183 * 7.0, 0.891, 1.614).unwrap()),
        TransactionModel::pareto_nbd(
            ParetoNbdParams::new(0.553, 10.578 * 7.0, 0.606, 11.669 * 7.0).unwrap(),
        ),
    ]
}

fn assert_probability(p: f64, what: &str) {
    assert!(p.is_finite() && (0.0..=1.0).contains(&p), "{what}: {p}");
}

/// x up to 1,000 and T up to 10,000 days: every prediction finite, probabilities in
/// [0, 1], expectations non-negative and consistent with each other.
#[test]
fn high_frequency_and_long_histories_stay_finite() {
    for model in models_in_days() {
        for &x in &[0u32, 1, 10, 100, 250, 1000] {
            for &age in &[1.0, 30.0, 365.0, 3650.0, 10_000.0] {
                for &frac in &[0.0, 0.1, 0.5, 0.99, 1.0] {
                    let recency = if x == 0 { 0.0 } else { age * frac };
                    let c = Rfm::new(x, recency, age).unwrap();
                    let what = format!("{:?} x={x} t_x={recency} T={age}", model.family());
                    let pa = model.p_alive(&c).unwrap();
                    assert_probability(pa, &what);
                    for t in [30.0, 365.0, 3650.0] {
                        let e = model.expected_purchases(&c, t).unwrap();
                        assert!(e.is_finite() && e >= 0.0, "{what} E[X({t})] = {e}");
                        let prop = model.propensity(&c, t).unwrap();
                        assert_probability(prop, &format!("{what} propensity"));
                        assert!(
                            prop <= pa + 1e-12,
                            "{what}: propensity {prop} > P(alive) {pa}"
                        );
                        let future = model.p_alive_at(&c, t).unwrap();
                        assert_probability(future, &format!("{what} P(alive at +{t})"));
                        assert!(future <= pa + 1e-12);
                    }
                    // More time, more expected purchases.
                    assert!(
                        model.expected_purchases(&c, 365.0).unwrap()
                            <= model.expected_purchases(&c, 3650.0).unwrap() + 1e-9
                    );
                }
            }
        }
    }
}

/// Pareto/NBD with x between 200 and 250 and T near 100 weeks overflows (α+T)^(r+x) in
/// textbook implementations; in log space it is an ordinary number.
#[test]
fn pareto_nbd_does_not_overflow_at_high_frequency() {
    let m =
        TransactionModel::pareto_nbd(ParetoNbdParams::new(0.553, 10.578, 0.606, 11.669).unwrap());
    for x in 200..=250 {
        for (recency, age) in [(99.0, 100.0), (60.0, 100.0), (20.0, 104.0)] {
            let c = Rfm::new(x, recency, age).unwrap();
            let pa = m.p_alive(&c).unwrap();
            assert_probability(pa, &format!("x={x} t_x={recency}"));
            let e = m.expected_purchases(&c, 52.0).unwrap();
            assert!(e.is_finite() && e >= 0.0);
        }
    }
    // Recent and frequent: alive. Long silent after a burst: gone.
    assert!(m.p_alive(&Rfm::new(220, 99.9, 100.0).unwrap()).unwrap() > 0.99);
    assert!(m.p_alive(&Rfm::new(220, 20.0, 104.0).unwrap()).unwrap() < 1e-6);
}

/// BG/NBD's known weakness: one-time buyers are "alive" with certainty. MBG/NBD and
/// Pareto/NBD give them a real probability; BG/NBD's answer follows its own definition.
#[test]
fn one_time_buyers() {
    let c = Rfm::new(0, 0.0, 38.86).unwrap();
    let [bg, mbg, pnbd] = [
        TransactionModel::bg_nbd(BetaGeoParams::new(0.243, 4.414, 0.793, 2.426).unwrap()),
        TransactionModel::mbg_nbd(BetaGeoParams::new(0.525, 6.183, 0.891, 1.614).unwrap()),
        TransactionModel::pareto_nbd(ParetoNbdParams::new(0.553, 10.578, 0.606, 11.669).unwrap()),
    ];
    assert_eq!(bg.p_alive(&c).unwrap(), 1.0);
    assert!(mbg.p_alive(&c).unwrap() < 0.5);
    assert!(pnbd.p_alive(&c).unwrap() < 0.5);
    // Even under BG/NBD the propensity of a one-time buyer is low: it is the rate that is low.
    assert!(bg.propensity(&c, 39.0).unwrap() < 0.2);
}

/// Gamma-Gamma with q ≤ 1 has no mean spend: reported in the diagnostics, never a
/// negative or infinite CLV.
#[test]
fn gamma_gamma_with_q_below_one_is_reported_not_negative() {
    // Simulated spend with q = 0.7: very heavy tails across customers.
    let spec = SimulationSpec {
        customers: 20_000,
        seed: 7,
        process: TransactionModel::bg_nbd(BetaGeoParams::new(1.5, 2.0, 0.5, 5.0).unwrap()),
        spend: Some(GammaGammaParams::new(0.6, 0.7, 10.0).unwrap()),
        calibration_length: 52.0,
        birth_window: 0.0,
        holdout_length: 0.0,
    };
    let sim = simulate_summaries(&spec).unwrap();
    let freq: Vec<u32> = sim.table.rfm.iter().map(|c| c.frequency).collect();
    let fit = gamma_gamma::fit(
        &SpendData::build(&freq, &sim.table.monetary_value).unwrap(),
        &FitOptions::default(),
    )
    .unwrap();
    assert!(fit.params.q() <= 1.0, "q = {}", fit.params.q());
    assert!(
        fit.diagnostics.warnings.iter().any(|w| w.code
            == custval_model::fit::WarningCode::SpendMeanUndefined
            && w.message.contains("q =")),
        "{:?}",
        fit.diagnostics.warnings
    );
    let model = CustomerModel {
        unit: TimeUnit::Week,
        transaction: TransactionModel::bg_nbd(BetaGeoParams::new(1.5, 2.0, 0.5, 5.0).unwrap()),
        spend: Some(fit.params),
    };
    let scores = model
        .score(
            &sim.table.rfm,
            &sim.table.monetary_value,
            TimeUnit::Week,
            &ClvSpec::lifetimes_convention(12, 0.01, TimeUnit::Week),
        )
        .unwrap();
    let mut undefined = 0;
    for (i, clv) in scores.clv.iter().enumerate() {
        match clv {
            Some(v) => assert!(v.is_finite() && *v >= 0.0, "customer {i}: CLV {v}"),
            None => undefined += 1,
        }
    }
    // Every customer without repeat purchases has no defined spend, and so no CLV.
    assert_eq!(
        undefined,
        freq.iter()
            .filter(|&&x| (fit.params.p() * x as f64 + fit.params.q()) <= 1.0)
            .count()
    );
    assert!(undefined > 0);
}

/// An optimizer that stops early says so; it never passes off a point as a solution.
#[test]
fn non_converged_fits_are_reported() {
    let rows: Vec<Rfm> = (0..200)
        .map(|i| Rfm::new(i % 5, (i % 5) as f64 * 3.0, 30.0).unwrap())
        .collect();
    let g = GroupedRfm::build(&rows, None).unwrap();
    let opts = FitOptions {
        gradient_tolerance: 1e-300,
        max_iterations: 1,
        ..FitOptions::default()
    };
    let fit = TransactionModel::fit(&BG_NBD, &g, &opts).unwrap();
    assert!(!fit.diagnostics.converged);
    assert!(fit.diagnostics.message.starts_with("not converged"));
    assert!(
        fit.params
            .named_params()
            .iter()
            .all(|(_, v)| v.is_finite() && *v > 0.0)
    );
}

/// Bad inputs are errors naming the field, never panics or NaN.
#[test]
fn bad_inputs_name_the_field() {
    let bad = [Rfm {
        frequency: 1,
        recency: f64::NAN,
        age: 3.0,
    }];
    match GroupedRfm::build(&bad, None) {
        Err(ModelError::InvalidInput { field, .. }) => assert_eq!(field, "customers[0].recency"),
        other => panic!("{other:?}"),
    }
    let m = TransactionModel::bg_nbd(BetaGeoParams::new(0.243, 4.414, 0.793, 2.426).unwrap());
    let c = Rfm::new(1, 1.0, 2.0).unwrap();
    assert!(matches!(
        m.expected_purchases(&c, -1.0),
        Err(ModelError::InvalidInput { .. })
    ));
    assert!(matches!(
        m.expected_purchases(&c, f64::INFINITY),
        Err(ModelError::InvalidInput { .. })
    ));
    assert!(BetaGeoParams::new(0.0, 1.0, 1.0, 1.0).is_err());
    let opts = FitOptions {
        penalizer: -1.0,
        ..FitOptions::default()
    };
    assert!(matches!(
        TransactionModel::fit(&BG_NBD, &GroupedRfm::build(&[c], None).unwrap(), &opts),
        Err(ModelError::InvalidInput { .. })
    ));
    // An absurd frequency is an error naming the customer, not gigabytes of tables.
    let absurd = [
        Rfm::new(2, 1.0, 3.0).unwrap(),
        Rfm {
            frequency: u32::MAX,
            recency: 2.0,
            age: 3.0,
        },
    ];
    match GroupedRfm::build(&absurd, None) {
        Err(ModelError::InvalidInput { field, reason }) => {
            assert_eq!(field, "customers[1].frequency");
            assert!(reason.contains("at most 1000000"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let spec = ClvSpec::lifetimes_convention(12, 0.01, TimeUnit::Week);
    let model = CustomerModel {
        unit: TimeUnit::Week,
        transaction: m,
        spend: None,
    };
    match model.score(&absurd, &[10.0, 10.0], TimeUnit::Week, &spec) {
        Err(ModelError::InvalidInput { field, .. }) => assert_eq!(field, "customers[1].frequency"),
        other => panic!("{other:?}"),
    }
    // The largest accepted one scores without building a table per frequency.
    let big = [Rfm::new(MAX_FREQUENCY, 2.0, 3.0).unwrap()];
    assert!(model.score(&big, &[10.0], TimeUnit::Week, &spec).is_ok());
    let empty = GroupedRfm::build(&[], None).unwrap();
    assert!(matches!(
        TransactionModel::fit(&PARETO_NBD, &empty, &FitOptions::default()),
        Err(ModelError::InsufficientData { .. })
    ));
}

/// The expectation at a = 1 (0/0 in the textbook formula) is continuous.
#[test]
fn bgnbd_expectation_is_continuous_through_a_equals_one() {
    let c = Rfm::new(3, 20.0, 30.0).unwrap();
    let at = |a: f64| {
        TransactionModel::bg_nbd(BetaGeoParams::new(0.5, 5.0, a, 2.0).unwrap())
            .expected_purchases(&c, 26.0)
            .unwrap()
    };
    let mid = at(1.0);
    assert!(mid.is_finite() && mid > 0.0);
    assert_rel(at(1.0 + 1e-7), mid, 1e-6, "a = 1 + 1e-7");
    assert_rel(at(1.0 - 1e-7), mid, 1e-6, "a = 1 - 1e-7");
    assert_rel(
        0.5 * (at(0.999) + at(1.001)),
        mid,
        1e-6,
        "average across a = 1",
    );
}

/// "Right", not just finite: at extreme inputs the production formulas (Euler-transformed
/// series, log-space tail integrals) agree with the textbook closed forms evaluated
/// independently through `special::ln_hyp2f1`.
#[test]
fn extreme_predictions_agree_with_textbook_closed_forms() {
    use custval_model::numerics::special::ln_hyp2f1;
    let (r, alpha, a, b) = (0.243, 4.414 * 7.0, 0.793, 2.426);
    let bg = TransactionModel::bg_nbd(BetaGeoParams::new(r, alpha, a, b).unwrap());
    for &(x, recency, age) in &[
        (1000u32, 9000.0, 10_000.0),
        (250, 3000.0, 3650.0),
        (50, 10.0, 10_000.0),
        (5, 1.0, 2.0),
    ] {
        let c = Rfm::new(x, recency, age).unwrap();
        let xf = x as f64;
        for t in [30.0, 365.0, 3650.0] {
            // FHL (2005) eq. 10, every factor in logs.
            let z = t / (alpha + age + t);
            let log_term = (r + xf) * ((alpha + age) / (alpha + age + t)).ln()
                + ln_hyp2f1(r + xf, b + xf, a + b + xf - 1.0, z);
            let numer = (a + b + xf - 1.0) / (a - 1.0) * -log_term.exp_m1();
            let odds =
                (a / (b + xf - 1.0)).ln() + (r + xf) * ((alpha + age) / (alpha + recency)).ln();
            let textbook = numer / (1.0 + odds.exp());
            assert_rel(
                bg.expected_purchases(&c, t).unwrap(),
                textbook,
                1e-9,
                &format!("BG/NBD x={x} T={age} t={t}"),
            );
        }
    }
    // Pareto/NBD P(alive), lifetimes' formula with A0 from 2F1 in logs.
    let (r, alpha, s, beta) = (0.553, 10.578, 0.606, 11.669);
    let pnbd = TransactionModel::pareto_nbd(ParetoNbdParams::new(r, alpha, s, beta).unwrap());
    for &(x, recency, age) in &[
        (200u32, 60.0, 100.0),
        (250, 99.0, 100.0),
        (220, 95.0, 104.0),
        (1000, 1400.0, 1428.0),
    ] {
        let c = Rfm::new(x, recency, age).unwrap();
        let xf = x as f64;
        let (big, arg_b) = if beta > alpha {
            (beta, r + xf)
        } else {
            (alpha, s + 1.0)
        };
        let ln_f = |y: f64| {
            -(r + s + xf) * (big + y).ln()
                + ln_hyp2f1(
                    r + s + xf,
                    arg_b,
                    r + s + xf + 1.0,
                    (big - alpha.min(beta)) / (big + y),
                )
        };
        let (lo, hi) = (ln_f(recency), ln_f(age));
        let ln_a0 = lo + (-(hi - lo).exp()).ln_1p();
        let ln_ratio =
            (s / (r + s + xf)).ln() + (r + xf) * (alpha + age).ln() + s * (beta + age).ln() + ln_a0;
        let textbook = 1.0 / (1.0 + ln_ratio.exp());
        assert_rel(
            pnbd.p_alive(&c).unwrap(),
            textbook,
            1e-9,
            &format!("Pareto/NBD x={x} t_x={recency} T={age}"),
        );
    }
}
