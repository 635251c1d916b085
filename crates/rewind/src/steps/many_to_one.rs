//! The predicted share of many-to-one steps (docs/design.md §3.3): a grid step with batch
//! Hessian H_B merges a share of at least 1 − det(I − αH_B) of the grid's points, so that share
//! of the logged steps is expected to need a hint. The verify report prints it beside the
//! observed share, and the collision scan of a two-parameter window beside its measured share.

use crate::model::{AnyModel, LowRankHessian};
use crate::sgd::{StepFunction, Trajectory};
use rayon::prelude::*;

/// Largest model dimension for which the prediction is computed from a dense d×d Hessian (a
/// model without a low-rank factor, such as a user's own): it builds and factors the matrix per
/// step, which beyond this would dominate the run (d = 7,850 is 490 MB and 10^11 operations per
/// step). The linear models have no cap: their Hessian has rank ≤ b·outputs.
pub const MAX_PREDICTION_DIM: usize = 1024;

/// Why the prediction is not computed for this run's model, as the report says it; `None` when
/// it is (it may still be missing when I − αH_B is not positive definite at some step).
pub fn prediction_skipped(f: &StepFunction) -> Option<String> {
    match f.model() {
        AnyModel::Linear(_) => None,
        AnyModel::Mlp(_) => Some("skipped: the MLP has no closed-form Hessian".into()),
        _ if f.dim() > MAX_PREDICTION_DIM => Some(format!(
            "skipped: d = {} is above {MAX_PREDICTION_DIM}, the largest d for which the dense d×d Hessian is factored",
            f.dim()
        )),
        _ => None,
    }
}

/// The predicted share of many-to-one steps, 1 − det(I − αH_B) at each logged step, averaged;
/// `None` when [`prediction_skipped`] says so, when the model has no closed-form Hessian, or
/// when I − αH_B is not positive definite.
pub fn predicted_many_to_one(f: &StepFunction, traj: &Trajectory) -> Option<f64> {
    mean_share(step_shares(f, traj)?)
}

/// The mean of the steps' shares: `None` without steps or when a step has none.
pub fn mean_share(shares: Vec<Option<f64>>) -> Option<f64> {
    let shares: Vec<f64> = shares.into_iter().collect::<Option<_>>()?;
    (!shares.is_empty()).then(|| shares.iter().sum::<f64>() / shares.len() as f64)
}

/// 1 − det(I − αH_B) at each logged step, in run order (`None` at a step where I − αH_B is
/// not positive definite); `None` as a whole when [`prediction_skipped`] says so.
pub fn step_shares(f: &StepFunction, traj: &Trajectory) -> Option<Vec<Option<f64>>> {
    if prediction_skipped(f).is_some() {
        return None;
    }
    Some(
        traj.steps
            .par_iter()
            .map(|s| step_share(f, &s.w, &s.batch))
            .collect(),
    )
}

/// 1 − det(I − αH_B) of the step from `w` on `batch` (`None` where I − αH_B is not positive
/// definite or the model has no closed-form Hessian).
pub fn step_share(f: &StepFunction, w: &[i64], batch: &[usize]) -> Option<f64> {
    let w = crate::model::raw_to_f64(w, f.data().grid.frac_bits());
    let alpha = f.alpha().to_f64();
    match f.model() {
        AnyModel::Linear(m) => share_lost_low_rank(&m.hessian_factor(&w, f.data(), batch)?, alpha),
        m => share_lost(&m.hessian(&w, f.data(), batch)?, alpha, f.dim()),
    }
}

/// 1 − det(I − αH) for the d×d Hessian `h` (row-major): the share of grid points a step with
/// that Hessian merges (docs/design.md §3.3); `None` if I − αH is not positive definite.
pub fn share_lost(h: &[f64], alpha: f64, d: usize) -> Option<f64> {
    log_det_identity_minus(h, alpha, d).map(|logdet| 1.0 - logdet.exp())
}

/// [`share_lost`] for H = Σ_t v_t v_tᵀ given as m rank-one terms, through Sylvester's
/// determinant identity det(I_d − αVVᵀ) = det(I_m − αVᵀV): an m×m Cholesky instead of a d×d
/// one. The two matrices share their nonzero eigenvalues, so one is positive definite exactly
/// when the other is, and the answer is the same `None` or value.
pub fn share_lost_low_rank(h: &LowRankHessian, alpha: f64) -> Option<f64> {
    let (g, m) = h.gram();
    share_lost(&g, alpha, m)
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
    use crate::model::Model;

    #[test]
    fn log_det_matches_a_diagonal_matrix() {
        let h = vec![2.0, 0.0, 0.0, 4.0];
        let ld = log_det_identity_minus(&h, 0.1, 2).unwrap();
        assert!((ld - (0.8f64 * 0.6).ln()).abs() < 1e-12);
        assert!(log_det_identity_minus(&h, 0.5, 2).is_none());
    }

    use crate::data::prepare::{prepare, PrepareOptions};
    use crate::data::synthetic::generate;
    use crate::grid::Grid;
    use crate::model::Linear;

    fn blobs(classes: u32) -> crate::data::Dataset {
        let opts = PrepareOptions {
            grid: Grid::new(16).unwrap(),
            classes: None,
            random_labels: false,
            seed: 0,
            bias: true,
        };
        prepare(&generate(30, 12, classes, 7), &opts).unwrap()
    }

    /// The Sylvester route and the dense d×d Cholesky agree for every link, including softmax
    /// whose link Hessian is singular, and agree on when I − αH is not positive definite.
    #[test]
    fn the_b_by_b_determinant_matches_the_dense_one() {
        for (classes, link) in [
            (2, crate::model::Link::Identity),
            (2, crate::model::Link::Logistic),
            (3, crate::model::Link::Softmax),
        ] {
            let data = blobs(classes);
            let m = Linear::new(&data, link);
            let w: Vec<f64> = (0..m.dim()).map(|k| 0.3 * (k as f64).sin()).collect();
            let batch: Vec<usize> = (0..data.n()).step_by(3).take(5).collect();
            let dense = m.hessian(&w, &data, &batch).unwrap();
            let factor = m.hessian_factor(&w, &data, &batch).unwrap();
            for alpha in [0.01, 0.1, 0.5, 5.0, 50.0] {
                let a = share_lost(&dense, alpha, m.dim());
                let b = share_lost_low_rank(&factor, alpha);
                match (a, b) {
                    (Some(a), Some(b)) => assert!(
                        (a - b).abs() < 1e-9 * a.abs().max(1e-3),
                        "{link:?} α {alpha}: {a} vs {b}"
                    ),
                    (None, None) => {}
                    _ => panic!("{link:?} α {alpha}: dense {a:?}, low rank {b:?}"),
                }
            }
        }
    }
}
