//! Snapshots of a run for tests: a compact, stable, human-readable digest of every step, for
//! pinning a training run in a snapshot test (with `insta`, or by comparing strings).
//!
//! This is the third use of `rewind` that DESIGN names beside checking Theorem 2.2 and measuring
//! Lemma 3.1: a test of one's own training code. A change to a model, a data pipeline, a seed or
//! a step size that alters any step of the run alters the snapshot, and the diff says which step
//! changed first and whether it still rewinds bit for bit.
//!
//! Per step: epoch, step, the batch, the inversion's outcome (recovered / other_preimage /
//! no_preimage), the hint's size as the number of coordinates it corrects (independent of how
//! the hint is coded, so a snapshot does not change when the hint code does) and a short hash of
//! W_{i,j}, the model before the step. Then the totals: the outcome counts, the hinted steps and
//! coordinates, whether the walk back from the final model returned W₁,₁ and every model bit for
//! bit, and a short hash of the final model.
//!
//! - **Short hash**: the first [`HASH_HEX`] hexadecimal digits of SHA-256 over the raw grid
//!   integers as little-endian `i64` (the prefix of [`model_sha256`], which the report
//!   prints in full). 48 bits: two different models of one run share it with probability
//!   about 2^-48 per pair.
//! - **Batch**: its indices in permutation order when it has at most [`BATCH_INDICES_MAX`]
//!   examples; otherwise its size and the short hash of the indices (as little-endian `u64`, in
//!   order), so that a line stays short whatever b is.
//!
//! The text form ([`std::fmt::Display`]) is a fixed-width table followed by two total lines; the
//! serde form has the same fields. Nothing in a snapshot depends on the thread count, the
//! machine or the time.
//!
//! ```
//! use rewind::sgd::BackendChoice;
//! use rewind::snapshot::Snapshot;
//! use rewind::config::{DataSource, ModelKind, Setup, VerifyConfig};
//!
//! let setup = Setup::new(&VerifyConfig {
//!     data: DataSource::Synthetic { n: 8, features: 2, classes: 2 },
//!     model: ModelKind::LeastSquares,
//!     backend: BackendChoice::Exact,
//!     frac_bits: 8,
//!     batch: 4,
//!     epochs: 1,
//!     stop_at_full_accuracy: false,
//!     code: false,
//!     ..VerifyConfig::default()
//! })?;
//! let snapshot = Snapshot::of(&setup)?;
//! assert_eq!(snapshot.steps.len(), 2);
//! assert!(snapshot.totals.initial_model_bit_exact);
//! // In a test: insta::assert_snapshot!(snapshot.to_string());
//! println!("{snapshot}");
//! # Ok::<(), rewind::Error>(())
//! ```

use crate::pipeline::config::Setup;
use crate::pipeline::report::model_sha256;
use crate::pipeline::verify::{verify_run, VerifiedRun};
use crate::progress::NoProgress;
use crate::sgd::NoObserver;
use crate::steps::invert::Outcome;
use crate::Error;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Hexadecimal digits kept of a SHA-256.
pub const HASH_HEX: usize = 12;

/// Largest batch written out index by index; a larger one is written as its size and hash.
pub const BATCH_INDICES_MAX: usize = 8;

/// The snapshot of a run: one line per step, then the totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// One line per step, in run order.
    pub steps: Vec<StepLine>,
    /// The whole run at a glance.
    pub totals: Totals,
}

/// One step of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepLine {
    /// Epoch i, from 1.
    pub epoch: usize,
    /// Step j within the epoch, from 1.
    pub step: usize,
    /// The batch of the step, as indices or, when large, a digest.
    pub batch: Batch,
    /// What inverting the step from the next model gave.
    pub outcome: Outcome,
    /// Coordinates the hint corrects (0 when the inverter recovered the logged model).
    pub hint: usize,
    /// Short hash of W_{i,j}, the model before the step.
    pub w: String,
}

/// A batch: its indices, or its size and hash when it is long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Batch {
    /// The example indices in permutation order.
    Indices(Vec<usize>),
    /// More than [`BATCH_INDICES_MAX`] examples: how many and the short hash of the indices.
    Digest {
        /// Examples in the batch.
        len: usize,
        /// Short hash of the indices (little-endian `u64`, in order).
        sha256: String,
    },
}

