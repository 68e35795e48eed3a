//! `custval score`: scores a customer file against a stored model through ScoreStream,
//! resuming a cut stream where it stopped.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use custval_proto::v1 as pb;
use serde_json::json;

use super::scoring::{Customers, ScoringArgs};
use crate::call::{DEADLINE_GRACE, Retry, deadline_exceeded, request};
use crate::connect::{ConnectOptions, Connection};
use crate::error::ClientError;
use crate::files::{OutputFormat, ScoreWriter};
use crate::progress::{Progress, estimate_total};

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
    /// Print the outcome as JSON instead of a line on standard error: `{"model",
    /// "version", "customers", "seconds", "read_seconds", "customers_per_second",
    /// "resumed", "output"}`.
    #[arg(long)]
    pub json: bool,
}

/// Streams the customers through ScoreStream chunk by chunk: memory holds a few chunks,
/// whatever the file size. A stream cut by a transient failure (a server restart, say)
/// resumes after the last customer written, against the same model version.
pub async fn exec(connect: &ConnectOptions, a: &ScoreArgs) -> Result<(), ClientError> {
    // The reported time and rate count reading the input too: a transaction log is
    // summarized whole before the first customer is sent.
    let begun = Instant::now();
    let conn = connect.connect().await?;
    let (mut options, customers) = a.scoring.customers(&conn).await?;
    let read_seconds = begun.elapsed().as_secs_f64();
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
    let seconds = begun.elapsed().as_secs_f64();
    let rate = done as f64 / seconds.max(1e-9);
    let ctx = context.unwrap_or_default();
    if a.json {
        crate::outln!(
            "{:#}",
            json!({"model": ctx.model_name, "version": ctx.model_version, "customers": done,
                   "seconds": seconds, "read_seconds": read_seconds,
                   "customers_per_second": rate, "resumed": resumed, "output": a.output})
        );
    } else {
        let resumed = if resumed > 0 {
            format!(", resumed {resumed} times")
        } else {
            String::new()
        };
        let reading = if read_seconds >= 0.01 {
            format!(", {read_seconds:.2} s of it reading the input before streaming")
        } else {
            String::new()
        };
        eprintln!(
            "scored {done} customers with {} v{} in {seconds:.2} s ({rate:.0}/s{reading}{resumed}) \
             -> {}",
            ctx.model_name,
            ctx.model_version,
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
