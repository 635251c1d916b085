//! `rewind` runs SGD exactly on a fixed-point grid, rewinds it bit for bit, and measures what
//! that costs. It makes executable the argument of "SGD through the lens of Kolmogorov
//! complexity": a gradient step with α < 1/L is invertible, so the final model and the data
//! determine the whole run.
//!
//! The pipeline in five lines:
//! 1. [`data`] loads a data set and quantises it onto the [`grid`] 𝔽 = 2^-p·ℤ;
//! 2. [`sgd`] runs Algorithm 1 with one exact step function over a [`model`] and a backend;
//! 3. [`invert`] inverts each step by the contraction fixed-point iteration (Lemma 2.1);
//! 4. [`reconstruct`] walks back from the final model to W₁,₁ with hints where the grid loses
//!    information (Theorem 2.2, made honest about finite precision);
//! 5. [`verify`] ties it together and [`report`] writes the versioned result.
//!
//! Further: [`certify`] proves each step unique or ambiguous, [`codec`] writes the epochs'
//! randomness from the final model (Lemma 3.1), [`discrepancy`] measures ρ and β (Section 3)
//! and [`null`] what sampling noise alone gives it,
//! [`sweep`], [`claims`] and [`figures`] replicate Appendix B on the runs [`selection`] picks,
//! [`collisions`] and [`demo`] show why a grid step is many-to-one and [`many_to_one`] predicts
//! how often, [`rng`] names every random stream, [`snapshot`] digests a
//! run for a user's snapshot tests, [`progress`] reports the long phases to a front end, and
//! [`log`] reads and writes training logs that [`audit`] replays and certifies.
//!
//! ```
//! use rewind::sgd::BackendChoice;
//! use rewind::config::{DataSource, ModelKind, Setup, VerifyConfig};
//! use rewind::verify::verify_quiet;
//!
//! // Least squares on a small synthetic set, exact gradients, a coarse grid.
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
//! let (report, _trajectory) = verify_quiet(&setup)?;
//! // W₁,₁ came back bit for bit from the final model, the batches and the hints…
//! assert!(report.reconstruction.unwrap().initial_model_bit_exact);
//! // …and every permutation from the final model and the code alone.
//! assert!(report.code.unwrap().roundtrip_bit_exact);
//! # Ok::<(), rewind::Error>(())
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

// The folders are the layers of docs/design.md §7.1, read top down: experiments use the
// pipeline, the pipeline uses the steps, the steps use sgd, model, data, grid and rng (at the
// root with the shared infrastructure: names, output, progress). Every module is also
// re-exported at the root, so that `rewind::sweep` and `rewind::experiments::sweep` name the
// same module.
pub mod experiments;
pub mod pipeline;
pub mod steps;

pub mod data;
pub mod grid;
pub mod input;
pub mod model;
pub mod momentum;
pub mod names;
pub mod output;
pub mod perturb;
pub mod progress;
pub mod rng;
pub mod sgd;

/// Every type and helper a [`Model`](model::Model) implementation names, so that a crate
/// defining its own model needs no dependency but `rewind`: `use rewind::prelude::*;`. The
/// random-number trait is rewind's own `rand_core`, re-exported, because a different
/// `rand_core` release is a different trait.
pub mod prelude {
    pub use crate::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
    pub use crate::data::Dataset;
    pub use crate::model::backend::{Backend, BackendError, Real};
    pub use crate::model::{
        certified_linear_bound, certified_linf_bound, uniform_init, AnyModel, Around,
        CertifiedBounds, Model, RowBound, Smoothness, StepBounds,
    };
    pub use crate::sgd::BackendChoice;
    pub use num_bigint::BigInt;
    pub use num_rational::BigRational;
    pub use num_traits::{One, Zero};
    pub use rand_core::RngCore;
}

/// The crates whose types appear in rewind's public interface, at the versions rewind uses.
pub use {num_bigint, num_rational, num_traits, rand_core};

pub use experiments::{claims, demo, figures, plot, selection, sweep};
pub use pipeline::{
    audit, config, encode, log, momentum_verify, options, report, run, sgd_prime, snapshot, verify,
};
pub use steps::{
    certify, codec, collisions, discrepancy, divergence, invert, many_to_one, null, reconstruct,
    tails,
};

/// Every error of the library. Each message is one line that names the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value left the grid: an `i64` overflow or a non-finite number (docs/design.md §2.1).
    #[error(transparent)]
    Grid(#[from] grid::GridError),
    /// A backend could not evaluate a gradient, e.g. a transcendental function on the exact
    /// backend or the `mpfr` backend in a build without that feature (docs/design.md §2.4).
    #[error(transparent)]
    Backend(#[from] model::backend::BackendError),
    /// A data set could not be loaded, its classes selected or its features quantised
    /// (docs/design.md §2.6).
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// A permutation or subset rank was malformed or out of range (the ranks of
    /// docs/design.md §5.1).
    #[error(transparent)]
    Rank(#[from] codec::RankError),
    /// A code file could not be read, or does not belong to the data and final model given
    /// (docs/design.md §5.5).
    #[error(transparent)]
    CodeFile(#[from] codec::file::FileError),
    /// A report or results line of a format this build does not read (docs/design.md §6).
    #[error(transparent)]
    Format(#[from] report::FormatError),
    /// A training log could not be read, or does not belong to the data given
    /// (docs/log-format.md).
    #[error(transparent)]
    Log(#[from] log::LogError),
    /// A run parameter or plan was refused, or a code did not decode; the string is the whole
    /// one-line message.
    #[error("{0}")]
    Config(String),
    /// A check of rewind's own consistency failed: a bug, never a problem with the input.
    #[error("internal error: {0}; this is a bug in rewind, please report it with the command that produced it")]
    Internal(String),
    /// The front end asked the run to stop ([`progress::Progress::cancelled`]), e.g. on Ctrl-C.
    #[error("interrupted; the run was stopped before it finished and nothing was written")]
    Interrupted,
    /// An output file (report, trajectory, figure) could not be written.
    #[error("cannot write {path}: {source}; {}", output::advice(source))]
    Io {
        /// The file or directory that could not be written.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The walk back (docs/design.md §4.2) met a step whose inversion found no fixed point and
    /// that had no hint, or a hint that does not fit the model.
    #[error("reconstruction failed at step {step}: no preimage was found and no hint was given; the hints do not belong to this run")]
    Reconstruction {
        /// The 1-based step, in run order, at which the walk back stopped.
        step: usize,
    },
    /// A hint corrects a coordinate the model does not have: the hints belong to another run.
    #[error("the hint of step {step} corrects coordinate {coordinate}, but the model has {dim} coordinates; the hints do not belong to this run")]
    HintOutOfRange {
        /// The 1-based step, in run order, whose hint is wrong.
        step: usize,
        /// The 0-based coordinate the hint names.
        coordinate: usize,
        /// The model's dimension d.
        dim: usize,
    },
}
