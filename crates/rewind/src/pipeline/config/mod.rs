//! The configuration of a run and its resolution against the data: where the examples come
//! from, the model family, the backend, the grid, α (from `--alpha`, `--q` or `--q-inf`, the
//! condition α·L < 1 of Lemma 2.1), b, t and the seed. Every subcommand, plan and code file
//! builds a [`VerifyConfig`] here and resolves it into a [`Setup`]; the defaults live here once
//! (docs/design.md §7).

mod checks;
mod memory;
mod setup;
mod source;
mod step_size;

pub use checks::check_without_data;
pub use setup::Setup;
pub use source::{load_source, DIGITS_CSV_GZ};

use crate::data::{self, RawData};
use crate::grid::Dyadic;
use crate::model::Activation;
pub use crate::model::ModelKind;
use crate::sgd::BackendChoice;
use crate::steps::invert::DEFAULT_MAX_ITERATIONS;
use crate::Error;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where the examples come from.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    /// The bundled UCI optical digits.
    Digits,
    /// A CSV (plain or gz) or IDX file.
    Path(PathBuf),
    /// A CSV file read with a given column layout (`--header`, `--label-column`).
    Csv {
        /// The file.
        path: PathBuf,
        /// Its header and label column.
        layout: data::csv::CsvLayout,
    },
    /// Seeded Gaussian features with labels from a random linear teacher.
    Synthetic {
        /// Number of examples.
        n: usize,
        /// Features per example, before the bias feature.
        features: usize,
        /// Number of classes the teacher assigns.
        classes: u32,
    },
    /// Examples handed over in memory by a front end (e.g. numpy arrays from Python); they
    /// are quantised by [`data::prepare()`] as a file's would be.
    Arrays(std::sync::Arc<RawData>),
}

impl DataSource {
    /// The file the examples are read from, if any.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            DataSource::Path(p) | DataSource::Csv { path: p, .. } => Some(p),
            _ => None,
        }
    }

    /// The data set a command-line or plan value names: `digits`, `synthetic` (of the shape
    /// given) or a file path.
    pub fn from_arg(arg: &str, synthetic: Synthetic) -> Self {
        match arg {
            "digits" => DataSource::Digits,
            "synthetic" => DataSource::Synthetic {
                n: synthetic.n,
                features: synthetic.features,
                classes: synthetic.classes,
            },
            path => DataSource::Path(PathBuf::from(path)),
        }
    }
}

/// The shape of `--data synthetic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Synthetic {
    /// Examples.
    pub n: usize,
    /// Features per example, before the bias feature.
    pub features: usize,
    /// Classes the teacher assigns.
    pub classes: u32,
}

impl Default for Synthetic {
    /// 400 examples of 8 features in 2 classes.
    fn default() -> Self {
        Synthetic {
            n: 400,
            features: 8,
            classes: 2,
        }
    }
}

/// The target q of α·L_B ≤ q when no step size is given.
pub const DEFAULT_Q: &str = "0.1";

/// The MPFR working precision when none is given, in bits.
pub const DEFAULT_MPFR_PRECISION: u32 = 128;

/// How α is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum StepSize {
    /// A given dyadic α.
    Alpha(Dyadic),
    /// The largest 16-bit dyadic α with α·L_B ≤ q (q given as a decimal or fraction).
    Q(String),
    /// The largest 16-bit dyadic α with α·L_∞ ≤ q, L_∞ the certified ∞-norm bound.
    QInf(String),
}

/// Everything `rewind verify` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyConfig {
    /// Where the examples come from.
    pub data: DataSource,
    /// The model family.
    pub model: ModelKind,
    /// Hidden width of the MLP (ignored by the other models).
    pub hidden: usize,
    /// Hidden activation of the MLP (ignored by the other models).
    pub activation: Activation,
    /// How gradients are evaluated before rounding to the grid (docs/design.md §2.4).
    pub backend: BackendChoice,
    /// p: the grid spacing (one ulp) is 2^-p (docs/design.md §2.1).
    pub frac_bits: u32,
    /// How α is chosen.
    pub step_size: StepSize,
    /// b: examples per batch; the n mod b tail of the data is dropped.
    pub batch: usize,
    /// The most epochs Algorithm 1 runs.
    pub epochs: usize,
    /// Seed of every random stream of the run (src/rng.rs).
    pub seed: u64,
    /// The classes to keep, by label (`None`: the model's default).
    pub classes: Option<Vec<u32>>,
    /// Replace the labels by seeded random ones (a run that can learn nothing).
    pub random_labels: bool,
    /// Stop at the start of a step once every example is classified correctly (Algorithm 1).
    pub stop_at_full_accuracy: bool,
    /// The inverter's iteration cap per step (Lemma 2.1's fixed-point iteration).
    pub max_iterations: u32,
    /// Certify every step with this budget of gradient evaluations per step.
    pub certify: Option<u64>,
    /// Append a constant-one feature (a bias weight).
    pub bias: bool,
    /// Encode the run's randomness (Lemma 3.1) and decode it back (needs `invert`).
    pub code: bool,
    /// Invert every step and walk back to W₁,₁.
    pub invert: bool,
}

