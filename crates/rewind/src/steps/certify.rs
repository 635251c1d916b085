//! Certified preimage enumeration: every inverted step is proven `Unique`, `Ambiguous` (with
//! its k preimages) or `Unknown` (with the reason) — docs/design.md §4.3.
//!
//! Lemma 2.1 says a step with αL < 1 is injective over ℝ; on the grid it often is not, and the
//! fixed-point iteration cannot tell. Given W', the batch B and one verified preimage V, this
//! module finds *all* grid preimages and proves there are no others:
//!
//! 1. **Radius.** For preimages U, V: U − V = s(U) − s(V), and |s_k(U) − s_k(V)| ≤
//!    ⌊|a_k(U) − a_k(V)|⌋ + 1 with a = α·ĝ·2^p unrounded. With q_∞ = α·max_k Σ_j sup|H_kj| (a
//!    certified row-sum bound of the batch Hessian, [`crate::model::CertifiedBounds::row_bound`]) and E a
//!    rigorous bound on the backend's evaluation error in ulps ([`crate::model::CertifiedBounds::evaluation_error`]),
//!    m = ‖U − V‖_∞ satisfies m ≤ q_∞·m + 2E + 1, so every preimage lies within
//!    R = ⌊(1 + 2E)/(1 − q_∞)⌋ ulps of V. With q_∞ ≥ 1 there is no such radius: `Unknown`.
//! 2. **Pinning.** Over the box, a_k moves by at most δ_k = α·Σ_j sup|H_kj|·r_j + 2E_k. If a_k(V)
//!    is farther than δ_k from every rounding boundary, s_k is constant on the box and U_k = V_k
//!    for every preimage: coordinate k is pinned (r_k = 0). Pinning shrinks δ and the radius;
//!    both are re-tightened until nothing changes.
//! 3. **Branch and bound.** Each free coordinate can only take the values W'_k + t for the
//!    integers t that a_k can round to within δ_k. The search fixes one free coordinate at a
//!    time (fewest options first), re-evaluates the gradient at the new point, prunes a branch
//!    whose fixed coordinates their own rounding cannot reach, and decides without branching any
//!    coordinate left with one option; a complete point is kept if its forward step is W'. A work
//!    budget (gradient evaluations) turns an overrun into `Unknown`.
//!
//! Evaluation error, per backend: `exact` has none; `mpfr` and `f64` use the standard
//! forward-error model |fl(a∘b) − a∘b| ≤ u·|a∘b| with u = 2^-precision or 2^-53, propagated
//! through the model's gradient (see `linear_eval_error` in [`crate::model`]), plus the rounding
//! of the residual itself. The MLP has neither a certified Hessian bound nor an error bound, so
//! its steps are `Unknown(NoCertifiedBound)`.

use crate::model::{RowBound, StepBounds};
use crate::sgd::StepFunction;
use crate::steps::codec::entropy::Certifier;
use crate::Error;
use serde::Serialize;

/// Default budget of gradient evaluations per certified step.
pub const DEFAULT_BUDGET: u64 = 4096;

/// The largest budget accepted: a decoder repeats every certification, so a budget from a code
/// file's header must not buy unbounded work.
pub const MAX_BUDGET: u64 = 16_384;

/// Why a step could not be certified.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum UnknownReason {
    /// q_∞ = α·L_∞ ≥ 1: the ∞-norm radius argument fails.
    NonContractiveInfNorm {
        /// α·L_∞ over the free coordinates.
        q_inf: f64,
    },
    /// The enumeration would need more gradient evaluations than the budget.
    Budget {
        /// Preimages found before the budget ran out (a lower bound on their number).
        candidates: f64,
    },
    /// The model has no certified Hessian bound or evaluation-error bound (the MLP).
    NoCertifiedBound,
    /// The radius exceeds the box on which the evaluation-error bound was established.
    RadiusTooLarge {
        /// The ∞-norm radius R in ulps.
        radius: i64,
    },
}

/// The box (in ulps around V) on which evaluation errors are bounded.
const ERROR_SLACK: i64 = 64;

