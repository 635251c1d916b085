//! Claim 4, this project's: which runs show a learning signal, a discrepancy that sampling
//! noise does not explain.
//!
//! For each run, the running excess z at its last epoch, Σ_i(ρ_i − null_i)/√(Σ_i Var_i) (code
//! direction; [`crate::null`]): approximately standard normal if the batches were drawn
//! independently of what the model gets right. A run with z > [`Z_SIGNAL`] (a one-sided tail of
//! 0.13% under the null) shows **learning**: after its step the model classifies its batch
//! better than a random subset of the examples seen so far. No such run: **sampling noise
//! alone**; no run with an epoch: **inconclusive**. With many runs a few false signals are
//! expected (0.13% each), so the count is printed beside the number of runs.

use super::Z_SIGNAL;
use crate::selection::{Rho, Run};
use serde::Serialize;

/// A run of claim 4.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalRun {
    /// The run's id ([`crate::sweep::RunSpec::id`]).
    pub id: String,
    /// The run's last epoch, where z is read.
    pub epoch: usize,
    /// The running excess z, code direction: approximately N(0, 1) under the null.
    pub z_code: f64,
    /// The running excess z in the paper's direction.
    pub z_paper: f64,
    /// ρ̄_code − null at the last epoch.
    pub excess_code: f64,
    /// Running average ρ̄_code at the last epoch, in bits.
    pub rho_code: f64,
    /// The null's running average at the last epoch, code direction.
    pub null_code: f64,
}

/// The outcome of claim 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Some run has a running excess z above [`Z_SIGNAL`].
    Learning,
    /// No run has.
    NoiseOnly,
    /// No run with an epoch.
    Inconclusive,
}

impl Signal {
    /// The outcome as it is printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Learning => "learning",
            Signal::NoiseOnly => "sampling noise alone",
            Signal::Inconclusive => "inconclusive",
        }
    }
}

/// Claim 4.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearningSignal {
    /// The claim as this project states it.
    pub claim: &'static str,
    /// How the outcome is decided, in words.
    pub rule: String,
    /// Runs with at least one epoch.
    pub runs: usize,
    /// Runs whose running excess z exceeds [`Z_SIGNAL`], highest z first.
    pub signal: Vec<SignalRun>,
    /// The run with the highest z, whether or not it exceeds the threshold.
    pub highest: Option<SignalRun>,
    /// Whether some run shows learning, none does, or there is nothing to judge.
    pub verdict: Signal,
    /// The reason for the outcome, in one line.
    pub why: String,
}

/// Checks claim 4.
pub fn check(runs: &[Run]) -> LearningSignal {
    let mut all: Vec<SignalRun> = runs
        .iter()
        .filter_map(|r| {
            let e = r.epochs().last()?;
            Some(SignalRun {
                id: r.id.to_string(),
                epoch: e.epoch,
                z_code: Rho::Code.running_z(e),
                z_paper: Rho::Paper.running_z(e),
                excess_code: Rho::Code.running(e) - Rho::Code.running_null(e),
                rho_code: Rho::Code.running(e),
                null_code: Rho::Code.running_null(e),
            })
        })
        .collect();
    all.sort_by(|a, b| b.z_code.total_cmp(&a.z_code).then_with(|| a.id.cmp(&b.id)));
    let signal: Vec<SignalRun> = all
        .iter()
        .filter(|s| s.z_code > Z_SIGNAL)
        .cloned()
        .collect();
    let (verdict, why) = if all.is_empty() {
        (Signal::Inconclusive, "no run with an epoch".to_string())
    } else if signal.is_empty() {
        (
            Signal::NoiseOnly,
            format!(
                "no run of {} has a running excess z above {Z_SIGNAL}",
                all.len()
            ),
        )
    } else {
        (
            Signal::Learning,
            format!(
                "{} of {} runs have a running excess z above {Z_SIGNAL}",
                signal.len(),
                all.len()
            ),
        )
    };
    LearningSignal {
        claim: "learning signal: the discrepancy exceeds what sampling noise alone gives (this project's test)",
        rule: format!(
            "per run, the running excess z = Σ(ρ_i − null_i)/√ΣVar_i (code direction) at its last epoch; learning if some run has \
             z > {Z_SIGNAL} (a 0.13% one-sided tail of the null), sampling noise alone if none has"
        ),
        runs: all.len(),
        highest: all.first().cloned(),
        signal,
        verdict,
        why,
    }
}
