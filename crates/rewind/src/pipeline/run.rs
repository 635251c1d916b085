//! One entry point per job. A [`Run`] is built from a resolved [`Setup`], told which
//! algorithm to run ([`Algorithm`]: SGD, the paper's Algorithm 1, or SGD′, its Algorithms 2–3:
//! a parameter, not a second pipeline), given an observer of the steps and a progress sink,
//! and executed: [`Run::verify`] runs, inverts, walks back, certifies and codes as the setup's
//! configuration asks and returns the report (Theorem 2.2 and Lemma 3.1 checked on the run);
//! [`Run::encode`] writes the run's randomness as a code file (docs/design.md §5.5).
//! [`decode`] reads one back. The command line, sweeps, snapshots and other front ends all go
//! through here.
//!
//! ```
//! use rewind::config::{DataSource, ModelKind, Setup, VerifyConfig};
//! use rewind::pipeline::run::Run;
//! use rewind::sgd::BackendChoice;
//!
//! let setup = Setup::new(&VerifyConfig {
//!     data: DataSource::Synthetic { n: 24, features: 2, classes: 2 },
//!     model: ModelKind::LeastSquares,
//!     backend: BackendChoice::Exact,
//!     frac_bits: 12,
//!     batch: 4,
//!     epochs: 2,
//!     stop_at_full_accuracy: false,
//!     ..VerifyConfig::default()
//! })?;
//! let verified = Run::new(&setup).verify()?;
//! assert!(verified.report.reconstruction.unwrap().initial_model_bit_exact);
//! # Ok::<(), rewind::Error>(())
//! ```

use crate::momentum::MomentumConfig;
use crate::pipeline::config::Setup;
use crate::pipeline::encode::{self, DecodedRun, EncodedRun};
use crate::pipeline::report::VerifyReport;
use crate::pipeline::sgd_prime::{self, SgdPrimeConfig, SgdPrimeRun};
use crate::pipeline::verify;
use crate::progress::{NoProgress, Progress};
use crate::sgd::{NoObserver, Observer, Trajectory};
use crate::steps::certify::Certificate;
use crate::steps::codec::hint::StepRecord;
use crate::Error;

/// Which training algorithm a run executes.
#[derive(Debug, Clone, Default)]
pub enum Algorithm {
    /// SGD as the paper's Algorithm 1.
    #[default]
    Sgd,
    /// SGD′ (Algorithms 2 and 3): GD per batch after a perturbation, with its thresholds.
    SgdPrime(SgdPrimeConfig),
    /// Heavy-ball SGD on the grid, its buffer coded (docs/design.md §2.9).
    Momentum(MomentumConfig),
}

/// A job being built: the setup, the algorithm, who watches.
pub struct Run<'a> {
    setup: &'a Setup,
    algorithm: Algorithm,
    observer: Option<&'a mut dyn Observer>,
    progress: &'a dyn Progress,
    checkpoint_every: Option<usize>,
}

/// What [`Run::verify`] produced.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The report, as `rewind verify --json` prints it.
    pub report: VerifyReport,
    /// Every model, batch and permutation of the run (for SGD′: the models between batches).
    pub trajectory: Trajectory,
    /// What inverting each logged step gave, in run order (absent when inversion is off).
    pub records: Option<Vec<StepRecord>>,
    /// Each step's certificate, in run order (SGD with certification).
    pub certificates: Option<Vec<Certificate>>,
    /// For SGD′: every call's GD steps and, per call, its inner steps' inversion records.
    pub sgd_prime: Option<(SgdPrimeRun, Vec<Vec<StepRecord>>)>,
}

impl<'a> Run<'a> {
    /// A run of SGD on `setup`, unobserved, without progress reports.
    pub fn new(setup: &'a Setup) -> Self {
        Run {
            setup,
            algorithm: Algorithm::Sgd,
            observer: None,
            progress: &NoProgress,
            checkpoint_every: None,
        }
    }

