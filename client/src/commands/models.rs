//! `custval models`: lists, shows or deletes stored model versions.

use serde_json::json;

use super::model_view::{model_json, print_holdout, print_params, spend_model_name, unit_name};
use crate::connect::ConnectOptions;
use crate::error::ClientError;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ModelsCommand {
    /// Every stored model version.
    List {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// One model: family, unit, parameters with standard errors, diagnostics, holdout,
    /// and what it was trained on.
    Show {
        /// Stored model name.
        name: String,
        /// Model version; 0 = the latest.
        #[arg(long, default_value_t = 0)]
        version: u64,
        /// Print the model as JSON (the shape of `fit --json`, plus `training`).
        #[arg(long)]
        json: bool,
    },
    /// The transaction model families the server can fit (`fit --family` takes the names).
    Families {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete one version, or all versions without --version.
    Delete {
        /// Stored model name.
        name: String,
        /// Model version to delete; 0 = every version.
        #[arg(long, default_value_t = 0)]
        version: u64,
        /// Print what was deleted as JSON: `{"name", "deleted_versions"}`.
        #[arg(long)]
        json: bool,
    },
}

pub async fn exec(connect: &ConnectOptions, cmd: &ModelsCommand) -> Result<(), ClientError> {
    let conn = connect.connect().await?;
    match cmd {
        ModelsCommand::List { json: as_json } => {
            let list = conn.list_models().await?;
            if *as_json {
                let v: Vec<_> = list
                    .iter()
                    .map(|x| {
                        json!({"name": x.name, "version": x.version, "family": x.family,
                                    "customers": x.customers,
                                    "log_likelihood": x.log_likelihood,
                                    "created_at": x.created_at.as_ref().map(|t| t.seconds)})
                    })
                    .collect();
                crate::outln!("{:#}", json!(v));
            } else {
                for x in &list {
                    crate::outln!(
                        "{:<24} v{:<4} {:<12} {:>9} customers  LL {:.2}",
                        x.name,
                        x.version,
                        x.family,
                        x.customers,
                        x.log_likelihood
                    );
                }
            }
        }
        ModelsCommand::Show {
            name,
            version,
            json: as_json,
        } => {
            let model = conn.get_model(name, *version).await?;
            let meta = conn.model_metadata(name, *version).await?;
            let d = model.diagnostics.clone().unwrap_or_default();
            let t = meta.training.clone().unwrap_or_default();
            let trained_on = trained_on(&t);
            let day = |ts: Option<&prost_types::Timestamp>| {
                ts.and_then(|t| custval_wire::dates::day(t, "").ok())
                    .map(|d| d.to_string())
            };
            if *as_json {
                let mut v = model_json(&model, &d);
                v["created_at"] = json!(model.created_at.as_ref().map(|t| t.seconds));
                v["training"] = json!({
                    "input_kind": t.input_kind,
                    "summarized_by_client": t.summarized_by_client,
                    "customers": t.customers,
                    "transactions": t.transactions,
                    "observation_end": day(t.observation_end.as_ref()),
                    "holdout_end": day(t.holdout_end.as_ref()),
                    "fingerprint": t.fingerprint,
                    "fit_seconds": t.fit_seconds,
                    "penalizer": meta.penalizer,
                    "server_version": meta.server_version,
                });
                // Kept at the top level too, where scripts found them before `training`.
                v["customers"] = json!(t.customers);
                v["fingerprint"] = json!(t.fingerprint);
                v["input_kind"] = json!(t.input_kind);
                crate::outln!("{v:#}");
            } else {
                crate::outln!(
                    "{} v{} ({}, rates per {}, spend model {})",
                    model.name,
                    model.version,
                    model.family,
                    unit_name(model.time_unit),
                    spend_model_name(model.spend_model)
                );
                let through = match (day(t.observation_end.as_ref()), day(t.holdout_end.as_ref())) {
                    (Some(o), Some(h)) => format!(", calibration to {o}, holdout to {h}"),
                    (Some(o), None) => format!(", observed to {o}"),
                    _ => String::new(),
                };
                crate::outln!(
                    "  trained on {} customers from {trained_on}{through}; fingerprint {}",
                    t.customers,
                    t.fingerprint
                );
                print_params(&model);
                crate::outln!(
                    "  log-likelihood {:.4}, converged {}, AIC {:.2}, BIC {:.2}",
                    d.log_likelihood,
                    d.converged,
                    d.aic,
                    d.bic
                );
                for w in &d.warnings {
                    crate::outln!("  warning: {w}");
                }
                match &model.holdout {
                    Some(h) => print_holdout(h),
                    None => crate::outln!("  no holdout"),
                }
            }
        }
        ModelsCommand::Families { json: as_json } => {
            let families = conn.list_families().await?;
            if *as_json {
                let v: Vec<_> = families
                    .iter()
                    .map(|f| {
                        json!({"name": f.name, "title": f.title, "aliases": f.aliases,
                                    "params": f.params})
                    })
                    .collect();
                crate::outln!("{:#}", json!(v));
            } else {
                for f in &families {
                    crate::outln!("{:<12} {:<14} {}", f.name, f.title, f.params.join(", "));
                }
            }
        }
        ModelsCommand::Delete {
            name,
            version,
            json: as_json,
        } => {
            let r = conn.delete_model(name, *version).await?;
            if *as_json {
                crate::outln!(
                    "{:#}",
                    json!({"name": name, "deleted_versions": r.deleted_versions})
                );
            } else {
                crate::outln!("deleted {name} versions {:?}", r.deleted_versions);
            }
        }
    }
    Ok(())
}

/// What the model was fitted on, in words: "a transaction log (N transactions)", with
/// "summarized by the client" when the CLI sent the log's summaries, or "summaries".
fn trained_on(t: &custval_proto::v1::TrainingData) -> String {
    match (t.input_kind.as_str(), t.summarized_by_client) {
        ("transactions", true) => format!(
            "a transaction log ({} transactions, summarized by the client)",
            t.transactions
        ),
        ("transactions", false) => format!("a transaction log ({} transactions)", t.transactions),
        _ => "summaries".into(),
    }
}
