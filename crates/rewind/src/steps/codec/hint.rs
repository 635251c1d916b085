//! The hint (docs/design.md §4.2): the sparse integer correction Δ = W_logged − V that turns the
//! inverter's point V into the logged model where a grid step is many-to-one. One type for both
//! of its users: reconstruction derives and applies hints ([`crate::steps::reconstruct`]), and the
//! Lemma 3.1 code writes and reads them ([`super::entropy`], docs/design.md §5.3).
//!
//! Hint code (its length is what [`HintSet::bits`] reports, and what the code's digits cost):
//! the number of hinted steps (⌈log₂(T+1)⌉ bits for T steps) and which ones (a subset rank,
//! ⌈log₂ C(T, h)⌉); per hint the number of non-zero coordinates minus one (⌈log₂ d⌉), their
//! positions (⌈log₂ C(d, nnz)⌉) and each value as a sign bit plus the Elias-γ code of its
//! magnitude.

use super::channel::{big, corrupt, elias_gamma, small, Channel, Part};
use super::elias_gamma_bits;
use super::rank::{binomial, ceil_log2, subset_rank, subset_unrank};
use crate::grid::checked_add;
use crate::steps::invert::{Inversion, Outcome, Termination};
use crate::Error;
use num_traits::Zero;
use serde::Serialize;
use std::collections::BTreeMap;

/// A sparse correction Δ = W_logged − V: (coordinate, value) pairs in increasing coordinate
/// order; a hint derived from a step has only non-zero values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Hint(Vec<(usize, i64)>);

impl From<Vec<(usize, i64)>> for Hint {
    fn from(entries: Vec<(usize, i64)>) -> Self {
        Hint(entries)
    }
}

impl Hint {
    /// Δ = `logged` − `point` on the coordinates where they differ.
    pub fn delta(logged: &[i64], point: &[i64]) -> Hint {
        Hint(
            logged
                .iter()
                .zip(point)
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(k, (a, b))| (k, a - b))
                .collect(),
        )
    }

    /// The (coordinate, value) pairs.
    pub fn entries(&self) -> &[(usize, i64)] {
        &self.0
    }

    /// The number of corrected coordinates.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the hint corrects nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Bits of this hint's code in dimension `d`.
    pub fn bits(&self, d: usize) -> u64 {
        let nnz = self.0.len() as u64;
        let count = ceil_log2(&(d as u64).into());
        let positions = ceil_log2(&binomial(d as u64, nnz));
        let values: u64 = self
            .0
            .iter()
            .map(|(_, v)| 1 + elias_gamma_bits(v.unsigned_abs()))
            .sum();
        count + positions + values
    }

    /// V + Δ for the hint of step `step` (1-based, run order); a hint naming a coordinate the
    /// model does not have is an error that names both.
    pub fn apply(&self, v: &[i64], step: usize) -> Result<Vec<i64>, Error> {
        let mut delta = vec![0i64; v.len()];
        for &(k, d) in &self.0 {
            if k >= v.len() {
                return Err(Error::HintOutOfRange {
                    step,
                    coordinate: k,
                    dim: v.len(),
                });
            }
            delta[k] = d;
        }
        Ok(checked_add(v, &delta, "a corrected model")?)
    }

    /// Writes `known` (the encoder) or reads a hint (the decoder) in dimension `d`: nnz − 1,
    /// the positions, then each value as a sign and Elias-γ bits.
    pub(super) fn code(
        ch: &mut dyn Channel,
        d: usize,
        known: Option<&Hint>,
    ) -> Result<Hint, Error> {
        let known = known.map(Hint::entries);
        if let Some(k) = known {
            if k.is_empty() {
                return Err(Error::Internal("an empty hint".into()));
            }
        }
        let nnz = ch.uniform(Part::Hint, &big(d), known.map(|k| big(k.len() - 1)))?;
        let nnz = small(&nnz, "hint size")? + 1;
        let pos_known = match known {
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
            let v = known.map(|k| k[slot].1);
            let sign = ch.uniform(Part::Hint, &two, v.map(|v| big((v < 0) as usize)))?;
            let magnitude = elias_gamma(ch, Part::Hint, v.map(|v| v.unsigned_abs()))?;
            let value = i64::try_from(magnitude).map_err(|_| corrupt("hint value"))?;
            out.push((*p as usize, if sign.is_zero() { value } else { -value }));
        }
        Ok(Hint(out))
    }
}

/// A hint packed for keeping: each position as the LEB128 gap from the one before, each value
/// zigzag LEB128. An entry takes 2–3 bytes instead of 16, which is what a run verified without
/// its models (docs/design.md §7.5) holds per corrected coordinate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackedHint(Vec<u8>);

