//! Ranking and unranking of permutations (Lehmer code) and of k-subsets (combinatorial number
//! system), on `num-bigint`.
//!
//! The binomials the subset ranks sum are never recomputed from scratch when a neighbour is
//! known: a `BinomialCursor` moves C(n, k) to C(n′, k′) by multiplying and dividing by the
//! few small integers between them, packed into machine words, or recomputes it when that is
//! cheaper. Unranking guesses each digit from log-gamma and settles it with exact comparisons,
//! so a k-subset costs O(k²) word operations instead of O(k² log m) full binomials.

use num_bigint::BigUint;
use num_integer::Integer;
use num_traits::{One, ToPrimitive, Zero};

use super::coder::{log2_big, Product};

/// Errors of unranking: a rank outside its range, or an object that is not what it claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RankError {
    /// A rank not below the number of objects (n! permutations, C(m, k) subsets).
    #[error("rank is out of range for {what}; the code is corrupted")]
    OutOfRange {
        /// The kind of object being unranked.
        what: &'static str,
    },
    /// An object to rank that is not a permutation of 0..n or a set of distinct entries below m.
    #[error("{what} is not valid: {why}")]
    Invalid {
        /// The kind of object being ranked.
        what: &'static str,
        /// The entry that breaks it.
        why: String,
    },
}

/// The factors multiplied together a machine word at a time: each word is the product of a run
/// of consecutive factors, as long a run as fits.
fn packed(factors: impl IntoIterator<Item = u64>) -> impl Iterator<Item = u64> {
    let mut factors = factors.into_iter().peekable();
    std::iter::from_fn(move || {
        let mut word = factors.next()?;
        while let Some(p) = factors.peek().and_then(|&f| word.checked_mul(f)) {
            word = p;
            factors.next();
        }
        Some(word)
    })
}

/// Multiplies `acc` by every factor.
fn mul_factors(acc: &mut BigUint, factors: impl IntoIterator<Item = u64>) {
    for word in packed(factors) {
        *acc *= word;
    }
}

/// Divides `acc` by every factor; their product must divide `acc`. Each word divides what is
/// left, so every intermediate division is exact too.
fn div_factors(acc: &mut BigUint, factors: impl IntoIterator<Item = u64>) {
    for word in packed(factors) {
        *acc /= word;
    }
}

/// C(n, k) exactly (0 when k > n).
pub fn binomial(n: u64, k: u64) -> BigUint {
    if k > n {
        return BigUint::zero();
    }
    let k = k.min(n - k);
    let mut r = BigUint::one();
    mul_factors(&mut r, n - k + 1..=n);
    div_factors(&mut r, 1..=k);
    r
}

/// log₂ C(n, k) from log-gamma, accurate to far better than a bit for the sizes coded here.
pub(crate) fn log2_binomial(n: u64, k: u64) -> f64 {
    if k > n {
        return 0.0;
    }
    let lg = |x: u64| libm::lgamma(x as f64 + 1.0);
    (lg(n) - lg(k) - lg(n - k)) / std::f64::consts::LN_2
}

/// C(n, k) kept exact while (n, k) moves: each move costs the small factors between the old
/// and the new arguments, or a fresh computation when that is shorter.
#[derive(Debug, Clone)]
pub(crate) struct BinomialCursor {
    n: u64,
    k: u64,
    value: BigUint,
}

impl BinomialCursor {
    /// C(n, k), computed afresh.
    pub(crate) fn new(n: u64, k: u64) -> Self {
        BinomialCursor {
            n,
            k,
            value: binomial(n, k),
        }
    }

    /// The current C(n, k).
    pub(crate) fn value(&self) -> &BigUint {
        &self.value
    }

    /// Moves to C(n, k) by the cheaper of the ratio of neighbours and a fresh computation.
    pub(crate) fn move_to(&mut self, n: u64, k: u64) {
        if (n, k) == (self.n, self.k) {
            return;
        }
        let fresh = k.min(n.saturating_sub(k));
        let steps = self.n.abs_diff(n) + self.k.abs_diff(k);
        // A ratio needs a non-zero start and end: k ≤ n on both sides.
        if k > n || self.k > self.n || steps >= fresh {
            *self = BinomialCursor::new(n, k);
            return;
        }
        self.shift_k(k);
        self.shift_n(n);
    }

