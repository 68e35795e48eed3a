//! The `custval` commands that talk to a server (health, fit, score, segment, recommend,
//! models) and the local ones (summarize, simulate).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use custval_model::TimeUnit;
use custval_model::data::summary::Day;
use custval_proto::v1 as pb;
use serde_json::json;

use crate::call::{DEADLINE_GRACE, Retry, deadline_exceeded, request};
use crate::connect::{ConnectOptions, Connection};
use crate::error::ClientError;
use crate::files::{self, InputKind, InputOptions, OutputFormat, ScoreWriter};
use crate::progress::{Progress, estimate_total};

/// Customers per message when streaming.
const CHUNK: usize = 50_000;

fn parse_day(text: &str, flag: &str) -> Result<Day, ClientError> {
    custval_model::data::summary::parse_day(
        text.as_bytes(),
        custval_model::data::summary::DateFormat::Auto,
    )
    .ok_or_else(|| ClientError::Invalid(format!("{flag} {text:?}: use YYYY-MM-DD")))
}

fn timestamp(day: Day) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: i64::from(day.0) * 86_400,
        nanos: 0,
    }
}

fn unit_to_proto(u: TimeUnit) -> i32 {
    (match u {
        TimeUnit::Day => pb::TimeUnit::Day,
        TimeUnit::Week => pb::TimeUnit::Week,
        TimeUnit::Month => pb::TimeUnit::Month,
        TimeUnit::Year => pb::TimeUnit::Year,
    }) as i32
}

fn parse_unit(text: &str) -> Result<TimeUnit, ClientError> {
    TimeUnit::ALL
        .iter()
        .copied()
        .find(|u| u.as_str() == text.trim_end_matches('s'))
        .ok_or_else(|| {
            ClientError::Invalid(format!(
                "--time-unit {text:?}: use day, week, month or year"
            ))
        })
}

/// The customers of an input file, as wire chunks of summaries.
enum Customers {
    /// Summarized locally from a transaction log; the next row to send.
    Table(Arc<custval_model::CustomerTable>, usize),
    /// A summary file; customers still to skip (a resumed stream).
    File(files::SummaryReader, u64),
}

/// Where the customers came from, to read them again from some row on.
enum Source {
    Table(Arc<custval_model::CustomerTable>),
    File(Box<InputOptions>),
}

impl Source {
    /// The customers from row `skip` on.
    fn open_at(&self, skip: u64) -> Result<Customers, ClientError> {
        Ok(match self {
            Source::Table(t) => Customers::Table(t.clone(), skip as usize),
            Source::File(input) => Customers::File(input.summaries(CHUNK)?, skip),
        })
    }
}

impl Customers {
    fn open(
        input: &InputOptions,
        unit: TimeUnit,
        observation_end: Option<Day>,
        holdout_end: Option<Day>,
    ) -> Result<Customers, ClientError> {
        match input.kind()? {
            InputKind::Summaries => {
                if holdout_end.is_some() {
                    return Err(ClientError::Invalid(
                        "--holdout-end needs a transaction log, not summaries".into(),
                    ));
                }
                Ok(Customers::File(input.summaries(CHUNK)?, 0))
            }
            _ => {
                let end = observation_end.ok_or_else(|| {
                    ClientError::Invalid(
                        "--observation-end is required with a transaction log".into(),
                    )
                })?;
                let (obs, cal) = match holdout_end {
                    Some(h) => (h, Some(end)),
                    None => (end, None),
                };
                let out = input.summarize(unit, obs, cal)?;
                if out.stats.rows_skipped > 0 {
                    eprintln!(
                        "custval: skipped {} bad rows of {} ({:?})",
                        out.stats.rows_skipped, out.stats.rows_read, out.stats.skipped_by_reason
                    );
                }
                Ok(Customers::Table(Arc::new(out.table), 0))
            }
        }
    }

