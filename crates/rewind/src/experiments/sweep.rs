//! Sweeps: many `verify`-style runs from a plan, in parallel with rayon, with byte-identical
//! results whatever the thread count or order (Appendix B's grid of experiments, and more).
//!
//! A plan (TOML) lists axes; the sweep is their product, in the order the axes are declared
//! below. Every run is seeded by its own `seed` parameter, never by its position or its thread.
//! A plan can switch off phases a measurement does not need (`[phases]`); a plan with an empty
//! or repeated axis value, or a phase that cannot run (certification or the code without
//! inversion), is refused. Output: one JSON line per run,
//! `{"format": 2, "plan": {"name", "sha256"}, "shard": "K/N", "id", "spec", "report"}` (or
//! `"error"` instead of `"report"` for a run that could not be set up), written in plan order
//! once the sweep ends. The plan's identity and the shard on every line let `--resume` and
//! `merge` refuse lines of another plan or slice instead of mixing them. Format 1 (without
//! identity) is still read. `--shard K/N` runs every N-th run starting at the K-th, for array
//! jobs; `merge` joins shards and names the runs that are missing.

use crate::grid::Dyadic;
use crate::model::Activation;
use crate::perturb::Perturbation;
use crate::pipeline::config::{
    DataSource, ModelKind, Setup, StepSize, Synthetic, VerifyConfig, DEFAULT_MPFR_PRECISION,
    DEFAULT_Q,
};
use crate::pipeline::report::VerifyReport;
use crate::pipeline::run::{Algorithm, Run};
use crate::pipeline::sgd_prime::SgdPrimeConfig;
use crate::sgd::BackendKind;
use crate::Error;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The results format this crate writes.
pub const FORMAT: u32 = 2;
/// The `algorithm` axis value of Algorithm 1.
pub const SGD: &str = "sgd";
/// The `algorithm` axis value of Section 4's SGD′ (Algorithm 3).
pub const SGD_PRIME: &str = "sgd-prime";
/// The `optimizer` axis value of heavy-ball SGD (docs/design.md §2.9).
pub const MOMENTUM: &str = "momentum";
/// The results formats this crate reads: format 1 lines lack the plan identity and shard.
pub const READABLE_FORMATS: [u32; 2] = [1, 2];

/// A sweep plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The plan's name, recorded on every results line ([`PlanIdentity`]).
    pub name: String,
    /// The axes whose product is the sweep (`[axes]`).
    #[serde(default)]
    pub axes: Axes,
    /// Which phases each run performs (`[phases]`).
    #[serde(default)]
    pub phases: Phases,
    /// Settings shared by every run (`[fixed]`).
    #[serde(default)]
    pub fixed: Fixed,
    /// The folder of the plan file, against which relative data paths are resolved (set by
    /// [`Plan::located`]; not part of the plan's content or identity).
    #[serde(skip)]
    pub folder: Option<PathBuf>,
}

/// The axes; an absent axis has one default value, an empty one is refused.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axes {
    /// Data sets: "digits", "synthetic" or a file path (default "digits").
    pub data: Option<Vec<String>>,
    /// Models: "least-squares", "logistic", "softmax" or "mlp" (default "logistic").
    pub model: Option<Vec<ModelKind>>,
    /// Hidden widths of the MLP (default 10; ignored by the other models).
    pub hidden: Option<Vec<usize>>,
    /// MLP activations: "gelu" or "tanh" (default "gelu").
    pub activation: Option<Vec<Activation>>,
    /// Batch sizes b (default 20).
    pub batch: Option<Vec<usize>>,
    /// Dyadic step sizes (a plan gives `alpha` or `q`, not both).
    pub alpha: Option<Vec<String>>,
    /// Targets q for α·L_B ≤ q, as for `--q` (default 0.1 when `alpha` is absent).
    pub q: Option<Vec<String>>,
    /// Fractional bits p of the grid (default 32).
    pub frac_bits: Option<Vec<u32>>,
    /// Backends: "exact", "mpfr" or "f64" (default "f64").
    pub backend: Option<Vec<BackendKind>>,
    /// Epochs t (default 3).
    pub epochs: Option<Vec<usize>>,
    /// Seeds of the runs' random streams (default 0).
    pub seed: Option<Vec<u64>>,
    /// Whether labels are replaced by uniform draws (default false).
    pub random_labels: Option<Vec<bool>>,
    /// Class selections, each a list of original classes (default: 3 and 8 for a two-class
    /// model on the digits, else every class).
    pub classes: Option<Vec<Vec<u32>>>,
    /// Features of the "synthetic" data set, one run each (default: `[fixed]`'s
    /// `synthetic_features`); how a plan varies the model size d of a linear model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic_features: Option<Vec<usize>>,
    /// Algorithms: "sgd" (Algorithm 1) or "sgd-prime" (Section 4's Algorithm 3) (default
    /// "sgd"). The five axes below apply to "sgd-prime" only, and an "sgd" run does not multiply
    /// over them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<Vec<String>>,
    /// ℓ: values of each perturbation z (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perturbation_length: Option<Vec<usize>>,
    /// m: random bits per value of z (default 8); a run spends ℓ·m bits per GD call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perturbation_bits: Option<Vec<u32>>,
    /// s: a value `z[k]` moves a weight by `z[k]`·2^s ulps (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perturbation_scale: Option<Vec<u32>>,
    /// ε, as for `--epsilon` (default "0.1").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<Vec<String>>,
    /// T: the most GD steps of one call (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_gd_steps: Option<Vec<usize>>,
    /// Optimizers: "sgd" or "momentum" (default "sgd"); the two axes below apply to "momentum"
    /// only (docs/design.md §2.9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<Vec<String>>,
    /// β of momentum, dyadic in [0, 1), as for `--beta` (no default: required with momentum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta: Option<Vec<String>>,
    /// "nearest" or "bits-back", as for `--momentum-rounding` (default "nearest").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum_rounding: Option<Vec<String>>,
}

/// Which phases run. Inversion is needed by certification and the code; the code follows
/// inversion unless given.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phases {
    /// Invert every step, derive the hints and walk back (default true).
    #[serde(default = "yes")]
    pub inversion: bool,
    /// Certify every step's preimages (default false; needs inversion).
    #[serde(default)]
    pub certification: bool,
    /// Encode and decode the run's randomness; absent means "as `inversion`".
    #[serde(default)]
    pub code: Option<bool>,
}

impl Phases {
    /// Whether the code phase runs.
    pub fn code(&self) -> bool {
        self.code.unwrap_or(self.inversion)
    }
}

fn yes() -> bool {
    true
}

impl Default for Phases {
    fn default() -> Self {
        Phases {
            inversion: true,
            certification: false,
            code: None,
        }
    }
}

