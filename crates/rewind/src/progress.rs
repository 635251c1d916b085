//! Progress of a run's long phases — the forward run, the inversion, the walk back,
//! certification, the code and a collision scan — for a front end to show.
//!
//! The library only counts; drawing is the front end's business (`rewind` draws a bar on a
//! terminal). Every phase already goes through one [`StepFunction`](crate::sgd::StepFunction),
//! so the step function carries the sink ([`StepFunction::with_progress`]) and no phase's
//! signature has to. Nothing a phase computes depends on it: reports, code files and trajectories
//! are the same bytes with or without a sink.
//!
//! [`StepFunction::with_progress`]: crate::sgd::StepFunction::with_progress

/// A phase of the work, in the order a verification runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Algorithm 1, one unit per step.
    Run,
    /// Every logged step inverted, one unit per step.
    Invert,
    /// The walk back from the final model with the hints, one unit per step.
    WalkBack,
    /// Every step certified, one unit per step.
    Certify,
    /// The Lemma 3.1 code written or read back, one unit per step.
    Code,
    /// A decoded run replayed forward, one unit per step.
    Replay,
    /// A collision scan, one unit per grid point.
    Scan,
}

impl Phase {
    /// A short name for a progress line.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Run => "run",
            Phase::Invert => "invert",
            Phase::WalkBack => "walk back",
            Phase::Certify => "certify",
            Phase::Code => "code",
            Phase::Replay => "replay",
            Phase::Scan => "scan",
        }
    }
}

/// Receives progress; called from several threads at once by the parallel phases.
pub trait Progress: Sync + std::fmt::Debug {
    /// A phase of `total` units begins; it replaces the previous one.
    fn begin(&self, phase: Phase, total: u64);
    /// `n` more units of the current phase are done.
    fn advance(&self, n: u64);
    /// Whether the front end wants the work stopped (e.g. on Ctrl-C): every gradient
    /// evaluation asks, and a run that is told so ends in [`Error::Interrupted`].
    ///
    /// [`Error::Interrupted`]: crate::Error::Interrupted
    fn cancelled(&self) -> bool {
        false
    }
}

/// Progress that goes nowhere: the default of every step function.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: Phase, _: u64) {}
    fn advance(&self, _: u64) {}
}
