//! `rewind figures` as a library: the paper's Figures 2–5 (Appendix B) drawn from sweep
//! results, plus two figures of this project's own measurements, as SVG files made with
//! plotters.
//!
//! - `fig2-true-labels.svg`, `fig3-random-labels.svg` (Figures 2–3): for each batch size a row
//!   of two plots, the accuracy λ at the end of each epoch and the running average
//!   (1/t)Σ_{i≤t} ρ_i of the accuracy discrepancy (Section 3), one line per hidden width.
//! - `fig4-true-labels.svg`, `fig5-random-labels.svg` (Figures 4–5): for each batch size the
//!   running averages of all widths on one plot, on a log axis when every value is positive,
//!   with the leading term β(n, b) = n·log₂ n / b² of Theorem 3.2 as a dashed line there.
//! - `code-length.svg`: the length of each epoch's code (Lemma 3.1) against ⌈log₂ n!⌉, the
//!   length of a plain permutation (dashed).
//! - `many-to-one.svg`: the observed share of steps that needed a hint against the predicted
//!   1 − det(I − αH_B), one point per run, with the diagonal y = x.
//! - `gd-steps.svg` (Section 4, drawn only when the results hold SGD′ runs): GD steps per batch
//!   (Σ T_{i,j} / calls of a run) against the perturbation's random bits ℓ·m, one panel per
//!   batch size and one curve per model size d: the mean over the seeds, in a band of its 95%
//!   t interval.
//! - `momentum-bits.svg` (drawn only when the results hold momentum runs with β > 0): the
//!   velocity buffer's bits per step against β, one panel per model and setting, one point per
//!   run and rounding, with d·log₂(1/β) (hypergrad's figure), the nearest-rounding loss and
//!   plain SGD's hint bits per step on the same runs.
//!
//! The first six figures are about plain SGD (Algorithm 1, momentum at β = 0 included) and read
//! its runs only.
//!
//! Every ρ panel also draws the null model's running average ([`crate::steps::null`]: what a batch drawn
//! independently of correctness gives by itself, averaged over the panel's runs) as a dashed
//! black line, with a grey band of ±2 null standard deviations of one run's running average: a
//! line inside the band is what sampling noise alone gives.
//!
//! The paper plots every quantity as a running average over epochs; here only ρ is averaged
//! (the accuracy is the end-of-epoch value), as the accuracy already changes slowly. ρ is the
//! code's direction D(φ‖λ') unless [`Rho::Paper`] is chosen. Runs are grouped by
//! [`crate::experiments::selection`], as the claims group them: a panel holds runs that differ only in width and seed, and series are
//! named by what differs among them ("width 2", or "width 2, seed 1"). A figure without data is
//! skipped with a reason, not drawn empty.
//!
//! Each figure comes with a CSV table of the numbers it plots (`fig2-true-labels.svg` beside
//! `fig2-true-labels.csv`), so that its data can be read without parsing the SVG. The table is
//! made from the same panels the renderer draws, so that it cannot drift from the picture: one
//! row per point, columns `panel,series,style,x,y,y_low,y_high`, where `panel` is the plot's
//! caption, `series` names the line (also those the legend leaves out), `style` is how it is
//! drawn (`line`, `dashed`, `markers` or `band`), and a band has one row per x with its edges
//! in `y_low` and `y_high` and `y` empty (the other rows leave those two empty).

mod appendix_b;
mod momentum;
mod render;
mod section4;
mod table;

pub use table::table_fields;

use crate::experiments::selection::{labels_name, runs, Rho, Run};
use crate::experiments::sweep::ResultLine;
use crate::Error;
use appendix_b::{accuracy_and_rho, code_length, many_to_one, rho_by_batch};
use momentum::momentum_bits;
use section4::gd_steps;
use std::path::{Path, PathBuf};

