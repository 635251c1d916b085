//! The Appendix B step loop against a plain numpy implementation of the same loop, and one run
//! on one thread against two.
//!
//! The loop: the point of `plans/appendix-b-mnist5k.toml` with width 10, b = 50 and true labels
//! (GELU MLP on MNIST 5k, f64, α = 41943/2^22), 2 epochs = 200 steps, the accuracy on all 5,000
//! examples before every step (Algorithm 1's stop check): `rewind::sgd::run` after the setup.
//! It runs on a rayon pool of 1 thread and of 2 threads, alternately, 3 times each (the median
//! wall time is printed, and the runs must give the same trajectory). The peer,
//! `benches/peer/appendix_b.py` (numpy, OpenBLAS held to one thread), starts from the same
//! initial model, replays the same batches and times its steps alone; it is skipped with a
//! message when python3 or numpy is missing. The load average is printed with the numbers,
//! since the machine may be shared. Run with `cargo bench --bench appendix_b` from the
//! repository's root.

mod common;

use common::{cpu_seconds, load_average};
use rewind::config::Setup;
use rewind::sgd::{run, NoObserver, Trajectory};
use rewind::sweep::Plan;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const PLAN: &str = "plans/appendix-b-mnist5k.toml";
const EPOCHS: usize = 2;
const PASSES: usize = 3;

fn setup() -> Setup {
    let text = std::fs::read_to_string(PLAN).expect("the plan is in the repository");
    let plan = Plan::parse(&text, PLAN).expect("the plan parses");
    let spec = plan
        .runs()
        .into_iter()
        .find(|r| r.hidden == 10 && r.batch == 50 && !r.random_labels)
        .expect("the plan has width 10, b = 50, true labels");
    let mut config = spec.config(&plan).expect("the run's configuration");
    config.epochs = EPOCHS;
    Setup::new(&config).expect("MNIST 5k loads")
}

/// One forward run on a pool of `threads`: its trajectory, wall seconds and the process's CPU
/// seconds (all threads).
fn forward(s: &Setup, threads: usize) -> (Trajectory, f64, Option<f64>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool");
    let f = s.step_function();
    let cpu = cpu_seconds();
    let start = Instant::now();
    let t = pool
        .install(|| run(&f, &s.sgd_config(), s.init.clone(), &mut NoObserver))
        .expect("the run");
    let wall = start.elapsed().as_secs_f64();
    (t, wall, cpu.zip(cpu_seconds()).map(|(a, b)| b - a))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Writes the data set and the trajectory in the formats of `rewind verify --dump-data` and
/// `--dump-trajectory` (the fields the peer reads).
fn dump(s: &Setup, t: &Trajectory, dir: &Path) -> (String, String) {
    let data = dir.join("data.json");
    let traj = dir.join("trajectory.jsonl");
    let d = serde_json::json!({
        "format": 1,
        "frac_bits": s.data.grid.frac_bits(),
        "n": s.data.n(),
        "d": s.data.d(),
        "features": s.data.features,
        "labels": s.data.labels,
    });
    std::fs::write(&data, d.to_string()).expect("write the data");
    let mut lines = vec![serde_json::json!({
        "format": 1,
        "p": s.data.grid.frac_bits(),
        "alpha_num": s.alpha.num(),
        "alpha_den": 1u64 << s.alpha.shift(),
        "d": t.final_model.len(),
    })
    .to_string()];
    lines.extend(
        t.steps
            .iter()
            .map(|st| serde_json::to_string(st).expect("a step")),
    );
    lines.push(serde_json::json!({ "final": t.final_model }).to_string());
    std::fs::write(&traj, lines.join("\n") + "\n").expect("write the trajectory");
    (data.display().to_string(), traj.display().to_string())
}

/// The peer's output, or why it did not run.
fn peer(data: &str, traj: &str) -> Result<String, String> {
    let out = Command::new("python3")
        .args(["crates/rewind/benches/peer/appendix_b.py", data, traj])
        .env("OPENBLAS_NUM_THREADS", "1")
        .output()
        .map_err(|e| format!("python3 not found ({e})"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("failed")
            .to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    common::at_repository_root();
    let s = setup();
    println!(
        "appendix B step loop: {PLAN}, width 10, b = 50, true labels, {EPOCHS} epochs; load {}",
        load_average()
    );
    let (reference, _, _) = forward(&s, 1);
    let (mut one, mut two, mut cpu_one) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..PASSES {
        let (t1, s1, c1) = forward(&s, 1);
        let (t2, s2, _) = forward(&s, 2);
        assert!(
            t1 == reference && t2 == reference,
            "the thread count changed the run"
        );
        one.push(s1);
        two.push(s2);
        cpu_one.extend(c1);
    }
    let (one, two) = (median(one), median(two));
    let cpu_one = (!cpu_one.is_empty()).then(|| median(cpu_one));
    println!(
        "rewind: {} steps, 1 thread {one:.3} s ({} s of CPU), 2 threads {two:.3} s (medians of {PASSES}); load {}",
        reference.steps.len(),
        cpu_one.map_or("unknown".into(), |c| format!("{c:.2}")),
        load_average()
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (data, traj) = dump(&s, &reference, dir.path());
    match peer(&data, &traj) {
        Ok(out) => {
            let seconds: f64 = out
                .lines()
                .find_map(|l| l.strip_prefix("seconds: "))
                .and_then(|v| v.trim().parse().ok())
                .expect("the peer prints its seconds");
            for line in out.lines() {
                println!("numpy peer: {line}");
            }
            println!("load {}", load_average());
            let peer_cpu: Option<f64> = out
                .lines()
                .find_map(|l| l.strip_prefix("cpu_seconds: "))
                .and_then(|v| v.trim().parse().ok());
            let cpu_ratio = cpu_one
                .zip(peer_cpu)
                .map_or("unknown".into(), |(a, b)| format!("{:.2}", a / b));
            println!(
                "rewind ÷ numpy peer (1 thread): {:.2} in wall time, {cpu_ratio} in CPU time",
                one / seconds
            );
        }
        Err(why) => println!("numpy peer skipped: {why} (needs python3 with numpy)"),
    }
    println!("rewind 1 thread ÷ 2 threads: {:.2}", one / two);
}
