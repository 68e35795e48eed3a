//! BG/NBD with static covariates: agreement with an independent scipy implementation,
//! parameter recovery on simulated customers with known effects, a covariate without
//! effect estimated as none, and predictions that reduce to the plain model's.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions
use custval_model::models::covariates::{
    BetaGeoCovariates, CovariateData, CovariateDistribution, CovariateFitOptions, CovariateMatrix,
    CovariateSchema, CovariateSimulationSpec, CovariateValues, RawCovariates, SchemaSpec,
    fit_bgnbd_covariates, simulate_covariate_customers,
};
use custval_model::{
    BetaGeoParams, ClvSpec, CustomerModel, Fitted, GammaGammaParams, Rfm, TimeUnit,
    TransactionModel,
};

fn numeric_schema(columns: &[&str]) -> CovariateSchema {
    let n = 1;
    let mut raw = RawCovariates::new(n);
    for c in columns {
        raw = raw
            .with(*c, CovariateValues::Numeric(vec![Some(0.0)]))
            .unwrap();
    }
    let spec = SchemaSpec {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        ..SchemaSpec::default()
    };
    CovariateSchema::learn(&raw, &spec).unwrap()
}

/// Customers of the scipy fixture: [x, t_x, T, web, size], both covariates on both
/// processes.
fn fixture() -> (serde_json::Value, CovariateData) {
    let json: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/covariate_bgnbd.json"
    )))
    .unwrap();
    let customers = json["customers"].as_array().unwrap();
    let mut rfm = Vec::new();
    let mut z = Vec::new();
    for c in customers {
        let c: Vec<f64> = c
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        rfm.push(Rfm::new(c[0] as u32, c[1], c[2]).unwrap());
        z.extend_from_slice(&c[3..5]);
    }
    let n = rfm.len();
    let names = vec!["web".to_string(), "size".to_string()];
    let m = CovariateMatrix::new(names, n, z).unwrap();
    let data = CovariateData::build(&rfm, None, &m, &m).unwrap();
    (json, data)
}

#[test]
fn likelihood_and_optimum_match_an_independent_scipy_implementation() {
    let (json, data) = fixture();
    let schema = numeric_schema(&["web", "size"]);
    for case in json["log_likelihoods"].as_array().unwrap() {
        let at: Vec<f64> = case["at"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let model = BetaGeoCovariates::new(
            "bgnbd",
            BetaGeoParams::new(at[0], at[1], at[2], at[3]).unwrap(),
            schema.clone(),
            schema.clone(),
            at[4..6].to_vec(),
            at[6..8].to_vec(),
        )
        .unwrap();
        let want = case["value"].as_f64().unwrap();
        let got = model.log_likelihood(&data).unwrap();
        assert!(
            (got - want).abs() < 1e-10 * want.abs(),
            "at {at:?}: {got} vs scipy {want}"
        );
    }
    let fit =
        fit_bgnbd_covariates(&data, &schema, &schema, &CovariateFitOptions::default()).unwrap();
    assert!(fit.diagnostics.converged, "{}", fit.diagnostics.message);
    let got = estimates(&fit);
    let want: Vec<f64> = json["optimum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() < 1e-5 * (1.0 + w.abs()),
            "{}: {g} vs scipy {w}",
            fit.diagnostics.param_names[k]
        );
    }
    // A penalty on the coefficients pulls each of them towards 0.
    let opts = CovariateFitOptions {
        covariate_penalty: 0.01,
        ..CovariateFitOptions::default()
    };
    let penalised = fit_bgnbd_covariates(&data, &schema, &schema, &opts).unwrap();
    assert!(penalised.diagnostics.converged);
    // Both report the unpenalised log-likelihood at their estimates.
    for f in [&fit, &penalised] {
        let ll = f.params.log_likelihood(&data).unwrap();
        let reported = f.diagnostics.log_likelihood;
        assert!(
            (reported - ll).abs() < 1e-9 * ll.abs(),
            "{reported} vs {ll}"
        );
    }
    for (k, (p, g)) in estimates(&penalised)[4..].iter().zip(&got[4..]).enumerate() {
        assert!(p.abs() < g.abs(), "coefficient {k}: {p} vs unpenalised {g}");
    }
}

/// r, α₀, a₀, b₀, then the purchase and lifetime coefficients.
fn estimates(fit: &Fitted<BetaGeoCovariates>) -> Vec<f64> {
    let m = &fit.params;
    let mut v = m.base().to_vec();
    v.extend_from_slice(m.purchase_coefficients());
    v.extend_from_slice(m.lifetime_coefficients());
    v
}

