//! The entropy-compression code of Lemma 3.1, made executable: the randomness of every epoch
//! (its permutation) coded from the final model and the data set, decoded bit for bit.
//!
//! Both sides walk each epoch backwards, j = n/b … 1, from W_{i+1,1} (docs/design.md §5):
//! 1. S = X_{i,j} (the examples not yet assigned); split S by g(x) = acc(W_{i,j+1}, x) into
//!    S₁ (correct) and S₀.
//! 2. Code k₁ = |B ∩ S₁| with frequencies f_k = C(|S₁|,k)·C(|S₀|,b−k)·u^k·v^(b−k), the tilt
//!    r = u/v chosen per epoch by the encoder from [`TILTS`]; then the rank of B ∩ S₁ among the
//!    k₁-subsets of S₁, of B ∩ S₀ in S₀, and the order inside the batch (Lehmer rank), uniformly.
//! 3. Invert the step with B to get W_{i,j}; where the step is hinted, read the hint.
//! 4. S ← S ∖ B.
//!
//! With r = 1 the k₁ digit and the two ranks cost exactly log₂ C(|S|, b), and since
//! n! = Π_j C(jb, b)·b!, an epoch without hints costs exactly ⌈log₂ n!⌉ plus its 3-bit header:
//! the code never loses, and gains what the accuracy discrepancy between a batch and the
//! examples around it gives.
//!
//! Layout, in decoding order: the number of hinted steps (uniform in [0, T]) and which ones (a
//! subset rank); then per epoch, last first, its tilt (uniform in [0, 8)), for an epoch cut short
//! by the stop at full accuracy the unused examples (a subset rank and a Lehmer rank), and its
//! batches as above. A hint is the sparse correction Δ = W_logged − V (non-zeros − 1, their
//! positions, each value as a sign and an Elias-γ code).
//!
//! Section 4 (Lemma 4.1, [`encode_gd`] / [`decode_gd`]): the same walk over SGD′'s batches, but a
//! batch's step is a whole GD call. After the batch's digits come T_{i,j} + 1 in Elias-γ, z as
//! ℓ digits of radix 2^m, the T_{i,j} inner steps undone (the hinted set ranges over all Σ T_{i,j}
//! inner steps), and ψ_z undone.
//!
//! With certification on, no hinted set is coded: at every step the decoder enumerates the
//! preimages from the inverter's fixed point, and reads the logged model's index (uniform in
//! [0, k)) only where k > 1 — Σ⌈log₂ k⌉, the optimal hint cost. Where certification fails a
//! binary digit says whether a sparse correction follows; without a fixed point one always
//! follows.

use super::coder::{ceil_log2_ratio, Code, CodeError, Decoder, Encoder};
use super::rank::{binomial, permutation_rank, permutation_unrank, subset_rank, subset_unrank};
use crate::certify::enumerate_preimages;
use crate::grid::checked_add;
use crate::invert::{invert, Termination};
use crate::progress::Phase;
use crate::reconstruct::StepRecord;
use crate::sgd::{StepFunction, Trajectory};
use crate::Error;
use num_bigint::BigUint;
use num_traits::{One, ToPrimitive, Zero};

/// The tilts r = u/v an epoch may choose, by index. r = 1 is the untilted hypergeometric prior.
pub const TILTS: [(u64, u64); 8] = [
    (1, 1),
    (2, 1),
    (4, 1),
    (8, 1),
    (16, 1),
    (64, 1),
    (1, 2),
    (1, 4),
];

/// Bits of an epoch's header (its tilt index).
pub const EPOCH_HEADER_BITS: u64 = 3;

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

    fn per_epoch(&self) -> usize {
        self.n / self.batch
    }

    /// Steps taken in epoch `e` (0-based): all n/b except in an epoch cut short.
    fn steps_in(&self, e: usize) -> usize {
        let full = self.per_epoch();
        self.steps.saturating_sub(e * full).min(full)
    }

    fn check(&self) -> Result<(), Error> {
        let full = self.per_epoch();
        let ok = self.batch > 0
            && self.n > 0
            && self.n % self.batch == 0
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

/// How hints are formed; both sides must agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeOptions {
    /// Enumerate preimages (with this budget) to code a hint as an index.
    pub certify_budget: Option<u64>,
    /// The inverter's iteration cap per step (Lemma 2.1's fixed-point iteration).
    pub max_iterations: u32,
}

