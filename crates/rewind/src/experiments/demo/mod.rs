//! The teaching demo of `rewind demo`: Lemma 2.1 / Theorem 2.2 on a grid you can see.
//!
//! One SGD step of a two-parameter model (least squares on two synthetic features, no bias,
//! exact gradients) on a coarse grid 2^-p·ℤ, small enough that one ulp is visible, is inverted
//! in the open: from V₀ = W' the library's inverter ([`crate::steps::invert::invert_observed`]) runs
//! the contraction iteration V ← W' + s_B(V), and the demo watches every iterate and its
//! ∞-distance to the logged model W. [`certify`] then proves what the iteration alone cannot:
//! whether W is the only grid preimage of W' (Lemma 2.1 over ℝ) or one of several (the grid's
//! many-to-one steps, docs/design.md §3). [`demo_svg`] (in `svg.rs`) draws it all over the
//! collision map of [`crate::steps::collisions::scan`].
//!
//! The demo also goes where `rewind verify` does not: q = α·L_B ≥ 1 (up to [`MAX_Q`]), where
//! Lemma 2.1's premise fails and nothing makes the iteration contract. It then shows a step whose
//! iteration fails, when the run has one, and says how ([`Ending`]): it runs away (an iterate
//! passes [`ESCAPE_ULPS`] from W), it cycles, or it hits the cap.

mod svg;

pub use svg::demo_svg;

use crate::grid::{checked_add, parse_rational, Dyadic};
use crate::model::Smoothness;
use crate::pipeline::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use crate::sgd::{run, BackendChoice, NoObserver, StepFunction, Trajectory};
use crate::steps::certify::{certify, Certificate, UnknownReason, DEFAULT_BUDGET};
use crate::steps::collisions::{scan, CollisionMap};
use crate::steps::invert::{invert_observed, Inversion, InversionObserver, Termination};
use crate::Error;
use num_rational::BigRational;
use num_traits::{One, Signed};

/// Default fractional bits: one ulp is 1/32, so a step moves a handful of ulps.
pub const DEFAULT_FRAC_BITS: u32 = 5;
/// Default q = α·L_B: contractive, but enough to make collisions common.
pub const DEFAULT_Q: &str = "0.45";
/// The fractional bits the demo accepts: coarse enough that the picture shows single ulps.
pub const FRAC_BITS_RANGE: std::ops::RangeInclusive<u32> = 2..=8;
/// Synthetic examples of the demo's data set.
pub const EXAMPLES: usize = 24;
/// Batch size b of the demo's run.
pub const BATCH: usize = 4;
/// Epochs of the demo's run.
pub const EPOCHS: usize = 2;
/// Cap on the fixed-point iterations (the same rule as `invert`'s cap).
pub const MAX_ITERATIONS: u32 = 1000;
/// The largest q the demo accepts. A forward step multiplies the distance to the batch's
/// least-squares solution by at most |1 − α·λ| ≤ q − 1 = 3, so the run's 12 steps stay far
/// inside the grid's i64 range; a larger q would only show the same blow-up faster.
pub const MAX_Q: u32 = 4;
/// An iterate farther than this from W (in ulps, ∞-norm) means the iteration runs away. It is
/// far beyond any picture and any preimage, and small enough that the iterates' arithmetic
/// stays in range, so a diverging iteration is shown as such instead of ending in an overflow.
pub const ESCAPE_ULPS: u64 = 1 << 20;
/// Iterates farther than this from W (in ulps) do not widen the picture's window: a diverging
/// path is drawn leaving it, and the window stays fine enough to show single ulps.
const WINDOW_REACH: u64 = 32;
/// The first iterates V₀, V₁, V₂ widen the window however far they are (up to the window's own
/// limit), so that even a fast divergence shows its first steps.
const ALWAYS_SHOWN: usize = 3;
/// The q that builds the run at q ≥ 1 before the demo puts in its own α ([`DemoConfig::setup`]).
const CONTRACTIVE_Q: &str = "1/2";

