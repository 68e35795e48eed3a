//! Model families (by name or by the built-in enum), fitted models and their parameters,
//! fit diagnostics and holdout metrics.

use custval_model::models::{TransactionFamily, registry};
use custval_model::predict::evaluate::baselines::RankingReport;
use custval_model::predict::evaluate::ranking::RankingMetrics;
use custval_model::{
    CustomerModel, Duration, FitDiagnostics, GammaGammaParams, HoldoutReport, ModelError, Result,
    TimeUnit, TransactionModel,
};
use custval_proto::v1 as pb;

use crate::units::{duration_to_proto, time_unit};

/// The built-in families' enum values and names.
const BUILT_IN: [(pb::TransactionModelKind, &str); 3] = [
    (pb::TransactionModelKind::BgNbd, "bgnbd"),
    (pb::TransactionModelKind::MbgNbd, "mbgnbd"),
    (pb::TransactionModelKind::ParetoNbd, "pareto-nbd"),
];

/// Renames the field of an invalid-input error.
fn at(field: &str) -> impl Fn(ModelError) -> ModelError + '_ {
    move |e| match e {
        ModelError::InvalidInput { reason, .. } => ModelError::invalid(field, reason),
        other => other,
    }
}

/// The family a request names: `family` by name when set (`{prefix}.family`), else the
/// built-in enum `kind` (`{prefix}.transaction_model`).
pub fn family(name: &str, kind: i32, prefix: &str) -> Result<&'static dyn TransactionFamily> {
    if !name.trim().is_empty() {
        return registry::family(name).map_err(at(&format!("{prefix}.family")));
    }
    let field = format!("{prefix}.transaction_model");
    match pb::TransactionModelKind::try_from(kind) {
        Ok(pb::TransactionModelKind::Unspecified) => Err(ModelError::invalid(
            field,
            "a transaction model is required: set family (e.g. \"bgnbd\", \"pareto-nbd\") \
             or transaction_model (BG_NBD, MBG_NBD or PARETO_NBD)",
        )),
        Ok(kind) => {
            let name = BUILT_IN
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or("", |(_, n)| n);
            registry::family(name).map_err(at(&field))
        }
        Err(_) => Err(ModelError::invalid(
            field,
            format!("unknown transaction model {kind}"),
        )),
    }
}

/// The enum value of a built-in family; UNSPECIFIED for the others.
pub fn family_kind(family: &dyn TransactionFamily) -> pb::TransactionModelKind {
    BUILT_IN
        .iter()
        .find(|(_, n)| *n == family.name())
        .map_or(pb::TransactionModelKind::Unspecified, |(k, _)| *k)
}

pub fn family_to_proto(family: &dyn TransactionFamily) -> pb::Family {
    pb::Family {
        name: family.name().to_owned(),
        aliases: family.aliases().iter().map(|a| (*a).to_owned()).collect(),
        title: family.title().to_owned(),
        params: family
            .param_names()
            .iter()
            .map(|p| (*p).to_owned())
            .collect(),
        transaction_model: family_kind(family) as i32,
    }
}

/// The fitted transaction model a `pb::Model` describes (family and parameters by name),
/// checked against the family's domain.
pub fn transaction_model_from_proto(m: &pb::Model) -> Result<TransactionModel> {
    let family = family(&m.family, m.transaction_model, "model")?;
    let named: Vec<(&str, f64)> = m
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.value))
        .collect();
    TransactionModel::from_named_in(family, Vec::new(), &named)
        .map_err(|e| e.within("model.params"))
}

/// The spend model of a `pb::Model`, if it has one.
pub fn spend_from_proto(m: &pb::Model) -> Result<Option<GammaGammaParams>> {
    if !spend_model(m.spend_model, "model.spend_model")? {
        return Ok(None);
    }
    let param = |name: &str| {
        m.spend_params
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value)
            .ok_or_else(|| ModelError::invalid(format!("model.spend_params.{name}"), "missing"))
    };
    GammaGammaParams::new(param("p")?, param("q")?, param("v")?)
        .map(Some)
        .map_err(|e| e.within("model.spend_params"))
}

