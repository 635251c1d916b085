//! The teaching demo of `rewind demo`: Lemma 2.1 / Theorem 2.2 on a grid you can see.
//!
//! One SGD step of a two-parameter model (least squares on two synthetic features, no bias,
//! exact gradients) on a coarse grid 2^-p·ℤ, small enough that one ulp is visible, is inverted
//! in the open: from V₀ = W' the contraction iteration V ← W' + s_B(V) runs through
//! [`StepFunction::increment`] exactly as [`crate::invert::invert`] does, but keeps every
//! iterate and its ∞-distance to the logged model W. Its end point is checked against
//! [`invert`]'s, and [`certify`] then proves what the iteration alone cannot: whether W is the
//! only grid preimage of W' (Lemma 2.1 over ℝ) or one of several (the grid's many-to-one steps,
//! docs/design.md §3). [`demo_svg`] draws it all over the collision map of
//! [`crate::collisions::scan`].

use crate::certify::{certify, Certificate, UnknownReason, DEFAULT_BUDGET};
use crate::collisions::{scan, CollisionMap};
use crate::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use crate::grid::{checked_add, Dyadic};
use crate::invert::{invert, Termination};
use crate::sgd::{run, BackendChoice, NoObserver, StepFunction};
use crate::Error;
use std::collections::HashMap;
use std::fmt::Write;

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
        return Err(Error::Config(format!(
            "the step recomputed from W does not reproduce the run's next model at step {}; this is a bug",
            step_index + 1
        )));
    }

    let (iterates, termination, iterations) = iterate(&f, &w_next, &batch, &w)?;
    // The demo's own loop must end where the library's inverter ends.
    let inv = invert(&f, &w_next, &batch, MAX_ITERATIONS)?;
    let last = iterates.last().map(|v| v.point.as_slice());
    if last != Some(inv.point.as_slice())
        || inv.termination != termination
        || inv.iterations != iterations
    {
        return Err(Error::Config(format!(
            "the demo's iteration ended at {} ({termination:?}) but invert ended at {} ({:?}); this is a bug",
            last.map_or("nothing".into(), raw),
            raw(&inv.point),
            inv.termination
        )));
    }
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

