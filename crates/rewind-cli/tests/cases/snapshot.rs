//! A snapshot test of a training run, written as a user of rewind writes one: copy this file
//! into your crate's `tests/` (with `rewind` as a dependency and `insta` as a dev-dependency),
//! put your own configuration in `config()`, and run `cargo test`. The first run fails and
//! prints the snapshot; paste it between the quotes (or run `cargo insta review`). From then on
//! any change to the run — model, data, seed, step size, backend, or rewind itself — fails the
//! test with a diff that shows the first step that changed.

use rewind::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use rewind::sgd::BackendChoice;
use rewind::snapshot::Snapshot;

/// The training run under test: least squares on 12 synthetic examples, exact gradients on a
/// coarse grid (p = 8), with a step (q = α·L_B = 0.3) at which some steps are many-to-one.
fn config() -> VerifyConfig {
    VerifyConfig {
        data: DataSource::Synthetic {
            n: 12,
            features: 3,
            classes: 2,
        },
        model: ModelKind::LeastSquares,
        backend: BackendChoice::Exact,
        frac_bits: 8,
        step_size: StepSize::Q("0.3".into()),
        batch: 4,
        epochs: 2,
        seed: 0,
        stop_at_full_accuracy: false,
        // The code (Lemma 3.1) is not part of a snapshot: skip it.
        code: false,
        ..VerifyConfig::default()
    }
}

#[test]
fn the_training_run_is_unchanged() {
    let setup = Setup::new(&config()).expect("a valid configuration");
    let snapshot = Snapshot::of(&setup).expect("the run and its inversion");
    // Whatever the snapshot says, the run must rewind to its first model bit for bit.
    assert!(snapshot.totals.initial_model_bit_exact);
    insta::assert_snapshot!(snapshot.to_string(), @r"
    epoch  step  outcome         hint  W             batch
        1     1  recovered          0  e0369a8a700d  [3, 11, 4, 7]
        1     2  other_preimage     1  0d298c059540  [2, 0, 9, 6]
        1     3  recovered          0  2357ee10f4be  [10, 1, 5, 8]
        2     1  other_preimage     1  b054c6555515  [3, 2, 4, 7]
        2     2  recovered          0  32db03ed62b4  [8, 10, 6, 1]
        2     3  recovered          0  f8922eabfa98  [0, 5, 11, 9]
    steps 6: recovered 4, other_preimage 2, no_preimage 0; 2 hinted steps, 2 hint coordinates
    initial_model_bit_exact true, all_models_bit_exact true; final W efbac7c2e296
    ");
}
