//! Calibration/holdout on CDNOW: the numbers Fader, Hardie & Lee (2005) report.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions
mod common;

use common::*;
use custval_model::data::summary::{Day, RowPolicy, SummaryConfig, summarize_csv};
use custval_model::models::{BG_NBD, families};
use custval_model::{
    BetaGeoParams, FitOptions, GroupedRfm, HoldoutSpend, TimeUnit, TransactionModel, holdout_report,
};

fn cdnow_split() -> custval_model::CustomerTable {
    let file = std::fs::File::open(format!("{}/CDNOW_sample.txt", fixture_dir())).unwrap();
    let options = cdnow_sample_options();
    let config = SummaryConfig {
        unit: TimeUnit::Week,
        observation_end: Day::from_ymd(1998, 6, 30).unwrap(),
        calibration_end: Some(Day::from_ymd(1997, 9, 30).unwrap()),
        policy: RowPolicy::Strict,
    };
    summarize_csv(file, &options, config).unwrap().table
}

#[test]
fn bgnbd_holdout_matches_fader_hardie_lee() {
    let table = cdnow_split();
    let holdout = table.holdout.as_ref().unwrap();
    assert_eq!(table.len(), 2357);
    assert_eq!(holdout.duration, 39.0);
    let published =
        TransactionModel::bg_nbd(BetaGeoParams::new(0.243, 4.414, 0.793, 2.426).unwrap());
    let report = holdout_report(
        &published,
        &table.rfm,
        &holdout.frequency,
        holdout.duration,
        HoldoutSpend::default(),
    )
    .unwrap();
    // FHL (2005): 1,882 actual repeat transactions in weeks 40-78; the model predicts 1,654.
    assert_eq!(report.actual_total, 1882.0);
    assert!(
        (report.predicted_total - 1654.0).abs() < 2.0,
        "predicted {}",
        report.predicted_total
    );
    // Their conditional-expectation table: customers by calibration frequency.
    let bins: Vec<(String, u64)> = report
        .by_frequency
        .iter()
        .map(|b| (b.label.clone(), b.customers))
        .collect();
    assert_eq!(bins[0], ("0".to_string(), 1411));
    assert_eq!(bins[7].0, "7+");
    assert_eq!(bins.iter().map(|b| b.1).sum::<u64>(), 2357);
    // Customers who bought more in calibration buy more in the holdout, and the model sees it.
    assert!(report.by_frequency[7].mean_actual > report.by_frequency[1].mean_actual);
    assert!(report.by_frequency[7].mean_predicted > report.by_frequency[1].mean_predicted);
    assert!(report.auc.unwrap() > 0.75, "AUC {:?}", report.auc);
    assert!(report.brier > 0.0 && report.brier < 0.2);
    assert!(report.pearson_r.unwrap() > 0.5);
}

#[test]
fn every_model_tracks_the_holdout_when_fitted_on_the_calibration_summary() {
    let table = cdnow_split();
    let holdout = table.holdout.as_ref().unwrap();
    let grouped = GroupedRfm::build(&table.rfm, None).unwrap();
    for family in families() {
        let kind = family.name();
        let fit = TransactionModel::fit(family, &grouped, &FitOptions::default()).unwrap();
        assert!(
            fit.diagnostics.converged,
            "{kind}: {}",
            fit.diagnostics.message
        );
        let report = holdout_report(
            &fit.params,
            &table.rfm,
            &holdout.frequency,
            holdout.duration,
            HoldoutSpend::default(),
        )
        .unwrap();
        // All three under-predict CDNOW's holdout by roughly 10-15% (FHL's figure 3).
        let ratio = report.predicted_total / report.actual_total;
        assert!(
            (0.80..0.95).contains(&ratio),
            "{kind}: predicted/actual = {ratio}"
        );
    }
    // The BG/NBD fit on the unrounded summary equals lifetimes' fit on the same data.
    let fit = TransactionModel::fit(&BG_NBD, &grouped, &FitOptions::default()).unwrap();
    let reference = reference();
    for (name, value) in fit.params.named_params() {
        let expected = num(
            &reference,
            &["fits", "bgnbd_on_derived_summary", "params", &name],
        );
        assert_rel(value, expected, 1e-4, &name);
    }
}
