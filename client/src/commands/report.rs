//! `custval report`: gathers what the page shows (the model, its metadata, and with
//! customers their segments, recommendations and holdout tracking) and writes the HTML
//! page that [`crate::report`] renders.

use std::path::PathBuf;

use custval_model::TimeUnit;
use custval_proto::v1 as pb;
use serde_json::json;

use super::scoring::{ScoringArgs, whole};
use super::{TimeUnitArg, parse_day};
use crate::connect::ConnectOptions;
use crate::error::ClientError;
use crate::files::{self, InputKind, InputOptions};

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Stored model name, as `fit --name` stored it (latest version unless --version;
    /// `--model` is the older spelling).
    #[arg(long, alias = "model")]
    pub name: String,
    /// Model version; 0 = the latest.
    #[arg(long, default_value_t = 0)]
    pub version: u64,
    /// The HTML file to write.
    #[arg(long)]
    pub output: PathBuf,
    /// Customers (transaction log or summaries) for tracking, segments, tiers,
    /// concentration and the budget plan; without it those sections say so.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// How to read --input.
    #[command(flatten)]
    pub read: files::ReadOptions,
    /// Calibration end of a transaction log, YYYY-MM-DD.
    #[arg(long)]
    pub observation_end: Option<String>,
    /// End of the holdout shown in the tracking chart, YYYY-MM-DD.
    #[arg(long)]
    pub holdout_end: Option<String>,
    /// Backtest every family on the transaction log over this many folds (a rolling
    /// origin ending at --holdout-end, else --observation-end); 0 = no backtest section.
    #[arg(long, default_value_t = 0)]
    pub backtest_folds: u32,
    /// Length of each backtest holdout, in the model's time unit (default: the holdout
    /// from --observation-end to --holdout-end, else 13 weeks).
    #[arg(long)]
    pub backtest_holdout: Option<f64>,
    /// Budget of the recommended plan.
    #[arg(long, default_value_t = 1000.0)]
    pub budget: f64,
    /// Horizon of expected purchases and CLV, in days.
    #[arg(long, default_value_t = 365.0)]
    pub horizon_days: f64,
    /// Unit of recency and T in a summary file (day, week, month, year).
    #[arg(long, value_enum, default_value = "week", hide_possible_values = true)]
    pub time_unit: TimeUnitArg,
    /// Print what was written as JSON: the file, the model, and each section drawn or
    /// why not.
    #[arg(long)]
    pub json: bool,
}

