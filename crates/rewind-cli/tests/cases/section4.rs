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
pub(super) fn tiny(seed: u64, backend: BackendChoice) -> VerifyConfig {
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

pub(super) fn section4() -> SgdPrimeConfig {
    SgdPrimeConfig::new(Perturbation::new(2, 3, 1).unwrap(), "0.1", 12).unwrap()
}

fn verified(seed: u64, backend: BackendChoice) -> (Setup, VerifiedSgdPrime) {
    let setup = Setup::new(&tiny(seed, backend)).expect("a valid configuration");
    let v = verify(&setup, &section4()).expect("SGD′ runs and is verified");
    (setup, v)
}

/// The first seed whose run needs a hint on some inner step and has a GD call of several steps.
pub(super) fn hinted_seed(backend: BackendChoice) -> u64 {
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
    // The control: with the run's own family the code gives W₁,₁ back, so a decoder that
    // failed on every code could not pass the check below.
    let own = decode_gd(
        &f,
        &v.run.final_model,
        shape,
        &enc.code,
        opts,
        gd_code(&v.run, &p, None),
    )
    .expect("the code decodes with the run's own perturbation family");
    assert_eq!(own.models[0], v.run.calls[0].w);
    let mut other = gd_code(&v.run, &p, None);
    other.perturbation = Perturbation::new(2, 3, 2).unwrap();
    assert_ne!(other.perturbation, gd_code(&v.run, &p, None).perturbation);
    // Another family either fails to decode or decodes into another run; never into this one.
    if let Ok(d) = decode_gd(&f, &v.run.final_model, shape, &enc.code, opts, other) {
        assert_ne!(d.models, own.models, "the perturbation family was ignored");
    }
}

/// The encoded file of an SGD′ run and the run itself.
fn encode_sgd_prime(config: &VerifyConfig) -> rewind::encode::EncodedRun {
    let setup = Setup::new(config).expect("a valid configuration");
    rewind::encode::encode_sgd_prime_run(&setup, &section4(), &rewind::progress::NoProgress)
        .expect("the SGD′ run encodes")
}

/// An SGD′ code file decodes, from the final model and the data alone, into every batch, W_{i,j},
/// z and inner model of the logged run, on the exact backend and on f64; its code is the one
/// `verify` checks in memory.
#[test]
fn sgd_prime_code_files_round_trip_on_two_backends() {
    for backend in [BackendChoice::Exact, BackendChoice::F64] {
        let seed = hinted_seed(backend);
        let config = VerifyConfig {
            code: true,
            ..tiny(seed, backend)
        };
        let enc = encode_sgd_prime(&config);
        let run = enc.sgd_prime.as_ref().expect("the SGD′ run");
        assert_eq!(
            u32::from_le_bytes(enc.bytes[8..12].try_into().unwrap()),
            rewind::codec::file::FORMAT
        );
        let h = enc.header.sgd_prime.as_ref().expect("an sgd_prime header");
        assert_eq!(
            (
                h.perturbation_length,
                h.perturbation_bits,
                h.perturbation_scale
            ),
            (2, 3, 1)
        );
        assert_eq!((h.max_gd_steps, h.inner_steps), (12, run.inner_steps()));
        let dec = rewind::encode::decode_run(&enc.bytes, &run.final_model, &config)
            .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        let d = &dec.decoded;
        assert_eq!(d.permutations, run.permutations, "{backend:?}");
        assert_eq!(d.models.len(), run.calls.len());
        for (k, c) in run.calls.iter().enumerate() {
            assert_eq!(d.batches[k], c.batch);
            assert_eq!(d.models[k], c.w, "{backend:?}: W of call {}", k + 1);
            assert_eq!(d.gd_calls[k].z, c.z);
            assert_eq!(d.gd_calls[k].inner, c.inner);
        }
        assert!(run.calls.iter().any(|c| c.gd_steps() >= 2));
        // The file holds the very code `verify` round-trips in memory.
        let setup = Setup::new(&config).unwrap();
        let v = verify(&setup, &section4()).unwrap();
        let code = v.report.code.as_ref().unwrap();
        assert!(code.roundtrip_bit_exact);
        assert_eq!(enc.encoded.code.bits, code.total_bits);
        assert!(v.report.hints.as_ref().unwrap().steps > 0);
    }
}

/// Rewrites the header's JSON, keeping the version, and reseals the checksum.
fn with_header(bytes: &[u8], edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[16..16 + len]).unwrap();
    edit(&mut header);
    let json = serde_json::to_vec(&header).unwrap();
    let mut body = bytes[..12].to_vec();
    body.extend_from_slice(&(json.len() as u32).to_le_bytes());
    body.extend_from_slice(&json);
    body.extend_from_slice(&bytes[16 + len..bytes.len() - 32]);
    let sum = Sha256::digest(&body);
    body.extend_from_slice(&sum);
    body
}