/// What is proven about one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Certificate {
    /// Exactly one grid preimage, the logged model.
    Unique,
    /// `preimages` grid preimages; the logged model is number `index_of_logged` in
    /// lexicographic order, so picking it costs ⌈log₂ preimages⌉ bits.
    Ambiguous {
        /// k > 1: the number of grid preimages.
        preimages: usize,
        /// The logged model's 0-based position among them (`usize::MAX` if it is not one).
        index_of_logged: usize,
    },
    /// Nothing is proven about the preimages (docs/design.md §4.3).
    Unknown(UnknownReason),
}

impl Certificate {
    /// ⌈log₂ k⌉ for an ambiguous step, 0 otherwise.
    pub fn optimal_hint_bits(&self) -> u64 {
        match self {
            Certificate::Ambiguous { preimages, .. } => {
                crate::steps::codec::ceil_log2(&(*preimages as u64).into())
            }
            _ => 0,
        }
    }
}

/// The full preimage set of one step, with what it took to prove it.
#[derive(Debug, Clone, PartialEq)]
pub struct Enumeration {
    /// Every grid preimage, in lexicographic order.
    pub preimages: Vec<Vec<i64>>,
    /// Coordinates left free after pinning.
    pub free: usize,
    /// The final ∞-norm radius R in ulps.
    pub radius: i64,
    /// q_∞ over the free coordinates.
    pub q_inf: f64,
}

/// The outcome of [`enumerate_preimages`] and the gradient evaluations it used.
#[derive(Debug, Clone, PartialEq)]
pub struct Enumerated {
    /// The proven preimage set, or why it could not be proven.
    pub result: Result<Enumeration, UnknownReason>,
    /// Gradient evaluations spent, at most the budget.
    pub evaluations: u64,
}

/// The enumeration as the Lemma 3.1 code uses it, with `budget` gradient evaluations per step:
/// a hint becomes the logged model's index among the proven preimages (docs/design.md §5.3).
pub fn certifier(budget: u64) -> Certifier {
    Certifier {
        budget,
        enumerate: |f, w_next, batch, v, budget| {
            let e = enumerate_preimages(f, w_next, batch, v, budget)?;
            Ok(e.result.ok().map(|en| en.preimages))
        },
    }
}

/// Finds every grid preimage of `w_next` under the step with `batch`, given one verified
/// preimage `v`, or says why it cannot be proven.
pub fn enumerate_preimages(
    f: &StepFunction,
    w_next: &[i64],
    batch: &[usize],
    v: &[i64],
    budget: u64,
) -> Result<Enumerated, Error> {
    let (s_v, residual) = f.increment_with_residual(v, batch)?;
    if StepFunction::apply(v, &s_v)? != w_next {
        return Err(Error::Config(
            "certification needs a verified preimage, and the given model is not one".into(),
        ));
    }
    let evaluations = 1;
    let mut bounds = match Bounds::new(f, batch, v, &s_v, &residual) {
        Ok(b) => b,
        Err(reason) => {
            return Ok(Enumerated {
                result: Err(reason),
                evaluations,
            })
        }
    };
    let Pinned {
        free,
        radius,
        q_inf,
        delta,
    } = match bounds.pin() {
        Ok(x) => x,
        Err(reason) => {
            return Ok(Enumerated {
                result: Err(reason),
                evaluations,
            })
        }
    };
    let mut search = Search {
        bounds: &bounds,
        w_next,
        v,
        radius,
        budget,
        evaluations,
        preimages: Vec::new(),
    };
    let free_count = free.len();
    let complete = if free.is_empty() {
        // Every coordinate is pinned: the root is V, whose step was checked above.
        search.preimages.push(v.to_vec());
        true
    } else {
        search.node(v.to_vec(), free, Some((s_v, residual)), Some(delta))?
    };
    let evaluations = search.evaluations;
    if !complete {
        return Ok(Enumerated {
            result: Err(UnknownReason::Budget {
                candidates: search.preimages.len() as f64,
            }),
            evaluations,
        });
    }
    let mut preimages = search.preimages;
    preimages.sort();
    preimages.dedup();
    Ok(Enumerated {
        result: Ok(Enumeration {
            preimages,
            free: free_count,
            radius,
            q_inf,
        }),
        evaluations,
    })
}

/// A step's increment at a point and each coordinate's residual from its rounding boundary.
type Evaluation = (Vec<i64>, Vec<f64>);