/// The whole run at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Steps of the run.
    pub steps: usize,
    /// Steps whose inversion returned the logged model.
    pub recovered: usize,
    /// Steps whose inversion returned another verified preimage.
    pub other_preimage: usize,
    /// Steps whose inversion found no preimage (a cycle or the iteration cap).
    pub no_preimage: usize,
    /// Steps that needed a hint.
    pub hinted_steps: usize,
    /// Coordinates corrected by all hints together.
    pub hint_coordinates: usize,
    /// The walk back from the final model returned W₁,₁ bit for bit.
    pub initial_model_bit_exact: bool,
    /// … and every model of the run.
    pub all_models_bit_exact: bool,
    /// Short hash of the final model.
    pub final_w: String,
}

impl Snapshot {
    /// Runs `setup` (Algorithm 1, every step inverted, the walk back, and the code when
    /// `setup.config.code` is on; switch it off for a faster test) and snapshots the run.
    pub fn of(setup: &Setup) -> Result<Snapshot, Error> {
        Snapshot::from_run(&verify_run(setup, &mut NoObserver, &NoProgress)?)
    }

    /// The snapshot of a run already verified by [`verify_run`].
    pub fn from_run(run: &VerifiedRun) -> Result<Snapshot, Error> {
        let needs = "a snapshot needs the inversion phase; set `invert: true` in the VerifyConfig";
        let (Some(records), Some(rec)) = (&run.records, &run.report.reconstruction) else {
            return Err(Error::Config(needs.into()));
        };
        let traj = &run.trajectory;
        if records.len() != traj.steps.len() {
            return Err(Error::Config(format!(
                "{} inversion records for {} steps: the records belong to another run; snapshot the VerifiedRun as returned",
                records.len(),
                traj.steps.len()
            )));
        }
        let steps: Vec<StepLine> = traj
            .steps
            .iter()
            .zip(records)
            .map(|(s, r)| StepLine {
                epoch: s.epoch,
                step: s.step,
                batch: Batch::of(&s.batch),
                outcome: r.outcome,
                hint: r.hint.as_ref().map_or(0, |h| h.len()),
                w: short_hash(&s.w),
            })
            .collect();
        let count = |o: Outcome| steps.iter().filter(|s| s.outcome == o).count();
        let totals = Totals {
            steps: steps.len(),
            recovered: count(Outcome::Recovered),
            other_preimage: count(Outcome::OtherPreimage),
            no_preimage: count(Outcome::NoPreimage),
            hinted_steps: records.iter().filter(|r| r.hint.is_some()).count(),
            hint_coordinates: steps.iter().map(|s| s.hint).sum(),
            initial_model_bit_exact: rec.initial_model_bit_exact,
            all_models_bit_exact: rec.all_models_bit_exact,
            final_w: short_hash(&traj.final_model),
        };
        Ok(Snapshot { steps, totals })
    }
}

/// The first [`HASH_HEX`] hexadecimal digits of a model's SHA-256.
pub fn short_hash(w: &[i64]) -> String {
    model_sha256(w)[..HASH_HEX].to_string()
}

impl Batch {
    /// The batch as a snapshot shows it.
    pub fn of(indices: &[usize]) -> Batch {
        if indices.len() <= BATCH_INDICES_MAX {
            return Batch::Indices(indices.to_vec());
        }
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for &i in indices {
            h.update((i as u64).to_le_bytes());
        }
        let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Batch::Digest {
            len: indices.len(),
            sha256: hex[..HASH_HEX].to_string(),
        }
    }
}

