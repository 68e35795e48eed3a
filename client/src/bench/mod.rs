//! `custval bench`: a gRPC load generator for custval.v1, in the spirit of ghz and
//! Triton's perf_analyzer.
//!
//! * Every request is built and encoded before the timed region (simulated customers as
//!   [`pb::SummaryColumns`]); a call sends the prebuilt bytes, so the numbers are the
//!   server's and the transport's, not data generation's.
//! * Closed loop (default): `concurrency` workers each send a request, wait for its reply,
//!   and send the next. One result row per concurrency level of the sweep.
//! * Open loop (`--rate R`): requests are sent on a fixed schedule whatever the replies
//!   do, with at most `concurrency` in flight; latency counts from the *scheduled* send
//!   time, so a stalled server shows up in the percentiles (no coordinated omission).
//! * Latency of successful calls goes into an HDR histogram; failures are counted by gRPC
//!   status code and kept out of the histogram (a server that sheds load fast would
//!   otherwise look fast).
//!
//! A "request" is one call: a unary Score of `batch_size` customers, a whole ScoreStream
//! of `stream_customers` customers in chunks of `batch_size`, one FitModel of
//! `batch_size` customers, or one Segment of `batch_size` customers (not stored).
//!
//! * `options`: what to send and how (`custval bench`'s arguments);
//! * `workload`: the prebuilt requests and one call;
//! * `load`: load generation (closed loop, open loop on a schedule, rate sweeps, Ctrl-C);
//! * `record`: what one level measured (HDR histograms, per-second intervals);
//! * `report`: the report, as a table, JSON or intervals CSV.

mod load;
mod options;
mod record;
mod report;
mod workload;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};

use custval_proto::v1 as pb;

use self::load::{run_level, stop_on_ctrl_c};
use self::workload::Workload;
use crate::connect::{ConnectOptions, Connection};
use crate::error::ClientError;

pub use self::options::{BenchOptions, DEFAULT_CONCURRENCY, DEFAULT_OPEN_LOOP_IN_FLIGHT, Rpc};
pub use self::record::{INVALID_RESPONSE, Outcome};
pub use self::report::{
    BenchReport, Interval, Latency, LevelReport, intervals_csv, render_table, write_intervals_csv,
};
pub use self::workload::{fit_spec, score_options, simulated_customers};

/// Customers of the model fitted when `--model` does not exist yet.
pub const SETUP_FIT_CUSTOMERS: usize = 50_000;

/// Makes sure `--model` exists (fitting it on simulated customers if not); its version.
async fn ensure_model(conn: &Connection, opts: &BenchOptions) -> Result<u64, ClientError> {
    match conn.get_model(&opts.name, 0).await {
        Ok(m) => Ok(m.version),
        Err(ClientError::Rpc {
            code: tonic::Code::NotFound,
            ..
        }) => {
            opts.note(format_args!(
                "model {:?} not found: fitting BG/NBD + Gamma-Gamma on {SETUP_FIT_CUSTOMERS} simulated customers",
                opts.name
            ));
            let seed = opts.seed;
            let table =
                tokio::task::spawn_blocking(move || simulated_customers(SETUP_FIT_CUSTOMERS, seed))
                    .await
                    .map_err(|e| ClientError::Internal(format!("simulation: {e}")))??;
            let request = pb::FitModelRequest {
                spec: Some(fit_spec(&opts.name)),
                customers: Vec::new(),
                summary_columns: Some(crate::files::table_columns(&table, 0..table.ids.len())),
            };
            let fitted = conn
                .models()
                .fit_model(request)
                .await
                .map_err(|s| ClientError::rpc(format!("fitting model {:?}", opts.name), &s))?;
            fitted
                .into_inner()
                .model
                .map(|m| m.version)
                .ok_or_else(|| ClientError::Invalid("FitModel returned no model".into()))
        }
        Err(e) => Err(e),
    }
}

/// Runs the bench against the server `connect` points at.
pub async fn run(
    connect: &ConnectOptions,
    opts: &BenchOptions,
) -> Result<BenchReport, ClientError> {
    opts.check()?;
    // From the start: a Ctrl-C during the set-up ends the bench with an empty report.
    let interrupted = Arc::new(AtomicBool::new(false));
    let ctrl_c = stop_on_ctrl_c(interrupted.clone(), opts);
    let connections = connect.connect_many(opts.connections).await?;
    let first = connections
        .first()
        .ok_or_else(|| ClientError::Invalid("no connection".into()))?;
    let model_version = match opts.rpc {
        Rpc::Fit => None,
        Rpc::Score | Rpc::ScoreStream | Rpc::Segment => Some(ensure_model(first, opts).await?),
    };

    opts.note(format_args!("preparing {} requests", opts.rpc.method()));
    let o = opts.clone();
    let workload = tokio::task::spawn_blocking(move || Workload::build(&o))
        .await
        .map_err(|e| ClientError::Internal(format!("building requests: {e}")))??;
    let workload = Arc::new(workload);

    let mut levels = Vec::new();
    for (rate, concurrency) in opts.sweep() {
        let what = match opts.requests {
            Some(n) => format!("{n} requests"),
            None => format!("{:?}", opts.duration),
        };
        let level = match rate {
            Some(r) => format!("rate {r}/s, in-flight cap {concurrency}"),
            None => format!("concurrency {concurrency}"),
        };
        opts.note(format_args!(
            "{level}: warm-up {:?}, then {what}",
            opts.warmup,
        ));
        let report = run_level(
            &connections,
            &workload,
            opts,
            (rate, concurrency),
            &interrupted,
        );
        let report = report.await?;
        if interrupted.load(Ordering::Relaxed) {
            if report.requests > 0 {
                levels.push(report);
            }
            break;
        }
        levels.push(report);
    }
    ctrl_c.abort();

    if opts.rpc == Rpc::Fit && !opts.keep_fits {
        let versions = std::mem::take(
            &mut *workload
                .fitted
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        delete_versions(first, &opts.fit_name, &versions, opts).await;
    }

    Ok(BenchReport {
        server: first.url().to_owned(),
        rpc: opts.rpc,
        method: opts.rpc.method().to_owned(),
        model: if opts.rpc == Rpc::Fit {
            opts.fit_name.clone()
        } else {
            opts.name.clone()
        },
        model_version,
        mode: if opts.open_loop() {
            "open-loop"
        } else {
            "closed-loop"
        }
        .into(),
        rates: opts.rate.clone(),
        batch_size: opts.batch(),
        customers_per_request: workload.customers_per_request,
        chunks_per_stream: workload.chunks_per_stream(),
        connections: opts.connections,
        warmup_s: opts.warmup.as_secs_f64(),
        duration_s: opts
            .requests
            .is_none()
            .then_some(opts.duration.as_secs_f64()),
        requests_per_level: opts.requests,
        interrupted: interrupted.load(Ordering::Relaxed),
        levels,
    })
}

async fn delete_versions(conn: &Connection, name: &str, versions: &[u64], opts: &BenchOptions) {
    let mut failed = 0usize;
    for &version in versions {
        if conn.delete_model(name, version).await.is_err() {
            failed += 1;
        }
    }
    if failed > 0 {
        opts.note(format_args!(
            "could not delete {failed} of the {} versions of {name:?} the fit bench created",
            versions.len()
        ));
    }
}
