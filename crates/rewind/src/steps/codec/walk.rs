//! The walk both sides of the Lemma 3.1 code share (docs/design.md §5.1): each epoch backwards
//! from W_{i+1,1}, each batch coded from the split of the unassigned examples by the model
//! after it ([`super::tilt`]), then the step inverted and, where it is hinted, its hint read or
//! written ([`super::hint`]). The encoder and the decoder run the same code over a
//! [`Channel`]; only what they know differs.
//!
//! Certification ([`Certifier`]) is a parameter, not a dependency: the codec sits below the
//! preimage enumeration, which hands its enumerator in (docs/design.md §5.3).

use super::channel::{big, corrupt, elias_gamma, small, Channel, Part};
use super::hint::{Hint, StepRecord};
use super::rank::{
    binomial, factorial, log2_binomial, permutation_rank, permutation_unrank, subset_rank,
    subset_unrank,
};
use super::shape::RunShape;
use super::tilt::{k1_table, membership, split, TILTS};
use crate::progress::Phase;
use crate::sgd::{StepFunction, Trajectory};
use crate::steps::invert::{invert, Termination};
use crate::Error;
use num_bigint::BigUint;
use num_traits::{ToPrimitive, Zero};

/// How hints are formed; both sides must agree.
#[derive(Debug, Clone, Copy)]
pub struct CodeOptions {
    /// Enumerate preimages to code a hint as an index among them (docs/design.md §5.3); `None`
    /// codes hints as sparse corrections behind a coded set of hinted steps.
    pub certify: Option<Certifier>,
    /// The inverter's iteration cap per step (Lemma 2.1's fixed-point iteration).
    pub max_iterations: u32,
}

/// Every grid preimage of a step, proven complete, or `None` where the set could not be proven:
/// `(f, w_after, batch, point, budget)` with `point` a verified preimage.
pub type Enumerate =
    fn(&StepFunction, &[i64], &[usize], &[i64], u64) -> Result<Option<Vec<Vec<i64>>>, Error>;

/// A preimage enumerator and its work budget per step; `crate::steps::certify::certifier` builds the
/// certified one.
#[derive(Debug, Clone, Copy)]
pub struct Certifier {
    /// Gradient evaluations allowed per step.
    pub budget: u64,
    /// The enumeration.
    pub enumerate: Enumerate,
}

/// What the decoder returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Every batch, in run order.
    pub batches: Vec<Vec<usize>>,
    /// Every model before its step, in run order; the first is W₁,₁.
    pub models: Vec<Vec<i64>>,
    /// Every epoch's permutation.
    pub permutations: Vec<Vec<usize>>,
    /// Section 4 only: per batch, its z and the model before each inner GD step (`models`
    /// then holds W_{i,j}, before the perturbation); empty for SGD.
    pub gd_calls: Vec<DecodedCall>,
}

/// One GD call of SGD′ as decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DecodedCall {
    /// z: the call's ℓ perturbation values.
    pub z: Vec<i64>,
    /// The model before each inner step; the first is ψ_z(W_{i,j}).
    pub inner: Vec<Vec<i64>>,
}

/// The Section 4 part of a code (Lemma 4.1): per batch, T_{i,j} + 1 in Elias-γ, then z as ℓ
/// digits of radix 2^m, then the batch's T_{i,j} inner steps undone (hinted like SGD steps,
/// over the run's Σ T_{i,j} inner steps), then ψ_z undone.
#[derive(Debug, Clone)]
pub struct GdCode<'a> {
    /// Ψ_ℓ: ℓ, m and the scale of each call's perturbation.
    pub perturbation: crate::perturb::Perturbation,
    /// T: a decoded T_{i,j} above it is a corrupted code.
    pub max_gd_steps: usize,
    /// Σ T_{i,j}, public like the number of steps.
    pub inner_steps: usize,
    /// Encoder only: each batch's GD call, in run order.
    pub known: Option<Vec<KnownCall<'a>>>,
}

/// What the encoder knows of one GD call (Algorithm 2): its z, the models its inner steps
/// started from and their inversion records.
#[derive(Debug, Clone, Copy)]
pub struct KnownCall<'a> {
    /// z: the call's ℓ perturbation values.
    pub z: &'a [i64],
    /// The model before each inner step, W_z first; T_{i,j} is their number.
    pub inner: &'a [Vec<i64>],
    /// The inner steps' inversion records, one per inner step.
    pub records: &'a [StepRecord],
}

/// What the encoder knows about the run.
pub(super) struct Known<'a> {
    pub(super) traj: &'a Trajectory,
    pub(super) records: &'a [StepRecord],
    pub(super) tilts: Vec<usize>,
}

