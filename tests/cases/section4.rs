//! Section 4: SGD′ (Algorithm 3 with perturbed GD calls, Algorithm 2) walks back to W₁,₁ bit
//! for bit, its inner steps are accounted once each, and its code (Lemma 4.1) round-trips.

use rewind::codec::hint::HintSet;
use rewind::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use rewind::perturb::Perturbation;
use rewind::sgd::BackendChoice;
use rewind::sgd_prime::{
    analyse_run, call_shapes, hints_of_run, rewind_run, verify, SgdPrimeConfig, VerifiedSgdPrime,
};

/// Least squares on 12 random-label examples, p = 8 and q = 0.9 so that the grid is coarse
/// enough for many-to-one steps.
fn tiny(seed: u64, backend: BackendChoice) -> VerifyConfig {
    VerifyConfig {
        data: DataSource::Synthetic {
            n: 12,
            features: 2,
            classes: 2,
        },
        model: ModelKind::LeastSquares,
        backend,
        frac_bits: 8,
        step_size: StepSize::Q("0.9".into()),
        batch: 3,
        epochs: 2,
        seed,
        random_labels: true,
        stop_at_full_accuracy: false,
        code: false,
        ..VerifyConfig::default()
    }
}

fn section4() -> SgdPrimeConfig {
    SgdPrimeConfig::new(Perturbation::new(2, 3, 1).unwrap(), "0.1", 12).unwrap()
}

fn verified(seed: u64, backend: BackendChoice) -> (Setup, VerifiedSgdPrime) {
    let setup = Setup::new(&tiny(seed, backend)).expect("a valid configuration");
    let v = verify(&setup, &section4()).expect("SGD′ runs and is verified");
    (setup, v)
}

/// The first seed whose run needs a hint on some inner step and has a GD call of several steps.
fn hinted_seed(backend: BackendChoice) -> u64 {
    (0..64)
        .find(|&s| {
            let v = verified(s, backend).1;
            v.report.hints.unwrap().steps > 0 && v.run.calls.iter().any(|c| c.gd_steps() >= 2)
        })
        .expect("some seed below 64 gives a hinted inner step and a multi-step GD call")
}

#[test]
fn sgd_prime_on_the_exact_backend_walks_back_bit_for_bit_with_hints() {
    let seed = hinted_seed(BackendChoice::Exact);
    let (setup, v) = verified(seed, BackendChoice::Exact);
    let rec = v.report.reconstruction.as_ref().unwrap();
    assert!(rec.initial_model_bit_exact && rec.all_models_bit_exact);
    assert!(v.run.calls.iter().any(|c| c.z.iter().any(|&z| z != 0)));
    // The walk back really needs the hints: without them it fails or lands elsewhere.
    let f = setup.step_function();
    let p = section4();
    let without = rewind_run(
        &f,
        &v.run.final_model,
        &call_shapes(&v.run),
        &p.perturbation,
        &HintSet::default(),
        setup.config.max_iterations,
    );
    assert!(without.map_or(true, |m| m[0].0 != v.run.calls[0].w));
    // And it needs the z's: with every z set to 0 W₁,₁ is not recovered.
    let hints = hints_of_run(&analyse_run(&f, &v.run, setup.config.max_iterations).unwrap());
    let mut shapes = call_shapes(&v.run);
    shapes
        .iter_mut()
        .for_each(|s| s.z.iter_mut().for_each(|z| *z = 0));
    let no_z = rewind_run(
        &f,
        &v.run.final_model,
        &shapes,
        &p.perturbation,
        &hints,
        setup.config.max_iterations,
    );
    assert!(no_z.map_or(true, |m| m[0].0 != v.run.calls[0].w));
}

