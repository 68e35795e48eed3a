//! The diagnosis of degenerate fits against populations whose truth is known: simulated
//! customers who never drop out, customers who all buy at one Poisson rate, ordinary
//! CDNOW-like customers (no warning at all), and too few repeat buyers.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions
mod common;

use custval_model::fit::WarningCode;
use custval_model::models::{MBG_NBD, PARETO_NBD, registry};
use custval_model::simulate::{SimulationSpec, simulate_summaries};
use custval_model::{
    BetaGeoParams, FitDiagnostics, FitOptions, GroupedRfm, ParetoNbdParams, TransactionFamily,
    TransactionModel,
};

/// The codes the diagnosis adds (the optimizer's own warnings are not its business).
const DIAGNOSIS_CODES: [WarningCode; 4] = [
    WarningCode::NoDropout,
    WarningCode::PoissonLimit,
    WarningCode::ImpreciseEstimates,
    WarningCode::FewRepeatCustomers,
];

/// A year of weekly data, births over its first half: CDNOW's shape.
fn population(process: TransactionModel, customers: usize) -> GroupedRfm {
    let spec = SimulationSpec {
        customers,
        seed: 7,
        process,
        spend: None,
        calibration_length: 52.0,
        birth_window: 26.0,
        holdout_length: 0.0,
    };
    let sim = simulate_summaries(&spec).unwrap();
    GroupedRfm::build(&sim.table.rfm, None).unwrap()
}

fn fit(family: &str, data: &GroupedRfm) -> (Vec<f64>, FitDiagnostics) {
    let f = TransactionModel::fit(
        registry::family(family).unwrap(),
        data,
        &FitOptions::default(),
    )
    .unwrap();
    (f.params.params().to_vec(), f.diagnostics)
}

fn codes(d: &FitDiagnostics) -> Vec<WarningCode> {
    d.warnings
        .iter()
        .map(|w| w.code)
        .filter(|c| DIAGNOSIS_CODES.contains(c))
        .collect()
}

#[test]
fn no_dropout_population_is_diagnosed() {
    // BG/NBD customers with p ≈ 0 (E[p] = 1e-5), and Pareto/NBD customers with lifetimes
    // of 1/E[μ] = 2 million weeks: nobody leaves within the year.
    let populations = [
        (
            "beta-geometric, p ≈ 0",
            TransactionModel::bg_nbd(BetaGeoParams::new(0.55, 10.58, 1e-4, 10.0).unwrap()),
        ),
        (
            "Pareto, s/β ≈ 0",
            TransactionModel::pareto_nbd(ParetoNbdParams::new(0.55, 10.58, 0.5, 1e6).unwrap()),
        ),
    ];
    for (what, process) in populations {
        let data = population(process, 2000);
        // Every family fits them (Pareto/NBD's likelihood stays cheap as β → ∞, see
        // `models/pareto_nbd/integral.rs`) and says so.
        for family in ["bgnbd", "mbgnbd", "pareto-nbd"] {
            let (params, d) = fit(family, &data);
            let found = codes(&d);
            assert!(
                found.contains(&WarningCode::NoDropout),
                "{what}, {family} {params:?}: {:#?}",
                d.warnings
            );
            assert!(
                !found.contains(&WarningCode::PoissonLimit),
                "{what}, {family}"
            );
            let w = d
                .warnings
                .iter()
                .find(|w| w.code == WarningCode::NoDropout)
                .unwrap();
            assert!(
                w.message.starts_with(
                    "P(alive) = 1 for everyone: the data show no dropout this model can detect"
                ),
                "{}",
                w.message
            );
        }
        // And at the population's true parameters.
        let truth = [0.55, 10.58, 0.5, 1e6];
        let d = fit("bgnbd", &data).1;
        let found = PARETO_NBD.diagnose(&truth, &d, &data);
        assert!(
            found.iter().any(|w| w.code == WarningCode::NoDropout),
            "{what}, Pareto/NBD at s/β = 5e-7: {found:#?}"
        );
    }
}