/// The walk both sides share.
pub(super) struct Walk<'a> {
    pub(super) f: &'a StepFunction<'a>,
    pub(super) shape: RunShape,
    pub(super) opts: CodeOptions,
    pub(super) known: Option<Known<'a>>,
    pub(super) gd: Option<GdCode<'a>>,
}

impl Walk<'_> {
    pub(super) fn run(&self, ch: &mut dyn Channel, final_model: &[i64]) -> Result<Decoded, Error> {
        self.shape.check()?;
        let t = self.shape.steps;
        let inner_total = self.gd.as_ref().map_or(t, |g| g.inner_steps);
        // Which steps carry a hint. With certification the decoder learns it step by step from
        // the enumerated preimages, so no set is coded.
        let hinted = if self.opts.certify.is_some() {
            vec![false; inner_total]
        } else {
            self.hinted_steps(ch, inner_total)?
        };
        let mut end = inner_total;
        let mut gd_calls = vec![DecodedCall::default(); if self.gd.is_some() { t } else { 0 }];
        let mut batches = vec![Vec::new(); t];
        let mut models = vec![Vec::new(); t];
        let mut permutations = vec![Vec::new(); self.shape.epochs];
        let mut w = final_model.to_vec();
        let per_epoch = self.shape.per_epoch();
        self.f.progress().begin(Phase::Code, t as u64);
        for e in (0..self.shape.epochs).rev() {
            ch.start_epoch(e + 1);
            let tilt_known = self.known.as_ref().map(|k| big(k.tilts[e]));
            let tilt = small(
                &ch.uniform(Part::Header, &big(TILTS.len()), tilt_known)?,
                "tilt",
            )?;
            let tilt = *TILTS.get(tilt).ok_or_else(|| corrupt("tilt index"))?;
            let steps = self.shape.steps_in(e);
            let remainder = self.remainder(ch, e, steps)?;
            let mut unassigned: Vec<bool> = vec![true; self.shape.n];
            for &x in &remainder {
                unassigned[x] = false;
            }
            let first = e * per_epoch;
            for j in (0..steps).rev() {
                let k = first + j;
                let batch = self.batch(ch, k, &w, &unassigned, tilt)?;
                for &x in &batch {
                    unassigned[x] = false;
                }
                w = match &self.gd {
                    None => {
                        let known = self
                            .known
                            .as_ref()
                            .map(|kn| (&kn.records[k], kn.traj.steps[k].w.as_slice()));
                        self.step_back(ch, known, &w, &batch, hinted[k], k + 1)?
                    }
                    Some(g) => {
                        let (before, call) =
                            self.gd_back(ch, g, k, &w, &batch, &hinted, &mut end)?;
                        gd_calls[k] = call;
                        before
                    }
                };
                models[k] = w.clone();
                batches[k] = batch;
                self.f.progress().advance(1);
            }
            let mut perm: Vec<usize> = batches[first..first + steps].concat();
            perm.extend(remainder);
            permutations[e] = perm;
        }
        Ok(Decoded {
            batches,
            models,
            permutations,
            gd_calls,
        })
    }

    /// The number of hinted steps and which ones (without certification).
    fn hinted_steps(&self, ch: &mut dyn Channel, t: usize) -> Result<Vec<bool>, Error> {
        let hinted_known: Option<Vec<u64>> = match self.gd.as_ref().and_then(|g| g.known.as_ref()) {
            Some(calls) => Some(
                calls
                    .iter()
                    .flat_map(|c| c.records)
                    .enumerate()
                    .filter(|(_, r)| r.hint.is_some())
                    .map(|(s, _)| s as u64)
                    .collect(),
            ),
            None => self.known.as_ref().map(|k| {
                (0..t)
                    .filter(|&s| k.records[s].hint.is_some())
                    .map(|s| s as u64)
                    .collect()
            }),
        };
        let h = ch.uniform(
            Part::Run,
            &big(t + 1),
            hinted_known.as_ref().map(|v| big(v.len())),
        )?;
        let h = small(&h, "hint count")?;
        // C(T, h) and its unranking cost O(h²) big-integer work: refuse a count the code is
        // too short to hold before doing any of it.
        if !ch.can_hold(log2_binomial(t as u64, h as u64) - 1.0) {
            return Err(corrupt("more hinted steps than the code can name"));
        }
        let set_radix = binomial(t as u64, h as u64);
        let set_rank = match &hinted_known {
            Some(v) => Some(subset_rank(t as u64, v)?),
            None => None,
        };
        let set_rank = ch.uniform(Part::Run, &set_radix, set_rank)?;
        let mut flags = vec![false; t];
        for s in subset_unrank(t as u64, h as u64, &set_rank)? {
            flags[s as usize] = true;
        }
        Ok(flags)
    }

    /// The examples of an epoch cut short that no step used, in permutation order.
    fn remainder(&self, ch: &mut dyn Channel, e: usize, steps: usize) -> Result<Vec<usize>, Error> {
        let n = self.shape.n;
        let m = n - steps * self.shape.batch;
        if m == 0 {
            return Ok(Vec::new());
        }
        let known = self
            .known
            .as_ref()
            .map(|k| k.traj.permutations[e][steps * self.shape.batch..].to_vec());
        let set_known = match &known {
            Some(r) => Some(subset_rank(
                n as u64,
                &r.iter().map(|&x| x as u64).collect::<Vec<_>>(),
            )?),
            None => None,
        };
        let set = ch.uniform(Part::Batch, &binomial(n as u64, m as u64), set_known)?;
        let members: Vec<usize> = subset_unrank(n as u64, m as u64, &set)?
            .into_iter()
            .map(|x| x as usize)
            .collect();
        let order_known = match &known {
            Some(r) => Some(permutation_rank(&order_of(r, &members)?)?),
            None => None,
        };
        let order = ch.uniform(Part::Batch, &factorial(m), order_known)?;
        let pi = permutation_unrank(m, &order)?;
        Ok(pi.iter().map(|&p| members[p]).collect())
    }

    /// Codes batch `k` (global step index) given the model after it.
    fn batch(
        &self,
        ch: &mut dyn Channel,
        k: usize,
        w_after: &[i64],
        unassigned: &[bool],
        tilt: (u64, u64),
    ) -> Result<Vec<usize>, Error> {
        let b = self.shape.batch;
        let (s1, s0) = split(self.f, w_after, unassigned)?;
        // The encoder's batch and its positions in S₁ and in S₀. Membership as a mask: |S|·b
        // comparisons per batch would dominate at n = 5,000.
        let known = self.known.as_ref().map(|kn| {
            let batch = kn.traj.steps[k].batch.as_slice();
            let mask = membership(self.shape.n, batch);
            let positions = |set: &[usize]| -> Vec<u64> {
                (0..set.len() as u64)
                    .filter(|&i| mask[set[i as usize]])
                    .collect()
            };
            (batch, positions(&s1), positions(&s0))
        });
        let table = k1_table(s1.len(), s0.len(), b, tilt);
        let k1 = ch.table(Part::Batch, &table, known.as_ref().map(|kn| kn.1.len()))?;
        if k1 > s1.len() || b - k1 > s0.len() {
            return Err(corrupt("batch split"));
        }
        let r1_known = match &known {
            Some((_, in1, _)) => Some(subset_rank(s1.len() as u64, in1)?),
            None => None,
        };
        let r1 = ch.uniform(Part::Batch, &binomial(s1.len() as u64, k1 as u64), r1_known)?;
        let r0_known = match &known {
            Some((_, _, in0)) => Some(subset_rank(s0.len() as u64, in0)?),
            None => None,
        };
        let r0 = ch.uniform(
            Part::Batch,
            &binomial(s0.len() as u64, (b - k1) as u64),
            r0_known,
        )?;
        if let Some((batch, in1, in0)) = known {
            // The encoder's digits name its own batch, so it does not unrank them; the ranks
            // name it only if all its b examples are unassigned.
            if batch.len() != b || in1.len() + in0.len() != b {
                return Err(Error::Internal(
                    "a batch is not b examples not yet assigned".into(),
                ));
            }
            let mut members = batch.to_vec();
            members.sort_unstable();
            let order = permutation_rank(&order_of(batch, &members)?)?;
            ch.uniform(Part::Batch, &factorial(b), Some(order))?;
            return Ok(batch.to_vec());
        }
        let mut members: Vec<usize> = subset_unrank(s1.len() as u64, k1 as u64, &r1)?
            .into_iter()
            .map(|i| s1[i as usize])
            .chain(
                subset_unrank(s0.len() as u64, (b - k1) as u64, &r0)?
                    .into_iter()
                    .map(|i| s0[i as usize]),
            )
            .collect();
        members.sort_unstable();
        let order = ch.uniform(Part::Batch, &factorial(b), None)?;
        let pi = permutation_unrank(b, &order)?;
        Ok(pi.iter().map(|&p| members[p]).collect())
    }

    /// Inverts step `step` (1-based) from the model after it and applies its hint, if any.
    fn step_back(
        &self,
        ch: &mut dyn Channel,
        known: Option<(&StepRecord, &[i64])>,
        w_after: &[i64],
        batch: &[usize],
        hinted: bool,
        step: usize,
    ) -> Result<Vec<i64>, Error> {
        let (point, fixed) = match known {
            Some((r, _)) => (r.point.clone(), r.termination == Termination::FixedPoint),
            None => {
                let inv = invert(self.f, w_after, batch, self.opts.max_iterations)?;
                let fixed = inv.preimage().is_some();
                (inv.point, fixed)
            }
        };
        let logged = known.map(|(_, w)| w);
        if let Some(c) = self.opts.certify {
            if !fixed {
                return self.correct(ch, &point, logged, step);
            }
            let Some(preimages) = (c.enumerate)(self.f, w_after, batch, &point, c.budget)? else {
                // Not certified: one binary digit says whether a correction follows.
                let wrong = logged.map(|l| big((l != point.as_slice()) as usize));
                if ch.uniform(Part::Hint, &big(2), wrong)?.is_zero() {
                    return Ok(point);
                }
                return self.correct(ch, &point, logged, step);
            };
            if preimages.len() == 1 {
                if logged.is_some_and(|l| l != point.as_slice()) {
                    return Err(Error::Internal(
                        "a step certified unique does not return the logged model".into(),
                    ));
                }
                return Ok(point);
            }
            let index = match logged {
                Some(l) => Some(big(preimages.iter().position(|p| p == l).ok_or_else(
                    || {
                        Error::Internal(
                            "the logged model is not among the enumerated preimages".into(),
                        )
                    },
                )?)),
                None => None,
            };
            let i = ch.uniform(Part::Hint, &big(preimages.len()), index)?;
            return Ok(preimages[small(&i, "preimage index")?].clone());
        }
        if !hinted {
            return if fixed {
                Ok(point)
            } else {
                Err(corrupt("a step without hint has no preimage"))
            };
        }
        self.correct(ch, &point, logged, step)
    }

    /// Undoes batch `k`'s GD call (Lemma 4.1): T_{i,j}, z, the inner steps, then ψ_z.
    #[allow(clippy::too_many_arguments)]
    fn gd_back(
        &self,
        ch: &mut dyn Channel,
        g: &GdCode,
        k: usize,
        w_after: &[i64],
        batch: &[usize],
        hinted: &[bool],
        end: &mut usize,
    ) -> Result<(Vec<i64>, DecodedCall), Error> {
        let call = g.known.as_ref().map(|calls| calls[k]);
        let t = elias_gamma(ch, Part::GdSteps, call.map(|c| c.inner.len() as u64 + 1))?;
        let t = usize::try_from(t - 1).map_err(|_| corrupt("GD steps"))?;
        if t > g.max_gd_steps || t > *end {
            return Err(corrupt("more GD steps than the run took"));
        }
        let p = &g.perturbation;
        let z = if p.is_identity() {
            vec![0; p.length]
        } else {
            let radix = BigUint::from(p.radix());
            (0..p.length)
                .map(|i| {
                    let known = call.map(|c| BigUint::from((c.z[i] - p.low()) as u64));
                    let digit = ch.uniform(Part::Perturbation, &radix, known)?;
                    Ok(p.low() + digit.to_i64().ok_or_else(|| corrupt("perturbation"))?)
                })
                .collect::<Result<Vec<i64>, Error>>()?
        };
        let start = *end - t;
        let mut w = w_after.to_vec();
        let mut inner = vec![Vec::new(); t];
        for s in (0..t).rev() {
            let known = call.map(|c| (&c.records[s], c.inner[s].as_slice()));
            w = self.step_back(ch, known, &w, batch, hinted[start + s], start + s + 1)?;
            inner[s] = w.clone();
        }
        *end = start;
        let before = p.undo(&w, &z)?;
        Ok((before, DecodedCall { z, inner }))
    }

    /// Reads or writes the hint Δ = W_logged − V of step `step` (1-based) and applies it.
    fn correct(
        &self,
        ch: &mut dyn Channel,
        point: &[i64],
        logged: Option<&[i64]>,
        step: usize,
    ) -> Result<Vec<i64>, Error> {
        let known = logged.map(|l| Hint::delta(l, point));
        Hint::code(ch, self.f.dim(), known.as_ref())?.apply(point, step)
    }
}