/// What the demo is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    /// Seed of the data, the initial model and the permutations; also picks the step.
    pub seed: u64,
    /// q = α·L_B, a number in (0, [`MAX_Q`]]; from 1 on the iteration need not contract.
    pub q: String,
    /// Fractional bits p of the grid, in [`FRAC_BITS_RANGE`].
    pub frac_bits: u32,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            seed: 0,
            q: DEFAULT_Q.into(),
            frac_bits: DEFAULT_FRAC_BITS,
        }
    }
}

impl DemoConfig {
    /// The run behind the demo: least squares on [`EXAMPLES`] synthetic examples with two
    /// features and no bias, exact backend, b = [`BATCH`], [`EPOCHS`] epochs, no early stop.
    pub fn verify_config(&self) -> VerifyConfig {
        VerifyConfig {
            data: DataSource::Synthetic {
                n: EXAMPLES,
                features: 2,
                classes: 2,
            },
            model: ModelKind::LeastSquares,
            backend: BackendChoice::Exact,
            frac_bits: self.frac_bits,
            step_size: StepSize::Q(self.q.clone()),
            batch: BATCH,
            epochs: EPOCHS,
            seed: self.seed,
            stop_at_full_accuracy: false,
            max_iterations: MAX_ITERATIONS,
            bias: false,
            ..VerifyConfig::default()
        }
    }

    /// `q` as an exact number, checked: positive and at most [`MAX_Q`].
    pub fn q_value(&self) -> Result<BigRational, Error> {
        let bad = |why: &str| {
            Error::Config(format!(
                "--q {} {why}; use a number in (0, {MAX_Q}], e.g. --q 0.45, or --q 1.5 to see the iteration fail",
                self.q
            ))
        };
        let q = parse_rational(self.q.trim()).ok_or_else(|| bad("is not a number"))?;
        if !q.is_positive() {
            return Err(bad("must be positive"));
        }
        if q > BigRational::from_integer(MAX_Q.into()) {
            return Err(bad(&format!("is above the demo's limit of {MAX_Q}")));
        }
        Ok(q)
    }

    /// The demo's run. For q < 1 it is `rewind verify`'s own setup of [`Self::verify_config`].
    /// `Setup` refuses q ≥ 1, the premise every inversion of `verify` rests on; the demo then
    /// builds the same run at a contracting q and puts in its own α, rounded up so that
    /// α·L_B ≥ q really holds.
    pub fn setup(&self) -> Result<Setup, Error> {
        let q = self.q_value()?;
        if q < BigRational::one() {
            return Setup::new(&self.verify_config());
        }
        let mut setup = Setup::new(&VerifyConfig {
            step_size: StepSize::Q(CONTRACTIVE_Q.into()),
            ..self.verify_config()
        })?;
        setup.alpha = alpha_at_least(&q, &setup.smoothness)?;
        setup.config.step_size = StepSize::Alpha(setup.alpha);
        Ok(setup)
    }
}

/// The smallest 16-bit dyadic α with α·L_B ≥ q (`largest_at_most` rounds the other way).
fn alpha_at_least(q: &BigRational, smoothness: &Smoothness) -> Result<Dyadic, Error> {
    let Smoothness::Certified { bound, .. } = smoothness else {
        return Err(Error::Internal(
            "the demo's least-squares model has no certified bound L_B".into(),
        ));
    };
    let no_alpha = || Error::Config(format!("--q {q} gives no usable α; lower --q"));
    if !bound.is_positive() {
        return Err(no_alpha());
    }
    let target = q / bound;
    let below = Dyadic::largest_at_most(&target).ok_or_else(no_alpha)?;
    if below.to_rational() >= target {
        return Ok(below);
    }
    Ok(Dyadic::new(below.num() + 1, below.shift())?)
}

