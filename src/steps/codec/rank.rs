//! Ranking and unranking of permutations (Lehmer code) and of k-subsets (combinatorial number
//! system), on `num-bigint`.

use num_bigint::BigUint;
use num_traits::{One, Zero};

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

/// C(n, k) exactly (0 when k > n).
pub fn binomial(n: u64, k: u64) -> BigUint {
    if k > n {
        return BigUint::zero();
    }
    let k = k.min(n - k);
    let mut r = BigUint::one();
    for i in 0..k {
        r *= n - i;
        r /= i + 1;
    }
    r
}

/// n! exactly: the number of orders of n examples, the radix of a Lehmer rank.
pub fn factorial(n: usize) -> BigUint {
    (1..=n as u64).map(BigUint::from).product()
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
    let mut rank = BigUint::zero();
    for (i, d) in digits.iter().enumerate() {
        rank *= n - i as u64;
        rank += *d;
    }
    Ok(rank)
}

/// The permutation of 0..n with the given Lehmer rank.
pub fn permutation_unrank(n: usize, rank: &BigUint) -> Result<Vec<usize>, RankError> {
    let mut digits = vec![0u64; n];
    let mut r = rank.clone();
    for i in (0..n).rev() {
        let radix = (n - i) as u64;
        let d = &r % radix;
        digits[i] = d.iter_u64_digits().next().unwrap_or(0);
        r /= radix;
    }
    if !r.is_zero() {
        return Err(RankError::OutOfRange {
            what: "a permutation",
        });
    }
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
/// in [0, C(m, k)).
pub fn subset_rank(m: u64, subset: &[u64]) -> Result<BigUint, RankError> {
    let mut s = subset.to_vec();
    s.sort_unstable();
    if s.windows(2).any(|w| w[0] == w[1]) || s.last().is_some_and(|&v| v >= m) {
        return Err(RankError::Invalid {
            what: "subset",
            why: format!("entries must be distinct and below {m}"),
        });
    }
    Ok(s.iter()
        .enumerate()
        .map(|(i, &c)| binomial(c, i as u64 + 1))
        .sum())
}

/// The k-subset of 0..m with the given rank, in increasing order.
pub fn subset_unrank(m: u64, k: u64, rank: &BigUint) -> Result<Vec<u64>, RankError> {
    if k > m || *rank >= binomial(m, k) {
        return Err(RankError::OutOfRange { what: "a subset" });
    }
    let mut r = rank.clone();
    let mut out = vec![0u64; k as usize];
    let mut hi = m;
    for i in (1..=k).rev() {
        // Largest c < hi with C(c, i) ≤ r, by binary search on c.
        let (mut lo, mut up) = (i - 1, hi - 1);
        while lo < up {
            let mid = lo + (up - lo).div_ceil(2);
            if binomial(mid, i) <= r {
                lo = mid;
            } else {
                up = mid - 1;
            }
        }
        r -= binomial(lo, i);
        out[(i - 1) as usize] = lo;
        hi = lo;
    }
    Ok(out)
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
    }
}
