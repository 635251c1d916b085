//! Section 4 of the paper, exactly on the grid: perturbed gradient descent GD(W, Y, δ)
//! (Algorithm 2), the SGD variant SGD′ that calls it once per batch (Algorithm 3), and the
//! exact reversal of a whole SGD′ run (the reversibility argument before Lemma 4.1).
//!
//! Every inner GD step is the crate's one step function ([`StepFunction::step`]) on the batch,
//! so each is inverted, hinted and certified exactly like an SGD step (docs/design.md §4); the
//! perturbation ψ_z that starts each GD call is undone with its z ([`crate::perturb`]).
//!
//! Conventions the paper leaves open, stated once:
//! - GD stops as soon as acc(W, Y) ≥ δ, checked before every step, or after T steps; so
//!   T_{i,j} ∈ [0, T] and T_{i,j} = 0 when the perturbed model already meets δ.
//! - SGD′ returns W_{i,j} as soon as acc(W_{i,j}, X) ≥ 1/(2(1 − ε)) (line 6, skipped with
//!   `stop_at_full_accuracy` off) and otherwise runs at most `epochs` epochs: without the cap a
//!   run that never terminates would never end.
//! - The thresholds are compared exactly: c correct of |Y| meets δ = 1/(2(1 − 2ε)) iff
//!   2c(1 − 2ε) ≥ |Y|.
//!
//! The files: this one holds the parameters and thresholds; `algorithm` runs Algorithms 2 and 3;
//! `reversal` inverts and walks back a run; `sections` fills the report's SGD′ sections;
//! `verify` is `rewind verify --algorithm sgd-prime` and the Lemma 4.1 code.

mod algorithm;
mod reversal;
mod sections;
mod verify;

pub use algorithm::{gd, replays, run, GdCall, GdResult, SgdPrimeRun, WalkedCall};
pub use reversal::{
    analyse_run, call_shapes, hints_of_run, rewind_run, termination_counts, CallShape,
};
pub use sections::{algorithm_report, gd_steps_report, perturbation_report};
pub use verify::{gd_code, verify, VerifiedSgdPrime};

use crate::grid::parse_rational;
use crate::perturb::Perturbation;
use crate::pipeline::config::Setup;
use crate::pipeline::report::{
    model_sha256, AlgorithmReport, CertificationReport, CodeReport, EpochGdSteps,
    EpochPerturbation, GdStepsReport, HintReport, InversionReport, Lemma41Epoch,
    PerturbationReport, ReconstructionReport,
};
use crate::rng::{permutation, stream, Stream};
use crate::sgd::{LoggedStep, SgdConfig, StepFunction, Trajectory};
use crate::steps::codec::entropy::{
    decode_gd, encode_gd, CodeOptions, GdCode, KnownCall, RunShape,
};
use crate::steps::codec::hint::{HintSet, StepRecord};
use crate::steps::discrepancy::{beta_leading, EpochDiscrepancy};
use crate::steps::invert::{Outcome, Termination};
use crate::steps::reconstruct::{analyse, hints_of, rewind};
use crate::Error;
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive};
use rayon::prelude::*;

/// ℓ when none is given (`--perturbation-length`, a plan's `perturbation_length`).
pub const DEFAULT_LENGTH: usize = 4;
/// m when none is given.
pub const DEFAULT_BITS: u32 = 8;
/// s when none is given.
pub const DEFAULT_SCALE: u32 = 16;
/// ε when none is given.
pub const DEFAULT_EPSILON: &str = "0.1";
/// T when none is given.
pub const DEFAULT_MAX_GD_STEPS: usize = 100;

/// The largest T accepted, at encoding as at decoding: a code file's header names T, and the
/// decoder's work per GD call is bounded by it (docs/design.md §5.5).
pub const MAX_GD_STEPS: usize = 16_384;