/// How the iteration V ← W' + s_B(V) from V₀ = W' ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// V − s_B(V) = W', checked by one forward step: a preimage.
    FixedPoint,
    /// The iterates repeat with this period (> 1) and never reach a fixed point.
    Cycle {
        /// The number of distinct iterates in the cycle.
        period: u32,
    },
    /// An iterate passed [`ESCAPE_ULPS`] from W: the iteration runs away.
    Diverges {
        /// The index t of the first iterate V_t beyond [`ESCAPE_ULPS`].
        iterations: u32,
        /// ‖V_t − W‖_∞ in ulps.
        distance: u64,
    },
    /// [`MAX_ITERATIONS`] iterations without a fixed point, a repeat or an escape.
    Cap,
}

impl Ending {
    /// Whether the iteration failed to find a preimage.
    pub fn failed(self) -> bool {
        self != Ending::FixedPoint
    }
}

impl From<Termination> for Ending {
    fn from(t: Termination) -> Self {
        match t {
            Termination::FixedPoint => Ending::FixedPoint,
            Termination::Cycle { length } => Ending::Cycle { period: length },
            Termination::Cap => Ending::Cap,
        }
    }
}

/// One iterate V_t of V ← W' + s_B(V).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iterate {
    /// V_t, raw grid integers.
    pub point: Vec<i64>,
    /// s_B(V_t); the next iterate is W' + s_B(V_t).
    pub increment: Vec<i64>,
    /// ‖V_t − W‖_∞ in ulps, W the logged model.
    pub distance: u64,
}

/// One example of the batch, as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The example's row in the data set, from 0.
    pub index: usize,
    /// The features, raw grid integers.
    pub x: Vec<i64>,
    /// The least-squares target ±1.
    pub y: i64,
}

/// Everything the demo shows about one step and its inversion.
#[derive(Debug, Clone, PartialEq)]
pub struct Demo {
    /// The request the demo was built from.
    pub config: DemoConfig,
    /// Where the data came from (the synthetic generator and its seed).
    pub data_source: String,
    /// The step size α, chosen from `config.q` as in `--q` (docs/design.md §2.3); from q = 1
    /// on rounded up instead of down ([`DemoConfig::setup`]).
    pub alpha: Dyadic,
    /// α·L_B with the certified bound L_B.
    pub q: f64,
    /// q < 1, and so α·L_B < 1 exactly (α rounds down below q = 1 and up from it on): Lemma
    /// 2.1's premise, under which the iteration contracts over ℝ.
    pub contractive: bool,
    /// α·λ_max(H_B), the largest stretch of the iteration's linear part on this batch. L_B
    /// bounds λ_max(H_B) for every batch, so this is at most q and often well below it: an
    /// iteration at q ≥ 1 still contracts when this is below 1.
    pub rate: Option<f64>,
    /// α·L_∞, the contraction the certificate's ∞-norm radius needs below 1.
    pub q_inf: Option<f64>,
    /// The chosen step, 0-based over the run.
    pub step_index: usize,
    /// The chosen step's epoch i, from 1.
    pub epoch: usize,
    /// The chosen step's index j inside its epoch, from 1.
    pub step: usize,
    /// Steps in the run.
    pub steps: usize,
    /// At q ≥ 1, how many of the run's steps that move the model have an iteration that fails
    /// (the demo picks among those when there are any); `None` below 1, where none is looked for.
    pub failing_steps: Option<usize>,
    /// W: the logged model before the step.
    pub w: Vec<i64>,
    /// B: the batch, in order.
    pub batch: Vec<Example>,
    /// s_B(W).
    pub increment: Vec<i64>,
    /// W' = W − s_B(W).
    pub w_next: Vec<i64>,
    /// V₀ = W', V₁, …: every iterate. After a cycle the last iterate repeats an earlier one;
    /// after an escape the last iterate is the one beyond [`ESCAPE_ULPS`].
    pub iterates: Vec<Iterate>,
    /// How the iteration ended: fixed point, cycle or cap (docs/design.md §4.1), or an escape.
    pub ending: Ending,
    /// The iteration's fixed point is W itself.
    pub recovered: bool,
    /// What [`certify`] proves about the preimages of W': unique, ambiguous or unknown
    /// (docs/design.md §4.3).
    pub certificate: Certificate,
    /// Every grid preimage of W' in lexicographic order (contains W), when certified.
    pub preimages: Option<Vec<Vec<i64>>>,
    /// The collision map of this batch's step around the picture's window.
    pub collisions: CollisionMap,
}

