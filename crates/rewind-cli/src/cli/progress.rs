//! Progress on stderr when it is a terminal: sweeps count runs, the other long subcommands draw
//! the library's [`Progress`] phases. `--quiet` hides it; in a pipe or a log there is none. It
//! never writes to stdout, so no output byte depends on it.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rewind::progress::{Phase, Progress};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The `--quiet` flag of every subcommand that shows progress.
#[derive(Debug, clap::Args)]
pub struct QuietArg {
    /// Show no progress on stderr (none is shown anyway when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
}

/// A bar on stderr when it is a terminal and `quiet` is off; hidden otherwise.
pub fn bar(quiet: bool, total: u64, template: &str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// A run that ends sooner than this shows no bar at all.
const DELAY: Duration = Duration::from_secs(2);

/// One bar for the phases of a run (forward run, inversion, walk back, certification, code,
/// scan), drawn once the run has lasted [`DELAY`].
#[derive(Debug)]
pub struct PhaseBar {
    bar: ProgressBar,
    start: Instant,
    pending: AtomicBool,
}

impl PhaseBar {
    pub fn new(quiet: bool) -> Self {
        let template = "{msg:>9} {bar:40} {pos}/{len} {prefix}, {elapsed} elapsed, ETA {eta}";
        let bar = bar(quiet, 0, template);
        let pending = AtomicBool::new(!bar.is_hidden());
        bar.set_draw_target(ProgressDrawTarget::hidden());
        PhaseBar {
            bar,
            start: Instant::now(),
            pending,
        }
    }

    fn reveal(&self) {
        if self.pending.load(Ordering::Relaxed)
            && self.start.elapsed() >= DELAY
            && self.pending.swap(false, Ordering::Relaxed)
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    /// Clears the bar, before the subcommand prints its result.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for PhaseBar {
    fn begin(&self, phase: Phase, total: u64) {
        let unit = if phase == Phase::Scan {
            "points"
        } else {
            "steps"
        };
        self.bar.set_message(phase.name());
        self.bar.set_prefix(unit);
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.reset_eta();
        self.reveal();
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
        self.reveal();
    }
}

impl Drop for PhaseBar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
