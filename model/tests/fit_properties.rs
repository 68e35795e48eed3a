//! Property tests: every registered transaction family and Gamma-Gamma, fitted on
//! adversarial but valid summaries (all zeros, all identical, one customer, huge
//! frequencies, recency = T, tiny and huge T, amounts up to `MAX_AMOUNT`), never panic and
//! return either a fit whose parameters, log-likelihood and predictions are finite, or a
//! typed error. The service relies on this: a fit that returned Ok is stored and scored.
//!
//! Budget: about 25 s of CPU on the CI machine (one core's worth: the fits are small, at
//! most 40 customers, but every family is fitted per case, and fits of customers with
//! thousands of purchases take a second or more): 32 transaction cases and 300 spend
//! cases. `PROPTEST_CASES` overrides the counts for a deeper local run.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use custval_model::models::gamma_gamma::{self, SpendData};
use custval_model::{
    ClvSpec, CustomerModel, Discount, Duration, FitOptions, GroupedRfm, MAX_AGE, MAX_AMOUNT,
    MAX_FREQUENCY, ModelError, Rfm, TimeUnit, TransactionModel,
};
use proptest::prelude::*;

#[path = "common/proptest_config.rs"]
mod proptest_config;
use proptest_config::config;

/// Ages at the edges of what a summary may carry, and ordinary ones.
fn age() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(1e-12),
        1e-9..1e-3,
        0.1..200.0,
        1e4..MAX_AGE,
        Just(MAX_AGE),
    ]
}

/// Ages of customers with huge frequencies: at least one unit.
fn long_age() -> impl Strategy<Value = f64> {
    prop_oneof![Just(1.0), 1.0..200.0, 1e4..MAX_AGE, Just(MAX_AGE)]
}

fn frequency() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => Just(0u32),
        3 => 1u32..5,
        2 => 5u32..500,
    ]
}

/// Huge frequencies, up to `MAX_FREQUENCY` (a million repeat purchases): the likelihoods'
/// per-frequency terms cost the same at any frequency (they took each evaluation through
/// a million terms, and such fits 5-25 s, before).
fn huge_frequency() -> impl Strategy<Value = u32> {
    prop_oneof![
        1_000u32..20_000,
        Just(20_000),
        20_000..MAX_FREQUENCY,
        Just(MAX_FREQUENCY)
    ]
}

/// Where the last purchase falls in [0, T]: at the start, at T, or between.
fn recency_share() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(1.0), 0.0..=1.0]
}

fn customer() -> impl Strategy<Value = Rfm> {
    let x_and_t = prop_oneof![
        4 => (frequency(), age()),
        1 => (huge_frequency(), long_age()),
    ];
    (x_and_t, recency_share()).prop_map(|((x, t), share)| {
        // Recency must be 0 when x = 0; x > 0 with recency 0 is valid (repeats on the
        // first day, in a coarse unit).
        let recency = if x == 0 { 0.0 } else { (t * share).min(t) };
        Rfm {
            frequency: x,
            recency,
            age: t,
        }
    })
}

/// Sets of customers with the shapes that break fits: one customer, all identical, all
/// zeros, all at the limits, or an arbitrary mix.
fn summaries() -> impl Strategy<Value = Vec<Rfm>> {
    prop_oneof![
        customer().prop_map(|c| vec![c]),
        (customer(), 2usize..40).prop_map(|(c, n)| vec![c; n]),
        (1usize..40).prop_map(|n| vec![
            Rfm {
                frequency: 0,
                recency: 0.0,
                age: 0.0
            };
            n
        ]),
        (long_age(), 1usize..40).prop_map(|(t, n)| vec![
            Rfm {
                frequency: 20_000,
                recency: t,
                age: t
            };
            n
        ]),
        proptest::collection::vec(customer(), 1..40),
    ]
}

fn amount() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(1e-12),
        1e-9..1e-3,
        0.5..500.0,
        1e9..MAX_AMOUNT,
        Just(MAX_AMOUNT),
    ]
}

