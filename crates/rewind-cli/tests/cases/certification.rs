//! Certified preimage enumeration against an independent exhaustive search.

use proptest::prelude::*;
use rewind::certify::{certify, enumerate_preimages, Certificate, UnknownReason};
use rewind::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use rewind::grid::Dyadic;
use rewind::model::{AnyModel, Around, Linear};
use rewind::sgd::{BackendChoice, StepFunction};

/// Every grid point within `reach` ulps of `center` (in every coordinate) whose step is `w_next`.
fn brute_force(
    f: &StepFunction,
    w_next: &[i64],
    batch: &[usize],
    center: &[i64],
    reach: i64,
) -> Vec<Vec<i64>> {
    let d = center.len();
    let side = (2 * reach + 1) as usize;
    let mut found = Vec::new();
    for idx in 0..side.pow(d as u32) {
        let mut rest = idx;
        let u: Vec<i64> = center
            .iter()
            .map(|c| {
                let off = (rest % side) as i64 - reach;
                rest /= side;
                c + off
            })
            .collect();
        if f.step(&u, batch).unwrap() == w_next {
            found.push(u);
        }
    }
    found.sort();
    found
}

#[test]
fn the_one_dimensional_collision_is_certified_ambiguous_never_unique() {
    let data = super::common::one_dimensional(4);
    let model = AnyModel::Linear(Linear::least_squares(&data));
    for backend in [
        BackendChoice::Exact,
        BackendChoice::Mpfr { precision: 128 },
        BackendChoice::F64,
    ]
    .into_iter()
    .filter(BackendChoice::is_available)
    {
        let f = StepFunction::new(&model, &data, Dyadic::new(13107, 15).unwrap(), backend);
        let (cert, e) = certify(&f, &[1], &[0, 1], &[2], 100).unwrap();
        assert_eq!(
            cert,
            Certificate::Ambiguous {
                preimages: 2,
                index_of_logged: 1
            },
            "{backend:?}"
        );
        assert_eq!(e.result.unwrap().preimages, vec![vec![1], vec![2]]);
        assert_eq!(
            brute_force(&f, &[1], &[0, 1], &[2], 6),
            vec![vec![1], vec![2]]
        );
        assert_eq!(cert.optimal_hint_bits(), 1);
    }
}

#[test]
fn a_non_contractive_step_is_unknown_with_its_reason() {
    let data = super::common::one_dimensional(4);
    let model = AnyModel::Linear(Linear::least_squares(&data));
    // α = 1 = 1/L: q_∞ = 1, the radius argument fails.
    let f = StepFunction::new(
        &model,
        &data,
        Dyadic::new(1, 0).unwrap(),
        BackendChoice::Exact,
    );
    let w_next = f.step(&[5], &[0, 1]).unwrap();
    let (cert, _) = certify(&f, &w_next, &[0, 1], &[5], 100).unwrap();
    assert!(
        matches!(cert, Certificate::Unknown(UnknownReason::NonContractiveInfNorm { q_inf }) if q_inf >= 1.0),
        "{cert:?}"
    );
}

#[test]
fn an_exhausted_budget_is_unknown_with_its_reason() {
    let data = super::common::one_dimensional(4);
    let model = AnyModel::Linear(Linear::least_squares(&data));
    let f = StepFunction::new(
        &model,
        &data,
        Dyadic::new(13107, 15).unwrap(),
        BackendChoice::Exact,
    );
    // One evaluation is spent at V itself; the free coordinate needs more.
    let (cert, e) = certify(&f, &[1], &[0, 1], &[2], 1).unwrap();
    assert!(
        matches!(cert, Certificate::Unknown(UnknownReason::Budget { .. })),
        "{cert:?}"
    );
    assert!(e.evaluations <= 1);
}

#[test]
fn the_mlp_has_no_certified_bound() {
    let setup = Setup::new(&VerifyConfig {
        data: DataSource::Synthetic {
            n: 8,
            features: 2,
            classes: 2,
        },
        model: ModelKind::Mlp,
        hidden: 2,
        backend: BackendChoice::F64,
        step_size: StepSize::Alpha(Dyadic::new(1, 6).unwrap()),
        batch: 2,
        ..VerifyConfig::default()
    })
    .unwrap();
    let f = setup.step_function();
    let w_next = f.step(&setup.init, &[0, 1]).unwrap();
    let (cert, _) = certify(&f, &w_next, &[0, 1], &setup.init, 100).unwrap();
    assert_eq!(cert, Certificate::Unknown(UnknownReason::NoCertifiedBound));
}

