//! `rewind demo`: the library demo's iterates, preimages and certificate checked against an
//! independent step function, the documented seeds, the SVG and its tick labels, the failing
//! iteration from q = 1 on, and the binary.

use super::common::rewind;
use rewind::certify::Certificate;
use rewind::config::Setup;
use rewind::demo::{demo, demo_svg, distance, Demo, DemoConfig, Ending, ESCAPE_ULPS};
use rewind::grid::checked_add;
use rewind::model::Smoothness;
use rewind::num_rational::BigRational;
use rewind::num_traits::One;
use rewind::sgd::{BackendChoice, StepFunction};

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
    assert_eq!(d.ending, Ending::FixedPoint, "seed {seed}");
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
        "axes: w₁ rightwards, w₂ upwards, ticks in real units",
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
    for (flag, value) in [
        ("--q", "0"),
        ("--q", "-1"),
        ("--q", "nan"),
        ("--q", "inf"),
        ("--q", "4.5"),
        ("--frac-bits", "12"),
        ("--seed", "x"),
    ] {
        let arg = format!("{flag}={value}");
        let out = rewind(&["demo", &arg, "--svg", svg.to_str().unwrap()]);
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

/// The tick labels of one axis (`class="tick-x"` or `"tick-y"`): position along the axis and
/// text, in drawing order.
fn ticks(svg: &str, class: &str) -> Vec<(f64, String)> {
    let attr = |tag: &str, name: &str| -> f64 {
        let at = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        let end = at + tag[at..].find('"').unwrap();
        tag[at..end].parse().unwrap()
    };
    svg.split("<text ")
        .filter(|t| t.starts_with(&format!("class=\"{class}\"")))
        .map(|t| {
            let text = &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()];
            let pos = attr(t, if class == "tick-x" { "x" } else { "y" });
            (pos, text.to_string())
        })
        .collect()
}

/// Both axes carry at least three tick labels, distinct, each a grid value k·2^-p inside the
/// window, evenly spaced, and far enough apart not to overlap at the figure's font size.
fn check_ticks(d: &Demo) {
    let svg = demo_svg(d);
    let p = d.config.frac_bits as i32;
    let map = &d.collisions;
    for (class, k) in [("tick-x", 0), ("tick-y", 1)] {
        let ticks = ticks(&svg, class);
        let what = format!("{class}, seed {}, q {}, p {p}", d.config.seed, d.config.q);
        assert!(ticks.len() >= 3 && ticks.len() <= 9, "{what}: {ticks:?}");
        let raws: Vec<i64> = ticks
            .iter()
            .map(|(_, t)| {
                let v: f64 = t.parse().unwrap();
                let raw = v * 2f64.powi(p);
                assert_eq!(raw, raw.round(), "{what}: {t} is not on the grid");
                raw as i64
            })
            .collect();
        let mut distinct = raws.clone();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            raws.len(),
            "{what}: duplicate labels {raws:?}"
        );
        for r in &raws {
            assert!(
                (r - map.center[k]).abs() <= map.half,
                "{what}: {r} off the window"
            );
        }
        let steps: Vec<i64> = raws.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            steps.iter().all(|&s| s == steps[0] && s != 0),
            "{what}: {raws:?}"
        );
        // Horizontal labels need their width (11 px digits are under 7 px wide), vertical ones
        // their height.
        let widest = ticks.iter().map(|(_, t)| t.len()).max().unwrap() as f64 * 7.0;
        let room = if class == "tick-x" { widest } else { 12.0 };
        for w in ticks.windows(2) {
            assert!(
                (w[1].0 - w[0].0).abs() >= room,
                "{what}: {:?} and {:?} overlap",
                w[0],
                w[1]
            );
        }
    }
}

#[test]
fn the_svg_has_distinct_readable_tick_labels_on_both_axes() {
    for (seed, q, frac_bits) in [
        (7, "0.45", 5),
        (0, "0.45", 5),
        (19, "0.45", 5),
        (3, "0.45", 8),
        (1, "0.45", 2),
        (5, "0.9", 6),
        (0, "1.5", 5),
        (2, "3.9", 8),
    ] {
        let d = demo(&DemoConfig {
            seed,
            q: q.into(),
            frac_bits,
        })
        .unwrap();
        check_ticks(&d);
    }
}

