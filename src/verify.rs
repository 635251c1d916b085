//! The whole pipeline of `rewind verify`: resolve the configuration (data, model, α), run
//! Algorithm 1, invert every step, walk back from the final model with hints, and report.
//!
//! This is Theorem 2.2 checked on a real run: the report says whether W₁,₁ came back bit for
//! bit, how many steps needed hints (the grid's many-to-one steps) and what they cost, beside
//! the predicted share 1 − det(I − αH_B).

use crate::certify::{certify, Certificate, Enumerated, UnknownReason};
use crate::codec::entropy::{decode, encode, CodeOptions, RunShape};
use crate::data::{self, Dataset, PrepareOptions, RawData};
use crate::discrepancy::{beta_leading, discrepancy, EpochDiscrepancy};
use crate::grid::{parse_rational, Dyadic, Grid};
use crate::invert::{Outcome, Termination, DEFAULT_MAX_ITERATIONS};
use crate::many_to_one::predicted_many_to_one;
use crate::model::{Activation, AnyModel, LeastSquares, Logistic, Mlp, Model, Smoothness, Softmax};
use crate::progress::{NoProgress, Phase, Progress};
use crate::reconstruct::{analyse, hints_of, rewind};
use crate::report::{
    model_sha256, CertificationReport, CodeReport, ConfigReport, DiscrepancyReport,
    EpochCodeReport, HintReport, InversionReport, ReconstructionReport, RunReport,
    SmoothnessReport, VerifyReport, FORMAT,
};
use crate::rng::{stream, Stream};
use crate::sgd::{run, BackendChoice, NoObserver, Observer, SgdConfig, StepFunction, Trajectory};
use crate::Error;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive};
use std::path::PathBuf;

/// The UCI optical digits, bundled so that the default run needs no file.
pub const DIGITS_CSV_GZ: &[u8] = include_bytes!("../fixtures/digits.csv.gz");

/// Where the examples come from.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    /// The bundled UCI optical digits.
    Digits,
    /// A CSV (plain or gz) or IDX file.
    Path(PathBuf),
    /// Seeded Gaussian features with labels from a random linear teacher.
    Synthetic {
        /// Number of examples.
        n: usize,
        /// Features per example, before the bias feature.
        features: usize,
        /// Number of classes the teacher assigns.
        classes: u32,
    },
}

/// The model family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// Binary least squares on labels ±1.
    LeastSquares,
    /// Binary logistic regression.
    Logistic,
    /// Multi-class softmax regression.
    Softmax,
    /// One-hidden-layer perceptron with softmax output.
    Mlp,
}

