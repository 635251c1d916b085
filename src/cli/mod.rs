//! Command-line parsing: one file per subcommand.

mod collisions;
mod decode;
mod encode;
mod run_args;
mod verify;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Exact fixed-point SGD that rewinds itself bit for bit.
#[derive(Debug, Parser)]
#[command(name = "rewind", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run SGD on the grid, invert every step, reconstruct W₁,₁ bit for bit and report.
    Verify(verify::Args),
    /// Scan a window of a two-parameter model's grid for steps that merge points; draw an SVG.
    Collisions(collisions::Args),
    /// Run SGD and write its randomness as a code file (Lemma 3.1) beside the final model.
    Encode(encode::Args),
    /// Reconstruct every permutation, batch and model from a code file and the final model.
    Decode(decode::Args),
}

/// Parses the command line and runs the chosen subcommand.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return Ok(clap_exit(e)),
    };
    match cli.command {
        Command::Verify(args) => verify::run(args),
        Command::Collisions(args) => collisions::run(args),
        Command::Encode(args) => encode::run(args),
        Command::Decode(args) => decode::run(args),
    }
}

/// Help and version go to stdout with success; a usage error becomes one line on stderr.
fn clap_exit(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("{} (see rewind --help)", first.trim());
            ExitCode::from(2)
        }
    }
}
