//! The three backends against each other: least squares, where the exact backend is the truth.

use rewind::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use rewind::sgd::{BackendChoice, StepFunction};

fn digits_least_squares(p: u32) -> Setup {
    Setup::new(&VerifyConfig {
        data: DataSource::Digits,
        model: ModelKind::LeastSquares,
        backend: BackendChoice::Exact,
        frac_bits: p,
        step_size: StepSize::Q("0.1".into()),
        ..VerifyConfig::default()
    })
    .unwrap()
}

/// Increments s_B of `other` against the exact backend at `samples` random models and batches:
/// the number of coordinates where they differ.
fn disagreements(p: u32, samples: u64, other: BackendChoice) -> usize {
    let s = digits_least_squares(p);
    let exact = StepFunction::new(&s.model, &s.data, s.alpha, BackendChoice::Exact);
    let other = StepFunction::new(&s.model, &s.data, s.alpha, other);
    let mut differ = 0;
    for k in 0..samples {
        let mut rng = rewind::rng::stream(k, rewind::rng::Stream::Init);
        let bound = s.data.grid.one();
        let w: Vec<i64> = (0..exact.dim())
            .map(|_| rewind::rng::uniform_in(&mut rng, -bound, bound))
            .collect();
        let perm = rewind::rng::permutation(&mut rng, s.data.n());
        let batch = &perm[..20];
        let e = exact.increment(&w, batch).unwrap();
        let o = other.increment(&w, batch).unwrap();
        differ += e.iter().zip(&o).filter(|(a, b)| a != b).count();
    }
    differ
}

#[test]
fn f64_agrees_with_exact_on_the_increment_at_p_32() {
    let df = disagreements(32, 40, BackendChoice::F64);
    assert_eq!(df, 0, "f64 differs from exact in {df} coordinates");
}

#[cfg(feature = "mpfr")]
#[test]
fn mpfr_agrees_with_exact_on_the_increment_at_p_32() {
    let dm = disagreements(32, 40, BackendChoice::Mpfr { precision: 128 });
    assert_eq!(dm, 0, "mpfr differs from exact in {dm} coordinates");
}

#[test]
fn f64_stops_agreeing_with_exact_once_the_grid_needs_more_than_53_bits() {
    // f64 carries 53 bits, so once s_B needs more than that relative precision it must start
    // to differ. Report where f64 stops agreeing.
    let mut first_f64_disagreement = None;
    for p in (36..=56).step_by(4) {
        let df = disagreements(p, 10, BackendChoice::F64);
        eprintln!(
            "p = {p}: f64 differs from exact in {df} of {} coordinates",
            10 * 65
        );
        if df > 0 && first_f64_disagreement.is_none() {
            first_f64_disagreement = Some(p);
        }
    }
    eprintln!("f64 first disagrees with exact at p = {first_f64_disagreement:?}");
    assert!(
        first_f64_disagreement.is_some(),
        "f64 agreed everywhere up to p = 56, which its 53-bit significand cannot do"
    );
}

#[cfg(feature = "mpfr")]
#[test]
fn mpfr_keeps_agreeing_with_exact_where_f64_stops() {
    for p in (36..=56).step_by(4) {
        let dm = disagreements(p, 10, BackendChoice::Mpfr { precision: 128 });
        assert_eq!(dm, 0, "mpfr differs from exact at p = {p}");
    }
}