/// The position of each element of `sequence` in the sorted `members`.
fn order_of(sequence: &[usize], members: &[usize]) -> Result<Vec<usize>, Error> {
    sequence
        .iter()
        .map(|x| {
            members
                .binary_search(x)
                .map_err(|_| Error::Internal("a batch element is missing from its set".into()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::entropy::{decode, encode};
    use super::*;
    use crate::data::Dataset;
    use crate::grid::{Dyadic, Grid};
    use crate::model::{AnyModel, Linear};
    use crate::sgd::{BackendChoice, LoggedStep};
    use crate::steps::invert::Outcome;

    /// Four examples at x = 1 with labels +1, −1, +1, −1: a batch of one of each has gradient
    /// w, and with α·2^p = 0.4 the step sends 3 to 2 and both 2 and 1 to 1.
    fn data() -> Dataset {
        let grid = Grid::new(4).unwrap();
        Dataset {
            grid,
            features: vec![vec![grid.one()]; 4],
            labels: vec![1, 0, 1, 0],
            classes: 2,
            class_names: vec![0, 1],
            scale_log2: 0,
            has_bias: false,
            source: "four examples at x = 1".into(),
        }
    }

    /// The run 3 → 2 → 1 in one epoch of two batches; its second step is many-to-one.
    fn two_steps() -> Trajectory {
        let step = |step, batch: [usize; 2], w| LoggedStep {
            epoch: 1,
            step,
            batch: batch.to_vec(),
            w: vec![w],
        };
        Trajectory {
            steps: vec![step(1, [0, 1], 3), step(2, [2, 3], 2)],
            final_model: vec![1],
            permutations: vec![vec![0, 1, 2, 3]],
            stopped_at: None,
            correct: Vec::new(),
        }
    }

    /// Every preimage in [−64, 64], listed: the 1-D step is monotone, so none lies outside.
    fn listed(
        f: &StepFunction,
        w_after: &[i64],
        batch: &[usize],
        _: &[i64],
        _: u64,
    ) -> Result<Option<Vec<Vec<i64>>>, Error> {
        let mut out = Vec::new();
        for v in -64..=64 {
            if f.step(&[v], batch)? == w_after {
                out.push(vec![v]);
            }
        }
        Ok(Some(out))
    }

    #[test]
    fn a_two_step_run_with_a_many_to_one_step_decodes_bit_for_bit() {
        let data = data();
        let model = AnyModel::Linear(Linear::least_squares(&data));
        let alpha = Dyadic::new(13107, 15).unwrap();
        let f = StepFunction::new(&model, &data, alpha, BackendChoice::Exact);
        let traj = two_steps();
        for (k, s) in traj.steps.iter().enumerate() {
            assert_eq!(f.step(&s.w, &s.batch).unwrap(), traj.model_after(k));
        }
        let records: Vec<StepRecord> = (0..2)
            .map(|k| {
                let inv = invert(&f, traj.model_after(k), &traj.steps[k].batch, 100).unwrap();
                StepRecord::new(&inv, &traj.steps[k].w)
            })
            .collect();
        assert_eq!(records[0].outcome, Outcome::Recovered);
        assert_eq!(records[1].outcome, Outcome::OtherPreimage);
        let hint = Hint::from(vec![(0, 1)]);
        assert_eq!(records[1].hint.as_ref(), Some(&hint));

        let shape = RunShape::of(&traj, 4, 2);
        let sparse = CodeOptions {
            certify: None,
            max_iterations: 100,
        };
        let listed = CodeOptions {
            certify: Some(Certifier {
                budget: 0,
                enumerate: listed,
            }),
            ..sparse
        };
        // Sparse: the hinted set (⌈log₂ 3⌉ + ⌈log₂ C(2, 1)⌉ bits) and Δ = +1 (a sign and γ(1)).
        // Listed: each step has two preimages ({3, 4}, then {1, 2}), one bit each.
        for (opts, run_bits, hint_bits) in [(sparse, 3, hint.bits(1)), (listed, 0, 2)] {
            let enc = encode(&f, &traj, &records, shape, opts).unwrap();
            assert_eq!(
                (enc.run_header_bits, enc.epochs[0].hint_bits),
                (run_bits, hint_bits)
            );
            let dec = decode(&f, &traj.final_model, shape, &enc.code, opts).unwrap();
            assert_eq!(dec.batches, vec![vec![0, 1], vec![2, 3]]);
            assert_eq!(dec.models, vec![vec![3], vec![2]]);
            assert_eq!(dec.permutations, traj.permutations);
        }
    }

    #[test]
    fn order_of_finds_each_element_in_the_sorted_members() {
        assert_eq!(order_of(&[7, 2, 5], &[2, 5, 7]).unwrap(), vec![2, 0, 1]);
        assert!(order_of(&[7, 3], &[2, 5, 7]).is_err());
    }
}