/// V₀ = W', V_{t+1} = W' + s_B(V_t), stopping as [`invert`] does: at a fixed point (checked as a
/// forward step), at a repeated iterate (a cycle) or at the cap. Returns the iterates, the
/// termination and the number of gradient evaluations of the loop (`invert`'s `iterations`).
fn iterate(
    f: &StepFunction,
    w_next: &[i64],
    batch: &[usize],
    w: &[i64],
) -> Result<(Vec<Iterate>, Termination, u32), Error> {
    let mut iterates: Vec<Iterate> = Vec::new();
    let mut seen: HashMap<Vec<i64>, u32> = HashMap::new();
    let mut v = w_next.to_vec();
    for it in 0..MAX_ITERATIONS {
        let s = f.increment(&v, batch)?;
        let fixed = StepFunction::apply(&v, &s)? == w_next;
        let next = if fixed {
            None
        } else {
            Some(checked_add(w_next, &s, "an inversion iterate")?)
        };
        iterates.push(Iterate {
            distance: distance(&v, w),
            point: v.clone(),
            increment: s,
        });
        let Some(next) = next else {
            return Ok((iterates, Termination::FixedPoint, it + 1));
        };
        seen.insert(std::mem::replace(&mut v, next), it);
        if let Some(&first) = seen.get(&v) {
            // The repeat is drawn once more; its increment is the earlier one's.
            let increment = iterates[first as usize].increment.clone();
            iterates.push(Iterate {
                distance: distance(&v, w),
                point: v,
                increment,
            });
            let length = it + 1 - first;
            return Ok((iterates, Termination::Cycle { length }, it + 1));
        }
    }
    let increment = f.increment(&v, batch)?;
    iterates.push(Iterate {
        distance: distance(&v, w),
        point: v,
        increment,
    });
    Ok((iterates, Termination::Cap, MAX_ITERATIONS))
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

const STEP_COLOUR: &str = "#2a9d8f";
const ITERATE_COLOUR: &str = "#1d3557";
const OTHER_COLOUR: &str = "#7b2cbf";

/// The demo as an SVG: the grid window coloured by collisions, the step W → W' as an arrow,
/// the iterates as numbered points joined by a path, every other preimage highlighted, a
/// legend, and the certificate in the title.
pub fn demo_svg(d: &Demo) -> String {
    let map = &d.collisions;
    let side = map.side();
    let cell = (560.0 / side as f64).clamp(2.0, 40.0);
    let plot = cell * side as f64;
    let (left, top) = (40.0, 96.0);
    let legend_w = 340.0;
    let width = (left + plot + legend_w).max(760.0);
    let height = (top + plot + 60.0).max(top + 330.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        s,
        r#"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{STEP_COLOUR}"/></marker></defs>"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="28" font-size="18" font-weight="bold">One SGD step inverted on the grid: {}</text>"#,
        escape(&d.headline())
    );
    let p = d.config.frac_bits;
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="52" font-size="13">least squares, 2 features, exact; p = {p} (1 ulp = 2^-{p}), α = {}, q = α·L_B = {:.3}; step {} of epoch {}, seed {}</text>"#,
        d.alpha, d.q, d.step, d.epoch, d.config.seed
    );
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="72" font-size="13">{}</text>"#,
        escape(&format!(
            "W = {}, s_B(W) = {}, W′ = {}; V ← W′ + s_B(V) from V₀ = W′ found {}",
            raw(&d.w),
            raw(&d.increment),
            raw(&d.w_next),
            d.found()
        ))
    );

    // Background: every point coloured by how many window points share its image.
    crate::plot::collision_background(&mut s, &map.window(), (left, top), cell, "collisions");
    // The grid itself: one dot per point while the points are far enough apart to see.
    if cell >= 8.0 {
        let _ = writeln!(s, r##"<g id="grid" fill="#8d99ae">"##);
        for i in 0..side * side {
            let (x, y) = (i % side, i / side);
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="1.2"/>"#,
                left + (x as f64 + 0.5) * cell,
                top + (side as f64 - 0.5 - y as f64) * cell
            );
        }
        let _ = writeln!(s, "</g>");
    }

    let inside = |p: &[i64]| {
        (p[0] - map.center[0]).abs() <= map.half && (p[1] - map.center[1]).abs() <= map.half
    };
    let to_px = |p: &[i64]| {
        let x = (p[0] - map.center[0] + map.half) as f64;
        let y = (p[1] - map.center[1] + map.half) as f64;
        (
            left + (x + 0.5) * cell,
            top + (side as f64 - 0.5 - y) * cell,
        )
    };
    let r = (cell * 0.3).clamp(3.0, 7.0);

    // Other preimages: a thick ring; a single one is labelled on the side away from W (more
    // would crowd each other, and the legend lists them).
    let others = d.other_preimages();
    for p in others.iter().filter(|p| inside(p)) {
        let (x, y) = to_px(p);
        let (tx, anchor) = if p[0] > d.w[0] {
            (x + r + 8.0, "start")
        } else {
            (x - r - 8.0, "end")
        };
        let _ = writeln!(
            s,
            r#"<circle class="other-preimage" cx="{x:.1}" cy="{y:.1}" r="{:.1}" fill="none" stroke="{OTHER_COLOUR}" stroke-width="3"/>"#,
            r + 4.0
        );
        if others.len() == 1 {
            let _ = writeln!(
                s,
                r#"<text x="{tx:.1}" y="{:.1}" font-size="12" fill="{OTHER_COLOUR}" font-weight="bold" text-anchor="{anchor}">other preimage</text>"#,
                y + 8.0
            );
        }
    }

    // The step W → W'.
    if inside(&d.w) && inside(&d.w_next) && d.w != d.w_next {
        let (x0, y0) = to_px(&d.w);
        let (x1, y1) = to_px(&d.w_next);
        let len = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt();
        let cut = (r + 2.0).min(len / 2.0);
        let (ux, uy) = ((x1 - x0) / len, (y1 - y0) / len);
        let _ = writeln!(
            s,
            r#"<line id="step" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{STEP_COLOUR}" stroke-width="3" marker-end="url(#arrow)"/>"#,
            x0 + ux * cut,
            y0 + uy * cut,
            x1 - ux * cut,
            y1 - uy * cut
        );
    }

    // The iterates: a path V₀ → V₁ → … and numbered points.
    let pts: Vec<(f64, f64)> = d
        .iterates
        .iter()
        .filter(|v| inside(&v.point))
        .map(|v| to_px(&v.point))
        .collect();
    if pts.len() > 1 {
        let list: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = writeln!(
            s,
            r#"<polyline id="iterates" points="{}" fill="none" stroke="{ITERATE_COLOUR}" stroke-width="1.8" stroke-dasharray="6 3"/>"#,
            list.join(" ")
        );
    }
    // A point visited twice (a cycle) is labelled once, with both numbers.
    let mut labels: Vec<(Vec<i64>, Vec<usize>)> = Vec::new();
    for (t, v) in d.iterates.iter().enumerate() {
        match labels.iter_mut().find(|(p, _)| *p == v.point) {
            Some((_, ts)) => ts.push(t),
            None => labels.push((v.point.clone(), vec![t])),
        }
    }
    for (point, ts) in labels.iter().filter(|(p, _)| inside(p)) {
        let (x, y) = to_px(point);
        let mut names: Vec<String> = ts.iter().map(|t| format!("V{t}")).collect();
        if *point == d.w_next {
            names.insert(0, "W′".into());
        }
        let _ = writeln!(
            s,
            r#"<circle class="iterate" cx="{x:.1}" cy="{y:.1}" r="{r:.1}" fill="{ITERATE_COLOUR}"/><text x="{:.1}" y="{:.1}" font-size="12" fill="{ITERATE_COLOUR}" font-weight="bold">{}</text>"#,
            x + r + 5.0,
            y - r - 4.0,
            names.join(" = ")
        );
    }
    // W: a square, labelled below unless another preimage sits right below it.
    if inside(&d.w) {
        let (x, y) = to_px(&d.w);
        let below_taken = d
            .other_preimages()
            .iter()
            .any(|p| p[0] == d.w[0] && p[1] == d.w[1] - 1);
        let (tx, ty, anchor) = if below_taken {
            (x - r - 6.0, y - r - 4.0, "end")
        } else {
            (x, y + r + 18.0, "middle")
        };
        let _ = writeln!(
            s,
            r#"<rect id="w" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="black" stroke-width="2.5"/><text x="{tx:.1}" y="{ty:.1}" font-size="13" font-weight="bold" text-anchor="{anchor}">W</text>"#,
            x - r - 3.0,
            y - r - 3.0,
            2.0 * r + 6.0,
            2.0 * r + 6.0,
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{left}" y="{top}" width="{plot:.1}" height="{plot:.1}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="{:.0}" font-size="12">axes in ulps (raw grid integers; 1 ulp = 2^-{p}): w₁ from {} to {} (rightwards), w₂ from {} to {} (upwards)</text>"#,
        top + plot + 20.0,
        map.center[0] - map.half,
        map.center[0] + map.half,
        map.center[1] - map.half,
        map.center[1] + map.half
    );

    // Legend.
    let lx = left + plot + 24.0;
    let _ = writeln!(s, r#"<g id="legend">"#);
    let _ = writeln!(
        s,
        r#"<text x="{lx:.0}" y="{:.0}" font-size="13" font-weight="bold">legend</text>"#,
        top + 4.0
    );
    let mut y = top + 18.0;
    let swatch = [
        (1, "image has no other preimage here"),
        (2, "image shared by 2 points"),
        (3, "image shared by 3 points"),
        (4, "image shared by 4 or more"),
    ];
    for (k, text) in swatch {
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.0}" y="{y:.0}" width="14" height="14" fill="{}" stroke="black" stroke-width="0.5"/><text x="{:.0}" y="{:.0}" font-size="12">{text}</text>"#,
            crate::plot::colour(k),
            lx + 22.0,
            y + 12.0
        );
        y += 22.0;
    }
    y += 6.0;
    let _ = writeln!(
        s,
        r#"<rect x="{:.0}" y="{y:.0}" width="14" height="14" fill="none" stroke="black" stroke-width="2.5"/><text x="{:.0}" y="{:.0}" font-size="12">W, the logged model before the step</text>"#,
        lx,
        lx + 22.0,
        y + 12.0
    );
    y += 22.0;
    let _ = writeln!(
        s,
        r#"<line x1="{lx:.0}" y1="{:.0}" x2="{:.0}" y2="{:.0}" stroke="{STEP_COLOUR}" stroke-width="3" marker-end="url(#arrow)"/><text x="{:.0}" y="{:.0}" font-size="12">the step W → W′ = W − s_B(W)</text>"#,
        y + 7.0,
        lx + 16.0,
        y + 7.0,
        lx + 22.0,
        y + 12.0
    );
    y += 22.0;
    let _ = writeln!(
        s,
        r#"<line x1="{lx:.0}" y1="{:.0}" x2="{:.0}" y2="{:.0}" stroke="{ITERATE_COLOUR}" stroke-width="1.8" stroke-dasharray="6 3"/><circle cx="{:.0}" cy="{:.0}" r="4" fill="{ITERATE_COLOUR}"/><text x="{:.0}" y="{:.0}" font-size="12">iterates V₀ = W′, V₁, … of V ← W′ + s_B(V)</text>"#,
        y + 7.0,
        lx + 16.0,
        y + 7.0,
        lx + 8.0,
        y + 7.0,
        lx + 22.0,
        y + 12.0
    );
    y += 22.0;
    let _ = writeln!(
        s,
        r#"<circle cx="{:.0}" cy="{:.0}" r="7" fill="none" stroke="{OTHER_COLOUR}" stroke-width="3"/><text x="{:.0}" y="{:.0}" font-size="12">another preimage of W′ (collision)</text>"#,
        lx + 7.0,
        y + 7.0,
        lx + 22.0,
        y + 12.0
    );
    y += 34.0;
    let certificate = match &d.certificate {
        Certificate::Unique => "certificate: unique preimage".to_string(),
        Certificate::Ambiguous {
            preimages,
            index_of_logged,
        } => format!(
            "certificate: {preimages} preimages, W is no. {} of {preimages}",
            index_of_logged + 1
        ),
        Certificate::Unknown(reason) => format!("certificate: unknown ({})", why(reason)),
    };
    let notes = [
        certificate,
        format!("preimages: {}", preimage_list(d)),
        format!(
            "collision share here: {:.3} measured,",
            d.collisions.merged_share
        ),
        format!(
            "{} predicted (1 − det(I − αH_B))",
            d.collisions
                .predicted
                .map_or("not".to_string(), |p| format!("{p:.3}"))
        ),
    ];
    for line in notes {
        let _ = writeln!(
            s,
            r#"<text x="{lx:.0}" y="{y:.0}" font-size="12">{}</text>"#,
            escape(&line)
        );
        y += 18.0;
    }
    let _ = writeln!(s, "</g>");
    s.push_str("</svg>\n");
    s
}

fn preimage_list(d: &Demo) -> String {
    match &d.preimages {
        Some(list) => list.iter().map(|p| raw(p)).collect::<Vec<_>>().join(", "),
        None => "not certified".into(),
    }
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