/// Everything needed to score with a `pb::Model` locally: unit, transaction and spend.
pub fn customer_model_from_proto(m: &pb::Model) -> Result<CustomerModel> {
    Ok(CustomerModel {
        unit: time_unit(m.time_unit, "model.time_unit")?,
        transaction: transaction_model_from_proto(m)?,
        spend: spend_from_proto(m)?,
    })
}

/// Whether a Gamma-Gamma spend model is asked for.
pub fn spend_model(value: i32, field: &str) -> Result<bool> {
    match pb::SpendModelKind::try_from(value) {
        Ok(pb::SpendModelKind::None) => Ok(false),
        Ok(pb::SpendModelKind::GammaGamma) => Ok(true),
        Err(_) => Err(ModelError::invalid(
            field,
            format!("unknown spend model {value}"),
        )),
    }
}

pub fn spend_model_to_proto(present: bool) -> pb::SpendModelKind {
    if present {
        pb::SpendModelKind::GammaGamma
    } else {
        pb::SpendModelKind::None
    }
}

/// Parameters with the standard errors of the fit that produced them.
pub fn params_to_proto(named: &[(String, f64)], d: &FitDiagnostics) -> Vec<pb::Parameter> {
    named
        .iter()
        .enumerate()
        .map(|(i, (name, value))| pb::Parameter {
            name: name.clone(),
            value: *value,
            standard_error: d.standard_errors.get(i).copied().flatten(),
        })
        .collect()
}

/// The spend model's parameters, named as `spend_from_proto` reads them.
pub fn spend_params_to_proto(g: &GammaGammaParams, d: &FitDiagnostics) -> Vec<pb::Parameter> {
    let named = [("p", g.p()), ("q", g.q()), ("v", g.v())].map(|(n, v)| (n.to_owned(), v));
    params_to_proto(&named, d)
}

pub fn diagnostics_to_proto(d: &FitDiagnostics) -> pb::FitDiagnostics {
    pb::FitDiagnostics {
        converged: d.converged,
        method: d.method.clone(),
        iterations: d.iterations,
        evaluations: d.evaluations,
        gradient_norm: d.gradient_norm,
        log_likelihood: d.log_likelihood,
        aic: d.aic,
        bic: d.bic,
        observations: d.n_observations,
        groups: d.n_groups as u64,
        message: d.message.clone(),
        // `code: message` strings for readers of strings, and the structured findings.
        warnings: d.warnings.iter().map(ToString::to_string).collect(),
        findings: d
            .warnings
            .iter()
            .map(|w| pb::FitWarning {
                code: w.code.as_str().to_owned(),
                message: w.message.clone(),
            })
            .collect(),
    }
}

pub fn holdout_to_proto(h: &HoldoutReport, unit: TimeUnit) -> pb::HoldoutMetrics {
    pb::HoldoutMetrics {
        duration: Some(duration_to_proto(Duration::new(h.holdout_duration, unit))),
        customers: h.customers,
        actual_total: h.actual_total,
        predicted_total: h.predicted_total,
        mae: h.mae,
        rmse: h.rmse,
        pearson_r: h.pearson_r,
        auc: h.auc,
        brier: h.brier,
        by_frequency: h
            .by_frequency
            .iter()
            .map(|b| pb::FrequencyBin {
                label: b.label.clone(),
                customers: b.customers,
                mean_actual: b.mean_actual,
                mean_predicted: b.mean_predicted,
            })
            .collect(),
        purchases_ranking: h.rankings.as_ref().map(|r| ranking_to_proto(&r.purchases)),
        revenue_ranking: h
            .rankings
            .as_ref()
            .and_then(|r| r.revenue.as_ref())
            .map(ranking_to_proto),
    }
}