    /// C(n, k) → C(n, k′), with k, k′ ≤ n.
    fn shift_k(&mut self, k: u64) {
        let n = self.n;
        if k > self.k {
            // C(n, j + 1) = C(n, j)·(n − j)/(j + 1)
            mul_factors(&mut self.value, (self.k..k).map(|j| n - j));
            div_factors(&mut self.value, self.k + 1..=k);
        } else {
            // C(n, j − 1) = C(n, j)·j/(n − j + 1)
            mul_factors(&mut self.value, k + 1..=self.k);
            div_factors(&mut self.value, (k + 1..=self.k).map(|j| n - j + 1));
        }
        self.k = k;
    }

    /// C(n, k) → C(n′, k), with k ≤ n, n′.
    fn shift_n(&mut self, n: u64) {
        let k = self.k;
        if n > self.n {
            // C(t, k) = C(t − 1, k)·t/(t − k)
            mul_factors(&mut self.value, self.n + 1..=n);
            div_factors(&mut self.value, (self.n + 1..=n).map(|t| t - k));
        } else {
            // C(t − 1, k) = C(t, k)·(t − k)/t
            mul_factors(&mut self.value, (n + 1..=self.n).map(|t| t - k));
            div_factors(&mut self.value, n + 1..=self.n);
        }
        self.n = n;
    }
}

/// n! exactly: the number of orders of n examples, the radix of a Lehmer rank.
pub fn factorial(n: usize) -> BigUint {
    // Factors packed into words, the words multiplied in a balanced tree.
    let mut product = Product::new();
    for word in packed(1..=n as u64) {
        product.mul(BigUint::from(word));
    }
    product.value()
}

/// ⌈log₂ v⌉ for v ≥ 1 (0 for v ≤ 1): the bits of a uniform digit with v values.
pub fn ceil_log2(v: &BigUint) -> u64 {
    if *v <= BigUint::one() {
        return 0;
    }
    let m = v - 1u32;
    m.bits()
}

/// Counts, for each position i, the later entries smaller than perm[i] (the Lehmer code), with
/// a Fenwick tree so that n = 10⁵ stays fast.
fn lehmer_digits(perm: &[usize]) -> Result<Vec<u64>, RankError> {
    let n = perm.len();
    let mut seen = vec![false; n];
    let mut tree = vec![0u32; n + 1];
    let mut digits = vec![0u64; n];
    for i in (0..n).rev() {
        let v = perm[i];
        if v >= n || seen[v] {
            return Err(RankError::Invalid {
                what: "permutation",
                why: format!("entry {v} is repeated or not below {n}"),
            });
        }
        seen[v] = true;
        let mut count = 0u64;
        let mut j = v;
        while j > 0 {
            count += tree[j] as u64;
            j &= j - 1;
        }
        digits[i] = count;
        let mut j = v + 1;
        while j <= n {
            tree[j] += 1;
            j += j & j.wrapping_neg();
        }
    }
    Ok(digits)
}

/// The Lehmer rank of a permutation of 0..n, in [0, n!).
pub fn permutation_rank(perm: &[usize]) -> Result<BigUint, RankError> {
    let digits = lehmer_digits(perm)?;
    let n = perm.len() as u64;
    // Horner over radices n, n − 1, …, 1, consecutive digits merged into one word: with
    // d < a, rank·a₁a₂ + (d₁a₂ + d₂) fits whenever a₁a₂ does.
    let mut rank = BigUint::zero();
    let (mut radix, mut value) = (1u64, 0u64);
    for (i, &d) in digits.iter().enumerate() {
        let a = n - i as u64;
        match radix.checked_mul(a) {
            Some(r) => {
                radix = r;
                value = value * a + d;
            }
            None => {
                rank = rank * radix + value;
                (radix, value) = (a, d);
            }
        }
    }
    Ok(rank * radix + value)
}

/// The Lehmer digits of `rank` (digit i has radix n − i), or `None` when rank ≥ n!.
fn lehmer_digits_of(n: usize, rank: &BigUint) -> Option<Vec<u64>> {
    let mut digits = vec![0u64; n];
    let mut r = rank.clone();
    // The last digits first, as many radices per word division as fit in a word.
    let mut i = n;
    while i > 0 {
        let (mut word, mut j) = (1u64, i);
        while j > 0 {
            match word.checked_mul((n - j + 1) as u64) {
                Some(w) => word = w,
                None => break,
            }
            j -= 1;
        }
        let (q, rem) = r.div_rem(&BigUint::from(word));
        let mut rem = rem.to_u64()?;
        for (t, digit) in digits[j..i].iter_mut().enumerate().rev() {
            let radix = (n - (j + t)) as u64;
            *digit = rem % radix;
            rem /= radix;
        }
        r = q;
        i = j;
    }
    r.is_zero().then_some(digits)
}

