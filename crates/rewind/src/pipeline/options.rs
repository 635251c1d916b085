//! A run described by named options, for front ends that are not a command line (the Python
//! package): the `rewind verify` flags with underscores (`batch`, `q_inf`, `frac_bits`,
//! `early_stop`, `algorithm`, the SGD′ flags, …), each mapped onto the same [`VerifyConfig`]
//! and [`SgdPrimeConfig`] the flags build, with the defaults of [`VerifyConfig::default`] and
//! of `rewind::sgd_prime`. Values arrive as JSON values (bool, number, string, list), so any
//! front end that can say "a string" or "a list of integers" can use the table.
//!
//! The table [`OPTIONS`] is the one list of names: an unknown name is refused with all of
//! them, and a front end prints it as its help.

use crate::grid::Dyadic;
use crate::model::{Activation, ModelKind};
use crate::momentum::{Beta, MomentumConfig, Rounding};
use crate::perturb::Perturbation;
use crate::pipeline::config::{
    DataSource, StepSize, Synthetic, VerifyConfig, DEFAULT_MPFR_PRECISION, DEFAULT_Q,
};
use crate::pipeline::sgd_prime::{self, SgdPrimeConfig};
use crate::sgd::BackendKind;
use serde_json::{Map, Value};

/// One named option: its name, its default as the front end shows it, and what it sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    /// The name, the `rewind verify` flag with underscores.
    pub name: &'static str,
    /// The default, as text (`None` where there is none: the option is off or chosen).
    pub default: &'static str,
    /// One line of help.
    pub help: &'static str,
}

const fn opt(name: &'static str, default: &'static str, help: &'static str) -> OptionSpec {
    OptionSpec {
        name,
        default,
        help,
    }
}

/// Every option, in the order `rewind verify --help` lists its flags.
pub const OPTIONS: &[OptionSpec] = &[
    opt(
        "data",
        "digits",
        "`digits`, `synthetic`, or a CSV or IDX file (when no arrays are given)",
    ),
    opt("synthetic_n", "400", "examples of data='synthetic'"),
    opt(
        "synthetic_features",
        "8",
        "features of data='synthetic' (before the bias column)",
    ),
    opt("synthetic_classes", "2", "classes of data='synthetic'"),
    opt(
        "seed",
        "0",
        "seed of the permutations, the initial model, random labels and synthetic data",
    ),
    opt(
        "classes",
        "None",
        "classes to keep, mapped to 0, 1, … in this order (binary models need two; digits: [3, 8])",
    ),
    opt(
        "random_labels",
        "False",
        "replace every label by a uniformly random class",
    ),
    opt(
        "model",
        "logistic",
        "least-squares, logistic, softmax or mlp",
    ),
    opt(
        "backend",
        "f64",
        "gradient backend: f64, exact (least squares only) or mpfr",
    ),
    opt(
        "mpfr_precision",
        "128",
        "working precision of the MPFR backend, in bits",
    ),
    opt("frac_bits", "32", "fractional bits p of the grid 2^-p·ℤ"),
    opt(
        "alpha",
        "None",
        "step size, a dyadic rational such as '1/1024' or 0.0078125",
    ),
    opt(
        "q",
        "0.1",
        "choose the largest α with α·L_B ≤ q (when neither alpha nor q_inf is given)",
    ),
    opt("q_inf", "None", "choose the largest α with α·L_∞ ≤ q_inf"),
    opt("batch", "20", "batch size b"),
    opt("epochs", "3", "epochs t"),
    opt("hidden", "10", "hidden units of the MLP"),
    opt("activation", "gelu", "activation of the MLP"),
    opt(
        "bias",
        "True",
        "append the constant-one bias feature (no_bias=True is the same as bias=False)",
    ),
    opt("no_bias", "False", "do not append the bias feature"),
    opt(
        "early_stop",
        "True",
        "stop when every example is classified correctly (line 6 of Algorithm 1)",
    ),
    opt("no_early_stop", "False", "the same as early_stop=False"),
    opt(
        "max_iterations",
        "10000",
        "cap on the fixed-point iterations of one inversion",
    ),
    opt(
        "certify",
        "False",
        "certify every step (unique, ambiguous with k preimages, or unknown)",
    ),
    opt(
        "certify_budget",
        "4096",
        "gradient evaluations allowed per certified step",
    ),
    opt(
        "code",
        "True",
        "encode the run's randomness and decode it back (Lemma 3.1)",
    ),
    opt("no_code", "False", "the same as code=False"),
    opt(
        "algorithm",
        "sgd",
        "`sgd` (Algorithm 1) or `sgd-prime` (Algorithm 3, a perturbed GD call per batch)",
    ),
    opt(
        "perturbation_length",
        "4",
        "ℓ: values in each perturbation z; sgd-prime only",
    ),
    opt(
        "perturbation_bits",
        "8",
        "m: random bits per value of z; sgd-prime only",
    ),
    opt(
        "perturbation_scale",
        "16",
        "s: a value z[k] moves a weight by z[k]·2^s ulps; sgd-prime only",
    ),
    opt(
        "epsilon",
        "0.1",
        "ε: SGD′ stops at accuracy 1/(2(1−ε)) on X; sgd-prime only",
    ),
    opt(
        "max_gd_steps",
        "100",
        "T: the most GD steps of one call; sgd-prime only",
    ),
    opt(
        "optimizer",
        "sgd",
        "`sgd` or `momentum` (heavy ball, with beta; plain SGD byte for byte at beta=0)",
    ),
    opt(
        "beta",
        "None",
        "β of optimizer='momentum': a dyadic rational in [0, 1) such as '7/8'",
    ),
    opt(
        "momentum_rounding",
        "nearest",
        "how β·v lands on the grid: `nearest` or `bits-back` (hypergrad's exact multiply); momentum only",
    ),
];