/// What one epoch's code costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochCost {
    /// 1-based epoch.
    pub epoch: usize,
    /// ⌈log₂ n!⌉: the cost of the epoch's permutation coded without the model.
    pub baseline_bits: u64,
    /// ⌈log₂⌉ of the epoch's exact digit product, header and hints included.
    pub bits: u64,
    /// Bits of the epoch's hints (docs/design.md §5.3).
    pub hint_bits: u64,
    /// Bits of the epoch's header, [`EPOCH_HEADER_BITS`] (its tilt index).
    pub header_bits: u64,
    /// The tilt r = u/v the encoder chose, as (u, v) from [`TILTS`] (docs/design.md §5.2).
    pub tilt: (u64, u64),
    /// Section 4 only: the Elias-γ codes of T_{i,j} + 1 (0 for SGD).
    pub gd_steps_bits: u64,
    /// Section 4 only: the perturbations' z, ℓ·m bits per batch (0 for SGD).
    pub perturbation_bits: u64,
}

/// A whole run's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The code itself.
    pub code: Code,
    /// Bits of the run's header digits (which steps are hinted).
    pub run_header_bits: u64,
    /// Per epoch, in run order, what its code costs.
    pub epochs: Vec<EpochCost>,
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
#[derive(Debug, Clone, Copy)]
pub struct GdCode<'a> {
    /// Ψ_ℓ: ℓ, m and the scale of each call's perturbation.
    pub perturbation: crate::perturb::Perturbation,
    /// T: a decoded T_{i,j} above it is a corrupted code.
    pub max_gd_steps: usize,
    /// Σ T_{i,j}, public like the number of steps.
    pub inner_steps: usize,
    /// Encoder only: the run and its inner inversions.
    pub known: Option<(&'a crate::sgd_prime::SgdPrimeRun, &'a [Vec<StepRecord>])>,
}

/// Which part of the code a digit belongs to, for the per-epoch accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Run,
    Header,
    Batch,
    Hint,
    GdSteps,
    Perturbation,
}

/// Either side of the code: the encoder writes the digit it knows, the decoder reads it.
trait Channel {
    fn uniform(
        &mut self,
        part: Part,
        radix: &BigUint,
        known: Option<BigUint>,
    ) -> Result<BigUint, Error>;
    fn table(
        &mut self,
        part: Part,
        table: &[BigUint],
        known: Option<usize>,
    ) -> Result<usize, Error>;
    fn start_epoch(&mut self, epoch: usize);
    /// Whether the code can still hold `bits` of information (always, when writing).
    fn can_hold(&self, bits: f64) -> bool;
}

/// Exact products of one epoch's digits: all of them, and its hints and header alone.
#[derive(Debug, Clone)]
struct Tally {
    den: BigUint,
    width: BigUint,
    hint_den: BigUint,
    header_den: BigUint,
    gd_den: BigUint,
    z_den: BigUint,
}

impl Tally {
    fn new() -> Self {
        Tally {
            den: BigUint::one(),
            width: BigUint::one(),
            hint_den: BigUint::one(),
            header_den: BigUint::one(),
            gd_den: BigUint::one(),
            z_den: BigUint::one(),
        }
    }
}

struct Writer {
    enc: Encoder,
    run: Tally,
    epochs: Vec<(usize, Tally)>,
}

impl Writer {
    fn tally(&mut self, part: Part) -> &mut Tally {
        match (part, self.epochs.last_mut()) {
            (Part::Run, _) | (_, None) => &mut self.run,
            (_, Some((_, t))) => t,
        }
    }
}

fn missing() -> Error {
    Error::Config("internal: the encoder lacks a digit it should know".into())
}

impl Channel for Writer {
    fn uniform(
        &mut self,
        part: Part,
        radix: &BigUint,
        known: Option<BigUint>,
    ) -> Result<BigUint, Error> {
        let d = known.ok_or_else(missing)?;
        self.enc.push_uniform(&d, radix);
        let t = self.tally(part);
        t.den *= radix;
        match part {
            Part::Hint => t.hint_den *= radix,
            Part::Header => t.header_den *= radix,
            Part::GdSteps => t.gd_den *= radix,
            Part::Perturbation => t.z_den *= radix,
            _ => {}
        }
        Ok(d)
    }

