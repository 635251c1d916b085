//! Certification cost per step against one forward step. Logistic regression on digits 3 vs 8
//! (d = 65, backends f64 and mpfr) and softmax regression on all ten digits (d = 650, f64), at
//! q_∞ = α·L_∞ ∈ {0.05, 0.2, 0.45}, b = 20, one epoch.
//!
//! Besides criterion's timings, each configuration prints one table row: forward and
//! certification time per step (median of at least 31 passes), their ratio, the gradient evaluations of
//! certification per step, the share of `unknown` steps and the mean number of free coordinates.
//! Beside the ratio of median wall times it prints the ratio of the passes' CPU times, which a
//! busy machine does not distort.
//! Run with `cargo bench --bench certify`.

mod common;

use common::cpu_seconds;
use criterion::{criterion_group, criterion_main, Criterion};
use rewind::certify::{certify, Certificate, DEFAULT_BUDGET};
use rewind::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use rewind::sgd::{run, BackendChoice, NoObserver, Trajectory};
use std::time::{Duration, Instant};

fn setup(model: ModelKind, backend: BackendChoice, q_inf: &str) -> Setup {
    Setup::new(&VerifyConfig {
        data: DataSource::Digits,
        model,
        classes: (model == ModelKind::Logistic).then(|| vec![3, 8]),
        backend,
        step_size: StepSize::QInf(q_inf.into()),
        batch: 20,
        epochs: 1,
        stop_at_full_accuracy: false,
        ..VerifyConfig::default()
    })
    .expect("the digits load")
}

fn forward_pass(s: &Setup, t: &Trajectory) {
    let f = s.step_function();
    for st in &t.steps {
        std::hint::black_box(f.step(&st.w, &st.batch).expect("a step"));
    }
}

fn certify_pass(s: &Setup, t: &Trajectory) -> Vec<(Certificate, u64, usize)> {
    let f = s.step_function();
    t.steps
        .iter()
        .enumerate()
        .map(|(k, st)| {
            let (c, e) =
                certify(&f, t.model_after(k), &st.batch, &st.w, DEFAULT_BUDGET).expect("certify");
            let free = e.result.as_ref().map_or(0, |en| en.free);
            (c, e.evaluations, free)
        })
        .collect()
}

/// The median wall time of at least 31 passes lasting at least 2 s in all, and their mean CPU
/// time where /proc tells it (in 10 ms ticks, hence the 2 s).
fn median_time(mut f: impl FnMut()) -> (Duration, Option<f64>) {
    let start = Instant::now();
    let cpu_start = cpu_seconds();
    let mut times = Vec::new();
    while times.len() < 31 || start.elapsed() < Duration::from_secs(2) {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    let cpu = cpu_start
        .zip(cpu_seconds())
        .map(|(a, b)| (b - a) / times.len() as f64);
    times.sort();
    (times[times.len() / 2], cpu)
}

fn bench(c: &mut Criterion) {
    eprintln!("| model | backend | d | q_∞ | forward µs/step | certify µs/step | ratio | ratio of CPU times | evaluations/step | unknown | mean free |");
    eprintln!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mpfr = BackendChoice::Mpfr { precision: 128 };
    let configs = [
        ("logistic", ModelKind::Logistic, BackendChoice::F64),
        ("logistic", ModelKind::Logistic, mpfr),
        ("softmax", ModelKind::Softmax, BackendChoice::F64),
    ];
    for (name, model, backend) in configs {
        for q in ["0.05", "0.2", "0.45"] {
            let s = setup(model, backend, q);
            let f = s.step_function();
            let t = run(&f, &s.sgd_config(), s.init.clone(), &mut NoObserver).expect("a run");
            let steps = t.steps.len() as f64;
            let (fwd, fwd_cpu) = median_time(|| forward_pass(&s, &t));
            let (cert, cert_cpu) = median_time(|| {
                std::hint::black_box(certify_pass(&s, &t));
            });
            let cpu_ratio = match fwd_cpu.zip(cert_cpu) {
                Some((a, b)) if a > 0.0 => format!("{:.2}", b / a),
                _ => "–".into(),
            };
            let results = certify_pass(&s, &t);
            let unknown = results
                .iter()
                .filter(|r| matches!(r.0, Certificate::Unknown(_)))
                .count();
            let evals: u64 = results.iter().map(|r| r.1).sum();
            let free: usize = results.iter().map(|r| r.2).sum();
            eprintln!(
                "| {name} | {} | {} | {q} | {:.0} | {:.0} | {:.2} | {cpu_ratio} | {:.2} | {:.1}% | {:.2} |",
                backend.name(),
                f.dim(),
                fwd.as_secs_f64() * 1e6 / steps,
                cert.as_secs_f64() * 1e6 / steps,
                cert.as_secs_f64() / fwd.as_secs_f64(),
                evals as f64 / steps,
                100.0 * unknown as f64 / steps,
                free as f64 / steps,
            );
            let mut group = c.benchmark_group(format!("{name}-{}-q{q}", backend.name()));
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(3));
            group.bench_function("forward-epoch", |b| b.iter(|| forward_pass(&s, &t)));
            group.bench_function("certify-epoch", |b| b.iter(|| certify_pass(&s, &t)));
            group.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