/// The parameters of Algorithms 2 and 3 beyond those of Algorithm 1.
#[derive(Debug, Clone, PartialEq)]
pub struct SgdPrimeConfig {
    /// Ψ_ℓ: ℓ, m and the scale of each GD call's perturbation.
    pub perturbation: Perturbation,
    /// ε ∈ [0, 1/4]: SGD′ stops at acc(W, X) ≥ 1/(2(1 − ε)); GD aims at 1/(2(1 − 2ε)).
    pub epsilon: BigRational,
    /// T: the most GD steps one call may take.
    pub max_gd_steps: usize,
}

impl SgdPrimeConfig {
    /// Parses ε (a decimal or a fraction) and checks every parameter.
    pub fn new(
        perturbation: Perturbation,
        epsilon: &str,
        max_gd_steps: usize,
    ) -> Result<Self, Error> {
        if max_gd_steps > MAX_GD_STEPS {
            return Err(Error::Config(format!(
                "--max-gd-steps {max_gd_steps} is above {MAX_GD_STEPS}; use at most {MAX_GD_STEPS}"
            )));
        }
        // A fraction of two small integers: a longer text is no ε a run was given.
        let eps = (epsilon.len() <= 64)
            .then(|| parse_rational(epsilon.trim()))
            .flatten()
            .filter(|e| !e.is_negative() && *e <= BigRational::new(1.into(), 4.into()))
            .ok_or_else(|| {
                Error::Config(format!(
                    "--epsilon {epsilon} must be a number from 0 to 1/4 (so that GD's target 1/(2(1 − 2ε)) is at most 1), e.g. --epsilon 0.1"
                ))
            })?;
        Ok(SgdPrimeConfig {
            perturbation,
            epsilon: eps,
            max_gd_steps,
        })
    }

    /// δ = 1/(2(1 − 2ε)), GD's target accuracy on its batch.
    pub fn batch_target(&self) -> BigRational {
        target(&self.epsilon, 2)
    }

    /// 1/(2(1 − ε)), the accuracy on X at which SGD′ returns.
    pub fn stop_target(&self) -> BigRational {
        target(&self.epsilon, 1)
    }

    /// Checks the parameters against the setup: a binary task, and ℓ at most the model's d
    /// (`W_z[i] = z[i mod ℓ]` never reads a value beyond the d-th, so its bits would be spent for
    /// nothing).
    pub fn check_setup(&self, setup: &Setup) -> Result<(), Error> {
        if setup.data.classes != 2 {
            return Err(Error::Config(format!(
                "--algorithm sgd-prime needs a binary task but the data has {} classes; choose two with --classes A,B",
                setup.data.classes
            )));
        }
        let d = setup.model.dim();
        if self.perturbation.length > d {
            return Err(Error::Config(format!(
                "--perturbation-length {} is above the model's {d} parameters (W_z[i] = z[i mod ℓ] would never use the rest); use at most {d}",
                self.perturbation.length
            )));
        }
        Ok(())
    }
}

fn target(eps: &BigRational, k: i64) -> BigRational {
    let two = BigRational::from_integer(BigInt::from(2));
    let denom = &two * (BigRational::one() - BigRational::from_integer(k.into()) * eps);
    BigRational::one() / denom
}

/// Whether `correct` of `total` meets the accuracy `target`, exactly.
fn meets(correct: usize, total: usize, target: &BigRational) -> bool {
    total > 0 && BigRational::new(BigInt::from(correct), BigInt::from(total)) >= *target
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_exact() {
        let p = SgdPrimeConfig::new(Perturbation::new(0, 0, 0).unwrap(), "0.1", 5).unwrap();
        // δ = 1/(2·0.8) = 5/8, stop = 1/(2·0.9) = 5/9.
        assert_eq!(p.batch_target(), BigRational::new(5.into(), 8.into()));
        assert_eq!(p.stop_target(), BigRational::new(5.into(), 9.into()));
        assert!(meets(5, 8, &p.batch_target()));
        assert!(!meets(4, 8, &p.batch_target()));
        assert!(SgdPrimeConfig::new(p.perturbation, "0.3", 5).is_err());
        assert!(SgdPrimeConfig::new(p.perturbation, "-0.1", 5).is_err());
        assert!(SgdPrimeConfig::new(p.perturbation, "1/4", 5).is_ok());
    }
}
