//! The reversible perturbation family Ψ_ℓ of Section 4, on the grid.
//!
//! ψ_z(W) = W + W_z with `W_z[i] = z[i mod ℓ]`: the paper's example of a family in which every
//! ψ_z is one-to-one. Here z holds ℓ integers, each drawn from m random bits as a uniform
//! integer in [−2^(m−1), 2^(m−1)) (m = 0 gives z = 0), and a value `z[k]` moves a weight by
//! `z[k]`·2^s ulps for the stated shift s (`--perturbation-scale`). One call therefore spends ℓ·m
//! random bits, drawn from their own ChaCha stream ([`Stream::Perturbation`](crate::rng::Stream::Perturbation)); ψ_z⁻¹ subtracts
//! the same vector, so undoing a perturbation is exact whenever applying it did not overflow,
//! and an overflow is an error rather than a wrap.

use crate::grid::{checked_add, checked_sub};
use crate::rng::uniform_below;
use rand_core::RngCore;
use std::num::NonZeroU64;

/// Largest m accepted: a value and its shift must stay far inside an `i64`.
pub const MAX_BITS: u32 = 32;
/// Largest shift s accepted.
pub const MAX_SHIFT: u32 = 30;

/// One member of the family's parameters: ℓ values of m bits, scaled by 2^shift ulps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Perturbation {
    /// ℓ: how many values z holds (W_z repeats them with period ℓ).
    pub length: usize,
    /// m: random bits per value.
    pub bits: u32,
    /// s: each value moves a weight by `z[k]`·2^s ulps.
    pub shift: u32,
}

/// A perturbation parameter out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PerturbError {
    /// m above [`MAX_BITS`].
    #[error("--perturbation-bits {0} is above {MAX_BITS}; use at most {MAX_BITS}")]
    Bits(u32),
    /// s above [`MAX_SHIFT`].
    #[error("--perturbation-scale {0} is above {MAX_SHIFT}; use at most {MAX_SHIFT}")]
    Shift(u32),
    #[error(
        "z holds {got} values but the perturbation has length {want}; the code or log is corrupted"
    )]
    /// A z whose length is not ℓ.
    Length {
        /// Values in z.
        got: usize,
        /// ℓ.
        want: usize,
    },
    /// A z value outside the family's 2^m values.
    #[error("z value {0} is outside the perturbation's range; the code or log is corrupted")]
    Range(i64),
}

impl Perturbation {
    /// Checks m and s against [`MAX_BITS`] and [`MAX_SHIFT`].
    pub fn new(length: usize, bits: u32, shift: u32) -> Result<Self, PerturbError> {
        if bits > MAX_BITS {
            return Err(PerturbError::Bits(bits));
        }
        if shift > MAX_SHIFT {
            return Err(PerturbError::Shift(shift));
        }
        Ok(Perturbation {
            length,
            bits,
            shift,
        })
    }

    /// ℓ·m, the random bits of one call (0 when either is 0).
    pub fn random_bits(&self) -> u64 {
        if self.bits == 0 {
            0
        } else {
            self.length as u64 * self.bits as u64
        }
    }

    /// Whether a call changes nothing and spends nothing.
    pub fn is_identity(&self) -> bool {
        self.random_bits() == 0
    }

    /// The smallest value of `z[k]`: −2^(m−1), or 0 for m = 0.
    pub fn low(&self) -> i64 {
        if self.bits == 0 {
            0
        } else {
            -(1i64 << (self.bits - 1))
        }
    }

    /// The number of values `z[k]` can take: 2^m.
    pub fn radix(&self) -> u64 {
        1u64 << self.bits
    }

    /// Draws z: ℓ uniform values, each from m bits of `rng`. Nothing is drawn when ℓ·m = 0.
    pub fn draw<R: RngCore + ?Sized>(&self, rng: &mut R) -> Vec<i64> {
        if self.is_identity() {
            return vec![0; self.length];
        }
        let radix = NonZeroU64::new(self.radix()).unwrap_or(NonZeroU64::MIN);
        (0..self.length)
            .map(|_| self.low() + uniform_below(rng, radix) as i64)
            .collect()
    }