/// Settings shared by every run of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixed {
    /// Stop a run once every example is classified correctly (default true).
    #[serde(default = "yes")]
    pub early_stop: bool,
    /// MPFR working precision in bits for the "mpfr" backend (default 128).
    #[serde(default = "default_precision")]
    pub mpfr_precision: u32,
    /// Examples of the "synthetic" data set (default 400).
    #[serde(default = "default_synthetic_n")]
    pub synthetic_n: usize,
    /// Features of the "synthetic" data set (default 8).
    #[serde(default = "default_synthetic_features")]
    pub synthetic_features: usize,
    /// Classes of the "synthetic" data set (default 2).
    #[serde(default = "default_synthetic_classes")]
    pub synthetic_classes: u32,
    /// Certification budget of gradient evaluations per step (default 4,096, at most
    /// [`crate::steps::certify::MAX_BUDGET`]).
    #[serde(default = "default_budget")]
    pub certify_budget: u64,
    /// Iteration cap of the inverter per step (default 10,000).
    #[serde(default = "default_iterations")]
    pub max_iterations: u32,
}

fn default_precision() -> u32 {
    DEFAULT_MPFR_PRECISION
}
fn default_synthetic_n() -> usize {
    Synthetic::default().n
}
fn default_synthetic_features() -> usize {
    Synthetic::default().features
}
fn default_synthetic_classes() -> u32 {
    Synthetic::default().classes
}
fn default_budget() -> u64 {
    crate::steps::certify::DEFAULT_BUDGET
}
fn default_iterations() -> u32 {
    crate::steps::invert::DEFAULT_MAX_ITERATIONS
}

impl Default for Fixed {
    fn default() -> Self {
        Fixed {
            early_stop: true,
            mpfr_precision: default_precision(),
            synthetic_n: default_synthetic_n(),
            synthetic_features: default_synthetic_features(),
            synthetic_classes: default_synthetic_classes(),
            certify_budget: default_budget(),
            max_iterations: default_iterations(),
        }
    }
}

/// One point of the plan's product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Data set: "digits", "synthetic" or a file path.
    pub data: String,
    /// The model family.
    pub model: ModelKind,
    /// Hidden width (meaningful for the MLP only).
    pub hidden: usize,
    /// The MLP's activation.
    pub activation: Activation,
    /// Batch size b.
    pub batch: usize,
    /// `alpha=m/2^k` or `q=…`.
    pub step: String,
    /// Fractional bits p of the grid.
    pub frac_bits: u32,
    /// The backend's family (its MPFR precision is the plan's `mpfr_precision`).
    pub backend: BackendKind,
    /// Epochs t.
    pub epochs: usize,
    /// Seed of the run's random streams: the run's only source of randomness (docs/design.md §6).
    pub seed: u64,
    /// Whether the labels are replaced by uniform draws.
    pub random_labels: bool,
    /// The original classes kept; `None`: 3 and 8 for a two-class model on the digits, else all.
    pub classes: Option<Vec<u32>>,
    /// Features of the "synthetic" data set when the plan has a `synthetic_features` axis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic_features: Option<usize>,
    /// SGD′'s parameters when the run is Section 4's Algorithm 3; absent for SGD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sgd_prime: Option<SgdPrimeSpec>,
    /// Momentum's β and rounding when the optimizer is momentum; absent for SGD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum: Option<MomentumSpec>,
}

/// The parameters of a momentum run of a plan (the `--optimizer momentum` flags).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MomentumSpec {
    /// β as written in the plan.
    pub beta: String,
    /// "nearest" or "bits-back".
    pub rounding: String,
}

impl MomentumSpec {
    /// The optimizer, each parameter checked as its flag is.
    pub fn config(&self) -> Result<crate::momentum::MomentumConfig, Error> {
        Ok(crate::momentum::MomentumConfig {
            beta: self.beta.parse()?,
            rounding: self
                .rounding
                .parse()
                .map_err(|e: crate::names::NameError| Error::Config(e.to_string()))?,
        })
    }
}

/// The parameters of an SGD′ run of a plan (the `--algorithm sgd-prime` flags).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgdPrimeSpec {
    /// ℓ.
    pub perturbation_length: usize,
    /// m.
    pub perturbation_bits: u32,
    /// s.
    pub perturbation_scale: u32,
    /// ε as written in the plan.
    pub epsilon: String,
    /// T.
    pub max_gd_steps: usize,
}

impl SgdPrimeSpec {
    /// ℓ·m, the random bits of one GD call's perturbation.
    pub fn random_bits(&self) -> u64 {
        if self.perturbation_bits == 0 {
            0
        } else {
            self.perturbation_length as u64 * self.perturbation_bits as u64
        }
    }

    /// The SGD′ configuration, each parameter checked as its flag is.
    pub fn config(&self) -> Result<SgdPrimeConfig, Error> {
        let p = Perturbation::new(
            self.perturbation_length,
            self.perturbation_bits,
            self.perturbation_scale,
        )
        .map_err(|e| Error::Config(e.to_string()))?;
        SgdPrimeConfig::new(p, &self.epsilon, self.max_gd_steps)
    }
}

impl RunSpec {
    /// A canonical key: equal specs, equal ids.
    pub fn id(&self) -> String {
        format!(
            "data={};model={};hidden={};activation={};batch={};{};p={};backend={};epochs={};seed={};random_labels={};classes={}",
            self.data,
            self.model,
            self.hidden,
            self.activation,
            self.batch,
            self.step,
            self.frac_bits,
            self.backend,
            self.epochs,
            self.seed,
            self.random_labels,
            self.classes
                .as_ref()
                .map_or("default".to_string(), |c| c.iter().map(u32::to_string).collect::<Vec<_>>().join("+"))
        ) + &self.synthetic_features.map_or(String::new(), |k| format!(";features={k}"))
            + &self.sgd_prime.as_ref().map_or(String::new(), |p| {
            format!(
                ";algorithm=sgd-prime;l={};m={};s={};epsilon={};T={}",
                p.perturbation_length,
                p.perturbation_bits,
                p.perturbation_scale,
                p.epsilon,
                p.max_gd_steps
            )
        }) + &self.momentum.as_ref().map_or(String::new(), |m| {
            format!(";optimizer=momentum;beta={};rounding={}", m.beta, m.rounding)
        })
    }

