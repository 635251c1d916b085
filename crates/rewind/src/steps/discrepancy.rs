//! The accuracy discrepancy of Section 3: λ, λ', λ'', φ, ρ in both directions, ρ_i per epoch,
//! running averages, their null model and the threshold β(n, b) of Theorem 3.2.
//!
//! For the model W_{i,j} after step j − 1 of epoch i (j ∈ [2, n/b + 1]):
//! λ = acc(W_{i,j}, X), φ = acc(W_{i,j}, B_{i,j−1}), λ' = acc(W_{i,j}, X_{i,j−1}) (the examples
//! seen so far this epoch) and λ'' = acc(W_{i,j}, X ∖ X_{i,j−1}) (the rest; undefined at the end of
//! an epoch).
//!
//! The paper defines ρ_{i,j} = D_KL(λ' ‖ φ) ([`rho_paper`], with its boundary conventions
//! D(1‖q) = D(0‖q) = 0, D(p‖1) = log(1/p), D(p‖0) = log(1/(1 − p))). Its own proof (Lemma 2.4
//! with κ_A = φ, κ_B = λ') bounds the code by D_KL(φ ‖ λ'), the direction [`rho_code`] computes
//! and the one the measured code saving tracks (docs/design.md §2.8). Both are reported, in bits, each
//! beside its null expectation and variance ([`crate::steps::null`]): what a batch drawn independently
//! of correctness gives by itself.
//!
//! ρ measures surprise, not fitting: a model that gets its batch right when that is the likely
//! outcome makes ρ fall below its null (docs/design.md §8.4). The learning test is the signed
//! batch-fitting statistic ([`fit_moments`]): at each step, k = the batch's correct count under
//! the new model against its hypergeometric expectation b·K/N among the N examples seen so far
//! (batch included), K of them correct; summed per epoch and over the run with the summed
//! variances, `fit_z` = Σ(k − E)/√(Σ Var). A model that never moves has k − E of mean 0; a model
//! that memorises its batch has k above E at every step.

pub use crate::steps::divergence::{kl_bits, rho_code, rho_paper};
use crate::steps::null::{step_moments, z_score, NullMoments};
use serde::{Deserialize, Serialize};

/// The leading term n·log₂ n / b² of the paper's β(n, b) (constant 1).
pub fn beta_leading(n: usize, b: usize) -> f64 {
    let n = n as f64;
    n * n.log2() / (b as f64 * b as f64)
}

/// The quantities of one model W_{i,j}, j ≥ 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepDiscrepancy {
    /// Epoch i, from 1.
    pub epoch: usize,
    /// j, the index of W_{i,j}: the model after step j − 1.
    pub j: usize,
    /// λ_i,j: accuracy of W_i,j on the whole data set, a share in [0, 1] (docs/design.md §2.8).
    pub lambda: f64,
    /// φ_i,j: accuracy of W_i,j on B_i,j−1, the batch just used, a share in [0, 1].
    pub phi: f64,
    /// λ'_i,j: accuracy of W_i,j on X_i,j−1, the examples seen so far this epoch.
    pub lambda_seen: f64,
    /// λ''_i,j: accuracy on the examples not yet seen this epoch; `None` at j = n/b + 1.
    pub lambda_unseen: Option<f64>,
    /// ρ_i,j = D(λ'‖φ) in bits, the paper's direction ([`rho_paper`]).
    pub rho_paper: f64,
    /// ρ_i,j = D(φ‖λ') in bits, the code's direction ([`rho_code`]).
    pub rho_code: f64,
    /// What the batch's sampling alone gives both terms ([`crate::steps::null`]).
    pub null: NullMoments,
    /// k − b·K/N: the batch's correct count above its null expectation ([`fit_moments`]).
    pub fit_score: f64,
    /// b·(K/N)(1 − K/N)(N − b)/(N − 1): its null variance.
    pub fit_var: f64,
}

/// The batch-fitting term of one step: the batch's correct count k under the new model, beside
/// its hypergeometric null given N seen examples (batch included) of which K are correct:
/// (k − E, Var) with E = b·K/N and Var = b·(K/N)(1 − K/N)(N − b)/(N − 1) (0 when N ≤ 1).
pub fn fit_moments(k: usize, seen: usize, seen_correct: usize, b: usize) -> (f64, f64) {
    if seen == 0 {
        return (0.0, 0.0);
    }
    let (big_n, p, b_f) = (seen as f64, seen_correct as f64 / seen as f64, b as f64);
    let var = if seen > 1 {
        b_f * p * (1.0 - p) * (big_n - b_f) / (big_n - 1.0)
    } else {
        0.0
    };
    (k as f64 - b_f * p, var.max(0.0))
}