    fn table(
        &mut self,
        part: Part,
        table: &[BigUint],
        known: Option<usize>,
    ) -> Result<usize, Error> {
        let k = known.ok_or_else(missing)?;
        self.enc.push_table(table, k);
        let t = self.tally(part);
        t.den *= table.iter().sum::<BigUint>();
        t.width *= &table[k];
        Ok(k)
    }

    fn start_epoch(&mut self, epoch: usize) {
        self.epochs.push((epoch, Tally::new()));
    }

    fn can_hold(&self, _: f64) -> bool {
        true
    }
}

struct Reader {
    dec: Decoder,
}

impl Channel for Reader {
    fn uniform(&mut self, _: Part, radix: &BigUint, _: Option<BigUint>) -> Result<BigUint, Error> {
        self.dec.pop_uniform(radix).map_err(code_error)
    }

    fn table(&mut self, _: Part, table: &[BigUint], _: Option<usize>) -> Result<usize, Error> {
        self.dec.pop_table(table).map_err(code_error)
    }

    fn start_epoch(&mut self, _: usize) {}

    fn can_hold(&self, bits: f64) -> bool {
        bits <= self.dec.remaining_bits()
    }
}

/// log₂ C(n, k) from log-gamma, accurate to far better than a bit for these sizes.
fn log2_binomial(n: u64, k: u64) -> f64 {
    if k > n {
        return 0.0;
    }
    let lg = |x: u64| libm::lgamma(x as f64 + 1.0);
    (lg(n) - lg(k) - lg(n - k)) / std::f64::consts::LN_2
}

fn code_error(e: CodeError) -> Error {
    Error::Config(e.to_string())
}

fn corrupt(what: &str) -> Error {
    Error::Config(format!(
        "the code is corrupted or does not belong to this data and final model: {what}"
    ))
}

fn big(v: usize) -> BigUint {
    BigUint::from(v)
}

fn small(v: &BigUint, what: &str) -> Result<usize, Error> {
    v.to_usize().ok_or_else(|| corrupt(what))
}

fn factorial(n: usize) -> BigUint {
    (1..=n as u64).map(BigUint::from).product()
}

/// ⌈log₂ n!⌉, the baseline an epoch's code competes with.
pub fn log2_factorial_bits(n: usize) -> u64 {
    ceil_log2_ratio(&factorial(n), &BigUint::one())
}

/// C(n, 0), C(n, 1), …, C(n, kmax), each from the previous one.
fn binomial_row(n: usize, kmax: usize) -> Vec<BigUint> {
    let mut row = Vec::with_capacity(kmax + 1);
    let mut c = BigUint::one();
    for k in 0..=kmax {
        if k > n {
            row.push(BigUint::zero());
            continue;
        }
        row.push(c.clone());
        c = c * BigUint::from((n - k) as u64) / BigUint::from((k + 1) as u64);
    }
    row
}

/// The untilted k₁ weights C(|S₁|,k)·C(|S₀|,b−k) for k = 0..=b.
fn k1_base(a: usize, c: usize, b: usize) -> Vec<BigUint> {
    let ra = binomial_row(a, b);
    let rc = binomial_row(c, b);
    (0..=b).map(|k| &ra[k] * &rc[b - k]).collect()
}

/// The k₁ frequency table: the base weights times u^k·v^(b−k).
fn tilted(base: &[BigUint], (u, v): (u64, u64)) -> Vec<BigUint> {
    let b = base.len() - 1;
    if (u, v) == (1, 1) {
        return base.to_vec();
    }
    base.iter()
        .enumerate()
        .map(|(k, f)| {
            f * num_traits::pow(BigUint::from(u), k) * num_traits::pow(BigUint::from(v), b - k)
        })
        .collect()
}

/// The k₁ frequency table for |S₁| = a, |S₀| = c, batch b and tilt (u, v).
fn k1_table(a: usize, c: usize, b: usize, tilt: (u64, u64)) -> Vec<BigUint> {
    tilted(&k1_base(a, c, b), tilt)
}

