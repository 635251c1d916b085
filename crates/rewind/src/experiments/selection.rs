//! Which runs a claim or a figure reads, and how they are grouped and named: runs that differ
//! only in the fields a claim varies (batch size, width, seed) form a group, named by what
//! differs; [`Rho`] picks the direction of the discrepancy read from each run.

use crate::experiments::sweep::{ResultLine, RunSpec};
use crate::pipeline::config::ModelKind;
use crate::pipeline::report::VerifyReport;
use crate::steps::discrepancy::EpochDiscrepancy;
use serde::Serialize;
use std::collections::BTreeSet;

/// One result line that has a report.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// The run's canonical id ([`RunSpec::id`]).
    pub id: &'a str,
    /// The run's point of the plan.
    pub spec: &'a RunSpec,
    /// The run's report.
    pub report: &'a VerifyReport,
}

impl Run<'_> {
    /// The hidden width, for the MLP (other models ignore the `hidden` axis).
    pub fn width(&self) -> Option<usize> {
        (self.spec.model == ModelKind::Mlp).then_some(self.spec.hidden)
    }

    /// ρ per epoch.
    pub fn epochs(&self) -> &[EpochDiscrepancy] {
        &self.report.discrepancy.epochs
    }
}

/// The usable runs of a results file and what was skipped.
#[derive(Debug, Clone)]
pub struct Runs<'a> {
    /// Lines with a report, in file order.
    pub runs: Vec<Run<'a>>,
    /// Lines whose run could not be set up or failed (`"error"`).
    pub error_lines: usize,
    /// Lines with neither a report nor an error.
    pub without_report: usize,
}

/// Splits result lines into runs with a report and counts the rest.
pub fn runs(lines: &[ResultLine]) -> Runs<'_> {
    let mut out = Runs {
        runs: Vec::new(),
        error_lines: 0,
        without_report: 0,
    };
    for l in lines {
        match (&l.error, &l.report) {
            (Some(_), _) => out.error_lines += 1,
            (None, None) => out.without_report += 1,
            (None, Some(report)) => out.runs.push(Run {
                id: &l.id,
                spec: &l.spec,
                report,
            }),
        }
    }
    out
}

/// A field of the run specification, for grouping runs and for naming them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The MLP's hidden width.
    Width,
    /// The model name ("logistic", "mlp", …).
    Model,
    /// The data set, as the plan names it.
    Data,
    /// The MLP's activation.
    Activation,
    /// The step size (`alpha=…` or `q=…`).
    Step,
    /// The backend ("exact", "mpfr", "f64").
    Backend,
    /// The grid's fractional bits p.
    FracBits,
    /// The number of epochs t requested.
    Epochs,
    /// The classes kept (the `classes` axis).
    Classes,
    /// True or random labels.
    Labels,
    /// The batch size b.
    Batch,
    /// The seed of the run's random streams.
    Seed,
}

impl Field {
    /// In the order names are written: the width first, as in the paper's legends.
    pub const ALL: [Field; 12] = [
        Field::Width,
        Field::Model,
        Field::Data,
        Field::Activation,
        Field::Step,
        Field::Backend,
        Field::FracBits,
        Field::Epochs,
        Field::Classes,
        Field::Labels,
        Field::Batch,
        Field::Seed,
    ];

