//! `rewind claims RESULTS`: the paper's three claims about the accuracy discrepancy (Section 3,
//! Appendix B), a fourth, the batch-fitting signal (Holm-corrected permutation p-values), and
//! Theorem 4.3 on SGD′ runs, checked on sweep results against the null model, with verdicts and
//! the numbers they rest on (the rules are in `rewind::claims`).

use anyhow::Context;
use rewind::claims::{check, render};
use rewind::sweep::read_results;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `rewind claims`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Results file written by `rewind sweep` (JSON lines).
    results: PathBuf,
    /// Print the verdicts and their numbers as JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let name = args.results.display().to_string();
    let text = std::fs::read_to_string(&args.results)
        .with_context(|| format!("cannot read {name}; pass an existing results file"))?;
    let lines = read_results(&text, &name)?;
    let claims = check(&lines, &name)?;
    // A verdict of "does not hold" is a finding, not a failure: the exit code stays 0.
    super::print(&if args.json {
        serde_json::to_string_pretty(&claims)? + "\n"
    } else {
        render(&claims)
    })?;
    Ok(ExitCode::SUCCESS)
}
