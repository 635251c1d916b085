//! Verification as the run goes (docs/design.md §7.5): each step is inverted, certified,
//! predicted and scored while its predecessor is still at hand, and only what the report needs
//! is kept: the hints, a SHA-256 of each model, the permutations and one bit per example and
//! step for the permutation tails. The walk back then starts from the final model and checks
//! each model it reaches against its hash, so a verification without the code holds
//! O(d + n + steps × (hash + hint + n/8)) bytes, not every model of the run.
//!
//! This is Theorem 2.2 checked exactly as [`crate::pipeline::verify`] reports it: the report is
//! the same, byte for byte, whether the steps are kept or not. `checkpoint_every` keeps every
//! K-th model too, which splits the walk back into segments run in parallel.

use crate::pipeline::config::Setup;
use crate::pipeline::report::model_digest;
use crate::progress::Phase;
use crate::sgd::{LoggedStep, RunEnd, StepFunction, Trajectory};
use crate::steps::certify::{certify, Certificate, Enumerated};
use crate::steps::codec::hint::{PackedHint, StepRecord};
use crate::steps::discrepancy::Discrepancies;
use crate::steps::invert::invert;
use crate::steps::many_to_one::{prediction_skipped, step_share};
use crate::steps::tails::TailsInput;
use crate::Error;
use rayon::prelude::*;
use std::collections::BTreeMap;

/// Steps gathered before they are processed together, in parallel. Each holds one model, so
/// this bounds the memory of the window; it is large enough that two cores stay busy.
const WINDOW: usize = 32;

/// What one certified step leaves for the report.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CertSummary {
    pub certificate: Certificate,
    /// Gradient evaluations the certificate spent.
    pub evaluations: u64,
    /// Free coordinates and proven preimages, when the enumeration finished.
    pub enumerated: Option<(usize, usize)>,
}

impl CertSummary {
    pub fn of((certificate, e): (Certificate, Enumerated)) -> Self {
        CertSummary {
            certificate,
            evaluations: e.evaluations,
            enumerated: e.result.ok().map(|en| (en.free, en.preimages.len())),
        }
    }
}

/// What one step of the window computed besides its inversion.
struct StepWork {
    cert: Option<CertSummary>,
    /// acc(model after the step, ·), when it was not known already.
    correct: Option<Vec<bool>>,
    share: Option<f64>,
}

/// A step waiting in the window, with acc(W, ·) of its model before it when the stop check
/// computed that.
struct Pending {
    step: LoggedStep,
    before: Option<Vec<bool>>,
}

/// Everything gathered over the run.
pub(crate) struct Gathered {
    /// The steps themselves, kept only when asked (the code and the trajectory need them).
    pub steps: Vec<LoggedStep>,
    /// As [`Trajectory::correct`], kept with the steps.
    pub correct_before: Vec<Vec<bool>>,
    /// Each step's epoch and index in it.
    pub places: Vec<(usize, usize)>,
    /// SHA-256 of each model before its step.
    pub hashes: Vec<[u8; 32]>,
    /// What inverting each step gave (the inverter's point and the hint kept only with the
    /// steps).
    pub records: Vec<StepRecord>,
    /// Every hint, packed, by step index, and the sum of their code lengths.
    pub hints: BTreeMap<usize, PackedHint>,
    pub hint_bits: u64,
    pub certificates: Vec<CertSummary>,
    /// 1 − det(I − αH_B) of each step, when predicted.
    pub shares: Vec<Option<f64>>,
    /// Steps that changed the model.
    pub moved: usize,
    /// W₁,₁, and acc(W₁,₁, ·) and acc(final, ·).
    pub initial: Option<Vec<i64>>,
    pub initial_correct: Option<Vec<bool>>,
    pub final_correct: Option<Vec<bool>>,
    pub discrepancies: Discrepancies,
    pub tails: TailsInput,
    /// Own-backend and predictor evaluations of the inversions.
    pub evaluations: (u64, u64),
    /// Every K-th model before its step, by step index.
    pub checkpoints: BTreeMap<usize, Vec<i64>>,
}

/// The per-step work of a verification, fed one step at a time.
pub(crate) struct Stepwise<'a, 'f> {
    setup: &'a Setup,
    f: &'a StepFunction<'f>,
    keep_steps: bool,
    checkpoint_every: Option<usize>,
    all: Vec<usize>,
    window: Vec<Pending>,
    pub out: Gathered,
}