/// Simulates `truth`'s customers with a binary `web` (40 %) and a standard normal `size`
/// covariate (plus `noise`, standard normal, when the model uses it), and fits the model's
/// covariates back.
fn simulate_and_fit(
    truth: &BetaGeoCovariates,
    customers: usize,
    seed: u64,
) -> Fitted<BetaGeoCovariates> {
    let spec = CovariateSimulationSpec {
        customers,
        seed,
        model: truth.clone(),
        columns: vec![
            ("web".into(), CovariateDistribution::Bernoulli { p: 0.4 }),
            (
                "size".into(),
                CovariateDistribution::Normal { mean: 0.0, sd: 1.0 },
            ),
            (
                "noise".into(),
                CovariateDistribution::Normal { mean: 0.0, sd: 1.0 },
            ),
        ],
        calibration_length: 78.0,
        birth_window: 26.0,
        holdout_length: 0.0,
    };
    let sim = simulate_covariate_customers(&spec).unwrap();
    let (ps, ls) = (truth.purchase_schema(), truth.lifetime_schema());
    let data = CovariateData::build(
        &sim.rfm,
        None,
        &ps.encode(&sim.covariates).unwrap(),
        &ls.encode(&sim.covariates).unwrap(),
    )
    .unwrap();
    let fit = fit_bgnbd_covariates(&data, ps, ls, &CovariateFitOptions::default()).unwrap();
    assert!(fit.diagnostics.converged, "{}", fit.diagnostics.message);
    fit
}

fn truth(purchase: &[&str], gp: Vec<f64>, lifetime: &[&str], gl: Vec<f64>) -> BetaGeoCovariates {
    BetaGeoCovariates::new(
        "bgnbd",
        BetaGeoParams::new(0.8, 6.0, 0.7, 2.5).unwrap(),
        numeric_schema(purchase),
        numeric_schema(lifetime),
        gp,
        gl,
    )
    .unwrap()
}

#[test]
fn simulated_covariate_effects_are_recovered_within_sampling_error() {
    let truth = truth(
        &["web", "size"],
        vec![0.5, 0.3],
        &["web", "size"],
        vec![-0.4, 0.25],
    );
    let fit = simulate_and_fit(&truth, 40_000, 7);
    let want = [0.8, 6.0, 0.7, 2.5, 0.5, 0.3, -0.4, 0.25];
    let d = &fit.diagnostics;
    for (k, (got, want)) in estimates(&fit).iter().zip(want).enumerate() {
        let se = d.standard_errors[k].unwrap();
        assert!(
            (got - want).abs() < 3.0 * se,
            "{}: {got} vs true {want} (se {se})",
            d.param_names[k]
        );
    }
}

#[test]
fn a_covariate_without_effect_gets_a_coefficient_of_zero_within_its_error() {
    let truth = truth(&["web"], vec![0.5], &["web"], vec![-0.4]);
    // The data carry `noise` too; the fitted model uses it on both processes.
    let spec_model = BetaGeoCovariates::new(
        "bgnbd",
        truth.base(),
        numeric_schema(&["web", "noise"]),
        numeric_schema(&["web", "noise"]),
        vec![0.5, 0.0],
        vec![-0.4, 0.0],
    )
    .unwrap();
    let fit = simulate_and_fit(&spec_model, 30_000, 11);
    let d = &fit.diagnostics;
    for (k, name) in [(5, "purchase:noise"), (7, "lifetime:noise")] {
        assert_eq!(d.param_names[k], name);
        let (got, se) = (estimates(&fit)[k], d.standard_errors[k].unwrap());
        assert!(got.abs() < 2.5 * se, "{name}: {got} (se {se})");
        assert!(
            se < 0.2,
            "{name}: se {se}: the data should pin the effect down"
        );
    }
}