proptest! {
    #![proptest_config(super::common::proptest_config(96))]

    #[test]
    fn the_enumerator_finds_exactly_what_exhaustive_search_finds(
        (model, backend) in super::common::available(vec![
            (ModelKind::LeastSquares, BackendChoice::Exact),
            (ModelKind::LeastSquares, BackendChoice::Mpfr { precision: 128 }),
            (ModelKind::LeastSquares, BackendChoice::F64),
            (ModelKind::Logistic, BackendChoice::Mpfr { precision: 128 }),
            (ModelKind::Logistic, BackendChoice::F64),
            (ModelKind::Softmax, BackendChoice::F64),
            (ModelKind::Softmax, BackendChoice::Mpfr { precision: 96 }),
        ]),
        q in prop_oneof![Just("0.2"), Just("0.45"), Just("0.7"), Just("0.9")],
        p in 2u32..12,
        seed in 0u64..10_000,
    ) {
        // Two features and a bias: d = 3; softmax: one feature and a bias for each of two
        // classes, d = 4.
        let features = if model == ModelKind::Softmax { 1 } else { 2 };
        let setup = Setup::new(&VerifyConfig {
            data: DataSource::Synthetic { n: 12, features, classes: 2 },
            model,
            backend,
            frac_bits: p,
            step_size: StepSize::Q(q.into()),
            batch: 2,
            seed,
            ..VerifyConfig::default()
        });
        // A tiny synthetic draw can hold a single class; such a data set is rightly refused.
        prop_assume!(setup.is_ok());
        let setup = setup.unwrap();
        let f = setup.step_function();
        let mut rng = rewind::rng::stream(seed, rewind::rng::Stream::Init);
        let bound = setup.data.grid.one() * 2;
        let w: Vec<i64> = (0..f.dim()).map(|_| rewind::rng::uniform_in(&mut rng, -bound, bound)).collect();
        let perm = rewind::rng::permutation(&mut rng, setup.data.n());
        let batch = &perm[..2];
        let w_next = f.step(&w, batch).unwrap();
        let e = enumerate_preimages(&f, &w_next, batch, &w, 100_000).unwrap();
        match e.result {
            Ok(en) => {
                prop_assert!(en.preimages.contains(&w));
                // Exhaustive search beyond the radius is cubic in it; large radii (q_∞ near 1)
                // are left to the property above.
                prop_assume!(en.radius <= if f.dim() > 3 { 3 } else { 10 });
                let truth = brute_force(&f, &w_next, batch, &w, en.radius + 2);
                prop_assert_eq!(&en.preimages, &truth);
                let (cert, _) = certify(&f, &w_next, batch, &w, 100_000).unwrap();
                prop_assert_eq!(cert == Certificate::Unique, truth.len() == 1);
            }
            Err(UnknownReason::NonContractiveInfNorm { q_inf }) => prop_assert!(q_inf >= 1.0),
            Err(UnknownReason::RadiusTooLarge { radius }) => {
                prop_assert!(radius > 64 && backend != BackendChoice::Exact)
            }
            // Near q_∞ = 1 on a coarse grid the box holds more points than the budget allows;
            // then, and only then, the answer is an honest "unknown".
            Err(UnknownReason::Budget { .. }) => prop_assert!(e.evaluations >= 100_000),
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}

/// The bits of a vector of bounds, so that a comparison tells +0 from −0 and sees NaN.
fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The fused bounds of one step are the separate bounds bit for bit: the evaluation error,
/// the global rows at radius 1, and the box's rows at several radii, for every link, with and
/// without rounding, on data with zero features (digits) and without (synthetic).
#[test]
fn the_fused_step_bounds_are_the_separate_bounds_bit_for_bit() {
    let sources = [
        (DataSource::Digits, Some(vec![3, 8]), None),
        (
            DataSource::Synthetic {
                n: 40,
                features: 6,
                classes: 3,
            },
            Some(vec![0, 1]),
            None,
        ),
        (DataSource::Digits, None, Some(ModelKind::Softmax)),
        (
            DataSource::Synthetic {
                n: 40,
                features: 6,
                classes: 3,
            },
            None,
            Some(ModelKind::Softmax),
        ),
    ];
    let mut checked = 0;
    for (data, classes, only) in sources {
        let models = match only {
            Some(m) => vec![m],
            None => vec![ModelKind::LeastSquares, ModelKind::Logistic],
        };
        for model in models {
            let setup = Setup::new(&VerifyConfig {
                data: data.clone(),
                model,
                classes: classes.clone(),
                batch: 8,
                ..VerifyConfig::default()
            })
            .unwrap();
            let f = setup.step_function();
            let bounds = f.model().bounds().unwrap();
            let data = f.data();
            for seed in 0..6u64 {
                let mut rng = rewind::rng::stream(seed, rewind::rng::Stream::Init);
                let spread = data.grid.one() >> (seed % 3);
                let w: Vec<i64> = (0..f.dim())
                    .map(|k| {
                        let v = rewind::rng::uniform_in(&mut rng, -spread, spread);
                        if k % 5 == 0 {
                            0
                        } else {
                            v
                        }
                    })
                    .collect();
                let perm = rewind::rng::permutation(&mut rng, data.n());
                let batch = &perm[..8];
                for (u, slack) in [(0.0, 0), (2f64.powi(-53), 64), (2f64.powi(-128), 3)] {
                    let step = bounds.step_bounds(data, batch, &w, slack, u).unwrap();
                    let error = bounds.evaluation_error(data, batch, &w, slack, u).unwrap();
                    assert_eq!(bits(&step.error), bits(&error), "{model:?} u={u}");
                    let rows = bounds.row_bound(data, batch, None);
                    assert_eq!(step.rows, rows);
                    assert_eq!(bits(&step.unit), bits(&rows.rows(&vec![1; w.len()])));
                    for radius in [1, 3, 40] {
                        let around = Around { center: &w, radius };
                        let local = bounds.row_bound(data, batch, Some(around));
                        let fused = step.localise(radius);
                        assert_eq!(fused, local, "{model:?} radius {radius}");
                        let r: Vec<i64> = (0..w.len() as i64).map(|k| k % 3 * radius).collect();
                        assert_eq!(bits(&fused.rows(&r)), bits(&local.rows(&r)));
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 6 * 3 * 6);
}