impl PackedHint {
    /// `hint`, packed; its positions must increase, as [`Hint::delta`] gives them.
    pub fn pack(hint: &Hint) -> Self {
        let mut out = Vec::with_capacity(hint.len() * 3);
        let mut next = 0usize;
        for &(k, v) in hint.entries() {
            push_leb128(&mut out, k.wrapping_sub(next) as u64);
            push_leb128(&mut out, ((v << 1) ^ (v >> 63)) as u64);
            next = k.wrapping_add(1);
        }
        PackedHint(out)
    }

    /// The hint back.
    pub fn unpack(&self) -> Result<Hint, Error> {
        let mut bytes = self.0.iter().copied();
        let mut out = Vec::new();
        let mut next = 0usize;
        while let Some(gap) = read_leb128(&mut bytes)? {
            let z = read_leb128(&mut bytes)?
                .ok_or_else(|| Error::Internal("a packed hint ends inside an entry".into()))?;
            let k = next
                .checked_add(gap as usize)
                .ok_or_else(|| Error::Internal("a packed hint's position overflows".into()))?;
            out.push((k, (z >> 1) as i64 ^ -((z & 1) as i64)));
            next = k + 1;
        }
        Ok(Hint(out))
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn push_leb128(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The next LEB128 number, `None` at the end.
fn read_leb128(bytes: &mut impl Iterator<Item = u8>) -> Result<Option<u64>, Error> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(b) = bytes.next() else {
            return match shift {
                0 => Ok(None),
                _ => Err(Error::Internal("a packed hint ends inside a number".into())),
            };
        };
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(Some(v));
        }
    }
    Err(Error::Internal(
        "a packed hint holds a number over 64 bits".into(),
    ))
}

/// The hints of a run, keyed by the 0-based step index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HintSet {
    /// Step index → the correction that turns the inverter's point into the logged model.
    pub hints: BTreeMap<usize, Hint>,
}

impl HintSet {
    /// The length of the hint code for a run of `steps` steps in dimension `d`.
    pub fn bits(&self, steps: usize, d: usize) -> u64 {
        Self::header_bits(steps, self.hints.len())
            + self.hints.values().map(|h| h.bits(d)).sum::<u64>()
    }

    /// The bits that say how many of `steps` steps are hinted and which: ⌈log₂(steps + 1)⌉ and
    /// the subset rank.
    pub fn header_bits(steps: usize, hinted: usize) -> u64 {
        ceil_log2(&(steps as u64 + 1).into()) + ceil_log2(&binomial(steps as u64, hinted as u64))
    }
}

/// What inverting one logged step gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    /// The inverter's fixed point, or its last iterate.
    pub point: Vec<i64>,
    /// The point compared with the logged model (docs/design.md §4.1).
    pub outcome: Outcome,
    /// Why the iteration stopped.
    pub termination: Termination,
    /// Iterations V ← W' + s_B(V) taken.
    pub iterations: u32,
    /// The correction Δ = W_logged − point, when the step is not recovered (docs/design.md
    /// §4.2).
    pub hint: Option<Hint>,
}