/// What can be wrong with named options.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// Names that are not options.
    #[error("unknown option(s) {}; the options are {}", .given.join(", "), names().join(", "))]
    Unknown {
        /// The names given that are not in [`OPTIONS`].
        given: Vec<String>,
    },
    /// A value of the wrong kind (a list where a number belongs, …).
    #[error("option {name} must be {expected}, got {got}")]
    Type {
        /// The option.
        name: String,
        /// What it takes.
        expected: &'static str,
        /// The value given, as JSON.
        got: String,
    },
    /// A value of the right kind that the run refuses (the library's one-line message).
    #[error(transparent)]
    Invalid(#[from] crate::Error),
}

/// The names of [`OPTIONS`].
pub fn names() -> Vec<&'static str> {
    OPTIONS.iter().map(|o| o.name).collect()
}

/// A run as named options describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// Everything but the algorithm.
    pub config: VerifyConfig,
    /// SGD′'s parameters when `algorithm` is `sgd-prime`.
    pub sgd_prime: Option<SgdPrimeConfig>,
    /// Heavy ball's β and rounding when `optimizer` is `momentum`.
    pub momentum: Option<MomentumConfig>,
}

impl RunOptions {
    /// The algorithm these options name, for [`crate::pipeline::run::Run::algorithm`].
    pub fn algorithm(&self) -> crate::pipeline::run::Algorithm {
        use crate::pipeline::run::Algorithm;
        match (&self.sgd_prime, &self.momentum) {
            (Some(p), _) => Algorithm::SgdPrime(p.clone()),
            (None, Some(m)) => Algorithm::Momentum(*m),
            (None, None) => Algorithm::Sgd,
        }
    }
}

/// Reads typed values out of the option map, remembering nothing but the map.
struct Reader<'a>(&'a Map<String, Value>);