#[test]
fn poisson_limit_population_is_diagnosed() {
    // Everybody buys at 0.3 a week (CV of rates 1/√(1e5) = 0.3%), with CDNOW's dropout.
    let process =
        TransactionModel::bg_nbd(BetaGeoParams::new(1e5, 1e5 / 0.3, 0.793, 2.426).unwrap());
    let data = population(process, 2000);
    for family in ["bgnbd", "mbgnbd", "pareto-nbd"] {
        let (params, d) = fit(family, &data);
        let found = codes(&d);
        assert!(
            found.contains(&WarningCode::PoissonLimit),
            "{family} {params:?}: {:#?}",
            d.warnings
        );
        assert!(!found.contains(&WarningCode::NoDropout), "{family}");
        // r/α, the one thing estimated, is right.
        assert!(
            (params[0] / params[1] - 0.3).abs() < 0.05,
            "{family} {params:?}"
        );
    }
    // BG/NBD runs furthest along the ridge: r's standard error is 166× r.
    let d = fit("bgnbd", &data).1;
    let w = d
        .warnings
        .iter()
        .find(|w| w.code == WarningCode::ImpreciseEstimates)
        .unwrap_or_else(|| panic!("{:#?}", d.warnings));
    assert!(
        w.message.contains("r = ") && w.message.contains("alpha = "),
        "{}",
        w.message
    );
    assert!(!w.message.contains(" a = "), "{}", w.message);
}

/// BG/NBD's Newton fit on data without dropout runs along a ridge to a → 0, b → ∞ where
/// its Hessian is not positive definite: once the gradient is within the tolerance it
/// stops there (flagged `no_dropout`) instead of walking the ridge to its 50-step cap, as
/// it did, at ten times the cost of an ordinary fit.
#[test]
fn boundary_fit_stops_on_its_ridge() {
    let spec = SimulationSpec {
        process: TransactionModel::pareto_nbd(
            ParetoNbdParams::new(0.553, 10.578, 0.5, 1e6).unwrap(),
        ),
        ..SimulationSpec::cdnow_like(10_000, 3, 52.0)
    };
    let sim = simulate_summaries(&spec).unwrap();
    let data = GroupedRfm::build(&sim.table.rfm, None).unwrap();
    let (params, d) = fit("bgnbd", &data);
    assert!(d.converged && d.method == "Newton", "{d:#?}");
    assert!(
        d.iterations < 30,
        "{} Newton steps to {params:?}",
        d.iterations
    );
    assert!(
        codes(&d).contains(&WarningCode::NoDropout),
        "{:#?}",
        d.warnings
    );
}

#[test]
fn cdnow_like_population_gets_no_warning() {
    let spec = SimulationSpec::cdnow_like(2000, 7, 52.0);
    let data = population(spec.process, 2000);
    for family in ["bgnbd", "mbgnbd", "pareto-nbd"] {
        let (params, d) = fit(family, &data);
        assert!(
            d.warnings.is_empty(),
            "{family} {params:?}: {:#?}",
            d.warnings
        );
    }
    // …nor at the parameters it was drawn from.
    let truth = BetaGeoParams::published_cdnow().to_vec();
    let d = fit("mbgnbd", &data).1;
    assert!(MBG_NBD.diagnose(&truth, &d, &data).is_empty());
}

#[test]
fn few_repeat_customers_are_diagnosed() {
    let spec = SimulationSpec::cdnow_like(150, 7, 52.0);
    let data = population(spec.process, 150);
    let (_, d) = fit("bgnbd", &data);
    let w = d
        .warnings
        .iter()
        .find(|w| w.code == WarningCode::FewRepeatCustomers)
        .unwrap_or_else(|| panic!("{:#?}", d.warnings));
    assert!(w.message.contains("fewer than 100"), "{}", w.message);
}