#[test]
fn predictions_at_zero_covariates_are_the_plain_models() {
    let base = BetaGeoParams::new(0.243, 4.414, 0.793, 2.426).unwrap();
    let schema = numeric_schema(&["web", "size"]);
    let model = BetaGeoCovariates::new(
        "bgnbd",
        base,
        schema.clone(),
        schema,
        vec![0.5, -0.3],
        vec![-0.4, 0.2],
    )
    .unwrap();
    let plain = TransactionModel::bg_nbd(base);
    let rfm = vec![
        Rfm::new(0, 0.0, 38.86).unwrap(),
        Rfm::new(2, 30.43, 38.86).unwrap(),
        Rfm::new(7, 29.43, 38.86).unwrap(),
        Rfm::new(40, 35.0, 39.0).unwrap(),
    ];
    let n = rfm.len();
    let zeros =
        CovariateMatrix::new(vec!["web".into(), "size".into()], n, vec![0.0; 2 * n]).unwrap();
    let scores = model.score(&rfm, &zeros, &zeros, 39.0).unwrap();
    let spend = GammaGammaParams::published_cdnow();
    let monetary = vec![0.0, 35.0, 20.0, 50.0];
    let spec = ClvSpec::lifetimes_convention(12, 0.01, TimeUnit::Week);
    let schedule = spec.schedule(TimeUnit::Week);
    let clv = model
        .clv(&rfm, &monetary, &zeros, &zeros, spend, &schedule)
        .unwrap();
    let customer = CustomerModel {
        unit: TimeUnit::Week,
        transaction: plain.clone(),
        spend: Some(spend),
    };
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
    for (i, c) in rfm.iter().enumerate() {
        assert!(close(scores[i].p_alive, plain.p_alive(c).unwrap()));
        let e = plain.expected_purchases(c, 39.0).unwrap();
        assert!(close(scores[i].expected_purchases, e), "{i}");
        let want = customer.clv(c, monetary[i], &spec).unwrap();
        match (clv[i], want) {
            (Some(got), Some(want)) => assert!(close(got, want), "{i}: {got} vs {want}"),
            (got, want) => assert_eq!(got, want, "{i}"),
        }
    }
    // A model without covariates scores as the plain model too.
    let bare = BetaGeoCovariates::new(
        "bgnbd",
        base,
        CovariateSchema::default(),
        CovariateSchema::default(),
        vec![],
        vec![],
    )
    .unwrap();
    let none = CovariateMatrix::empty(n);
    let bare_scores = bare.score(&rfm, &none, &none, 39.0).unwrap();
    for (i, c) in rfm.iter().enumerate() {
        assert!(close(bare_scores[i].p_alive, plain.p_alive(c).unwrap()));
        let e = plain.expected_purchases(c, 39.0).unwrap();
        assert!(close(bare_scores[i].expected_purchases, e), "{i}");
    }
    // A customer with covariates gets the plain model at its own parameters.
    let row = CovariateMatrix::new(vec!["web".into(), "size".into()], 1, vec![1.0, 2.0]).unwrap();
    let got = model.score(&rfm[1..2], &row, &row, 10.0).unwrap()[0];
    let own = TransactionModel::bg_nbd(
        BetaGeoParams::new(
            0.243,
            4.414 / (0.5f64 * 1.0 - 0.3 * 2.0).exp(),
            0.793 * (-0.4f64 * 1.0 + 0.2 * 2.0).exp(),
            2.426 * (-0.4f64 * 1.0 + 0.2 * 2.0).exp(),
        )
        .unwrap(),
    );
    assert!(close(got.p_alive, own.p_alive(&rfm[1]).unwrap()));
    assert!(close(
        got.expected_purchases,
        own.expected_purchases(&rfm[1], 10.0).unwrap()
    ));
}

/// MBG/NBD, with the binary covariate given as a categorical column (`channel`: "store" or
/// "web", reference "store"): the one-hot encoding learned by the schema carries the effect
/// of `web` through the fit.
#[test]
fn mbgnbd_recovers_a_categorical_effect_through_the_learned_encoding() {
    use custval_model::models::covariates::fit_mbgnbd_covariates;
    let truth = BetaGeoCovariates::new(
        "mbgnbd",
        BetaGeoParams::new(0.8, 6.0, 0.7, 2.5).unwrap(),
        numeric_schema(&["web"]),
        numeric_schema(&["web"]),
        vec![0.5],
        vec![-0.4],
    )
    .unwrap();
    let sim = simulate_covariate_customers(&CovariateSimulationSpec {
        customers: 30_000,
        seed: 13,
        model: truth,
        columns: vec![("web".into(), CovariateDistribution::Bernoulli { p: 0.4 })],
        calibration_length: 78.0,
        birth_window: 26.0,
        holdout_length: 0.0,
    })
    .unwrap();
    let CovariateValues::Numeric(web) = sim.covariates.column("web").unwrap() else {
        panic!("web is numeric");
    };
    let channel: Vec<Option<String>> = web
        .iter()
        .map(|v| Some(if *v == Some(1.0) { "web" } else { "store" }.to_string()))
        .collect();
    let raw = RawCovariates::new(channel.len())
        .with("channel", CovariateValues::Categorical(channel))
        .unwrap();
    let schema = CovariateSchema::learn(
        &raw,
        &SchemaSpec {
            columns: vec!["channel".into()],
            ..SchemaSpec::default()
        },
    )
    .unwrap();
    assert_eq!(schema.encoded_names(), ["channel=web"]);
    let encoded = schema.encode(&raw).unwrap();
    let data = CovariateData::build(&sim.rfm, None, &encoded, &encoded).unwrap();
    let fit =
        fit_mbgnbd_covariates(&data, &schema, &schema, &CovariateFitOptions::default()).unwrap();
    let d = &fit.diagnostics;
    assert!(d.converged, "{}", d.message);
    assert_eq!(
        d.param_names,
        [
            "r",
            "alpha",
            "a",
            "b",
            "purchase:channel=web",
            "lifetime:channel=web"
        ]
    );
    let want = [0.8, 6.0, 0.7, 2.5, 0.5, -0.4];
    for (k, (got, want)) in estimates(&fit).iter().zip(want).enumerate() {
        let se = d.standard_errors[k].unwrap();
        assert!(
            (got - want).abs() < 3.0 * se,
            "{}: {got} vs true {want} (se {se})",
            d.param_names[k]
        );
    }
    // The stored model scores a new customer by its raw level, and refuses an unknown one.
    let json = serde_json::to_string(&fit.params).unwrap();
    let stored: BetaGeoCovariates = serde_json::from_str(&json).unwrap();
    let new = RawCovariates::new(1)
        .with(
            "channel",
            CovariateValues::Categorical(vec![Some("fax".into())]),
        )
        .unwrap();
    let err = stored.purchase_schema().encode(&new).unwrap_err();
    assert!(err.to_string().contains("covariates.channel[0]"), "{err}");
}
