//! The measured many-to-one share on a two-parameter window against 1 − det(I − αH).

use rewind::collisions::scan;
use rewind::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use rewind::sgd::BackendChoice;

fn two_parameter_least_squares(q: &str) -> Setup {
    Setup::new(&VerifyConfig {
        data: DataSource::Synthetic {
            n: 200,
            features: 2,
            classes: 2,
        },
        model: ModelKind::LeastSquares,
        backend: BackendChoice::Exact,
        frac_bits: 8,
        step_size: StepSize::Q(q.into()),
        batch: 20,
        bias: false,
        ..VerifyConfig::default()
    })
    .unwrap()
}

#[test]
fn measured_share_matches_one_minus_det_within_a_hundredth() {
    for q in ["0.05", "0.2", "0.45"] {
        let s = two_parameter_least_squares(q);
        let f = s.step_function();
        let batch: Vec<usize> = (0..20).collect();
        let map = scan(&f, &batch, [s.init[0], s.init[1]], 80).unwrap();
        let predicted = map.predicted.unwrap();
        eprintln!(
            "q = {q}: measured {:.4}, predicted {:.4}, points {}",
            map.merged_share, predicted, map.inner_points
        );
        assert!(
            (map.merged_share - predicted).abs() < 0.01,
            "q = {q}: measured {} vs predicted {}",
            map.merged_share,
            predicted
        );
        // Not vacuous: the share grows with q.
        assert!(predicted > 0.0);
    }
}

#[test]
fn a_model_with_more_than_two_parameters_is_refused() {
    let s = Setup::new(&VerifyConfig {
        data: DataSource::Synthetic {
            n: 20,
            features: 2,
            classes: 2,
        },
        model: ModelKind::LeastSquares,
        backend: BackendChoice::Exact,
        batch: 4,
        ..VerifyConfig::default()
    })
    .unwrap();
    let f = s.step_function();
    let err = scan(&f, &[0, 1, 2, 3], [0, 0], 10).unwrap_err().to_string();
    assert!(err.contains("two-parameter"), "{err}");
}
