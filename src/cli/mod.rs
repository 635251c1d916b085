//! Command-line parsing: one file per subcommand.

mod claims;
mod collisions;
mod decode;
mod demo;
mod encode;
mod figures;
mod progress;
mod run_args;
mod sweep;
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
    /// Run the product of a plan's axes in parallel (see plans/); `sweep merge` joins shards.
    Sweep(sweep::Args),
    /// Check the paper's claims on sweep results and print verdicts with numbers.
    Claims(claims::Args),
    /// Draw the paper's figures (and the code-length and many-to-one figures) from sweep results.
    Figures(figures::Args),
    /// Teach one step's inversion on a coarse two-parameter grid, with a picture.
    Demo(demo::Args),
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
        Command::Sweep(args) => sweep::run(args),
        Command::Claims(args) => claims::run(args),
        Command::Figures(args) => figures::run(args),
        Command::Demo(args) => demo::run(args),
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
