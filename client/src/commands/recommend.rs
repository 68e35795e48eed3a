//! `custval recommend`: one action per customer from stated economics, and a budget plan
//! with `--budget`.

use std::path::PathBuf;

use custval_proto::v1 as pb;
use serde_json::json;

use super::scoring::{ScoringArgs, whole};
use crate::connect::ConnectOptions;
use crate::error::ClientError;
use crate::files;

#[derive(Debug, Clone, clap::Args)]
pub struct RecommendArgs {
    #[command(flatten)]
    pub scoring: ScoringArgs,
    /// Total budget for actions.
    #[arg(long)]
    pub budget: Option<f64>,
    /// Profit margin on revenue, (0, 1].
    #[arg(long)]
    pub margin: Option<f64>,
    /// Cost of serving a customer over the horizon.
    #[arg(long)]
    pub cost_to_serve: Option<f64>,
    /// Per-customer recommendations as CSV.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Print the recommendations and plan as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn exec(connect: &ConnectOptions, a: &RecommendArgs) -> Result<(), ClientError> {
    let conn = connect.connect().await?;
    let (options, columns) = whole(&a.scoring, &conn).await?;
    let r = conn
        .recommend(pb::RecommendRequest {
            options: Some(options),
            customers: vec![],
            summary_columns: Some(columns),
            economics: Some(pb::Economics {
                margin: a.margin,
                cost_to_serve: a.cost_to_serve,
                ..Default::default()
            }),
            budget: a.budget,
        })
        .await?;
    if let Some(path) = &a.output {
        let mut text = String::from(
            "customer_id,action,reasons,expected_value,incremental_value,cost,roi,segment,tier,funded_action\n",
        );
        for c in &r.recommendations {
            text.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{}\n",
                files::csv_field(&c.customer_id),
                c.action,
                c.reasons.join(";"),
                c.expected_value,
                c.incremental_value,
                c.cost,
                c.roi.map_or(String::new(), |x| x.to_string()),
                files::csv_field(&c.segment),
                c.tier,
                c.funded_action
            ));
        }
        files::write_text(path, &text)?;
    }
    let actions: Vec<_> = r
        .by_action
        .iter()
        .map(|x| {
            json!({"action": x.action, "customers": x.customers, "total_cost": x.total_cost,
                        "total_incremental_value": x.total_incremental_value})
        })
        .collect();
    let plan = r.plan.as_ref().map(|p| {
        json!({"budget": p.budget, "spent": p.spent, "customers_funded": p.customers_funded,
               "expected_incremental_value": p.expected_incremental_value, "roi": p.roi,
               "marginal_value": p.marginal_value})
    });
    if a.json {
        crate::outln!("{:#}", json!({"actions": actions, "plan": plan}));
    } else {
        for x in &r.by_action {
            crate::outln!(
                "  {:<13} {:>8} customers  cost {:>12.2}  incremental value {:>12.2}",
                x.action,
                x.customers,
                x.total_cost,
                x.total_incremental_value
            );
        }
        if let Some(p) = &r.plan {
            crate::outln!(
                "budget {:.2}: spend {:.2} on {} customers for {:.2} expected incremental value (ROI {}), marginal value {:.3} per unit",
                p.budget,
                p.spent,
                p.customers_funded,
                p.expected_incremental_value,
                p.roi.map_or("-".into(), |x| format!("{x:.2}")),
                p.marginal_value
            );
        }
    }
    Ok(())
}