    fn next_chunk(&mut self) -> Result<Option<pb::SummaryColumns>, ClientError> {
        match self {
            Customers::File(r, skip) => loop {
                let Some(mut c) = r.next_chunk()? else {
                    return Ok(None);
                };
                let n = c.customer_id.len() as u64;
                if *skip >= n {
                    *skip -= n;
                    continue;
                }
                drop_front(&mut c, std::mem::take(skip) as usize);
                return Ok(Some(c));
            },
            Customers::Table(t, next) => {
                let start = *next;
                if start >= t.len() {
                    return Ok(None);
                }
                let end = (start + CHUNK).min(t.len());
                *next = end;
                Ok(Some(files::table_columns(t, start..end)))
            }
        }
    }

    fn holdout_duration(&self) -> Option<f64> {
        match self {
            Customers::Table(t, _) => t.holdout.as_ref().map(|h| h.duration),
            Customers::File(..) => None,
        }
    }

    /// How much of the input has been read, once something has.
    fn fraction_read(&self) -> Option<f64> {
        match self {
            Customers::Table(t, next) => (*next > 0).then(|| *next as f64 / t.len() as f64),
            Customers::File(r, _) => r.fraction_read(),
        }
    }

    fn source(&self, input: &InputOptions) -> Source {
        match self {
            Customers::Table(t, _) => Source::Table(t.clone()),
            Customers::File(..) => Source::File(Box::new(input.clone())),
        }
    }
}

/// Removes the first `n` customers of a chunk.
fn drop_front(c: &mut pb::SummaryColumns, n: usize) {
    fn cut<T>(v: &mut Vec<T>, n: usize) {
        v.drain(..n.min(v.len()));
    }
    cut(&mut c.customer_id, n);
    cut(&mut c.frequency, n);
    cut(&mut c.recency, n);
    cut(&mut c.age, n);
    cut(&mut c.monetary_value, n);
    cut(&mut c.holdout_frequency, n);
    cut(&mut c.holdout_spend, n);
}