/// Every SGD′ header field is bounded before it sizes anything: T by its ceiling, ℓ by the
/// model, ℓ·m and Σ T_{i,j} by the code's length; a file whose SGD′ section is dropped or
/// changed does not decode to another run. Each refusal is one line and quick.
#[test]
fn forged_sgd_prime_headers_are_refused_quickly_in_one_line() {
    let config = tiny(hinted_seed(BackendChoice::F64), BackendChoice::F64);
    let enc = encode_sgd_prime(&config);
    let fin = &enc.sgd_prime.as_ref().unwrap().final_model;
    let big = serde_json::Value::from(u64::MAX / 2);
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "T above the ceiling",
            Box::new(|h| h["sgd_prime"]["max_gd_steps"] = 1_000_000.into()),
            "T = 1000000",
        ),
        (
            "inner steps beyond the code",
            Box::new(move |h| h["sgd_prime"]["inner_steps"] = big.clone()),
            "inner GD steps",
        ),
        (
            "ℓ beyond the model",
            Box::new(|h| h["sgd_prime"]["perturbation_length"] = (1u64 << 40).into()),
            "perturbation length",
        ),
        (
            "ℓ·m beyond the code",
            Box::new(|h| {
                h["sgd_prime"]["perturbation_bits"] = 32.into();
                h["sgd_prime"]["perturbation_length"] = h["d"].clone();
            }),
            "bits of perturbation",
        ),
        (
            "m above its maximum",
            Box::new(|h| h["sgd_prime"]["perturbation_bits"] = 33.into()),
            "perturbation",
        ),
        (
            "ε out of range",
            Box::new(|h| h["sgd_prime"]["epsilon"] = "1/2".into()),
            "--epsilon",
        ),
        (
            "another perturbation scale",
            Box::new(|h| h["sgd_prime"]["perturbation_scale"] = 2.into()),
            "corrupted",
        ),
        (
            "the section dropped",
            Box::new(|h| {
                h.as_object_mut().unwrap().remove("sgd_prime");
            }),
            "",
        ),
    ];
    for (what, edit, needle) in cases {
        let bytes = with_header(&enc.bytes, edit);
        let start = std::time::Instant::now();
        let e = rewind::encode::decode_run(&bytes, fin, &config)
            .map(|_| ())
            .expect_err(what)
            .to_string();
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "{what}"
        );
        assert!(e.contains(needle) && !e.contains('\n'), "{what}: {e}");
    }
    // A format 1 file cannot carry the section.
    let mut v1 = enc.bytes[..enc.bytes.len() - 32].to_vec();
    v1[8..12].copy_from_slice(&1u32.to_le_bytes());
    let v1 = with_header(&[v1, vec![0; 32]].concat(), |_| {});
    let e = rewind::encode::decode_run(&v1, fin, &config).unwrap_err();
    assert!(e.to_string().contains("format 1"), "{e}");
}

/// The bound on Σ T_{i,j} is what Elias-γ allows: t / γ(t + 1) is largest at t = 2^(k+1) − 2.
#[test]
fn the_inner_step_bound_follows_the_elias_gamma_lengths() {
    use rewind::codec::elias_gamma_bits;
    use rewind::encode::max_inner_steps;
    for t_max in [0usize, 1, 2, 3, 6, 7, 100, 16_384] {
        let best = (0..=t_max as u64)
            .map(|t| (t, elias_gamma_bits(t + 1)))
            .max_by(|a, b| (a.0 * b.1).cmp(&(b.0 * a.1)))
            .unwrap();
        for bits in [0u64, 1, 5, 97, 10_000] {
            assert_eq!(
                max_inner_steps(bits, t_max),
                (bits * best.0 / best.1) as u128,
                "T = {t_max}, {bits} bits"
            );
        }
    }
}