    /// Keeps every K-th model of a streamed SGD run ([`Run::report`]), so that the walk back
    /// runs the segments between them in parallel (docs/design.md §7.5).
    pub fn checkpoint_every(mut self, every: Option<usize>) -> Self {
        self.checkpoint_every = every;
        self
    }

    /// The report alone. SGD is verified as it runs, without keeping its models
    /// (docs/design.md §7.5), so memory does not grow with the run; the report is the one
    /// [`Run::verify`] gives, byte for byte.
    pub fn report(self) -> Result<VerifyReport, Error> {
        let mut quiet = NoObserver;
        match self.algorithm {
            Algorithm::Sgd => verify::verify_streamed(
                self.setup,
                self.observer.unwrap_or(&mut quiet),
                self.progress,
                self.checkpoint_every,
            ),
            Algorithm::Momentum(m) => crate::pipeline::momentum_verify::verify(
                self.setup,
                &m,
                self.observer.unwrap_or(&mut quiet),
                self.progress,
            ),
            Algorithm::SgdPrime(_) => self.verify().map(|v| v.report),
        }
    }

    /// Runs `algorithm` instead of SGD.
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Shows every step of an SGD run to `observer` as it is taken (e.g. a trajectory writer).
    /// SGD′ takes its steps inside GD calls, which an observer of SGD's steps does not see:
    /// [`Run::verify`] refuses the pair.
    pub fn observer(mut self, observer: &'a mut dyn Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Reports each long phase (run, inversion, walk back, certification, code) to `progress`.
    pub fn progress(mut self, progress: &'a dyn Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Runs, inverts every step, walks back from the final model and reports, with the
    /// certificates and the code when the setup's configuration asks for them.
    pub fn verify(self) -> Result<Verified, Error> {
        match self.algorithm {
            Algorithm::Sgd => {
                let mut quiet = NoObserver;
                let observer = self.observer.unwrap_or(&mut quiet);
                let run = verify::verify_run(self.setup, observer, self.progress)?;
                Ok(Verified {
                    report: run.report,
                    trajectory: run.trajectory,
                    records: run.records,
                    certificates: run.certificates,
                    sgd_prime: None,
                })
            }
            Algorithm::Momentum(_) => Err(Error::Config(
                "a momentum run's models come with velocity buffers, which this trajectory does not hold; ask for its report alone (Run::report, or leave the trajectory out)".into(),
            )),
            Algorithm::SgdPrime(p) => {
                if self.observer.is_some() {
                    return Err(Error::Config(
                        "an observer of SGD's steps cannot watch SGD′, whose steps are GD calls; leave the observer out (the report's gd_steps section summarises them)".into(),
                    ));
                }
                let v = sgd_prime::verify(self.setup, &p)?;
                let trajectory = v.run.outer();
                let records = self.setup.config.invert.then(|| v.records.concat());
                Ok(Verified {
                    report: v.report,
                    trajectory,
                    records,
                    certificates: None,
                    sgd_prime: Some((v.run, v.records)),
                })
            }
        }
    }

    /// Runs and writes the run's randomness as a code file beside its final model.
    pub fn encode(self) -> Result<EncodedRun, Error> {
        if self.observer.is_some() {
            return Err(Error::Config(
                "encoding watches no steps; leave the observer out".into(),
            ));
        }
        match self.algorithm {
            Algorithm::Sgd => encode::encode_run_with_progress(self.setup, self.progress),
            Algorithm::SgdPrime(p) => encode::encode_sgd_prime_run(self.setup, &p, self.progress),
            Algorithm::Momentum(_) => Err(Error::Config(
                "code files hold SGD and SGD′ runs; a momentum run's report codes its buffer (Run::report)".into(),
            )),
        }
    }
}

/// Reads a code file back into every permutation, batch and model, from the final model and
/// the data `data` describes, and checks each against the file's fingerprints.
pub fn decode(
    bytes: &[u8],
    final_model: &[i64],
    data: &crate::pipeline::config::VerifyConfig,
    progress: &dyn Progress,
) -> Result<DecodedRun, Error> {
    encode::decode_run_with_progress(bytes, final_model, data, progress)
}
