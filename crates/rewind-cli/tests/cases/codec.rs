//! The entropy-compression code: exact lengths and bit-for-bit round trips.

use proptest::prelude::*;
use rewind::certify::certifier;
use rewind::codec::entropy::{
    decode, encode, log2_factorial_bits, CodeOptions, EpochCost, RunShape, EPOCH_HEADER_BITS,
};
use rewind::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use rewind::reconstruct::analyse;
use rewind::sgd::{run, BackendChoice, NoObserver};

struct Case {
    model: ModelKind,
    backend: BackendChoice,
    n: usize,
    batch: usize,
    epochs: usize,
    p: u32,
    q: &'static str,
    seed: u64,
    stop: bool,
}

fn setup(c: &Case) -> Option<Setup> {
    Setup::new(&VerifyConfig {
        data: DataSource::Synthetic {
            n: c.n,
            features: 3,
            classes: if c.model == ModelKind::Softmax { 3 } else { 2 },
        },
        model: c.model,
        backend: c.backend,
        frac_bits: c.p,
        step_size: StepSize::Q(c.q.into()),
        batch: c.batch,
        epochs: c.epochs,
        seed: c.seed,
        stop_at_full_accuracy: c.stop,
        ..VerifyConfig::default()
    })
    .ok()
}

/// Encodes and decodes; returns the number of hinted steps and the per-epoch costs.
fn round_trip(c: &Case, certify: Option<u64>) -> (usize, Vec<EpochCost>) {
    let s = setup(c).expect("a valid case");
    let f = s.step_function();
    let traj = run(&f, &s.sgd_config(), s.init.clone(), &mut NoObserver).unwrap();
    let records = analyse(&f, &traj, 10_000).unwrap();
    let shape = RunShape::of(&traj, s.data.n(), c.batch);
    let opts = CodeOptions {
        certify: certify.map(certifier),
        max_iterations: 10_000,
    };
    let enc = encode(&f, &traj, &records, shape, opts).unwrap();
    let dec = decode(&f, &traj.final_model, shape, &enc.code, opts).unwrap();
    assert_eq!(dec.permutations, traj.permutations, "permutations");
    let batches: Vec<Vec<usize>> = traj.steps.iter().map(|s| s.batch.clone()).collect();
    assert_eq!(dec.batches, batches, "batches");
    let models: Vec<Vec<i64>> = traj.steps.iter().map(|s| s.w.clone()).collect();
    assert_eq!(dec.models, models, "models");
    let hinted = records.iter().filter(|r| r.hint.is_some()).count();
    let total: u64 = enc.epochs.iter().map(|e| e.bits).sum::<u64>() + enc.run_header_bits;
    assert!(
        enc.code.bits <= total + 1 + enc.epochs.len() as u64,
        "{} > {}",
        enc.code.bits,
        total
    );
    (hinted, enc.epochs)
}

#[test]
fn an_untilted_epoch_without_hints_costs_log2_n_factorial_plus_its_header() {
    // Exact least squares on a fine grid with a small step: no hints, and tilt 1 wins on
    // random-looking epochs often enough; check the identity wherever both hold.
    let mut checked = 0;
    for (n, b) in [(12, 3), (24, 4), (30, 5), (20, 1)] {
        for seed in 0..6 {
            let c = Case {
                model: ModelKind::LeastSquares,
                backend: BackendChoice::Exact,
                n,
                batch: b,
                epochs: 2,
                p: 30,
                q: "0.01",
                seed,
                stop: false,
            };
            if setup(&c).is_none() {
                continue;
            }
            let (_, epochs) = round_trip(&c, None);
            for e in epochs {
                let (bits, header, hint, baseline, tilt) =
                    (e.bits, e.header_bits, e.hint_bits, e.baseline_bits, e.tilt);
                assert_eq!(baseline, log2_factorial_bits(n));
                assert!(bits <= baseline + header || tilt != (1, 1) || hint > 0);
                if tilt == (1, 1) && hint == 0 {
                    assert_eq!(header, EPOCH_HEADER_BITS);
                    assert_eq!(bits, baseline + header, "n = {n}, b = {b}, seed {seed}");
                    checked += 1;
                }
            }
        }
    }
    assert!(
        checked >= 10,
        "only {checked} untilted epochs without hints"
    );
}

#[test]
fn round_trips_with_hints_and_certified_hints() {
    let c = Case {
        model: ModelKind::LeastSquares,
        backend: BackendChoice::Exact,
        n: 16,
        batch: 2,
        epochs: 3,
        p: 5,
        q: "0.9",
        seed: 3,
        stop: false,
    };
    let (hinted, _) = round_trip(&c, None);
    assert!(hinted > 0, "the case must exercise hints");
    let (hinted_c, _) = round_trip(&c, Some(4096));
    assert_eq!(hinted, hinted_c);
}

#[test]
fn an_epoch_cut_short_by_full_accuracy_round_trips() {
    let mut seen = false;
    for seed in 0..20 {
        let c = Case {
            model: ModelKind::Logistic,
            backend: BackendChoice::F64,
            n: 12,
            batch: 3,
            epochs: 6,
            p: 16,
            q: "0.9",
            seed,
            stop: true,
        };
        let Some(s) = setup(&c) else { continue };
        let f = s.step_function();
        let traj = run(&f, &s.sgd_config(), s.init.clone(), &mut NoObserver).unwrap();
        if traj.stopped_at.is_some() {
            round_trip(&c, None);
            seen = true;
        }
    }
    assert!(seen, "no run stopped early");
}

proptest! {
    #![proptest_config(super::common::proptest_config(24))]

    #[test]
    fn every_backend_round_trips_bit_for_bit(
        (model, backend) in super::common::available(vec![
            (ModelKind::LeastSquares, BackendChoice::Exact),
            (ModelKind::LeastSquares, BackendChoice::Mpfr { precision: 128 }),
            (ModelKind::Logistic, BackendChoice::Mpfr { precision: 96 }),
            (ModelKind::Logistic, BackendChoice::F64),
            (ModelKind::Softmax, BackendChoice::F64),
        ]),
        batch in prop_oneof![Just(1usize), Just(2), Just(4)],
        p in 4u32..24,
        q in prop_oneof![Just("0.2"), Just("0.6"), Just("0.95")],
        seed in 0u64..1000,
        certify in any::<bool>(),
    ) {
        let c = Case { model, backend, n: 16, batch, epochs: 2, p, q, seed, stop: false };
        prop_assume!(setup(&c).is_some());
        round_trip(&c, certify.then_some(4096));
    }
}
