//! What `fit` and `models show` print about a stored model: one JSON shape for both
//! (family, unit, parameters with standard errors, diagnostics, the whole holdout) and the
//! text lines they share.

use custval_proto::v1 as pb;
use serde_json::{Value, json};

use super::holdout::holdout_json;
use super::params_json;

/// The model as JSON: `name, version, family, transaction_model` (the family fitted, also
/// with `--family auto`), `spend_model`, `time_unit`, `params`, `standard_errors`,
/// `spend_params`, `spend_standard_errors`, the fit's figures and `diagnostics`,
/// `spend_diagnostics`, and `holdout` when it had one. `diagnostics` is passed in, as
/// `fit` adds a finding of its own.
pub(super) fn model_json(model: &pb::Model, d: &pb::FitDiagnostics) -> Value {
    let mut v = json!({
        "name": model.name,
        "version": model.version,
        "family": model.family,
        "transaction_model": model.family,
        "spend_model": spend_model_name(model.spend_model),
        "time_unit": unit_name(model.time_unit),
        "params": params_json(&model.params),
        "standard_errors": standard_errors_json(&model.params),
        "spend_params": params_json(&model.spend_params),
        "spend_standard_errors": standard_errors_json(&model.spend_params),
        "log_likelihood": d.log_likelihood,
        "converged": d.converged,
        "aic": d.aic,
        "bic": d.bic,
        "warnings": d.warnings,
        "diagnostics": diagnostics_json(d),
    });
    if let Some(s) = &model.spend_diagnostics {
        v["spend_diagnostics"] = diagnostics_json(s);
    }
    if let Some(h) = &model.holdout {
        v["holdout"] = holdout_json(h);
    }
    v
}

/// Each parameter's standard error by name; `null` where the Hessian gave none.
fn standard_errors_json(ps: &[pb::Parameter]) -> Value {
    ps.iter()
        .map(|p| (p.name.clone(), json!(p.standard_error)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn diagnostics_json(d: &pb::FitDiagnostics) -> Value {
    json!({
        "converged": d.converged,
        "method": d.method,
        "iterations": d.iterations,
        "evaluations": d.evaluations,
        "gradient_norm": d.gradient_norm,
        "log_likelihood": d.log_likelihood,
        "aic": d.aic,
        "bic": d.bic,
        "observations": d.observations,
        "groups": d.groups,
        "message": d.message,
        "warnings": d.findings.iter()
            .map(|w| json!({"code": w.code, "message": w.message}))
            .collect::<Vec<_>>(),
    })
}

/// A wire time unit by the CLI's name ("week").
pub(super) fn unit_name(value: i32) -> &'static str {
    custval_wire::units::time_unit_from_proto(value).map_or("unspecified", |u| u.as_str())
}

/// A wire spend model by the CLI's `--spend` name.
pub(super) fn spend_model_name(value: i32) -> &'static str {
    if value == pb::SpendModelKind::GammaGamma as i32 {
        "gamma-gamma"
    } else {
        "none"
    }
}

/// `  name  value ± standard error` per parameter, transaction model first.
pub(super) fn print_params(model: &pb::Model) {
    for p in model.params.iter().chain(&model.spend_params) {
        let se = p
            .standard_error
            .map_or(String::new(), |s| format!(" ± {s:.4}"));
        crate::outln!("  {:<6} {:.6}{se}", p.name, p.value);
    }
}

/// The holdout in a few lines: totals and errors, calibration by frequency bin, and each
/// ranking beside its baselines with where the model loses.
pub(super) fn print_holdout(h: &pb::HoldoutMetrics) {
    let length = h.duration.as_ref().map_or(String::new(), |d| {
        format!(" over {} {}s", d.value, unit_name(d.unit))
    });
    crate::outln!(
        "  holdout{length}, {} customers: {:.0} actual vs {:.1} predicted repeat purchases",
        h.customers,
        h.actual_total,
        h.predicted_total,
    );
    crate::outln!(
        "    MAE {:.3}, RMSE {:.3}, Pearson r {}, AUC {}, Brier {:.3}",
        h.mae,
        h.rmse,
        fmt3(h.pearson_r),
        fmt3(h.auc),
        h.brier
    );
    if !h.by_frequency.is_empty() {
        let bins: Vec<String> = h
            .by_frequency
            .iter()
            .map(|b| {
                format!(
                    "{}: {:.2} vs {:.2}",
                    b.label, b.mean_actual, b.mean_predicted
                )
            })
            .collect();
        crate::outln!(
            "    mean holdout purchases by calibration frequency, actual vs predicted: {}",
            bins.join(", ")
        );
    }
    for r in h.purchases_ranking.iter().chain(&h.revenue_ranking) {
        let m = r.model.clone().unwrap_or_default();
        let baselines: Vec<String> = r
            .baselines
            .iter()
            .map(|b| {
                let gini = b.metrics.as_ref().and_then(|m| m.normalized_gini);
                format!("{} {}", b.name, fmt3(gini))
            })
            .collect();
        crate::outln!(
            "  ranking {}: normalized Gini {} (baselines: {})",
            r.outcome,
            fmt3(m.normalized_gini),
            baselines.join(", ")
        );
        for loss in &r.losses {
            crate::outln!("  warning: {loss}");
        }
    }
}

fn fmt3(g: Option<f64>) -> String {
    g.map_or("-".into(), |g| format!("{g:.3}"))
}
