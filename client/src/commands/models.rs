//! `custval models`: lists, shows or deletes stored model versions.

use serde_json::json;

use super::holdout::holdout_json;
use super::params_json;
use crate::connect::ConnectOptions;
use crate::error::ClientError;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ModelsCommand {
    /// Every stored model version.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One model: parameters, diagnostics, holdout, metadata.
    Show {
        name: String,
        #[arg(long, default_value_t = 0)]
        version: u64,
        #[arg(long)]
        json: bool,
    },
    /// The transaction model families the server can fit (`fit --model` takes the names).
    Families {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete one version, or all versions without --version.
    Delete {
        name: String,
        #[arg(long, default_value_t = 0)]
        version: u64,
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
            if *as_json {
                crate::outln!(
                    "{:#}",
                    json!({"name": model.name, "version": model.version, "family": model.family,
                           "params": params_json(&model.params), "spend_params": params_json(&model.spend_params),
                           "log_likelihood": d.log_likelihood, "converged": d.converged,
                           "customers": t.customers, "fingerprint": t.fingerprint, "input_kind": t.input_kind,
                           "holdout": model.holdout.as_ref().map(holdout_json)})
                );
            } else {
                crate::outln!(
                    "{} v{} ({}): {} customers ({}), fingerprint {}",
                    model.name,
                    model.version,
                    model.family,
                    t.customers,
                    t.input_kind,
                    t.fingerprint
                );
                for p in model.params.iter().chain(&model.spend_params) {
                    crate::outln!("  {:<6} {:.6}", p.name, p.value);
                }
                crate::outln!(
                    "  log-likelihood {:.4}, converged {}",
                    d.log_likelihood,
                    d.converged
                );
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
        ModelsCommand::Delete { name, version } => {
            let r = conn.delete_model(name, *version).await?;
            crate::outln!("deleted {name} versions {:?}", r.deleted_versions);
        }
    }
    Ok(())
}