#[derive(Debug, Clone, clap::Args)]
pub struct FitArgs {
    #[command(flatten)]
    pub input: InputOptions,
    /// Model name in the registry.
    #[arg(long)]
    pub name: String,
    /// Calibration end, YYYY-MM-DD (required with a transaction log).
    #[arg(long)]
    pub observation_end: Option<String>,
    /// Transactions after --observation-end up to this day form the holdout.
    #[arg(long)]
    pub holdout_end: Option<String>,
    #[arg(long, default_value = "week")]
    pub time_unit: String,
    /// bgnbd, mbgnbd or pareto-nbd.
    #[arg(long, default_value = "bgnbd")]
    pub model: String,
    /// gamma-gamma or none.
    #[arg(long, default_value = "gamma-gamma")]
    pub spend: String,
    #[arg(long, default_value_t = 0.0)]
    pub penalizer: f64,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

fn params_json(ps: &[pb::Parameter]) -> serde_json::Value {
    ps.iter()
        .map(|p| (p.name.clone(), json!(p.value)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

pub async fn fit(connect: &ConnectOptions, a: &FitArgs) -> Result<(), ClientError> {
    let unit = parse_unit(&a.time_unit)?;
    let kind = match a.model.parse::<custval_model::TransactionModelKind>()? {
        custval_model::TransactionModelKind::BgNbd => pb::TransactionModelKind::BgNbd,
        custval_model::TransactionModelKind::MbgNbd => pb::TransactionModelKind::MbgNbd,
        custval_model::TransactionModelKind::ParetoNbd => pb::TransactionModelKind::ParetoNbd,
    };
    let spend = match a.spend.as_str() {
        "gamma-gamma" | "gg" => pb::SpendModelKind::GammaGamma,
        "none" => pb::SpendModelKind::None,
        other => {
            return Err(ClientError::Invalid(format!(
                "--spend {other:?}: use gamma-gamma or none"
            )));
        }
    };
    let obs = a
        .observation_end
        .as_deref()
        .map(|d| parse_day(d, "--observation-end"))
        .transpose()?;
    let hold = a
        .holdout_end
        .as_deref()
        .map(|d| parse_day(d, "--holdout-end"))
        .transpose()?;
    let mut customers = Customers::open(&a.input, unit, obs, hold)?;
    let spec = pb::FitSpec {
        name: a.name.clone(),
        transaction_model: kind as i32,
        spend_model: spend as i32,
        time_unit: unit_to_proto(unit),
        observation_end: obs.map(timestamp),
        holdout_end: None,
        holdout_duration: customers.holdout_duration().map(|d| pb::Duration {
            value: d,
            unit: unit_to_proto(unit),
        }),
        penalizer: a.penalizer,
        max_iterations: 0,
    };
    let mut chunks = Vec::new();
    while let Some(c) = customers.next_chunk()? {
        chunks.push(pb::FitModelChunk {
            spec: chunks.is_empty().then(|| spec.clone()),
            customers: vec![],
            summary_columns: Some(c),
        });
    }
    let conn = connect.connect().await?;
    let started = Instant::now();
    let model = conn
        .fit_stream(chunks)
        .await?
        .model
        .ok_or_else(|| ClientError::Internal("the server returned no model".into()))?;
    let d = model.diagnostics.clone().unwrap_or_default();
    if a.json {
        let mut v = json!({
            "name": model.name,
            "version": model.version,
            "transaction_model": a.model,
            "params": params_json(&model.params),
            "spend_params": params_json(&model.spend_params),
            "log_likelihood": d.log_likelihood,
            "converged": d.converged,
            "aic": d.aic,
            "bic": d.bic,
            "warnings": d.warnings,
            "time_unit": unit.as_str(),
            "seconds": started.elapsed().as_secs_f64(),
        });
        if let Some(h) = &model.holdout {
            v["holdout"] = json!({
                "actual_total": h.actual_total,
                "predicted_total": h.predicted_total,
                "customers": h.customers,
                "mae": h.mae,
                "rmse": h.rmse,
                "pearson_r": h.pearson_r,
                "auc": h.auc,
                "brier": h.brier,
            });
        }
        println!("{v:#}");
    } else {
        println!(
            "fitted {} version {} ({}, {})",
            model.name,
            model.version,
            a.model,
            unit.as_str()
        );
        for p in model.params.iter().chain(&model.spend_params) {
            let se = p
                .standard_error
                .map_or(String::new(), |s| format!(" ± {s:.4}"));
            println!("  {:<6} {:.6}{se}", p.name, p.value);
        }
        println!(
            "  log-likelihood {:.4}, converged {}, {} iterations",
            d.log_likelihood, d.converged, d.iterations
        );
        for w in &d.warnings {
            println!("  warning: {w}");
        }
        if let Some(h) = &model.holdout {
            println!(
                "  holdout: {:.0} actual vs {:.1} predicted repeat purchases; MAE {:.3}, AUC {}",
                h.actual_total,
                h.predicted_total,
                h.mae,
                h.auc.map_or("-".into(), |a| format!("{a:.3}"))
            );
        }
    }
    Ok(())
}

/// Options shared by score, segment and recommend.
#[derive(Debug, Clone, clap::Args)]
pub struct ScoringArgs {
    #[command(flatten)]
    pub input: InputOptions,
    /// Model name (latest version unless --version).
    #[arg(long = "model")]
    pub model: String,
    #[arg(long, default_value_t = 0)]
    pub version: u64,
    /// Horizon of expected purchases, propensity and CLV, in days.
    #[arg(long, default_value_t = 365.0)]
    pub horizon_days: f64,
    /// Annual discount rate of CLV (e.g. 0.1 for 10% a year).
    #[arg(long, default_value_t = 0.0)]
    pub discount_rate: f64,
    /// Unit of recency and T in a summary file.
    #[arg(long, default_value = "week")]
    pub time_unit: String,
    /// "Now" for a transaction log, YYYY-MM-DD.
    #[arg(long)]
    pub observation_end: Option<String>,
    /// Rows after `observation_end` up to this day are read as a holdout and left out
    /// (the report's log spans calibration and holdout).
    #[arg(skip)]
    pub holdout_end: Option<String>,
}

impl ScoringArgs {
    fn options(&self, unit: TimeUnit) -> pb::ScoreOptions {
        pb::ScoreOptions {
            request_id: format!("custval-cli-{}", std::process::id()),
            model_name: self.model.clone(),
            model_version: self.version,
            horizon: Some(pb::Duration {
                value: self.horizon_days,
                unit: pb::TimeUnit::Day as i32,
            }),
            discount: (self.discount_rate != 0.0).then_some(pb::DiscountRate {
                rate: self.discount_rate,
                period: Some(pb::Duration {
                    value: 1.0,
                    unit: pb::TimeUnit::Year as i32,
                }),
            }),
            time_unit: unit_to_proto(unit),
            observation_end: None,
        }
    }

    /// The model's unit (logs are summarized in it) and the customers.
    async fn customers(
        &self,
        conn: &Connection,
    ) -> Result<(pb::ScoreOptions, Customers), ClientError> {
        let kind = self.input.kind()?;
        let unit = if kind == InputKind::Summaries {
            parse_unit(&self.time_unit)?
        } else {
            let m = conn.get_model(&self.model, self.version).await?;
            crate::report::time_unit_from_proto(m.time_unit).unwrap_or(TimeUnit::Week)
        };
        let obs = self
            .observation_end
            .as_deref()
            .map(|d| parse_day(d, "--observation-end"))
            .transpose()?;
        let hold = self
            .holdout_end
            .as_deref()
            .map(|d| parse_day(d, "--holdout-end"))
            .transpose()?;
        let customers = Customers::open(&self.input, unit, obs, hold)?;
        Ok((self.options(unit), customers))
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub scoring: ScoringArgs,
    /// Output file (`-` for standard output).
    #[arg(long)]
    pub output: PathBuf,
    /// Format of --output (auto: from its name).
    #[arg(
        long = "output-format",
        visible_alias = "format",
        value_enum,
        default_value = "auto"
    )]
    pub format: OutputFormat,
    /// No progress bar (there is none anyway when standard error is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
    #[arg(long)]
    pub json: bool,
}

/// Streams the customers through ScoreStream chunk by chunk: memory holds a few chunks,
/// whatever the file size. A stream cut by a transient failure (a server restart, say)
/// resumes after the last customer written, against the same model version.
pub async fn score(connect: &ConnectOptions, a: &ScoreArgs) -> Result<(), ClientError> {
    let conn = connect.connect().await?;
    let (mut options, customers) = a.scoring.customers(&conn).await?;
    let source = customers.source(&a.scoring.input);
    let mut writer = ScoreWriter::create(&a.output, a.format)?;
    let progress = Progress::customers("scoring", a.no_progress || a.json);
    let policy = *conn.policy();
    let started = Instant::now();
    let mut done = 0u64;
    let mut context: Option<pb::ScoreContext> = None;
    let mut customers = Some(customers);
    let mut failures = 0u32;
    let mut resumed = 0u32;
    loop {
        let input = match customers.take() {
            Some(c) => c,
            None => source.open_at(done)?,
        };
        let left = policy.deadline.map(|d| d.saturating_sub(started.elapsed()));
        let before = done;
        let pass = StreamPass {
            conn: &conn,
            options: &options,
            left,
            deadline: policy.deadline,
            progress: &progress,
        };
        let status = match pass.run(input, &mut writer, &mut done, &mut context).await {
            Ok(()) => break,
            Err(StreamFailure::Client(e)) => {
                progress.finish();
                return Err(e);
            }
            Err(StreamFailure::Server(status)) => policy.settle(status, started),
        };
        // Count failures in a row: a long job may survive several restarts.
        failures = if done > before { 1 } else { failures + 1 };
        let left = policy.deadline.map(|d| d.saturating_sub(started.elapsed()));
        let Some(delay) = policy
            .retry_after(&status, Retry::Idempotent, failures)
            .filter(|d| left.is_none_or(|l| *d < l))
        else {
            progress.finish();
            return Err(ClientError::call("score", &status));
        };
        // The rest must be scored by the model version the first part was.
        if let Some(ctx) = &context {
            options.model_version = ctx.model_version;
        }
        resumed += 1;
        progress.suspend(|| {
            eprintln!(
                "custval: score: {} ({}); resuming after {done} customers in {} ms \
                 (retry {failures} of {})",
                crate::error::code_name(status.code()),
                status.message(),
                delay.as_millis(),
                policy.retries
            );
        });
        tokio::time::sleep(delay).await;
    }
    progress.finish();
    writer.finish()?;
    let seconds = started.elapsed().as_secs_f64();
    let ctx = context.unwrap_or_default();
    if a.json {
        println!(
            "{:#}",
            json!({"model": ctx.model_name, "version": ctx.model_version, "customers": done,
                   "seconds": seconds, "resumed": resumed, "output": a.output})
        );
    } else {
        let resumed = if resumed > 0 {
            format!(", resumed {resumed} times")
        } else {
            String::new()
        };
        eprintln!(
            "scored {done} customers with {} v{} in {seconds:.2} s ({:.0}/s{resumed}) -> {}",
            ctx.model_name,
            ctx.model_version,
            done as f64 / seconds.max(1e-9),
            a.output.display()
        );
    }
    Ok(())
}

/// Why one pass of ScoreStream stopped early.
enum StreamFailure {
    /// The server or the connection: maybe transient.
    Server(tonic::Status),
    /// The input or output file: final.
    Client(ClientError),
}

/// One ScoreStream call over the customers from some row on.
struct StreamPass<'a> {
    conn: &'a Connection,
    options: &'a pb::ScoreOptions,
    /// Of the command's deadline, what is left.
    left: Option<Duration>,
    deadline: Option<Duration>,
    progress: &'a Progress,
}

impl StreamPass<'_> {
    /// Streams `customers` and writes their scores, counting them in `done`; the file is
    /// read on the blocking pool while the server scores earlier chunks.
    async fn run(
        &self,
        mut customers: Customers,
        writer: &mut ScoreWriter,
        done: &mut u64,
        context: &mut Option<pb::ScoreContext>,
    ) -> Result<(), StreamFailure> {
        let (tx, rx) = tokio::sync::mpsc::channel::<pb::ScoreStreamRequest>(2);
        let read = Arc::new(AtomicU64::new(*done));
        let estimate = Arc::new(AtomicU64::new(0));
        let (read_in, estimate_in) = (read.clone(), estimate.clone());
        let options = self.options.clone();
        let reader = tokio::task::spawn_blocking(move || -> Result<(), ClientError> {
            let mut first = true;
            while let Some(c) = customers.next_chunk()? {
                let n = c.customer_id.len() as u64;
                let so_far = read_in.fetch_add(n, Ordering::Relaxed) + n;
                if let Some(total) = customers
                    .fraction_read()
                    .and_then(|f| estimate_total(so_far, f))
                {
                    estimate_in.store(total, Ordering::Relaxed);
                }
                let request = pb::ScoreStreamRequest {
                    options: first.then(|| options.clone()),
                    customers: vec![],
                    summary_columns: Some(c),
                };
                first = false;
                if tx.blocking_send(request).is_err() {
                    break; // the call ended: its outcome says why
                }
            }
            Ok(())
        });
        let stream = async {
            let mut responses = self
                .conn
                .scoring()
                .score_stream(request(
                    tokio_stream::wrappers::ReceiverStream::new(rx),
                    self.left,
                ))
                .await
                .map_err(StreamFailure::Server)?
                .into_inner();
            while let Some(r) = responses.message().await.map_err(StreamFailure::Server)? {
                if r.context.is_some() {
                    *context = r.context;
                }
                if let Some(s) = &r.scores {
                    writer.write(s).map_err(StreamFailure::Client)?;
                    let n = s.customer_id.len() as u64;
                    *done += n;
                    self.progress
                        .set_total(estimate.load(Ordering::Relaxed).max(*done));
                    self.progress.advance(n);
                }
            }
            Ok(())
        };
        let outcome = match self.left {
            Some(left) => tokio::time::timeout(left + DEADLINE_GRACE, stream)
                .await
                .unwrap_or_else(|_| {
                    Err(StreamFailure::Server(deadline_exceeded(
                        self.deadline.unwrap_or(left),
                    )))
                }),
            None => stream.await,
        };
        // After a failure the reader stops at its next send; it is not waited for.
        outcome?;
        reader
            .await
            .map_err(|e| StreamFailure::Client(ClientError::Internal(e.to_string())))?
            .map_err(StreamFailure::Client)
    }
}

/// All customers of the input in one message (segment and recommend need the whole set).
async fn whole(
    a: &ScoringArgs,
    conn: &Connection,
) -> Result<(pb::ScoreOptions, pb::SummaryColumns), ClientError> {
    let (options, mut customers) = a.customers(conn).await?;
    let mut all = pb::SummaryColumns::default();
    while let Some(c) = customers.next_chunk()? {
        all.customer_id.extend(c.customer_id);
        all.frequency.extend(c.frequency);
        all.recency.extend(c.recency);
        all.age.extend(c.age);
        all.monetary_value.extend(c.monetary_value);
    }
    Ok((options, all))
}

#[derive(Debug, Clone, clap::Args)]
pub struct SegmentArgs {
    #[command(flatten)]
    pub scoring: ScoringArgs,
    /// Segments; 0 = choose by silhouette.
    #[arg(long, default_value_t = 0)]
    pub k: u32,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Keep the segmentation with the model, so later scores carry segment, tier, action.
    #[arg(long)]
    pub store: bool,
    /// Per-customer segments as CSV.
    #[arg(long)]
    pub output: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub async fn segment(connect: &ConnectOptions, a: &SegmentArgs) -> Result<(), ClientError> {
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
        println!(
            "{:#}",
            json!({"segments": segments, "tiers": tiers, "concentration": top, "stored": r.stored})
        );
    } else {
        println!("{} segments ({}):", r.segments.len(), r.value_measure);
        for s in &r.segments {
            println!(
                "  {:<2} {:<20} {:>6.1}% of customers {:>6.1}% of value",
                s.index,
                s.name,
                100.0 * s.customer_share,
                100.0 * s.value_share
            );
        }
        for t in &r.tiers {
            println!(
                "  tier {:<10} {:>8} customers {:>6.1}% of value",
                t.name,
                t.customers,
                100.0 * t.value_share
            );
        }
        if r.stored {
            println!("stored with the model: later scores carry segment, tier and action");
        }
    }
    Ok(())
}

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
    #[arg(long)]
    pub json: bool,
}