impl Demo {
    /// One ulp, 2^-p.
    pub fn ulp(&self) -> f64 {
        libm::ldexp(1.0, -(self.config.frac_bits as i32))
    }

    /// The real number a raw integer stands for.
    pub fn real(&self, raw: i64) -> f64 {
        raw as f64 * self.ulp()
    }

    /// The iteration's fixed point, if it reached one.
    pub fn fixed_point(&self) -> Option<&[i64]> {
        (self.ending == Ending::FixedPoint)
            .then(|| self.iterates.last().map(|v| v.point.as_slice()))
            .flatten()
    }

    /// The certified preimages other than W (empty when unique or not certified).
    pub fn other_preimages(&self) -> Vec<&[i64]> {
        self.preimages
            .iter()
            .flatten()
            .filter(|p| **p != self.w)
            .map(Vec::as_slice)
            .collect()
    }

    /// What the inverter found, in words.
    pub fn found(&self) -> String {
        match (self.fixed_point(), self.ending) {
            (Some(v), _) if v == self.w => format!("{} = W", raw(v)),
            (Some(v), _) => format!("{}, not W", raw(v)),
            (None, Ending::Cycle { period }) => {
                format!("no preimage (the iterates cycle with length {period})")
            }
            (None, Ending::Diverges { .. }) => "no preimage (the iterates run away)".into(),
            (None, _) => format!("no preimage within {MAX_ITERATIONS} iterations"),
        }
    }

    /// How the iteration failed, in words: "it diverges: …", "it cycles with period k", ….
    pub fn how_it_failed(&self) -> Option<String> {
        Some(match self.ending {
            Ending::FixedPoint => return None,
            Ending::Diverges {
                iterations,
                distance,
            } => format!(
                "it diverges: ‖V − W‖∞ grows from {} to {distance} ulps by V{iterations}, where the demo stops following it",
                self.iterates.first().map_or(0, |v| v.distance)
            ),
            Ending::Cycle { period } => {
                format!("it cycles with period {period} and never reaches a fixed point")
            }
            Ending::Cap => format!(
                "it neither settles, repeats nor runs away within {MAX_ITERATIONS} iterations"
            ),
        })
    }

    /// At q ≥ 1, what became of the iteration without Lemma 2.1's premise, one line; `None`
    /// when q < 1.
    pub fn contraction(&self) -> Option<String> {
        if self.contractive {
            return None;
        }
        let q = self.config.q.trim();
        let rate = self.rate.map_or(String::new(), |r| {
            format!("; this batch's α·λ_max(H_B) = {r:.3}")
        });
        Some(match self.how_it_failed() {
            Some(how) => format!("the iteration does not contract at q = {q}: {how}{rate}"),
            None => format!(
                "q = {q} ≥ 1 voids the contraction guarantee, yet the iteration reached a fixed point{rate} (L_B bounds every batch, so it can be loose); {}",
                match self.failing_steps {
                    Some(0) | None => "no step of this run fails at this q: try a larger --q".to_string(),
                    Some(n) => format!("{n} step(s) of this run fail at this q"),
                }
            ),
        })
    }

    /// The verdict of the certificate, one line.
    pub fn verdict(&self) -> String {
        match &self.certificate {
            Certificate::Unique => "unique: W is the only preimage of W'".into(),
            Certificate::Ambiguous { preimages, .. } => {
                let list: Vec<String> = self.preimages.iter().flatten().map(|p| raw(p)).collect();
                format!(
                    "ambiguous: W' has {preimages} preimages: {}; the inverter found {}",
                    list.join(", "),
                    self.found()
                )
            }
            Certificate::Unknown(reason) => {
                format!(
                    "unknown: the preimage set could not be certified ({})",
                    why(reason)
                )
            }
        }
    }