impl Default for VerifyConfig {
    /// Logistic regression, digits 3 vs 8, b = 20, q = 0.1, p = 32, 3 epochs, f64 backend
    /// (which needs no C library; MPFR is the `mpfr` cargo feature).
    fn default() -> Self {
        VerifyConfig {
            data: DataSource::Digits,
            model: ModelKind::Logistic,
            hidden: 10,
            activation: Activation::Gelu,
            backend: BackendChoice::F64,
            frac_bits: 32,
            step_size: StepSize::Q(DEFAULT_Q.into()),
            batch: 20,
            epochs: 3,
            seed: 0,
            classes: None,
            random_labels: false,
            stop_at_full_accuracy: true,
            max_iterations: DEFAULT_MAX_ITERATIONS,
            certify: None,
            bias: true,
            code: true,
            invert: true,
        }
    }
}

/// A setting that concerns some runs only. Given to another run it would be silently ignored,
/// so every front end refuses it with the reason, by the one rule [`Setting::why_not`]: the
/// CLI's flags and a plan's axes alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// The MLP's hidden width.
    Hidden,
    /// The MLP's hidden activation.
    Activation,
    /// The MPFR backend's working precision.
    MpfrPrecision,
    /// The gradient-evaluation budget of certification.
    CertifyBudget,
    /// A parameter of Section 4's SGD′ (ℓ, m, s, ε or T).
    SgdPrime,
}

impl Setting {
    /// Why the setting does not apply to a run of `config` (an SGD′ run when `sgd_prime`), or
    /// `None` when it does.
    pub fn why_not(self, config: &VerifyConfig, sgd_prime: bool) -> Option<String> {
        let model = config.model;
        match self {
            Setting::Hidden | Setting::Activation if model != ModelKind::Mlp => Some(format!(
                "only the mlp model has a hidden layer, and --model {} has none",
                model.name()
            )),
            Setting::MpfrPrecision if !matches!(config.backend, BackendChoice::Mpfr { .. }) => {
                Some(format!(
                    "it is the working precision of the mpfr backend, and this run uses --backend {}",
                    config.backend.name()
                ))
            }
            Setting::CertifyBudget if config.certify.is_none() => {
                Some("it is the budget of certification, which is off; add --certify".into())
            }
            Setting::SgdPrime if !sgd_prime => Some(
                "it is a parameter of Section 4's SGD′, and this run is plain SGD; add --algorithm sgd-prime"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Refuses the first of `given` (each a setting with the name it was given by, e.g. a flag)
/// that does not apply to the run: one line naming it and why.
pub fn check_applicable(
    config: &VerifyConfig,
    sgd_prime: bool,
    given: &[(Setting, &str)],
) -> Result<(), Error> {
    for (setting, name) in given {
        if let Some(why) = setting.why_not(config, sgd_prime) {
            return Err(Error::Config(format!(
                "{name} does not apply to this run: {why}; leave it out"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sgd::BackendKind;

    /// Every name parses back to its choice, through `FromStr` and through serde, and names
    /// are distinct.
    fn round_trips<T>(all: &[T])
    where
        T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + std::str::FromStr,
        T: serde::Serialize + serde::de::DeserializeOwned,
        <T as std::str::FromStr>::Err: std::fmt::Debug,
    {
        let names: std::collections::BTreeSet<String> = all.iter().map(T::to_string).collect();
        assert_eq!(names.len(), all.len(), "two choices share a name");
        for &k in all {
            assert_eq!(k.to_string().parse::<T>().unwrap(), k);
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{k}\""));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), k);
        }
    }

    #[test]
    fn every_choice_round_trips_through_its_name() {
        round_trips(ModelKind::ALL);
        round_trips(BackendKind::ALL);
        round_trips(Activation::ALL);
    }

    #[test]
    fn an_unknown_name_lists_the_valid_ones() {
        let e = "lasso".parse::<ModelKind>().unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown model 'lasso'; use one of least-squares, logistic, softmax, mlp"
        );
        let e = serde_json::from_str::<BackendKind>("\"f32\"").unwrap_err();
        assert!(e.to_string().contains("use one of exact, mpfr, f64"), "{e}");
    }

    #[test]
    fn a_setting_for_other_runs_is_refused_with_the_reason() {
        let c = VerifyConfig::default();
        let e = check_applicable(&c, false, &[(Setting::Hidden, "--hidden")]).unwrap_err();
        assert!(e.to_string().contains("--hidden does not apply"), "{e}");
        assert!(e.to_string().contains("--model logistic has none"), "{e}");
        let e = check_applicable(&c, false, &[(Setting::SgdPrime, "--epsilon")]).unwrap_err();
        assert!(e.to_string().contains("--algorithm sgd-prime"), "{e}");
        let e = check_applicable(&c, false, &[(Setting::CertifyBudget, "--certify-budget")]);
        assert!(e.unwrap_err().to_string().contains("add --certify"));
        let mlp = VerifyConfig {
            model: ModelKind::Mlp,
            certify: Some(10),
            ..c
        };
        let all = [
            (Setting::Hidden, "--hidden"),
            (Setting::Activation, "--activation"),
            (Setting::CertifyBudget, "--certify-budget"),
            (Setting::SgdPrime, "--epsilon"),
        ];
        assert!(check_applicable(&mlp, true, &all).is_ok());
    }

    #[test]
    fn the_data_argument_names_its_source() {
        let shape = Synthetic::default();
        assert_eq!(DataSource::from_arg("digits", shape), DataSource::Digits);
        assert_eq!(
            DataSource::from_arg("synthetic", shape),
            DataSource::Synthetic {
                n: 400,
                features: 8,
                classes: 2
            }
        );
        assert_eq!(
            DataSource::from_arg("x.csv", shape),
            DataSource::Path(PathBuf::from("x.csv"))
        );
    }
}