fn ranking_metrics_to_proto(m: &RankingMetrics) -> pb::RankingMetrics {
    pb::RankingMetrics {
        normalized_gini: m.normalized_gini,
        top: m
            .top
            .iter()
            .map(|t| pb::RankingTopShare {
                customer_share: t.customer_share,
                outcome_share: t.outcome_share,
                lift: t.lift,
            })
            .collect(),
        mae: m.mae,
        gain: m
            .gain
            .iter()
            .map(|g| pb::GainPoint {
                customer_share: g.customer_share,
                outcome_share: g.outcome_share,
            })
            .collect(),
        deciles: m
            .calibration
            .iter()
            .map(|d| pb::DecileBin {
                decile: u32::from(d.decile),
                customers: d.customers,
                mean_predicted: d.mean_predicted,
                mean_actual: d.mean_actual,
            })
            .collect(),
    }
}

pub fn ranking_to_proto(r: &RankingReport) -> pb::HoldoutRanking {
    pb::HoldoutRanking {
        outcome: r.outcome.clone(),
        model: Some(ranking_metrics_to_proto(&r.model)),
        baselines: r
            .baselines
            .iter()
            .map(|b| pb::BaselineRanking {
                name: b.name.clone(),
                metrics: Some(ranking_metrics_to_proto(&b.metrics)),
                beats_model_on: b.beats_model_on.clone(),
                description: b.description.clone(),
            })
            .collect(),
        model_beaten_by: r.model_beaten_by.clone(),
        losses: r.losses(),
    }
}

