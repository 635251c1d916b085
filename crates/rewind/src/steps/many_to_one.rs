//! The predicted share of many-to-one steps (docs/design.md §3.3): a grid step with batch
//! Hessian H_B merges a share of at least 1 − det(I − αH_B) of the grid's points, so that share
//! of the logged steps is expected to need a hint. The verify report prints it beside the
//! observed share, and the collision scan of a two-parameter window beside its measured share.

use crate::model::Model;
use crate::sgd::{StepFunction, Trajectory};
use rayon::prelude::*;

/// Largest model dimension for which the prediction is computed: it builds and factors a dense
/// d×d Hessian per step, which beyond this would dominate the run (d = 7,850 for softmax on
/// MNIST is 490 MB and 10^11 operations per step).
pub const MAX_PREDICTION_DIM: usize = 1024;

/// The predicted share of many-to-one steps, 1 − det(I − αH_B) at each logged step, averaged;
/// `None` when the model has no closed-form Hessian, d > [`MAX_PREDICTION_DIM`], or I − αH_B is
/// not positive definite.
pub fn predicted_many_to_one(f: &StepFunction, traj: &Trajectory) -> Option<f64> {
    if traj.steps.is_empty() || f.dim() > MAX_PREDICTION_DIM {
        return None;
    }
    let p = f.data().grid.frac_bits();
    let alpha = f.alpha().to_f64();
    let shares: Option<Vec<f64>> = traj
        .steps
        .par_iter()
        .map(|s| {
            let w = crate::model::raw_to_f64(&s.w, p);
            let h = f.model().hessian(&w, f.data(), &s.batch)?;
            share_lost(&h, alpha, f.dim())
        })
        .collect();
    let shares = shares?;
    Some(shares.iter().sum::<f64>() / shares.len() as f64)
}

/// 1 − det(I − αH) for the d×d Hessian `h` (row-major): the share of grid points a step with
/// that Hessian merges (docs/design.md §3.3); `None` if I − αH is not positive definite.
pub fn share_lost(h: &[f64], alpha: f64, d: usize) -> Option<f64> {
    log_det_identity_minus(h, alpha, d).map(|logdet| 1.0 - logdet.exp())
}

/// ln det(I − αH) by Cholesky; `None` if the matrix is not positive definite.
fn log_det_identity_minus(h: &[f64], alpha: f64, d: usize) -> Option<f64> {
    let mut a: Vec<f64> = h.iter().map(|v| -alpha * v).collect();
    for i in 0..d {
        a[i * d + i] += 1.0;
    }
    let mut logdet = 0.0;
    for j in 0..d {
        let mut diag = a[j * d + j];
        for k in 0..j {
            diag -= a[j * d + k] * a[j * d + k];
        }
        if diag <= 0.0 || !diag.is_finite() {
            return None;
        }
        let l = diag.sqrt();
        a[j * d + j] = l;
        logdet += 2.0 * l.ln();
        for i in j + 1..d {
            let mut v = a[i * d + j];
            for k in 0..j {
                v -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = v / l;
        }
    }
    Some(logdet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_det_matches_a_diagonal_matrix() {
        let h = vec![2.0, 0.0, 0.0, 4.0];
        let ld = log_det_identity_minus(&h, 0.1, 2).unwrap();
        assert!((ld - (0.8f64 * 0.6).ln()).abs() < 1e-12);
        assert!(log_det_identity_minus(&h, 0.5, 2).is_none());
    }
}