    /// The configuration of this run.
    pub fn config(&self, plan: &Plan) -> Result<VerifyConfig, Error> {
        let bad = |what: &str, v: &str| {
            Error::Config(format!(
                "plan {}: unknown {what} '{v}'; check the plan's axes",
                plan.name
            ))
        };
        let f = &plan.fixed;
        let data = match DataSource::from_arg(
            &self.data,
            Synthetic {
                n: f.synthetic_n,
                features: self.synthetic_features.unwrap_or(f.synthetic_features),
                classes: f.synthetic_classes,
            },
        ) {
            DataSource::Path(p) => DataSource::Path(plan.resolve(&p)),
            other => other,
        };
        let step_size = match self.step.split_once('=') {
            Some(("alpha", a)) => StepSize::Alpha(a.parse::<Dyadic>()?),
            Some(("q", q)) => StepSize::Q(q.to_string()),
            _ => return Err(bad("step", &self.step)),
        };
        Ok(VerifyConfig {
            data,
            model: self.model,
            hidden: self.hidden,
            activation: self.activation,
            backend: self.backend.choice(f.mpfr_precision),
            frac_bits: self.frac_bits,
            step_size,
            batch: self.batch,
            epochs: self.epochs,
            seed: self.seed,
            classes: self.classes.clone(),
            random_labels: self.random_labels,
            stop_at_full_accuracy: f.early_stop,
            max_iterations: f.max_iterations,
            certify: (plan.phases.certification && plan.phases.inversion)
                .then_some(f.certify_budget),
            bias: true,
            code: plan.phases.code() && plan.phases.inversion,
            invert: plan.phases.inversion,
        })
    }
}

fn or<T: Clone>(v: &Option<Vec<T>>, d: T) -> Vec<T> {
    match v {
        Some(v) => v.to_vec(),
        None => vec![d],
    }
}

/// What identifies a plan on every results line: its name and the SHA-256 of its parsed
/// content (comments and layout of the TOML do not count).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanIdentity {
    /// The plan's name.
    pub name: String,
    /// SHA-256 (lowercase hex) of the plan's parsed content.
    pub sha256: String,
}

impl std::fmt::Display for PlanIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = self.sha256.get(..12).unwrap_or(&self.sha256);
        write!(f, "plan '{}' (sha256 {short}…)", self.name)
    }
}

/// Refuses an axis given with no value or with a value twice.
fn check_axis<T: PartialEq + std::fmt::Debug>(
    plan: &str,
    axis: &str,
    values: &Option<Vec<T>>,
) -> Result<(), Error> {
    let Some(v) = values else { return Ok(()) };
    if v.is_empty() {
        return Err(Error::Config(format!(
            "plan {plan}: axis '{axis}' is empty; give it at least one value, or remove it to use the default"
        )));
    }
    for (i, x) in v.iter().enumerate() {
        if v[..i].contains(x) {
            return Err(Error::Config(format!(
                "plan {plan}: axis '{axis}' lists {x:?} twice; list each value once"
            )));
        }
    }
    Ok(())
}

/// The most runs a plan may list: its runs are listed and their results kept in memory, so a
/// larger product is refused before anything is allocated.
pub const MAX_PLAN_RUNS: u64 = 1_000_000;

/// Refuses two values of a numeric axis that are equal after parsing ("0.5" and "0.50",
/// "1/1024" and "0.0009765625"): they would be the same run twice, counted twice by `claims`.
fn check_numbers(plan: &str, axis: &str, values: &Option<Vec<String>>) -> Result<(), Error> {
    let Some(v) = values else { return Ok(()) };
    let parsed: Vec<_> = v
        .iter()
        .map(|x| crate::grid::parse_rational(x.trim()))
        .collect();
    for (i, x) in parsed.iter().enumerate() {
        let Some(x) = x else { continue };
        if let Some(j) = parsed[..i].iter().position(|y| y.as_ref() == Some(x)) {
            return Err(Error::Config(format!(
                "plan {plan}: axis '{axis}' lists {:?} and {:?}, the same number; list each value once",
                v[j], v[i]
            )));
        }
    }
    Ok(())
}

impl Plan {
    /// The plan as read from a file in `folder`: its relative data paths name files there, so
    /// a plan runs the same from any working directory.
    pub fn located(mut self, folder: &Path) -> Plan {
        self.folder = Some(folder.to_path_buf());
        self
    }