impl ModelKind {
    fn binary(self) -> bool {
        matches!(self, ModelKind::LeastSquares | ModelKind::Logistic)
    }
}

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
            step_size: StepSize::Q("0.1".into()),
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
    /// What quantisation lost (see [`VerifyReport::warnings`]).
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
            d => Err(Error::Config(format!(
                "the code file's header describes a model of {dim} parameters, but {} on this data set has {}; the file is corrupted or was written for other data",
                model_name(config.model),
                d.map_or("more than 2^64".into(), |d| d.to_string())
            ))),
        }
        })
    }

    fn new_checked(
        config: &VerifyConfig,
        check: impl FnOnce(&Dataset) -> Result<(), Error>,
    ) -> Result<Self, Error> {
        check_builtin(config)?;
        let binary = config.model.binary().then(|| model_name(config.model));
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

    /// Loads the data, selects its classes (`binary` names a two-class model), drops the
    /// tail, builds the model and resolves α.
    fn build(
        config: &VerifyConfig,
        binary: Option<&str>,
        make: impl FnOnce(&Dataset) -> Result<AnyModel, Error>,
    ) -> Result<Self, Error> {
        check_shape(config)?;
        let grid = Grid::new(config.frac_bits)?;
        if let DataSource::Synthetic { n, features, .. } = config.data {
            // Each value is held as an f64 and then as an i64.
            let need = (n as u64)
                .checked_mul(features as u64 + 1)
                .and_then(|v| v.checked_mul(16));
            check_memory(
                need,
                &format!("--data synthetic with {n} examples of {features} features"),
                "use a smaller --synthetic-n or --synthetic-features",
            )?;
        }
        let raw = load(&config.data, config.seed)?;
        let classes = match (&config.classes, binary) {
            (Some(c), Some(name)) if c.len() != 2 => {
                return Err(Error::Config(format!(
                    "--model {name} needs exactly two classes, got --classes with {}; pass two, e.g. --classes 3,8",
                    c.len()
                )))
            }
            (Some(c), _) => Some(c.clone()),
            (None, Some(_)) if config.data == DataSource::Digits => Some(vec![3, 8]),
            (None, _) => None,
        };
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
        let warnings = quantisation_warnings(&raw, &data);
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
        let linf = model.linf_bound(&data, config.batch);
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

/// Feature values that quantisation turns into zero: the model never sees them.
fn quantisation_warnings(raw: &RawData, data: &Dataset) -> Vec<String> {
    let factor = 2f64.powi(-data.scale_log2);
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

/// A run in which no step changed the model measured nothing.
pub(crate) fn run_warnings(setup: &Setup, traj: &Trajectory) -> Vec<String> {
    let moved = (0..traj.steps.len())
        .filter(|&k| traj.steps[k].w != traj.model_after(k))
        .count();
    if traj.steps.is_empty() || moved > 0 {
        return Vec::new();
    }
    vec![format!(
        "none of the {} steps moved the model: every α·gradient rounds to 0 at --frac-bits {}; raise --frac-bits or the step size",
        traj.steps.len(),
        setup.config.frac_bits
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

/// Checks that hold for every model.
fn check_shape(c: &VerifyConfig) -> Result<(), Error> {
    if let Some(budget) = c.certify.filter(|&b| b > crate::certify::MAX_BUDGET) {
        return Err(Error::Config(format!(
            "--certify-budget {budget} is above the {} gradient evaluations per step this rewind allows (decoding repeats every certification); use at most {}",
            crate::certify::MAX_BUDGET,
            crate::certify::MAX_BUDGET
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
            model_name(c.model)
        )));
    }
    Ok(())
}

/// The command-line name of a model.
pub fn model_name(m: ModelKind) -> &'static str {
    match m {
        ModelKind::LeastSquares => "least-squares",
        ModelKind::Logistic => "logistic",
        ModelKind::Softmax => "softmax",
        ModelKind::Mlp => "mlp",
    }
}

fn load(source: &DataSource, seed: u64) -> Result<RawData, Error> {
    Ok(match source {
        DataSource::Digits => data::csv::load_csv_bytes(DIGITS_CSV_GZ, "digits (bundled)")?,
        DataSource::Path(p) => data::load_path(p)?,
        DataSource::Synthetic {
            n,
            features,
            classes,
        } => data::synthetic::generate(*n, *features, *classes, seed),
    })
}

fn build_model(c: &VerifyConfig, data: &Dataset) -> AnyModel {
    match c.model {
        ModelKind::LeastSquares => AnyModel::LeastSquares(LeastSquares::new(data)),
        ModelKind::Logistic => AnyModel::Logistic(Logistic::new(data)),
        ModelKind::Softmax => AnyModel::Softmax(Softmax::new(data)),
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

/// Runs the whole verification and returns the report and the trajectory.
pub fn verify(
    setup: &Setup,
    observer: &mut dyn Observer,
) -> Result<(VerifyReport, Trajectory), Error> {
    let run = verify_run(setup, observer, &NoProgress)?;
    Ok((run.report, run.trajectory))
}

/// Everything a verification produced.
#[derive(Debug, Clone)]
pub struct VerifiedRun {
    /// The report, as `rewind verify --json` prints it.
    pub report: VerifyReport,
    /// Every model, batch and permutation of the run.
    pub trajectory: Trajectory,
    /// What inverting each logged step gave, in run order (absent when `invert` is off).
    pub records: Option<Vec<crate::codec::hint::StepRecord>>,
}

/// [`verify`], reporting each phase to `progress` and keeping the inversion records.
pub fn verify_run(
    setup: &Setup,
    observer: &mut dyn Observer,
    progress: &dyn Progress,
) -> Result<VerifiedRun, Error> {
    let f = setup.step_function().with_progress(progress);
    let traj = run(&f, &setup.sgd_config(), setup.init.clone(), observer)?;
    let inverted = if setup.config.invert {
        Some(invert_all(setup, &f, &traj)?)
    } else {
        None
    };
    let records = inverted.as_ref().map(|i| i.records.as_slice());
    let certification = match (setup.config.certify, records) {
        (Some(budget), Some(r)) => Some(certify_all(&f, &traj, r, budget)?),
        _ => None,
    };
    let correct = correctness(&f, &traj)?;
    let discrepancy = discrepancy_report(setup, &traj, &correct);
    let code = match (setup.config.code, records) {
        (true, Some(r)) => Some(code_report(setup, &f, &traj, r, &discrepancy.epochs)?),
        _ => None,
    };
    let acc = |k: usize| correct[k].iter().filter(|&&c| c).count() as f64 / setup.data.n() as f64;
    let report = VerifyReport {
        format: FORMAT,
        config: config_report(setup),
        run: RunReport {
            epochs_run: traj.permutations.len(),
            stopped_at_full_accuracy: traj.stopped_at.is_some(),
            initial_accuracy: acc(0),
            final_accuracy: acc(traj.steps.len()),
            final_model_sha256: model_sha256(&traj.final_model),
        },
        steps: traj.steps.len(),
        inversion: inverted.as_ref().map(|i| i.inversion.clone()),
        hints: inverted.as_ref().map(|i| i.hints.clone()),
        reconstruction: inverted.as_ref().map(|i| i.reconstruction.clone()),
        certification,
        discrepancy,
        code,
        algorithm: None,
        perturbation: None,
        gd_steps: None,
        warnings: setup
            .warnings
            .iter()
            .cloned()
            .chain(run_warnings(setup, &traj))
            .collect(),
    };
    Ok(VerifiedRun {
        report,
        trajectory: traj,
        records: inverted.map(|i| i.records),
    })
}

/// Every step inverted, the hints derived and the walk back checked.
struct Inverted {
    records: Vec<crate::codec::hint::StepRecord>,
    inversion: InversionReport,
    hints: HintReport,
    reconstruction: ReconstructionReport,
}

fn invert_all(setup: &Setup, f: &StepFunction, traj: &Trajectory) -> Result<Inverted, Error> {
    let (own_before, predictor_before) = (f.own_evaluations(), f.predictor_evaluations());
    let max_it = setup.config.max_iterations;
    let records = analyse(f, traj, max_it)?;
    let hints = hints_of(&records);
    let batches: Vec<Vec<usize>> = traj.steps.iter().map(|s| s.batch.clone()).collect();
    let models = rewind(f, &traj.final_model, &batches, &hints, max_it)?;
    let own = f.own_evaluations() - own_before;
    let predictor = f.predictor_evaluations() - predictor_before;
    let steps = traj.steps.len();
    let count = |o: Outcome| records.iter().filter(|r| r.outcome == o).count();
    let hinted = hints.hints.len();
    let inversion = InversionReport {
        recovered: count(Outcome::Recovered),
        other_preimage: count(Outcome::OtherPreimage),
        no_preimage: count(Outcome::NoPreimage),
        cycles: records
            .iter()
            .filter(|r| matches!(r.termination, Termination::Cycle { .. }))
            .count(),
        caps: records
            .iter()
            .filter(|r| r.termination == Termination::Cap)
            .count(),
        mean_iterations: mean(records.iter().map(|r| r.iterations as f64)),
        gradient_evaluations: own + predictor,
        own_backend_evaluations: own,
        predictor_evaluations: predictor,
        predicted_many_to_one: predicted_many_to_one(f, traj),
        observed_many_to_one: if steps == 0 {
            0.0
        } else {
            hinted as f64 / steps as f64
        },
    };
    let hint_report = HintReport {
        steps: hinted,
        bits: hints.bits(steps, f.dim()),
        coding: "count and subset rank of hinted steps; per hint nnz−1, positions as a subset rank, values as sign + Elias-γ".into(),
    };
    let reconstruction = ReconstructionReport {
        initial_model_bit_exact: models
            .first()
            .map_or(traj.steps.is_empty(), |m| m == traj.initial_model()),
        all_models_bit_exact: models.iter().zip(&traj.steps).all(|(m, s)| *m == s.w),
        final_model_sha256: model_sha256(&traj.final_model),
        initial_model_sha256: model_sha256(traj.initial_model()),
    };
    Ok(Inverted {
        records,
        inversion,
        hints: hint_report,
        reconstruction,
    })
}

/// Runs the verification without observing the run.
pub fn verify_quiet(setup: &Setup) -> Result<(VerifyReport, Trajectory), Error> {
    verify(setup, &mut NoObserver)
}

pub(crate) fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        s / n as f64
    }
}

pub(crate) fn config_report(s: &Setup) -> ConfigReport {
    let c = &s.config;
    let is_mlp = matches!(s.model, AnyModel::Mlp(_));
    ConfigReport {
        data: s.data.source.clone(),
        model: s.model.name().into(),
        hidden: is_mlp.then_some(c.hidden),
        activation: is_mlp.then(|| c.activation.name().to_string()),
        backend: c.backend.name().into(),
        mpfr_precision: match c.backend {
            BackendChoice::Mpfr { precision } => Some(precision),
            _ => None,
        },
        frac_bits: c.frac_bits,
        alpha: s.alpha.to_string(),
        alpha_num: s.alpha.num(),
        alpha_den: 1u64 << s.alpha.shift(),
        q: s.q(),
        q_inf: s.q_inf(),
        smoothness: SmoothnessReport {
            certified: s.smoothness.is_certified(),
            value: s.smoothness.to_f64(),
            how: s.smoothness.how().to_string(),
        },
        batch: c.batch,
        epochs: c.epochs,
        seed: c.seed,
        n: s.data.n(),
        n_loaded: s.n_loaded,
        features: s.data.d(),
        d: s.model.dim(),
        classes: s.data.class_names.clone(),
        random_labels: c.random_labels,
        stop_at_full_accuracy: c.stop_at_full_accuracy,
        max_iterations: c.max_iterations,
    }
}

/// Certifies every logged step (in parallel; the result does not depend on the thread count)
/// and checks the certificates against what the inverter found.
pub(crate) fn certify_all(
    f: &StepFunction,
    traj: &Trajectory,
    records: &[crate::codec::hint::StepRecord],
    budget: u64,
) -> Result<CertificationReport, Error> {
    use rayon::prelude::*;
    f.progress().begin(Phase::Certify, traj.steps.len() as u64);
    let results: Vec<(Certificate, Enumerated)> = (0..traj.steps.len())
        .into_par_iter()
        .map(|k| {
            let s = &traj.steps[k];
            let certified = certify(f, traj.model_after(k), &s.batch, &s.w, budget);
            f.progress().advance(1);
            certified
        })
        .collect::<Result<_, _>>()?;
    for (k, ((cert, _), rec)) in results.iter().zip(records).enumerate() {
        let contradiction = match cert {
            Certificate::Unique => rec.outcome == Outcome::OtherPreimage,
            Certificate::Ambiguous {
                index_of_logged, ..
            } => *index_of_logged == usize::MAX,
            Certificate::Unknown(_) => false,
        };
        if contradiction {
            return Err(Error::Config(format!(
                "certificate of step {} contradicts the inverter's preimage: a bound is wrong; please report this run",
                k + 1
            )));
        }
    }
    let count =
        |pred: &dyn Fn(&Certificate) -> bool| results.iter().filter(|(c, _)| pred(c)).count();
    let reason =
        |r: fn(&UnknownReason) -> bool| count(&|c| matches!(c, Certificate::Unknown(u) if r(u)));
    let free: Vec<usize> = results
        .iter()
        .filter_map(|(_, e)| e.result.as_ref().ok().map(|en| en.free))
        .collect();
    Ok(CertificationReport {
        unique: count(&|c| *c == Certificate::Unique),
        ambiguous: count(&|c| matches!(c, Certificate::Ambiguous { .. })),
        unknown: count(&|c| matches!(c, Certificate::Unknown(_))),
        unknown_non_contractive: reason(|u| {
            matches!(u, UnknownReason::NonContractiveInfNorm { .. })
        }),
        unknown_budget: reason(|u| matches!(u, UnknownReason::Budget { .. })),
        unknown_no_certified_bound: reason(|u| matches!(u, UnknownReason::NoCertifiedBound)),
        unknown_radius_too_large: reason(|u| matches!(u, UnknownReason::RadiusTooLarge { .. })),
        optimal_hint_bits: results.iter().map(|(c, _)| c.optimal_hint_bits()).sum(),
        gradient_evaluations: results.iter().map(|(_, e)| e.evaluations).sum(),
        budget,
        mean_free_coordinates: mean(free.iter().map(|&v| v as f64)),
        max_free_coordinates: free.iter().copied().max().unwrap_or(0),
        max_preimages: results
            .iter()
            .filter_map(|(_, e)| e.result.as_ref().ok().map(|en| en.preimages.len()))
            .max()
            .unwrap_or(0),
        evaluation_error: evaluation_error_note(f.backend()),
    })
}

fn evaluation_error_note(b: BackendChoice) -> String {
    match b {
        BackendChoice::Exact => "exact: no evaluation error".into(),
        BackendChoice::Mpfr { precision } => format!(
            "mpfr: forward-error bound with unit roundoff 2^-{precision}, propagated through the gradient"
        ),
        BackendChoice::F64 => {
            "f64: forward-error bound with unit roundoff 2^-53 (libm exp within 2u), propagated through the gradient".into()
        }
    }
}

/// `correct[k][x]` = acc(model k, x) for every model of the run (k = 0 is W₁,₁, the last the
/// final model), computed in parallel.
pub fn correctness(f: &StepFunction, traj: &Trajectory) -> Result<Vec<Vec<bool>>, Error> {
    use rayon::prelude::*;
    let all: Vec<usize> = (0..f.data().n()).collect();
    let steps = traj.steps.len();
    // The stop check already evaluated every model before its step; only the rest is computed.
    let known = if traj.correct.len() == steps {
        traj.correct.len()
    } else {
        0
    };
    let rest: Vec<Vec<bool>> = (known..=steps)
        .into_par_iter()
        .map(|k| {
            let w = if k == steps {
                &traj.final_model
            } else {
                &traj.steps[k].w
            };
            f.correct_many(w, &all)
        })
        .collect::<Result<_, _>>()?;
    Ok(traj.correct[..known].iter().cloned().chain(rest).collect())
}

/// The per-epoch discrepancy and its null model.
pub(crate) fn discrepancy_report(
    setup: &Setup,
    traj: &Trajectory,
    correct: &[Vec<bool>],
) -> DiscrepancyReport {
    let b = setup.config.batch;
    let batches: Vec<Vec<usize>> = traj.steps.iter().map(|s| s.batch.clone()).collect();
    let epoch_of: Vec<usize> = traj.steps.iter().map(|s| s.epoch).collect();
    let j_of: Vec<usize> = traj.steps.iter().map(|s| s.step).collect();
    let n = setup.data.n();
    let (_, epochs) = discrepancy(correct, &batches, &epoch_of, &j_of, n / b);
    DiscrepancyReport {
        beta_leading: beta_leading(n, b),
        epochs,
    }
}

/// log₂ n + 2: an epoch's discrepancy saving is at most its tilt's log-likelihood ratio against
/// the hypergeometric null, minus the 3 header bits, plus 2 bits of rounding (two ceilings);
/// the ratio reaches c + 3 bits with probability at most 2^-(c+3) for each of the 8 tilts, so
/// the saving reaches c + 2 bits with probability at most 2^-c. With c = log₂ n: at most 1/n.
pub fn saving_threshold_bits(n: usize) -> f64 {
    (n.max(1) as f64).log2() + 2.0
}

/// Encodes the run, decodes it from the final model alone and compares.
fn code_report(
    setup: &Setup,
    f: &StepFunction,
    traj: &Trajectory,
    records: &[crate::codec::hint::StepRecord],
    rho: &[EpochDiscrepancy],
) -> Result<CodeReport, Error> {
    let b = setup.config.batch as f64;
    let shape = RunShape::of(traj, setup.data.n(), setup.config.batch);
    let opts = CodeOptions {
        certify: setup.config.certify.map(crate::certify::certifier),
        max_iterations: setup.config.max_iterations,
    };
    let enc = encode(f, traj, records, shape, opts)?;
    let dec = decode(f, &traj.final_model, shape, &enc.code, opts)?;
    let roundtrip = dec.permutations == traj.permutations
        && dec
            .batches
            .iter()
            .zip(&traj.steps)
            .all(|(b, s)| *b == s.batch)
        && dec.models.iter().zip(&traj.steps).all(|(m, s)| *m == s.w)
        && dec.models.len() == traj.steps.len();
    let epochs = enc
        .epochs
        .iter()
        .map(|e| {
            let d = rho.get(e.epoch - 1);
            let scaled = |v: fn(&EpochDiscrepancy) -> f64| d.map_or(0.0, |d| b * v(d));
            EpochCodeReport {
                epoch: e.epoch,
                baseline_bits: e.baseline_bits,
                bits: e.bits,
                hint_bits: e.hint_bits,
                header_bits: e.header_bits,
                saving_bits: e.baseline_bits as i64 - e.bits as i64,
                discrepancy_saving_bits: e.baseline_bits as i64
                    - (e.bits as i64 - e.hint_bits as i64),
                tilt: format!("{}/{}", e.tilt.0, e.tilt.1),
                b_rho_code: scaled(|d| d.rho_code),
                b_rho_paper: scaled(|d| d.rho_paper),
                b_excess_code: scaled(|d| d.rho_code - d.null_rho_code),
            }
        })
        .collect::<Vec<_>>();
    Ok(CodeReport {
        roundtrip_bit_exact: roundtrip,
        total_bits: enc.code.bits,
        run_header_bits: enc.run_header_bits,
        baseline_total_bits: epochs.iter().map(|e| e.baseline_bits).sum(),
        certified_hints: opts.certify.is_some(),
        saving_threshold_bits: saving_threshold_bits(setup.data.n()),
        epochs,
    })
}
