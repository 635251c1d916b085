//! Named, portable randomness: every random choice of a run comes from ChaCha20 streams
//! seeded from the run's own parameters.
//!
//! Reproducibility promise: for a given seed, the permutations of Algorithm 1 (line 4), the
//! initial model W₁,₁ and the random labels are the same on every platform and in every
//! future version of this crate that keeps [`FORMAT`]. The value-stability tests below pin
//! the exact sequences; a change that breaks them must bump [`FORMAT`]. Bounded draws use
//! this module's own rejection sampler rather than `rand`'s, whose algorithms may change.

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use std::num::NonZeroU64;

/// Version of the random streams' definition.
pub const FORMAT: u32 = 1;

/// The independent streams drawn from one seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Per-epoch permutations of the data set.
    Permutation = 1,
    /// The initial model W₁,₁.
    Init = 3,
    /// Random labels (`--random-labels`).
    RandomLabels = 5,
    /// Synthetic data sets.
    Synthetic = 7,
    /// The perturbations z of Section 4's GD calls (`rewind verify --algorithm sgd-prime`).
    Perturbation = 9,
}

/// The ChaCha20 generator of `stream` for `seed`.
pub fn stream(seed: u64, stream: Stream) -> ChaCha20Rng {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(stream as u64);
    rng
}

/// A uniform integer in `0..bound`, without modulo bias.
///
/// Rejection sampling: of the 2^64 values of `next_u64`, the lowest `2^64 mod bound` are
/// rejected and redrawn. The remaining range holds a whole multiple of `bound` consecutive
/// values, so `x mod bound` is exactly uniform. At most half of the range is ever rejected
/// (`2^64 mod bound < bound ≤ 2^63` or `< 2^64 − bound`), so the expected number of draws is
/// below 2, and for small bounds it is 1 with overwhelming probability.
pub fn uniform_below<R: RngCore + ?Sized>(rng: &mut R, bound: NonZeroU64) -> u64 {
    uniform_below_by(rng, bound.get(), |x| x % bound)
}

/// [`uniform_below`] with `x mod bound` taken by `rem` (`bound` ≥ 1).
fn uniform_below_by<R: RngCore + ?Sized>(rng: &mut R, bound: u64, rem: impl Fn(u64) -> u64) -> u64 {
    loop {
        let x = rng.next_u64();
        // Draws below 2^64 mod bound are rejected. That threshold is below the bound, so a draw
        // at or above the bound is always kept, and the division that finds the threshold
        // ((2^64 − bound) mod bound, in u64) is needed only for the rare draw below it.
        if x >= bound || x >= bound.wrapping_neg() % bound {
            return rem(x);
        }
    }
}

/// A uniform integer in `[lo, hi]`.
pub fn uniform_in<R: RngCore + ?Sized>(rng: &mut R, lo: i64, hi: i64) -> i64 {
    debug_assert!(lo <= hi);
    let span = (hi as i128 - lo as i128 + 1) as u128;
    if span > u64::MAX as u128 {
        return rng.next_u64() as i64;
    }
    let span = NonZeroU64::new(span as u64).unwrap_or(NonZeroU64::MIN);
    (lo as i128 + uniform_below(rng, span) as i128) as i64
}

/// A uniformly random permutation of `0..n` (Fisher–Yates, from the top down).
pub fn permutation<R: RngCore + ?Sized>(rng: &mut R, n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let bound = NonZeroU64::new(i as u64 + 1).unwrap_or(NonZeroU64::MIN);
        let j = uniform_below(rng, bound) as usize;
        p.swap(i, j);
    }
    p
}

/// [`permutation`] for many permutations of lengths up to a fixed n, the same ones bit for
/// bit, with each `x mod bound` of [`uniform_below`] taken through a reciprocal computed once
/// per bound instead of a 64-bit division per draw: the permutation tests draw millions.
#[derive(Debug, Clone)]
pub struct Shuffler {
    /// ⌊(2^128 − 1)/d⌋ for d = 2..=n, at index d − 2, split into its high and low words.
    reciprocals: Vec<(u64, u64)>,
}

impl Shuffler {
    /// Ready for permutations of up to `n` elements.
    pub fn new(n: usize) -> Self {
        let reciprocals = (2..=n.max(1) as u64)
            .map(|d| {
                let r = u128::MAX / d as u128;
                ((r >> 64) as u64, r as u64)
            })
            .collect();
        Shuffler { reciprocals }
    }

    /// x mod d for 2 ≤ d ≤ n. With r = ⌊(2^128 − 1)/d⌋, q = ⌊x·r/2^128⌋ is ⌊x/d⌋ or one less
    /// (x·r/2^128 > x/d − 2^64(1 + d)/(d·2^128) > x/d − 1), so one correction is exact; the
    /// high words' product stays below 2^127 because r < 2^127 for d ≥ 2.
    fn rem(&self, x: u64, d: u64) -> u64 {
        let (hi, lo) = self.reciprocals[(d - 2) as usize];
        let low = (x as u128 * lo as u128) >> 64;
        let q = ((x as u128 * hi as u128 + low) >> 64) as u64;
        let r = x.wrapping_sub(q.wrapping_mul(d));
        if r >= d {
            r - d
        } else {
            r
        }
    }