    /// The figure's title: the certificate below q = 1, what the iteration did from q = 1 on.
    pub fn title(&self) -> String {
        if self.contractive {
            return format!("One SGD step inverted on the grid: {}", self.headline());
        }
        let q = self.config.q.trim();
        match self.ending {
            Ending::FixedPoint => format!(
                "q = {q} ≥ 1: no contraction guaranteed, yet the iteration reached a fixed point"
            ),
            Ending::Diverges { .. } => {
                format!("q = {q} ≥ 1: the iteration does not contract — it diverges")
            }
            Ending::Cycle { period } => format!(
                "q = {q} ≥ 1: the iteration does not contract — it cycles with period {period}"
            ),
            Ending::Cap => format!(
                "q = {q} ≥ 1: the iteration does not contract — no fixed point in {MAX_ITERATIONS} steps"
            ),
        }
    }

    /// The verdict, short enough for a title.
    pub fn headline(&self) -> String {
        match &self.certificate {
            Certificate::Unique => "unique — W is the only preimage of W′".into(),
            Certificate::Ambiguous { preimages, .. } => {
                format!("ambiguous — W′ has {preimages} preimages")
            }
            Certificate::Unknown(reason) => format!("not certified — {}", why(reason)),
        }
    }
}

/// A raw point as `(a, b)`.
pub fn raw(p: &[i64]) -> String {
    let parts: Vec<String> = p.iter().map(i64::to_string).collect();
    format!("({})", parts.join(", "))
}

fn why(reason: &UnknownReason) -> String {
    match reason {
        UnknownReason::NonContractiveInfNorm { q_inf } => {
            format!("q_∞ = {q_inf:.3} ≥ 1, so no ∞-norm radius; lower --q")
        }
        UnknownReason::Budget { .. } => "the enumeration budget ran out".into(),
        UnknownReason::NoCertifiedBound => "the model has no certified bound".into(),
        UnknownReason::RadiusTooLarge { radius } => {
            format!("the radius {radius} ulps exceeds the error box")
        }
    }
}

/// ‖a − b‖_∞ in ulps.
pub fn distance(a: &[i64], b: &[i64]) -> u64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

/// Runs the demo's short SGD run, picks a step (`pick_step`), inverts it iterate by iterate
/// and certifies its preimage set.
pub fn demo(config: &DemoConfig) -> Result<Demo, Error> {
    if !FRAC_BITS_RANGE.contains(&config.frac_bits) {
        return Err(Error::Config(format!(
            "--frac-bits {} is out of range for the demo; use {} to {} so that one ulp stays visible",
            config.frac_bits,
            FRAC_BITS_RANGE.start(),
            FRAC_BITS_RANGE.end()
        )));
    }
    let setup = config.setup()?;
    let contractive = config.q_value()? < BigRational::one();
    // The demo draws the plain iteration, every iterate evaluated by the own backend.
    let f = setup.step_function().with_predictor(false);
    let traj = run(&f, &setup.sgd_config(), setup.init.clone(), &mut NoObserver)?;
    let (step_index, failing_steps) = pick_step(&f, &traj, config.seed, contractive)?;
    let logged = &traj.steps[step_index];
    let w = logged.w.clone();
    let batch = logged.batch.clone();
    let increment = f.increment(&w, &batch)?;
    let w_next = StepFunction::apply(&w, &increment)?;
    if w_next != traj.model_after(step_index) {
        return Err(Error::Internal(format!(
            "the step recomputed from W does not reproduce the run's next model at step {}",
            step_index + 1
        )));
    }

    let (iterates, ending) = trace(&f, &w, &w_next, &batch)?;
    let recovered = ending == Ending::FixedPoint && iterates.last().map(|v| &v.point) == Some(&w);
    let (certificate, enumerated) = certify(&f, &w_next, &batch, &w, DEFAULT_BUDGET)?;
    let preimages = enumerated.result.ok().map(|e| e.preimages);

    let mut shown: Vec<&[i64]> = vec![&w, &w_next];
    shown.extend(
        iterates
            .iter()
            .enumerate()
            .filter(|(t, v)| *t < ALWAYS_SHOWN || v.distance <= WINDOW_REACH)
            .map(|(_, v)| v.point.as_slice()),
    );
    shown.extend(preimages.iter().flatten().map(Vec::as_slice));
    let (center, half) = window(&shown);
    let collisions = scan(&f, &batch, center, half)?;

    let examples = batch
        .iter()
        .map(|&i| Example {
            index: i,
            x: setup.data.features[i].clone(),
            y: if setup.data.labels[i] == 1 { 1 } else { -1 },
        })
        .collect();
    Ok(Demo {
        config: config.clone(),
        data_source: setup.data.source.clone(),
        alpha: setup.alpha,
        q: setup.q(),
        contractive,
        rate: rate(&setup, &w, &batch),
        q_inf: setup.q_inf(),
        step_index,
        epoch: logged.epoch,
        step: logged.step,
        steps: traj.steps.len(),
        failing_steps,
        w,
        batch: examples,
        increment,
        w_next,
        iterates,
        ending,
        recovered,
        certificate,
        preimages,
        collisions,
    })
}

