//! A configuration resolved against its data into a [`Setup`]: the prepared data set, the
//! built-in or custom model, W₁,₁ and α, with every check run in order.

use super::checks::{check_builtin, check_shape};
use super::memory::{check_run_memory, model_dim};
use super::source::{check_source, data_warnings, load, selected_classes};
use super::step_size::resolve_alpha;
use super::{ModelKind, VerifyConfig};
use crate::data::{self, Dataset, PrepareOptions};
use crate::grid::{Dyadic, Grid};
use crate::model::{AnyModel, Linear, Mlp, Model, Smoothness};
use crate::rng::{stream, Stream};
use crate::sgd::{SgdConfig, StepFunction};
use crate::steps::codec::file::FileError;
use crate::Error;
use num_rational::BigRational;
use num_traits::ToPrimitive;

/// A configuration resolved against its data: the data set as the model sees it, the model
/// and α.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The configuration this setup was resolved from.
    pub config: VerifyConfig,
    /// The quantised data set, its length a multiple of b.
    pub data: Dataset,
    /// Examples loaded, before the n mod b tail was dropped.
    pub n_loaded: usize,
    /// The model.
    pub model: AnyModel,
    /// The step size α, a dyadic rational.
    pub alpha: Dyadic,
    /// The bound L_B on the batch gradient's Lipschitz constant (docs/design.md §2.5).
    pub smoothness: Smoothness,
    /// The certified ∞-norm bound L_∞, where the model has one.
    pub linf: Option<BigRational>,
    /// W₁,₁, the seeded initial model in raw grid integers.
    pub init: Vec<i64>,
    /// What quantisation lost (see [`crate::pipeline::report::VerifyReport::warnings`]).
    pub warnings: Vec<String>,
}

impl Setup {
    /// Loads and checks everything for one of the built-in models; every problem is a
    /// one-line [`Error`].
    pub fn new(config: &VerifyConfig) -> Result<Self, Error> {
        Self::new_checked(config, |_| Ok(()))
    }

    /// [`Setup::new`] for a model whose parameter count is already known (a code file's
    /// header): a configuration that would build a model of another size is refused before
    /// the model is allocated, so a forged `hidden` cannot cost minutes or memory.
    pub fn expecting_dim(config: &VerifyConfig, dim: usize) -> Result<Self, Error> {
        Self::new_checked(config, |data| {
            match model_dim(config, data) {
            Some(d) if d == dim => Ok(()),
            d => Err(FileError::Inconsistent(format!(
                "a model of {dim} parameters, but {} on this data set has {}; or the file was written for other data",
                config.model.name(),
                d.map_or("more than 2^64".into(), |d| d.to_string())
            ))
            .into()),
        }
        })
    }

    fn new_checked(
        config: &VerifyConfig,
        check: impl FnOnce(&Dataset) -> Result<(), Error>,
    ) -> Result<Self, Error> {
        check_builtin(config)?;
        let binary = config.model.binary().then(|| config.model.name());
        Self::build(config, binary, |data| {
            check(data)?;
            check_run_memory(config, data)?;
            Ok(build_model(config, data))
        })
    }

