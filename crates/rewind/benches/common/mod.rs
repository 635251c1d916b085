//! What the benches share: the process's CPU time, which a busy machine does not inflate the
//! way it inflates wall time, and passes timed in it.

/// The process's CPU seconds, all threads, user and system (`CLOCK_PROCESS_CPUTIME_ID`, which
/// resolves nanoseconds where /proc/self/stat counts 10 ms ticks); `None` where it is missing.
pub fn cpu_seconds() -> Option<f64> {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    (rc == 0).then_some(t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9)
}

/// A pass's cost: median wall time, and mean CPU time of the process where /proc tells it.
#[allow(dead_code)] // not every bench times passes this way
#[derive(Clone, Copy, Debug)]
pub struct Cost {
    /// Median wall time of a pass.
    pub wall: std::time::Duration,
    /// Mean CPU seconds of a pass (all of the process's threads).
    pub cpu: Option<f64>,
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg gives them ("?" elsewhere).
#[allow(dead_code)] // not every bench prints it
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Times each of `passes` over rounds that together last at least `total` (at least 3
/// rounds), one pass of each per round: on a shared machine the load then weighs on all of
/// them alike, which keeps their ratios and differences steady.
#[allow(dead_code)] // not every bench compares passes this way
pub fn time_interleaved(total: std::time::Duration, passes: &mut [&mut dyn FnMut()]) -> Vec<Cost> {
    let start = std::time::Instant::now();
    let mut walls = vec![Vec::new(); passes.len()];
    let mut cpus = vec![Some(0.0f64); passes.len()];
    let mut rounds = 0usize;
    while rounds < 3 || start.elapsed() < total {
        for (i, f) in passes.iter_mut().enumerate() {
            let cpu = cpu_seconds();
            let t = std::time::Instant::now();
            f();
            walls[i].push(t.elapsed());
            cpus[i] = cpus[i]
                .zip(cpu.zip(cpu_seconds()))
                .map(|(s, (a, b))| s + b - a);
        }
        rounds += 1;
    }
    walls
        .into_iter()
        .zip(cpus)
        .map(|(mut w, cpu)| {
            w.sort();
            Cost {
                wall: w[w.len() / 2],
                cpu: cpu.map(|c| c / rounds as f64),
            }
        })
        .collect()
}

/// Makes the repository's root the working directory, so that plans and the data paths they
/// hold resolve as they do for the `rewind` command run from there (cargo starts a bench in its
/// own package's folder).
#[allow(dead_code)] // not every bench reads plans
pub fn at_repository_root() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    std::env::set_current_dir(root).expect("the repository's root exists");
}
