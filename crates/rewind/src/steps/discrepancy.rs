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
//! beside its null expectation and variance ([`crate::null`]): what a batch drawn independently
//! of correctness gives by itself.

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
    /// What the batch's sampling alone gives both terms ([`crate::null`]).
    pub null: NullMoments,
}

/// ρ_i and its running average, per epoch, beside the null model of [`crate::null`]: the
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
    let n = correct.first().map_or(0, Vec::len);
    let mut steps = Vec::with_capacity(batches.len());
    let mut seen = vec![false; n];
    for (k, batch) in batches.iter().enumerate() {
        if j_of[k] == 1 {
            seen.iter_mut().for_each(|s| *s = false);
        }
        for &x in batch {
            seen[x] = true;
        }
        let after = &correct[k + 1];
        let count = |pick: &dyn Fn(usize) -> bool| -> (usize, usize) {
            (0..n)
                .filter(|&x| pick(x))
                .fold((0, 0), |(c, t), x| (c + after[x] as usize, t + 1))
        };
        let share = |(c, t): (usize, usize)| (t > 0).then(|| c as f64 / t as f64);
        let lambda = share(count(&|_| true)).unwrap_or(0.0);
        let phi = batch.iter().filter(|&&x| after[x]).count() as f64 / batch.len().max(1) as f64;
        let (seen_correct, seen_total) = count(&|x| seen[x]);
        let lambda_seen = share((seen_correct, seen_total)).unwrap_or(0.0);
        let lambda_unseen = (j_of[k] < per_epoch)
            .then(|| share(count(&|x| !seen[x])))
            .flatten();
        steps.push(StepDiscrepancy {
            epoch: epoch_of[k],
            j: j_of[k] + 1,
            lambda,
            phi,
            lambda_seen,
            lambda_unseen,
            rho_paper: rho_paper(lambda_seen, phi),
            rho_code: rho_code(lambda_seen, phi),
            null: step_moments(seen_total, seen_correct, batch.len()),
        });
    }
    let epochs = epoch_of.last().copied().unwrap_or(0);
    let mut out = Vec::with_capacity(epochs);
    let (mut sum_p, mut sum_c) = (0.0, 0.0);
    let mut sum_null = NullMoments::default();
    for e in 1..=epochs {
        let mine: Vec<&StepDiscrepancy> = steps.iter().filter(|s| s.epoch == e).collect();
        let rp: f64 = mine.iter().map(|s| s.rho_paper).sum();
        let rc: f64 = mine.iter().map(|s| s.rho_code).sum();
        let mut null = NullMoments::default();
        mine.iter().for_each(|s| null += s.null);
        sum_p += rp;
        sum_c += rc;
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
        });
    }
    (steps, out)
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
}