impl<'a, 'f> Stepwise<'a, 'f> {
    pub fn new(
        setup: &'a Setup,
        f: &'a StepFunction<'f>,
        keep_steps: bool,
        checkpoint_every: Option<usize>,
    ) -> Self {
        Stepwise {
            setup,
            f,
            keep_steps,
            checkpoint_every: checkpoint_every.filter(|&k| k > 0),
            all: (0..f.data().n()).collect(),
            window: Vec::with_capacity(WINDOW + 1),
            out: Gathered {
                steps: Vec::new(),
                correct_before: Vec::new(),
                places: Vec::new(),
                hashes: Vec::new(),
                records: Vec::new(),
                hints: BTreeMap::new(),
                hint_bits: 0,
                certificates: Vec::new(),
                shares: Vec::new(),
                moved: 0,
                initial: None,
                initial_correct: None,
                final_correct: None,
                discrepancies: Discrepancies::new(setup.data.n() / setup.config.batch.max(1)),
                tails: TailsInput::new(),
                evaluations: (0, 0),
                checkpoints: BTreeMap::new(),
            },
        }
    }

    /// Takes the next step of the run; every [`WINDOW`] steps the window is processed.
    pub fn push(&mut self, step: LoggedStep, before: Option<Vec<bool>>) -> Result<(), Error> {
        if self.out.initial.is_none() {
            self.out.initial = Some(step.w.clone());
            self.out.initial_correct = before.clone();
        }
        self.window.push(Pending { step, before });
        if self.window.len() > WINDOW {
            if let Some(next) = self.window.pop() {
                self.process(&next.step.w, next.before.as_deref())?;
                self.window.push(next);
            }
        }
        Ok(())
    }

    /// The run ended with `end`: the rest of the window is processed against the final model.
    pub fn finish(&mut self, end: &RunEnd) -> Result<(), Error> {
        let last = self.f.correct_many(&end.final_model, &self.all)?;
        self.process(&end.final_model, Some(&last))?;
        let o = &mut self.out;
        if o.initial_correct.is_none() {
            o.initial_correct = Some(match &o.initial {
                Some(w) => self.f.correct_many(w, &self.all)?,
                None => last.clone(),
            });
        }
        o.initial.get_or_insert_with(|| end.final_model.clone());
        o.final_correct = Some(last);
        Ok(())
    }

    /// Every step in the window, each against the model after it (the next step's, `next` for
    /// the last), in parallel; then gathered in run order.
    fn process(&mut self, next: &[i64], next_correct: Option<&[bool]>) -> Result<(), Error> {
        let steps = std::mem::take(&mut self.window);
        if steps.is_empty() {
            return Ok(());
        }
        let after = |i: usize| after_of(&steps, next, i);
        let records = self.invert_window(&steps, next)?;
        let f = self.f;
        let config = &self.setup.config;
        let predict = prediction_skipped(f).is_none();
        let certify_budget = config.certify.filter(|_| config.invert);
        let per_step: Vec<StepWork> = (0..steps.len())
            .into_par_iter()
            .map(|i| {
                let s = &steps[i].step;
                let cert = certify_budget
                    .map(|budget| certify(f, after(i), &s.batch, &s.w, budget).map(CertSummary::of))
                    .transpose()?;
                let known = steps
                    .get(i + 1)
                    .map_or(next_correct, |p| p.before.as_deref());
                let correct = match known {
                    Some(_) => None,
                    None => Some(f.correct_many(after(i), &self.all)?),
                };
                let share = predict.then(|| step_share(f, &s.w, &s.batch)).flatten();
                Ok(StepWork {
                    cert,
                    correct,
                    share,
                })
            })
            .collect::<Result<_, Error>>()?;
        for (i, work) in per_step.into_iter().enumerate() {
            let known = steps
                .get(i + 1)
                .map_or(next_correct, |p| p.before.as_deref());
            let correct_after = match (&work.correct, known) {
                (Some(c), _) => c.as_slice(),
                (None, Some(k)) => k,
                (None, None) => {
                    return Err(Error::Internal(
                        "a step's correctness was neither known nor computed".into(),
                    ))
                }
            };
            self.gather(&steps[i], after(i), correct_after, work.share, work.cert);
        }
        self.keep_records(records);
        let keep = self.keep_steps;
        for p in steps {
            if keep {
                self.out.correct_before.extend(p.before);
                self.out.steps.push(p.step);
            }
        }
        Ok(())
    }

    /// Keeps the window's records in run order; their hints are packed, and left out of the
    /// records themselves unless the steps are kept.
    fn keep_records(&mut self, records: Vec<StepRecord>) {
        let d = self.f.dim();
        for mut r in records {
            let k = self.out.records.len();
            if let Some(h) = &r.hint {
                self.out.hint_bits += h.bits(d);
                self.out.hints.insert(k, PackedHint::pack(h));
            }
            if !self.keep_steps {
                r.hint = None;
            }
            self.out.records.push(r);
        }
    }