impl Reader<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn wrong(name: &str, expected: &'static str, v: &Value) -> OptionsError {
        OptionsError::Type {
            name: name.into(),
            expected,
            got: v.to_string(),
        }
    }

    fn bool(&self, name: &str) -> Result<Option<bool>, OptionsError> {
        self.get(name)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| Self::wrong(name, "True or False", v))
            })
            .transpose()
    }

    fn uint(&self, name: &str) -> Result<Option<u64>, OptionsError> {
        self.get(name)
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| Self::wrong(name, "a non-negative integer", v))
            })
            .transpose()
    }

    fn usize(&self, name: &str) -> Result<Option<usize>, OptionsError> {
        self.uint(name)?
            .map(|v| {
                usize::try_from(v).map_err(|_| Self::wrong(name, "a smaller integer", &v.into()))
            })
            .transpose()
    }

    fn u32(&self, name: &str) -> Result<Option<u32>, OptionsError> {
        self.uint(name)?
            .map(|v| {
                u32::try_from(v).map_err(|_| Self::wrong(name, "an integer below 2^32", &v.into()))
            })
            .transpose()
    }

    /// A string, or a number written as the shortest decimal that reads back as it.
    fn text(&self, name: &str) -> Result<Option<String>, OptionsError> {
        self.get(name)
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(Self::wrong(name, "a string or a number", v)),
            })
            .transpose()
    }

    fn named<T: crate::names::Named>(&self, name: &str) -> Result<Option<T>, OptionsError> {
        self.get(name)
            .map(|v| {
                let s = v.as_str().ok_or_else(|| Self::wrong(name, "a string", v))?;
                s.parse::<T>()
                    .map_err(|e| OptionsError::Invalid(crate::Error::Config(e.to_string())))
            })
            .transpose()
    }

    fn classes(&self, name: &str) -> Result<Option<Vec<u32>>, OptionsError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let list = v
            .as_array()
            .ok_or_else(|| Self::wrong(name, "a list of class labels", v))?;
        list.iter()
            .map(|c| {
                c.as_u64()
                    .and_then(|c| u32::try_from(c).ok())
                    .ok_or_else(|| Self::wrong(name, "a list of non-negative integer labels", v))
            })
            .collect::<Result<Vec<u32>, _>>()
            .map(Some)
    }

    /// A positive flag and its `no_` twin; both given must agree.
    fn switch(&self, on: &str, off: &str, default: bool) -> Result<bool, OptionsError> {
        match (self.bool(on)?, self.bool(off)?) {
            (Some(a), Some(b)) if a == b => {
                Err(OptionsError::Invalid(crate::Error::Config(format!(
                    "{on}={} contradicts {off}={}; give one of them",
                    py_bool(a),
                    py_bool(b)
                ))))
            }
            (Some(a), _) => Ok(a),
            (None, Some(b)) => Ok(!b),
            (None, None) => Ok(default),
        }
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn config_error(msg: String) -> OptionsError {
    OptionsError::Invalid(crate::Error::Config(msg))
}

/// The run the options describe, on `data` when given (arrays handed over by a front end)
/// and otherwise on the `data` option. Absent and `null` options take their defaults.
pub fn from_options(
    options: &Map<String, Value>,
    data: Option<DataSource>,
) -> Result<RunOptions, OptionsError> {
    let unknown: Vec<String> = options
        .keys()
        .filter(|k| !OPTIONS.iter().any(|o| o.name == k.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(OptionsError::Unknown { given: unknown });
    }
    let r = Reader(options);
    let d = VerifyConfig::default();
    let data = match (data, r.text("data")?) {
        (Some(_), Some(_)) => {
            return Err(config_error(
                "the option data names a data set, but arrays were given too; pass one of them"
                    .into(),
            ))
        }
        (Some(source), None) => source,
        (None, name) => {
            let s = Synthetic::default();
            let shape = Synthetic {
                n: r.usize("synthetic_n")?.unwrap_or(s.n),
                features: r.usize("synthetic_features")?.unwrap_or(s.features),
                classes: r.u32("synthetic_classes")?.unwrap_or(s.classes),
            };
            DataSource::from_arg(name.as_deref().unwrap_or("digits"), shape)
        }
    };
    let config = VerifyConfig {
        data,
        model: r.named::<ModelKind>("model")?.unwrap_or(d.model),
        hidden: r.usize("hidden")?.unwrap_or(d.hidden),
        activation: r.named::<Activation>("activation")?.unwrap_or(d.activation),
        backend: r
            .named::<BackendKind>("backend")?
            .unwrap_or(d.backend.kind())
            .choice(r.u32("mpfr_precision")?.unwrap_or(DEFAULT_MPFR_PRECISION)),
        frac_bits: r.u32("frac_bits")?.unwrap_or(d.frac_bits),
        step_size: step_size(&r)?,
        batch: r.usize("batch")?.unwrap_or(d.batch),
        epochs: r.usize("epochs")?.unwrap_or(d.epochs),
        seed: r.uint("seed")?.unwrap_or(d.seed),
        classes: r.classes("classes")?,
        random_labels: r.bool("random_labels")?.unwrap_or(d.random_labels),
        stop_at_full_accuracy: r.switch("early_stop", "no_early_stop", d.stop_at_full_accuracy)?,
        max_iterations: r.u32("max_iterations")?.unwrap_or(d.max_iterations),
        certify: r.bool("certify")?.unwrap_or(false).then_some(
            r.uint("certify_budget")?
                .unwrap_or(crate::steps::certify::DEFAULT_BUDGET),
        ),
        bias: r.switch("bias", "no_bias", d.bias)?,
        code: r.switch("code", "no_code", d.code)?,
        invert: true,
    };
    let sgd_prime = sgd_prime_options(&r)?;
    let momentum = momentum_options(&r)?;
    if sgd_prime.is_some() && momentum.is_some() {
        return Err(config_error(
            "optimizer='momentum' runs Algorithm 1; leave out algorithm='sgd-prime'".into(),
        ));
    }
    Ok(RunOptions {
        config,
        sgd_prime,
        momentum,
    })
}

/// Heavy ball's β and rounding when `optimizer` is `momentum`; its options are refused with
/// plain SGD, as the flags are.
fn momentum_options(r: &Reader) -> Result<Option<MomentumConfig>, OptionsError> {
    let optimizer = r.text("optimizer")?.unwrap_or_else(|| "sgd".into());
    match optimizer.as_str() {
        "sgd" => match ["beta", "momentum_rounding"].iter().find(|f| r.get(f).is_some()) {
            Some(f) => Err(config_error(format!(
                "option {f} applies to optimizer='momentum' only; add optimizer='momentum' or leave it out"
            ))),
            None => Ok(None),
        },
        "momentum" => {
            let beta = r.text("beta")?.ok_or_else(|| {
                config_error(
                    "optimizer='momentum' needs beta, a dyadic rational in [0, 1) such as '7/8'"
                        .into(),
                )
            })?;
            let rounding = match r.text("momentum_rounding")? {
                Some(name) => name
                    .parse::<Rounding>()
                    .map_err(|e| config_error(e.to_string()))?,
                None => Rounding::Nearest,
            };
            Ok(Some(MomentumConfig {
                beta: beta.parse::<Beta>()?,
                rounding,
            }))
        }
        other => Err(config_error(format!(
            "unknown optimizer '{other}'; use one of sgd, momentum"
        ))),
    }
}

/// α from at most one of `alpha`, `q` and `q_inf`, as the flags conflict.
fn step_size(r: &Reader) -> Result<StepSize, OptionsError> {
    match (r.text("alpha")?, r.text("q")?, r.text("q_inf")?) {
        (Some(a), None, None) => Ok(StepSize::Alpha(
            a.parse::<Dyadic>().map_err(crate::Error::from)?,
        )),
        (None, Some(q), None) => Ok(StepSize::Q(q)),
        (None, None, Some(q)) => Ok(StepSize::QInf(q)),
        (None, None, None) => Ok(StepSize::Q(DEFAULT_Q.into())),
        _ => Err(config_error(
            "alpha, q and q_inf each choose the step size; give at most one of them".into(),
        )),
    }
}

/// SGD′'s parameters when `algorithm` is `sgd-prime`; its flags are refused with plain SGD.
fn sgd_prime_options(r: &Reader) -> Result<Option<SgdPrimeConfig>, OptionsError> {
    let algorithm = r.text("algorithm")?.unwrap_or_else(|| "sgd".into());
    let flags = [
        "perturbation_length",
        "perturbation_bits",
        "perturbation_scale",
        "epsilon",
        "max_gd_steps",
    ];
    match algorithm.as_str() {
        "sgd" => match flags.iter().find(|f| r.get(f).is_some()) {
            Some(f) => Err(config_error(format!(
                "option {f} applies to algorithm='sgd-prime' only; add algorithm='sgd-prime' or leave it out"
            ))),
            None => Ok(None),
        },
        "sgd-prime" | "sgd_prime" => {
            let p = Perturbation::new(
                r.usize("perturbation_length")?
                    .unwrap_or(sgd_prime::DEFAULT_LENGTH),
                r.u32("perturbation_bits")?
                    .unwrap_or(sgd_prime::DEFAULT_BITS),
                r.u32("perturbation_scale")?
                    .unwrap_or(sgd_prime::DEFAULT_SCALE),
            )
            .map_err(|e| config_error(e.to_string()))?;
            let epsilon = r
                .text("epsilon")?
                .unwrap_or_else(|| sgd_prime::DEFAULT_EPSILON.into());
            let t = r
                .usize("max_gd_steps")?
                .unwrap_or(sgd_prime::DEFAULT_MAX_GD_STEPS);
            Ok(Some(SgdPrimeConfig::new(p, &epsilon, t)?))
        }
        other => Err(config_error(format!(
            "unknown algorithm '{other}'; use one of sgd, sgd-prime"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<RunOptions, OptionsError> {
        from_options(v.as_object().expect("an object"), None)
    }

    #[test]
    fn no_options_is_the_default_run() {
        let r = parse(json!({})).unwrap();
        assert_eq!(r.config, VerifyConfig::default());
        assert_eq!(r.sgd_prime, None);
        assert_eq!(r.momentum, None);
    }

    #[test]
    fn momentum_options_follow_the_flags_rules() {
        let r = parse(
            json!({"optimizer": "momentum", "beta": "7/8", "momentum_rounding": "bits-back"}),
        )
        .unwrap();
        let m = r.momentum.unwrap();
        assert_eq!((m.beta.num(), m.beta.den()), (7, 8));
        assert_eq!(m.rounding, Rounding::BitsBack);
        let nearest = parse(json!({"optimizer": "momentum", "beta": 0.5})).unwrap();
        assert_eq!(nearest.momentum.unwrap().rounding, Rounding::Nearest);
        for (bad, needle) in [
            (
                json!({"beta": "7/8"}),
                "applies to optimizer='momentum' only",
            ),
            (json!({"optimizer": "momentum"}), "needs beta"),
            (json!({"optimizer": "momentum", "beta": "1"}), "β"),
            (json!({"optimizer": "adam"}), "unknown optimizer"),
            (
                json!({"optimizer": "momentum", "beta": "1/2", "momentum_rounding": "up"}),
                "rounding",
            ),
            (
                json!({"optimizer": "momentum", "beta": "1/2", "algorithm": "sgd-prime"}),
                "leave out algorithm",
            ),
        ] {
            let e = parse(bad.clone()).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn options_set_their_fields() {
        let r = parse(json!({
            "model": "least-squares", "backend": "exact", "batch": 7, "epochs": 2,
            "frac_bits": 20, "alpha": "1/1024", "seed": 5, "early_stop": false,
            "certify": true, "code": false, "classes": [1, 7], "no_bias": true
        }))
        .unwrap();
        let c = r.config;
        assert_eq!(c.model, ModelKind::LeastSquares);
        assert_eq!(c.backend, crate::sgd::BackendChoice::Exact);
        assert_eq!((c.batch, c.epochs, c.frac_bits, c.seed), (7, 2, 20, 5));
        assert_eq!(c.step_size, StepSize::Alpha("1/1024".parse().unwrap()));
        assert!(!c.stop_at_full_accuracy && !c.code && !c.bias);
        assert_eq!(c.certify, Some(crate::steps::certify::DEFAULT_BUDGET));
        assert_eq!(c.classes, Some(vec![1, 7]));
    }

    #[test]
    fn a_number_reads_as_the_flag_text_would() {
        let r = parse(json!({"q": 0.25})).unwrap();
        assert_eq!(r.config.step_size, StepSize::Q("0.25".into()));
        let r = parse(json!({"alpha": 0.0078125})).unwrap();
        assert_eq!(
            r.config.step_size,
            StepSize::Alpha("1/128".parse().unwrap())
        );
    }

    #[test]
    fn unknown_names_are_listed_with_the_valid_ones() {
        let e = parse(json!({"bach": 3, "epochs": 1}))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("unknown option(s) bach;"), "{e}");
        assert!(e.contains("batch") && e.contains("q_inf"), "{e}");
    }

    #[test]
    fn refused_values_say_why() {
        let e = parse(json!({"batch": "ten"})).unwrap_err();
        assert!(matches!(e, OptionsError::Type { .. }), "{e}");
        let e = parse(json!({"model": "lasso"})).unwrap_err().to_string();
        assert!(e.contains("use one of least-squares"), "{e}");
        let e = parse(json!({"alpha": "1/8", "q": 0.1}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most one"), "{e}");
        let e = parse(json!({"epsilon": "0.2"})).unwrap_err().to_string();
        assert!(e.contains("applies to algorithm='sgd-prime' only"), "{e}");
        let e = parse(json!({"early_stop": true, "no_early_stop": true}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("contradicts"), "{e}");
    }

    #[test]
    fn arrays_are_quantised_as_a_file_would_be() {
        let raw = crate::data::RawData {
            features: vec![
                vec![0.5, -2.0],
                vec![1.0, 3.0],
                vec![-1.5, 0.25],
                vec![2.0, 1.0],
            ],
            labels: vec![0, 1, 0, 1],
            source: "arrays".into(),
        };
        let arrays = Some(DataSource::Arrays(std::sync::Arc::new(raw)));
        let o = json!({"batch": 2, "epochs": 1, "frac_bits": 8, "model": "least-squares"});
        let r = from_options(o.as_object().unwrap(), arrays.clone()).unwrap();
        let setup = crate::pipeline::config::Setup::new(&r.config).unwrap();
        // max |v| = 3 ≤ 2^2: every value is scaled by 1/4, then the bias column 1.
        assert_eq!(setup.data.features[1], vec![64, 192, 256]);
        assert_eq!(setup.data.source, "arrays");
        let both = json!({"data": "digits"});
        let e = from_options(both.as_object().unwrap(), arrays).unwrap_err();
        assert!(e.to_string().contains("pass one of them"), "{e}");
    }

    #[test]
    fn sgd_prime_takes_its_defaults() {
        let r = parse(json!({"algorithm": "sgd-prime"})).unwrap();
        let p = r.sgd_prime.unwrap();
        let d = SgdPrimeConfig::new(
            Perturbation::new(
                sgd_prime::DEFAULT_LENGTH,
                sgd_prime::DEFAULT_BITS,
                sgd_prime::DEFAULT_SCALE,
            )
            .unwrap(),
            sgd_prime::DEFAULT_EPSILON,
            sgd_prime::DEFAULT_MAX_GD_STEPS,
        )
        .unwrap();
        assert_eq!(p, d);
    }
}
