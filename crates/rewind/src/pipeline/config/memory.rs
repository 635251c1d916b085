//! Memory estimates checked against the machine's physical memory, so that a run too large
//! for it is a one-line error before an allocation would abort the process.

use super::{ModelKind, VerifyConfig};
use crate::data::Dataset;
use crate::Error;

/// The machine's physical memory in bytes, where the system says (Linux).
fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    kb.checked_mul(1024)
}

/// Refuses work whose memory estimate (`None`: beyond 2^64 bytes) exceeds the machine's
/// memory, before an allocation would abort the process.
pub(super) fn check_memory(need: Option<u64>, what: &str, fix: &str) -> Result<(), Error> {
    let limit = physical_memory().unwrap_or(u64::MAX);
    let gib = |b: u64| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64);
    match need {
        Some(b) if b <= limit => Ok(()),
        Some(b) => Err(Error::Config(format!(
            "{what} needs about {} of memory, more than this machine's {}; {fix}",
            gib(b),
            gib(limit)
        ))),
        None => Err(Error::Config(format!(
            "{what} needs more than 2^64 bytes of memory; {fix}"
        ))),
    }
}

/// The number of parameters of the configured model on this data, or `None` on overflow.
/// (The same formulas as the models' own `dim`, checked, so that an absurd `--hidden` is an
/// error before any model exists.)
pub(super) fn model_dim(c: &VerifyConfig, data: &Dataset) -> Option<usize> {
    let (d, k) = (data.d(), data.classes as usize);
    match c.model {
        ModelKind::LeastSquares | ModelKind::Logistic => Some(d),
        ModelKind::Softmax => d.checked_mul(k),
        ModelKind::Mlp => c
            .hidden
            .checked_mul(d)?
            .checked_add(k.checked_mul(c.hidden.checked_add(1)?)?),
    }
}

/// The run keeps every model of its trajectory: (steps + a few) models of d parameters, plus
/// the quantised data.
pub(super) fn check_run_memory(c: &VerifyConfig, data: &Dataset) -> Result<(), Error> {
    let dim = model_dim(c, data).map(|d| d as u64);
    let steps = (data.n() / c.batch) as u64;
    let need = dim
        .and_then(|d| d.checked_mul(steps.checked_mul(c.epochs as u64)?.checked_add(4)?))
        .and_then(|v| v.checked_add((data.n() as u64).checked_mul(data.d() as u64)?))
        .and_then(|v| v.checked_mul(8));
    let what = format!(
        "this run ({} parameters, up to {} steps, each model kept for the walk back)",
        dim.map_or("more than 2^64".to_string(), |d| d.to_string()),
        steps.saturating_mul(c.epochs as u64)
    );
    check_memory(
        need,
        &what,
        "use a smaller --hidden, fewer --epochs or a larger --batch",
    )
}
