//! The flags that define a run, shared by every subcommand that runs SGD. Each subcommand
//! supplies its own defaults ([`Defaults`]): `verify` trains on the digits, `collisions` on a
//! two-parameter problem on a coarse grid.

use clap::ValueEnum;
use rewind::grid::Dyadic;
use rewind::model::Activation;
use rewind::sgd::BackendChoice;
use rewind::verify::{DataSource, ModelKind, StepSize, VerifyConfig};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModelArg {
    Logistic,
    LeastSquares,
    Softmax,
    Mlp,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BackendArg {
    Exact,
    Mpfr,
    F64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ActivationArg {
    Gelu,
    Tanh,
}

/// A subcommand's defaults for the flags the user leaves out.
pub struct Defaults {
    pub data: &'static str,
    pub synthetic_n: usize,
    pub synthetic_features: usize,
    pub model: ModelArg,
    pub backend: BackendArg,
    pub frac_bits: u32,
    pub q: &'static str,
    pub batch: usize,
    pub epochs: usize,
    pub bias: bool,
}

/// `verify`'s defaults: logistic regression on the digits 3 vs 8, b = 20, q = 0.1, p = 32,
/// 3 epochs, the f64 backend (MPFR needs the `mpfr` cargo feature).
pub const VERIFY: Defaults = Defaults {
    data: "digits",
    synthetic_n: 400,
    synthetic_features: 8,
    model: ModelArg::Logistic,
    backend: BackendArg::F64,
    frac_bits: 32,
    q: "0.1",
    batch: 20,
    epochs: 3,
    bias: true,
};

/// Flags that define the data set.
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// `digits` (bundled UCI optical digits), `synthetic`, or a CSV (.csv/.csv.gz) or IDX file.
    #[arg(long)]
    data: Option<String>,
    /// Examples of `--data synthetic`.
    #[arg(long)]
    synthetic_n: Option<usize>,
    /// Feature columns of `--data synthetic` (before the bias column).
    #[arg(long)]
    synthetic_features: Option<usize>,
    /// Classes of `--data synthetic`.
    #[arg(long, default_value_t = 2)]
    synthetic_classes: u32,
    /// Seed of the permutations, the initial model, random labels and synthetic data.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Classes to keep, mapped to 0, 1, … in this order (binary models need two).
    #[arg(long, value_delimiter = ',')]
    classes: Option<Vec<u32>>,
    /// Replace every label by a uniformly random class (the paper's random-label setting).
    #[arg(long)]
    random_labels: bool,
}

impl DataArgs {
    /// The data part of a configuration; the rest is `VerifyConfig::default()`.
    pub fn config(&self, d: &Defaults) -> VerifyConfig {
        VerifyConfig {
            data: match self.data.as_deref().unwrap_or(d.data) {
                "digits" => DataSource::Digits,
                "synthetic" => DataSource::Synthetic {
                    n: self.synthetic_n.unwrap_or(d.synthetic_n),
                    features: self.synthetic_features.unwrap_or(d.synthetic_features),
                    classes: self.synthetic_classes,
                },
                path => DataSource::Path(PathBuf::from(path)),
            },
            seed: self.seed,
            classes: self.classes.clone(),
            random_labels: self.random_labels,
            ..VerifyConfig::default()
        }
    }
}

/// Flags that define a run. Defaults depend on the subcommand (see its help).
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    data: DataArgs,
    #[arg(long, value_enum)]
    model: Option<ModelArg>,
    /// Gradient backend (exact works for least squares only).
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
    /// Working precision of the MPFR backend, in bits.
    #[arg(long, default_value_t = 128)]
    mpfr_precision: u32,
    /// Fractional bits p of the grid 2^-p·ℤ.
    #[arg(long)]
    frac_bits: Option<u32>,
    /// Step size, a dyadic rational such as 1/1024 or 0.0078125.
    #[arg(long, conflicts_with = "q")]
    alpha: Option<String>,
    /// Choose the largest α with α·L_B ≤ Q for every batch, L_B the certified bound.
    #[arg(long, conflicts_with = "q_inf")]
    q: Option<String>,
    /// Choose the largest α with α·L_∞ ≤ Q, L_∞ the certified ∞-norm (row-sum) bound.
    #[arg(long, conflicts_with = "alpha")]
    q_inf: Option<String>,
    /// Batch size b.
    #[arg(long)]
    batch: Option<usize>,
    /// Epochs t.
    #[arg(long)]
    epochs: Option<usize>,
    /// Hidden units of the MLP.
    #[arg(long, default_value_t = 10)]
    hidden: usize,
    #[arg(long, value_enum, default_value = "gelu")]
    activation: ActivationArg,
    /// Do not append the constant-one bias feature.
    #[arg(long)]
    no_bias: bool,
    /// Do not stop when the model classifies every example correctly (line 6 of Algorithm 1).
    #[arg(long)]
    no_early_stop: bool,
    /// Cap on the fixed-point iterations of one inversion.
    #[arg(long, default_value_t = rewind::invert::DEFAULT_MAX_ITERATIONS)]
    max_iterations: u32,
}

impl RunArgs {
    /// The run these flags describe, with `d` filling what was left out.
    pub fn config(&self, d: &Defaults) -> anyhow::Result<VerifyConfig> {
        let step_size = match (&self.alpha, &self.q, &self.q_inf) {
            (Some(a), _, _) => StepSize::Alpha(a.parse::<Dyadic>()?),
            (None, Some(q), _) => StepSize::Q(q.clone()),
            (None, None, Some(q)) => StepSize::QInf(q.clone()),
            (None, None, None) => StepSize::Q(d.q.into()),
        };
        let base = self.data.config(d);
        Ok(VerifyConfig {
            model: match self.model.unwrap_or(d.model) {
                ModelArg::Logistic => ModelKind::Logistic,
                ModelArg::LeastSquares => ModelKind::LeastSquares,
                ModelArg::Softmax => ModelKind::Softmax,
                ModelArg::Mlp => ModelKind::Mlp,
            },
            hidden: self.hidden,
            activation: match self.activation {
                ActivationArg::Gelu => Activation::Gelu,
                ActivationArg::Tanh => Activation::Tanh,
            },
            backend: match self.backend.unwrap_or(d.backend) {
                BackendArg::Exact => BackendChoice::Exact,
                BackendArg::Mpfr => BackendChoice::Mpfr {
                    precision: self.mpfr_precision,
                },
                BackendArg::F64 => BackendChoice::F64,
            },
            frac_bits: self.frac_bits.unwrap_or(d.frac_bits),
            step_size,
            batch: self.batch.unwrap_or(d.batch),
            epochs: self.epochs.unwrap_or(d.epochs),
            stop_at_full_accuracy: !self.no_early_stop,
            max_iterations: self.max_iterations,
            certify: None,
            bias: d.bias && !self.no_bias,
            code: true,
            invert: true,
            ..base
        })
    }
}

/// The certification flags (`verify` and `encode`).
#[derive(Debug, clap::Args)]
pub struct CertifyArgs {
    /// Certify every step (prove it unique, ambiguous with k preimages, or unknown); hints
    /// become indices among the certified preimages.
    #[arg(long)]
    certify: bool,
    /// Gradient evaluations allowed per certified step.
    #[arg(long, default_value_t = rewind::certify::DEFAULT_BUDGET)]
    certify_budget: u64,
}

impl CertifyArgs {
    /// The budget when certification is on.
    pub fn budget(&self) -> Option<u64> {
        self.certify.then_some(self.certify_budget)
    }
}