/// What the encoder knows about the run.
struct Known<'a> {
    traj: &'a Trajectory,
    records: &'a [StepRecord],
    tilts: Vec<usize>,
}

/// The walk both sides share.
struct Walk<'a> {
    f: &'a StepFunction<'a>,
    shape: RunShape,
    opts: CodeOptions,
    known: Option<Known<'a>>,
    gd: Option<GdCode<'a>>,
}

impl Walk<'_> {
    fn run(&self, ch: &mut dyn Channel, final_model: &[i64]) -> Result<Decoded, Error> {
        self.shape.check()?;
        let t = self.shape.steps;
        let inner_total = self.gd.map_or(t, |g| g.inner_steps);
        let d = self.f.dim();
        // Which steps carry a hint. With certification the decoder learns it step by step from
        // the enumerated preimages, so no set is coded.
        let hinted = if self.opts.certify_budget.is_some() {
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
                w = match self.gd {
                    None => {
                        let known = self
                            .known
                            .as_ref()
                            .map(|kn| (&kn.records[k], kn.traj.steps[k].w.as_slice()));
                        self.step_back(ch, known, &w, &batch, hinted[k], d)?
                    }
                    Some(g) => {
                        let (before, call) =
                            self.gd_back(ch, &g, k, &w, &batch, &hinted, &mut end, d)?;
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
        let hinted_known: Option<Vec<u64>> = match self.gd.and_then(|g| g.known) {
            Some((_, records)) => Some(
                records
                    .iter()
                    .flatten()
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
        let known = self.known.as_ref().map(|kn| kn.traj.steps[k].batch.clone());
        // Membership as a mask: |S|·b comparisons per batch would dominate at n = 5,000.
        let n = self.shape.n;
        let in_set = |set: &[usize], batch: &[usize]| -> Vec<u64> {
            let mask = membership(n, batch);
            set.iter()
                .enumerate()
                .filter(|(_, &x)| mask[x])
                .map(|(i, _)| i as u64)
                .collect()
        };
        let table = k1_table(s1.len(), s0.len(), b, tilt);
        let k1 = ch.table(
            Part::Batch,
            &table,
            known.as_ref().map(|bt| in_set(&s1, bt).len()),
        )?;
        if k1 > s1.len() || b - k1 > s0.len() {
            return Err(corrupt("batch split"));
        }
        let r1_known = match &known {
            Some(bt) => Some(subset_rank(s1.len() as u64, &in_set(&s1, bt))?),
            None => None,
        };
        let r1 = ch.uniform(Part::Batch, &binomial(s1.len() as u64, k1 as u64), r1_known)?;
        let r0_known = match &known {
            Some(bt) => Some(subset_rank(s0.len() as u64, &in_set(&s0, bt))?),
            None => None,
        };
        let r0 = ch.uniform(
            Part::Batch,
            &binomial(s0.len() as u64, (b - k1) as u64),
            r0_known,
        )?;
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
        let order_known = match &known {
            Some(bt) => Some(permutation_rank(&order_of(bt, &members)?)?),
            None => None,
        };
        let order = ch.uniform(Part::Batch, &factorial(b), order_known)?;
        let pi = permutation_unrank(b, &order)?;
        Ok(pi.iter().map(|&p| members[p]).collect())
    }

    /// Inverts step `k` from the model after it and applies its hint, if any.
    fn step_back(
        &self,
        ch: &mut dyn Channel,
        known: Option<(&StepRecord, &[i64])>,
        w_after: &[i64],
        batch: &[usize],
        hinted: bool,
        d: usize,
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
        if let Some(budget) = self.opts.certify_budget {
            if !fixed {
                return self.correct(ch, &point, logged, d);
            }
            let e = enumerate_preimages(self.f, w_after, batch, &point, budget)?;
            let Ok(en) = e.result else {
                // Not certified: one binary digit says whether a correction follows.
                let wrong = logged.map(|l| big((l != point.as_slice()) as usize));
                if ch.uniform(Part::Hint, &big(2), wrong)?.is_zero() {
                    return Ok(point);
                }
                return self.correct(ch, &point, logged, d);
            };
            if en.preimages.len() == 1 {
                if logged.is_some_and(|l| l != point.as_slice()) {
                    return Err(Error::Config(
                        "internal: a step certified unique does not return the logged model".into(),
                    ));
                }
                return Ok(point);
            }
            let index = match logged {
                Some(l) => Some(big(en.preimages.iter().position(|p| p == l).ok_or_else(
                    || {
                        Error::Config(
                            "internal: the logged model is not among the enumerated preimages"
                                .into(),
                        )
                    },
                )?)),
                None => None,
            };
            let i = ch.uniform(Part::Hint, &big(en.preimages.len()), index)?;
            return Ok(en.preimages[small(&i, "preimage index")?].clone());
        }
        if !hinted {
            return if fixed {
                Ok(point)
            } else {
                Err(corrupt("a step without hint has no preimage"))
            };
        }
        self.correct(ch, &point, logged, d)
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
        d: usize,
    ) -> Result<(Vec<i64>, DecodedCall), Error> {
        let call = g.known.map(|(run, recs)| (&run.calls[k], &recs[k]));
        let t = elias_gamma(
            ch,
            Part::GdSteps,
            call.map(|(c, _)| c.gd_steps() as u64 + 1),
        )?;
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
                    let known = call.map(|(c, _)| BigUint::from((c.z[i] - p.low()) as u64));
                    let digit = ch.uniform(Part::Perturbation, &radix, known)?;
                    Ok(p.low() + digit.to_i64().ok_or_else(|| corrupt("perturbation"))?)
                })
                .collect::<Result<Vec<i64>, Error>>()?
        };
        let start = *end - t;
        let mut w = w_after.to_vec();
        let mut inner = vec![Vec::new(); t];
        for s in (0..t).rev() {
            let known = call.map(|(c, r)| (&r[s], c.inner[s].as_slice()));
            w = self.step_back(ch, known, &w, batch, hinted[start + s], d)?;
            inner[s] = w.clone();
        }
        *end = start;
        let before = p.undo(&w, &z)?;
        Ok((before, DecodedCall { z, inner }))
    }

    /// Reads or writes the sparse correction Δ = W_logged − V and applies it.
    fn correct(
        &self,
        ch: &mut dyn Channel,
        point: &[i64],
        logged: Option<&[i64]>,
        d: usize,
    ) -> Result<Vec<i64>, Error> {
        let delta: Option<Vec<(usize, i64)>> = logged.map(|l| {
            l.iter()
                .zip(point)
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(i, (a, b))| (i, a - b))
                .collect()
        });
        let correction = sparse_hint(ch, d, delta)?;
        let mut full = vec![0i64; d];
        for (i, v) in correction {
            full[i] = v;
        }
        Ok(checked_add(point, &full, "a corrected model")?)
    }
}

