//! `custval`: command-line client of the custval service. The commands live in
//! [`custval_client::commands`]; here only the global options and the exit code.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use custval_client::ConnectOptions;
use custval_client::commands::{self, Command};

#[derive(Debug, Parser)]
#[command(name = "custval", version, about = "custval customer-value models")]
struct Cli {
    #[command(flatten)]
    connect: ConnectOptions,

    #[command(subcommand)]
    command: Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::exec(&cli.connect, &cli.command) {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => {
            ExitCode::from(custval_client::output::BROKEN_PIPE_STATUS as u8)
        }
        Err(e) => {
            eprintln!("custval: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
