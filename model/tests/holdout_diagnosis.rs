//! What a holdout shows about a fit, against populations whose truth is known: a season in
//! the holdout (`seasonality_suspected`), an ordinary stationary population (nothing, over
//! several seeds), activity up 30 % from the calibration end on (`holdout_bias`, not
//! seasonality), and customers who never leave fitted by a model that can say so
//! (nothing).
//!
//! Customers are simulated as transactions on calendar days (weeks as the unit, 52 weeks of
//! calibration with births over the first half, a 39-week holdout) and summarized as the
//! server summarizes raw transactions, holdout purchases per week included.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use custval_model::data::summary::{Day, RowPolicy, SummaryBuilder, SummaryConfig};
use custval_model::fit::{FitWarning, WarningCode};
use custval_model::models::registry;
use custval_model::predict::holdout_diagnosis::holdout_bias;
use custval_model::predict::seasonality::{PERIOD_DAYS, seasonality_suspected};
use custval_model::simulate::{CalendarClock, SimulationSpec, simulate_transactions_on_clock};
use custval_model::{
    BetaGeoParams, CustomerTable, FitOptions, GroupedRfm, HoldoutSpend, TimeUnit, TransactionModel,
    holdout_report,
};

const CALIBRATION_WEEKS: f64 = 52.0;
const HOLDOUT_WEEKS: f64 = 39.0;

/// Day of model time 0: the holdout then runs from 1998-03-31 to 1998-12-28.
fn origin() -> Day {
    Day::from_ymd(1997, 4, 1).unwrap()
}

/// `customers` drawn from `process` on `clock`, summarized with a holdout.
fn population(
    process: TransactionModel,
    clock: &CalendarClock,
    customers: usize,
    seed: u64,
) -> CustomerTable {
    let spec = SimulationSpec {
        customers,
        seed,
        process,
        spend: None,
        calibration_length: CALIBRATION_WEEKS,
        birth_window: CALIBRATION_WEEKS / 2.0,
        holdout_length: HOLDOUT_WEEKS,
    };
    let calibration_days = (CALIBRATION_WEEKS * 7.0) as i32;
    let observation_end = Day(origin().0 + calibration_days + (HOLDOUT_WEEKS * 7.0) as i32 - 1);
    let mut rows = Vec::new();
    simulate_transactions_on_clock(&spec, clock, |t| {
        // A purchase at time t (weeks) is on the day it falls in.
        let day = Day((origin().0 + (t.time * 7.0).floor() as i32).min(observation_end.0));
        rows.push((t.customer, day));
    })
    .unwrap();
    let config = SummaryConfig {
        unit: TimeUnit::Week,
        observation_end,
        calibration_end: Some(Day(origin().0 + calibration_days - 1)),
        policy: RowPolicy::Strict,
    };
    let mut builder = SummaryBuilder::new(config)
        .unwrap()
        .with_holdout_periods(PERIOD_DAYS);
    for (line, (customer, day)) in rows.into_iter().enumerate() {
        builder
            .push(line as u64 + 1, &customer.to_string(), day, 1.0)
            .unwrap();
    }
    builder.finish().table
}

/// The holdout warnings of `family` fitted on `table`.
fn holdout_warnings(family: &str, table: &CustomerTable) -> Vec<FitWarning> {
    let grouped = GroupedRfm::build(&table.rfm, None).unwrap();
    let fitted = TransactionModel::fit(
        registry::family(family).unwrap(),
        &grouped,
        &FitOptions::default(),
    )
    .unwrap();
    warnings_of(&fitted.params, table)
}

/// The holdout warnings of `model` on `table`.
fn warnings_of(model: &TransactionModel, table: &CustomerTable) -> Vec<FitWarning> {
    let grouped = GroupedRfm::build(&table.rfm, None).unwrap();
    let holdout = table.holdout.as_ref().unwrap();
    let report = holdout_report(
        model,
        &table.rfm,
        &holdout.frequency,
        holdout.duration,
        HoldoutSpend::default(),
    )
    .unwrap();
    let periods = holdout.periods.as_ref().unwrap();
    holdout_bias(&report)
        .into_iter()
        .chain(seasonality_suspected(model, &grouped, TimeUnit::Week, periods).unwrap())
        .collect()
}