/// The step to show, `seed mod n` among the n steps that move the model (s_B(W) ≠ 0; all
/// steps if none does). At q ≥ 1 the demo is there to show the iteration failing, so it picks
/// among the moving steps whose iteration fails when there are any; their count comes back.
fn pick_step(
    f: &StepFunction,
    traj: &Trajectory,
    seed: u64,
    contractive: bool,
) -> Result<(usize, Option<usize>), Error> {
    let moving: Vec<usize> = (0..traj.steps.len())
        .filter(|&k| traj.model_after(k) != traj.steps[k].w.as_slice())
        .collect();
    let mut candidates = if moving.is_empty() {
        (0..traj.steps.len()).collect()
    } else {
        moving
    };
    let mut failing_steps = None;
    if !contractive {
        let mut failing = Vec::new();
        for &k in &candidates {
            let step = &traj.steps[k];
            let (_, ending) = trace(f, &step.w, traj.model_after(k), &step.batch)?;
            if ending.failed() {
                failing.push(k);
            }
        }
        failing_steps = Some(failing.len());
        if !failing.is_empty() {
            candidates = failing;
        }
    }
    match candidates.get((seed % candidates.len().max(1) as u64) as usize) {
        Some(&k) => Ok((k, failing_steps)),
        None => Err(Error::Config(
            "the demo's run made no step; pick another --seed".into(),
        )),
    }
}

/// The iterates of V ← W' + s_B(V) from V₀ = W' and how they ended: by the library's inverter,
/// unless they run away first.
fn trace(
    f: &StepFunction,
    w: &[i64],
    w_next: &[i64],
    batch: &[usize],
) -> Result<(Vec<Iterate>, Ending), Error> {
    if let Some(escaped) = escape(f, w, w_next, batch)? {
        return Ok(escaped);
    }
    let mut drawn = Drawn {
        w,
        iterates: Vec::new(),
    };
    let inv = invert_observed(f, w_next, batch, MAX_ITERATIONS, &mut drawn)?;
    let iterates = drawn.finish(f, batch, &inv)?;
    Ok((iterates, inv.termination.into()))
}

/// The plain iteration from W' for at most [`MAX_ITERATIONS`] evaluations, watched for an
/// iterate beyond [`ESCAPE_ULPS`] from W: every iterate up to that one and the escape, or
/// `None` when there is none. The inverter would follow a runaway iteration until its numbers
/// overflow and report an error; after `None` it walks the same bounded iterates.
fn escape(
    f: &StepFunction,
    w: &[i64],
    w_next: &[i64],
    batch: &[usize],
) -> Result<Option<(Vec<Iterate>, Ending)>, Error> {
    let mut iterates = Vec::new();
    let mut v = w_next.to_vec();
    for t in 0..MAX_ITERATIONS {
        let s = f.increment(&v, batch)?;
        if StepFunction::apply(&v, &s)? == w_next {
            return Ok(None);
        }
        let next = checked_add(w_next, &s, "an inversion iterate")?;
        iterates.push(Iterate {
            distance: distance(&v, w),
            point: std::mem::replace(&mut v, next),
            increment: s,
        });
        let far = distance(&v, w);
        if far > ESCAPE_ULPS {
            iterates.push(Iterate {
                distance: far,
                increment: f.increment(&v, batch)?,
                point: v,
            });
            let ending = Ending::Diverges {
                iterations: t + 1,
                distance: far,
            };
            return Ok(Some((iterates, ending)));
        }
    }
    Ok(None)
}

