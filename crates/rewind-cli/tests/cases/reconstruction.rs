//! Reconstruction from the final model: always bit for bit with hints, and a snapshot of a
//! tiny exact run's whole trajectory.

use proptest::prelude::*;
use rewind::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use rewind::invert::invert;
use rewind::reconstruct::{analyse, hints_of, rewind};
use rewind::sgd::{run, BackendChoice, NoObserver};
use rewind::verify::verify_quiet;

fn config(
    model: ModelKind,
    backend: BackendChoice,
    q: &str,
    p: u32,
    seed: u64,
    batch: usize,
) -> VerifyConfig {
    VerifyConfig {
        data: DataSource::Synthetic {
            n: 16,
            features: 3,
            classes: if model == ModelKind::Softmax { 3 } else { 2 },
        },
        model,
        backend,
        frac_bits: p,
        step_size: StepSize::Q(q.into()),
        batch,
        epochs: 3,
        seed,
        stop_at_full_accuracy: false,
        ..VerifyConfig::default()
    }
}

proptest! {
    #![proptest_config(super::common::proptest_config(40))]

    #[test]
    fn reconstruction_with_hints_always_returns_the_first_model_bit_for_bit(
        (model, backend) in super::common::available(vec![
            (ModelKind::LeastSquares, BackendChoice::Exact),
            (ModelKind::Logistic, BackendChoice::Mpfr { precision: 80 }),
            (ModelKind::Logistic, BackendChoice::F64),
            (ModelKind::Softmax, BackendChoice::F64),
        ]),
        q in prop_oneof![Just("0.1"), Just("0.5"), Just("0.9")],
        p in 3u32..20,
        seed in 0u64..10_000,
        batch in prop_oneof![Just(1usize), Just(2), Just(4)],
    ) {
        let setup = Setup::new(&config(model, backend, q, p, seed, batch)).unwrap();
        let (report, traj) = verify_quiet(&setup).unwrap();
        let (rec, inv, hints) = (
            report.reconstruction.unwrap(),
            report.inversion.unwrap(),
            report.hints.unwrap(),
        );
        prop_assert!(rec.initial_model_bit_exact);
        prop_assert!(rec.all_models_bit_exact);
        // The report's counts against a recount from the trajectory through the public
        // inverter: the logged model is recovered, another preimage found, or none.
        let f = setup.step_function();
        let mut recount = [0usize; 3];
        for (k, step) in traj.steps.iter().enumerate() {
            let found = invert(&f, traj.model_after(k), &step.batch, setup.config.max_iterations).unwrap();
            recount[match found.preimage() {
                Some(v) if v == step.w.as_slice() => 0,
                Some(_) => 1,
                None => 2,
            }] += 1;
        }
        prop_assert_eq!([inv.recovered, inv.other_preimage, inv.no_preimage], recount);
        prop_assert_eq!(hints.steps, recount[1] + recount[2]);
        // Every evaluation is the own backend's or the predictor's, and only f64 runs without
        // a predictor; each of the 2·steps inversions (hints, then the walk back) confirms
        // its point with at least one own evaluation.
        prop_assert_eq!(inv.gradient_evaluations, inv.own_backend_evaluations + inv.predictor_evaluations);
        prop_assert_eq!(inv.predictor_evaluations == 0, backend == BackendChoice::F64);
        prop_assert!(inv.own_backend_evaluations >= 2 * report.steps as u64);
    }
}

#[test]
fn coarse_grids_and_strong_contraction_need_hints_and_still_reconstruct() {
    // Not a vacuous property: on a coarse grid with q = 0.9 many steps are many-to-one.
    let setup = Setup::new(&config(
        ModelKind::LeastSquares,
        BackendChoice::Exact,
        "0.9",
        6,
        1,
        2,
    ))
    .unwrap();
    let (report, _) = verify_quiet(&setup).unwrap();
    assert!(report.hints.as_ref().unwrap().steps > 0, "{report:?}");
    assert!(report.reconstruction.unwrap().initial_model_bit_exact);
}

#[test]
fn tiny_exact_least_squares_trajectory_snapshot() {
    let mut cfg = config(
        ModelKind::LeastSquares,
        BackendChoice::Exact,
        "0.45",
        8,
        7,
        2,
    );
    cfg.data = DataSource::Synthetic {
        n: 6,
        features: 2,
        classes: 2,
    };
    cfg.epochs = 2;
    let setup = Setup::new(&cfg).unwrap();
    let f = setup.step_function();
    let traj = run(&f, &setup.sgd_config(), setup.init.clone(), &mut NoObserver).unwrap();
    let records = analyse(&f, &traj, 1_000).unwrap();
    let batches: Vec<Vec<usize>> = traj.steps.iter().map(|s| s.batch.clone()).collect();
    let back = rewind(&f, &traj.final_model, &batches, &hints_of(&records), 1_000).unwrap();
    let steps: Vec<serde_json::Value> = traj
        .steps
        .iter()
        .zip(&records)
        .zip(&back)
        .map(|((s, r), w_back)| {
            serde_json::json!({
                "epoch": s.epoch,
                "step": s.step,
                "batch": s.batch,
                "w": s.w,
                "reconstructed": w_back,
                "outcome": r.outcome,
                "iterations": r.iterations,
                "hint": r.hint,
            })
        })
        .collect();
    let snapshot = serde_json::json!({
        "alpha": setup.alpha.to_string(),
        "frac_bits": 8,
        "features": setup.data.features,
        "labels": setup.data.labels,
        "steps": steps,
        "final": traj.final_model,
    });
    super::common::snapshots()
        .bind(|| insta::assert_json_snapshot!("tiny_exact_least_squares_trajectory", snapshot));
}