    /// The field of a spec as a short human phrase ("width 2", "b = 50", "seed 1"); empty
    /// where it does not apply (the width of a model without a hidden layer).
    pub fn describe(self, s: &RunSpec) -> String {
        match self {
            Field::Width => {
                if s.model == ModelKind::Mlp {
                    format!("width {}", s.hidden)
                } else {
                    String::new()
                }
            }
            Field::Model => s.model.to_string(),
            Field::Data => s.data.clone(),
            Field::Activation => {
                if s.model == ModelKind::Mlp {
                    s.activation.to_string()
                } else {
                    String::new()
                }
            }
            Field::Step => s.step.clone(),
            Field::Backend => s.backend.to_string(),
            Field::FracBits => format!("p = {}", s.frac_bits),
            Field::Epochs => format!("{} epochs", s.epochs),
            Field::Classes => match &s.classes {
                Some(c) => format!(
                    "classes {}",
                    c.iter().map(u32::to_string).collect::<Vec<_>>().join("+")
                ),
                None => String::new(),
            },
            Field::Labels => labels_name(s.random_labels).to_string(),
            Field::Batch => format!("b = {}", s.batch),
            Field::Seed => format!("seed {}", s.seed),
        }
    }
}

/// "true labels" or "random labels".
pub fn labels_name(random: bool) -> &'static str {
    if random {
        "random labels"
    } else {
        "true labels"
    }
}

/// Everything that identifies a setting except the fields in `except`: runs with equal keys
/// differ only in those fields.
pub fn key(s: &RunSpec, except: &[Field]) -> String {
    Field::ALL
        .iter()
        .filter(|f| !except.contains(f))
        .map(|f| f.describe(s))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A name for each spec made of the fields (outside `ignore`) that differ among them, the
/// width first; a spec set where nothing differs is named by its width, or else its model.
pub fn names(specs: &[&RunSpec], ignore: &[Field]) -> Vec<String> {
    let varying: Vec<Field> = Field::ALL
        .iter()
        .copied()
        .filter(|f| !ignore.contains(f))
        .filter(|f| {
            let values: BTreeSet<String> = specs.iter().map(|s| f.describe(s)).collect();
            values.len() > 1
        })
        .collect();
    specs
        .iter()
        .map(|s| {
            let parts: Vec<String> = varying
                .iter()
                .map(|f| f.describe(s))
                .filter(|d| !d.is_empty())
                .collect();
            if !parts.is_empty() {
                parts.join(", ")
            } else if s.model == ModelKind::Mlp {
                Field::Width.describe(s)
            } else {
                s.model.to_string()
            }
        })
        .collect()
}

/// Which direction of the discrepancy (see [`crate::steps::discrepancy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rho {
    /// D(φ‖λ'), the direction the code (and the paper's own proof) bounds.
    Code,
    /// D(λ'‖φ), as the paper writes ρ.
    Paper,
}

impl Rho {
    /// The direction's printed name, "ρ_code" or "ρ_paper".
    pub fn name(self) -> &'static str {
        match self {
            Rho::Code => "ρ_code",
            Rho::Paper => "ρ_paper",
        }
    }

    /// The running average (1/t)Σ_{i≤t} ρ_i of this direction.
    pub fn running(self, e: &EpochDiscrepancy) -> f64 {
        match self {
            Rho::Code => e.running_rho_code,
            Rho::Paper => e.running_rho_paper,
        }
    }

    /// The null model's running average (1/t)Σ_{i≤t} E\[ρ_i\].
    pub fn running_null(self, e: &EpochDiscrepancy) -> f64 {
        match self {
            Rho::Code => e.running_null_rho_code,
            Rho::Paper => e.running_null_rho_paper,
        }
    }

    /// The running excess z over epochs 1..=t.
    pub fn running_z(self, e: &EpochDiscrepancy) -> f64 {
        match self {
            Rho::Code => e.running_excess_z_code,
            Rho::Paper => e.running_excess_z_paper,
        }
    }

    /// One epoch's null variance.
    pub fn null_var(self, e: &EpochDiscrepancy) -> f64 {
        match self {
            Rho::Code => e.null_var_code,
            Rho::Paper => e.null_var_paper,
        }
    }

    /// The null standard deviation of the running average at every epoch.
    pub fn running_null_sd(self, epochs: &[EpochDiscrepancy]) -> Vec<f64> {
        crate::steps::discrepancy::running_null_sd(epochs, |e| self.null_var(e))
    }
}