/// Branch and bound over the free coordinates. A node is a point whose *decided* coordinates
/// are fixed and whose free ones still hold V's values; every preimage in the node agrees with
/// it on the decided coordinates and lies within the radius of V on the free ones.
struct Search<'a, 'b> {
    bounds: &'b Bounds<'a>,
    w_next: &'a [i64],
    v: &'a [i64],
    radius: i64,
    budget: u64,
    evaluations: u64,
    preimages: Vec<Vec<i64>>,
}

impl Search<'_, '_> {
    /// Explores the node; false if the budget ran out.
    fn node(
        &mut self,
        mut point: Vec<i64>,
        mut free: Vec<usize>,
        known: Option<Evaluation>,
        mut delta_known: Option<Vec<f64>>,
    ) -> Result<bool, Error> {
        let Some((s, residual)) = self.evaluate(&point, known)? else {
            return Ok(false);
        };
        loop {
            if free.is_empty() {
                if StepFunction::apply(&point, &s)? == self.w_next {
                    self.preimages.push(point);
                }
                return Ok(true);
            }
            let delta = match delta_known.take() {
                Some(d) => d,
                None => self.delta_over(&free, point.len()),
            };
            let Some(options) = self.options(&point, &free, &s, &residual, &delta) else {
                return Ok(true);
            };
            // Coordinates with a single possible value are decided without branching.
            let forced: Vec<(usize, i64)> = options
                .iter()
                .filter(|(_, o)| o.len() == 1)
                .map(|(k, o)| (*k, o[0]))
                .collect();
            if forced.is_empty() {
                return self.branch(point, &free, options, (&s, &residual));
            }
            free.retain(|k| !forced.iter().any(|(j, _)| j == k));
            let moved = forced.iter().any(|&(k, val)| point[k] != val);
            for (k, val) in forced {
                point[k] = val;
            }
            if moved {
                return self.node(point, free, None, None);
            }
        }
    }

    /// The increment and residuals at `point`: `known` when the parent's evaluation holds
    /// (the point did not move), else one gradient evaluation; `None` when the budget is spent.
    fn evaluate(
        &mut self,
        point: &[i64],
        known: Option<Evaluation>,
    ) -> Result<Option<Evaluation>, Error> {
        if let Some(k) = known {
            return Ok(Some(k));
        }
        if self.evaluations >= self.budget {
            return Ok(None);
        }
        self.evaluations += 1;
        Ok(Some(
            self.bounds
                .f
                .increment_with_residual(point, self.bounds.batch)?,
        ))
    }

    /// The certified change bound of every coordinate when the `free` ones may still move by
    /// the radius and the decided ones are fixed.
    fn delta_over(&self, free: &[usize], dim: usize) -> Vec<f64> {
        let r: Vec<i64> = (0..dim)
            .map(|k| if free.contains(&k) { self.radius } else { 0 })
            .collect();
        self.bounds.delta(&r)
    }

    /// The values each free coordinate may take, or `None` when the node holds no preimage: a
    /// decided coordinate outside the range its own rounding can reach, or a free one with no
    /// value left.
    fn options(
        &self,
        point: &[i64],
        free: &[usize],
        s: &[i64],
        residual: &[f64],
        delta: &[f64],
    ) -> Option<Vec<(usize, Vec<i64>)>> {
        let span = |k: usize| {
            candidate_span(
                self.w_next[k],
                s[k],
                residual[k],
                delta[k],
                self.v[k],
                self.radius,
            )
        };
        // Checked without listing the range.
        let decided_ok = (0..point.len()).filter(|k| !free.contains(k)).all(|k| {
            let (lo, hi) = span(k);
            (lo..=hi).contains(&i128::from(point[k]))
        });
        if !decided_ok {
            return None;
        }
        // The span is clamped to the i64 range: every value converts exactly.
        let options: Vec<(usize, Vec<i64>)> = free
            .iter()
            .map(|&k| {
                let (lo, hi) = span(k);
                (k, (lo..=hi).map(|u| u as i64).collect())
            })
            .collect();
        (!options.iter().any(|(_, o)| o.is_empty())).then_some(options)
    }