    /// [`permutation`]`(rng, len)` written into `p`; `len` must be at most the `n` given to
    /// [`Shuffler::new`].
    pub fn permutation_into<R: RngCore + ?Sized>(
        &self,
        rng: &mut R,
        len: usize,
        p: &mut Vec<usize>,
    ) {
        p.clear();
        p.extend(0..len);
        for i in (1..len).rev() {
            let bound = i as u64 + 1;
            let j = uniform_below_by(rng, bound, |x| self.rem(x, bound));
            p.swap(i, j as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Yields the given words, then 2^64 − 1, which no bound rejects.
    struct Words(Vec<u64>);

    impl RngCore for Words {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            if self.0.is_empty() {
                u64::MAX
            } else {
                self.0.remove(0)
            }
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            dst.iter_mut().for_each(|b| *b = self.next_u64() as u8);
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dst);
            Ok(())
        }
    }

    proptest::proptest! {
        /// The reciprocal's remainder is `%`, across the whole range of x and of the bounds a
        /// shuffler holds, and its permutations are [`permutation`]'s.
        #[test]
        fn the_shuffler_is_permutation(
            x in proptest::prop_oneof![proptest::num::u64::ANY, 0u64..1_000, (u64::MAX - 1_000)..=u64::MAX],
            d in 2u64..5_000,
            seed in 0u64..1_000,
            len in 0usize..300,
        ) {
            let s = Shuffler::new(5_000);
            proptest::prop_assert_eq!(s.rem(x, d), x % d);
            proptest::prop_assert_eq!(s.rem(u64::MAX, d), u64::MAX % d);
            let mut p = Vec::new();
            s.permutation_into(&mut stream(seed, Stream::Permutation), len, &mut p);
            proptest::prop_assert_eq!(p, permutation(&mut stream(seed, Stream::Permutation), len));
        }

        /// The shortcut past the threshold's division keeps and rejects exactly the draws the
        /// definition does: the lowest 2^64 mod bound values are redrawn.
        #[test]
        fn uniform_below_is_its_definition(
            bound in proptest::prop_oneof![1u64..1_000, (1u64 << 62)..u64::MAX],
            words in proptest::collection::vec((proptest::bool::ANY, proptest::num::u64::ANY), 1..6),
        ) {
            let bound = NonZeroU64::new(bound).unwrap_or(NonZeroU64::MIN);
            // Half the words fall below the bound, where rejection can happen.
            let words: Vec<u64> = words
                .into_iter()
                .map(|(low, x)| if low { x % bound.get() } else { x })
                .collect();
            let reject_below = bound.get().wrapping_neg() % bound;
            let expected = words
                .iter()
                .chain(std::iter::once(&u64::MAX))
                .find(|&&x| x >= reject_below)
                .map(|&x| x % bound);
            let got = uniform_below(&mut Words(words.clone()), bound);
            proptest::prop_assert_eq!(Some(got), expected);
        }
    }

    #[test]
    fn permutation_stream_is_value_stable() {
        let mut rng = stream(42, Stream::Permutation);
        assert_eq!(
            permutation(&mut rng, 10),
            vec![5, 8, 7, 6, 4, 3, 0, 9, 1, 2]
        );
        assert_eq!(permutation(&mut rng, 5), vec![2, 4, 0, 3, 1]);
    }

    #[test]
    fn init_stream_is_value_stable() {
        let mut rng = stream(7, Stream::Init);
        let v: Vec<i64> = (0..6).map(|_| uniform_in(&mut rng, -1000, 1000)).collect();
        assert_eq!(v, vec![-777, 831, 960, -1, 82, 470]);
    }

    #[test]
    fn streams_differ_and_seeds_differ() {
        let a = permutation(&mut stream(1, Stream::Permutation), 50);
        let b = permutation(&mut stream(1, Stream::Init), 50);
        let c = permutation(&mut stream(2, Stream::Permutation), 50);
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn bounded_draws_are_uniform_enough_and_in_range() {
        let mut rng = stream(3, Stream::Permutation);
        let six = NonZeroU64::new(6).unwrap();
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[uniform_below(&mut rng, six) as usize] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
    }

    /// An RngCore that replays fixed values, to test the rejection rule itself.
    struct Replay(Vec<u64>);

    impl RngCore for Replay {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0.remove(0)
        }
        fn fill_bytes(&mut self, _: &mut [u8]) {
            unimplemented!()
        }
        fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), rand_core::Error> {
            unimplemented!()
        }
    }

    #[test]
    fn bounded_draw_rejects_exactly_the_biased_values() {
        let three = NonZeroU64::new(3).unwrap();
        // 2^64 mod 3 = 1, so only 0 is rejected.
        assert_eq!(uniform_below(&mut Replay(vec![0, 5]), three), 2);
        assert_eq!(uniform_below(&mut Replay(vec![1]), three), 1);
        assert_eq!(uniform_below(&mut Replay(vec![u64::MAX]), three), 0);
        let big = NonZeroU64::new((1 << 63) + 1).unwrap();
        // 2^64 mod (2^63 + 1) = 2^63 − 1: everything below is rejected.
        let mut rng = Replay(vec![0, (1 << 63) - 2, (1 << 63) - 1]);
        assert_eq!(uniform_below(&mut rng, big), (1 << 63) - 1);
        let one = NonZeroU64::new(1).unwrap();
        assert_eq!(uniform_below(&mut Replay(vec![0]), one), 0);
        let max = NonZeroU64::new(u64::MAX).unwrap();
        assert_eq!(uniform_below(&mut Replay(vec![0, 7]), max), 7);
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut rng = stream(9, Stream::Permutation);
        let mut p = permutation(&mut rng, 1000);
        p.sort_unstable();
        assert_eq!(p, (0..1000).collect::<Vec<_>>());
        assert!(permutation(&mut rng, 0).is_empty());
    }
}