    /// A data path of the plan as a path to open: relative ones against the plan's folder.
    fn resolve(&self, path: &Path) -> PathBuf {
        match &self.folder {
            Some(folder) if path.is_relative() => folder.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// Parses a plan from TOML and checks it (see [`Plan::check`]).
    pub fn parse(text: &str, name: &str) -> Result<Plan, Error> {
        let plan: Plan = toml::from_str(text).map_err(|e| {
            let msg = e.message().replace('\n', " ");
            Error::Config(format!(
                "{name} is not a valid plan: {msg}; see plans/smoke.toml for the format"
            ))
        })?;
        plan.check(name)?;
        Ok(plan)
    }

    /// Refuses empty and repeated axis values, a plan giving both `alpha` and `q`, and phases
    /// that cannot run.
    pub fn check(&self, name: &str) -> Result<(), Error> {
        let a = &self.axes;
        check_axis(name, "data", &a.data)?;
        check_axis(name, "model", &a.model)?;
        check_axis(name, "hidden", &a.hidden)?;
        check_axis(name, "activation", &a.activation)?;
        check_axis(name, "batch", &a.batch)?;
        check_axis(name, "alpha", &a.alpha)?;
        check_axis(name, "q", &a.q)?;
        check_axis(name, "frac_bits", &a.frac_bits)?;
        check_axis(name, "backend", &a.backend)?;
        check_axis(name, "epochs", &a.epochs)?;
        check_axis(name, "seed", &a.seed)?;
        check_axis(name, "random_labels", &a.random_labels)?;
        check_axis(name, "classes", &a.classes)?;
        self.check_sgd_prime(name)?;
        self.check_momentum(name)?;
        check_numbers(name, "alpha", &a.alpha)?;
        check_numbers(name, "q", &a.q)?;
        check_numbers(name, "epsilon", &a.epsilon)?;
        match self.run_count() {
            Some(n) if n <= MAX_PLAN_RUNS => {}
            n => {
                return Err(Error::Config(format!(
                    "plan {name} lists {} runs (the product of its axes), more than the {MAX_PLAN_RUNS} a sweep runs; shorten its axes or split it into several plans",
                    n.map_or("more than 2^64".into(), |n| n.to_string())
                )))
            }
        }
        if a.alpha.is_some() && a.q.is_some() {
            return Err(Error::Config(format!(
                "plan {name}: axes 'alpha' and 'q' are both given; a run's step size comes from one of them, so keep one"
            )));
        }
        let p = &self.phases;
        if !p.inversion && p.certification {
            return Err(Error::Config(format!(
                "plan {name}: certification = true needs inversion = true (a step is certified from its inversion); switch inversion on or certification off"
            )));
        }
        if !p.inversion && p.code == Some(true) {
            return Err(Error::Config(format!(
                "plan {name}: code = true needs inversion = true (the code walks the run backwards); switch inversion on or the code off"
            )));
        }
        Ok(())
    }

    /// The algorithm axis names known algorithms, and the SGD′ axes come with "sgd-prime".
    fn check_sgd_prime(&self, name: &str) -> Result<(), Error> {
        let a = &self.axes;
        check_axis(name, "synthetic_features", &a.synthetic_features)?;
        check_axis(name, "algorithm", &a.algorithm)?;
        check_axis(name, "perturbation_length", &a.perturbation_length)?;
        check_axis(name, "perturbation_bits", &a.perturbation_bits)?;
        check_axis(name, "perturbation_scale", &a.perturbation_scale)?;
        check_axis(name, "epsilon", &a.epsilon)?;
        check_axis(name, "max_gd_steps", &a.max_gd_steps)?;
        let algorithms = or(&a.algorithm, SGD.to_string());
        if let Some(bad) = algorithms.iter().find(|x| *x != SGD && *x != SGD_PRIME) {
            return Err(Error::Config(format!(
                "plan {name}: unknown algorithm '{bad}' in axis 'algorithm'; use \"{SGD}\" or \"{SGD_PRIME}\""
            )));
        }
        let given = [
            ("perturbation_length", a.perturbation_length.is_some()),
            ("perturbation_bits", a.perturbation_bits.is_some()),
            ("perturbation_scale", a.perturbation_scale.is_some()),
            ("epsilon", a.epsilon.is_some()),
            ("max_gd_steps", a.max_gd_steps.is_some()),
        ];
        match given.iter().find(|g| g.1) {
            Some((axis, _)) if !algorithms.iter().any(|x| x == SGD_PRIME) => {
                Err(Error::Config(format!(
                    "plan {name}: axis '{axis}' applies to algorithm \"{SGD_PRIME}\" only, which the plan does not run; add it to 'algorithm' or remove the axis"
                )))
            }
            _ => Ok(()),
        }
    }

    /// The optimizer axis names known optimizers, β comes with momentum, and every β and
    /// rounding parses.
    fn check_momentum(&self, name: &str) -> Result<(), Error> {
        let a = &self.axes;
        check_axis(name, "optimizer", &a.optimizer)?;
        check_axis(name, "beta", &a.beta)?;
        check_axis(name, "momentum_rounding", &a.momentum_rounding)?;
        let optimizers = or(&a.optimizer, SGD.to_string());
        if let Some(bad) = optimizers.iter().find(|x| *x != SGD && *x != MOMENTUM) {
            return Err(Error::Config(format!(
                "plan {name}: unknown optimizer '{bad}' in axis 'optimizer'; use \"{SGD}\" or \"{MOMENTUM}\""
            )));
        }
        let momentum = optimizers.iter().any(|x| x == MOMENTUM);
        if momentum != a.beta.is_some() || (!momentum && a.momentum_rounding.is_some()) {
            return Err(Error::Config(format!(
                "plan {name}: axes 'beta' and 'momentum_rounding' go with optimizer \"{MOMENTUM}\", which needs 'beta'; add the missing axis or remove them"
            )));
        }
        for m in self.momenta().into_iter().flatten() {
            m.config()
                .map_err(|e| Error::Config(format!("plan {name}: {e}")))?;
        }
        Ok(())
    }

    /// Per value of the optimizer axis, in order: `None` for SGD, or each (β, rounding).
    fn momenta(&self) -> Vec<Option<MomentumSpec>> {
        let a = &self.axes;
        let mut out = Vec::new();
        for optimizer in or(&a.optimizer, SGD.to_string()) {
            if optimizer != MOMENTUM {
                out.push(None);
                continue;
            }
            for beta in a.beta.clone().unwrap_or_default() {
                for rounding in or(&a.momentum_rounding, "nearest".to_string()) {
                    out.push(Some(MomentumSpec {
                        beta: beta.clone(),
                        rounding,
                    }));
                }
            }
        }
        out
    }

    /// Per value of the algorithm axis, in order: `None` for SGD, or each point of the SGD′
    /// axes' product.
    fn algorithms(&self) -> Vec<Option<SgdPrimeSpec>> {
        use crate::pipeline::sgd_prime as d;
        let a = &self.axes;
        let mut out = Vec::new();
        for algorithm in or(&a.algorithm, SGD.to_string()) {
            if algorithm != SGD_PRIME {
                out.push(None);
                continue;
            }
            for &perturbation_length in &or(&a.perturbation_length, d::DEFAULT_LENGTH) {
                for &perturbation_bits in &or(&a.perturbation_bits, d::DEFAULT_BITS) {
                    for &perturbation_scale in &or(&a.perturbation_scale, d::DEFAULT_SCALE) {
                        for epsilon in or(&a.epsilon, d::DEFAULT_EPSILON.to_string()) {
                            for &max_gd_steps in &or(&a.max_gd_steps, d::DEFAULT_MAX_GD_STEPS) {
                                out.push(Some(SgdPrimeSpec {
                                    perturbation_length,
                                    perturbation_bits,
                                    perturbation_scale,
                                    epsilon: epsilon.clone(),
                                    max_gd_steps,
                                }));
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// The plan's name and the hash of its content, recorded on every results line.
    pub fn identity(&self) -> PlanIdentity {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        PlanIdentity {
            name: self.name.clone(),
            sha256: Sha256::digest(&canonical)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        }
    }

    /// The number of runs [`Plan::runs`] lists, counted without listing them (`None`: more
    /// than 2^64).
    pub fn run_count(&self) -> Option<u64> {
        fn n<T>(v: &Option<Vec<T>>) -> u64 {
            v.as_ref().map_or(1, |v| v.len() as u64)
        }
        let product = |xs: &[u64]| xs.iter().try_fold(1u64, |acc, &x| acc.checked_mul(x));
        let a = &self.axes;
        let prime = product(&[
            n(&a.perturbation_length),
            n(&a.perturbation_bits),
            n(&a.perturbation_scale),
            n(&a.epsilon),
            n(&a.max_gd_steps),
        ])?;
        // Plain SGD runs once per optimizer setting: momentum for each β and rounding.
        let optimizers = match &a.optimizer {
            None => 1,
            Some(v) => v.iter().try_fold(0u64, |acc, o| {
                let k = if o == MOMENTUM {
                    product(&[n(&a.beta), n(&a.momentum_rounding)])?
                } else {
                    1
                };
                acc.checked_add(k)
            })?,
        };
        let algorithms = match &a.algorithm {
            None => optimizers,
            Some(v) => v.iter().try_fold(0u64, |acc, x| {
                acc.checked_add(if x == SGD_PRIME { prime } else { optimizers })
            })?,
        };
        let step = if a.alpha.is_some() {
            n(&a.alpha)
        } else {
            n(&a.q)
        };
        product(&[
            n(&a.data),
            n(&a.model),
            n(&a.hidden),
            n(&a.activation),
            n(&a.batch),
            step,
            n(&a.frac_bits),
            n(&a.backend),
            n(&a.epochs),
            n(&a.seed),
            n(&a.random_labels),
            n(&a.classes),
            n(&a.synthetic_features),
            algorithms,
        ])
    }

    /// Every run of the plan, in plan order: the product of the axes, the last fastest.
    pub fn runs(&self) -> Vec<RunSpec> {
        let a = &self.axes;
        let d = VerifyConfig::default();
        let steps: Vec<String> = match &a.alpha {
            Some(alpha) => alpha.iter().map(|x| format!("alpha={x}")).collect(),
            None => or(&a.q, DEFAULT_Q.to_string())
                .into_iter()
                .map(|q| format!("q={q}"))
                .collect(),
        };
        let classes: Vec<Option<Vec<u32>>> = match &a.classes {
            Some(c) => c.iter().cloned().map(Some).collect(),
            None => vec![None],
        };
        let algorithms: Vec<(Option<SgdPrimeSpec>, Option<MomentumSpec>)> = self
            .algorithms()
            .into_iter()
            .flat_map(|g| match g {
                // SGD′ is its own algorithm; momentum steps Algorithm 1.
                Some(g) => vec![(Some(g), None)],
                None => self.momenta().into_iter().map(|m| (None, m)).collect(),
            })
            .collect();
        let features: Vec<Option<usize>> = match &a.synthetic_features {
            Some(f) => f.iter().copied().map(Some).collect(),
            None => vec![None],
        };
        let (data, model, hidden) = (
            or(&a.data, "digits".into()),
            or(&a.model, d.model),
            or(&a.hidden, d.hidden),
        );
        let (activation, batch, frac_bits) = (
            or(&a.activation, d.activation),
            or(&a.batch, d.batch),
            or(&a.frac_bits, d.frac_bits),
        );
        let (backend, epochs, seed) = (
            or(&a.backend, d.backend.kind()),
            or(&a.epochs, d.epochs),
            or(&a.seed, d.seed),
        );
        let random_labels = or(&a.random_labels, d.random_labels);
        let sizes = [
            data.len(),
            model.len(),
            hidden.len(),
            activation.len(),
            batch.len(),
            steps.len(),
            frac_bits.len(),
            backend.len(),
            epochs.len(),
            seed.len(),
            random_labels.len(),
            classes.len(),
            features.len(),
            algorithms.len(),
        ];
        product(&sizes)
            .map(|i| RunSpec {
                data: data[i[0]].clone(),
                model: model[i[1]],
                hidden: hidden[i[2]],
                activation: activation[i[3]],
                batch: batch[i[4]],
                step: steps[i[5]].clone(),
                frac_bits: frac_bits[i[6]],
                backend: backend[i[7]],
                epochs: epochs[i[8]],
                seed: seed[i[9]],
                random_labels: random_labels[i[10]],
                classes: classes[i[11]].clone(),
                synthetic_features: features[i[12]],
                sgd_prime: algorithms[i[13]].0.clone(),
                momentum: algorithms[i[13]].1.clone(),
            })
            .collect()
    }
}

/// Every index tuple of a product of axes of the given sizes, the last axis fastest (none when
/// an axis is empty).
fn product<const N: usize>(sizes: &[usize; N]) -> impl Iterator<Item = [usize; N]> + '_ {
    let total: usize = sizes.iter().product();
    (0..total).map(move |mut k| {
        let mut index = [0; N];
        for (slot, &size) in index.iter_mut().zip(sizes).rev() {
            *slot = k % size;
            k /= size;
        }
        index
    })
}

/// One line of a results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultLine {
    /// The results format, [`FORMAT`] (1 for older files).
    pub format: u32,
    /// The plan the run belongs to (absent in format 1).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub plan: Option<PlanIdentity>,
    /// The slice of the plan that ran it, "K/N" ("1/1": the whole plan; absent in format 1).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shard: Option<String>,
    /// The run's canonical key, [`RunSpec::id`].
    pub id: String,
    /// The run's point of the plan.
    pub spec: RunSpec,
    /// The run's report; absent when the run failed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub report: Option<VerifyReport>,
    /// Why the run could not be set up or failed, in one line; absent on success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// Runs one spec; a run that cannot be set up or fails becomes an error line, not a failed
/// sweep.
pub fn run_one(plan: &Plan, spec: &RunSpec) -> ResultLine {
    run_one_with(plan, spec, &Setup::new)
}

/// Runs one spec with a setup of the caller's: how a sweep runs a user's own model
/// (`|c| Setup::with_model(c, MyLoss::new)`). The spec's `model`, `hidden` and `activation`
/// axes mean what `setup` makes of them; the report's `config.model` names the model that ran.
pub fn run_one_with(
    plan: &Plan,
    spec: &RunSpec,
    setup: &dyn Fn(&VerifyConfig) -> Result<Setup, Error>,
) -> ResultLine {
    let result = spec.config(plan).and_then(|c| setup(&c)).and_then(|mut s| {
        // The report names the data as the plan does, whatever folder the plan was read from.
        if matches!(s.config.data, DataSource::Path(_)) {
            s.data.source = spec.data.clone();
        }
        let algorithm = match (&spec.sgd_prime, &spec.momentum) {
            (Some(p), _) => Algorithm::SgdPrime(p.config()?),
            (None, Some(m)) => Algorithm::Momentum(m.config()?),
            (None, None) => Algorithm::Sgd,
        };
        Run::new(&s).algorithm(algorithm).report()
    });
    let (report, error) = match result {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e.to_string())),
    };
    ResultLine {
        format: FORMAT,
        plan: Some(plan.identity()),
        shard: Some(WHOLE.into()),
        id: spec.id(),
        spec: spec.clone(),
        report,
        error,
    }
}

/// The shard of a run that ran in an unsharded sweep (and of every merged line).
pub const WHOLE: &str = "1/1";

/// The K-th of N slices (K from 1), by position in the plan.
pub fn shard(runs: Vec<RunSpec>, k: usize, n: usize) -> Result<Vec<RunSpec>, Error> {
    if n == 0 || k == 0 || k > n {
        return Err(Error::Config(format!(
            "--shard {k}/{n} is invalid; use K/N with 1 ≤ K ≤ N, e.g. --shard 1/4"
        )));
    }
    Ok(runs
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % n == k - 1)
        .map(|(_, r)| r)
        .collect())
}

/// Parses a results file (JSON lines), rejecting unknown formats; a torn last line (an
/// interrupted write) is dropped. [`read_results_noting`] also says when one was.
pub fn read_results(text: &str, name: &str) -> Result<Vec<ResultLine>, Error> {
    Ok(read_results_noting(text, name)?.0)
}

/// [`read_results`], with a warning for a torn last line that was dropped, for the reader to
/// show: a results file cut mid-line by a killed writer silently lost a run otherwise.
pub fn read_results_noting(
    text: &str,
    name: &str,
) -> Result<(Vec<ResultLine>, Vec<String>), Error> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = Vec::with_capacity(lines.len());
    let mut warnings = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) if i + 1 == lines.len() && !text.trim_end_matches([' ', '\t']).ends_with('\n') => {
                warnings.push(format!(
                    "the last line of {name} ({} bytes) is torn, as by an interrupted write, and was skipped; run that sweep again with --resume to complete it",
                    line.len()
                ));
                break;
            }
            Err(e) => {
                return Err(Error::Config(format!(
                    "line {} of {name} is not JSON ({e}); pass a results file written by `rewind sweep`",
                    i + 1
                )))
            }
        };
        match value.get("format").and_then(|f| f.as_u64()) {
            Some(f) if READABLE_FORMATS.iter().any(|&r| u64::from(r) == f) => {}
            Some(f) => {
                return Err(Error::Config(format!(
                    "line {} of {name} has results format {f}; this rewind reads formats 1 and {FORMAT}, so use the rewind that wrote it",
                    i + 1
                )))
            }
            None => {
                return Err(Error::Config(format!(
                    "line {} of {name} has no \"format\"; pass a results file written by `rewind sweep`",
                    i + 1
                )))
            }
        }
        out.push(serde_json::from_value(value).map_err(|e| {
            Error::Config(format!(
                "line {} of {name} is not a sweep result ({e})",
                i + 1
            ))
        })?);
    }
    Ok((out, warnings))
}

/// Refuses lines that do not come from `plan` (and, when given, from `shard`): mixing them
/// into another plan's file would lose or misattribute results.
pub fn check_belongs(
    lines: &[ResultLine],
    plan: &PlanIdentity,
    shard: Option<&str>,
    name: &str,
) -> Result<(), Error> {
    for (i, l) in lines.iter().enumerate() {
        let line = i + 1;
        match &l.plan {
            None => {
                return Err(Error::Config(format!(
                    "line {line} of {name} does not say which plan wrote it (results format 1); it cannot be checked against {plan}, so run the plan again without --resume"
                )))
            }
            Some(p) if p != plan => {
                return Err(Error::Config(format!(
                    "line {line} of {name} comes from {p}, not from {plan}; pass the plan that wrote it, or write to another file"
                )))
            }
            Some(_) => {}
        }
        if let (Some(want), Some(got)) = (shard, l.shard.as_deref()) {
            if want != got {
                return Err(Error::Config(format!(
                    "line {line} of {name} comes from shard {got}, not from shard {want}; resume each shard into its own file"
                )));
            }
        }
    }
    Ok(())
}

/// The ids of `runs` that no line holds, in plan order.
pub fn missing_runs(lines: &[ResultLine], runs: &[RunSpec]) -> Vec<String> {
    let have: BTreeSet<&str> = lines.iter().map(|l| l.id.as_str()).collect();
    runs.iter()
        .map(RunSpec::id)
        .filter(|id| !have.contains(id.as_str()))
        .collect()
}

/// A list for a one-line message: the first few items and how many more there are.
pub fn name_some(items: &[String], max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(String::as_str).collect();
    let more = items.len().saturating_sub(max);
    if more == 0 {
        shown.join("; ")
    } else {
        format!("{} and {more} more", shown.join("; "))
    }
}

/// Joins result lines: one per id (conflicting duplicates are an error), in the order of
/// `order` when given, else by id.
pub fn merge(inputs: Vec<ResultLine>, order: Option<&[RunSpec]>) -> Result<Vec<ResultLine>, Error> {
    let mut by_id: BTreeMap<String, ResultLine> = BTreeMap::new();
    for line in inputs {
        if let Some(old) = by_id.get(&line.id) {
            if *old != line {
                return Err(Error::Config(format!(
                    "two different results for run {}; the inputs come from different code or plans",
                    line.id
                )));
            }
            continue;
        }
        by_id.insert(line.id.clone(), line);
    }
    Ok(match order {
        Some(specs) => {
            let mut out = Vec::with_capacity(by_id.len());
            for s in specs {
                if let Some(l) = by_id.remove(&s.id()) {
                    out.push(l);
                }
            }
            out.extend(by_id.into_values());
            out
        }
        None => by_id.into_values().collect(),
    })
}

/// The results as JSON lines.
pub fn to_jsonl(lines: &[ResultLine]) -> String {
    lines
        .iter()
        .map(|l| serde_json::to_string(l).unwrap_or_default() + "\n")
        .collect()
}

/// The summary CSV: one row per run. The columns after `baseline_bits` hold every headline
/// number as a number (q and α too, which `step` writes as text such as `q=0.05`); a cell is
/// empty, null to pandas, where the run did not compute it.
pub fn summary_csv(lines: &[ResultLine]) -> String {
    let mut out = String::from(
        "id,model,hidden,batch,step,backend,epochs,seed,random_labels,status,epochs_run,final_accuracy,running_rho_code,running_null_rho_code,running_excess_z_code,running_rho_paper,beta_leading,steps,hinted_steps,code_bits,baseline_bits,",
    );
    out += HEADLINE_COLUMNS;
    out.push('\n');
    for l in lines {
        let s = &l.spec;
        let r = l.report.as_ref();
        let last = r.and_then(|r| r.discrepancy.epochs.last());
        let opt = |v: Option<String>| v.unwrap_or_default();
        out += &format!(
            "\"{}\",{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            l.id,
            s.model,
            s.hidden,
            s.batch,
            s.step,
            s.backend,
            s.epochs,
            s.seed,
            s.random_labels,
            if l.error.is_some() { "error" } else { "ok" },
            opt(r.map(|r| r.run.epochs_run.to_string())),
            opt(r.map(|r| format!("{:.6}", r.run.final_accuracy))),
            opt(last.map(|e| format!("{:.6}", e.running_rho_code))),
            opt(last.map(|e| format!("{:.6}", e.running_null_rho_code))),
            opt(last.map(|e| format!("{:.3}", e.running_excess_z_code))),
            opt(last.map(|e| format!("{:.6}", e.running_rho_paper))),
            opt(r.map(|r| format!("{:.6}", r.discrepancy.beta_leading))),
            opt(r.map(|r| r.steps.to_string())),
            opt(r
                .and_then(|r| r.hints.as_ref())
                .map(|h| h.steps.to_string())),
            opt(r
                .and_then(|r| r.code.as_ref())
                .map(|c| c.total_bits.to_string())),
            opt(r
                .and_then(|r| r.code.as_ref())
                .map(|c| c.baseline_total_bits.to_string())),
            r.map_or_else(
                || ",".repeat(HEADLINE_COLUMNS.matches(',').count()),
                headline_cells
            ),
        );
    }
    out
}

/// The numeric headline columns of [`summary_csv`].
const HEADLINE_COLUMNS: &str = "q,alpha,d,initial_model_bit_exact,all_models_bit_exact,recovered,other_preimage,no_preimage,hint_bits,first_model_bits,side_information_ratio,observed_many_to_one,predicted_many_to_one,certified_unique,certified_ambiguous,certified_unknown,optimal_hint_bits,roundtrip_bit_exact";

/// A report's cells under [`HEADLINE_COLUMNS`].
fn headline_cells(r: &VerifyReport) -> String {
    let cell = |v: Option<String>| v.unwrap_or_default();
    let inv = r.inversion.as_ref();
    let rec = r.reconstruction.as_ref();
    let side = r.side_information.as_ref();
    let cert = r.certification.as_ref();
    // Nothing certified means no optimal hint length was found, not a length of 0.
    let certified = cert.filter(|c| c.unique + c.ambiguous > 0);
    [
        Some(format!("{:.6}", r.config.q)),
        Some(format!(
            "{:e}",
            r.config.alpha_num as f64 / r.config.alpha_den as f64
        )),
        Some(r.config.d.to_string()),
        rec.map(|x| x.initial_model_bit_exact.to_string()),
        rec.map(|x| x.all_models_bit_exact.to_string()),
        inv.map(|i| i.recovered.to_string()),
        inv.map(|i| i.other_preimage.to_string()),
        inv.map(|i| i.no_preimage.to_string()),
        side.map(|s| s.hint_bits.to_string()),
        side.map(|s| s.first_model_bits.to_string()),
        side.map(|s| format!("{:.6}", s.ratio)),
        inv.map(|i| format!("{:.6}", i.observed_many_to_one)),
        inv.and_then(|i| i.predicted_many_to_one)
            .map(|p| format!("{p:.6}")),
        cert.map(|c| c.unique.to_string()),
        cert.map(|c| c.ambiguous.to_string()),
        cert.map(|c| c.unknown.to_string()),
        certified.map(|c| c.optimal_hint_bits.to_string()),
        r.code.as_ref().map(|c| c.roundtrip_bit_exact.to_string()),
    ]
    .into_iter()
    .map(cell)
    .collect::<Vec<_>>()
    .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = r#"
name = "t"
[axes]
data = ["synthetic"]
model = ["logistic", "least-squares"]
batch = [4, 8]
q = ["0.2"]
[phases]
code = false
[fixed]
synthetic_n = 40
"#;

    #[test]
    fn the_product_is_in_plan_order_and_ids_are_unique() {
        let plan = Plan::parse(PLAN, "t").unwrap();
        let runs = plan.runs();
        assert_eq!(runs.len(), 4);
        assert_eq!(runs[0].model, ModelKind::Logistic);
        assert_eq!(runs[1].batch, 8);
        let mut ids: Vec<String> = runs.iter().map(RunSpec::id).collect();
        ids.dedup();
        assert_eq!(ids.len(), 4);
        assert!(!plan.phases.code() && plan.phases.inversion);
    }

    const MOMENTUM_PLAN: &str = r#"
name = "m"
[axes]
data = ["synthetic"]
model = ["least-squares"]
batch = [4]
q = ["0.3"]
frac_bits = [12]
optimizer = ["sgd", "momentum"]
beta = ["0", "3/4"]
momentum_rounding = ["nearest", "bits-back"]
[fixed]
synthetic_n = 12
synthetic_features = 3
"#;

    #[test]
    fn momentum_axes_multiply_only_momentum_runs_and_beta_zero_is_plain_sgd() {
        let plan = Plan::parse(MOMENTUM_PLAN, "m").unwrap();
        let runs = plan.runs();
        // One SGD run, and one momentum run per (β, rounding).
        assert_eq!(runs.len(), 5);
        assert_eq!(runs[0].momentum, None);
        assert!(runs[4]
            .id()
            .ends_with(";optimizer=momentum;beta=3/4;rounding=bits-back"));
        let lines: Vec<ResultLine> = runs.iter().map(|s| run_one(&plan, s)).collect();
        let report = |k: usize| lines[k].report.clone().unwrap();
        for k in 1..5 {
            let r = report(k);
            assert!(r.momentum.is_some());
            assert!(r.reconstruction.unwrap().initial_model_bit_exact, "{k}");
        }
        let mut zero = report(1);
        zero.momentum = None;
        assert_eq!(zero, report(0));
        for bad in [
            "beta = [\"9/8\"]",
            "beta = [\"0.9\"]",
            "momentum_rounding = [\"up\"]",
        ] {
            let text = MOMENTUM_PLAN
                .replace(
                    "beta = [\"0\", \"3/4\"]",
                    if bad.starts_with("beta") {
                        bad
                    } else {
                        "beta = [\"1/2\"]"
                    },
                )
                .replace(
                    "momentum_rounding = [\"nearest\", \"bits-back\"]",
                    if bad.starts_with("momentum") { bad } else { "" },
                );
            assert!(Plan::parse(&text, "m").is_err(), "{bad}");
        }
        let no_beta = MOMENTUM_PLAN.replace("beta = [\"0\", \"3/4\"]", "");
        assert!(Plan::parse(&no_beta, "m").is_err());
    }

    const PRIME: &str = r#"
name = "p"
[axes]
data = ["synthetic"]
model = ["least-squares"]
batch = [4]
q = ["0.5"]
frac_bits = [10]
random_labels = [true]
algorithm = ["sgd", "sgd-prime"]
perturbation_length = [0, 2]
max_gd_steps = [5]
[fixed]
synthetic_n = 12
synthetic_features = 3
"#;

    #[test]
    fn sgd_prime_axes_multiply_only_sgd_prime_runs() {
        let plan = Plan::parse(PRIME, "p").unwrap();
        let runs = plan.runs();
        // One SGD run, and one SGD′ run per ℓ.
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[0].sgd_prime, None);
        let p: Vec<&SgdPrimeSpec> = runs[1..]
            .iter()
            .filter_map(|r| r.sgd_prime.as_ref())
            .collect();
        assert_eq!(
            p.iter().map(|s| s.perturbation_length).collect::<Vec<_>>(),
            [0, 2]
        );
        assert_eq!(
            p[1].random_bits(),
            2 * crate::pipeline::sgd_prime::DEFAULT_BITS as u64
        );
        assert!(runs[2]
            .id()
            .ends_with(";algorithm=sgd-prime;l=2;m=8;s=16;epsilon=0.1;T=5"));
        assert!(!runs[0].id().contains("algorithm"));
        let lines: Vec<ResultLine> = runs.iter().map(|s| run_one(&plan, s)).collect();
        assert!(lines.iter().all(|l| l.report.is_some()), "{lines:?}");
        assert!(lines[0].report.as_ref().unwrap().algorithm.is_none());
        let g = lines[2].report.as_ref().unwrap().gd_steps.as_ref().unwrap();
        assert!(g.max <= 5);
        assert_eq!(read_results(&to_jsonl(&lines), "r").unwrap(), lines);
        // A plan without the new axes serialises as before: its identity does not change.
        let old = Plan::parse(PLAN, "t").unwrap();
        assert!(!serde_json::to_string(&old).unwrap().contains("algorithm"));
    }