/// Figure 2 analogue: true labels.
pub const FIG2: &str = "fig2-true-labels.svg";
/// Figure 3 analogue: random labels.
pub const FIG3: &str = "fig3-random-labels.svg";
/// Figure 4 analogue: true labels, all widths per batch size.
pub const FIG4: &str = "fig4-true-labels.svg";
/// Figure 5 analogue: random labels, all widths per batch size.
pub const FIG5: &str = "fig5-random-labels.svg";
/// Code length per epoch against ⌈log₂ n!⌉.
pub const CODE_LENGTH: &str = "code-length.svg";
/// Observed against predicted many-to-one share.
pub const MANY_TO_ONE: &str = "many-to-one.svg";
/// Section 4: GD steps per batch against ℓ·m.
pub const GD_STEPS: &str = "gd-steps.svg";
/// Momentum: the buffer's bits per step against β.
pub const MOMENTUM_BITS: &str = "momentum-bits.svg";

/// One SVG and the table of its data, ready to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// File name to write the figure under (e.g. [`FIG2`]).
    pub file: &'static str,
    /// The SVG document.
    pub svg: String,
    /// The numbers the SVG plots, as CSV (columns in the module's documentation).
    pub csv: String,
}

impl Figure {
    /// The table's file name: the figure's, ending in `.csv`, so that the two sit side by side.
    pub fn csv_file(&self) -> String {
        let base = self.file.strip_suffix(".svg").unwrap_or(self.file);
        format!("{base}.csv")
    }
}

/// A figure the results have no data for.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// File name the figure would have had.
    pub file: &'static str,
    /// Why there is no data for it, in one line.
    pub reason: String,
}

/// Every figure drawn or skipped, and the lines that could not be used.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// The figures drawn, in a fixed order.
    pub drawn: Vec<Figure>,
    /// The figures the results have no data for.
    pub skipped: Vec<Skipped>,
    /// Lines whose run could not be set up or failed (skipped).
    pub error_lines: usize,
    /// Lines with neither a report nor an error (skipped).
    pub without_report: usize,
    /// Lines left out because a number in their report is not plausible, one message each.
    pub warnings: Vec<String>,
}

/// Larger magnitudes than this in a report are no measurement (a code of 10^15 bits, a
/// discrepancy of 10^15 bits per epoch): the line is left out of the figures with a warning,
/// instead of stretching an axis over hundreds of decades.
pub const ABSURD: f64 = 1e15;

/// The first implausible number in a value, with its place, e.g. `discrepancy.epochs[2].rho`.
fn absurd_number(v: &serde_json::Value, at: &str) -> Option<(String, f64)> {
    match v {
        // A variance below zero is no measurement either.
        serde_json::Value::Number(n) => n
            .as_f64()
            .filter(|x| {
                !x.is_finite()
                    || x.abs() > ABSURD
                    || (*x < 0.0 && at.rsplit('.').next().is_some_and(|k| k.contains("var")))
            })
            .map(|x| (at.to_string(), x)),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, x)| absurd_number(x, &format!("{at}[{i}]"))),
        serde_json::Value::Object(o) => o.iter().find_map(|(k, x)| {
            let place = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            absurd_number(x, &place)
        }),
        _ => None,
    }
}

/// The lines whose reports hold only plausible numbers (finite, |x| ≤ [`ABSURD`], variances not
/// negative), and a warning for each other one; `figures` and `claims` read only those.
pub fn plausible(lines: &[ResultLine]) -> (Vec<ResultLine>, Vec<String>) {
    let mut kept = Vec::with_capacity(lines.len());
    let mut warnings = Vec::new();
    for l in lines {
        let bad = l
            .report
            .as_ref()
            .and_then(|r| serde_json::to_value(r).ok())
            .and_then(|v| absurd_number(&v, "report"));
        match bad {
            Some((place, x)) => warnings.push(format!(
                "run {} has {place} = {x:e}, beyond any plausible measurement (|x| > {ABSURD:e}, or a negative variance); it is left out of the figures and the claims",
                l.id
            )),
            None => kept.push(l.clone()),
        }
    }
    (kept, warnings)
}

