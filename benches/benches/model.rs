//! Criterion benches of the model core over N customers.
//! Run: `cargo bench -p custval-benches --bench model` (filters: `-- fit`, `-- score`, ...).

#![allow(clippy::unwrap_used)] // a benchmark that cannot set up should stop loudly

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use custval_benches::{
    cdnow_bgnbd, cdnow_pareto, cdnow_spend, day_resolution, no_dropout_customers,
    simulated_customers,
};
use custval_model::models::beta_geo;
use custval_model::models::{BG_NBD, MBG_NBD, PARETO_NBD};
use custval_model::{
    ClvSpec, CustomerModel, FitOptions, GroupedRfm, TimeUnit, TransactionFamily, TransactionModel,
    UnitConversion,
};
use std::hint::black_box;
use std::time::Duration;

const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];

fn fit_bgnbd(c: &mut Criterion) {
    let mut g = c.benchmark_group("fit_bgnbd");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for n in SIZES {
        let table = simulated_customers(n, 1);
        // Grouping is part of the fit: a caller hands over raw summaries.
        g.bench_with_input(BenchmarkId::new("continuous", n), &table.rfm, |b, rfm| {
            b.iter(|| {
                beta_geo::fit_bgnbd(
                    &GroupedRfm::build(black_box(rfm), None).unwrap(),
                    &FitOptions::default(),
                )
                .unwrap()
            })
        });
        let days = day_resolution(&table.rfm);
        g.bench_with_input(BenchmarkId::new("day_resolution", n), &days, |b, rfm| {
            b.iter(|| {
                beta_geo::fit_bgnbd(
                    &GroupedRfm::build(black_box(rfm), None).unwrap(),
                    &FitOptions::default(),
                )
                .unwrap()
            })
        });
    }
    g.finish();
}

fn fit_other_models(c: &mut Criterion) {
    let mut g = c.benchmark_group("fit");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for n in SIZES {
        let table = simulated_customers(n, 2);
        let grouped = GroupedRfm::build(&table.rfm, None).unwrap();
        for family in [&MBG_NBD as &'static dyn TransactionFamily, &PARETO_NBD] {
            g.bench_with_input(BenchmarkId::new(family.name(), n), &grouped, |b, d| {
                b.iter(|| {
                    TransactionModel::fit(family, black_box(d), &FitOptions::default()).unwrap()
                })
            });
        }
        let freq: Vec<u32> = table.rfm.iter().map(|c| c.frequency).collect();
        g.bench_with_input(
            BenchmarkId::new("gamma-gamma", n),
            &(freq, table.monetary_value.clone()),
            |b, (f, m)| {
                b.iter(|| {
                    let data = custval_model::models::gamma_gamma::SpendData::build(f, m).unwrap();
                    custval_model::models::gamma_gamma::fit(&data, &FitOptions::default()).unwrap()
                })
            },
        );
    }
    g.finish();
}

/// Every family fitted to customers who never drop out (fits run to the boundary: a, s → 0,
/// β → ∞) and to ordinary CDNOW-like customers of the same size: the slowest family on
/// the degenerate data should stay within a small factor of the ordinary fits.
fn fit_degenerate(c: &mut Criterion) {
    let mut g = c.benchmark_group("fit_degenerate");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for n in [10_000, 100_000] {
        for (data, table) in [
            ("ordinary", simulated_customers(n, 3)),
            ("no_dropout", no_dropout_customers(n, 3)),
        ] {
            let grouped = GroupedRfm::build(&table.rfm, None).unwrap();
            for family in [
                &BG_NBD as &'static dyn TransactionFamily,
                &MBG_NBD,
                &PARETO_NBD,
            ] {
                let id = BenchmarkId::new(format!("{}/{data}", family.name()), n);
                g.bench_with_input(id, &grouped, |b, d| {
                    b.iter(|| {
                        TransactionModel::fit(family, black_box(d), &FitOptions::default()).unwrap()
                    })
                });
            }
        }
    }
    g.finish();
}

fn score(c: &mut Criterion) {
    let mut g = c.benchmark_group("score");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    let spec = ClvSpec::lifetimes_convention(12, 0.01, TimeUnit::Week);
    for n in SIZES {
        let table = simulated_customers(n, 3);
        for (name, tm) in [
            ("bgnbd", TransactionModel::bg_nbd(cdnow_bgnbd())),
            ("pareto-nbd", TransactionModel::pareto_nbd(cdnow_pareto())),
        ] {
            let model = CustomerModel {
                unit: TimeUnit::Week,
                transaction: tm,
                spend: Some(cdnow_spend()),
            };
            g.bench_with_input(BenchmarkId::new(name, n), &table, |b, t| {
                b.iter(|| {
                    model
                        .score(black_box(&t.rfm), &t.monetary_value, TimeUnit::Week, &spec)
                        .unwrap()
                })
            });
        }
    }
    g.finish();
}

