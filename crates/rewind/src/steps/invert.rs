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

/// Default cap on the fixed-point iterations of one inversion.
pub const DEFAULT_MAX_ITERATIONS: u32 = 10_000;

/// The largest cap accepted from a flag, a plan or a code file's header: an inversion costs at
/// most twice this many gradient evaluations, so a forged header cannot steer unbounded work.
pub const MAX_ITERATIONS: u32 = 1_000_000;

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

    /// Whether the observer wants the iterates at all (they are evaluated again to show them).
    fn watches(&self) -> bool {
        true
    }
}

/// An observer that watches nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoIterates;

impl InversionObserver for NoIterates {
    fn iterate(&mut self, _point: &[i64], _increment: &[i64]) {}

    fn watches(&self) -> bool {
        false
    }
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
    let own = iterate(w_next, start.clone(), max_iterations - done, |v| {
        f.increment(v, batch)
    })?;
    if observer.watches() {
        // The walk may have evaluated iterates twice (locating a cycle); the observer sees the
        // plain iteration's, once each, in order.
        let mut v = start;
        for _ in 0..own.iterations {
            let s = f.increment(&v, batch)?;
            observer.iterate(&v, &s);
            v = checked_add(w_next, &s, "an inversion iterate")?;
        }
    }
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
    let mut calls = 0;
    let walk = iterate(w_next, w_next.to_vec(), max_iterations - 1, |v| {
        calls += 1;
        f.predict_increment(v, batch)
    });
    // A failed walk failed in its first pass, where every call is one of the plain iteration's.
    *evaluations = walk.as_ref().map_or(calls, |w| w.iterations);
    let walk = walk.ok()?;
    // At a fixed point the last evaluation was at the point itself; the own backend repeats it.
    let reached = walk.iterations - u32::from(walk.termination == Termination::FixedPoint);
    Some((walk.point, reached))
}

/// The fixed-point iteration V ← W' + s(V) from `start`, for at most `budget` evaluations of
/// `s`; `iterations` counts the evaluations of the plain iteration.
///
/// A repeat is found with Brent's algorithm, which keeps one earlier iterate (the one at the
/// last power of two) instead of every iterate, so memory is O(d) whatever the budget. The
/// outcome is the one of comparing every iterate with all earlier ones: the cycle's length λ and
/// its first index μ are located afterwards by walking again from `start` (at most λ + 2μ more
/// evaluations, all of iterates already evaluated), and the walk reports the first repeat,
/// V_{μ+λ}, after μ + λ evaluations (docs/design.md §4.1).
fn iterate(
    w_next: &[i64],
    start: Vec<i64>,
    budget: u32,
    mut s_of: impl FnMut(&[i64]) -> Result<Vec<i64>, Error>,
) -> Result<Walk, Error> {
    let mut v = start.clone();
    let mut tortoise = start.clone();
    let (mut power, mut lambda) = (1u64, 0u64);
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
        v = checked_add(w_next, &s, "an inversion iterate")?;
        lambda += 1;
        if v == tortoise {
            // λ > 1 (a repeat after one step is a fixed point, caught above) and μ + λ ≤ it + 1.
            return locate(w_next, start, lambda as u32, &mut s_of);
        }
        if lambda == power {
            tortoise.clone_from(&v);
            power *= 2;
            lambda = 0;
        }
    }
    // No repeat seen, but Brent's comparisons may not yet have caught one that happened within
    // the budget. Then V_budget lies on that cycle, of length at most `budget`: walk on from it
    // until it comes back. An error there means V_budget is on no cycle already evaluated.
    let mut y = v.clone();
    for lambda in 1..=budget {
        let Ok(next) = s_of(&y).and_then(|s| Ok(checked_add(w_next, &s, "an inversion iterate")?))
        else {
            break;
        };
        y = next;
        if y == v {
            let walk = locate(w_next, start, lambda, &mut s_of)?;
            if walk.iterations <= budget {
                return Ok(walk);
            }
            break;
        }
    }
    Ok(Walk {
        point: v,
        termination: Termination::Cap,
        iterations: budget,
    })
}

/// The first repeat of the iteration from `start`, given its cycle length λ: μ is the first
/// index with V_μ = V_{μ+λ}, found by walking two iterates λ apart.
fn locate(
    w_next: &[i64],
    start: Vec<i64>,
    lambda: u32,
    s_of: &mut impl FnMut(&[i64]) -> Result<Vec<i64>, Error>,
) -> Result<Walk, Error> {
    let mut next = |x: &[i64]| -> Result<Vec<i64>, Error> {
        Ok(checked_add(w_next, &s_of(x)?, "an inversion iterate")?)
    };
    let mut behind = start;
    let mut ahead = behind.clone();
    for _ in 0..lambda {
        ahead = next(&ahead)?;
    }
    let mut mu = 0u64;
    while behind != ahead {
        behind = next(&behind)?;
        ahead = next(&ahead)?;
        mu += 1;
    }
    let iterations = u32::try_from(mu + u64::from(lambda))
        .map_err(|_| Error::Internal("a cycle beyond the iteration budget".into()))?;
    Ok(Walk {
        point: ahead,
        termination: Termination::Cycle { length: lambda },
        iterations,
    })
}

/// Where one run of the iteration ended.
struct Walk {
    point: Vec<i64>,
    termination: Termination,
    iterations: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// The iteration as it was first written: every iterate kept in a map, each new one looked
    /// up. Brent's walk must end exactly where this one does.
    fn every_iterate_kept(
        w_next: &[i64],
        start: Vec<i64>,
        budget: u32,
        mut s_of: impl FnMut(&[i64]) -> Result<Vec<i64>, Error>,
    ) -> Result<Walk, Error> {
        let mut v = start;
        let mut seen: HashMap<Vec<i64>, u32> = HashMap::new();
        for it in 0..budget {
            let s = s_of(&v)?;
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

    /// s(V) = table[V₀] − W' ... so that the next iterate is table[V₀]: any map of 0..m to itself.
    fn map_of(table: &[i64]) -> impl FnMut(&[i64]) -> Result<Vec<i64>, Error> + '_ {
        move |v| Ok(vec![table[v[0] as usize] - 5, 0])
    }

    proptest! {
        /// Any map of a small set into itself (cycles of every length, tails, fixed points),
        /// any start and any budget: the same termination, point and iteration count.
        #[test]
        fn brent_ends_where_the_map_of_iterates_ends(
            table in proptest::collection::vec(0i64..40, 1..40),
            start in 0i64..40,
            budget in 0u32..90,
        ) {
            let m = table.len() as i64;
            let table: Vec<i64> = table.iter().map(|t| t % m).collect();
            let w_next = [5, 0];
            let start = vec![start % m, 0];
            let brent = iterate(&w_next, start.clone(), budget, map_of(&table)).unwrap();
            let naive = every_iterate_kept(&w_next, start, budget, map_of(&table)).unwrap();
            prop_assert_eq!(brent.termination, naive.termination);
            prop_assert_eq!(brent.iterations, naive.iterations);
            prop_assert_eq!(brent.point, naive.point);
        }
    }

    #[test]
    fn a_long_walk_without_repeat_keeps_no_iterates() {
        // 10⁶ distinct iterates: the old map would hold them all; the walk holds three.
        let w_next = [0i64];
        let walk = iterate(&w_next, vec![0], 1_000_000, |v| Ok(vec![v[0] + 1])).unwrap();
        assert_eq!(walk.termination, Termination::Cap);
        assert_eq!(walk.point, vec![1_000_000]);
    }
}
