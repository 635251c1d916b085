//! Inversion of single steps: the grid's many-to-one counterexample, the property that a
//! fixed point of the inverter is always a verified preimage (whatever the f64 predictor says),
//! and the cost of the own backend's confirmation.

use proptest::prelude::*;
use rewind::codec::hint::Hint;
use rewind::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use rewind::data::Dataset;
use rewind::grid::Dyadic;
use rewind::invert::{invert, Outcome, Termination};
use rewind::model::backend::{Backend, BackendError, Real};
use rewind::model::{AnyModel, Linear, Model, Smoothness};
use rewind::reconstruct::{analyse, hints_of, rewind};
use rewind::sgd::{run, BackendChoice, LoggedStep, NoObserver, StepFunction, Trajectory};
use rewind::verify::verify_quiet;

const BACKENDS: [BackendChoice; 3] = [
    BackendChoice::Exact,
    BackendChoice::Mpfr { precision: 128 },
    BackendChoice::F64,
];

#[test]
fn q_point_four_sends_one_and_two_to_the_same_point_and_the_verifier_says_so() {
    let data = super::common::one_dimensional(4);
    let model = AnyModel::Linear(Linear::least_squares(&data));
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
        assert_eq!(
            records[0].hint,
            Some(Hint::from(vec![(0, 1)])),
            "{backend:?}"
        );

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
    let model = AnyModel::Linear(Linear::least_squares(&data));
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
        let (own, predicted) = (f.own_evaluations(), f.predictor_evaluations());
        let inv = invert(&f, &w_next, batch, 2_000).unwrap();
        // The counters and the inversion's own account agree; only non-f64 backends predict.
        prop_assert_eq!(f.own_evaluations() - own, inv.own_evaluations as u64);
        prop_assert_eq!(f.predictor_evaluations() - predicted, inv.predictor_evaluations as u64);
        prop_assert_eq!(inv.predictor_evaluations == 0, backend == BackendChoice::F64);
        if let Some(v) = inv.preimage() {
            prop_assert_eq!(f.step(v, batch).unwrap(), w_next.clone());
            prop_assert!(inv.own_evaluations >= 1);
        }
        // Each outcome judged by the step function itself, not by the inverter's own flags.
        let lands = f.step(&inv.point, batch).unwrap() == w_next;
        match inv.outcome(&w) {
            Outcome::Recovered => prop_assert!(lands && inv.point == w),
            // A genuine collision: two different models that this batch's step sends to one.
            Outcome::OtherPreimage => prop_assert!(lands && inv.point != w),
            Outcome::NoPreimage => match inv.termination {
                Termination::Cycle { .. } => prop_assert!(!lands, "a cycle ended on a preimage"),
                Termination::Cap => {}
                Termination::FixedPoint => prop_assert!(false, "a fixed point without a preimage"),
            },
        }
        // Without the predictor the iteration is the plain own-backend one; it too returns
        // only verified preimages.
        let plain = s.step_function().with_predictor(false);
        let inv_plain = invert(&plain, &w_next, batch, 2_000).unwrap();
        prop_assert_eq!(inv_plain.predictor_evaluations, 0);
        if let Some(v) = inv_plain.preimage() {
            prop_assert_eq!(f.step(v, batch).unwrap(), w_next);
        }
    }

    #[test]
    fn a_misleading_predictor_never_changes_what_is_verified(
        q in prop_oneof![Just("0.1"), Just("0.4"), Just("0.8")],
        p in 4u32..24,
        seed in 0u64..1000,
    ) {
        let s = misled_setup(q, p, seed);
        let f = s.step_function();
        let mut rng = rewind::rng::stream(seed, rewind::rng::Stream::Init);
        let bound = s.data.grid.one() << 3;
        let w: Vec<i64> = (0..f.dim()).map(|_| rewind::rng::uniform_in(&mut rng, -bound, bound)).collect();
        let perm = rewind::rng::permutation(&mut rng, s.data.n());
        let batch = &perm[..3];
        let w_next = f.step(&w, batch).unwrap();
        let inv = invert(&f, &w_next, batch, 2_000).unwrap();
        prop_assert!(inv.predictor_evaluations > 0);
        if let Some(v) = inv.preimage() {
            prop_assert_eq!(f.step(v, batch).unwrap(), w_next);
        }
    }
}

/// Least squares whose f64 gradient (the predictor's) is 9/8 of the true one: a predictor that
/// is wrong everywhere, under an exact own backend.
#[derive(Debug)]
struct Misled(Linear);

