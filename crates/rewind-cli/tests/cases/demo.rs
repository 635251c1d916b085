//! `rewind demo`: the library demo's iterates, preimages and certificate checked against an
//! independent step function, the documented seeds, the SVG, and the binary.

use super::common::rewind;
use rewind::certify::Certificate;
use rewind::config::Setup;
use rewind::demo::{demo, demo_svg, distance, Demo, DemoConfig};
use rewind::grid::checked_add;
use rewind::invert::Termination;

fn config(seed: u64) -> DemoConfig {
    DemoConfig {
        seed,
        ..DemoConfig::default()
    }
}

/// Checks everything the demo claims with a step function of its own.
fn check(d: &Demo) {
    let setup = Setup::new(&d.config.verify_config()).unwrap();
    let f = setup.step_function();
    let batch: Vec<usize> = d.batch.iter().map(|e| e.index).collect();
    let seed = d.config.seed;

    // The step: W' = W − s_B(W).
    assert_eq!(f.increment(&d.w, &batch).unwrap(), d.increment);
    assert_eq!(f.step(&d.w, &batch).unwrap(), d.w_next, "seed {seed}");

    // The iterates: V₀ = W', V_{t+1} = W' + s_B(V_t), distances to W as stated.
    assert_eq!(d.iterates[0].point, d.w_next);
    for pair in d.iterates.windows(2) {
        assert_eq!(
            f.increment(&pair[0].point, &batch).unwrap(),
            pair[0].increment
        );
        assert_eq!(
            checked_add(&d.w_next, &pair[0].increment, "t").unwrap(),
            pair[1].point
        );
    }
    for v in &d.iterates {
        assert_eq!(v.distance, distance(&v.point, &d.w));
    }
    // Contraction up to rounding: V_{t+1} − W = s(V_t) − s(W), and for least squares
    // |s_k(U) − s_k(W)| ≤ α·‖H_B‖_∞·‖U − W‖_∞ + 1 ≤ q_∞·‖U − W‖_∞ + 1.
    let q_inf = d.q_inf.expect("least squares has a certified ∞-norm bound");
    for pair in d.iterates.windows(2) {
        assert!(
            pair[1].distance as f64 <= q_inf * pair[0].distance as f64 + 1.0 + 1e-9,
            "seed {seed}: {} after {} with q_∞ = {q_inf}",
            pair[1].distance,
            pair[0].distance
        );
    }

    // The end point: a verified preimage, W exactly when the demo says so.
    let last = d.iterates.last().unwrap();
    assert_eq!(d.termination, Termination::FixedPoint, "seed {seed}");
    assert_eq!(
        f.step(&last.point, &batch).unwrap(),
        d.w_next,
        "seed {seed}"
    );
    assert_eq!(d.fixed_point(), Some(last.point.as_slice()));
    assert_eq!(d.recovered, last.point == d.w);
    if d.recovered {
        assert_eq!(last.distance, 0);
    } else {
        assert!(last.distance > 0);
    }

    // The certificate: every listed point is a preimage, W and the fixed point among them.
    let preimages = d.preimages.as_ref().expect("certified");
    assert!(preimages.contains(&d.w), "seed {seed}");
    assert!(preimages.contains(&last.point), "seed {seed}");
    for p in preimages {
        assert_eq!(f.step(p, &batch).unwrap(), d.w_next, "seed {seed}: {p:?}");
    }
    match &d.certificate {
        Certificate::Unique => assert_eq!(preimages.len(), 1),
        Certificate::Ambiguous {
            preimages: k,
            index_of_logged,
        } => {
            assert_eq!(*k, preimages.len());
            assert!(*k >= 2);
            assert_eq!(preimages[*index_of_logged], d.w);
        }
        Certificate::Unknown(r) => panic!("seed {seed}: not certified: {r:?}"),
    }
    assert_eq!(d.other_preimages().len(), preimages.len() - 1);
}

#[test]
fn the_demo_iterates_to_a_verified_preimage_and_certifies_the_preimage_set() {
    for seed in 0..8 {
        check(&demo(&config(seed)).unwrap());
    }
}

