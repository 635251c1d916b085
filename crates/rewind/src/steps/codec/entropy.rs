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
//!
//! The parts, in `src/steps/codec/`: `channel.rs` (the encoder's and the decoder's side of each digit),
//! `tilt.rs` (the k₁ tables and the choice of tilt), `walk.rs` (the walk both sides share),
//! `shape.rs` (what the decoder knows of the run) and [`super::hint`] (the hint and its code).

use super::channel::{Reader, Writer};
use super::coder::{ceil_log2_ratio, Code};
use super::hint::StepRecord;
use super::rank::factorial;
use super::tilt::choose_tilts;
use super::walk::{Known, Walk};
use crate::sgd::{StepFunction, Trajectory};
use crate::Error;
use num_bigint::BigUint;
use num_traits::One;

pub use super::shape::RunShape;
pub use super::tilt::{EPOCH_HEADER_BITS, TILTS};
pub use super::walk::{Certifier, CodeOptions, Decoded, DecodedCall, Enumerate, GdCode, KnownCall};

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

/// ⌈log₂ n!⌉, the baseline an epoch's code competes with.
pub fn log2_factorial_bits(n: usize) -> u64 {
    ceil_log2_ratio(&factorial(n), &BigUint::one())
}

/// Encodes a logged run. `records` are the inversions of [`crate::steps::reconstruct::analyse`].
pub fn encode(
    f: &StepFunction,
    traj: &Trajectory,
    records: &[StepRecord],
    shape: RunShape,
    opts: CodeOptions,
) -> Result<Encoded, Error> {
    encode_with(f, traj, records, shape, opts, None)
}

/// Encodes an SGD′ run (Lemma 4.1): `outer` is its trajectory of outer steps (one per batch,
/// from each GD call's input to its output) and `gd.known` holds each call's z, inner models and
/// inner inversions.
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
    let mut w = Writer::new();
    walk.run(&mut w, &traj.final_model)?;
    let baseline = log2_factorial_bits(shape.n);
    let mut epochs: Vec<EpochCost> = w
        .epochs
        .iter()
        .map(|(e, t)| EpochCost {
            epoch: *e,
            baseline_bits: baseline,
            bits: {
                let (den, width) = t.ratio();
                ceil_log2_ratio(&den, &width)
            },
            hint_bits: ceil_log2_ratio(&t.hint_den.value(), &BigUint::one()),
            header_bits: ceil_log2_ratio(&t.header_den.value(), &BigUint::one()),
            tilt: TILTS[tilts[*e - 1]],
            gd_steps_bits: ceil_log2_ratio(&t.gd_den.value(), &BigUint::one()),
            perturbation_bits: ceil_log2_ratio(&t.z_den.value(), &BigUint::one()),
        })
        .collect();
    epochs.sort_by_key(|c| c.epoch);
    Ok(Encoded {
        run_header_bits: {
            let (den, width) = w.run.ratio();
            ceil_log2_ratio(&den, &width)
        },
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
    let mut r = Reader::new(code);
    walk.run(&mut r, final_model)
}
