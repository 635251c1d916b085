//! The configuration of a run and its resolution against the data: where the examples come
//! from, the model family, the backend, the grid, α (from `--alpha`, `--q` or `--q-inf`, the
//! condition α·L < 1 of Lemma 2.1), b, t and the seed. Every subcommand, plan and code file
//! builds a [`VerifyConfig`] here and resolves it into a [`Setup`]; the defaults live here once
//! (docs/design.md §7).

use crate::data::{self, Dataset, PrepareOptions, RawData};
use crate::grid::{parse_rational, Dyadic, Grid};
pub use crate::model::ModelKind;
use crate::model::{Activation, AnyModel, Linear, Mlp, Model, Smoothness};
use crate::rng::{stream, Stream};
use crate::sgd::{BackendChoice, SgdConfig, StepFunction};
use crate::steps::codec::file::FileError;
use crate::steps::invert::DEFAULT_MAX_ITERATIONS;
use crate::Error;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The UCI optical digits, bundled so that the default run needs no file.
pub const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../../../fixtures/digits.csv.gz");

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
fn check_memory(need: Option<u64>, what: &str, fix: &str) -> Result<(), Error> {
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
fn model_dim(c: &VerifyConfig, data: &Dataset) -> Option<usize> {
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
fn check_run_memory(c: &VerifyConfig, data: &Dataset) -> Result<(), Error> {
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

/// Refuses a data source that cannot be loaded: synthetic data without classes or too large
/// for memory, or an empty path.
fn check_source(source: &DataSource) -> Result<(), Error> {
    if let DataSource::Synthetic {
        n,
        features,
        classes,
    } = *source
    {
        if classes == 0 {
            return Err(Error::Config(
                "--synthetic-classes 0 gives the examples no class to have; use 2 or more".into(),
            ));
        }
        // Each value is held as an f64 and then as an i64; the teacher holds one weight
        // vector per class.
        let need = (n as u64)
            .checked_mul(features as u64 + 1)
            .and_then(|v| v.checked_add(u64::from(classes).checked_mul(features as u64 + 1)?))
            .and_then(|v| v.checked_mul(16));
        check_memory(
            need,
            &format!(
                "--data synthetic with {n} examples of {features} features in {classes} classes"
            ),
            "use a smaller --synthetic-n, --synthetic-features or --synthetic-classes",
        )?;
    }
    if *source == DataSource::Path(PathBuf::new()) {
        return Err(Error::Config(
            "--data is empty; give digits, synthetic or the path of a CSV or IDX file".into(),
        ));
    }
    Ok(())
}

/// The classes to keep: `--classes`, or 3 and 8 for a binary model on the bundled digits;
/// a binary model (named by `binary`) needs exactly two.
fn selected_classes(
    config: &VerifyConfig,
    binary: Option<&str>,
) -> Result<Option<Vec<u32>>, Error> {
    Ok(match (&config.classes, binary) {
        (Some(c), Some(name)) if c.len() != 2 => {
            return Err(Error::Config(format!(
                "--model {name} needs exactly two classes, got --classes with {}; pass two, e.g. --classes 3,8",
                c.len()
            )))
        }
        (Some(c), _) => Some(c.clone()),
        (None, Some(_)) if config.data == DataSource::Digits => Some(vec![3, 8]),
        (None, _) => None,
    })
}

/// The warnings about the prepared data: feature values that quantisation turns into zero,
/// and a column that looks like the row index pandas writes.
fn data_warnings(raw: &RawData, data: &Dataset) -> Vec<String> {
    let mut warnings = quantisation_warnings(raw, data);
    warnings.extend(data::index_like_column(raw).map(|j| format!(
        "feature column {} of {} counts the rows (0, 1, 2, …) like the row index pandas writes, and is read as a feature; drop it, or keep the file's header line (pandas' empty first name marks its index, which is then skipped)",
        j + 1,
        raw.source
    )));
    warnings
}

/// Feature values that quantisation turns into zero: the model never sees them.
fn quantisation_warnings(raw: &RawData, data: &Dataset) -> Vec<String> {
    let factor = data.scale_factor();
    let (mut nonzero, mut lost) = (0usize, 0usize);
    for &v in raw.features.iter().flatten() {
        if v != 0.0 {
            nonzero += 1;
            if data.grid.quantize_f64(v * factor).is_ok_and(|q| q == 0) {
                lost += 1;
            }
        }
    }
    if lost == 0 {
        return Vec::new();
    }
    vec![format!(
        "{lost} of the {nonzero} non-zero feature values of {} round to 0 at --frac-bits {} (features are scaled by 2^-{} into [-1, 1]); the model never sees them: raise --frac-bits",
        raw.source,
        data.grid.frac_bits(),
        data.scale_log2
    )]
}

/// The largest 16-bit dyadic α with α·bound ≤ q.
fn alpha_for(q: &str, flag: &str, bound: &BigRational) -> Result<Dyadic, Error> {
    let qv = parse_rational(q.trim())
        .filter(|v| v.is_positive() && *v < BigRational::one())
        .ok_or_else(|| {
            Error::Config(format!(
                "{flag} {q} must be a number strictly between 0 and 1, e.g. {flag} 0.1"
            ))
        })?;
    if !bound.is_positive() {
        return Err(Error::Config(format!(
            "the smoothness bound is zero (all features are zero?); pass --alpha instead of {flag}"
        )));
    }
    Dyadic::largest_at_most(&(qv / bound)).ok_or_else(|| {
        Error::Config(format!(
            "{flag} {q} gives no usable α; pass --alpha explicitly"
        ))
    })
}

/// The checks of a configuration that need no data: a code file's header must pass them before
/// its data set is loaded, so that a forged field is blamed, not the data.
pub fn check_without_data(c: &VerifyConfig) -> Result<(), Error> {
    check_builtin(c)?;
    check_shape(c)
}

/// Checks that hold for every model.
fn check_shape(c: &VerifyConfig) -> Result<(), Error> {
    if let Some(budget) = c.certify.filter(|&b| b > crate::steps::certify::MAX_BUDGET) {
        return Err(Error::Config(format!(
            "--certify-budget {budget} is above the {} gradient evaluations per step this rewind allows (decoding repeats every certification); use at most {}",
            crate::steps::certify::MAX_BUDGET,
            crate::steps::certify::MAX_BUDGET
        )));
    }
    if c.max_iterations > crate::steps::invert::MAX_ITERATIONS {
        return Err(Error::Config(format!(
            "--max-iterations {} is above the {} iterations per step this rewind allows (each inversion may cost twice that many gradient evaluations); use at most {}",
            c.max_iterations,
            crate::steps::invert::MAX_ITERATIONS,
            crate::steps::invert::MAX_ITERATIONS
        )));
    }
    if c.batch == 0 {
        return Err(Error::Config("--batch must be at least 1".into()));
    }
    if c.epochs == 0 {
        return Err(Error::Config("--epochs must be at least 1".into()));
    }
    if !c.backend.is_available() {
        return Err(crate::model::backend::BackendError::MpfrNotBuilt.into());
    }
    if let BackendChoice::Mpfr { precision } = c.backend {
        if !(64..=4096).contains(&precision) {
            return Err(Error::Config(format!(
                "--mpfr-precision {precision} is out of range; use 64 to 4096 bits"
            )));
        }
    }
    Ok(())
}

/// Checks that concern the built-in models.
fn check_builtin(c: &VerifyConfig) -> Result<(), Error> {
    if c.model == ModelKind::Mlp && c.hidden == 0 {
        return Err(Error::Config("--hidden must be at least 1".into()));
    }
    if c.backend == BackendChoice::Exact && c.model != ModelKind::LeastSquares {
        return Err(Error::Config(format!(
            "--backend exact evaluates only polynomial gradients (least squares), not {}; use --backend mpfr or f64",
            c.model.name()
        )));
    }
    Ok(())
}

/// The examples a data source names, as loaded and before any preparation (`seed` generates
/// the synthetic set).
pub fn load_source(source: &DataSource, seed: u64) -> Result<RawData, Error> {
    load(source, seed)
}

fn load(source: &DataSource, seed: u64) -> Result<RawData, Error> {
    Ok(match source {
        DataSource::Digits => data::csv::load_csv_bytes(DIGITS_CSV_GZ, "digits (bundled)")?,
        DataSource::Path(p) => data::load_path(p)?,
        DataSource::Csv { path, layout } => data::load_path_with(path, layout)?,
        DataSource::Synthetic {
            n,
            features,
            classes,
        } => data::synthetic::generate(*n, *features, *classes, seed),
        DataSource::Arrays(raw) => RawData::clone(raw),
    })
}

fn build_model(c: &VerifyConfig, data: &Dataset) -> AnyModel {
    match c.model {
        ModelKind::LeastSquares => AnyModel::Linear(Linear::least_squares(data)),
        ModelKind::Logistic => AnyModel::Linear(Linear::logistic(data)),
        ModelKind::Softmax => AnyModel::Linear(Linear::softmax(data)),
        ModelKind::Mlp => AnyModel::Mlp(Mlp::new(data, c.hidden, c.activation)),
    }
}

/// α from `--alpha` (checked against a certified bound), from `--q` or from `--q-inf`.
fn resolve_alpha(
    step: &StepSize,
    l: &Smoothness,
    linf: Option<&BigRational>,
) -> Result<Dyadic, Error> {
    let alpha = match step {
        StepSize::Alpha(a) => *a,
        StepSize::Q(q) => {
            let bound = match l {
                Smoothness::Certified { bound, .. } => bound.clone(),
                Smoothness::Estimate { value, .. } => BigRational::from_float(*value)
                    .filter(|v| v.is_positive())
                    .ok_or_else(|| {
                        Error::Config(format!(
                            "the smoothness estimate {value} is not a positive number; pass --alpha instead of --q"
                        ))
                    })?,
            };
            alpha_for(q, "--q", &bound)?
        }
        StepSize::QInf(q) => {
            let bound = linf.ok_or_else(|| {
                Error::Config("--q-inf needs a certified ∞-norm bound, which this model lacks; use --alpha or --q".into())
            })?;
            alpha_for(q, "--q-inf", bound)?
        }
    };
    if alpha.shift() >= 63 {
        return Err(Error::Config(format!(
            "α = {alpha} is below 2^-62; use a larger --alpha or --q, or rescale the data"
        )));
    }
    if let Smoothness::Certified { bound, how } = l {
        let q = alpha.to_rational() * bound;
        if q >= BigRational::one() {
            return Err(Error::Config(format!(
                "α·L_B = {:.4} ≥ 1 with the certified bound L_B = {:.6} ({how}): the step is not provably invertible; lower --alpha below {:.6} or use --q 0.1",
                q.to_f64().unwrap_or(f64::INFINITY),
                bound.to_f64().unwrap_or(f64::INFINITY),
                (BigRational::one() / bound).to_f64().unwrap_or(0.0)
            )));
        }
    }
    Ok(alpha)
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

    /// A feature near f64's maximum sets the scale to 2^1024, whose reciprocal is subnormal:
    /// the warning must count the small values it flattens, not the large one it keeps.
    #[test]
    fn a_huge_feature_is_not_counted_among_those_that_round_to_zero() {
        let raw = RawData {
            features: vec![vec![1e308], vec![1.0], vec![-2.0], vec![0.0]],
            labels: vec![0, 1, 0, 1],
            source: "rows".into(),
        };
        let opts = crate::data::PrepareOptions {
            grid: crate::grid::Grid::new(16).unwrap(),
            classes: None,
            random_labels: false,
            seed: 0,
            bias: false,
        };
        let data = crate::data::prepare(&raw, &opts).unwrap();
        assert_eq!(data.scale_log2, 1024);
        assert_ne!(data.features[0][0], 0);
        let warnings = quantisation_warnings(&raw, &data);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("2 of the 3 non-zero"),
            "{}",
            warnings[0]
        );
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