#[test]
fn the_default_seed_shows_a_unique_step_recovered_bit_for_bit() {
    let d = demo(&DemoConfig::default()).unwrap();
    check(&d);
    assert_eq!(d.certificate, Certificate::Unique);
    assert!(d.recovered);
    assert_eq!(d.verdict(), "unique: W is the only preimage of W'");
}

#[test]
fn the_documented_collision_seeds_show_ambiguous_steps() {
    // --seed 7: two preimages, and the iteration walks 7 → 2 → 1 → 0 ulps to W.
    let d = demo(&config(7)).unwrap();
    check(&d);
    assert!(
        matches!(d.certificate, Certificate::Ambiguous { preimages: 2, .. }),
        "{:?}",
        d.certificate
    );
    assert!(d.recovered);
    let distances: Vec<u64> = d.iterates.iter().map(|v| v.distance).collect();
    assert!(distances.windows(2).all(|w| w[1] < w[0]), "{distances:?}");
    assert_eq!(distances.last(), Some(&0));
    assert!(d.verdict().starts_with("ambiguous: W' has 2 preimages: "));

    // --seed 14: the inverter lands on the other preimage.
    let d = demo(&config(14)).unwrap();
    check(&d);
    assert!(matches!(d.certificate, Certificate::Ambiguous { .. }));
    assert!(!d.recovered);
    assert!(d.verdict().ends_with(", not W"), "{}", d.verdict());

    // --seed 19: four preimages.
    let d = demo(&config(19)).unwrap();
    check(&d);
    assert!(
        matches!(d.certificate, Certificate::Ambiguous { preimages: 4, .. }),
        "{:?}",
        d.certificate
    );
}

#[test]
fn the_svg_has_the_picture_and_its_legend() {
    let d = demo(&config(7)).unwrap();
    let svg = demo_svg(&d);
    assert!(svg.starts_with("<svg"));
    assert!(svg.trim_end().ends_with("</svg>"));
    for word in [
        "legend",
        "ambiguous — W′ has 2 preimages",
        "the step W → W′",
        "iterates V₀ = W′",
        "another preimage of W′",
        "other preimage",
        "axes in ulps",
        r#"id="step""#,
        r#"id="iterates""#,
    ] {
        assert!(svg.contains(word), "missing {word}");
    }
    assert_eq!(svg.matches(r#"class="other-preimage""#).count(), 1);
    assert_eq!(svg.matches(r#"class="iterate""#).count(), d.iterates.len());
}

#[test]
fn a_grid_too_fine_to_see_is_refused() {
    let err = demo(&DemoConfig {
        frac_bits: 12,
        ..DemoConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("--frac-bits 12"), "{err}");
}

#[test]
fn the_binary_prints_the_iterates_and_the_verdict_and_writes_the_svg() {
    let dir = tempfile::TempDir::new().unwrap();
    let svg = dir.path().join("demo.svg");
    let out = rewind(&["demo", "--seed", "7", "--svg", svg.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for text in [
        "p = 5, 1 ulp = 2^-5",
        "q = α·L_B = 0.4500",
        "  W       = ",
        "  s_B(W)  = ",
        "  W'      = ",
        "  V0   = ",
        "distance to W: 7 ulps",
        "distance to W: 0 ulps  fixed point",
        "verdict: ambiguous: W' has 2 preimages: ",
        "the inverter found ",
    ] {
        assert!(stdout.contains(text), "missing {text:?} in\n{stdout}");
    }
    assert!(stdout.contains(&format!("picture written to {}", svg.display())));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"));
    assert!(text.trim_end().ends_with("</svg>"));
    for word in ["legend", "the step W → W′", "iterates", "other preimage"] {
        assert!(text.contains(word), "missing {word}");
    }

    let out = rewind(&["demo", "--svg", svg.to_str().unwrap()]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("verdict: unique: W is the only preimage of W'"),
        "{stdout}"
    );
}

#[test]
fn a_bad_flag_value_is_a_one_line_error() {
    let dir = tempfile::TempDir::new().unwrap();
    let svg = dir.path().join("demo.svg");
    for (flag, value) in [("--q", "2"), ("--frac-bits", "12"), ("--seed", "x")] {
        let out = rewind(&["demo", flag, value, "--svg", svg.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        assert!(
            !out.status.success() && code != Some(101),
            "{flag} {value}: {code:?}"
        );
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(flag), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    assert!(!svg.exists());
}
