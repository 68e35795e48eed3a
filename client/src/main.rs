//! `custval`: command-line client of the custval service.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use custval_client::bench::{self, BenchOptions};
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
        Command::Bench(opts) => run_bench(&cli.connect, opts),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("custval: error: {e}");
            ExitCode::FAILURE
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

fn run_bench(connect: &ConnectOptions, opts: &BenchOptions) -> Result<(), ClientError> {
    let report = runtime(opts.threads)?.block_on(bench::run(connect, opts))?;
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
    Ok(())
}
