//! Exact codes for the combinatorial objects SGD draws: permutations (the randomness r_i of an
//! epoch, |r_i| = log₂ n! bits), subsets (a batch inside the examples not yet assigned) and the
//! sparse corrections ("hints") that finite precision makes necessary.
//!
//! Everything here is exact big-integer arithmetic: a rank is an integer in [0, count), and a
//! code length is ⌈log₂ count⌉, never a floating-point estimate. This is the bookkeeping of
//! the paper's Lemma 3.1 and Appendix A (the Kolmogorov complexity of sets and permutations).

mod channel;
pub mod coder;
pub mod entropy;
pub mod file;
pub mod hint;
pub mod rank;
mod shape;
mod tilt;
mod walk;

pub use rank::{
    binomial, ceil_log2, factorial, permutation_rank, permutation_unrank, subset_rank,
    subset_unrank, RankError,
};

/// Bits of the Elias-γ code of a positive integer: 2⌊log₂ v⌋ + 1.
pub fn elias_gamma_bits(v: u64) -> u64 {
    debug_assert!(v > 0);
    2 * (63 - v.leading_zeros() as u64) + 1
}
