//! The inversion phase of a run (every step inverted, then the walk back from the final model
//! with the hints) against the forward run, with and without the f64 predictor. Digits 3 vs 8,
//! b = 20, p = 32: logistic regression on MPFR (128 bits, with the `mpfr` feature) and on f64
//! for reference, 10 epochs; least squares on the exact backend, 5 epochs; q ∈ {0.05, 0.2, 0.45}.
//!
//! Each configuration prints one table row: the forward run and the inversion phase (median
//! wall time over at least 2 s of passes, one thread), their ratio with the predictor and
//! without it (in brackets the ratio of CPU times, which a busy machine does not distort), the own-backend and
//! predictor evaluations per inversion (each step is inverted twice: once to derive the hints,
//! once by the walk back), and the hinted steps with and without the predictor.
//! Run with `cargo bench --features mpfr --bench invert`.

mod common;

use common::cpu_seconds;
use criterion::{criterion_group, criterion_main, Criterion};
use rewind::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use rewind::reconstruct::{analyse, hints_of, rewind};
use rewind::sgd::{run, BackendChoice, NoObserver, StepFunction, Trajectory};
use std::time::{Duration, Instant};

fn setup(model: ModelKind, backend: BackendChoice, epochs: usize, q: &str) -> Setup {
    Setup::new(&VerifyConfig {
        data: DataSource::Digits,
        model,
        classes: Some(vec![3, 8]),
        backend,
        step_size: StepSize::Q(q.into()),
        batch: 20,
        epochs,
        stop_at_full_accuracy: false,
        ..VerifyConfig::default()
    })
    .expect("the digits load")
}

/// Inverts every step, derives the hints and walks back; returns the hinted steps.
fn inversion_phase(f: &StepFunction, t: &Trajectory, max_it: u32) -> usize {
    let records = analyse(f, t, max_it).expect("inversions");
    let hints = hints_of(&records);
    let batches: Vec<Vec<usize>> = t.steps.iter().map(|s| s.batch.clone()).collect();
    let back = rewind(f, &t.final_model, &batches, &hints, max_it).expect("the walk back");
    assert_eq!(back.first().map(Vec::as_slice), Some(t.initial_model()));
    hints.hints.len()
}

/// A pass's cost: median wall time, and mean CPU time of the process where /proc tells it.
#[derive(Clone, Copy)]
struct Cost {
    wall: Duration,
    cpu: Option<f64>,
}

/// Times `f` over passes that together last at least `total` (at least 3 passes). On a shared
/// machine a pass can be preempted: the median wall time ignores the passes that were, and the
/// CPU time does not count the waiting at all.
fn time_per_pass(total: Duration, mut f: impl FnMut()) -> Cost {
    let start = Instant::now();
    let cpu_start = cpu_seconds();
    let mut times = Vec::new();
    while times.len() < 3 || start.elapsed() < total {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    let cpu = cpu_start
        .zip(cpu_seconds())
        .map(|(a, b)| (b - a) / times.len() as f64);
    times.sort();
    Cost {
        wall: times[times.len() / 2],
        cpu,
    }
}

/// a ÷ b in wall time, and in CPU time where known.
fn ratio(a: Cost, b: Cost) -> String {
    let wall = a.wall.as_secs_f64() / b.wall.as_secs_f64();
    match a.cpu.zip(b.cpu) {
        Some((x, y)) if y > 0.0 => format!("{wall:.2} ({:.2})", x / y),
        _ => format!("{wall:.2}"),
    }
}

fn bench(c: &mut Criterion) {
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a thread pool");
    eprintln!("| model | backend | steps | q | forward ms | inversion phase ms | ÷ forward (CPU) | ÷ forward without predictor (CPU) | own evaluations / inversion | predictor evaluations / inversion | own / inversion without predictor | hinted steps (without predictor) |");
    eprintln!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut configs = vec![
        (ModelKind::LeastSquares, BackendChoice::Exact, 5),
        (ModelKind::Logistic, BackendChoice::F64, 10),
    ];
    if cfg!(feature = "mpfr") {
        configs.insert(
            1,
            (
                ModelKind::Logistic,
                BackendChoice::Mpfr { precision: 128 },
                10,
            ),
        );
    }
    for (model, backend, epochs) in configs {
        for q in ["0.05", "0.2", "0.45"] {
            let s = setup(model, backend, epochs, q);
            let max_it = s.config.max_iterations;
            let f = s.step_function();
            let plain = s.step_function().with_predictor(false);
            let t = run(&f, &s.sgd_config(), s.init.clone(), &mut NoObserver).expect("a run");
            let steps = t.steps.len();
            let span = Duration::from_secs(2);
            let forward = || {
                std::hint::black_box(
                    run(&f, &s.sgd_config(), s.init.clone(), &mut NoObserver).expect("a run"),
                );
            };
            let fwd = time_per_pass(span, forward);
            let (own0, pred0) = (f.own_evaluations(), f.predictor_evaluations());
            let hinted = one_thread.install(|| inversion_phase(&f, &t, max_it));
            let own = (f.own_evaluations() - own0) as f64 / (2 * steps) as f64;
            let pred = (f.predictor_evaluations() - pred0) as f64 / (2 * steps) as f64;
            let own_plain0 = plain.own_evaluations();
            let hinted_plain = one_thread.install(|| inversion_phase(&plain, &t, max_it));
            let own_plain = (plain.own_evaluations() - own_plain0) as f64 / (2 * steps) as f64;
            let inv = time_per_pass(span, || {
                one_thread.install(|| std::hint::black_box(inversion_phase(&f, &t, max_it)));
            });
            let inv_plain = time_per_pass(span, || {
                one_thread.install(|| std::hint::black_box(inversion_phase(&plain, &t, max_it)));
            });
            // The forward run once more, after the inversions, against drifts in the load.
            let again = time_per_pass(span, forward);
            let fwd = Cost {
                wall: (fwd.wall + again.wall) / 2,
                cpu: fwd.cpu.zip(again.cpu).map(|(a, b)| (a + b) / 2.0),
            };
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            eprintln!(
                "| {} | {} | {steps} | {q} | {:.1} | {:.1} | {} | {} | {:.2} | {:.2} | {:.2} | {hinted} ({hinted_plain}) |",
                f.model().name(),
                backend.name(),
                ms(fwd.wall),
                ms(inv.wall),
                ratio(inv, fwd),
                ratio(inv_plain, fwd),
                own,
                pred,
                own_plain,
            );
            if q != "0.2" {
                continue;
            }
            let mut group = c.benchmark_group(format!(
                "invert-{}-{}-q{q}",
                f.model().name(),
                backend.name()
            ));
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(5));
            group.bench_function("forward-run", |b| {
                b.iter(|| run(&f, &s.sgd_config(), s.init.clone(), &mut NoObserver))
            });
            group.bench_function("inversion-phase", |b| {
                b.iter(|| one_thread.install(|| inversion_phase(&f, &t, max_it)))
            });
            group.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
