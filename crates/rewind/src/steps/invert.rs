//! Inverting one step (Lemma 2.1 / Theorem 2.2): given W' and the batch B, find V with
//! V − s_B(V) = W' by the contraction fixed-point iteration V ← W' + s_B(V), from V₀ = W'.
//!
//! Over ℝ with αL < 1 the iteration contracts to the unique preimage. On the grid a step is
//! often many-to-one (docs/design.md §3, labels §4.1), so the inverter only reports
//! what it did: [`Outcome::Recovered`] (its fixed point is the logged model),
//! [`Outcome::OtherPreimage`] (a different, verified preimage) or [`Outcome::NoPreimage`]
//! (a cycle, or the iteration cap). It never claims uniqueness.
//!
//! When the run's backend is not f64, the iteration first runs with a cheap *predictor*, the
//! f64 evaluation of the same model in the same order ([`StepFunction::predict_increment`]),
//! and the run's own backend then takes over at the predictor's last iterate: its first
//! evaluation there is the forward step, bit for bit, which confirms a fixed point, and
//! otherwise the own iteration simply goes on. Nothing is concluded from the predictor, which
//! only decides where the own iteration starts; f64 and the own backend round the same
//! increments alike except within about 10⁻⁸ ulp of a rounding boundary, so the path, and the
//! preimage found, are almost always those of the plain own iteration from W'.

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
    Cycle {
        /// The number of distinct iterates in the cycle.
        length: u32,
    },
    /// The cap was reached without a repeat.
    Cap,
}

/// What the inverter did, compared with the logged model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The fixed point is the logged model W.
    Recovered,
    /// The fixed point is a grid preimage of W' other than W (the grid's many-to-one steps,
    /// docs/design.md §3).
    OtherPreimage,
    /// A cycle or the cap: nothing is claimed about whether W' has a preimage.
    NoPreimage,
}

impl Outcome {
    /// The outcome as reports and tables write it.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Recovered => "recovered",
            Outcome::OtherPreimage => "other_preimage",
            Outcome::NoPreimage => "no_preimage",
        }
    }
}

/// The result of inverting one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inversion {
    /// The fixed point when there is one, otherwise the last iterate.
    pub point: Vec<i64>,
    /// Why the iteration stopped.
    pub termination: Termination,
    /// Steps V ← W' + s_B(V) taken, whichever backend evaluated them; the own backend's
    /// confirmation of the predictor's last iterate counts as that iterate's evaluation, so
    /// when both backends round alike this is the count of the plain own iteration.
    pub iterations: u32,
    /// Gradient evaluations by the run's own backend (at least one for a fixed point).
    pub own_evaluations: u32,
    /// Gradient evaluations by the f64 predictor (0 when the own backend is f64).
    pub predictor_evaluations: u32,
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

/// Watches an inversion: every iterate V_t the run's own backend evaluates, with its increment
/// s_B(V_t), in order (the next iterate is W' + s_B(V_t)). The teaching demo draws them.
pub trait InversionObserver {
    /// Called once per own-backend evaluation, before the fixed-point check.
    fn iterate(&mut self, point: &[i64], increment: &[i64]);
}

/// An observer that watches nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoIterates;

impl InversionObserver for NoIterates {
    fn iterate(&mut self, _point: &[i64], _increment: &[i64]) {}
}

/// Inverts the step that produced `w_next` from `batch`: the predictor's iteration (when the
/// step function has one), then the own backend's from the predictor's last iterate, within
/// `max_iterations` steps in all.
pub fn invert(
    f: &StepFunction,
    w_next: &[i64],
    batch: &[usize],
    max_iterations: u32,
) -> Result<Inversion, Error> {
    invert_observed(f, w_next, batch, max_iterations, &mut NoIterates)
}

/// [`invert`], showing each own-backend iterate to `observer`.
pub fn invert_observed(
    f: &StepFunction,
    w_next: &[i64],
    batch: &[usize],
    max_iterations: u32,
    observer: &mut dyn InversionObserver,
) -> Result<Inversion, Error> {
    let mut predicted = 0;
    let (start, done) = predict(f, w_next, batch, max_iterations, &mut predicted)
        .unwrap_or_else(|| (w_next.to_vec(), 0));
    let own = iterate(w_next, start, max_iterations - done, |v| {
        let s = f.increment(v, batch)?;
        observer.iterate(v, &s);
        Ok(s)
    })?;
    Ok(Inversion {
        point: own.point,
        termination: own.termination,
        iterations: done + own.iterations,
        own_evaluations: own.iterations,
        predictor_evaluations: predicted,
    })
}

/// The predictor's iteration from W', leaving the own backend at least one step: the point to
/// hand over and the steps it took to reach that point; `evaluations` counts its evaluations.
/// `None` without a predictor, or when the predictor fails (an overflow in f64 is no evidence
/// about the own backend, which then starts from W' as without one).
fn predict(
    f: &StepFunction,
    w_next: &[i64],
    batch: &[usize],
    max_iterations: u32,
    evaluations: &mut u32,
) -> Option<(Vec<i64>, u32)> {
    if !f.has_predictor() || max_iterations < 2 {
        return None;
    }
    let walk = iterate(w_next, w_next.to_vec(), max_iterations - 1, |v| {
        *evaluations += 1;
        f.predict_increment(v, batch)
    })
    .ok()?;
    // At a fixed point the last evaluation was at the point itself; the own backend repeats it.
    let reached = walk.iterations - u32::from(walk.termination == Termination::FixedPoint);
    Some((walk.point, reached))
}

/// The fixed-point iteration V ← W' + s(V) from `start`, for at most `budget` evaluations of
/// `s`; `iterations` counts the evaluations.
fn iterate(
    w_next: &[i64],
    start: Vec<i64>,
    budget: u32,
    mut s_of: impl FnMut(&[i64]) -> Result<Vec<i64>, Error>,
) -> Result<Walk, Error> {
    let mut v = start;
    let mut seen: HashMap<Vec<i64>, u32> = HashMap::new();
    for it in 0..budget {
        let s = s_of(&v)?;
        // A fixed point is checked as a forward step, bit for bit.
        if StepFunction::apply(&v, &s)? == w_next {
            return Ok(Walk {
                point: v,
                termination: Termination::FixedPoint,
                iterations: it + 1,
            });
        }
        let next = checked_add(w_next, &s, "an inversion iterate")?;
        seen.insert(std::mem::replace(&mut v, next), it);
        if let Some(&first) = seen.get(&v) {
            return Ok(Walk {
                point: v,
                termination: Termination::Cycle {
                    length: it + 1 - first,
                },
                iterations: it + 1,
            });
        }
    }
    Ok(Walk {
        point: v,
        termination: Termination::Cap,
        iterations: budget,
    })
}

/// Where one run of the iteration ended.
struct Walk {
    point: Vec<i64>,
    termination: Termination,
    iterations: u32,
}