/// ρ_i and its running average, per epoch, beside the null model of [`crate::steps::null`]: the
/// expectation and variance ρ_i would have if the batch were a uniform subset of the seen
/// examples, independent of correctness. Variances add over steps and epochs (the centred terms
/// are martingale differences); a z with a null variance of 0 is 0 ([`z_score`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochDiscrepancy {
    /// Epoch i, from 1.
    pub epoch: usize,
    /// λ at the end of the epoch.
    pub accuracy: f64,
    /// ρ_i = Σ_j D(λ'‖φ) over the epoch's models, in bits, the paper's direction.
    pub rho_paper: f64,
    /// ρ_i = Σ_j D(φ‖λ') over the epoch's models, in bits, the code's direction.
    pub rho_code: f64,
    /// (1/t)Σ_{i≤t} ρ_i, paper's direction.
    pub running_rho_paper: f64,
    /// (1/t)Σ_{i≤t} ρ_i, the code's direction.
    pub running_rho_code: f64,
    /// Σ_j E[D(φ‖λ')] over the epoch under the null.
    pub null_rho_code: f64,
    /// Σ_j E[D(λ'‖φ)] over the epoch under the null.
    pub null_rho_paper: f64,
    /// Σ_j Var[D(φ‖λ')] over the epoch under the null.
    pub null_var_code: f64,
    /// Σ_j Var[D(λ'‖φ)] over the epoch under the null.
    pub null_var_paper: f64,
    /// (rho_code − null_rho_code)/√null_var_code.
    pub excess_z_code: f64,
    /// (rho_paper − null_rho_paper)/√null_var_paper.
    pub excess_z_paper: f64,
    /// (1/t)Σ_{i≤t} null_rho_code, to set beside `running_rho_code`.
    pub running_null_rho_code: f64,
    /// (1/t)Σ_{i≤t} null_rho_paper.
    pub running_null_rho_paper: f64,
    /// Σ_{i≤t}(rho_code − null_rho_code)/√(Σ_{i≤t} null_var_code): the evidence of all epochs
    /// so far.
    pub running_excess_z_code: f64,
    /// The same in the paper's direction.
    pub running_excess_z_paper: f64,
    /// Σ_j (k − E) over the epoch's steps: how many more batch examples the new models got
    /// right than a batch drawn independently of correctness would hold ([`fit_moments`]).
    #[serde(default)]
    pub fit_score: f64,
    /// Σ_j Var under the null: the expected sum of the conditional variances.
    #[serde(default)]
    pub fit_var: f64,
    /// fit_score/√fit_var: the batch-fitting signal of the epoch.
    #[serde(default)]
    pub fit_z: f64,
    /// Σ_{i≤t} fit_score, all epochs so far.
    #[serde(default)]
    pub running_fit_score: f64,
    /// Σ_{i≤t} fit_var.
    #[serde(default)]
    pub running_fit_var: f64,
    /// running_fit_score/√running_fit_var: the learning test of the run so far.
    #[serde(default)]
    pub running_fit_z: f64,
}

/// The standard deviation under the null of the running average (1/t)Σ_{i≤t}ρ_i at every
/// epoch t, √(Σ_{i≤t} var_i)/t, with `var` picking an epoch's null variance.
pub fn running_null_sd(
    epochs: &[EpochDiscrepancy],
    var: impl Fn(&EpochDiscrepancy) -> f64,
) -> Vec<f64> {
    let mut total = 0.0;
    epochs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            total += var(e);
            total.sqrt() / (i + 1) as f64
        })
        .collect()
}

