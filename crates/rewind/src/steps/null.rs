//! The null model of the accuracy discrepancy: what ρ is when the batch is a uniformly random
//! subset of the examples seen so far, independent of which of them the model classifies
//! correctly — sampling noise and nothing else.
//!
//! For the model W_{i,j+1} after the step on B_{i,j} (Section 3, [`crate::steps::discrepancy`]), let
//! X = X_{i,j} be the examples seen so far in the epoch, the batch included, m = |X|, and K the
//! number of them W_{i,j+1} classifies correctly, so that λ' = K/m. Given the set X, a uniform
//! permutation makes B_{i,j} a uniform b-subset of X. If correctness does not depend on which
//! b-subset that was (no learning from the batch), then k = b·φ, the batch's correct count, is
//! hypergeometric:
//!
//! P(k) = C(K, k)·C(m − K, b − k) / C(m, b),  max(0, b − (m − K)) ≤ k ≤ min(b, K).
//!
//! λ' is fixed by (X, K), so each per-step term is a function of k alone,
//! f_code(k) = D(k/b ‖ K/m) ([`crate::steps::divergence::rho_code`]) and f_paper(k) = D(K/m ‖ k/b)
//! with the paper's boundary conventions ([`crate::steps::divergence::rho_paper`]); their exact
//! expectation and variance are finite sums over k, computed here by [`step_moments`] with the
//! very functions that compute the measured ρ, so the null and the measurement agree on every
//! boundary convention.
//!
//! **Summing steps.** Walk an epoch backwards: X_{i,n/b} = X, and X_{i,j−1} = X_{i,j} ∖ B_{i,j}.
//! Under the null, given everything revealed from the end of the epoch down to step j (the sets
//! X_{i,j'} for j' ≥ j and the correct counts), k_j is hypergeometric as above, and the next set
//! down is determined by it. The centred terms f(k_j) − E[f(k_j) | X_{i,j}, K_j] are therefore
//! martingale differences in that reverse order: they are uncorrelated, and the variance of
//! their sum is the expected sum of the conditional variances. Epochs use independent
//! permutations. So the epoch's null mean is the sum of the per-step means and its variance
//! the sum of the per-step variances, with no covariance term, and (ρ_i − Σ mean)/√(Σ var) is
//! approximately standard normal under the null (martingale central limit theorem).
//!
//! **Precision.** The probabilities come from the exact ratio
//! P(k+1)/P(k) = (K − k)(b − k) / ((k + 1)(m − K − b + k + 1)), walked outwards from the mode
//! with weight 1 and normalised by their sum, in f64. Each ratio costs at most 4 roundings
//! (two products of exact integers below 2^53, a division, a product), so an unnormalised
//! weight k steps from the mode has relative error at most 4k·u, u = 2^-53, and after
//! normalisation (b + 1 more roundings in the sum) every probability is within (9b + 2)·u of its
//! exact value, relatively (< 2·10^-13 at b = 200). The mean Σ P(k)·f(k) is then within
//! (10b + 3)·u·E|f| of the exact expectation of the f64 function f, and the variance (computed as
//! Σ P(k)·(f(k) − mean)², never as a difference of second moments) within the same relative
//! error plus a second-order term. Probabilities below the smallest f64 underflow to 0; they
//! are below 2^-1074 relative to the mode and change nothing at this precision.

use crate::steps::divergence::{rho_code, rho_paper};
use serde::{Deserialize, Serialize};

/// Mean and variance of one per-step term, in both directions, under the null (bits, bits²).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct NullMoments {
    /// E[D(φ‖λ')].
    pub mean_code: f64,
    /// Var[D(φ‖λ')].
    pub var_code: f64,
    /// E[D(λ'‖φ)], with the paper's boundary conventions.
    pub mean_paper: f64,
    /// Var[D(λ'‖φ)].
    pub var_paper: f64,
}

impl std::ops::AddAssign for NullMoments {
    fn add_assign(&mut self, o: Self) {
        self.mean_code += o.mean_code;
        self.var_code += o.var_code;
        self.mean_paper += o.mean_paper;
        self.var_paper += o.var_paper;
    }
}

/// The hypergeometric law of the correct count k in a uniform b-subset of m examples of which
/// `correct` are correct: `(k_min, probabilities of k_min, k_min + 1, …)`. Inputs outside
/// b ≤ m, correct ≤ m give the empty law.
pub fn hypergeometric(m: usize, correct: usize, b: usize) -> (usize, Vec<f64>) {
    if b > m || correct > m {
        return (0, Vec::new());
    }
    let wrong = m - correct;
    let lo = b.saturating_sub(wrong);
    let hi = b.min(correct);
    // The mode, clamped into the support: the walk outwards never multiplies small numbers up.
    let mode = (((b as u128 + 1) * (correct as u128 + 1) / (m as u128 + 2)) as usize).clamp(lo, hi);
    let mut w = vec![0.0f64; hi - lo + 1];
    w[mode - lo] = 1.0;
    let f = |v: usize| v as f64;
    for k in mode..hi {
        // P(k+1)/P(k); every factor is positive inside the support.
        let ratio = (f(correct - k) * f(b - k)) / (f(k + 1) * f(wrong + k + 1 - b));
        w[k + 1 - lo] = w[k - lo] * ratio;
    }
    for k in (lo + 1..=mode).rev() {
        // P(k−1)/P(k).
        let ratio = (f(k) * f(wrong + k - b)) / (f(correct - k + 1) * f(b - k + 1));
        w[k - 1 - lo] = w[k - lo] * ratio;
    }
    let total: f64 = w.iter().sum();
    w.iter_mut().for_each(|p| *p /= total);
    (lo, w)
}