/// A model name: 1-128 characters of `[A-Za-z0-9._-]`.
pub fn model_name(name: &str, field: &str) -> Result<()> {
    if name.is_empty() {
        return Err(ModelError::invalid(field, "is required"));
    }
    if name.len() > 128 {
        return Err(ModelError::invalid(field, "is longer than 128 characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(ModelError::invalid(
            field,
            format!("contains {c:?}; use letters, digits, '.', '_' and '-'"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<T: std::fmt::Debug>(r: Result<T>) -> String {
        match r {
            Err(ModelError::InvalidInput { field, .. }) => field,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn families_by_name_or_enum() {
        assert_eq!(family("pnbd", 0, "spec").unwrap().name(), "pareto-nbd");
        // The name wins over the enum.
        assert_eq!(family("mbgnbd", 1, "spec").unwrap().name(), "mbgnbd");
        assert_eq!(family("", 1, "spec").unwrap().name(), "bgnbd");
        assert_eq!(field(family("", 0, "spec")), "spec.transaction_model");
        assert_eq!(field(family("", 99, "spec")), "spec.transaction_model");
        assert_eq!(field(family("gamma", 0, "spec")), "spec.family");
        for (kind, name) in BUILT_IN {
            let f = family(name, 0, "spec").unwrap();
            assert_eq!(family_kind(f), kind);
            assert_eq!(family("", kind as i32, "spec").unwrap().name(), name);
        }
    }

    #[test]
    fn models_round_trip_through_proto() {
        let d = FitDiagnostics {
            model: "BG/NBD".into(),
            converged: true,
            method: "Newton".into(),
            iterations: 1,
            evaluations: 1,
            gradient_norm: 0.0,
            log_likelihood: -1.0,
            n_observations: 1.0,
            n_groups: 1,
            n_params: 4,
            aic: 0.0,
            bic: 0.0,
            param_names: vec![],
            standard_errors: vec![Some(0.1); 4],
            message: String::new(),
            warnings: vec![custval_model::fit::FitWarning::new(
                custval_model::fit::WarningCode::NoDropout,
                "P(alive) = 1 for everyone",
            )],
        };
        // The proto's warnings are strings: the code travels in front of the message.
        assert_eq!(
            diagnostics_to_proto(&d).warnings,
            ["no_dropout: P(alive) = 1 for everyone"]
        );
        let cm = CustomerModel {
            unit: TimeUnit::Week,
            transaction: TransactionModel::from_named(
                "pareto-nbd",
                &[("r", 0.55), ("alpha", 10.58), ("s", 0.61), ("beta", 11.67)],
            )
            .unwrap(),
            spend: Some(GammaGammaParams::published_cdnow()),
        };
        let m = pb::Model {
            time_unit: pb::TimeUnit::Week as i32,
            family: cm.transaction.family().name().into(),
            params: params_to_proto(&cm.transaction.named_params(), &d),
            spend_model: pb::SpendModelKind::GammaGamma as i32,
            spend_params: spend_params_to_proto(cm.spend.as_ref().unwrap(), &d),
            ..Default::default()
        };
        assert_eq!(customer_model_from_proto(&m).unwrap(), cm);
        let mut bad = m.clone();
        bad.params[3].value = -1.0;
        assert_eq!(field(customer_model_from_proto(&bad)), "model.params.beta");
        let mut missing = m;
        missing.spend_params.pop();
        assert_eq!(
            field(customer_model_from_proto(&missing)),
            "model.spend_params.v"
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(model_name("cdnow-bgnbd_v1.2", "name").is_ok());
        assert!(model_name("", "name").is_err());
        assert!(model_name("a/b", "name").is_err());
    }

    /// Deciles, gain curves and baseline descriptions survive the trip from the model's
    /// holdout report through the wire encoding, for the model and every baseline.
    #[test]
    fn holdout_rankings_round_trip_through_the_wire() {
        use custval_model::{HoldoutSpend, Rfm, holdout_report};
        use prost::Message;
        let rfm: Vec<Rfm> = (0..30u32)
            .map(|i| Rfm::new(i % 6, f64::from(i % 6) * 4.0, 30.0).unwrap())
            .collect();
        let bought: Vec<u32> = (0..30u32).map(|i| (i * 7) % 5).collect();
        let monetary: Vec<f64> = (0..30)
            .map(|i| if i % 6 == 0 { 0.0 } else { 10.0 + f64::from(i) })
            .collect();
        let total: Vec<f64> = monetary.iter().map(|m| m * 2.0 + 5.0).collect();
        let spend: Vec<f64> = bought.iter().map(|&b| f64::from(b) * 12.0).collect();
        let gg = GammaGammaParams::published_cdnow();
        let report = holdout_report(
            &TransactionModel::bg_nbd(custval_model::BetaGeoParams::published_cdnow()),
            &rfm,
            &bought,
            39.0,
            HoldoutSpend {
                monetary_value: Some(&monetary),
                calibration_spend: Some(&total),
                holdout_spend: Some(&spend),
                spend_model: Some(&gg),
            },
        )
        .unwrap();
        let bytes = holdout_to_proto(&report, TimeUnit::Week).encode_to_vec();
        let back = pb::HoldoutMetrics::decode(&bytes[..]).unwrap();
        let rankings = report.rankings.as_ref().unwrap();
        for (ours, theirs) in [
            (
                &rankings.purchases,
                back.purchases_ranking.as_ref().unwrap(),
            ),
            (
                rankings.revenue.as_ref().unwrap(),
                back.revenue_ranking.as_ref().unwrap(),
            ),
        ] {
            let pairs = std::iter::once((&ours.model, theirs.model.as_ref().unwrap())).chain(
                ours.baselines
                    .iter()
                    .zip(&theirs.baselines)
                    .map(|(o, t)| (&o.metrics, t.metrics.as_ref().unwrap())),
            );
            for (m, p) in pairs {
                assert_eq!(p.gain.len(), m.gain.len());
                for (a, b) in m.gain.iter().zip(&p.gain) {
                    assert_eq!(
                        (a.customer_share, a.outcome_share),
                        (b.customer_share, b.outcome_share)
                    );
                }
                assert_eq!(p.deciles.len(), m.calibration.len());
                for (a, b) in m.calibration.iter().zip(&p.deciles) {
                    assert_eq!(u32::from(a.decile), b.decile);
                    assert_eq!(a.customers, b.customers);
                    assert_eq!(a.mean_predicted, b.mean_predicted);
                    assert_eq!(a.mean_actual, b.mean_actual);
                }
            }
            for (o, t) in ours.baselines.iter().zip(&theirs.baselines) {
                assert_eq!(o.description, t.description);
                assert!(!t.description.is_empty());
            }
            // The model predicts the outcome: it has a decile calibration and a full curve.
            let model = theirs.model.as_ref().unwrap();
            assert!(!model.deciles.is_empty());
            assert!(!model.gain.is_empty());
        }
    }
}