/// Per-step and per-epoch discrepancies of a run, from the correctness of every model on every
/// example: `correct[k][x]` for the model after step k − 1 (k = 0 is W₁,₁, k = T the final
/// model), `batches[k]` the batch of step k, `epoch_of[k]` its 1-based epoch and `j_of[k]` its
/// 1-based index in the epoch.
pub fn discrepancy(
    correct: &[Vec<bool>],
    batches: &[Vec<usize>],
    epoch_of: &[usize],
    j_of: &[usize],
    per_epoch: usize,
) -> (Vec<StepDiscrepancy>, Vec<EpochDiscrepancy>) {
    let mut acc = Discrepancies::new(per_epoch);
    for (k, batch) in batches.iter().enumerate() {
        acc.push(batch, epoch_of[k], j_of[k], &correct[k + 1]);
    }
    acc.finish()
}

/// [`discrepancy`] one step at a time, as the run goes: it keeps the seen set of the current
/// epoch and one small record per step, never a correctness vector.
pub struct Discrepancies {
    per_epoch: usize,
    seen: Vec<bool>,
    steps: Vec<StepDiscrepancy>,
}

impl Discrepancies {
    /// Nothing seen yet, with `per_epoch` steps to an epoch.
    pub fn new(per_epoch: usize) -> Self {
        Discrepancies {
            per_epoch,
            seen: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// Step `j` (from 1) of `epoch` used `batch`, and the model after it is right on the examples
    /// where `after` is true.
    pub fn push(&mut self, batch: &[usize], epoch: usize, j: usize, after: &[bool]) {
        let n = after.len();
        if j == 1 || self.seen.len() != n {
            self.seen.clear();
            self.seen.resize(n, false);
        }
        let seen = &mut self.seen;
        for &x in batch {
            seen[x] = true;
        }
        let count = |pick: &dyn Fn(usize) -> bool| -> (usize, usize) {
            (0..n)
                .filter(|&x| pick(x))
                .fold((0, 0), |(c, t), x| (c + after[x] as usize, t + 1))
        };
        let share = |(c, t): (usize, usize)| (t > 0).then(|| c as f64 / t as f64);
        let lambda = share(count(&|_| true)).unwrap_or(0.0);
        let phi = batch.iter().filter(|&&x| after[x]).count() as f64 / batch.len().max(1) as f64;
        let (seen_correct, seen_total) = count(&|x| seen[x]);
        let k_batch = batch.iter().filter(|&&x| after[x]).count();
        let (fit_score, fit_var) = fit_moments(k_batch, seen_total, seen_correct, batch.len());
        let lambda_seen = share((seen_correct, seen_total)).unwrap_or(0.0);
        let lambda_unseen = (j < self.per_epoch)
            .then(|| share(count(&|x| !seen[x])))
            .flatten();
        self.steps.push(StepDiscrepancy {
            epoch,
            j: j + 1,
            lambda,
            phi,
            lambda_seen,
            lambda_unseen,
            rho_paper: rho_paper(lambda_seen, phi),
            rho_code: rho_code(lambda_seen, phi),
            null: step_moments(seen_total, seen_correct, batch.len()),
            fit_score,
            fit_var,
        });
    }

    /// Every step's quantities and each epoch's sums.
    pub fn finish(self) -> (Vec<StepDiscrepancy>, Vec<EpochDiscrepancy>) {
        let epochs = self.steps.last().map_or(0, |s| s.epoch);
        let out = epoch_sums(&self.steps, epochs);
        (self.steps, out)
    }
}

/// Each epoch's sums of the per-step quantities, with the running averages and z's.
fn epoch_sums(steps: &[StepDiscrepancy], epochs: usize) -> Vec<EpochDiscrepancy> {
    let mut out = Vec::with_capacity(epochs);
    let (mut sum_p, mut sum_c, mut sum_fit, mut sum_fit_var) = (0.0, 0.0, 0.0, 0.0);
    let mut sum_null = NullMoments::default();
    for e in 1..=epochs {
        let mine: Vec<&StepDiscrepancy> = steps.iter().filter(|s| s.epoch == e).collect();
        let rp: f64 = mine.iter().map(|s| s.rho_paper).sum();
        let rc: f64 = mine.iter().map(|s| s.rho_code).sum();
        let mut null = NullMoments::default();
        mine.iter().for_each(|s| null += s.null);
        let fit: f64 = mine.iter().map(|s| s.fit_score).sum();
        let fit_var: f64 = mine.iter().map(|s| s.fit_var).sum();
        sum_p += rp;
        sum_c += rc;
        sum_fit += fit;
        sum_fit_var += fit_var;
        sum_null += null;
        let t = e as f64;
        out.push(EpochDiscrepancy {
            epoch: e,
            accuracy: mine.last().map_or(0.0, |s| s.lambda),
            rho_paper: rp,
            rho_code: rc,
            running_rho_paper: sum_p / t,
            running_rho_code: sum_c / t,
            null_rho_code: null.mean_code,
            null_rho_paper: null.mean_paper,
            null_var_code: null.var_code,
            null_var_paper: null.var_paper,
            excess_z_code: z_score(rc - null.mean_code, null.var_code),
            excess_z_paper: z_score(rp - null.mean_paper, null.var_paper),
            running_null_rho_code: sum_null.mean_code / t,
            running_null_rho_paper: sum_null.mean_paper / t,
            running_excess_z_code: z_score(sum_c - sum_null.mean_code, sum_null.var_code),
            running_excess_z_paper: z_score(sum_p - sum_null.mean_paper, sum_null.var_paper),
            fit_score: fit,
            fit_var,
            fit_z: z_score(fit, fit_var),
            running_fit_score: sum_fit,
            running_fit_var: sum_fit_var,
            running_fit_z: z_score(sum_fit, sum_fit_var),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_matches_the_design_notes_numbers() {
        // C(1000,50) split by λ' = 0.6, φ = 0.9: b·KL(φ‖λ') = 16.3, b·KL(λ'‖φ) = 22.5.
        assert!((50.0 * rho_code(0.6, 0.9) - 16.3).abs() < 0.05);
        assert!((50.0 * rho_paper(0.6, 0.9) - 22.5).abs() < 0.05);
        // φ = 1: the code's direction is finite (36.8), the paper's literal one uses its
        // extended notation log(1/λ').
        assert!((50.0 * rho_code(0.6, 1.0) - 36.8).abs() < 0.05);
        assert!((rho_paper(0.6, 1.0) - (1.0f64 / 0.6).log2()).abs() < 1e-12);
        assert!(kl_bits(0.6, 1.0).is_infinite());
    }

    #[test]
    fn boundary_conventions_of_the_paper() {
        assert_eq!(rho_paper(1.0, 0.3), 0.0);
        assert_eq!(rho_paper(0.0, 0.3), 0.0);
        assert!((rho_paper(0.25, 0.0) - (1.0f64 / 0.75).log2()).abs() < 1e-12);
        assert_eq!(rho_code(0.5, 0.5), 0.0);
    }

    #[test]
    fn discrepancy_of_a_hand_made_run() {
        // n = 4, b = 2, one epoch: batches {0,1} then {2,3}.
        let correct = vec![
            vec![false; 4],
            vec![true, true, false, false],
            vec![true, false, true, true],
        ];
        let batches = vec![vec![0, 1], vec![2, 3]];
        let (steps, epochs) = discrepancy(&correct, &batches, &[1, 1], &[1, 2], 2);
        assert_eq!(steps[0].phi, 1.0);
        assert_eq!(steps[0].lambda_seen, 1.0);
        assert_eq!(steps[0].lambda_unseen, Some(0.0));
        assert_eq!(steps[0].lambda, 0.5);
        assert_eq!(steps[1].phi, 1.0);
        assert_eq!(steps[1].lambda_seen, 0.75);
        assert_eq!(steps[1].lambda_unseen, None);
        assert!((steps[1].rho_code - (1.0f64 / 0.75).log2()).abs() < 1e-12);
        assert_eq!(epochs.len(), 1);
        assert!((epochs[0].running_rho_code - steps[1].rho_code).abs() < 1e-12);
        assert_eq!(beta_leading(16, 2), 16.0);
    }

    /// Every ordering of 0..n (Heap's algorithm).
    fn orderings(n: usize) -> Vec<Vec<usize>> {
        fn heap(k: usize, a: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
            if k <= 1 {
                out.push(a.clone());
                return;
            }
            for i in 0..k {
                heap(k - 1, a, out);
                let j = if k.is_multiple_of(2) { i } else { 0 };
                a.swap(j, k - 1);
            }
        }
        let mut out = Vec::new();
        heap(n, &mut (0..n).collect(), &mut out);
        out
    }

    #[test]
    fn fit_moments_match_every_subset() {
        // Mean and variance of k over every b-subset of N examples, the first K correct.
        for big_n in 1..=10usize {
            for correct in 0..=big_n {
                for b in 1..=big_n {
                    let ks: Vec<f64> = (0u32..1 << big_n)
                        .filter(|s| s.count_ones() as usize == b)
                        .map(|s| (s & ((1u32 << correct) - 1)).count_ones() as f64)
                        .collect();
                    let mean = ks.iter().sum::<f64>() / ks.len() as f64;
                    let var =
                        ks.iter().map(|k| (k - mean) * (k - mean)).sum::<f64>() / ks.len() as f64;
                    let (score_at_zero, v) = fit_moments(0, big_n, correct, b);
                    assert!(
                        (-score_at_zero - mean).abs() < 1e-12,
                        "N {big_n} K {correct} b {b}"
                    );
                    assert!(
                        (v - var).abs() < 1e-12,
                        "N {big_n} K {correct} b {b}: {v} vs {var}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_model_that_never_moves_has_score_zero_on_average_over_every_permutation() {
        // One epoch of n = 8, b = 2 with fixed correctness: over all 8! orders the score has
        // mean 0 and variance the mean of the summed conditional variances (the martingale).
        let fixed = [true, false, true, true, false, false, true, false];
        let correct = vec![fixed.to_vec(); 5];
        let (mut sum, mut sq, mut var, mut count) = (0.0, 0.0, 0.0, 0.0);
        for order in orderings(8) {
            let batches: Vec<Vec<usize>> = order.chunks(2).map(<[usize]>::to_vec).collect();
            let (_, e) = discrepancy(&correct, &batches, &[1; 4], &[1, 2, 3, 4], 4);
            sum += e[0].fit_score;
            sq += e[0].fit_score * e[0].fit_score;
            var += e[0].fit_var;
            count += 1.0;
        }
        let mean = sum / count;
        assert!(mean.abs() < 1e-9, "{mean}");
        assert!(
            (sq / count - var / count).abs() < 1e-9,
            "{} vs {}",
            sq / count,
            var / count
        );
    }

    #[test]
    fn a_memorising_model_has_a_large_positive_fit_z() {
        // The model after each step gets its batch right and nothing else it has seen: k = b
        // against E = b·K/N at every step, over 20 epochs of 50 examples in batches of 5.
        let (n, b, epochs) = (50, 5, 20);
        let per = n / b;
        let steps = per * epochs;
        let batches: Vec<Vec<usize>> = (0..steps)
            .map(|k| ((k % per) * b..(k % per + 1) * b).collect())
            .collect();
        let correct: Vec<Vec<bool>> = (0..=steps)
            .map(|k| {
                (0..n)
                    .map(|x| k > 0 && x / b == (k - 1) % per || x % 4 == 0)
                    .collect()
            })
            .collect();
        let epoch_of: Vec<usize> = (0..steps).map(|k| k / per + 1).collect();
        let j_of: Vec<usize> = (0..steps).map(|k| k % per + 1).collect();
        let (_, e) = discrepancy(&correct, &batches, &epoch_of, &j_of, per);
        let last = e.last().unwrap();
        assert!(last.running_fit_z > 10.0, "{last:?}");
        assert!(last.running_fit_score > 0.0 && last.fit_z > 2.0);
    }

    #[test]
    fn at_b_1_a_model_fitting_a_likely_outcome_lowers_rho_but_raises_fit_z() {
        // b = 1, the model gets its example right and 4 in 5 of the rest: φ = 1 is the likely
        // outcome, so ρ falls below its null while the signed score is positive.
        let (n, epochs) = (40, 5);
        let steps = n * epochs;
        let batches: Vec<Vec<usize>> = (0..steps).map(|k| vec![k % n]).collect();
        let correct: Vec<Vec<bool>> = (0..=steps)
            .map(|k| {
                (0..n)
                    .map(|x| x % 5 != 0 || (k > 0 && x == (k - 1) % n))
                    .collect()
            })
            .collect();
        let epoch_of: Vec<usize> = (0..steps).map(|k| k / n + 1).collect();
        let j_of: Vec<usize> = (0..steps).map(|k| k % n + 1).collect();
        let (_, e) = discrepancy(&correct, &batches, &epoch_of, &j_of, n);
        let last = e.last().unwrap();
        assert!(last.running_fit_z > 3.0, "{last:?}");
        assert!(last.running_excess_z_code < 0.0, "{last:?}");
    }
}