fn spend_rows() -> impl Strategy<Value = Vec<(u32, f64)>> {
    let row = || {
        (
            prop_oneof![4 => frequency(), 1 => huge_frequency()],
            amount(),
        )
    };
    prop_oneof![
        row().prop_map(|r| vec![r]),
        (row(), 2usize..40).prop_map(|(r, n)| vec![r; n]),
        proptest::collection::vec(row(), 1..40),
    ]
}

fn spec() -> ClvSpec {
    ClvSpec {
        horizon: Duration::new(52.0, TimeUnit::Week),
        discount: Discount {
            rate: 0.01,
            period: Duration::new(4.0, TimeUnit::Week),
        },
    }
}

fn finite(values: &[f64]) -> bool {
    values.iter().all(|v| v.is_finite())
}

/// A fit's outcome is a finite model, or a typed error that says why (never a panic:
/// proptest reports one as a failure).
fn check_transaction_fits(rfm: &[Rfm]) -> Result<(), TestCaseError> {
    let grouped = GroupedRfm::build(rfm, None).unwrap();
    for family in custval_model::models::families() {
        let name = family.name();
        // Any error is typed (the service maps each variant to a code; a numerical failure
        // on the caller's data becomes FAILED_PRECONDITION there, see server/tests/
        // properties.rs): what must not happen is a panic or a non-finite Ok.
        let Ok(fitted) = TransactionModel::fit(family, &grouped, &FitOptions::default()) else {
            continue;
        };
        let d = &fitted.diagnostics;
        prop_assert!(
            finite(fitted.params.params()),
            "{name}: parameters {:?}",
            fitted.params.named_params()
        );
        prop_assert!(
            d.log_likelihood.is_finite(),
            "{name}: log-likelihood {}",
            d.log_likelihood
        );
        prop_assert!(
            d.aic.is_finite() && d.bic.is_finite(),
            "{name}: AIC {}",
            d.aic
        );
        if !d.converged {
            // The service refuses unconverged fits: nothing of them is stored or scored.
            continue;
        }
        let model = CustomerModel {
            unit: TimeUnit::Week,
            transaction: fitted.params.clone(),
            spend: None,
        };
        let money = vec![0.0; rfm.len()];
        // A fitted model may still be unable to evaluate its own extreme customers (e.g.
        // BG/NBD at r = 1.5e10, a = 4e-8 after 20,000 purchases in one week): a typed
        // error, which the service reports naming the customer.
        let Ok(scores) = model.score(rfm, &money, TimeUnit::Week, &spec()) else {
            continue;
        };
        for column in [
            &scores.expected_purchases,
            &scores.p_alive,
            &scores.propensity,
        ] {
            prop_assert!(
                finite(column),
                "{name} {:?}: {column:?}",
                fitted.params.named_params()
            );
        }
    }
    Ok(())
}

fn check_spend_fit(rows: &[(u32, f64)]) -> Result<(), TestCaseError> {
    let (x, m): (Vec<u32>, Vec<f64>) = rows.iter().copied().unzip();
    let data = SpendData::build(&x, &m).unwrap();
    let fitted = match gamma_gamma::fit(&data, &FitOptions::default()) {
        Ok(f) => f,
        Err(ModelError::InsufficientData { .. } | ModelError::NotConverged { .. }) => {
            return Ok(());
        }
        Err(e) => {
            return Err(TestCaseError::fail(format!(
                "Gamma-Gamma on valid spend gave {e}"
            )));
        }
    };
    let p = fitted.params;
    prop_assert!(finite(&[p.p(), p.q(), p.v()]), "{p:?}");
    prop_assert!(
        fitted.diagnostics.log_likelihood.is_finite(),
        "{p:?}: log-likelihood {}",
        fitted.diagnostics.log_likelihood
    );
    if fitted.diagnostics.converged {
        for &(x, m) in rows {
            if let Some(e) = p.expected_spend(x, m) {
                prop_assert!(e.is_finite() && e >= 0.0, "{p:?}: E[Z | {x}, {m}] = {e}");
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(32))]

    #[test]
    fn transaction_fits_are_finite_or_typed_errors(rfm in summaries()) {
        check_transaction_fits(&rfm)?;
    }
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn spend_fits_are_finite_or_typed_errors(rows in spend_rows()) {
        check_spend_fit(&rows)?;
    }
}