    /// The same for a user's own model, built from the prepared data set (its dimension
    /// usually depends on the features). `config.model`, `hidden` and `activation` are
    /// ignored; `config.classes` selects the classes (all of them when `None`).
    pub fn with_model<M: Model + std::fmt::Debug + 'static>(
        config: &VerifyConfig,
        make: impl FnOnce(&Dataset) -> M,
    ) -> Result<Self, Error> {
        Self::build(config, None, |data| Ok(AnyModel::custom(make(data))))
    }

    /// [`Setup::with_model`] for a model given as a [`DynModel`] object, which may fail to
    /// build (e.g. a model from another language that reports the wrong dimension).
    ///
    /// [`DynModel`]: crate::model::custom::DynModel
    pub fn with_dyn_model(
        config: &VerifyConfig,
        make: impl FnOnce(&Dataset) -> Result<std::sync::Arc<dyn crate::model::custom::DynModel>, Error>,
    ) -> Result<Self, Error> {
        Self::build(config, None, |data| {
            Ok(AnyModel::Custom(
                crate::model::custom::CustomModel::from_dyn(make(data)?),
            ))
        })
    }

    /// Loads the data, selects its classes (`binary` names a two-class model), drops the
    /// tail, builds the model and resolves α.
    fn build(
        config: &VerifyConfig,
        binary: Option<&str>,
        make: impl FnOnce(&Dataset) -> Result<AnyModel, Error>,
    ) -> Result<Self, Error> {
        check_shape(config)?;
        let grid = Grid::new(config.frac_bits)?;
        check_source(&config.data)?;
        let raw = load(&config.data, config.seed)?;
        let classes = selected_classes(config, binary)?;
        let mut data = data::prepare(
            &raw,
            &PrepareOptions {
                grid,
                classes,
                random_labels: config.random_labels,
                seed: config.seed,
                bias: config.bias,
            },
        )?;
        if let Some(name) = binary.filter(|_| data.classes != 2) {
            return Err(Error::Config(format!(
                "--model {name} is binary but the data has {} classes; choose two with --classes A,B",
                data.classes
            )));
        }
        let n_loaded = data.n();
        if config.batch > n_loaded {
            return Err(Error::Config(format!(
                "--batch {} is larger than the {} examples of the data set; use --batch {} or less",
                config.batch, n_loaded, n_loaded
            )));
        }
        let n_used = n_loaded / config.batch * config.batch;
        data.features.truncate(n_used);
        data.labels.truncate(n_used);
        let warnings = data_warnings(&raw, &data);
        let model = make(&data)?;
        let init = model.init(&mut stream(config.seed, Stream::Init), &data);
        if init.len() != model.dim() {
            return Err(Error::Config(format!(
                "model {}: init returned {} weights but dim() is {}; fix the model's implementation",
                model.name(),
                init.len(),
                model.dim()
            )));
        }
        let smoothness = model.smoothness(&data, config.batch, &init);
        let linf = model.bounds().map(|b| b.linf_bound(&data, config.batch));
        let alpha = resolve_alpha(&config.step_size, &smoothness, linf.as_ref())?;
        Ok(Setup {
            config: config.clone(),
            data,
            n_loaded,
            model,
            alpha,
            smoothness,
            linf,
            init,
            warnings,
        })
    }

    /// The step function of this setup.
    pub fn step_function(&self) -> StepFunction<'_> {
        StepFunction::new(&self.model, &self.data, self.alpha, self.config.backend)
    }

    /// Algorithm 1's own parameters.
    pub fn sgd_config(&self) -> SgdConfig {
        SgdConfig {
            batch: self.config.batch,
            epochs: self.config.epochs,
            seed: self.config.seed,
            stop_at_full_accuracy: self.config.stop_at_full_accuracy,
            n_used: self.data.n(),
        }
    }

    /// α·L_B.
    pub fn q(&self) -> f64 {
        self.alpha.to_f64() * self.smoothness.to_f64()
    }

    /// α·L_∞, where the model has a certified ∞-norm bound.
    pub fn q_inf(&self) -> Option<f64> {
        self.linf
            .as_ref()
            .and_then(|l| (self.alpha.to_rational() * l).to_f64())
    }
}

fn build_model(c: &VerifyConfig, data: &Dataset) -> AnyModel {
    match c.model {
        ModelKind::LeastSquares => AnyModel::Linear(Linear::least_squares(data)),
        ModelKind::Logistic => AnyModel::Linear(Linear::logistic(data)),
        ModelKind::Softmax => AnyModel::Linear(Linear::softmax(data)),
        ModelKind::Mlp => AnyModel::Mlp(Mlp::new(data, c.hidden, c.activation)),
    }
}