impl Model for Misled {
    fn name(&self) -> &'static str {
        "misled"
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn batch_gradient<B: Backend>(
        &self,
        be: &B,
        w: &[B::R],
        data: &Dataset,
        batch: &[usize],
    ) -> Result<Vec<B::R>, BackendError> {
        let g = self.0.batch_gradient(be, w, data, batch)?;
        Ok(match be.name() {
            "f64" => g.iter().map(|v| v.add(&v.div_int(8))).collect(),
            _ => g,
        })
    }
    fn correct<B: Backend>(
        &self,
        be: &B,
        w: &[i64],
        data: &Dataset,
        i: usize,
    ) -> Result<bool, BackendError> {
        self.0.correct(be, w, data, i)
    }
    fn smoothness(&self, data: &Dataset, batch: usize, w: &[i64]) -> Smoothness {
        self.0.smoothness(data, batch, w)
    }
    fn hessian(&self, _: &[f64], _: &Dataset, _: &[usize]) -> Option<Vec<f64>> {
        None
    }
    fn loss_label(&self, class: u32) -> i64 {
        self.0.loss_label(class)
    }
    fn init(&self, rng: &mut dyn rand_core::RngCore, data: &Dataset) -> Vec<i64> {
        self.0.init(rng, data)
    }
}

fn misled_setup(q: &str, p: u32, seed: u64) -> Setup {
    let config = VerifyConfig {
        data: DataSource::Synthetic {
            n: 12,
            features: 3,
            classes: 2,
        },
        backend: BackendChoice::Exact,
        frac_bits: p,
        step_size: StepSize::Q(q.into()),
        batch: 3,
        epochs: 2,
        seed,
        stop_at_full_accuracy: false,
        ..VerifyConfig::default()
    };
    Setup::with_model(&config, |data| Misled(Linear::least_squares(data))).unwrap()
}

#[test]
fn with_a_misleading_predictor_the_run_still_rewinds_and_decodes_bit_for_bit() {
    let setup = misled_setup("0.4", 16, 3);
    let (report, _) = verify_quiet(&setup).unwrap();
    let inv = report.inversion.unwrap();
    let rec = report.reconstruction.unwrap();
    assert!(rec.initial_model_bit_exact && rec.all_models_bit_exact);
    assert!(report.code.unwrap().roundtrip_bit_exact);
    // Not vacuous: the predictor's fixed points were refused and the own backend iterated on.
    assert!(
        inv.own_backend_evaluations > 4 * report.steps as u64,
        "{inv:?}"
    );
    assert_eq!(
        inv.gradient_evaluations,
        inv.own_backend_evaluations + inv.predictor_evaluations
    );
}

#[test]
fn an_honest_predictor_leaves_one_own_evaluation_per_step_and_the_same_outcomes() {
    let cases = [
        (ModelKind::LeastSquares, BackendChoice::Exact),
        (ModelKind::Logistic, BackendChoice::Mpfr { precision: 128 }),
    ];
    for (model, backend) in cases.into_iter().filter(|(_, b)| b.is_available()) {
        let s = Setup::new(&VerifyConfig {
            data: DataSource::Synthetic {
                n: 40,
                features: 5,
                classes: 2,
            },
            model,
            backend,
            step_size: StepSize::Q("0.2".into()),
            batch: 4,
            epochs: 2,
            stop_at_full_accuracy: false,
            ..VerifyConfig::default()
        })
        .unwrap();
        let f = s.step_function();
        let plain = s.step_function().with_predictor(false);
        let traj = run(&f, &s.sgd_config(), s.init.clone(), &mut NoObserver).unwrap();
        let mut own = Vec::new();
        for (k, step) in traj.steps.iter().enumerate() {
            let w_next = traj.model_after(k);
            let inv = invert(&f, w_next, &step.batch, 10_000).unwrap();
            let inv_plain = invert(&plain, w_next, &step.batch, 10_000).unwrap();
            // The predictor walks the plain iteration's path: same point, same count.
            assert_eq!(inv.point, inv_plain.point, "{backend:?} step {k}");
            assert_eq!(inv.termination, inv_plain.termination);
            assert_eq!(inv.iterations, inv_plain.iterations);
            assert!(
                inv_plain.own_evaluations > 2,
                "not an easy case: {inv_plain:?}"
            );
            own.push(inv.own_evaluations);
        }
        let mean = own.iter().sum::<u32>() as f64 / own.len() as f64;
        assert!(own.iter().all(|&e| e <= 2), "{backend:?}: {own:?}");
        assert!(mean <= 1.1, "{backend:?}: mean {mean}");
    }
}
