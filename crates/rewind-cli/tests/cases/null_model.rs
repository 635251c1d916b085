//! The null model on real runs: a run that cannot learn stays within its null, a run that
//! memorises its batches leaves it.

use rewind::config::{ModelKind, Setup, StepSize, VerifyConfig};
use rewind::grid::Dyadic;
use rewind::sgd::BackendChoice;
use rewind::verify::verify_quiet;

/// Logistic regression on digits 3 vs 8, f64, forward run and discrepancy only.
fn config(batch: usize, epochs: usize, step: StepSize, random_labels: bool) -> VerifyConfig {
    VerifyConfig {
        model: ModelKind::Logistic,
        backend: BackendChoice::F64,
        step_size: step,
        batch,
        epochs,
        random_labels,
        stop_at_full_accuracy: false,
        invert: false,
        code: false,
        ..VerifyConfig::default()
    }
}

#[test]
fn a_run_that_cannot_learn_stays_within_three_null_sd_in_95_percent_of_epochs() {
    // α = 2^-62 on a 2^-32 grid: every increment rounds to 0, the model never moves, and
    // which examples it classifies correctly cannot depend on the batches.
    let alpha = Dyadic::new(1, 62).unwrap();
    let setup = Setup::new(&config(20, 60, StepSize::Alpha(alpha), false)).unwrap();
    let (report, _) = verify_quiet(&setup).unwrap();
    let epochs = &report.discrepancy.epochs;
    assert_eq!(epochs.len(), 60);
    assert!(
        epochs[0].accuracy > 0.05 && epochs[0].accuracy < 0.95,
        "a fixed model with accuracy {} leaves nothing to sample",
        epochs[0].accuracy
    );
    for z in [
        |e: &rewind::discrepancy::EpochDiscrepancy| e.excess_z_code,
        |e: &rewind::discrepancy::EpochDiscrepancy| e.excess_z_paper,
    ] {
        let within = epochs.iter().filter(|e| z(e).abs() <= 3.0).count();
        assert!(
            within * 100 >= 95 * epochs.len(),
            "{within} of 60 epochs within ±3"
        );
    }
    // The running averages agree with the null's to within a few of its standard deviations.
    let last = epochs.last().unwrap();
    assert!(last.running_excess_z_code.abs() <= 3.0, "{last:?}");
    assert!(last.null_var_code > 0.0 && last.null_rho_code > 0.0);
}

#[test]
fn a_memorising_run_beats_the_null() {
    // Random labels, two examples per batch, α·L_B = 0.99: each step fits its own batch. (At
    // b = 1 the same run falls *below* its null: φ is 0 or 1, and a model that gets its example
    // right gives D(1‖λ') = log₂(1/λ'), less than the null's mean H(λ') once λ' > 1/2.)
    let setup = Setup::new(&config(2, 3, StepSize::Q("0.99".into()), true)).unwrap();
    let (report, _) = verify_quiet(&setup).unwrap();
    let last = report.discrepancy.epochs.last().unwrap();
    assert!(last.running_excess_z_code > 3.0, "{last:?}");
    assert!(last.running_excess_z_paper > 3.0, "{last:?}");
    assert!(
        last.running_rho_code > last.running_null_rho_code,
        "{last:?}"
    );
}