/// Codes a sparse correction: nnz − 1, positions, then each value as a sign and Elias-γ bits.
fn sparse_hint(
    ch: &mut dyn Channel,
    d: usize,
    known: Option<Vec<(usize, i64)>>,
) -> Result<Vec<(usize, i64)>, Error> {
    if let Some(k) = &known {
        if k.is_empty() {
            return Err(Error::Config("internal: an empty hint".into()));
        }
    }
    let nnz = ch.uniform(
        Part::Hint,
        &big(d),
        known.as_ref().map(|k| big(k.len() - 1)),
    )?;
    let nnz = small(&nnz, "hint size")? + 1;
    let pos_known = match &known {
        Some(k) => Some(subset_rank(
            d as u64,
            &k.iter().map(|(i, _)| *i as u64).collect::<Vec<_>>(),
        )?),
        None => None,
    };
    let pos = ch.uniform(Part::Hint, &binomial(d as u64, nnz as u64), pos_known)?;
    let positions = subset_unrank(d as u64, nnz as u64, &pos)?;
    let two = big(2);
    let mut out = Vec::with_capacity(nnz);
    for (slot, p) in positions.iter().enumerate() {
        let v = known.as_ref().map(|k| k[slot].1);
        let sign = ch.uniform(Part::Hint, &two, v.map(|v| big((v < 0) as usize)))?;
        let magnitude = elias_gamma(ch, Part::Hint, v.map(|v| v.unsigned_abs()))?;
        let value = i64::try_from(magnitude).map_err(|_| corrupt("hint value"))?;
        out.push((*p as usize, if sign.is_zero() { value } else { -value }));
    }
    Ok(out)
}

