//! The `custval` commands, one file each as in cargo (`src/bin/cargo/commands/`): a
//! command's clap arguments beside its `exec`, the heavy work in the library modules
//! ([`crate::files`], [`crate::report`], [`crate::bench`]). Here: the list of commands,
//! the dispatch, and the small parsers and conversions several commands share.

pub mod backtest;
pub mod bench;
mod feed;
pub mod fit;
pub mod health;
mod holdout;
pub mod info;
mod model_view;
pub mod models;
pub mod recommend;
pub mod report;
pub mod score;
pub mod scoring;
pub mod segment;
pub mod simulate;
pub mod summarize;

use std::process::ExitCode;

use custval_model::TimeUnit;
use custval_model::data::summary::Day;
use custval_proto::v1 as pb;
use serde_json::json;

use crate::bench::BenchOptions;
use crate::connect::ConnectOptions;
use crate::error::ClientError;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the model crate's supported models and units as JSON.
    Info,
    /// Ask the server whether it is SERVING.
    Health(health::HealthArgs),
    /// Fit a model (--family, default auto) on a transaction log or summaries and store it
    /// under --name.
    Fit(Box<fit::FitArgs>),
    /// Backtest every family on a transaction log: fit at several calibration ends, judge
    /// each on the holdout after it beside naive baselines; --name stores the winner.
    Backtest(Box<backtest::BacktestArgs>),
    /// Score a file of customers against a stored model (streams large files).
    Score(Box<score::ScoreArgs>),
    /// Segment customers (k-means, RFM quintiles, value tiers, concentration).
    Segment(Box<segment::SegmentArgs>),
    /// One action per customer, and a budget plan with --budget.
    Recommend(Box<recommend::RecommendArgs>),
    /// List, show or delete stored models.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Write a self-contained HTML report of a model (charts as inline SVG).
    Report(Box<report::ReportArgs>),
    /// Summarize a transaction log into lifetimes-style summaries (local, no server).
    Summarize(Box<summarize::SummarizeArgs>),
    /// Write simulated customers (local, no server).
    Simulate(Box<simulate::SimulateArgs>),
    /// Load-test a server: requests/s, customers/s and latency percentiles per
    /// concurrency level.
    Bench(Box<BenchOptions>),
}

/// Runs `command`; the exit code of a command that did not fail (a bench cut short by
/// Ctrl-C exits as a SIGINT would, after its partial report).
pub fn exec(connect: &ConnectOptions, command: &Command) -> Result<ExitCode, ClientError> {
    match command {
        Command::Info => info::exec(),
        Command::Bench(opts) => {
            if bench::exec(connect, opts)? {
                return Ok(ExitCode::from(130));
            }
        }
        Command::Summarize(a) => summarize::exec(a)?,
        Command::Simulate(a) => simulate::exec(a)?,
        other => runtime(None)?.block_on(async {
            match other {
                Command::Health(a) => health::exec(connect, a).await,
                Command::Fit(a) => fit::exec(connect, a).await,
                Command::Backtest(a) => backtest::exec(connect, a).await,
                Command::Score(a) => score::exec(connect, a).await,
                Command::Segment(a) => segment::exec(connect, a).await,
                Command::Recommend(a) => recommend::exec(connect, a).await,
                Command::Models(m) => models::exec(connect, m).await,
                Command::Report(a) => report::exec(connect, a).await,
                _ => Ok(()),
            }
        })?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A tokio runtime for one command (`threads`: worker threads, else one per CPU).
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

/// `--time-unit`: the model crate's units, singular or plural.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TimeUnitArg {
    #[value(alias = "days")]
    Day,
    #[value(alias = "weeks")]
    Week,
    #[value(alias = "months")]
    Month,
    #[value(alias = "years")]
    Year,
}

impl TimeUnitArg {
    pub fn unit(self) -> TimeUnit {
        match self {
            TimeUnitArg::Day => TimeUnit::Day,
            TimeUnitArg::Week => TimeUnit::Week,
            TimeUnitArg::Month => TimeUnit::Month,
            TimeUnitArg::Year => TimeUnit::Year,
        }
    }
}

fn parse_day(text: &str, flag: &str) -> Result<Day, ClientError> {
    custval_model::data::summary::parse_day(
        text.as_bytes(),
        custval_model::data::summary::DateFormat::Auto,
    )
    .ok_or_else(|| ClientError::Invalid(format!("{flag} {text:?}: use YYYY-MM-DD")))
}

/// A unit as the wire's enum value.
fn unit_to_proto(u: TimeUnit) -> i32 {
    custval_wire::units::time_unit_to_proto(u) as i32
}

fn params_json(ps: &[pb::Parameter]) -> serde_json::Value {
    ps.iter()
        .map(|p| (p.name.clone(), json!(p.value)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every option and argument of every command says what it is in `--help`: the new
    /// user's first documentation.
    #[test]
    fn every_option_has_help_text() {
        use clap::{Args, Subcommand};
        let cli = Command::augment_subcommands(ConnectOptions::augment_args(clap::Command::new(
            "custval",
        )));
        let mut missing = Vec::new();
        let mut stack = vec![(String::from("custval"), cli)];
        while let Some((path, cmd)) = stack.pop() {
            if cmd.get_about().is_none() && path != "custval" {
                missing.push(path.clone());
            }
            for arg in cmd.get_arguments() {
                // clap's own --help; a model's --version is ours and needs text.
                let builtin = matches!(
                    arg.get_action(),
                    clap::ArgAction::Help
                        | clap::ArgAction::HelpShort
                        | clap::ArgAction::HelpLong
                        | clap::ArgAction::Version
                );
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                stack.push((format!("{path} {}", sub.get_name()), sub.clone()));
            }
        }
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}