pub async fn recommend(connect: &ConnectOptions, a: &RecommendArgs) -> Result<(), ClientError> {
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
        println!("{:#}", json!({"actions": actions, "plan": plan}));
    } else {
        for x in &r.by_action {
            println!(
                "  {:<13} {:>8} customers  cost {:>12.2}  incremental value {:>12.2}",
                x.action, x.customers, x.total_cost, x.total_incremental_value
            );
        }
        if let Some(p) = &r.plan {
            println!(
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
    /// Delete one version, or all versions without --version.
    Delete {
        name: String,
        #[arg(long, default_value_t = 0)]
        version: u64,
    },
}

pub async fn models(connect: &ConnectOptions, cmd: &ModelsCommand) -> Result<(), ClientError> {
    let conn = connect.connect().await?;
    match cmd {
        ModelsCommand::List { json: as_json } => {
            let list = conn.list_models().await?;
            if *as_json {
                let v: Vec<_> = list
                    .iter()
                    .map(|x| {
                        json!({"name": x.name, "version": x.version, "customers": x.customers,
                                    "log_likelihood": x.log_likelihood,
                                    "created_at": x.created_at.as_ref().map(|t| t.seconds)})
                    })
                    .collect();
                println!("{:#}", json!(v));
            } else {
                for x in &list {
                    println!(
                        "{:<24} v{:<4} {:>9} customers  LL {:.2}",
                        x.name, x.version, x.customers, x.log_likelihood
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
                println!(
                    "{:#}",
                    json!({"name": model.name, "version": model.version,
                           "params": params_json(&model.params), "spend_params": params_json(&model.spend_params),
                           "log_likelihood": d.log_likelihood, "converged": d.converged,
                           "customers": t.customers, "fingerprint": t.fingerprint, "input_kind": t.input_kind,
                           "holdout": model.holdout.as_ref().map(|h| json!({"actual_total": h.actual_total, "predicted_total": h.predicted_total}))})
                );
            } else {
                println!(
                    "{} v{}: {} customers ({}), fingerprint {}",
                    model.name, model.version, t.customers, t.input_kind, t.fingerprint
                );
                for p in model.params.iter().chain(&model.spend_params) {
                    println!("  {:<6} {:.6}", p.name, p.value);
                }
                println!(
                    "  log-likelihood {:.4}, converged {}",
                    d.log_likelihood, d.converged
                );
            }
        }
        ModelsCommand::Delete { name, version } => {
            let r = conn.delete_model(name, *version).await?;
            println!("deleted {name} versions {:?}", r.deleted_versions);
        }
    }
    Ok(())
}

/// `custval health`: SERVING or not, exit code to match.
pub async fn health(connect: &ConnectOptions) -> Result<(), ClientError> {
    let conn = connect.connect().await?;
    let status = conn.health().await?.as_str_name();
    println!("{} {status}", conn.url());
    if status == "SERVING" {
        Ok(())
    } else {
        Err(ClientError::Rpc {
            what: "health check".into(),
            code: tonic::Code::Unavailable,
            message: status.into(),
        })
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct SummarizeArgs {
    #[command(flatten)]
    pub input: InputOptions,
    #[arg(long)]
    pub observation_end: String,
    /// With a holdout: calibration end, YYYY-MM-DD (--observation-end is then the holdout end).
    #[arg(long)]
    pub calibration_end: Option<String>,
    #[arg(long, default_value = "week")]
    pub time_unit: String,
    /// CSV, JSON Lines or Parquet (by --output-format or the name; `.gz` compresses text).
    #[arg(long)]
    pub output: PathBuf,
    #[arg(long, value_enum, default_value = "auto")]
    pub output_format: OutputFormat,
}

/// `custval summarize`: a transaction log to lifetimes-style summaries, locally.
pub fn summarize(a: &SummarizeArgs) -> Result<(), ClientError> {
    let unit = parse_unit(&a.time_unit)?;
    let end = parse_day(&a.observation_end, "--observation-end")?;
    let cal = a
        .calibration_end
        .as_deref()
        .map(|d| parse_day(d, "--calibration-end"))
        .transpose()?;
    let started = Instant::now();
    let out = a.input.summarize(unit, end, cal)?;
    files::write_summaries(&a.output, a.output_format, &out.table)?;
    eprintln!(
        "summarized {} rows into {} customers in {:.2} s ({} skipped) -> {}",
        out.stats.rows_read,
        out.stats.customers,
        started.elapsed().as_secs_f64(),
        out.stats.rows_skipped,
        a.output.display()
    );
    Ok(())
}

#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    #[arg(long, default_value_t = 10_000)]
    pub customers: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Weeks of observation; births spread over the first half.
    #[arg(long, default_value_t = 52.0)]
    pub weeks: f64,
    /// Write a transaction log (customer_id,date,amount from 2024-01-01) instead of summaries.
    #[arg(long)]
    pub transactions: bool,
    #[arg(long)]
    pub output: PathBuf,
}

/// `custval simulate`: CDNOW-like BG/NBD customers with Gamma-Gamma spend, locally.
pub fn simulate(a: &SimulateArgs) -> Result<(), ClientError> {
    use custval_model::simulate::{SimulationSpec, simulate_summaries, simulate_transactions};
    let spec = SimulationSpec::cdnow_like(a.customers, a.seed, a.weeks);
    if a.transactions {
        use std::io::Write;
        let mut out = crate::gzip::Sink::create(&a.output)?;
        let start = Day::from_ymd(2024, 1, 1).unwrap_or(Day(19_723));
        let mut failed = None;
        writeln!(out, "customer_id,date,amount").map_err(|e| ClientError::file(&a.output, e))?;
        simulate_transactions(&spec, |t| {
            let day = Day(start.0 + (t.time * 7.0).floor() as i32);
            if let Err(e) = writeln!(out, "c{},{day},{:.2}", t.customer, t.amount)
                && failed.is_none()
            {
                failed = Some(e);
            }
        })?;
        if let Some(e) = failed {
            return Err(ClientError::file(&a.output, e));
        }
        out.finish().map_err(|e| ClientError::file(&a.output, e))?;
        eprintln!(
            "simulated {} customers' transactions -> {} (observation end {})",
            a.customers,
            a.output.display(),
            Day(start.0 + (a.weeks * 7.0) as i32)
        );
    } else {
        let t = simulate_summaries(&spec)?.table;
        files::write_summaries(&a.output, OutputFormat::Auto, &t)?;
        eprintln!(
            "simulated {} customers (weeks) -> {}",
            a.customers,
            a.output.display()
        );
    }
    Ok(())
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Model name (latest version unless --version).
    #[arg(long = "model")]
    pub model: String,
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
    /// Budget of the recommended plan.
    #[arg(long, default_value_t = 1000.0)]
    pub budget: f64,
    #[arg(long, default_value_t = 365.0)]
    pub horizon_days: f64,
    /// Unit of recency and T in a summary file.
    #[arg(long, default_value = "week")]
    pub time_unit: String,
}

/// `custval report`: one self-contained HTML page with the model's pictures.
pub async fn report(connect: &ConnectOptions, a: &ReportArgs) -> Result<(), ClientError> {
    use crate::report::{self, PAliveMatrix, ReportData};
    use custval_model::tracking::{Calendar, track_transactions};
    let conn = connect.connect().await?;
    let model = conn.get_model(&a.model, a.version).await?;
    let metadata = conn.model_metadata(&a.model, a.version).await?;
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
            model: a.model.clone(),
            version: model.version,
            horizon_days: a.horizon_days,
            discount_rate: 0.0,
            time_unit: a.time_unit.clone(),
            observation_end: a.observation_end.clone(),
            holdout_end: a.holdout_end.clone(),
        };
        let (options, columns) = whole(&scoring, &conn).await?;
        let input_unit = if input.kind()? == InputKind::Summaries {
            parse_unit(&a.time_unit)?
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
                let start = rows.iter().map(|r| r.1).min().unwrap_or(cal_end);
                let tm =
                    report::transaction_model_from_proto(&model).map_err(ClientError::Invalid)?;
                Calendar::weekly(start, last.unwrap_or(cal_end), last.map(|_| cal_end))
                    .and_then(|c| track_transactions(&tm, unit, &c, rows))
                    .map_err(|e| e.to_string())
            }
        };
    }
    data.p_alive = Ok(PAliveMatrix::at_age(age));
    data.model = Ok(model);
    data.metadata = Ok(metadata);
    let html = report::render(&data);
    std::fs::write(&a.output, html).map_err(|e| ClientError::file(&a.output, e))?;
    eprintln!("wrote {}", a.output.display());
    Ok(())
}
