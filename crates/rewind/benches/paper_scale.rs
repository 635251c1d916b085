//! The cost of one step at the paper's size, and what the full Appendix B grid would need.
//!
//! The paper trains on 60,000 examples of 784 pixels for 300 epochs. This bench reads
//! `plans/appendix-b-fashion-mnist.toml` (full Fashion-MNIST through the IDX loader, from
//! Debian's `dataset-fashion-mnist` package), builds each width's setup once, and times the first
//! [`STEPS`] steps of `rewind::sgd::run` (the stop check over all 60,000 examples, then the step)
//! at every batch size, on one thread and on two. From the per-step costs it prints the CPU time
//! of each of the plan's 18 runs at 300 epochs, their sum, and the wall time of the grid on a
//! 64-core machine through `rewind sweep --shard`. What a run holds in memory is measured by
//! `cargo bench --bench memory`. It prints a message and stops when the data
//! set is not installed. Run with `cargo bench --bench paper_scale` from the repository's root.

mod common;

use common::{cpu_seconds, load_average};
use rewind::config::Setup;
use rewind::sgd::{run, LoggedStep, Observer};
use rewind::sweep::Plan;
use rewind::Error;
use std::path::Path;
use std::time::Instant;

const PLAN: &str = "plans/appendix-b-fashion-mnist.toml";
/// Steps timed per (width, batch size): enough that one step's noise averages out, few enough
/// that nine points fit in a few minutes.
const STEPS: usize = 12;
const EPOCHS: u64 = 300;
const CORES: u64 = 64;

/// Ends the run after `left` steps with an error the bench expects: `run` has no step limit.
struct StopAfter {
    left: usize,
}

impl Observer for StopAfter {
    fn on_step(&mut self, _: &LoggedStep) -> Result<(), Error> {
        self.left -= 1;
        if self.left == 0 {
            return Err(Error::Config("enough steps timed".into()));
        }
        Ok(())
    }
    fn on_final(&mut self, _: &[i64]) -> Result<(), Error> {
        Ok(())
    }
}

/// Seconds per step of the first [`STEPS`] steps on `threads`: (wall, CPU of the process).
fn per_step(s: &Setup, batch: usize, threads: usize) -> (f64, f64) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool");
    let f = s.step_function();
    let mut cfg = s.sgd_config();
    cfg.batch = batch;
    cfg.n_used = s.data.n() / batch * batch;
    let cpu = cpu_seconds().unwrap_or(f64::NAN);
    let start = Instant::now();
    let out = pool.install(|| run(&f, &cfg, s.init.clone(), &mut StopAfter { left: STEPS }));
    let wall = start.elapsed().as_secs_f64();
    match out {
        Err(Error::Config(m)) if m == "enough steps timed" => {}
        other => panic!("the run should stop after {STEPS} steps: {other:?}"),
    }
    let cpu = cpu_seconds().unwrap_or(f64::NAN) - cpu;
    (wall / STEPS as f64, cpu / STEPS as f64)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    common::at_repository_root();
    let text = std::fs::read_to_string(PLAN).expect("the plan is in the repository");
    let plan = Plan::parse(&text, PLAN).expect("the plan parses");
    let runs = plan.runs();
    let data = Path::new(&runs[0].data);
    if !data.exists() {
        println!(
            "paper scale skipped: {} is missing (install Debian's dataset-fashion-mnist)",
            data.display()
        );
        return;
    }
    println!(
        "paper scale: {PLAN}, {STEPS} steps per point; load {}",
        load_average()
    );
    let mut widths: Vec<usize> = runs.iter().map(|r| r.hidden).collect();
    widths.sort_unstable();
    widths.dedup();
    let mut batches: Vec<usize> = runs.iter().map(|r| r.batch).collect();
    batches.sort_unstable();
    batches.dedup();
    let mut total_cpu = 0.0;
    let mut longest: (f64, String) = (0.0, String::new());
    // The longest run's wall time with two threads each, at the speed-up measured here.
    let mut longest_on_two = 0.0f64;
    for &width in &widths {
        let spec = runs
            .iter()
            .find(|r| r.hidden == width && !r.random_labels)
            .expect("a run of this width");
        let start = Instant::now();
        let s = Setup::new(&spec.config(&plan).expect("the run's configuration"))
            .expect("Fashion-MNIST loads");
        let setup = start.elapsed().as_secs_f64();
        let n = s.data.n() as u64;
        for &b in &batches {
            let (wall1, cpu1) = per_step(&s, b, 1);
            let (wall2, _) = per_step(&s, b, 2);
            let steps = EPOCHS * (n / b as u64);
            let hours = steps as f64 * cpu1 / 3600.0;
            // Both kinds of labels cost the same per step.
            let runs_here = runs
                .iter()
                .filter(|r| r.hidden == width && r.batch == b)
                .count();
            total_cpu += hours * runs_here as f64;
            println!(
                "width {width:>2}, b = {b:>3}: {:.1} ms per step on 1 thread ({:.1} ms of CPU), {:.1} ms on 2 (×{:.2}); {EPOCHS} epochs = {steps} steps = {hours:.1} CPU-hours per run; setup {setup:.1} s; load {}",
                wall1 * 1e3,
                cpu1 * 1e3,
                wall2 * 1e3,
                wall1 / wall2,
                load_average()
            );
            longest_on_two = longest_on_two.max(hours * wall2 / wall1);
            if hours > longest.0 {
                longest = (hours, format!("width {width}, b = {b}"));
            }
        }
    }
    println!(
        "the {} runs at {EPOCHS} epochs: {total_cpu:.0} CPU-hours; the longest run ({}) {:.1} CPU-hours",
        runs.len(),
        longest.1,
        longest.0
    );
    let threads_per_run = (CORES / runs.len() as u64).max(1);
    println!(
        "on {CORES} cores as {} shards of {threads_per_run} threads: at least {:.1} hours of wall time (the longest run on {threads_per_run} threads at perfect speed-up), and at least {:.1} hours (all the CPU-hours spread over every core)",
        runs.len(),
        longest.0 / threads_per_run as f64,
        total_cpu / CORES as f64
    );
    println!(
        "as {} shards of 2 threads ({} cores) at the 2-thread speed-ups measured above: {longest_on_two:.1} hours of wall time",
        runs.len(),
        2 * runs.len()
    );
}