/// α·λ_max(H_B) at W for the two-parameter model, from its closed-form batch Hessian (constant
/// for least squares); `None` for a model without one.
fn rate(setup: &Setup, w: &[i64], batch: &[usize]) -> Option<f64> {
    let p = setup.data.grid.frac_bits() as i32;
    let real: Vec<f64> = w.iter().map(|&k| libm::ldexp(k as f64, -p)).collect();
    let h = setup.model.hessian(&real, &setup.data, batch)?;
    let &[a, b, _, d] = h.as_slice() else {
        return None;
    };
    let lambda = (a + d) / 2.0 + (((a - d) / 2.0).powi(2) + b * b).sqrt();
    Some(setup.alpha.to_f64() * lambda)
}

/// The iterates the inverter evaluated, as the figure draws them.
struct Drawn<'a> {
    w: &'a [i64],
    iterates: Vec<Iterate>,
}

impl InversionObserver for Drawn<'_> {
    fn iterate(&mut self, point: &[i64], increment: &[i64]) {
        self.iterates.push(Iterate {
            distance: distance(point, self.w),
            point: point.to_vec(),
            increment: increment.to_vec(),
        });
    }
}

impl Drawn<'_> {
    /// The iterates with the point the iteration stopped at drawn once more when it is not an
    /// evaluated fixed point: the repeat of a cycle (its increment is the earlier visit's) or
    /// the iterate at the cap.
    fn finish(
        mut self,
        f: &StepFunction,
        batch: &[usize],
        inv: &Inversion,
    ) -> Result<Vec<Iterate>, Error> {
        let increment = match inv.termination {
            Termination::FixedPoint => return Ok(self.iterates),
            Termination::Cycle { .. } => self
                .iterates
                .iter()
                .find(|it| it.point == inv.point)
                .map(|it| it.increment.clone()),
            Termination::Cap => None,
        };
        let increment = match increment {
            Some(s) => s,
            None => f.increment(&inv.point, batch)?,
        };
        self.iterates.push(Iterate {
            distance: distance(&inv.point, self.w),
            point: inv.point.clone(),
            increment,
        });
        Ok(self.iterates)
    }
}

