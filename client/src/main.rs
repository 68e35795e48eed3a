//! `custval`: command-line client of the custval service.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use custval_client::bench::{self, BenchOptions};
use custval_client::commands;
use custval_client::{ClientError, ConnectOptions};

#[derive(Debug, Parser)]
#[command(name = "custval", version, about = "custval customer-value models")]
struct Cli {
    #[command(flatten)]
    connect: ConnectOptions,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the model crate's supported models and units as JSON.
    Info,
    /// Ask the server whether it is SERVING.
    Health,
    /// Fit a model on a transaction log or summaries and store it under --name.
    Fit(Box<commands::FitArgs>),
    /// Score a file of customers against a stored model (streams large files).
    Score(Box<commands::ScoreArgs>),
    /// Segment customers (k-means, RFM quintiles, value tiers, concentration).
    Segment(Box<commands::SegmentArgs>),
    /// One action per customer, and a budget plan with --budget.
    Recommend(Box<commands::RecommendArgs>),
    /// List, show or delete stored models.
    #[command(subcommand)]
    Models(commands::ModelsCommand),
    /// Write a self-contained HTML report of a model (charts as inline SVG).
    Report(Box<commands::ReportArgs>),
    /// Summarize a transaction log into lifetimes-style summaries (local, no server).
    Summarize(Box<commands::SummarizeArgs>),
    /// Write simulated customers (local, no server).
    Simulate(Box<commands::SimulateArgs>),
    /// Load-test a server: requests/s, customers/s and latency percentiles per
    /// concurrency level.
    Bench(Box<BenchOptions>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Info => {
            info();
            Ok(())
        }
        // Interrupted by Ctrl-C: the partial report is printed; exit as a SIGINT would.
        Command::Bench(opts) => match run_bench(&cli.connect, opts) {
            Ok(true) => return ExitCode::from(130),
            other => other.map(|_| ()),
        },
        Command::Summarize(a) => commands::summarize(a),
        Command::Simulate(a) => commands::simulate(a),
        other => runtime(None).and_then(|rt| {
            rt.block_on(async {
                match other {
                    Command::Health => commands::health(&cli.connect).await,
                    Command::Fit(a) => commands::fit(&cli.connect, a).await,
                    Command::Score(a) => commands::score(&cli.connect, a).await,
                    Command::Segment(a) => commands::segment(&cli.connect, a).await,
                    Command::Recommend(a) => commands::recommend(&cli.connect, a).await,
                    Command::Models(m) => commands::models(&cli.connect, m).await,
                    Command::Report(a) => commands::report(&cli.connect, a).await,
                    _ => Ok(()),
                }
            })
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("custval: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn info() {
    let info = serde_json::json!({
        "models": ["bgnbd", "mbgnbd", "pareto-nbd"],
        "spend_models": ["gamma-gamma"],
        "time_units": custval_model::TimeUnit::ALL.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
    });
    println!("{info:#}");
}

fn runtime(threads: Option<usize>) -> Result<tokio::runtime::Runtime, ClientError> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        builder.worker_threads(n);
    }
    builder
        .enable_all()
        .build()
        .map_err(|e| ClientError::Internal(format!("cannot start the runtime: {e}")))
}

/// Runs the bench and prints its report; whether Ctrl-C cut it short.
fn run_bench(connect: &ConnectOptions, opts: &BenchOptions) -> Result<bool, ClientError> {
    let report = runtime(opts.runtime_threads())?.block_on(bench::run(connect, opts))?;
    if let Some(path) = &opts.intervals_csv {
        bench::write_intervals_csv(&report, path)?;
    }
    if opts.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| ClientError::Internal(format!("report as JSON: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", bench::render_table(&report));
    }
    Ok(report.interrupted)
}