impl StepRecord {
    /// The record of inversion `inv` of a step whose logged model (before it) was `logged`.
    pub fn new(inv: &Inversion, logged: &[i64]) -> Self {
        let outcome = inv.outcome(logged);
        StepRecord {
            point: inv.point.clone(),
            outcome,
            termination: inv.termination,
            iterations: inv.iterations,
            hint: (outcome != Outcome::Recovered).then(|| Hint::delta(logged, &inv.point)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::channel::{Reader, Writer};
    use super::super::coder::ceil_log2_ratio;
    use super::*;
    use num_bigint::BigUint;
    use num_traits::One;

    proptest::proptest! {
        /// Packing keeps every entry of a hint, whatever its positions' gaps and values.
        #[test]
        fn a_packed_hint_unpacks_to_itself(
            entries in proptest::collection::btree_map(
                0usize..1 << 40,
                proptest::prop_oneof![-3i64..4, proptest::num::i64::ANY],
                0..40,
            )
        ) {
            let hint = Hint(entries.into_iter().collect());
            let packed = PackedHint::pack(&hint);
            proptest::prop_assert_eq!(packed.unpack().unwrap(), hint.clone());
            proptest::prop_assert_eq!(packed.is_empty(), hint.is_empty());
        }
    }

    #[test]
    fn a_torn_packed_hint_is_an_error_not_a_hint() {
        let packed = PackedHint::pack(&Hint(vec![(3, 1), (900, -200)]));
        for cut in 1..packed.len() {
            let torn = PackedHint(packed.0[..cut].to_vec());
            // Either an error or a strict prefix of the entries, never a changed entry.
            match torn.unpack() {
                Ok(h) => assert!(h.entries().len() < 2 && h.entries().iter().all(|e| *e == (3, 1))),
                Err(e) => assert!(matches!(e, Error::Internal(_)), "{e}"),
            }
        }
    }

    /// Writes `hint` alone; returns ⌈log₂⌉ of the product of its digits' radices and the hint
    /// read back from the finished code.
    fn round_trip(hint: &Hint, d: usize) -> (u64, Hint) {
        let mut w = Writer::new();
        w.start_epoch(1);
        let written = Hint::code(&mut w, d, Some(hint)).unwrap();
        assert_eq!(&written, hint);
        let bits = ceil_log2_ratio(&w.epochs[0].1.hint_den.value(), &BigUint::one());
        let mut r = Reader::new(&w.enc.finish());
        (bits, Hint::code(&mut r, d, None).unwrap())
    }

    #[test]
    fn a_delta_applied_to_its_point_gives_the_logged_model() {
        let logged = [5, -3, 7, 0, i64::MAX];
        let point = [5, 4, 7, -2, i64::MAX - 9];
        let h = Hint::delta(&logged, &point);
        assert_eq!(h.entries(), &[(1, -7), (3, 2), (4, 9)]);
        assert_eq!(h.apply(&point, 1).unwrap(), logged);
        assert!(Hint::delta(&logged, &logged).is_empty());
    }

    #[test]
    fn a_hint_outside_the_model_names_its_step_and_coordinate() {
        let err = Hint::from(vec![(7, 1)]).apply(&[5, 6], 3).unwrap_err();
        assert!(
            matches!(
                err,
                Error::HintOutOfRange {
                    step: 3,
                    coordinate: 7,
                    dim: 2
                }
            ),
            "{err}"
        );
        let h = Hint::from(vec![(1, -2)]);
        assert_eq!(h.apply(&[5, 6], 3).unwrap(), vec![5, 4]);
    }

    #[test]
    fn a_correction_that_leaves_the_grid_is_an_error() {
        let h = Hint::from(vec![(0, 1)]);
        assert!(matches!(
            h.apply(&[i64::MAX], 1),
            Err(Error::Grid(crate::grid::GridError::Overflow { .. }))
        ));
    }

    #[test]
    fn hint_bits_follow_the_stated_code() {
        // d = 8: nnz-1 in 3 bits, positions C(8,2)=28 → 5 bits, values 1+1 and 1+3.
        assert_eq!(Hint::from(vec![(1, 1), (5, -2)]).bits(8), 3 + 5 + 2 + 4);
        let mut set = HintSet::default();
        assert_eq!(set.bits(10, 8), 4);
        set.hints.insert(3, Hint::from(vec![(0, 1)]));
        assert_eq!(set.bits(10, 8), 4 + 4 + 3 + 3 + 2);
    }

    #[test]
    fn the_code_of_a_hint_reads_back_and_costs_its_stated_bits() {
        // Where d and C(d, nnz) are powers of two the digits' product costs exactly the sum of
        // the parts' bits; elsewhere ⌈log₂(d·C)⌉ may be one bit below ⌈log₂ d⌉ + ⌈log₂ C⌉.
        let exact = [
            (1, vec![(0, 1)]),
            (1, vec![(0, -1)]),
            (8, vec![(7, i64::MAX)]),
            (4, vec![(0, -5), (1, 3), (2, 1), (3, -(1 << 40))]),
            (16, vec![(9, -1_000_003)]),
        ];
        for (d, entries) in exact {
            let h = Hint::from(entries);
            let (bits, back) = round_trip(&h, d);
            assert_eq!(back, h, "d = {d}");
            assert_eq!(bits, h.bits(d), "{h:?} in d = {d}");
        }
        let h = Hint::from(vec![(0, 2), (4, -3), (6, 1)]);
        let (bits, back) = round_trip(&h, 7);
        assert_eq!(back, h);
        // Values: sign + γ(2), sign + γ(3), sign + γ(1) = 4 + 4 + 2 bits; C(7, 3) = 35.
        assert_eq!((bits, h.bits(7)), (8 + 10, 3 + 6 + 10));
    }

    #[test]
    fn an_empty_hint_is_refused_before_any_digit() {
        let mut w = Writer::new();
        let err = Hint::code(&mut w, 3, Some(&Hint::default())).unwrap_err();
        assert!(matches!(err, Error::Internal(_)), "{err}");
        assert_eq!(w.enc.finish().bits, 0);
    }

    #[test]
    fn a_step_record_carries_a_hint_unless_the_logged_model_came_back() {
        let inv = Inversion {
            point: vec![1, 2],
            termination: Termination::FixedPoint,
            iterations: 4,
            own_evaluations: 4,
            predictor_evaluations: 0,
        };
        let same = StepRecord::new(&inv, &[1, 2]);
        assert_eq!((same.outcome, same.hint), (Outcome::Recovered, None));
        let other = StepRecord::new(&inv, &[1, 5]);
        assert_eq!(other.outcome, Outcome::OtherPreimage);
        assert_eq!(other.hint, Some(Hint::from(vec![(1, 3)])));
    }
}