/// A square window around every point to be drawn, with a margin of three ulps.
fn window(points: &[&[i64]]) -> ([i64; 2], i64) {
    let lo = |k: usize| points.iter().map(|p| p[k]).min().unwrap_or(0);
    let hi = |k: usize| points.iter().map(|p| p[k]).max().unwrap_or(0);
    let center = [lo(0) + (hi(0) - lo(0)) / 2, lo(1) + (hi(1) - lo(1)) / 2];
    let extent = (hi(0) - center[0])
        .max(center[0] - lo(0))
        .max(hi(1) - center[1])
        .max(center[1] - lo(1));
    (center, (extent + 3).clamp(6, 150))
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_bigint::BigInt;

    fn config(q: &str, seed: u64) -> DemoConfig {
        DemoConfig {
            seed,
            q: q.into(),
            ..DemoConfig::default()
        }
    }

    fn rational(s: &str) -> BigRational {
        parse_rational(s).unwrap()
    }

    #[test]
    fn q_at_or_below_zero_not_a_number_or_above_the_limit_is_refused_in_one_line() {
        for (q, why) in [
            ("0", "must be positive"),
            ("-1", "must be positive"),
            ("nan", "is not a number"),
            ("inf", "is not a number"),
            ("", "is not a number"),
            ("4.0001", "is above the demo's limit of 4"),
            ("1e9", "is above the demo's limit of 4"),
        ] {
            let err = config(q, 0).q_value().unwrap_err().to_string();
            assert!(err.starts_with(&format!("--q {q} {why}")), "{q}: {err}");
            assert!(err.contains("e.g. --q 0.45"), "{err}");
            assert_eq!(err.lines().count(), 1);
        }
        for q in ["0.45", "1", "1.5", "3/2", "4"] {
            assert!(config(q, 0).q_value().is_ok(), "{q}");
        }
    }

    #[test]
    fn alpha_is_rounded_up_from_q_1_on_so_that_the_premise_really_fails() {
        let bound = rational("37/11");
        let smoothness = Smoothness::Certified {
            bound: bound.clone(),
            how: String::new(),
        };
        for q in ["1", "1.5", "3.9", "4"] {
            let q = rational(q);
            let alpha = alpha_at_least(&q, &smoothness).unwrap();
            assert!(alpha.to_rational() * &bound >= q);
            // One unit less in the last of its 16 bits is below q: α is the smallest such.
            let less = alpha.to_rational()
                - BigRational::new(BigInt::from(1), BigInt::from(1u64) << alpha.shift());
            assert!(less * &bound < q);
        }
    }

    #[test]
    fn verify_still_refuses_q_1_and_above_while_the_demo_accepts_it() {
        let c = config("1.5", 0);
        let err = Setup::new(&c.verify_config()).unwrap_err().to_string();
        assert!(err.contains("strictly between 0 and 1"), "{err}");
        let setup = c.setup().unwrap();
        assert!(setup.q() >= 1.5);
    }

    #[test]
    fn the_endings_name_the_failures_of_the_inverter() {
        assert_eq!(Ending::from(Termination::FixedPoint), Ending::FixedPoint);
        assert_eq!(
            Ending::from(Termination::Cycle { length: 3 }),
            Ending::Cycle { period: 3 }
        );
        assert_eq!(Ending::from(Termination::Cap), Ending::Cap);
        assert!(!Ending::FixedPoint.failed());
        for e in [
            Ending::Cycle { period: 2 },
            Ending::Cap,
            Ending::Diverges {
                iterations: 9,
                distance: ESCAPE_ULPS + 1,
            },
        ] {
            assert!(e.failed());
        }
    }

    #[test]
    fn q_1_5_shows_a_step_whose_iteration_diverges() {
        let d = demo(&config("1.5", 0)).unwrap();
        assert!(!d.contractive);
        let Ending::Diverges {
            iterations,
            distance,
        } = d.ending
        else {
            panic!("{:?}", d.ending)
        };
        assert!(distance > ESCAPE_ULPS);
        assert_eq!(d.iterates.len(), iterations as usize + 1);
        assert!(d.iterates[..iterations as usize]
            .iter()
            .all(|v| v.distance <= ESCAPE_ULPS));
        assert!(d.failing_steps.is_some_and(|n| n >= 1));
        assert!(d.rate.is_some_and(|r| r > 1.0), "{:?}", d.rate);
        let note = d.contraction().unwrap();
        assert!(
            note.starts_with("the iteration does not contract at q = 1.5: it diverges"),
            "{note}"
        );
        assert!(d.title().contains("it diverges"), "{}", d.title());
        assert!(!d.recovered);
        assert_eq!(d.fixed_point(), None);
    }

    #[test]
    fn below_q_1_nothing_is_said_about_contraction() {
        let d = demo(&DemoConfig::default()).unwrap();
        assert!(d.contractive);
        assert_eq!(d.contraction(), None);
        assert_eq!(d.failing_steps, None);
        assert!(d.title().starts_with("One SGD step inverted on the grid: "));
    }

    #[test]
    fn a_run_without_a_failing_step_at_q_1_says_the_iteration_still_converged() {
        let d = demo(&config("1", 0)).unwrap();
        assert!(!d.contractive);
        assert_eq!(d.ending, Ending::FixedPoint);
        assert_eq!(d.failing_steps, Some(0));
        let note = d.contraction().unwrap();
        assert!(
            note.contains("yet the iteration reached a fixed point"),
            "{note}"
        );
        assert!(note.contains("try a larger --q"), "{note}");
    }
}