/// `custval report`: one self-contained HTML page with the model's pictures.
pub async fn exec(connect: &ConnectOptions, a: &ReportArgs) -> Result<(), ClientError> {
    use crate::report::{self, PAliveMatrix, ReportData};
    let conn = connect.connect().await?;
    let model = conn.get_model(&a.name, a.version).await?;
    let metadata = conn.model_metadata(&a.name, a.version).await?;
    let unit = report::time_unit_from_proto(model.time_unit).unwrap_or(TimeUnit::Week);
    let mut data = ReportData::new(format!("Model {} v{}", model.name, model.version));
    data.subtitle = format!(
        "from {} by custval {}",
        conn.url(),
        env!("CARGO_PKG_VERSION")
    );
    let why_no_input = "no customers given (--input)".to_owned();
    data.tracking = Err(why_no_input.clone());
    data.segments = Err(why_no_input.clone());
    data.recommendations = Err(why_no_input);
    let mut age = TimeUnit::Week.convert(52.0, unit);
    if let Some(path) = &a.input {
        let input = InputOptions {
            input: path.clone(),
            read: a.read.clone(),
        };
        let scoring = ScoringArgs {
            input: input.clone(),
            name: a.name.clone(),
            version: model.version,
            horizon_days: a.horizon_days,
            discount_rate: 0.0,
            time_unit: a.time_unit,
            observation_end: a.observation_end.clone(),
            holdout_end: a.holdout_end.clone(),
        };
        let (options, columns) = whole(&scoring, &conn).await?;
        let input_unit = if input.kind()? == InputKind::Summaries {
            a.time_unit.unit()
        } else {
            unit
        };
        if let Some(max_t) = columns.age.iter().copied().reduce(f64::max) {
            age = input_unit.convert(max_t, unit);
        }
        data.segments = conn
            .segment(pb::SegmentRequest {
                options: Some(options.clone()),
                customers: vec![],
                summary_columns: Some(columns.clone()),
                segment_options: None,
                economics: None,
                store: false,
            })
            .await
            .map_err(|e| e.to_string());
        data.recommendations = conn
            .recommend(pb::RecommendRequest {
                options: Some(options),
                customers: vec![],
                summary_columns: Some(columns),
                economics: None,
                budget: Some(a.budget),
            })
            .await
            .map_err(|e| e.to_string());
        data.tracking = match (input.kind()?, &a.observation_end) {
            (InputKind::Summaries, _) => {
                Err("tracking needs a transaction log, not summaries".into())
            }
            (_, None) => Err("tracking needs --observation-end".into()),
            (_, Some(end)) => {
                let cal_end = parse_day(end, "--observation-end")?;
                let last = a
                    .holdout_end
                    .as_deref()
                    .map(|d| parse_day(d, "--holdout-end"))
                    .transpose()?;
                let rows = input.purchase_days()?;
                report::tracking(&model, unit, rows, cal_end, last).map_err(ClientError::Invalid)?
            }
        };
        if a.backtest_folds > 0 {
            data.backtest = backtest(&conn, a, &input, &model, unit).await?;
        }
    }
    data.p_alive = Ok(PAliveMatrix::at_age(age));
    let (name, version) = (model.name.clone(), model.version);
    data.model = Ok(model);
    data.metadata = Ok(metadata);
    let html = report::render(&data);
    files::write_text(&a.output, &html)?;
    if a.json {
        let section = |part: Result<(), &String>| match part {
            Ok(()) => json!({"drawn": true}),
            Err(why) => json!({"drawn": false, "why": why}),
        };
        crate::outln!(
            "{:#}",
            json!({
                "output": a.output,
                "bytes": html.len(),
                "model": name,
                "version": version,
                "sections": {
                    "tracking": section(data.tracking.as_ref().map(|_| ())),
                    "segments": section(data.segments.as_ref().map(|_| ())),
                    "recommendations": section(data.recommendations.as_ref().map(|_| ())),
                    "backtest": section(data.backtest.as_ref().map(|_| ())),
                },
            })
        );
    } else {
        eprintln!("wrote {}", a.output.display());
    }
    Ok(())
}

/// The backtest section's data: every family over `--backtest-folds` holdouts of the log
/// (with the model's spend model), or why there is none.
async fn backtest(
    conn: &crate::connect::Connection,
    a: &ReportArgs,
    input: &InputOptions,
    model: &pb::Model,
    unit: TimeUnit,
) -> Result<crate::report::Part<pb::BacktestResponse>, ClientError> {
    if input.kind()? == InputKind::Summaries {
        return Ok(Err(
            "a backtest needs a transaction log, not summaries".into()
        ));
    }
    let Some(end) = a.holdout_end.as_ref().or(a.observation_end.as_ref()) else {
        return Ok(Err(
            "a backtest needs --observation-end or --holdout-end".into()
        ));
    };
    let data_end = parse_day(end, "--holdout-end")?;
    let holdout = match (a.backtest_holdout, &a.observation_end, &a.holdout_end) {
        (Some(h), _, _) => h,
        (None, Some(o), Some(h)) => {
            let days =
                parse_day(h, "--holdout-end")?.days_since(parse_day(o, "--observation-end")?);
            TimeUnit::Day.convert(days as f64, unit)
        }
        _ => TimeUnit::Week.convert(13.0, unit),
    };
    let spend = model.spend_model == pb::SpendModelKind::GammaGamma as i32;
    let spec = pb::BacktestSpec {
        spend_model: model.spend_model,
        time_unit: model.time_unit,
        data_end: Some(custval_wire::dates::timestamp_of_day(data_end)),
        holdout: Some(pb::Duration {
            value: holdout,
            unit: model.time_unit,
        }),
        folds: a.backtest_folds,
        ..Default::default()
    };
    let chunks = super::backtest::chunks(spec, input.purchases(spend)?);
    Ok(conn.backtest(chunks).await.map_err(|e| e.to_string()))
}