/// k-means segments (k = 6, one k-means++ run, at most 100 Lloyd iterations) and the
/// recommendations plus budget allocation that build on them.
fn segment_and_recommend(c: &mut Criterion) {
    use custval_model::decide::recommend::{self, Economics};
    use custval_model::decide::segments::{self, SegmentOptions};
    let mut g = c.benchmark_group("segment");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    let spec = ClvSpec::lifetimes_convention(12, 0.01, TimeUnit::Week);
    let model = CustomerModel {
        unit: TimeUnit::Week,
        transaction: TransactionModel::bg_nbd(cdnow_bgnbd()),
        spend: Some(cdnow_spend()),
    };
    let opts = SegmentOptions {
        k: 6,
        runs: 1,
        ..Default::default()
    };
    for n in SIZES {
        let t = simulated_customers(n, 3);
        let scores = model
            .score(&t.rfm, &t.monetary_value, TimeUnit::Week, &spec)
            .unwrap();
        g.bench_with_input(BenchmarkId::new("kmeans-k6", n), &t, |b, t| {
            b.iter(|| {
                segments::segment(
                    &t.rfm,
                    &t.monetary_value,
                    &scores,
                    UnitConversion::identity(TimeUnit::Week),
                    spec,
                    &opts,
                )
                .unwrap()
            })
        });
        let seg = segments::segment(
            &t.rfm,
            &t.monetary_value,
            &scores,
            UnitConversion::identity(TimeUnit::Week),
            spec,
            &opts,
        )
        .unwrap();
        let placement = segments::Placement {
            labels: seg.labels.clone(),
            tiers: seg.tiers.clone(),
            rfm_scores: seg.rfm_scores.clone(),
        };
        let econ = Economics::default();
        g.bench_with_input(BenchmarkId::new("recommend+allocate", n), &t, |b, t| {
            b.iter(|| {
                let recs = recommend::recommend_all(&t.rfm, &scores, &seg.model, &placement, &econ);
                let candidates: Vec<_> = recs.iter().map(|r| r.candidates.clone()).collect();
                recommend::allocate(&candidates, n as f64).unwrap()
            })
        });
    }
    g.finish();
}

fn summarize(c: &mut Criterion) {
    use custval_model::data::summary::{CsvOptions, Day, RowPolicy, SummaryConfig, summarize_csv};
    let mut g = c.benchmark_group("summarize_csv");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    for rows in [1_000_000, 10_000_000] {
        let path = custval_benches::transaction_csv(rows);
        let config = SummaryConfig {
            unit: TimeUnit::Week,
            observation_end: Day::from_ymd(2026, 1, 1).unwrap(),
            calibration_end: None,
            policy: RowPolicy::Strict,
        };
        g.bench_with_input(BenchmarkId::new("rows", rows), &path, |b, path| {
            b.iter(|| {
                let file = std::fs::File::open(path).unwrap();
                summarize_csv(file, &CsvOptions::default(), config).unwrap()
            })
        });
    }
    g.finish();
}

/// BG/NBD with static covariates (issue 16): a binary and a continuous covariate on both
/// processes, simulated with known effects. The fit includes grouping and encoding-free
/// data building (the covariates arrive encoded); scoring is P(alive) and expected purchases
/// per customer at its own parameters.
fn covariates(c: &mut Criterion) {
    use custval_model::models::covariates::{
        CovariateData, CovariateFitOptions, fit_bgnbd_covariates,
    };
    let mut g = c.benchmark_group("covariates");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for n in [100_000, 1_000_000] {
        let custval_benches::CovariateCustomers {
            schema,
            truth,
            rfm,
            encoded,
        } = custval_benches::covariate_customers(n);
        g.bench_with_input(BenchmarkId::new("fit_bgnbd", n), &rfm, |b, rfm| {
            b.iter(|| {
                let data = CovariateData::build(black_box(rfm), None, &encoded, &encoded).unwrap();
                fit_bgnbd_covariates(&data, &schema, &schema, &CovariateFitOptions::default())
                    .unwrap()
            })
        });
        g.bench_with_input(BenchmarkId::new("score_bgnbd", n), &rfm, |b, rfm| {
            b.iter(|| {
                truth
                    .score(black_box(rfm), &encoded, &encoded, 52.0)
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    fit_bgnbd,
    fit_other_models,
    fit_degenerate,
    score,
    segment_and_recommend,
    summarize,
    covariates
);
criterion_main!(benches);