/// `rewind encode --algorithm sgd-prime` then `rewind decode` through the real binary: the
/// decoded W₁,₁ is the one `rewind verify --algorithm sgd-prime` rewinds to, and every decoded
/// call's batch and W_{i,j} is the logged run's.
#[test]
fn the_command_line_round_trip_of_sgd_prime() {
    use super::common::rewind;
    let dir = tempfile::TempDir::new().unwrap();
    let code = dir.path().join("run.rwc");
    let fin = dir.path().join("final.json");
    let out = dir.path().join("decoded.jsonl");
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let data = [
        "--data",
        "synthetic",
        "--synthetic-n",
        "12",
        "--synthetic-features",
        "2",
        "--random-labels",
    ];
    let flags = [
        "--model",
        "least-squares",
        "--backend",
        "exact",
        "--frac-bits",
        "8",
        "--q",
        "0.9",
        "--batch",
        "3",
        "--epochs",
        "2",
        "--no-early-stop",
        "--algorithm",
        "sgd-prime",
        "--perturbation-length",
        "2",
        "--perturbation-bits",
        "3",
        "--perturbation-scale",
        "1",
        "--max-gd-steps",
        "12",
    ];
    let cli = |sub: &str, extra: &[String]| {
        let mut args: Vec<String> = vec![sub.into()];
        args.extend(data.iter().map(|a| a.to_string()));
        if sub != "decode" {
            args.extend(flags.iter().map(|a| a.to_string()));
        }
        args.extend_from_slice(extra);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = rewind(&refs);
        assert!(
            o.status.success(),
            "{sub}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let enc = cli(
        "encode",
        &["--code".into(), s(&code), "--final".into(), s(&fin)],
    );
    assert!(
        enc.contains("SGD′") && enc.contains("perturbations"),
        "{enc}"
    );
    let dec = cli(
        "decode",
        &[s(&code), "--final".into(), s(&fin), "--out".into(), s(&out)],
    );
    let sha = dec
        .lines()
        .find_map(|l| l.strip_prefix("initial model sha256: "))
        .unwrap_or_else(|| panic!("decode prints W₁,₁'s sha256: {dec}"));
    let report: serde_json::Value =
        serde_json::from_str(&cli("verify", &["--json".into()])).expect("a JSON report");
    assert_eq!(
        report["reconstruction"]["initial_model_sha256"].as_str(),
        Some(sha)
    );
    assert_eq!(report["code"]["roundtrip_bit_exact"], true);
    // The library's run with the same parameters, call by call.
    let mut c = tiny(0, BackendChoice::Exact);
    c.seed = 0;
    c.random_labels = true;
    let setup = Setup::new(&c).unwrap();
    let run = verify(&setup, &section4()).unwrap().run;
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), run.calls.len() + 2, "header, calls, final");
    for (k, call) in run.calls.iter().enumerate() {
        let l = &lines[k + 1];
        assert_eq!(l["batch"], serde_json::json!(call.batch), "call {}", k + 1);
        assert_eq!(l["w"], serde_json::json!(call.w), "call {}", k + 1);
    }
}

/// A tiny mixed sweep: three SGD runs and SGD′ runs at ℓ = 0…3 (ℓ·m = 0, 3, 6, 9), three seeds
/// each, without the code; b = 4 and T = 16 = 2^b, so that ℓ·m = 3 is inside Theorem 4.3's
/// hypothesis. Run once for the test binary.
pub(super) fn mixed_lines() -> &'static [rewind::sweep::ResultLine] {
    use rewind::sweep::{run_one, Plan, ResultLine};
    static LINES: std::sync::OnceLock<Vec<ResultLine>> = std::sync::OnceLock::new();
    LINES.get_or_init(|| {
        let plan = Plan::parse(
            r#"
name = "section-4-tiny"
[axes]
data = ["synthetic"]
model = ["least-squares"]
batch = [4]
q = ["0.9"]
frac_bits = [8]
epochs = [2]
seed = [0, 1, 2]
random_labels = [true]
algorithm = ["sgd", "sgd-prime"]
perturbation_length = [0, 1, 2, 3]
perturbation_bits = [3]
perturbation_scale = [1]
max_gd_steps = [16]
[phases]
code = false
[fixed]
early_stop = false
synthetic_n = 12
synthetic_features = 3
"#,
            "tiny",
        )
        .unwrap();
        let lines: Vec<ResultLine> = plan.runs().iter().map(|s| run_one(&plan, s)).collect();
        assert!(lines.iter().all(|l| l.report.is_some()), "{lines:?}");
        lines
    })
}

/// The mixed sweep with every SGD′ run's mean GD steps per call set to `f(ℓ·m, seed)`.
pub(super) fn with_steps(f: impl Fn(u64, u64) -> usize) -> Vec<rewind::sweep::ResultLine> {
    let mut lines = mixed_lines().to_vec();
    for l in &mut lines {
        let Some(p) = &l.spec.sgd_prime else { continue };
        let steps = f(p.random_bits(), l.spec.seed);
        let r = l.report.as_mut().unwrap();
        let calls = r.algorithm.as_ref().unwrap().calls;
        r.gd_steps.as_mut().unwrap().total = steps * calls;
    }
    lines
}

