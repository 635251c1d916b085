//! The flags that define a run, shared by every subcommand that runs SGD. Each subcommand
//! supplies its own defaults as a base `VerifyConfig`: `verify` trains on the digits, `collisions` on a
//! two-parameter problem on a coarse grid.

use clap::builder::TypedValueParser as _;
use rewind::config::{DataSource, StepSize, Synthetic, VerifyConfig};
use rewind::config::{ModelKind, Setting};
use rewind::data::csv::{CsvLayout, LabelColumn};
use rewind::grid::Dyadic;
use rewind::model::Activation;
use rewind::names::Named;
use rewind::sgd::BackendKind;

/// `verify`'s defaults ([`VerifyConfig::default`]): logistic regression on the digits 3 vs 8,
/// b = 20, q = 0.1, p = 32, 3 epochs, the f64 backend (MPFR needs the `mpfr` cargo feature).
pub fn verify_defaults() -> VerifyConfig {
    VerifyConfig::default()
}

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
    /// Classes of `--data synthetic` (default 2).
    #[arg(long)]
    synthetic_classes: Option<u32>,
    /// Seed of the permutations, the initial model, random labels and synthetic data.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Classes to keep, mapped to 0, 1, … in this order (binary models need two).
    #[arg(long, value_delimiter = ',')]
    classes: Option<Vec<u32>>,
    /// Replace every label by a uniformly random class (the paper's random-label setting).
    #[arg(long)]
    random_labels: bool,
    /// The CSV file's first line names the columns (detected without it when a name is not a
    /// number; pandas' unnamed index column is then skipped).
    #[arg(long)]
    header: bool,
    /// The CSV column holding the label: a header name, or a 0-based index counting every
    /// column of the file [default: the last column].
    #[arg(long, value_name = "NAME|INDEX")]
    label_column: Option<String>,
}

impl DataArgs {
    /// The data part of a configuration; the rest is `d`.
    pub fn config(&self, d: VerifyConfig) -> VerifyConfig {
        let shape = match d.data {
            DataSource::Synthetic {
                n,
                features,
                classes,
            } => Synthetic {
                n,
                features,
                classes,
            },
            _ => Synthetic::default(),
        };
        let shape = Synthetic {
            n: self.synthetic_n.unwrap_or(shape.n),
            features: self.synthetic_features.unwrap_or(shape.features),
            classes: self.synthetic_classes.unwrap_or(shape.classes),
        };
        let data = match (&self.data, d.data) {
            (Some(arg), _) => DataSource::from_arg(arg, shape),
            (None, DataSource::Synthetic { .. }) => DataSource::from_arg("synthetic", shape),
            (None, other) => other,
        };
        let data = match data {
            DataSource::Path(path) if self.header || self.label_column.is_some() => {
                DataSource::Csv {
                    path,
                    layout: CsvLayout {
                        header: self.header.then_some(true),
                        label_column: self.label_column.as_deref().map(LabelColumn::parse),
                    },
                }
            }
            other => other,
        };
        VerifyConfig {
            data,
            seed: self.seed,
            classes: self.classes.clone(),
            random_labels: self.random_labels,
            ..d
        }
    }
}

/// Flags that define a run. Defaults depend on the subcommand (see its help).
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    data: DataArgs,
    #[arg(long, value_parser = choice::<ModelKind>())]
    model: Option<ModelKind>,
    /// Gradient backend (exact works for least squares only).
    #[arg(long, value_parser = choice::<BackendKind>())]
    backend: Option<BackendKind>,
    /// Working precision of the MPFR backend, in bits [default: 128].
    #[arg(long)]
    mpfr_precision: Option<u32>,
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
    /// Hidden units of the MLP [default: the configuration's, 10].
    #[arg(long)]
    hidden: Option<usize>,
    /// Activation of the MLP [default: the configuration's, gelu].
    #[arg(long, value_parser = choice::<Activation>())]
    activation: Option<Activation>,
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
    fn precision(&self) -> u32 {
        self.mpfr_precision
            .unwrap_or(rewind::config::DEFAULT_MPFR_PRECISION)
    }

    /// The flags given that concern some runs only, for [`rewind::config::check_applicable`].
    pub fn given(&self) -> Vec<(Setting, &'static str)> {
        [
            (Setting::Hidden, "--hidden", self.hidden.is_some()),
            (
                Setting::Activation,
                "--activation",
                self.activation.is_some(),
            ),
            (
                Setting::MpfrPrecision,
                "--mpfr-precision",
                self.mpfr_precision.is_some(),
            ),
        ]
        .into_iter()
        .filter(|g| g.2)
        .map(|(s, f, _)| (s, f))
        .collect()
    }

    pub fn config(&self, d: VerifyConfig) -> anyhow::Result<VerifyConfig> {
        let step_size = match (&self.alpha, &self.q, &self.q_inf) {
            (Some(a), _, _) => StepSize::Alpha(a.parse::<Dyadic>()?),
            (None, Some(q), _) => StepSize::Q(q.clone()),
            (None, None, Some(q)) => StepSize::QInf(q.clone()),
            (None, None, None) => d.step_size.clone(),
        };
        let backend = match self.backend {
            Some(kind) => kind.choice(self.precision()),
            None => d.backend.kind().choice(self.precision()),
        };
        let base = self.data.config(d);
        Ok(VerifyConfig {
            model: self.model.unwrap_or(base.model),
            hidden: self.hidden.unwrap_or(base.hidden),
            activation: self.activation.unwrap_or(base.activation),
            backend,
            frac_bits: self.frac_bits.unwrap_or(base.frac_bits),
            step_size,
            batch: self.batch.unwrap_or(base.batch),
            epochs: self.epochs.unwrap_or(base.epochs),
            stop_at_full_accuracy: !self.no_early_stop,
            max_iterations: self.max_iterations,
            certify: None,
            bias: base.bias && !self.no_bias,
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
    /// Gradient evaluations allowed per certified step (with --certify) [default: 4096].
    #[arg(long)]
    certify_budget: Option<u64>,
}

impl CertifyArgs {
    /// The budget when certification is on.
    pub fn budget(&self) -> Option<u64> {
        self.certify.then_some(
            self.certify_budget
                .unwrap_or(rewind::certify::DEFAULT_BUDGET),
        )
    }

    /// The budget flag, when given.
    pub fn given(&self) -> Vec<(Setting, &'static str)> {
        match self.certify_budget {
            Some(_) => vec![(Setting::CertifyBudget, "--certify-budget")],
            None => Vec::new(),
        }
    }
}

/// A value parser for one of the library's closed choices: clap lists the names in the help
/// and in its error, and the library's own table parses them.
pub fn choice<T: Named + Send + Sync>() -> impl clap::builder::TypedValueParser<Value = T> {
    clap::builder::PossibleValuesParser::new(T::ALL.iter().map(|v| v.name()))
        .try_map(|s| s.parse::<T>())
}