/// The permutation of 0..n with the given Lehmer rank.
pub fn permutation_unrank(n: usize, rank: &BigUint) -> Result<Vec<usize>, RankError> {
    let digits = lehmer_digits_of(n, rank).ok_or(RankError::OutOfRange {
        what: "a permutation",
    })?;
    // Select the d-th smallest unused value at each position (Fenwick-tree descent).
    let mut tree = vec![0u32; n + 1];
    for v in 1..=n {
        tree[v] += 1;
        let parent = v + (v & v.wrapping_neg());
        if parent <= n {
            tree[parent] += tree[v];
        }
    }
    let top = if n == 0 {
        0
    } else {
        1usize << (usize::BITS - 1 - n.leading_zeros())
    };
    let mut perm = Vec::with_capacity(n);
    for d in digits {
        let mut pos = 0usize;
        let mut remaining = d as u32;
        let mut step = top;
        while step > 0 {
            let next = pos + step;
            if next <= n && tree[next] <= remaining {
                pos = next;
                remaining -= tree[next];
            }
            step >>= 1;
        }
        perm.push(pos);
        let mut j = pos + 1;
        while j <= n {
            tree[j] -= 1;
            j += j & j.wrapping_neg();
        }
    }
    Ok(perm)
}

/// The rank of a k-subset of 0..m (given in any order) in the combinatorial number system,
/// Σᵢ C(cᵢ, i + 1) over its sorted entries c₀ < c₁ < …, in [0, C(m, k)).
pub fn subset_rank(m: u64, subset: &[u64]) -> Result<BigUint, RankError> {
    let mut s = subset.to_vec();
    s.sort_unstable();
    if s.windows(2).any(|w| w[0] == w[1]) || s.last().is_some_and(|&v| v >= m) {
        return Err(RankError::Invalid {
            what: "subset",
            why: format!("entries must be distinct and below {m}"),
        });
    }
    let mut rank = BigUint::zero();
    let mut c = BinomialCursor::new(0, 0);
    for (i, &v) in s.iter().enumerate() {
        c.move_to(v, i as u64 + 1);
        rank += c.value();
    }
    Ok(rank)
}

/// The k-subset of 0..m with the given rank, in increasing order.
pub fn subset_unrank(m: u64, k: u64, rank: &BigUint) -> Result<Vec<u64>, RankError> {
    let mut c = BinomialCursor::new(m, k);
    if k > m || rank >= c.value() {
        return Err(RankError::OutOfRange { what: "a subset" });
    }
    let mut r = rank.clone();
    let mut out = vec![0u64; k as usize];
    let mut hi = m;
    for i in (1..=k).rev() {
        // The largest v < hi with C(v, i) ≤ r; r < C(hi, i) keeps it in [i − 1, hi).
        let v = if r.is_zero() {
            i - 1
        } else {
            let v = largest_at_most(&mut c, i, hi - 1, &r);
            r -= c.value();
            v
        };
        out[(i - 1) as usize] = v;
        hi = v;
    }
    Ok(out)
}

/// The largest v in [i, top] with C(v, i) ≤ r, for 1 ≤ r < C(top + 1, i); leaves the cursor at
/// C(v, i). The guess comes from log-gamma; exact comparisons settle it, so a poor guess costs
/// time, never correctness.
fn largest_at_most(c: &mut BinomialCursor, i: u64, top: u64, r: &BigUint) -> u64 {
    let mut v = guess(i, top, log2_big(r));
    c.move_to(v, i);
    while c.value() > r && v > i {
        v -= 1;
        c.move_to(v, i);
    }
    while v < top {
        let mut next = c.clone();
        next.move_to(v + 1, i);
        if next.value() > r {
            break;
        }
        v += 1;
        *c = next;
    }
    v
}

