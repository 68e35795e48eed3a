//! Parameter recovery: fits on 200,000 simulated customers find the generating parameters
//! within sampling error (4 standard errors from the fit's own Hessian), and the reported
//! standard errors are of the right size.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions
use custval_model::models::gamma_gamma::{self, SpendData};
use custval_model::models::{BG_NBD, MBG_NBD, PARETO_NBD};
use custval_model::simulate::{SimulationSpec, simulate_summaries};
use custval_model::{
    BetaGeoParams, FitOptions, GammaGammaParams, GroupedRfm, ParetoNbdParams, TransactionModel,
};

const N: usize = 200_000;

fn spec(process: TransactionModel, seed: u64) -> SimulationSpec {
    SimulationSpec {
        customers: N,
        seed,
        process,
        spend: Some(GammaGammaParams::new(6.25, 3.74, 15.44).unwrap()),
        calibration_length: 78.0,
        birth_window: 12.0,
        holdout_length: 0.0,
    }
}

fn check(
    kind: &'static dyn custval_model::TransactionFamily,
    process: TransactionModel,
    truth: &[(&str, f64)],
    seed: u64,
) {
    let sim = simulate_summaries(&spec(process, seed)).unwrap();
    let grouped = GroupedRfm::build(&sim.table.rfm, None).unwrap();
    let fit = TransactionModel::fit(kind, &grouped, &FitOptions::default()).unwrap();
    assert!(
        fit.diagnostics.converged,
        "{kind}: {}",
        fit.diagnostics.message
    );
    for ((name, value), (&(tname, t), se)) in fit
        .params
        .named_params()
        .into_iter()
        .zip(truth.iter().zip(&fit.diagnostics.standard_errors))
    {
        assert_eq!(name, tname);
        let se = se.unwrap_or_else(|| panic!("{kind} {name}: no standard error"));
        // Standard errors of a 200k fit are a few percent of the value at most.
        assert!(se > 0.0 && se < 0.2 * t, "{kind} {name}: se {se}");
        assert!(
            (value - t).abs() < 4.0 * se,
            "{kind} {name}: fitted {value}, truth {t}, se {se}"
        );
    }
    // Gamma-Gamma on the same customers' spend.
    let freq: Vec<u32> = sim.table.rfm.iter().map(|c| c.frequency).collect();
    let gg = gamma_gamma::fit(
        &SpendData::build(&freq, &sim.table.monetary_value).unwrap(),
        &FitOptions::default(),
    )
    .unwrap();
    assert!(gg.diagnostics.converged);
    for ((name, value), (t, se)) in [
        ("p", gg.params.p()),
        ("q", gg.params.q()),
        ("v", gg.params.v()),
    ]
    .into_iter()
    .zip(
        [6.25, 3.74, 15.44]
            .iter()
            .zip(&gg.diagnostics.standard_errors),
    ) {
        let se = se.unwrap();
        assert!(
            (value - t).abs() < 4.0 * se,
            "Gamma-Gamma {name}: fitted {value}, truth {t}, se {se}"
        );
    }
}

#[test]
fn bgnbd_recovers_its_parameters() {
    let p = BetaGeoParams::new(0.243, 4.414, 0.793, 2.426).unwrap();
    check(
        &BG_NBD,
        TransactionModel::bg_nbd(p),
        &[("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426)],
        11,
    );
}

#[test]
fn mbgnbd_recovers_its_parameters() {
    let p = BetaGeoParams::new(0.525, 6.183, 0.891, 1.614).unwrap();
    check(
        &MBG_NBD,
        TransactionModel::mbg_nbd(p),
        &[("r", 0.525), ("alpha", 6.183), ("a", 0.891), ("b", 1.614)],
        12,
    );
}

#[test]
fn pareto_nbd_recovers_its_parameters() {
    let p = ParetoNbdParams::new(0.553, 10.578, 0.606, 11.669).unwrap();
    check(
        &PARETO_NBD,
        TransactionModel::pareto_nbd(p),
        &[
            ("r", 0.553),
            ("alpha", 10.578),
            ("s", 0.606),
            ("beta", 11.669),
        ],
        13,
    );
}