/// A step function of its own with the demo's α, for the runs `rewind verify` refuses.
fn check_failing(d: &Demo) {
    let setup = d.config.setup().unwrap();
    let Smoothness::Certified { bound, .. } = &setup.smoothness else {
        panic!("least squares has a certified bound");
    };
    // α·L_B ≥ 1: the premise of Lemma 2.1 really fails.
    assert!(d.alpha.to_rational() * bound >= BigRational::one());
    assert!(!d.contractive);
    let f = StepFunction::new(&setup.model, &setup.data, d.alpha, BackendChoice::Exact);
    let batch: Vec<usize> = d.batch.iter().map(|e| e.index).collect();
    assert_eq!(f.step(&d.w, &batch).unwrap(), d.w_next);
    assert_eq!(d.iterates[0].point, d.w_next);
    for pair in d.iterates.windows(2) {
        let s = f.increment(&pair[0].point, &batch).unwrap();
        assert_eq!(s, pair[0].increment);
        assert_eq!(checked_add(&d.w_next, &s, "t").unwrap(), pair[1].point);
        // No iterate before the last is a fixed point.
        assert_ne!(f.step(&pair[0].point, &batch).unwrap(), d.w_next);
    }
    for v in &d.iterates {
        assert_eq!(v.distance, distance(&v.point, &d.w));
    }
    assert!(d.ending.failed(), "{:?}", d.ending);
    match d.ending {
        Ending::Diverges {
            iterations,
            distance,
        } => {
            assert_eq!(d.iterates.len(), iterations as usize + 1);
            assert_eq!(d.iterates.last().unwrap().distance, distance);
            assert!(distance > ESCAPE_ULPS);
        }
        Ending::Cycle { period } => {
            let last = &d.iterates.last().unwrap().point;
            let n = d.iterates.len();
            assert_eq!(&d.iterates[n - 1 - period as usize].point, last);
        }
        Ending::Cap | Ending::FixedPoint => {}
    }
}

#[test]
fn from_q_1_5_on_the_demo_shows_an_iteration_that_does_not_contract() {
    // Seeds 0, 19 and 29 are the runs with a step whose iteration fails at q = 1.5.
    for seed in [0, 19, 29] {
        let d = demo(&DemoConfig {
            seed,
            q: "1.5".into(),
            ..DemoConfig::default()
        })
        .unwrap();
        check_failing(&d);
        assert!(
            matches!(d.ending, Ending::Diverges { .. }),
            "{:?}",
            d.ending
        );
        let note = d.contraction().unwrap();
        assert!(
            note.starts_with("the iteration does not contract at q = 1.5: it diverges"),
            "seed {seed}: {note}"
        );
    }
    for seed in 0..4 {
        let d = demo(&DemoConfig {
            seed,
            q: "3.9".into(),
            ..DemoConfig::default()
        })
        .unwrap();
        check_failing(&d);
        assert!(d
            .contraction()
            .unwrap()
            .starts_with("the iteration does not contract"));
    }
}

#[test]
fn the_binary_labels_the_failing_iteration_and_exits_0() {
    let dir = tempfile::TempDir::new().unwrap();
    let svg = dir.path().join("demo.svg");
    for (args, said) in [
        (
            vec!["--q", "1.5"],
            "→ the iteration does not contract at q = 1.5: it diverges: ",
        ),
        (
            vec!["--q", "1.5", "--seed", "19"],
            "→ the iteration does not contract at q = 1.5: it diverges: ",
        ),
        (
            vec!["--q", "1.5", "--seed", "29"],
            "→ the iteration does not contract at q = 1.5: it diverges: ",
        ),
        (
            vec!["--q", "3.9"],
            "→ the iteration does not contract at q = 3.9: it diverges: ",
        ),
        (
            vec!["--q", "1"],
            "→ q = 1 ≥ 1 voids the contraction guarantee, yet the iteration reached a fixed point",
        ),
    ] {
        let mut argv = vec!["demo"];
        argv.extend(&args);
        argv.extend(["--svg", svg.to_str().unwrap()]);
        let out = rewind(&argv);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(said),
            "{args:?}: missing {said:?} in\n{stdout}"
        );
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains(r#"class="contraction""#), "{args:?}");
        let title = if args[1] == "1" {
            "no contraction guaranteed, yet the iteration reached a fixed point"
        } else {
            "the iteration does not contract — it diverges"
        };
        assert!(text.contains(title), "{args:?}: no title {title:?}");
    }
}
