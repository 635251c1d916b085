//! `rewind figures RESULTS --out DIR`: the paper's Figures 2–5 (Appendix B) and this
//! project's code-length and many-to-one figures, drawn from sweep results as SVG files, each
//! with a CSV table of the numbers it plots beside it, so that the data can be read without the
//! picture (what each figure shows, and the table's columns, are in `rewind::figures`).

use rewind::figures::{draw, write};
use rewind::selection::Rho;
use rewind::sweep::read_results_noting;
use std::path::PathBuf;
use std::process::ExitCode;

/// Which direction of the accuracy discrepancy the figures plot.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RhoArg {
    /// D(φ‖λ'), the direction the code and the proof of Lemma 3.1 use.
    Code,
    /// D(λ'‖φ), as the paper writes ρ.
    Paper,
}

/// Flags of `rewind figures`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Results file written by `rewind sweep` (JSON lines).
    results: PathBuf,
    /// Directory for the SVG files and their CSV tables (created if missing).
    #[arg(long, default_value = "figures")]
    out: PathBuf,
    /// The discrepancy to plot.
    #[arg(long, value_enum, default_value = "code")]
    rho: RhoArg,
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
    let rho = match args.rho {
        RhoArg::Code => Rho::Code,
        RhoArg::Paper => Rho::Paper,
    };
    let figures = draw(&lines, rho, &name)?;
    for w in &figures.warnings {
        super::warn(w);
    }
    let written = write(&figures, &args.out, &args.results)?;
    let mut text = String::new();
    if figures.error_lines + figures.without_report > 0 {
        text += &format!(
            "skipped {} error lines and {} lines without a report\n",
            figures.error_lines, figures.without_report
        );
    }
    for s in &figures.skipped {
        text += &format!("skipped {}: {}\n", s.file, s.reason);
    }
    if written.is_empty() {
        text += "no figure written: the results have no data for any of them\n";
    }
    for p in &written {
        text += &format!("wrote {}\n", p.display());
    }
    super::print(&text)?;
    Ok(ExitCode::SUCCESS)
}
