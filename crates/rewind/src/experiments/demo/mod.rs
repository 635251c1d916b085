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

mod svg;

pub use svg::demo_svg;

use crate::grid::Dyadic;
use crate::pipeline::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use crate::sgd::{run, BackendChoice, NoObserver, StepFunction};
use crate::steps::certify::{certify, Certificate, UnknownReason, DEFAULT_BUDGET};
use crate::steps::collisions::{scan, CollisionMap};
use crate::steps::invert::{invert_observed, Inversion, InversionObserver, Termination};
use crate::Error;

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

/// What the demo is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    /// Seed of the data, the initial model and the permutations; also picks the step.
    pub seed: u64,
    /// q = α·L_B, a number strictly between 0 and 1 (checked by [`Setup`]).
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
    /// The step size α, chosen from `config.q` as in `--q` (docs/design.md §2.3).
    pub alpha: Dyadic,
    /// α·L_B with the certified bound L_B.
    pub q: f64,
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
    /// W: the logged model before the step.
    pub w: Vec<i64>,
    /// B: the batch, in order.
    pub batch: Vec<Example>,
    /// s_B(W).
    pub increment: Vec<i64>,
    /// W' = W − s_B(W).
    pub w_next: Vec<i64>,
    /// V₀ = W', V₁, …: every iterate. After a cycle the last iterate repeats an earlier one.
    pub iterates: Vec<Iterate>,
    /// How the iteration ended: fixed point, cycle or cap (docs/design.md §4.1).
    pub termination: Termination,
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
        (self.termination == Termination::FixedPoint)
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
        match (self.fixed_point(), self.termination) {
            (Some(v), _) if v == self.w => format!("{} = W", raw(v)),
            (Some(v), _) => format!("{}, not W", raw(v)),
            (None, Termination::Cycle { length }) => {
                format!("no preimage (the iterates cycle with length {length})")
            }
            (None, _) => format!("no preimage within {MAX_ITERATIONS} iterations"),
        }
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

/// Runs the demo's short SGD run, picks step `seed mod (moving steps)` among the steps that
/// move the model (s_B(W) ≠ 0; all steps if none does), inverts it iterate by iterate and
/// certifies its preimage set.
pub fn demo(config: &DemoConfig) -> Result<Demo, Error> {
    if !FRAC_BITS_RANGE.contains(&config.frac_bits) {
        return Err(Error::Config(format!(
            "--frac-bits {} is out of range for the demo; use {} to {} so that one ulp stays visible",
            config.frac_bits,
            FRAC_BITS_RANGE.start(),
            FRAC_BITS_RANGE.end()
        )));
    }
    let setup = Setup::new(&config.verify_config())?;
    // The demo draws the plain iteration, every iterate evaluated by the own backend.
    let f = setup.step_function().with_predictor(false);
    let traj = run(&f, &setup.sgd_config(), setup.init.clone(), &mut NoObserver)?;
    let moving: Vec<usize> = (0..traj.steps.len())
        .filter(|&k| traj.model_after(k) != traj.steps[k].w.as_slice())
        .collect();
    let candidates = if moving.is_empty() {
        (0..traj.steps.len()).collect()
    } else {
        moving
    };
    let Some(&step_index) = candidates.get((config.seed % candidates.len().max(1) as u64) as usize)
    else {
        return Err(Error::Config(
            "the demo's run made no step; pick another --seed".into(),
        ));
    };
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

    let mut drawn = Drawn {
        w: &w,
        iterates: Vec::new(),
    };
    let inv = invert_observed(&f, &w_next, &batch, MAX_ITERATIONS, &mut drawn)?;
    let iterates = drawn.finish(&f, &batch, &inv)?;
    let termination = inv.termination;
    let recovered = inv.preimage() == Some(w.as_slice());

    let (certificate, enumerated) = certify(&f, &w_next, &batch, &w, DEFAULT_BUDGET)?;
    let preimages = enumerated.result.ok().map(|e| e.preimages);

    let mut shown: Vec<&[i64]> = vec![&w, &w_next];
    shown.extend(iterates.iter().map(|v| v.point.as_slice()));
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
        q_inf: setup.q_inf(),
        step_index,
        epoch: logged.epoch,
        step: logged.step,
        steps: traj.steps.len(),
        w,
        batch: examples,
        increment,
        w_next,
        iterates,
        termination,
        recovered,
        certificate,
        preimages,
        collisions,
    })
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