    /// Inverts each step of the window against the model after it, counting only these
    /// evaluations.
    fn invert_window(&mut self, steps: &[Pending], next: &[i64]) -> Result<Vec<StepRecord>, Error> {
        if !self.setup.config.invert {
            return Ok(Vec::new());
        }
        let f = self.f;
        let max_it = self.setup.config.max_iterations;
        let before = (f.own_evaluations(), f.predictor_evaluations());
        let keep = self.keep_steps;
        let records = (0..steps.len())
            .into_par_iter()
            .map(|i| {
                let s = &steps[i].step;
                let inv = invert(f, after_of(steps, next, i), &s.batch, max_it)?;
                let mut record = StepRecord::new(&inv, &s.w);
                if !keep {
                    record.point = Vec::new();
                }
                Ok(record)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        self.out.evaluations.0 += f.own_evaluations() - before.0;
        self.out.evaluations.1 += f.predictor_evaluations() - before.1;
        Ok(records)
    }

    fn gather(
        &mut self,
        p: &Pending,
        after: &[i64],
        correct_after: &[bool],
        share: Option<f64>,
        cert: Option<CertSummary>,
    ) {
        let s = &p.step;
        let o = &mut self.out;
        let k = o.hashes.len();
        if let Some(every) = self.checkpoint_every {
            if k > 0 && k.is_multiple_of(every) {
                o.checkpoints.insert(k, s.w.clone());
            }
        }
        o.places.push((s.epoch, s.step));
        o.hashes.push(model_digest(&s.w));
        o.moved += usize::from(s.w != after);
        o.shares.push(share);
        o.certificates.extend(cert);
        o.discrepancies
            .push(&s.batch, s.epoch, s.step, correct_after);
        o.tails.push(&s.batch, s.epoch, correct_after);
    }
}

/// The model after step `i` of the window: the next step's model, or `next` for the last.
fn after_of<'s>(steps: &'s [Pending], next: &'s [i64], i: usize) -> &'s [i64] {
    steps.get(i + 1).map_or(next, |p| p.step.w.as_slice())
}

/// What the walk back found.
pub(crate) struct WalkBack {
    pub initial_model_bit_exact: bool,
    pub all_models_bit_exact: bool,
}

/// The batch of the step at `place` (epoch, index from 1), cut from its epoch's permutation.
fn batch_at(permutations: &[Vec<usize>], b: usize, place: (usize, usize)) -> &[usize] {
    let perm = &permutations[place.0 - 1];
    let start = (place.1 - 1) * b;
    &perm[start..(start + b).min(perm.len())]
}

/// Walks back from the final model with the hints alone and compares each model it reaches
/// with the hash of the logged one, and W₁,₁ with W₁,₁ itself. With checkpoints the segments
/// between them run in parallel, each from its checkpoint, and each must also end exactly on
/// the checkpoint before it.
pub(crate) fn walk_back(
    setup: &Setup,
    f: &StepFunction,
    g: &Gathered,
    end: &RunEnd,
) -> Result<WalkBack, Error> {
    let t = g.hashes.len();
    f.progress().begin(Phase::WalkBack, t as u64);
    let mut starts: Vec<usize> = vec![0];
    starts.extend(g.checkpoints.keys().copied());
    let segments: Vec<(usize, usize)> = starts
        .iter()
        .enumerate()
        .map(|(i, &s)| (s, starts.get(i + 1).copied().unwrap_or(t)))
        .collect();
    let results: Vec<Result<(bool, bool), Error>> = segments
        .par_iter()
        .map(|&(lo, hi)| {
            let from = g.checkpoints.get(&hi).unwrap_or(&end.final_model);
            let target = if lo == 0 {
                g.initial.as_deref().unwrap_or(&end.final_model)
            } else {
                &g.checkpoints[&lo]
            };
            walk_segment(setup, f, g, end, (lo, hi), from, target)
        })
        .collect();
    let (mut initial, mut all) = (true, true);
    // The serial walk meets the latest failing step first; so does this.
    for r in results.into_iter().rev() {
        let (reached, equal) = r?;
        initial &= reached;
        all &= equal;
    }
    Ok(WalkBack {
        initial_model_bit_exact: initial,
        all_models_bit_exact: all,
    })
}

/// Steps hi − 1 down to lo, from `from`: whether the model reached is `target` bit for bit,
/// and whether every model met matched its hash.
fn walk_segment(
    setup: &Setup,
    f: &StepFunction,
    g: &Gathered,
    end: &RunEnd,
    (lo, hi): (usize, usize),
    from: &[i64],
    target: &[i64],
) -> Result<(bool, bool), Error> {
    let b = setup.config.batch;
    let mut w = from.to_vec();
    let mut equal = true;
    for k in (lo..hi).rev() {
        let batch = batch_at(&end.permutations, b, g.places[k]);
        let inv = invert(f, &w, batch, setup.config.max_iterations)?;
        w = match g.hints.get(&k) {
            Some(h) => h.unpack()?.apply(&inv.point, k + 1)?,
            None if inv.preimage().is_some() => inv.point,
            None => return Err(Error::Reconstruction { step: k + 1 }),
        };
        equal &= model_digest(&w) == g.hashes[k];
        f.progress().advance(1);
    }
    Ok((w == target, equal))
}

/// The trajectory of a run whose steps were kept.
pub(crate) fn trajectory(g: &mut Gathered, end: &RunEnd) -> Trajectory {
    Trajectory {
        steps: std::mem::take(&mut g.steps),
        final_model: end.final_model.clone(),
        permutations: end.permutations.clone(),
        stopped_at: end.stopped_at,
        correct: std::mem::take(&mut g.correct_before),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::config::{DataSource, ModelKind, VerifyConfig};
    use crate::pipeline::verify::{verify_run, verify_streamed};
    use crate::progress::NoProgress;
    use crate::sgd::{run, BackendChoice, NoObserver};
    use crate::steps::codec::hint::Hint;
    use proptest::prelude::*;

    fn setup(seed: u64, batch: usize, epochs: usize, stop: bool, certify: bool) -> Setup {
        Setup::new(&VerifyConfig {
            data: DataSource::Synthetic {
                n: 24,
                features: 2,
                classes: 2,
            },
            model: ModelKind::Logistic,
            backend: BackendChoice::F64,
            frac_bits: 9,
            batch,
            epochs,
            seed,
            stop_at_full_accuracy: stop,
            certify: certify.then_some(64),
            code: false,
            ..VerifyConfig::default()
        })
        .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Streaming changes what is kept, never what is reported: with or without checkpoints,
        /// the report equals the one of the run kept whole.
        #[test]
        fn the_streamed_report_is_the_kept_one(
            seed in 0u64..1_000,
            batch in prop::sample::select(vec![1usize, 3, 4, 8]),
            epochs in 1usize..4,
            stop in any::<bool>(),
            certify in any::<bool>(),
            every in prop::option::of(1usize..12),
        ) {
            let s = setup(seed, batch, epochs, stop, certify);
            let kept = verify_run(&s, &mut NoObserver, &NoProgress).unwrap().report;
            let streamed = verify_streamed(&s, &mut NoObserver, &NoProgress, every).unwrap();
            prop_assert_eq!(kept, streamed);
        }
    }

    /// Gathers a whole run of `s`, as the pipeline does.
    fn gathered(s: &Setup, every: Option<usize>) -> (Gathered, RunEnd) {
        let f = s.step_function();
        let traj = run(&f, &s.sgd_config(), s.init.clone(), &mut NoObserver).unwrap();
        let mut w = Stepwise::new(s, &f, false, every);
        for step in traj.steps.iter().cloned() {
            w.push(step, None).unwrap();
        }
        let end = RunEnd {
            final_model: traj.final_model.clone(),
            permutations: traj.permutations.clone(),
            stopped_at: traj.stopped_at,
        };
        w.finish(&end).unwrap();
        (w.out, end)
    }

    #[test]
    fn a_wrong_hash_or_hint_is_caught_with_and_without_checkpoints() {
        let s = setup(3, 4, 2, false, false);
        let f = s.step_function();
        for every in [None, Some(4)] {
            let (mut g, end) = gathered(&s, every);
            let ok = walk_back(&s, &f, &g, &end).unwrap();
            assert!(ok.initial_model_bit_exact && ok.all_models_bit_exact);
            // A hash that is not the logged model's: only that comparison fails.
            g.hashes[5][0] ^= 1;
            let bad = walk_back(&s, &f, &g, &end).unwrap();
            assert!(bad.initial_model_bit_exact && !bad.all_models_bit_exact);
            g.hashes[5][0] ^= 1;
            // A hint that moves the model one grid point: the walk leaves the logged run.
            let (k, zero) = (9, vec![0i64; f.dim()]);
            let mut delta = match g.hints.get(&k) {
                Some(h) => h.unpack().unwrap().apply(&zero, k + 1).unwrap(),
                None => zero.clone(),
            };
            delta[0] += 1;
            g.hints
                .insert(k, PackedHint::pack(&Hint::delta(&delta, &zero)));
            match walk_back(&s, &f, &g, &end) {
                Ok(w) => assert!(!w.all_models_bit_exact, "{every:?}"),
                Err(e) => assert!(matches!(e, Error::Reconstruction { .. }), "{e}"),
            }
        }
    }
}
