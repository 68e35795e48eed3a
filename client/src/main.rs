//! `custval`: command-line client of the custval service.
//!
//! This first cut offers the local commands that need no server; the service commands
//! (fit, score, models, bench, ...) arrive with the CLI issue.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "custval", version, about = "custval customer-value models")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the model crate's supported models and units as JSON.
    Info,
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Info => {
            let info = serde_json::json!({
                "models": ["bgnbd", "mbgnbd", "pareto-nbd"],
                "spend_models": ["gamma-gamma"],
                "time_units": custval_model::TimeUnit::ALL.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
            });
            println!("{info:#}");
        }
    }
}