/// Claim (v) on runs whose answer is known: steps falling with ℓ·m hold, rising steps (the
/// opposite direction, which an average cannot set against an existence statement) and steps
/// that do not depend on ℓ·m are inconclusive, and runs with T < 2^b are not testable; SGD′ runs
/// never enter claims (i)–(iv), and a file without them has no (v).
#[test]
fn theorem_4_3_direction_is_judged_against_a_permutation_null() {
    use rewind::claims::{check, render, Verdict};
    let falling = check(
        &with_steps(|bits, seed| 40 - 3 * bits as usize + seed as usize),
        "f",
    )
    .unwrap();
    let s4 = falling.section_4.as_ref().expect("claim (v)");
    assert_eq!((s4.runs, s4.used), (12, 12));
    assert_eq!(s4.verdict, Verdict::Holds, "{}", s4.why);
    let [lo, hi] = s4.null_interval.unwrap();
    assert!(s4.pooled.unwrap() < lo && lo < 0.0 && hi > 0.0);
    assert_eq!(s4.levels.len(), 4);
    assert_eq!(s4.levels[3].random_bits, 9);
    assert!((s4.levels[0].mean_steps - 41.0).abs() < 1e-9);
    // Claims (i)–(iv) read the three SGD runs only.
    assert_eq!(falling.learning_signal.runs, 3);
    assert!(render(&falling).contains("(iv) "));

    let rising = check(
        &with_steps(|bits, seed| 10 + 2 * bits as usize + seed as usize),
        "r",
    )
    .unwrap();
    let s4 = rising.section_4.unwrap();
    assert_eq!(s4.verdict, Verdict::Inconclusive, "{}", s4.why);
    assert!(s4.why.contains("more randomness gives more GD steps"));
    assert_eq!((s4.perturbed, s4.outside_hypothesis), (9, 6));

    // T below 2^b: Ω(2^b) steps cannot show, whatever the trend.
    let mut capped = with_steps(|bits, seed| 40 - 3 * bits as usize + seed as usize);
    for l in &mut capped {
        if let Some(p) = &mut l.spec.sgd_prime {
            p.max_gd_steps = 15;
        }
    }
    let s4 = check(&capped, "c").unwrap().section_4.unwrap();
    assert_eq!(s4.verdict, Verdict::NotTestable, "{}", s4.why);
    assert_eq!(s4.t_below_2_to_b, 12);
    assert!(s4.jump.is_some() && s4.pooled_perturbed.is_some());

    // The seed decides, not ℓ·m: what noise alone gives.
    let flat = check(
        &with_steps(|bits, seed| 20 + [5, 0, 9][seed as usize] + (bits % 2) as usize),
        "n",
    )
    .unwrap();
    let s4 = flat.section_4.unwrap();
    assert_eq!(s4.verdict, Verdict::Inconclusive, "{}", s4.why);

    let sgd_only: Vec<_> = mixed_lines()
        .iter()
        .filter(|l| l.spec.sgd_prime.is_none())
        .cloned()
        .collect();
    let c = check(&sgd_only, "sgd").unwrap();
    assert!(c.section_4.is_none());
    assert!(!render(&c).contains("(v)"));
    assert!(!serde_json::to_string(&c).unwrap().contains("section_4"));
}

/// `rewind claims` on SGD′ results prints verdict (v) with its numbers, and says why (i)–(iv)
/// are left out.
#[test]
fn the_claims_command_prints_the_section_4_verdict() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("r.jsonl");
    let prime: Vec<_> = mixed_lines()
        .iter()
        .filter(|l| l.spec.sgd_prime.is_some())
        .cloned()
        .collect();
    std::fs::write(&path, rewind::sweep::to_jsonl(&prime)).unwrap();
    let out = super::common::rewind(&["claims", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("every run here is SGD′"), "{stdout}");
    assert!(!stdout.contains("(i) "), "{stdout}");
    for needle in [
        "(v) Theorem 4.3",
        "ℓ·m = 9",
        "ρ_s",
        "permutation null",
        "verdict: ",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in {stdout}");
    }
}

/// `rewind verify --algorithm sgd-prime` on its defaults: W₁,₁ bit exact, the code round trip
/// bit exact, and the run line names SGD′'s own stop.
#[test]
fn the_default_sgd_prime_run_rewinds_and_round_trips() {
    let out = super::common::rewind(&["verify", "--algorithm", "sgd-prime"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "initial_model_bit_exact: true",
        "roundtrip_bit_exact: true",
        "SGD′ stopped at its target: accuracy ≥ 1/(2(1 − ε)) = 0.5556 on X",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in {stdout}");
    }
    assert!(!stdout.contains("full accuracy"), "{stdout}");
}
