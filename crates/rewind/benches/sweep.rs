//! The same small plan swept with 1 and with 2 threads: the output bytes must be identical and
//! the speed-up is printed (target: at least 1.8× on two cores). Run with
//! `cargo bench --bench sweep`; it exits non-zero if the outputs differ.

use rayon::prelude::*;
use rewind::sweep::{run_one, to_jsonl, Plan};
use std::time::Instant;

const PLAN: &str = r#"
name = "bench-threads"
[axes]
data = ["digits"]
model = ["logistic"]
batch = [10, 20]
q = ["0.1", "0.3"]
backend = ["mpfr"]
epochs = [2]
seed = [0, 1]
[phases]
inversion = true
certification = true
code = true
[fixed]
early_stop = false
"#;

fn sweep(plan: &Plan, threads: usize) -> (String, f64) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool");
    let runs = plan.runs();
    let start = Instant::now();
    let lines: Vec<_> = pool.install(|| runs.par_iter().map(|r| run_one(plan, r)).collect());
    (to_jsonl(&lines), start.elapsed().as_secs_f64())
}

fn main() {
    let plan = Plan::parse(PLAN, "bench").expect("the bench plan parses");
    // One untimed pass warms caches and the allocator.
    let _ = sweep(&plan, 2);
    let (one, t1) = sweep(&plan, 1);
    let (two, t2) = sweep(&plan, 2);
    let runs = plan.runs().len();
    println!(
        "sweep of {runs} runs: 1 thread {t1:.2} s, 2 threads {t2:.2} s, speed-up {:.2}×",
        t1 / t2
    );
    if one != two {
        eprintln!("outputs differ between 1 and 2 threads");
        std::process::exit(1);
    }
    println!("outputs identical ({} bytes)", one.len());
}
