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