/// Draws every figure the results have data for; `source` names the results in errors.
pub fn draw(lines: &[ResultLine], rho: Rho, source: &str) -> Result<Figures, Error> {
    if lines.is_empty() {
        return Err(Error::Config(format!(
            "{source} holds no result lines; pass a results file written by `rewind sweep`"
        )));
    }
    let (lines, warnings) = plausible(lines);
    let r = runs(&lines);
    let mut out = Figures {
        drawn: Vec::new(),
        skipped: Vec::new(),
        error_lines: r.error_lines,
        without_report: r.without_report,
        warnings,
    };
    let has_prime = r.runs.iter().any(|x| x.spec.sgd_prime.is_some());
    let mut add = |file: &'static str, figure: Option<Figure>, reason: &str| match figure {
        Some(f) => out.drawn.push(f),
        None => out.skipped.push(Skipped {
            file,
            reason: if has_prime && file != GD_STEPS {
                format!("{reason}, among the SGD runs (SGD′ runs are drawn in {GD_STEPS} only)")
            } else {
                reason.to_string()
            },
        }),
    };
    let runs: &Vec<Run> = &r
        .runs
        .iter()
        .filter(|x| x.spec.sgd_prime.is_none() && crate::experiments::claims::is_plain(x))
        .copied()
        .collect();
    let no_runs = |random| format!("no {} run with a report and an epoch", labels_name(random));
    add(FIG2, accuracy_and_rho(runs, false, rho)?, &no_runs(false));
    add(FIG3, accuracy_and_rho(runs, true, rho)?, &no_runs(true));
    add(FIG4, rho_by_batch(runs, false, rho)?, &no_runs(false));
    add(FIG5, rho_by_batch(runs, true, rho)?, &no_runs(true));
    add(
        CODE_LENGTH,
        code_length(runs)?,
        "no run has a code section (plans with [phases] code = true and inversion = true)",
    );
    add(
        MANY_TO_ONE,
        many_to_one(runs)?,
        "no run has an inversion section with a predicted share (the MLP has none; plans need [phases] inversion = true)",
    );
    if has_prime {
        add(GD_STEPS, gd_steps(&r.runs)?, "no SGD′ run made a GD call");
    }
    if r.runs.iter().any(|x| x.spec.momentum.is_some()) {
        add(
            MOMENTUM_BITS,
            momentum_bits(&r.runs)?,
            "no momentum run with β > 0 has a momentum section",
        );
    }
    Ok(out)
}

/// Writes the drawn figures into `dir` (created if missing), each SVG with its CSV table beside
/// it, every file atomically, and returns their paths (SVG then CSV, figure by figure); every
/// path is checked before anything is written, so that `results` (the input) is never
/// overwritten, not even by a table.
pub fn write(figures: &Figures, dir: &Path, results: &Path) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let files: Vec<(&str, PathBuf, &str)> = figures
        .drawn
        .iter()
        .flat_map(|f| {
            [
                ("the figure", dir.join(f.file), f.svg.as_str()),
                ("the figure's table", dir.join(f.csv_file()), f.csv.as_str()),
            ]
        })
        .collect();
    let outputs: Vec<(&str, &Path)> = files.iter().map(|(r, p, _)| (*r, p.as_path())).collect();
    crate::output::check_paths(&[("the results file", results)], &outputs)?;
    for (_, path, text) in &files {
        crate::output::write_file(path, text.as_bytes())?;
    }
    Ok(files.into_iter().map(|(_, p, _)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_sits_beside_the_figure() {
        let f = Figure {
            file: FIG2,
            svg: String::new(),
            csv: String::new(),
        };
        assert_eq!(f.csv_file(), "fig2-true-labels.csv");
    }
}
