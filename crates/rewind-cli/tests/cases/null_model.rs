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
    // The batch-fitting statistic and its permutation tail see no fitting either.
    assert!(last.running_fit_z.abs() <= 3.0, "{last:?}");
    assert!(last.running_fit_var > 0.0);
    let tails = report.discrepancy.tails.as_ref().unwrap();
    assert_eq!(tails.draws, rewind::tails::DRAWS);
    assert!(tails.fit_p > 0.001 && tails.fit_p < 0.999, "{tails:?}");
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
    // The signed statistic: far more of each batch right than of the examples seen before it,
    // beyond every one of 10⁴ redraws of the permutations.
    assert!(
        last.running_fit_z > 3.0 && last.running_fit_score > 0.0,
        "{last:?}"
    );
    let tails = report.discrepancy.tails.as_ref().unwrap();
    assert_eq!(
        tails.fit_p,
        1.0 / (1.0 + rewind::tails::DRAWS as f64),
        "{tails:?}"
    );
}

#[test]
fn verify_json_carries_the_fit_keys_and_their_tails() {
    let out = super::common::rewind(&[
        "verify",
        "--epochs",
        "2",
        "--batch",
        "20",
        "--no-code",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &json["discrepancy"];
    for key in [
        "fit_score",
        "fit_var",
        "fit_z",
        "running_fit_score",
        "running_fit_var",
        "running_fit_z",
    ] {
        assert!(d["epochs"][1][key].is_number(), "no {key} in {d}");
    }
    let e = &d["epochs"];
    let sum = e[0]["fit_score"].as_f64().unwrap() + e[1]["fit_score"].as_f64().unwrap();
    assert!((sum - e[1]["running_fit_score"].as_f64().unwrap()).abs() < 1e-9);
    for key in ["fit_p", "rho_code_p", "rho_code_p_below"] {
        let p = d["tails"][key].as_f64().unwrap();
        assert!(p > 0.0 && p <= 1.0, "{key} {p}");
    }
}
