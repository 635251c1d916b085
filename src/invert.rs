//! Inverting one step (Lemma 2.1 / Theorem 2.2): given W' and the batch B, find V with
//! V − s_B(V) = W' by the contraction fixed-point iteration V ← W' + s_B(V), from V₀ = W'.
//!
//! Over ℝ with αL < 1 the iteration contracts to the unique preimage. On the grid a step is
//! often many-to-one (docs/design.md §3, labels §4.1), so the inverter only reports
//! what it did: [`Outcome::Recovered`] (its fixed point is the logged model),
//! [`Outcome::OtherPreimage`] (a different, verified preimage) or [`Outcome::NoPreimage`]
//! (a cycle, or the iteration cap). It never claims uniqueness.

use crate::grid::checked_add;
use crate::sgd::StepFunction;
use crate::Error;
use std::collections::HashMap;

/// Default cap on the fixed-point iterations of one inversion.
pub const DEFAULT_MAX_ITERATIONS: u32 = 10_000;

/// Why the iteration stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Termination {
    /// V = W' + s_B(V): a preimage, verified by one forward step.
    FixedPoint,
    /// The iterates entered a cycle of this length (> 1): no preimage found.
    Cycle { length: u32 },
    /// The cap was reached without a repeat.
    Cap,
}

/// What the inverter did, compared with the logged model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Recovered,
    OtherPreimage,
    NoPreimage,
}

/// The result of inverting one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inversion {
    /// The fixed point when there is one, otherwise the last iterate.
    pub point: Vec<i64>,
    pub termination: Termination,
    /// Iterations performed (each costs one gradient evaluation).
    pub iterations: u32,
}

impl Inversion {
    /// The preimage found, if any.
    pub fn preimage(&self) -> Option<&[i64]> {
        (self.termination == Termination::FixedPoint).then_some(&self.point)
    }

    /// How this inversion compares with the model that was really logged.
    pub fn outcome(&self, logged: &[i64]) -> Outcome {
        match self.preimage() {
            Some(v) if v == logged => Outcome::Recovered,
            Some(_) => Outcome::OtherPreimage,
            None => Outcome::NoPreimage,
        }
    }
}

/// Inverts the step that produced `w_next` from `batch`.
pub fn invert(
    f: &StepFunction,
    w_next: &[i64],
    batch: &[usize],
    max_iterations: u32,
) -> Result<Inversion, Error> {
    let mut v = w_next.to_vec();
    let mut seen: HashMap<Vec<i64>, u32> = HashMap::new();
    for it in 0..max_iterations {
        let s = f.increment(&v, batch)?;
        // A fixed point is checked as a forward step, bit for bit.
        if StepFunction::apply(&v, &s)? == w_next {
            return Ok(Inversion {
                point: v,
                termination: Termination::FixedPoint,
                iterations: it + 1,
            });
        }
        let next = checked_add(w_next, &s, "an inversion iterate")?;
        seen.insert(std::mem::replace(&mut v, next), it);
        if let Some(&first) = seen.get(&v) {
            return Ok(Inversion {
                point: v,
                termination: Termination::Cycle {
                    length: it + 1 - first,
                },
                iterations: it + 1,
            });
        }
    }
    Ok(Inversion {
        point: v,
        termination: Termination::Cap,
        iterations: max_iterations,
    })
}