#[test]
fn every_logged_inner_step_is_one_forward_step_and_counted_once() {
    let seed = hinted_seed(BackendChoice::Exact);
    let (setup, v) = verified(seed, BackendChoice::Exact);
    let f = setup.step_function();
    let p = section4();
    // Σ T_{i,j} is the number of logged inner steps, and each is the step function's image.
    let mut logged = 0;
    for (k, c) in v.run.calls.iter().enumerate() {
        let mut w = p.perturbation.apply(&c.w, &c.z).unwrap();
        for inner in &c.inner {
            assert_eq!(*inner, w);
            w = f.step(&w, &c.batch).unwrap();
            logged += 1;
        }
        assert_eq!(w, v.run.after(k));
        assert!(c.gd_steps() <= p.max_gd_steps);
    }
    let g = v.report.gd_steps.as_ref().unwrap();
    let sum_t: usize = v.run.calls.iter().map(|c| c.gd_steps()).sum();
    assert_eq!(sum_t, logged);
    assert_eq!(g.total, logged);
    assert_eq!(v.report.steps, logged);
    assert_eq!(g.epochs.iter().map(|e| e.total).sum::<usize>(), logged);
    // Each inner step's inversion outcome is classified once.
    assert_eq!(v.records.iter().flatten().count(), logged);
    // A hinted inner step is counted once: the hint set has one entry per hinted record, and
    // the report's bits are exactly that set's code.
    let hinted: Vec<_> = v
        .records
        .iter()
        .flatten()
        .filter_map(|r| r.hint.clone())
        .collect();
    let set = hints_of_run(&v.records);
    assert_eq!(set.hints.len(), hinted.len());
    let hints = v.report.hints.as_ref().unwrap();
    assert_eq!(hints.steps, hinted.len());
    assert_eq!(hints.bits, set.bits(logged, f.dim()));
    let per_epoch: u64 = g.epochs.iter().map(|e| e.hint_bits).sum();
    assert_eq!(
        per_epoch,
        hinted.iter().map(|h| h.bits(f.dim())).sum::<u64>()
    );
    assert_eq!(
        g.epochs.iter().map(|e| e.hinted).sum::<usize>(),
        hinted.len()
    );
}

#[test]
fn sgd_prime_needs_a_binary_task() {
    let mut c = tiny(0, BackendChoice::F64);
    c.model = ModelKind::Softmax;
    c.data = DataSource::Synthetic {
        n: 12,
        features: 2,
        classes: 3,
    };
    let setup = Setup::new(&c).unwrap();
    let e = verify(&setup, &section4()).unwrap_err().to_string();
    assert!(e.contains("binary") && !e.contains('\n'), "{e}");
}

/// The code of Lemma 4.1 decodes, from the final model alone, every batch, T_{i,j}, z and
/// inner model of the run, on the exact backend and on f64.
#[test]
fn lemma_4_1_code_round_trips_on_two_backends() {
    for backend in [BackendChoice::Exact, BackendChoice::F64] {
        let seed = hinted_seed(backend);
        let setup = Setup::new(&VerifyConfig {
            code: true,
            ..tiny(seed, backend)
        })
        .unwrap();
        let v = verify(&setup, &section4()).unwrap();
        let code = v.report.code.as_ref().expect("the code was computed");
        assert!(code.roundtrip_bit_exact, "{backend:?}");
        let a = v.report.algorithm.as_ref().unwrap();
        assert_eq!(a.code_epochs.len(), v.run.permutations.len());
        // The per-batch terms are what the stated codes cost: Σ_j γ(T_{i,j} + 1) and ℓ·m.
        for e in &a.code_epochs {
            let calls: Vec<_> = v.run.calls.iter().filter(|c| c.epoch == e.epoch).collect();
            let gamma: u64 = calls
                .iter()
                .map(|c| rewind::codec::elias_gamma_bits(c.gd_steps() as u64 + 1))
                .sum();
            assert_eq!(e.gd_steps_bits, gamma);
            assert_eq!(e.perturbation_bits, 6 * calls.len() as u64);
            assert!(e.bits >= e.gd_steps_bits + e.perturbation_bits + e.hint_bits);
        }
    }
}

/// A code decoded with another perturbation family does not give the run back.
#[test]
fn lemma_4_1_code_depends_on_the_perturbation_family() {
    use rewind::codec::entropy::{decode_gd, encode_gd, CodeOptions, RunShape};
    use rewind::sgd_prime::gd_code;
    let (setup, v) = verified(hinted_seed(BackendChoice::Exact), BackendChoice::Exact);
    let f = setup.step_function();
    let p = section4();
    let outer = v.run.outer();
    let shape = RunShape::of(&outer, setup.data.n(), setup.config.batch);
    let opts = CodeOptions {
        certify: None,
        max_iterations: setup.config.max_iterations,
    };
    let enc = encode_gd(
        &f,
        &outer,
        shape,
        opts,
        gd_code(&v.run, &p, Some((&v.run, &v.records))),
    )
    .unwrap();
    let mut other = gd_code(&v.run, &p, None);
    other.perturbation = Perturbation::new(2, 3, 2).unwrap();
    let dec = decode_gd(&f, &v.run.final_model, shape, &enc.code, opts, other);
    assert!(dec.map_or(true, |d| d.models[0] != v.run.calls[0].w));
}
