//! Inversion of single steps: the grid's many-to-one counterexample, and the property that a
//! fixed point of the inverter is always a verified preimage.

use proptest::prelude::*;
use rewind::grid::Dyadic;
use rewind::invert::{invert, Outcome, Termination};
use rewind::model::{AnyModel, LeastSquares};
use rewind::reconstruct::{analyse, hints_of, rewind};
use rewind::sgd::{BackendChoice, LoggedStep, StepFunction, Trajectory};
use rewind::verify::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};

const BACKENDS: [BackendChoice; 3] = [
    BackendChoice::Exact,
    BackendChoice::Mpfr { precision: 128 },
    BackendChoice::F64,
];

#[test]
fn q_point_four_sends_one_and_two_to_the_same_point_and_the_verifier_says_so() {
    let data = super::common::one_dimensional(4);
    let model = AnyModel::LeastSquares(LeastSquares::new(&data));
    // q = 13107/2^15 ≈ 0.4: round(0.4) = 0 and round(0.8) = 1.
    let alpha = Dyadic::new(13107, 15).unwrap();
    for backend in BACKENDS.into_iter().filter(BackendChoice::is_available) {
        let f = StepFunction::new(&model, &data, alpha, backend);
        let batch = [0usize, 1];
        assert_eq!(f.step(&[1], &batch).unwrap(), vec![1], "{backend:?}");
        assert_eq!(f.step(&[2], &batch).unwrap(), vec![1], "{backend:?}");

        // A run that really went 2 → 1: the inverter finds the other preimage, 1.
        let traj = Trajectory {
            steps: vec![LoggedStep {
                epoch: 1,
                step: 1,
                batch: batch.to_vec(),
                w: vec![2],
            }],
            final_model: vec![1],
            permutations: vec![batch.to_vec()],
            stopped_at: None,
            correct: Vec::new(),
        };
        let records = analyse(&f, &traj, 100).unwrap();
        assert_eq!(records[0].outcome, Outcome::OtherPreimage, "{backend:?}");
        assert_eq!(records[0].hint, Some(vec![(0, 1)]), "{backend:?}");

        // Without the hint the walk back silently lands on the wrong model; with it, on 2.
        let batches = vec![batch.to_vec()];
        let hints = hints_of(&records);
        assert_eq!(
            rewind(&f, &[1], &batches, &hints, 100).unwrap(),
            vec![vec![2]]
        );
        let no_hints = Default::default();
        assert_eq!(
            rewind(&f, &[1], &batches, &no_hints, 100).unwrap(),
            vec![vec![1]]
        );
    }
}

#[test]
fn the_many_to_one_share_in_one_dimension_is_q() {
    // w ↦ w − round(q·w) merges neighbours for a fraction q of all w, whatever p is.
    let data = super::common::one_dimensional(10);
    let model = AnyModel::LeastSquares(LeastSquares::new(&data));
    let alpha = Dyadic::new(3, 3).unwrap(); // q = 0.375
    let f = StepFunction::new(&model, &data, alpha, BackendChoice::Exact);
    let images: Vec<i64> = (0..4096)
        .map(|w| f.step(&[w], &[0, 1]).unwrap()[0])
        .collect();
    let merged = images.windows(2).filter(|p| p[0] == p[1]).count();
    let share = merged as f64 / 4095.0;
    assert!((share - 0.375).abs() < 0.002, "share {share}");
}

fn small_setup(model: ModelKind, backend: BackendChoice, q: &str, p: u32, seed: u64) -> Setup {
    let classes = if model == ModelKind::Softmax { 3 } else { 2 };
    Setup::new(&VerifyConfig {
        data: DataSource::Synthetic {
            n: 12,
            features: 3,
            classes,
        },
        model,
        backend,
        frac_bits: p,
        step_size: StepSize::Q(q.into()),
        batch: 3,
        epochs: 2,
        seed,
        stop_at_full_accuracy: false,
        ..VerifyConfig::default()
    })
    .unwrap()
}

fn model_and_backend() -> impl Strategy<Value = (ModelKind, BackendChoice)> {
    super::common::available(vec![
        (ModelKind::LeastSquares, BackendChoice::Exact),
        (ModelKind::LeastSquares, BackendChoice::F64),
        (ModelKind::Logistic, BackendChoice::Mpfr { precision: 96 }),
        (ModelKind::Logistic, BackendChoice::F64),
        (ModelKind::Softmax, BackendChoice::F64),
    ])
}

proptest! {
    #![proptest_config(super::common::proptest_config(64))]

    #[test]
    fn a_fixed_point_of_the_inverter_is_always_a_verified_preimage(
        (model, backend) in model_and_backend(),
        q in prop_oneof![Just("0.05"), Just("0.3"), Just("0.6"), Just("0.95")],
        p in 4u32..24,
        seed in 0u64..1000,
        scale in 0i64..8,
    ) {
        let s = small_setup(model, backend, q, p, seed);
        let f = s.step_function();
        // A random model within ±2^scale, and a random batch.
        let mut rng = rewind::rng::stream(seed, rewind::rng::Stream::Init);
        let bound = s.data.grid.one() << scale;
        let w: Vec<i64> = (0..f.dim()).map(|_| rewind::rng::uniform_in(&mut rng, -bound, bound)).collect();
        let perm = rewind::rng::permutation(&mut rng, s.data.n());
        let batch = &perm[..3];
        let w_next = f.step(&w, batch).unwrap();
        let inv = invert(&f, &w_next, batch, 2_000).unwrap();
        if let Some(v) = inv.preimage() {
            prop_assert_eq!(f.step(v, batch).unwrap(), w_next.clone());
        }
        match inv.outcome(&w) {
            Outcome::Recovered => prop_assert_eq!(&inv.point, &w),
            Outcome::OtherPreimage => prop_assert_ne!(&inv.point, &w),
            Outcome::NoPreimage => prop_assert_ne!(inv.termination, Termination::FixedPoint),
        }
    }
}
