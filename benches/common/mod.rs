//! What the benches share: the process's CPU time, which a busy machine does not inflate the
//! way it inflates wall time.

/// The process's user + system CPU seconds from /proc/self/stat (Linux, clock ticks of 10 ms);
/// `None` elsewhere.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
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

/// Times `f` over passes that together last at least `total` (at least 3 passes). On a shared
/// machine a pass can be preempted: the median wall time ignores the passes that were, and the
/// CPU time does not count the waiting at all.
#[allow(dead_code)] // not every bench times passes this way
pub fn time_per_pass(total: std::time::Duration, mut f: impl FnMut()) -> Cost {
    let start = std::time::Instant::now();
    let cpu_start = cpu_seconds();
    let mut times = Vec::new();
    while times.len() < 3 || start.elapsed() < total {
        let t = std::time::Instant::now();
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

/// The 1, 5 and 15 minute load averages, as /proc/loadavg gives them ("?" elsewhere).
#[allow(dead_code)] // not every bench prints it
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
