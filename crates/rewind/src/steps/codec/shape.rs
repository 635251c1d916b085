//! The public shape of a run (n, b, epochs, T): what the decoder of the Lemma 3.1 code knows
//! besides the data and the final model, and the steps each epoch took.

use crate::sgd::Trajectory;
use crate::Error;

/// The public shape of a run: what the decoder knows besides the data and the final model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunShape {
    /// Examples used, n.
    pub n: usize,
    /// Batch size b.
    pub batch: usize,
    /// Epochs started.
    pub epochs: usize,
    /// Steps taken, T.
    pub steps: usize,
}

impl RunShape {
    /// The shape of a logged run on `n` examples with batch size `batch`.
    pub fn of(traj: &Trajectory, n: usize, batch: usize) -> Self {
        RunShape {
            n,
            batch,
            epochs: traj.permutations.len(),
            steps: traj.steps.len(),
        }
    }

    pub(super) fn per_epoch(&self) -> usize {
        self.n / self.batch
    }

    /// Steps taken in epoch `e` (0-based): all n/b except in an epoch cut short.
    pub(super) fn steps_in(&self, e: usize) -> usize {
        let full = self.per_epoch();
        self.steps.saturating_sub(e * full).min(full)
    }

    pub(super) fn check(&self) -> Result<(), Error> {
        let full = self.per_epoch();
        let ok = self.batch > 0
            && self.n > 0
            && self.n.is_multiple_of(self.batch)
            && self.epochs > 0
            && self.steps >= (self.epochs - 1) * full
            && self.steps <= self.epochs * full;
        if ok {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "the run shape (n = {}, b = {}, {} epochs, {} steps) is inconsistent; the code file is corrupted",
                self.n, self.batch, self.epochs, self.steps
            )))
        }
    }
}