/// Elias-γ of a positive integer as binary digits: ℓ zeros, then its ℓ + 1 bits.
fn elias_gamma(ch: &mut dyn Channel, part: Part, known: Option<u64>) -> Result<u64, Error> {
    let two = big(2);
    let len = known.map(|v| 63 - v.leading_zeros() as usize);
    let mut zeros = 0usize;
    loop {
        let bit = ch.uniform(part, &two, len.map(|l| big((zeros == l) as usize)))?;
        if !bit.is_zero() {
            break;
        }
        zeros += 1;
        if zeros > 62 {
            return Err(corrupt("hint value too long"));
        }
    }
    let mut value = 1u64;
    for i in (0..zeros).rev() {
        let bit = ch.uniform(part, &two, known.map(|v| big(((v >> i) & 1) as usize)))?;
        value = (value << 1) | bit.to_u64().unwrap_or(0);
    }
    Ok(value)
}

/// A mask of `0..n` with the batch's examples set (indices beyond n are ignored).
fn membership(n: usize, batch: &[usize]) -> Vec<bool> {
    let mut mask = vec![false; n];
    for &x in batch {
        if let Some(m) = mask.get_mut(x) {
            *m = true;
        }
    }
    mask
}

/// The position of each element of `sequence` in the sorted `members`.
fn order_of(sequence: &[usize], members: &[usize]) -> Result<Vec<usize>, Error> {
    sequence
        .iter()
        .map(|x| {
            members.binary_search(x).map_err(|_| {
                Error::Config("internal: a batch element is missing from its set".into())
            })
        })
        .collect()
}

/// S₁ and S₀: the unassigned examples the model classifies correctly and not, in index order.
fn split(
    f: &StepFunction,
    w: &[i64],
    unassigned: &[bool],
) -> Result<(Vec<usize>, Vec<usize>), Error> {
    let mut s1 = Vec::new();
    let mut s0 = Vec::new();
    for (x, &free) in unassigned.iter().enumerate() {
        if free {
            if f.correct(w, x)? {
                s1.push(x);
            } else {
                s0.push(x);
            }
        }
    }
    Ok((s1, s0))
}

/// For each epoch, the tilt index that makes its k₁ digits shortest (computed from the logged
/// run, before any digit is written).
fn choose_tilts(
    f: &StepFunction,
    traj: &Trajectory,
    shape: &RunShape,
) -> Result<Vec<usize>, Error> {
    let b = shape.batch;
    let per = shape.per_epoch();
    (0..shape.epochs)
        .map(|e| {
            let steps = shape.steps_in(e);
            let mut unassigned = vec![true; shape.n];
            for &x in &traj.permutations[e][steps * b..] {
                unassigned[x] = false;
            }
            // Per batch: |S₁|, |S₀| and k₁, walking backwards as the decoder will.
            let mut stats = Vec::with_capacity(steps);
            for j in (0..steps).rev() {
                let k = e * per + j;
                let (s1, s0) = split(f, traj.model_after(k), &unassigned)?;
                let batch = &traj.steps[k].batch;
                let mask = membership(shape.n, batch);
                let k1 = s1.iter().filter(|&&x| mask[x]).count();
                stats.push((s1.len(), s0.len(), k1));
                for &x in batch {
                    unassigned[x] = false;
                }
            }
            let bases: Vec<(Vec<BigUint>, usize)> = stats
                .iter()
                .map(|&(a, c, k1)| (k1_base(a, c, b), k1))
                .collect();
            let cost = |tilt: (u64, u64)| -> (BigUint, BigUint) {
                let mut num = BigUint::one();
                let mut den = BigUint::one();
                for (base, k1) in &bases {
                    let t = tilted(base, tilt);
                    num *= t.iter().sum::<BigUint>();
                    den *= &t[*k1];
                }
                (num, den)
            };
            let costs: Vec<(BigUint, BigUint)> = TILTS.iter().map(|&t| cost(t)).collect();
            // The smallest num/den; ties go to the lowest index (r = 1 first).
            let best = (0..TILTS.len())
                .min_by(|&i, &j| {
                    (&costs[i].0 * &costs[j].1)
                        .cmp(&(&costs[j].0 * &costs[i].1))
                        .then(i.cmp(&j))
                })
                .unwrap_or(0);
            Ok(best)
        })
        .collect()
}