impl fmt::Display for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Batch::Indices(v) => write!(f, "{v:?}"),
            Batch::Digest { len, sha256 } => write!(f, "{len} examples #{sha256}"),
        }
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "epoch  step  outcome         hint  W             batch")?;
        for s in &self.steps {
            let outcome = match s.outcome {
                Outcome::Recovered => "recovered",
                Outcome::OtherPreimage => "other_preimage",
                Outcome::NoPreimage => "no_preimage",
            };
            writeln!(
                f,
                "{:>5}  {:>4}  {:<14}  {:>4}  {}  {}",
                s.epoch, s.step, outcome, s.hint, s.w, s.batch
            )?;
        }
        let t = &self.totals;
        writeln!(
            f,
            "steps {}: recovered {}, other_preimage {}, no_preimage {}; {} hinted steps, {} hint coordinates",
            t.steps, t.recovered, t.other_preimage, t.no_preimage, t.hinted_steps, t.hint_coordinates
        )?;
        writeln!(
            f,
            "initial_model_bit_exact {}, all_models_bit_exact {}; final W {}",
            t.initial_model_bit_exact, t.all_models_bit_exact, t.final_w
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::config::{DataSource, ModelKind, StepSize, VerifyConfig};
    use crate::sgd::BackendChoice;

    /// Least squares on six synthetic points, exact gradients, p = 6, q = 0.9: three steps, and
    /// on this coarse grid with strong contraction some of them are many-to-one.
    fn tiny_run(batch: usize, n: usize) -> VerifiedRun {
        let setup = Setup::new(&VerifyConfig {
            data: DataSource::Synthetic {
                n,
                features: 2,
                classes: 2,
            },
            model: ModelKind::LeastSquares,
            backend: BackendChoice::Exact,
            frac_bits: 6,
            step_size: StepSize::Q("0.9".into()),
            batch,
            epochs: 1,
            seed: 3,
            stop_at_full_accuracy: false,
            code: false,
            ..VerifyConfig::default()
        })
        .unwrap();
        verify_run(&setup, &mut NoObserver, &NoProgress).unwrap()
    }

    #[test]
    fn a_small_snapshot_is_pinned_value_for_value() {
        let snap = Snapshot::from_run(&tiny_run(2, 6)).unwrap();
        insta::assert_snapshot!(snap.to_string(), @r"
        epoch  step  outcome         hint  W             batch
            1     1  other_preimage     2  4c4d6464cb5b  [4, 0]
            1     2  recovered          0  4a4c2636afee  [3, 1]
            1     3  other_preimage     1  ec7287183b61  [2, 5]
        steps 3: recovered 1, other_preimage 2, no_preimage 0; 2 hinted steps, 3 hint coordinates
        initial_model_bit_exact true, all_models_bit_exact true; final W 5d76896bb885
        ");
        let json = serde_json::to_string(&snap).unwrap();
        insta::assert_snapshot!(json, @r#"{"steps":[{"epoch":1,"step":1,"batch":[4,0],"outcome":"other_preimage","hint":2,"w":"4c4d6464cb5b"},{"epoch":1,"step":2,"batch":[3,1],"outcome":"recovered","hint":0,"w":"4a4c2636afee"},{"epoch":1,"step":3,"batch":[2,5],"outcome":"other_preimage","hint":1,"w":"ec7287183b61"}],"totals":{"steps":3,"recovered":1,"other_preimage":2,"no_preimage":0,"hinted_steps":2,"hint_coordinates":3,"initial_model_bit_exact":true,"all_models_bit_exact":true,"final_w":"5d76896bb885"}}"#);
        assert_eq!(serde_json::from_str::<Snapshot>(&json).unwrap(), snap);
    }

    #[test]
    fn a_long_batch_is_shown_by_its_size_and_hash() {
        let snap = Snapshot::from_run(&tiny_run(9, 18)).unwrap();
        insta::assert_snapshot!(snap.to_string(), @r"
        epoch  step  outcome         hint  W             batch
            1     1  other_preimage     1  4c4d6464cb5b  9 examples #89c19916cb03
            1     2  recovered          0  c05505ad9594  9 examples #a973e461f196
        steps 2: recovered 1, other_preimage 1, no_preimage 0; 1 hinted steps, 1 hint coordinates
        initial_model_bit_exact true, all_models_bit_exact true; final W 107c568c5fa7
        ");
    }

    /// Every single bit of every model of the run, and every batch index, shows in the
    /// snapshot: flipping one changes it.
    #[test]
    fn any_single_bit_of_the_run_changes_the_snapshot() {
        for (batch, n) in [(2, 6), (9, 18)] {
            let run = tiny_run(batch, n);
            let base = Snapshot::from_run(&run).unwrap();
            let changed = |edit: &dyn Fn(&mut VerifiedRun)| {
                let mut r = run.clone();
                edit(&mut r);
                let snap = Snapshot::from_run(&r).unwrap();
                snap != base && snap.to_string() != base.to_string()
            };
            let d = run.trajectory.final_model.len();
            for bit in 0..64 {
                for c in 0..d {
                    assert!(changed(&|r| r.trajectory.final_model[c] ^= 1 << bit));
                    for k in 0..run.trajectory.steps.len() {
                        assert!(changed(&|r| r.trajectory.steps[k].w[c] ^= 1 << bit));
                    }
                }
            }
            for k in 0..run.trajectory.steps.len() {
                for i in 0..batch {
                    assert!(changed(&|r| r.trajectory.steps[k].batch[i] ^= 1));
                }
            }
        }
    }

    #[test]
    fn a_run_without_inversion_has_no_snapshot() {
        let mut run = tiny_run(2, 6);
        run.records = None;
        let err = Snapshot::from_run(&run).unwrap_err().to_string();
        assert!(err.contains("invert: true"), "{err}");
    }
}