/// The exact null mean and variance of one step's terms: m = |X_{i,j}| examples seen (batch
/// included), `correct` of them classified correctly after the step, batch size b.
pub fn step_moments(m: usize, correct: usize, b: usize) -> NullMoments {
    let (lo, p) = hypergeometric(m, correct, b);
    if p.is_empty() || b == 0 {
        return NullMoments::default();
    }
    let lambda_seen = correct as f64 / m as f64;
    let phi = |k: usize| k as f64 / b as f64;
    let moments = |term: &dyn Fn(usize) -> f64| {
        let values: Vec<f64> = (0..p.len()).map(|i| term(lo + i)).collect();
        let mean: f64 = p.iter().zip(&values).map(|(w, v)| w * v).sum();
        let var: f64 = p
            .iter()
            .zip(&values)
            .map(|(w, v)| w * (v - mean) * (v - mean))
            .sum();
        (mean, var)
    };
    let (mean_code, var_code) = moments(&|k| rho_code(lambda_seen, phi(k)));
    let (mean_paper, var_paper) = moments(&|k| rho_paper(lambda_seen, phi(k)));
    NullMoments {
        mean_code,
        var_code,
        mean_paper,
        var_paper,
    }
}

/// (observed − null mean)/√(null variance); 0 when the variance is 0, since then every step
/// had a single possible batch count and the observed value is the only one the null allows
/// (the excess is 0 too): there is nothing to test.
pub fn z_score(excess: f64, variance: f64) -> f64 {
    if variance > 0.0 {
        excess / variance.sqrt()
    } else {
        0.0
    }
}

/// The approximate epoch sum of E[D(φ‖λ')] for n examples in batches of b:
/// (n/b − H_{n/b})/(2b·ln 2) bits, from D ≈ (φ − λ')²/(2λ'(1 − λ')·ln 2) and the hypergeometric
/// variance of φ at step j (m = jb), λ'(1 − λ')(m − b)/(b(m − 1)) ≈ λ'(1 − λ')(1 − 1/j)/b.
/// The scaling argument of the README; the report uses the exact sums.
pub fn approximate_epoch_null_code(n: usize, b: usize) -> f64 {
    let steps = n / b.max(1);
    let harmonic: f64 = (1..=steps).map(|j| 1.0 / j as f64).sum();
    (steps as f64 - harmonic) / (2.0 * b as f64 * std::f64::consts::LN_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean and variance of `term(count of correct in the subset)` over every b-subset of m
    /// examples, the first `correct` of them correct: the definition, by brute force.
    fn enumerate(m: usize, correct: usize, b: usize, term: impl Fn(usize) -> f64) -> (f64, f64) {
        let values: Vec<f64> = (0u32..1 << m)
            .filter(|s| s.count_ones() as usize == b)
            .map(|s| term((s & ((1u32 << correct) - 1)).count_ones() as usize))
            .collect();
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        (mean, var)
    }

    #[test]
    fn moments_match_every_subset_of_small_sets() {
        let mut checked = 0;
        for m in 1..=12usize {
            for correct in 0..=m {
                for b in 1..=m {
                    let got = step_moments(m, correct, b);
                    let lambda = correct as f64 / m as f64;
                    let phi = |k: usize| k as f64 / b as f64;
                    let code = enumerate(m, correct, b, |k| rho_code(lambda, phi(k)));
                    let paper = enumerate(m, correct, b, |k| rho_paper(lambda, phi(k)));
                    for ((g_mean, g_var), (mean, var)) in [
                        ((got.mean_code, got.var_code), code),
                        ((got.mean_paper, got.var_paper), paper),
                    ] {
                        assert!(
                            (g_mean - mean).abs() <= 1e-12 * (1.0 + mean.abs()),
                            "m {m} K {correct} b {b}: mean {g_mean} vs {mean}"
                        );
                        assert!(
                            (g_var - var).abs() <= 1e-12 * (1.0 + var.abs()),
                            "m {m} K {correct} b {b}: variance {g_var} vs {var}"
                        );
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, (1..=12).map(|m| (m + 1) * m).sum::<usize>());
    }

    #[test]
    fn degenerate_cases_have_no_variance() {
        // K = 0 or K = m: every batch has the same count, φ = λ', both terms 0.
        for (m, correct, b) in [(10, 0, 3), (10, 10, 3), (7, 3, 7)] {
            let got = step_moments(m, correct, b);
            assert_eq!(got, NullMoments::default(), "m {m} K {correct} b {b}");
        }
        // b = m with 0 < K < m: the batch is X itself.
        assert_eq!(step_moments(12, 5, 12).var_code, 0.0);
        assert_eq!(z_score(0.0, 0.0), 0.0);
        assert_eq!(z_score(3.0, 4.0), 1.5);
    }

    #[test]
    fn probabilities_sum_to_one_at_large_sizes() {
        let (lo, p) = hypergeometric(60_000, 54_321, 200);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // The hypergeometric mean b·K/m.
        let mean: f64 = p.iter().enumerate().map(|(i, w)| (lo + i) as f64 * w).sum();
        assert!((mean - 200.0 * 54_321.0 / 60_000.0).abs() < 1e-9, "{mean}");
        assert!(hypergeometric(5, 6, 2).1.is_empty());
    }

    #[test]
    fn the_epoch_sum_follows_the_inverse_quadratic_approximation() {
        // 35 steps of b = 50 at λ' = 0.6: the exact sum is within 5% of (n/b − H)/(2b ln 2).
        let (n, b) = (1750, 50);
        let exact: f64 = (1..=n / b)
            .map(|j| step_moments(j * b, (j * b * 3) / 5, b).mean_code)
            .sum();
        let approx = approximate_epoch_null_code(n, b);
        assert!((exact / approx - 1.0).abs() < 0.05, "{exact} vs {approx}");
    }
}