    #[test]
    fn bad_sgd_prime_axes_are_refused() {
        let e = Plan::parse(&PRIME.replace("\"sgd\", \"sgd-prime\"", "\"adam\""), "p")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown algorithm 'adam'"), "{e}");
        let e = Plan::parse(&PRIME.replace(", \"sgd-prime\"", ""), "p")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'perturbation_length' applies to algorithm"),
            "{e}"
        );
        let e = Plan::parse(&PRIME.replace("[0, 2]", "[2, 2]"), "p")
            .unwrap_err()
            .to_string();
        assert!(e.contains("twice"), "{e}");
        // A value out of range is the run's error, in one line.
        let plan = Plan::parse(&PRIME.replace("[5]", "[100000]"), "p").unwrap();
        let line = run_one(&plan, &plan.runs()[1]);
        let e = line.error.unwrap();
        assert!(e.contains("--max-gd-steps") && !e.contains('\n'), "{e}");
    }

    #[test]
    fn a_plan_is_counted_before_it_is_listed() {
        for text in [PLAN, PRIME] {
            let plan = Plan::parse(text, "c").unwrap();
            assert_eq!(plan.run_count(), Some(plan.runs().len() as u64));
        }
        // 10⁸ runs in a few hundred bytes: refused before any run is listed.
        let seeds: Vec<String> = (0..10_000).map(|s| s.to_string()).collect();
        let huge = PLAN.replace(
            "batch = [4, 8]",
            &format!(
                "seed = [{}]\nepochs = [{}]",
                seeds.join(","),
                seeds[1..].join(",")
            ),
        );
        let e = Plan::parse(&huge, "h").unwrap_err().to_string();
        assert!(e.contains("199980000 runs") && e.contains("split"), "{e}");
    }

    #[test]
    fn equal_numbers_spelled_differently_are_one_value() {
        for (a, b) in [("0.5", "0.50"), ("1/1024", "0.0009765625")] {
            let e = Plan::parse(
                &PLAN.replace("q = [\"0.2\"]", &format!("q = [\"{a}\", \"{b}\"]")),
                "d",
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("the same number"), "{e}");
        }
    }

    #[test]
    fn bad_plans_and_shards_are_clear_errors() {
        assert!(Plan::parse("name = 1", "x").is_err());
        let e = Plan::parse("name = \"a\"\n[axes]\nbogus = [1]", "x").unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        assert!(shard(vec![], 0, 2).is_err());
        assert!(shard(vec![], 3, 2).is_err());
    }

    #[test]
    fn shards_partition_the_plan() {
        let plan = Plan::parse(PLAN, "t").unwrap();
        let all = plan.runs();
        let a = shard(all.clone(), 1, 3).unwrap();
        let b = shard(all.clone(), 2, 3).unwrap();
        let c = shard(all.clone(), 3, 3).unwrap();
        assert_eq!(a.len() + b.len() + c.len(), all.len());
        assert_eq!(a[0], all[0]);
        assert_eq!(b[0], all[1]);
    }

    #[test]
    fn results_round_trip_merge_and_reject_unknown_formats() {
        let plan = Plan::parse(PLAN, "t").unwrap();
        let runs = plan.runs();
        let lines: Vec<ResultLine> = runs[..2].iter().map(|s| run_one(&plan, s)).collect();
        assert!(lines.iter().all(|l| l.report.is_some()), "{lines:?}");
        let text = to_jsonl(&lines);
        assert_eq!(read_results(&text, "r").unwrap(), lines);
        let torn = format!("{text}{{\"format\":1,\"id\"");
        assert_eq!(read_results(&torn, "r").unwrap(), lines);
        assert!(read_results("{\"format\":3}\n", "r").is_err());
        let merged = merge(
            vec![lines[1].clone(), lines[0].clone(), lines[1].clone()],
            Some(&runs),
        )
        .unwrap();
        assert_eq!(merged, lines);
        let mut other = lines[0].clone();
        other.error = Some("x".into());
        assert!(merge(vec![lines[0].clone(), other], None).is_err());
        assert!(summary_csv(&lines).lines().count() == 3);
    }

    #[test]
    fn the_summary_csv_has_a_numeric_cell_under_every_headline_column() {
        let plan = Plan::parse(PLAN, "t").unwrap();
        let line = run_one(&plan, &plan.runs()[0]);
        let r = line.report.as_ref().unwrap();
        let csv = summary_csv(std::slice::from_ref(&line));
        let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
        assert_eq!(rows[0].len(), rows[1].len(), "{csv}");
        let at = |name: &str| rows[1][rows[0].iter().position(|c| *c == name).unwrap()];
        assert_eq!(
            at("q").parse::<f64>().unwrap(),
            (r.config.q * 1e6).round() / 1e6
        );
        let h = r.hints.as_ref().unwrap();
        assert_eq!(at("hint_bits"), h.bits.to_string());
        assert_eq!(at("first_model_bits"), (64 * r.config.d).to_string());
        assert_eq!(at("initial_model_bit_exact"), "true");
        // Without certification its columns are null, not 0.
        assert!(r.certification.is_none());
        assert_eq!(at("optimal_hint_bits"), "");
        assert_eq!(at("certified_unique"), "");
        let headline = HEADLINE_COLUMNS.split(',').count();
        let empty = line.clone();
        let failed = ResultLine {
            report: None,
            ..empty
        };
        let csv = summary_csv(&[failed]);
        let cells: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
        assert_eq!(cells.len(), rows[0].len());
        assert!(cells[cells.len() - headline..].iter().all(|c| c.is_empty()));
    }
}