    /// Branches on the free coordinate with the fewest values; a child that keeps the point's
    /// value reuses its evaluation.
    fn branch(
        &mut self,
        point: Vec<i64>,
        free: &[usize],
        options: Vec<(usize, Vec<i64>)>,
        (s, residual): (&[i64], &[f64]),
    ) -> Result<bool, Error> {
        let (k, values) = options
            .into_iter()
            .min_by_key(|(_, o)| o.len())
            .unwrap_or_default();
        let rest: Vec<usize> = free.iter().copied().filter(|&j| j != k).collect();
        for val in values {
            let mut child = point.clone();
            child[k] = val;
            let known = (val == point[k]).then(|| (s.to_vec(), residual.to_vec()));
            if !self.node(child, rest.clone(), known, None)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// The candidate values U_k as the span lo..=hi (empty when lo > hi): W'_k + t for every
/// integer t that a_k ∈ [a_k(V) − δ, a_k(V) + δ] can round to (ties either way), i.e. t from
/// min(⌈a − δ − ½⌉, s) to max(⌊a + δ + ½⌋, s), kept within the radius of V_k. Computed in
/// i128, where neither sum can overflow.
fn candidate_span(
    w_next: i64,
    s: i64,
    residual: f64,
    delta: f64,
    v: i64,
    radius: i64,
) -> (i128, i128) {
    let a = s as f64 + residual;
    let lo = ((a - delta - 0.5).ceil() as i64).min(s);
    let hi = ((a + delta + 0.5).floor() as i64).max(s);
    let (w, v, r) = (i128::from(w_next), i128::from(v), i128::from(radius));
    let lo = (w + i128::from(lo)).max(v - r).max(i128::from(i64::MIN));
    let hi = (w + i128::from(hi)).min(v + r).min(i128::from(i64::MAX));
    (lo, hi)
}

/// The certified quantities of one step at V.
struct Bounds<'a> {
    f: &'a StepFunction<'a>,
    batch: &'a [usize],
    alpha: f64,
    /// Distance of a_k(V) to its nearest rounding boundary, ½ − |residual|.
    margin: Vec<f64>,
    /// 2·E_k: twice the evaluation error in ulps, plus the residual's own rounding.
    two_e: Vec<f64>,
    /// The model's bounds at V: the evaluation error, the global rows and the box's rows.
    step: StepBounds<'a>,
    /// The Hessian's row-sum structure on the box V ± R₀, where the curvature is bounded more
    /// tightly, once the global radius R₀ is known; until then the global `step.rows`.
    local_rows: Option<RowBound<'a>>,
}

impl<'a> Bounds<'a> {
    fn new(
        f: &'a StepFunction<'a>,
        batch: &'a [usize],
        v: &[i64],
        s_v: &[i64],
        residual: &[f64],
    ) -> Result<Self, UnknownReason> {
        let bounds = f.model().bounds().ok_or(UnknownReason::NoCertifiedBound)?;
        let u = f.unit_roundoff();
        // Slack for the error bound: generous against any radius that certification accepts.
        let step = bounds
            .step_bounds(f.data(), batch, v, ERROR_SLACK, u)
            .ok_or(UnknownReason::NoCertifiedBound)?;
        let alpha = f.alpha().to_f64();
        let scale = alpha * libm::ldexp(1.0, f.data().grid.frac_bits() as i32);
        // Beyond the gradient's error: the rounding of α·ĝ·2^p itself (u·|a|, |a| ≤ |s| + ½) and
        // of the residual's conversion to f64.
        let two_e = step
            .error
            .iter()
            .zip(s_v)
            .map(|(e, s)| {
                let scaling = u * (s.unsigned_abs() as f64 + 0.5) * 2.0;
                let conversion = if u == 0.0 { 0.0 } else { 1e-12 };
                2.0 * (e * scale + scaling) * (1.0 + 1e-9) + conversion
            })
            .collect();
        let margin = residual.iter().map(|r| 0.5 - r.abs()).collect();
        Ok(Bounds {
            f,
            batch,
            alpha,
            margin,
            two_e,
            step,
            local_rows: None,
        })
    }

    /// Restricts the curvature bound to the box V ± `radius`.
    fn localise(&mut self, radius: i64) {
        self.local_rows = Some(self.step.localise(radius));
    }

    /// α·Σ_j sup|H_kj|·r_j for the coordinates `only` (every k when `None`; 0 for the rest).
    fn spread(&self, r: &[i64], only: Option<&[usize]>) -> Vec<f64> {
        let rows = self.local_rows.as_ref().unwrap_or(&self.step.rows);
        let mut rows = rows.rows_of(r, only);
        match only {
            None => rows.iter_mut().for_each(|v| *v *= self.alpha),
            Some(coords) => coords.iter().for_each(|&k| rows[k] *= self.alpha),
        }
        rows
    }

    /// δ_k = α·Σ_j sup|H_kj|·r_j + 2E_k: how far a_k can move over the box of radii r.
    fn delta(&self, r: &[i64]) -> Vec<f64> {
        self.spread(r, None)
            .iter()
            .zip(&self.two_e)
            .map(|(s, e)| s + e)
            .collect()
    }

    /// Pins coordinates and re-tightens the radius until stable; returns the free coordinates,
    /// the radius and q_∞ over the free set. The spread is linear in the radii, so one row
    /// computation per round gives both q_∞ (radius 1) and δ (radius R). Pinning needs the rows
    /// of the free coordinates only, and only those are computed: once most coordinates are
    /// pinned a round costs a small fraction of a gradient evaluation.
    fn pin(&mut self) -> Result<Pinned, UnknownReason> {
        let d = self.f.dim();
        let mut free: Vec<bool> = vec![true; d];
        let mut radius = i64::MAX;
        let e_max = self.two_e.iter().copied().fold(0.0, f64::max);
        let mut localised = false;
        loop {
            // One row computation per free set: q_∞ uses radius 1, δ radius R (it is linear).
            let unit = if localised {
                let indicator: Vec<i64> = free.iter().map(|&b| b as i64).collect();
                let coords: Vec<usize> = (0..d).filter(|&k| free[k]).collect();
                self.spread(&indicator, (coords.len() < d).then_some(coords.as_slice()))
            } else {
                // Every coordinate is free in the first round, whose rows are the global ones.
                self.step.unit.iter().map(|v| v * self.alpha).collect()
            };
            let q_inf = unit
                .iter()
                .zip(&free)
                .filter(|(_, &b)| b)
                .map(|(v, _)| *v)
                .fold(0.0, f64::max);
            if q_inf >= 1.0 {
                return Err(UnknownReason::NonContractiveInfNorm { q_inf });
            }
            radius = (((1.0 + e_max) / (1.0 - q_inf)).floor() as i64).min(radius);
            // Exact arithmetic has no evaluation error, hence no box to stay within.
            if radius > ERROR_SLACK && e_max > 0.0 {
                return Err(UnknownReason::RadiusTooLarge { radius });
            }
            let delta: Vec<f64> = unit
                .iter()
                .zip(&self.two_e)
                .map(|(u, e)| u * radius as f64 + e)
                .collect();
            let next: Vec<bool> = (0..d)
                .map(|k| free[k] && self.margin[k] <= delta[k])
                .collect();
            let settled = next == free;
            free = next;
            if !free.iter().any(|&b| b) || (settled && localised) {
                return Ok(Pinned {
                    free: (0..d).filter(|&k| free[k]).collect(),
                    radius,
                    q_inf,
                    delta,
                });
            }
            if !localised {
                // Every preimage lies within R₀ of V (the global bound): from here on,
                // curvature need only be bounded on that box.
                self.localise(radius);
                localised = true;
            }
        }
    }
}

/// What pinning leaves: the free coordinates, the radius, q_∞ over them, and δ for that box.
/// δ is exact for the free coordinates; a pinned one may hold only its 2E_k. That is all the
/// search's root needs: its point is V, whose decided coordinates V_k = W'_k + s_k(V) are
/// allowed whatever their δ, and its options are those of the free coordinates.
struct Pinned {
    free: Vec<usize>,
    radius: i64,
    q_inf: f64,
    delta: Vec<f64>,
}

/// Certifies one step whose logged pre-step model is `logged` (itself a verified preimage).
pub fn certify(
    f: &StepFunction,
    w_next: &[i64],
    batch: &[usize],
    logged: &[i64],
    budget: u64,
) -> Result<(Certificate, Enumerated), Error> {
    let e = enumerate_preimages(f, w_next, batch, logged, budget)?;
    let cert = match &e.result {
        Err(reason) => Certificate::Unknown(*reason),
        Ok(en) if en.preimages.len() == 1 => Certificate::Unique,
        Ok(en) => Certificate::Ambiguous {
            preimages: en.preimages.len(),
            index_of_logged: en
                .preimages
                .iter()
                .position(|p| p == logged)
                .unwrap_or(usize::MAX),
        },
    };
    Ok((cert, e))
}