fn has(warnings: &[FitWarning], code: WarningCode) -> bool {
    warnings.iter().any(|w| w.code == code)
}

fn cdnow_like() -> TransactionModel {
    TransactionModel::bg_nbd(BetaGeoParams::published_cdnow())
}

#[test]
fn a_season_in_the_holdout_is_suspected() {
    // Four holdout weeks (34 to 37, from late November) at three times the usual activity.
    let (peak_start, peak_weeks) = (CALIBRATION_WEEKS + 34.0, 4.0);
    let clock = CalendarClock::new(&[
        (0.0, 1.0),
        (peak_start, 3.0),
        (peak_start + peak_weeks, 1.0),
    ])
    .unwrap();
    let table = population(cdnow_like(), &clock, 10_000, 1);
    let periods = table.holdout.as_ref().unwrap().periods.as_ref().unwrap();
    assert_eq!(periods.purchases.len(), HOLDOUT_WEEKS as usize);
    for family in ["bgnbd", "mbgnbd"] {
        let warnings = holdout_warnings(family, &table);
        let w = warnings
            .iter()
            .find(|w| w.code == WarningCode::SeasonalitySuspected)
            .unwrap_or_else(|| panic!("{family}: {warnings:#?}"));
        // The message names the peak weeks (and no others).
        for k in 34..38 {
            let start = periods.period_start(k).to_string();
            assert!(
                w.message.contains(&start),
                "{family}, {start}: {}",
                w.message
            );
        }
        for k in [0, 10, 20, 33, 38] {
            let start = periods.period_start(k).to_string();
            assert!(
                !w.message.contains(&start),
                "{family}, {start}: {}",
                w.message
            );
        }
        assert!(w.message.contains("weeks starting"), "{}", w.message);
    }
}

#[test]
fn a_stationary_population_gets_neither_warning() {
    // Five seeds: a false alarm of either rule would need a sampling accident far in the
    // tail (see the rules' documentation), so none is expected in any of them.
    for seed in 1..=5 {
        let table = population(cdnow_like(), &CalendarClock::steady(), 10_000, seed);
        let warnings = holdout_warnings("bgnbd", &table);
        assert!(warnings.is_empty(), "seed {seed}: {warnings:#?}");
    }
}

#[test]
fn a_uniform_step_up_is_bias_not_seasonality() {
    // Every customer 50 % more active from the calibration end on. (BG/NBD customers drop
    // out at purchases, so more purchases also mean more dropout: the holdout's purchases
    // grow by about half as much. At × 1.3, +16 % in total, a bin of 200 customers is
    // sometimes on the wrong side by chance and `holdout_bias` rightly stays silent.)
    let clock = CalendarClock::new(&[(0.0, 1.0), (CALIBRATION_WEEKS, 1.5)]).unwrap();
    for seed in [1, 2] {
        let table = population(cdnow_like(), &clock, 10_000, seed);
        let warnings = holdout_warnings("bgnbd", &table);
        assert!(
            has(&warnings, WarningCode::HoldoutBias),
            "seed {seed}: {warnings:#?}"
        );
        assert!(
            !has(&warnings, WarningCode::SeasonalitySuspected),
            "seed {seed}: {warnings:#?}"
        );
    }
}

#[test]
fn customers_who_never_leave_judged_by_a_model_that_is_right_are_not_biased() {
    // BG/NBD customers with p ≈ 0 (E[p] = 1e-5): judged by their own process, and by an
    // MBG/NBD fit, which expresses "nobody leaves" with a, b → 0.
    let process = TransactionModel::bg_nbd(BetaGeoParams::new(0.55, 10.58, 1e-4, 10.0).unwrap());
    let table = population(process.clone(), &CalendarClock::steady(), 5_000, 3);
    for (what, warnings) in [
        ("the truth", warnings_of(&process, &table)),
        ("mbgnbd", holdout_warnings("mbgnbd", &table)),
    ] {
        assert!(
            !has(&warnings, WarningCode::HoldoutBias),
            "{what}: {warnings:#?}"
        );
        assert!(
            !has(&warnings, WarningCode::SeasonalitySuspected),
            "{what}: {warnings:#?}"
        );
    }
}
