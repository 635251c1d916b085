//! The per-epoch tilt of the k₁ digit (docs/design.md §5.2): the split of the unassigned
//! examples S into S₁ (classified correctly) and S₀, the frequency table of k₁ = |B ∩ S₁|,
//! f_k = C(|S₁|,k)·C(|S₀|,b−k)·u^k·v^(b−k), and the encoder's choice of r = u/v per epoch.
//!
//! With r = 1 the k₁ digit and the two subset ranks that follow it cost exactly log₂ C(|S|, b)
//! (Vandermonde), which is why an epoch without hints never loses against log₂ n!.

use super::shape::RunShape;
use crate::sgd::{StepFunction, Trajectory};
use crate::Error;
use num_bigint::BigUint;
use num_traits::{One, Zero};

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
        c *= (n - k) as u64;
        // By value and by a u32, num-bigint divides in place, without allocating a divisor.
        c = match u32::try_from(k + 1) {
            Ok(d) => c / d,
            Err(_) => c / (k + 1) as u64,
        };
    }
    row
}

/// The untilted k₁ weights C(|S₁|,k)·C(|S₀|,b−k) for k = 0..=b.
pub(super) fn k1_base(a: usize, c: usize, b: usize) -> Vec<BigUint> {
    let ra = binomial_row(a, b);
    let rc = binomial_row(c, b);
    (0..=b).map(|k| &ra[k] * &rc[b - k]).collect()
}

/// The k₁ frequency table: the base weights times u^k·v^(b−k).
pub(super) fn tilted(base: &[BigUint], (u, v): (u64, u64)) -> Vec<BigUint> {
    let b = base.len() - 1;
    if (u, v) == (1, 1) {
        return base.to_vec();
    }
    // u^k·v^(b−k) from u^(k−1)·v^(b−k+1): a multiplication by u and an exact division by v.
    let mut weight = num_traits::pow(BigUint::from(v), b);
    base.iter()
        .map(|f| {
            let t = f * &weight;
            weight *= u;
            weight /= v;
            t
        })
        .collect()
}

/// The k₁ frequency table for |S₁| = a, |S₀| = c, batch b and tilt (u, v).
pub(super) fn k1_table(a: usize, c: usize, b: usize, tilt: (u64, u64)) -> Vec<BigUint> {
    tilted(&k1_base(a, c, b), tilt)
}

/// A mask of `0..n` with the batch's examples set (indices beyond n are ignored).
pub(super) fn membership(n: usize, batch: &[usize]) -> Vec<bool> {
    let mut mask = vec![false; n];
    for &x in batch {
        if let Some(m) = mask.get_mut(x) {
            *m = true;
        }
    }
    mask
}

/// S₁ and S₀: the unassigned examples the model classifies correctly and not, in index order.
pub(super) fn split(
    f: &StepFunction,
    w: &[i64],
    unassigned: &[bool],
) -> Result<(Vec<usize>, Vec<usize>), Error> {
    let free: Vec<usize> = (0..unassigned.len()).filter(|&x| unassigned[x]).collect();
    // One batched, chunk-parallel evaluation: at n = 60,000 the example-by-example path made
    // the code phase the longest part of a verification.
    let answers = f.correct_many(w, &free)?;
    let mut s1 = Vec::with_capacity(free.len());
    let mut s0 = Vec::with_capacity(free.len());
    for (&x, right) in free.iter().zip(answers) {
        if right {
            s1.push(x);
        } else {
            s0.push(x);
        }
    }
    Ok((s1, s0))
}

/// For each epoch, the tilt index that makes its k₁ digits shortest (computed from the logged
/// run, before any digit is written).
pub(super) fn choose_tilts(
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
            Ok(best_tilt(&stats, b))
        })
        .collect()
}