    /// Checks that z is a member of this family's index set.
    pub fn check(&self, z: &[i64]) -> Result<(), PerturbError> {
        if z.len() != self.length {
            return Err(PerturbError::Length {
                got: z.len(),
                want: self.length,
            });
        }
        let high = self.low() + self.radix() as i64;
        match z.iter().find(|&&v| v < self.low() || v >= high) {
            Some(&v) => Err(PerturbError::Range(v)),
            None => Ok(()),
        }
    }

    /// W_z in ulps, for a model of `d` weights.
    fn offsets(&self, z: &[i64], d: usize) -> Result<Vec<i64>, crate::Error> {
        self.check(z)
            .map_err(|e| crate::Error::Config(e.to_string()))?;
        if self.length == 0 {
            return Ok(vec![0; d]);
        }
        // |z| < 2^31 and s ≤ 30, so the product fits an i64.
        Ok((0..d)
            .map(|i| z[i % self.length] << self.shift)
            .collect::<Vec<_>>())
    }

    /// ψ_z(W) = W + W_z; an overflow is an error.
    pub fn apply(&self, w: &[i64], z: &[i64]) -> Result<Vec<i64>, crate::Error> {
        let o = self.offsets(z, w.len())?;
        Ok(checked_add(w, &o, "a perturbed model")?)
    }

    /// ψ_z⁻¹(V) = V − W_z; an overflow is an error.
    pub fn undo(&self, v: &[i64], z: &[i64]) -> Result<Vec<i64>, crate::Error> {
        let o = self.offsets(z, v.len())?;
        Ok(checked_sub(v, &o, "a model with its perturbation undone")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, Stream};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn psi_then_its_inverse_is_the_identity(
            w in proptest::collection::vec(any::<i64>(), 0..12),
            length in 0usize..6,
            bits in 0u32..=MAX_BITS,
            shift in 0u32..=MAX_SHIFT,
            seed in any::<u64>(),
        ) {
            let p = Perturbation::new(length, bits, shift).unwrap();
            let z = p.draw(&mut stream(seed, Stream::Perturbation));
            prop_assert!(p.check(&z).is_ok());
            let offset = |i: usize| if length == 0 { 0 } else { (z[i % length] as i128) << shift };
            match p.apply(&w, &z) {
                Ok(v) => {
                    prop_assert_eq!(p.undo(&v, &z).unwrap(), w.clone());
                    // ψ_z moved every weight by exactly z[i mod ℓ]·2^s.
                    for (i, (a, b)) in v.iter().zip(&w).enumerate() {
                        prop_assert_eq!((*a as i128) - (*b as i128), offset(i));
                    }
                }
                // An overflow is reported exactly when some W[i] + W_z[i] leaves the i64 range.
                Err(e) => {
                    let overflows = w.iter().enumerate().any(|(i, &v)| {
                        let s = v as i128 + offset(i);
                        s > i64::MAX as i128 || s < i64::MIN as i128
                    });
                    prop_assert!(overflows, "unexpected error {e}");
                }
            }
        }
    }

    #[test]
    fn overflow_is_reported_not_wrapped() {
        let p = Perturbation::new(1, 4, 0).unwrap();
        assert!(p.apply(&[i64::MAX], &[1]).is_err());
        assert!(p.apply(&[i64::MIN], &[-8]).is_err());
        assert!(p.undo(&[i64::MIN], &[1]).is_err());
        assert_eq!(p.apply(&[i64::MAX - 1], &[1]).unwrap(), vec![i64::MAX]);
    }

    #[test]
    fn draws_cover_the_stated_range_and_spend_l_times_m_bits() {
        let p = Perturbation::new(4000, 3, 2).unwrap();
        assert_eq!(p.random_bits(), 12_000);
        let z = p.draw(&mut stream(1, Stream::Perturbation));
        assert_eq!(z.iter().min(), Some(&-4));
        assert_eq!(z.iter().max(), Some(&3));
        assert!(p.check(&[4; 4000]).is_err());
        assert!(p.check(&[0; 3]).is_err());
        let none = Perturbation::new(5, 0, 0).unwrap();
        assert!(none.is_identity());
        assert_eq!(none.draw(&mut stream(1, Stream::Perturbation)), vec![0; 5]);
        assert!(Perturbation::new(1, MAX_BITS + 1, 0).is_err());
        assert!(Perturbation::new(1, 1, MAX_SHIFT + 1).is_err());
    }
}
