//! The audit of a 10,000-step log against the forward run that wrote it, on 1 and 2 threads.
//!
//! The run: logistic regression on the bundled digits (3 vs 8), f64, p = 32, b = 20, q = 0.1,
//! no early stop, epochs enough for 10,000 steps, seed 0: `rewind::sgd::run` writing its log
//! (a checkpoint on every step, K = 1, and on every 100th, K = 100) into memory. Timed: the
//! forward run alone (no log), the audit with the backward walk (replay + inversion of every
//! step) and the audit's forward replay alone (`rewind audit --no-backward`), each on a
//! rayon pool of 1 and of 2 threads, median of 3. Every audit must verify and give the same
//! report on both pools. The load average is printed with the numbers, since the machine may
//! be shared. Run with `cargo bench -p rewind --bench audit` from the repository's root.

mod common;

use common::load_average;
use rewind::audit::{audit, AuditOptions};
use rewind::config::{Setup, StepSize, VerifyConfig};
use rewind::log::{header, read_log, TrajectoryWriter};
use rewind::sgd::{run, NoObserver};
use std::time::Instant;

const STEPS: usize = 10_000;
const PASSES: usize = 3;

fn setup() -> Setup {
    let probe = Setup::new(&VerifyConfig {
        step_size: StepSize::Q("0.1".into()),
        stop_at_full_accuracy: false,
        ..VerifyConfig::default()
    })
    .expect("the digits load");
    let per_epoch = probe.data.n() / probe.config.batch;
    let mut config = probe.config.clone();
    config.epochs = STEPS.div_ceil(per_epoch);
    Setup::new(&config).expect("the digits load")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn timed<T>(threads: usize, f: impl FnOnce() -> T + Send) -> (T, f64)
where
    T: Send,
{
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool");
    let start = Instant::now();
    let out = pool.install(f);
    (out, start.elapsed().as_secs_f64())
}

fn main() {
    let s = setup();
    let f = s.step_function();
    let steps = s.config.epochs * (s.data.n() / s.config.batch);
    println!(
        "audit bench: logistic on digits 3 vs 8, n = {}, b = {}, p = 32, α = {}, {steps} steps; load average {}",
        s.data.n(),
        s.config.batch,
        s.alpha,
        load_average()
    );
    for threads in [1, 2] {
        let fwd: Vec<f64> = (0..PASSES)
            .map(|_| {
                timed(threads, || {
                    run(&f, &s.sgd_config(), s.init.clone(), &mut NoObserver).expect("the run")
                })
                .1
            })
            .collect();
        println!("forward run, {threads} thread(s): {:.2} s", median(fwd));
    }
    for every in [1, 100] {
        let mut w =
            TrajectoryWriter::with_checkpoints(Vec::new(), "log", &header(&s, Some(every)), every)
                .expect("a log header");
        run(&f, &s.sgd_config(), s.init.clone(), &mut w).expect("the run");
        let bytes = w.into_inner();
        let log = read_log(&bytes[..], "log").expect("the log reads");
        let mut reports = Vec::new();
        for (name, backward) in [("replay only", false), ("replay + walk back", true)] {
            for threads in [1, 2] {
                let opts = AuditOptions {
                    certify: None,
                    tolerance: 0,
                    shard: None,
                    max_iterations: rewind::invert::DEFAULT_MAX_ITERATIONS,
                    backward,
                };
                let times: Vec<f64> = (0..PASSES)
                    .map(|_| {
                        let (r, t) = timed(threads, || audit(&f, &log, &opts).expect("the audit"));
                        assert!(r.verified, "the log verifies");
                        reports.push((backward, r));
                        t
                    })
                    .collect();
                println!(
                    "audit, K = {every} ({} MB log), {name}, {threads} thread(s): {:.2} s",
                    bytes.len() / 1_000_000,
                    median(times)
                );
            }
        }
        for pair in reports.windows(2) {
            if pair[0].0 == pair[1].0 {
                assert_eq!(pair[0].1, pair[1].1, "the same report on 1 and 2 threads");
            }
        }
    }
}