/// A guess of the largest v in [i, top] with log₂ C(v, i) ≤ target, by Newton's method on the
/// increasing v ↦ ln C(v, i), with the slope ln((v + ½)/(v − i + ½)).
fn guess(i: u64, top: u64, target: f64) -> u64 {
    let ln_target = target * std::f64::consts::LN_2;
    let lg_i = libm::lgamma(i as f64 + 1.0);
    let ln_c = |v: f64| libm::lgamma(v + 1.0) - libm::lgamma(v - i as f64 + 1.0) - lg_i;
    // C(v, i) is about (v − (i − 1)/2)^i / i!: the start is within a few steps of the root.
    let mut v = ((ln_target + lg_i) / i as f64).exp() + 0.5 * (i as f64 - 1.0);
    for _ in 0..4 {
        let v_c = v.clamp(i as f64, top as f64);
        let slope = ((v_c + 0.5) / (v_c - i as f64 + 0.5)).ln();
        let step = (ln_target - ln_c(v_c)) / slope;
        v = v_c + step;
        if step.abs() < 0.25 {
            break;
        }
    }
    if v.is_finite() {
        v.clamp(i as f64, top as f64) as u64
    } else {
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_values_are_exact() {
        assert_eq!(binomial(5, 2), BigUint::from(10u32));
        assert_eq!(binomial(5, 6), BigUint::zero());
        assert_eq!(binomial(0, 0), BigUint::one());
        assert_eq!(ceil_log2(&BigUint::from(1u32)), 0);
        assert_eq!(ceil_log2(&BigUint::from(2u32)), 1);
        assert_eq!(ceil_log2(&BigUint::from(5u32)), 3);
        assert_eq!(ceil_log2(&BigUint::from(8u32)), 3);
        assert_eq!(ceil_log2(&BigUint::from(9u32)), 4);
        assert_eq!(permutation_rank(&[0, 1, 2]).unwrap(), BigUint::zero());
        assert_eq!(permutation_rank(&[2, 1, 0]).unwrap(), BigUint::from(5u32));
        assert_eq!(permutation_rank(&[1, 0, 2]).unwrap(), BigUint::from(2u32));
        assert_eq!(subset_rank(5, &[0, 1]).unwrap(), BigUint::zero());
        assert_eq!(subset_rank(5, &[3, 4]).unwrap(), BigUint::from(9u32));
    }

    #[test]
    fn invalid_objects_and_ranks_are_errors() {
        assert!(permutation_rank(&[0, 0]).is_err());
        assert!(permutation_rank(&[0, 2]).is_err());
        assert!(permutation_unrank(3, &BigUint::from(6u32)).is_err());
        assert!(subset_rank(3, &[1, 1]).is_err());
        assert!(subset_rank(3, &[3]).is_err());
        assert!(subset_unrank(5, 2, &BigUint::from(10u32)).is_err());
        assert!(subset_unrank(2, 3, &BigUint::zero()).is_err());
    }

    #[test]
    fn large_subsets_round_trip() {
        let m = 100_000u64;
        let s: Vec<u64> = (0..50).map(|i| i * 1999 + 7).collect();
        let r = subset_rank(m, &s).unwrap();
        assert!(r < binomial(m, 50));
        assert_eq!(subset_unrank(m, 50, &r).unwrap(), s);
        for k in [0u64, m] {
            let all: Vec<u64> = (0..k).collect();
            let r = subset_rank(m, &all).unwrap();
            assert_eq!(r, BigUint::zero());
            assert_eq!(subset_unrank(m, k, &r).unwrap(), all);
        }
    }

    /// The definitions, one small integer at a time: C(n, k) by the running product, the
    /// Lehmer rank by Horner's rule and its digits by repeated division.
    mod reference {
        use num_bigint::BigUint;
        use num_traits::{One, ToPrimitive, Zero};

        pub fn binomial(n: u64, k: u64) -> BigUint {
            if k > n {
                return BigUint::zero();
            }
            let mut r = BigUint::one();
            for i in 0..k.min(n - k) {
                r = r * (n - i) / (i + 1);
            }
            r
        }

        pub fn subset_rank(subset: &[u64]) -> BigUint {
            let mut s = subset.to_vec();
            s.sort_unstable();
            s.iter()
                .enumerate()
                .map(|(i, &c)| binomial(c, i as u64 + 1))
                .sum()
        }

        pub fn horner(digits: &[u64]) -> BigUint {
            let n = digits.len() as u64;
            let mut rank = BigUint::zero();
            for (i, d) in digits.iter().enumerate() {
                rank = rank * (n - i as u64) + *d;
            }
            rank
        }

        pub fn digits(n: usize, rank: &BigUint) -> Option<Vec<u64>> {
            let mut r = rank.clone();
            let mut digits = vec![0u64; n];
            for i in (0..n).rev() {
                let radix = (n - i) as u64;
                digits[i] = (&r % radix).to_u64()?;
                r /= radix;
            }
            r.is_zero().then_some(digits)
        }
    }

    /// A value below `bound` from random bytes (not uniform; any value below it will do).
    fn below(bytes: &[u8], bound: &BigUint) -> BigUint {
        BigUint::from_bytes_le(bytes) % bound
    }

    #[test]
    fn binomials_match_pascals_triangle() {
        let mut row = vec![BigUint::one()];
        for n in 0..=130u64 {
            for (k, c) in row.iter().enumerate() {
                assert_eq!(&binomial(n, k as u64), c, "C({n}, {k})");
            }
            assert_eq!(binomial(n, n + 1), BigUint::zero());
            let mut next = vec![BigUint::one(); row.len() + 1];
            for k in 1..row.len() {
                next[k] = &row[k - 1] + &row[k];
            }
            row = next;
        }
        // Factors near 2^32 do not pack two to a word; the product still divides exactly.
        let big_n = (1u64 << 32) + 15;
        assert_eq!(binomial(big_n, 9), reference::binomial(big_n, 9));
        assert_eq!(factorial(25), (1..=25u64).map(BigUint::from).product());
    }

    proptest! {
        #[test]
        fn permutations_round_trip(seed in any::<u64>(), n in 0usize..300) {
            let perm = crate::rng::permutation(&mut crate::rng::stream(seed, crate::rng::Stream::Permutation), n);
            let r = permutation_rank(&perm).unwrap();
            let fact: BigUint = (1..=n as u64).map(BigUint::from).product();
            prop_assert!(r < fact);
            prop_assert_eq!(permutation_unrank(n, &r).unwrap(), perm);
        }

        #[test]
        fn subsets_round_trip(m in 1u64..200, seed in any::<u64>()) {
            let perm = crate::rng::permutation(&mut crate::rng::stream(seed, crate::rng::Stream::Init), m as usize);
            let k = (seed % (m + 1)) as usize;
            let mut s: Vec<u64> = perm[..k].iter().map(|&v| v as u64).collect();
            let r = subset_rank(m, &s).unwrap();
            prop_assert!(r < binomial(m, k as u64));
            s.sort_unstable();
            prop_assert_eq!(subset_unrank(m, k as u64, &r).unwrap(), s);
        }

        #[test]
        fn a_cursor_moved_anywhere_holds_the_binomial(
            moves in proptest::collection::vec((0u64..400, 0u64..400), 1..40)
        ) {
            let mut c = BinomialCursor::new(0, 0);
            for (n, k) in moves {
                c.move_to(n, k);
                prop_assert_eq!(c.value(), &reference::binomial(n, k), "C({}, {})", n, k);
            }
        }

        #[test]
        fn subset_ranks_match_the_definition_and_every_rank_unranks(
            m in 1u64..2_000_000,
            raw in proptest::collection::vec(any::<u64>(), 0..60),
            bytes in proptest::collection::vec(any::<u8>(), 0..160),
        ) {
            // A random subset of 0..m, then an arbitrary rank.
            let mut s: Vec<u64> = raw.iter().map(|x| x % m).collect();
            s.sort_unstable();
            s.dedup();
            let k = s.len() as u64;
            let r = subset_rank(m, &s).unwrap();
            prop_assert_eq!(&r, &reference::subset_rank(&s));
            prop_assert_eq!(subset_unrank(m, s.len() as u64, &r).unwrap(), s.clone());
            let any = below(&bytes, &binomial(m, k));
            let t = subset_unrank(m, k, &any).unwrap();
            prop_assert!(t.windows(2).all(|w| w[0] < w[1]) && t.last().is_none_or(|&v| v < m));
            prop_assert_eq!(subset_rank(m, &t).unwrap(), any);
        }

        #[test]
        fn permutation_ranks_match_horner_and_every_rank_unranks(
            seed in any::<u64>(),
            n in 0usize..400,
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            let perm = crate::rng::permutation(
                &mut crate::rng::stream(seed, crate::rng::Stream::Permutation),
                n,
            );
            let digits = lehmer_digits(&perm).unwrap();
            let r = permutation_rank(&perm).unwrap();
            prop_assert_eq!(&r, &reference::horner(&digits));
            prop_assert_eq!(lehmer_digits_of(n, &r), Some(digits));
            let any = below(&bytes, &factorial(n));
            prop_assert_eq!(lehmer_digits_of(n, &any), reference::digits(n, &any));
            prop_assert_eq!(permutation_rank(&permutation_unrank(n, &any).unwrap()).unwrap(), any);
        }
    }
}
