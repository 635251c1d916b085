//! `rewind claims RESULTS`: the paper's three claims about the accuracy discrepancy (Section 3,
//! Appendix B), a fourth, the batch-fitting signal (Holm-corrected permutation p-values), and
//! Theorem 4.3 on SGD′ runs and the cost of rewinding momentum on momentum runs, checked on
//! sweep results against the null model or the stated bound, with verdicts and the numbers they
//! rest on (the rules are in `rewind::claims`).

use rewind::claims::{check, render};
use rewind::sweep::read_results_noting;
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
    let text = super::read_input_text(
        &args.results,
        rewind::input::MAX_RESULTS_BYTES,
        "an existing results file written by `rewind sweep`",
    )?;
    let (lines, torn) = read_results_noting(&text, &name)?;
    for w in &torn {
        super::warn(w);
    }
    // Non-finite, absurd or negative-variance numbers would give verdicts without meaning.
    let (lines, dropped) = rewind::figures::plausible(&lines);
    for w in &dropped {
        super::warn(w);
    }
    let claims = check(&lines, &name)?;
    // A verdict of "does not hold" is a finding, not a failure: the exit code stays 0.
    super::print(&if args.json {
        serde_json::to_string_pretty(&claims)? + "\n"
    } else {
        render(&claims)
    })?;
    Ok(ExitCode::SUCCESS)
}
