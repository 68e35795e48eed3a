//! `custval segment`: segments all customers of a file at once (k-means, RFM quintiles,
//! value tiers, concentration), optionally stored with the model.

use std::path::PathBuf;

use custval_proto::v1 as pb;
use serde_json::json;

use super::scoring::{ScoringArgs, whole};
use crate::connect::ConnectOptions;
use crate::error::ClientError;
use crate::files;

#[derive(Debug, Clone, clap::Args)]
pub struct SegmentArgs {
    #[command(flatten)]
    pub scoring: ScoringArgs,
    /// Segments; 0 = choose by silhouette.
    #[arg(long, default_value_t = 0)]
    pub k: u32,
    /// Seed of k-means' random starts: the same seed gives the same segments.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Keep the segmentation with the model, so later scores carry segment, tier, action.
    #[arg(long)]
    pub store: bool,
    /// Per-customer segments as CSV.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Print the segments, tiers and concentration as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn exec(connect: &ConnectOptions, a: &SegmentArgs) -> Result<(), ClientError> {
    let conn = connect.connect().await?;
    let (options, columns) = whole(&a.scoring, &conn).await?;
    let r = conn
        .segment(pb::SegmentRequest {
            options: Some(options),
            customers: vec![],
            summary_columns: Some(columns),
            segment_options: Some(pb::SegmentOptions {
                k: a.k,
                seed: a.seed,
                ..Default::default()
            }),
            economics: None,
            store: a.store,
        })
        .await?;
    if let Some(path) = &a.output {
        let mut text = String::from("customer_id,segment,tier,rfm_score,rfm_segment\n");
        for c in &r.customers {
            text.push_str(&format!(
                "{},{},{},{},{}\n",
                files::csv_field(&c.customer_id),
                files::csv_field(&c.segment),
                c.tier,
                c.rfm_score,
                files::csv_field(&c.rfm_segment)
            ));
        }
        files::write_text(path, &text)?;
    }
    if a.json {
        let segments: Vec<_> = r
            .segments
            .iter()
            .map(|s| json!({"index": s.index, "name": s.name, "customers": s.customers,
                            "customer_share": s.customer_share, "value_share": s.value_share,
                            "centroid": s.centroid.iter().map(|f| (f.feature.clone(), json!(f.value))).collect::<serde_json::Map<_, _>>()}))
            .collect();
        let tiers: Vec<_> = r
            .tiers
            .iter()
            .map(
                |t| json!({"tier": t.name, "customers": t.customers, "value_share": t.value_share}),
            )
            .collect();
        let top: Vec<_> = r
            .concentration
            .iter()
            .flat_map(|c| &c.top_shares)
            .map(|t| json!({"top_fraction": t.top_fraction, "value_share": t.value_share}))
            .collect();
        crate::outln!(
            "{:#}",
            json!({"segments": segments, "tiers": tiers, "concentration": top, "stored": r.stored})
        );
    } else {
        crate::outln!("{} segments ({}):", r.segments.len(), r.value_measure);
        for s in &r.segments {
            crate::outln!(
                "  {:<2} {:<20} {:>6.1}% of customers {:>6.1}% of value",
                s.index,
                s.name,
                100.0 * s.customer_share,
                100.0 * s.value_share
            );
        }
        for t in &r.tiers {
            crate::outln!(
                "  tier {:<10} {:>8} customers {:>6.1}% of value",
                t.name,
                t.customers,
                100.0 * t.value_share
            );
        }
        if r.stored {
            crate::outln!("stored with the model: later scores carry segment, tier and action");
        }
    }
    Ok(())
}