/// Encodes a logged run. `records` are the inversions of [`crate::reconstruct::analyse`].
pub fn encode(
    f: &StepFunction,
    traj: &Trajectory,
    records: &[StepRecord],
    shape: RunShape,
    opts: CodeOptions,
) -> Result<Encoded, Error> {
    encode_with(f, traj, records, shape, opts, None)
}

/// Encodes an SGD′ run (Lemma 4.1): `outer` is [`crate::sgd_prime::SgdPrimeRun::outer`] and
/// `gd.known` holds the run and its inner inversions.
pub fn encode_gd(
    f: &StepFunction,
    outer: &Trajectory,
    shape: RunShape,
    opts: CodeOptions,
    gd: GdCode,
) -> Result<Encoded, Error> {
    encode_with(f, outer, &[], shape, opts, Some(gd))
}

fn encode_with(
    f: &StepFunction,
    traj: &Trajectory,
    records: &[StepRecord],
    shape: RunShape,
    opts: CodeOptions,
    gd: Option<GdCode>,
) -> Result<Encoded, Error> {
    let tilts = choose_tilts(f, traj, &shape)?;
    let walk = Walk {
        f,
        shape,
        opts,
        known: Some(Known {
            traj,
            records,
            tilts: tilts.clone(),
        }),
        gd,
    };
    let mut w = Writer {
        enc: Encoder::new(),
        run: Tally::new(),
        epochs: Vec::new(),
    };
    walk.run(&mut w, &traj.final_model)?;
    let baseline = log2_factorial_bits(shape.n);
    let mut epochs: Vec<EpochCost> = w
        .epochs
        .iter()
        .map(|(e, t)| EpochCost {
            epoch: *e,
            baseline_bits: baseline,
            bits: ceil_log2_ratio(&t.den, &t.width),
            hint_bits: ceil_log2_ratio(&t.hint_den, &BigUint::one()),
            header_bits: ceil_log2_ratio(&t.header_den, &BigUint::one()),
            tilt: TILTS[tilts[*e - 1]],
            gd_steps_bits: ceil_log2_ratio(&t.gd_den, &BigUint::one()),
            perturbation_bits: ceil_log2_ratio(&t.z_den, &BigUint::one()),
        })
        .collect();
    epochs.sort_by_key(|c| c.epoch);
    Ok(Encoded {
        run_header_bits: ceil_log2_ratio(&w.run.den, &w.run.width),
        code: w.enc.finish(),
        epochs,
    })
}

/// Decodes a run from the final model and the code; the step function carries the data set and
/// the public parameters.
pub fn decode(
    f: &StepFunction,
    final_model: &[i64],
    shape: RunShape,
    code: &Code,
    opts: CodeOptions,
) -> Result<Decoded, Error> {
    decode_with(f, final_model, shape, code, opts, None)
}

/// Decodes an SGD′ run (Lemma 4.1); `gd.known` must be `None`.
pub fn decode_gd(
    f: &StepFunction,
    final_model: &[i64],
    shape: RunShape,
    code: &Code,
    opts: CodeOptions,
    gd: GdCode,
) -> Result<Decoded, Error> {
    decode_with(
        f,
        final_model,
        shape,
        code,
        opts,
        Some(GdCode { known: None, ..gd }),
    )
}

fn decode_with(
    f: &StepFunction,
    final_model: &[i64],
    shape: RunShape,
    code: &Code,
    opts: CodeOptions,
    gd: Option<GdCode>,
) -> Result<Decoded, Error> {
    let walk = Walk {
        f,
        shape,
        opts,
        known: None,
        gd,
    };
    let mut r = Reader {
        dec: Decoder::new(code),
    };
    walk.run(&mut r, final_model)
}