/// The tilt index whose k₁ digits cost least over an epoch's batches, given per batch
/// (|S₁|, |S₀|, k₁); ties go to the lowest index (r = 1 first).
///
/// The costs are compared in f64 first; only the tilts within a safe margin of the cheapest
/// (the f64 error is below 10⁻⁹ of the magnitudes summed) are compared exactly, as products of
/// big integers, so the choice is the exact one at the price of the exact products only in
/// near-ties.
fn best_tilt(stats: &[(usize, usize, usize)], b: usize) -> usize {
    let (approx, magnitude) = approximate_costs(stats, b);
    let cheapest = approx.iter().copied().fold(f64::INFINITY, f64::min);
    let margin = 1e-6 + 1e-9 * magnitude;
    let candidates: Vec<usize> = (0..TILTS.len())
        .filter(|&i| approx[i] <= cheapest + margin || !approx[i].is_finite())
        .collect();
    if candidates.len() == 1 {
        return candidates[0];
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
    let costs: Vec<(usize, (BigUint, BigUint))> =
        candidates.iter().map(|&i| (i, cost(TILTS[i]))).collect();
    // The smallest num/den; ties go to the lowest index.
    costs
        .iter()
        .min_by(|(i, x), (j, y)| (&x.0 * &y.1).cmp(&(&y.0 * &x.1)).then(i.cmp(j)))
        .map_or(0, |(i, _)| *i)
}

/// log₂ C(n, k) for k = 0..=kmax (−∞ where k > n), each from the previous one.
fn log2_binomial_row(n: usize, kmax: usize) -> Vec<f64> {
    let mut row = Vec::with_capacity(kmax + 1);
    let mut l = 0.0f64;
    for k in 0..=kmax {
        row.push(if k > n { f64::NEG_INFINITY } else { l });
        if k < n {
            l += ((n - k) as f64 / (k + 1) as f64).log2();
        }
    }
    row
}

/// Per tilt, log₂ of Π_batches Σ_k f_k / f_{k₁} in f64, and the sum of the magnitudes that
/// went into it (what bounds its rounding error).
fn approximate_costs(stats: &[(usize, usize, usize)], b: usize) -> ([f64; TILTS.len()], f64) {
    let mut costs = [0.0f64; TILTS.len()];
    let mut magnitude = 0.0f64;
    for &(a, c, k1) in stats {
        let ra = log2_binomial_row(a, b);
        let rc = log2_binomial_row(c, b);
        let l: Vec<f64> = (0..=b).map(|k| ra[k] + rc[b - k]).collect();
        let top = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // Σ_k f_k = u^0·v^b·2^top·Σ_k 2^(l_k − top)·ρ^k with ρ = u/v; f_{k₁} likewise.
        let w: Vec<f64> = l.iter().map(|&x| (x - top).exp2()).collect();
        for (cost, &(u, v)) in costs.iter_mut().zip(TILTS.iter()) {
            let rho = u as f64 / v as f64;
            let (mut sum, mut power) = (0.0f64, 1.0f64);
            for &wk in &w {
                sum += wk * power;
                power *= rho;
            }
            *cost += top - l[k1] + sum.log2() - k1 as f64 * rho.log2();
        }
        magnitude += top.abs() + l[k1].abs() + (b as f64) * 8.0;
    }
    (costs, magnitude)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::codec::rank::binomial;

    /// Per k, Σ u^k·v^(b−k) over the b-subsets of {0, …, a+c−1} with k members below a (in
    /// S₁), by listing every subset.
    fn brute_force(a: usize, c: usize, b: usize, (u, v): (u64, u64)) -> Vec<BigUint> {
        let mut out = vec![BigUint::zero(); b + 1];
        for mask in 0u32..1 << (a + c) {
            if mask.count_ones() as usize == b {
                let k = (mask & ((1 << a) - 1)).count_ones() as usize;
                out[k] +=
                    num_traits::pow(BigUint::from(u), k) * num_traits::pow(BigUint::from(v), b - k);
            }
        }
        out
    }

    #[test]
    fn the_k1_table_counts_the_batches_by_their_correct_members() {
        for (a, c, b) in [
            (3, 4, 3),
            (0, 5, 2),
            (5, 0, 2),
            (2, 3, 4),
            (4, 4, 0),
            (1, 1, 2),
        ] {
            for tilt in TILTS {
                assert_eq!(
                    k1_table(a, c, b, tilt),
                    brute_force(a, c, b, tilt),
                    "|S₁| = {a}, |S₀| = {c}, b = {b}, tilt {tilt:?}"
                );
            }
        }
    }

    #[test]
    fn untilted_the_k1_digit_and_its_two_ranks_cost_log2_c_s_b() {
        // (Σ_k f_k / f_k) · C(|S₁|, k) · C(|S₀|, b − k) = C(|S|, b) for every possible k.
        for (a, c, b) in [(7, 9, 5), (20, 3, 6), (0, 12, 4)] {
            let t = k1_table(a, c, b, (1, 1));
            let total: BigUint = t.iter().sum();
            assert_eq!(total, binomial((a + c) as u64, b as u64));
            for (k, f) in t.iter().enumerate().filter(|(_, f)| !f.is_zero()) {
                let ranks = binomial(a as u64, k as u64) * binomial(c as u64, (b - k) as u64);
                assert_eq!(&ranks, f, "k = {k}");
            }
        }
    }

    #[test]
    fn membership_ignores_indices_beyond_n() {
        assert_eq!(membership(4, &[3, 0, 9]), vec![true, false, false, true]);
    }

    #[test]
    fn the_header_holds_every_tilt_index() {
        assert_eq!(1u64 << EPOCH_HEADER_BITS, TILTS.len() as u64);
        assert_eq!(TILTS[0], (1, 1));
    }
}
