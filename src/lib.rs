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
//! [`sweep`], [`claims`] and [`figures`] replicate Appendix B, [`collisions`] and [`demo`] show
//! why a grid step is many-to-one, and [`rng`] names every random stream.
//!
//! ```
//! use rewind::sgd::BackendChoice;
//! use rewind::verify::{verify_quiet, DataSource, ModelKind, Setup, VerifyConfig};
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

pub mod certify;
pub mod claims;
pub mod codec;
pub mod collisions;
pub mod data;
pub mod demo;
pub mod discrepancy;
pub mod encode;
pub mod figures;
pub mod grid;
pub mod invert;
pub mod model;
pub mod null;
pub mod plot;
pub mod reconstruct;
pub mod report;
pub mod rng;
pub mod sgd;
pub mod sweep;
pub mod verify;

/// Every error of the library. Each message is one line that names the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Grid(#[from] grid::GridError),
    #[error(transparent)]
    Backend(#[from] model::backend::BackendError),
    #[error(transparent)]
    Data(#[from] data::DataError),
    #[error(transparent)]
    Rank(#[from] codec::RankError),
    #[error("{0}")]
    Config(String),
    #[error("cannot write {path}: {source}; check that the directory exists and is writable")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("reconstruction failed at step {step}: no preimage was found and no hint was given; the hints do not belong to this run")]
    Reconstruction { step: usize },
}
