//! `rewind demo`: one step's inversion, iterate by iterate, for a person at a terminal.

use rewind::certify::Certificate;
use rewind::demo::{demo, demo_svg, raw, Demo, DemoConfig, Ending, BATCH, EPOCHS, EXAMPLES};
use rewind::output::write_file;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `rewind demo`. The model is least squares on 24 synthetic examples with two
/// features and no bias, exact gradients, b = 4, 2 epochs, on the grid 2^-p·ℤ; the demo picks
/// one step of that run that moves the model, inverts it by V ← W' + s_B(V) showing every
/// iterate, certifies all grid preimages of W' and draws the step over the collision map.
/// From --q 1 on, where Lemma 2.1's premise fails, it shows a step whose iteration fails
/// (diverges, cycles or hits the cap) when the run has one, and says so.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples (default --q 0.45 --frac-bits 5):\n  \
    rewind demo               a unique step: W is the only preimage of W'\n  \
    rewind demo --seed 7      a collision: W' has 2 preimages, the inverter finds W\n  \
    rewind demo --seed 14     a collision where the inverter lands on the other preimage\n  \
    rewind demo --seed 19     W' has 4 preimages\n  \
    rewind demo --q 1.5       q ≥ 1: the iteration fails (it diverges)")]
pub struct Args {
    /// Seed of the data, the initial model and the permutations; it also picks the step.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// q = α·L_B, above 0 and at most 4. Below 1 the iteration must contract (a larger q, more
    /// collisions); from 1 on it need not, and the demo shows a step where it fails if the run
    /// has one.
    #[arg(long, default_value = rewind::demo::DEFAULT_Q)]
    q: String,
    /// Fractional bits p of the grid 2^-p·ℤ, 2 to 8 (coarse, so that one ulp is visible).
    #[arg(long, default_value_t = rewind::demo::DEFAULT_FRAC_BITS)]
    frac_bits: u32,
    /// Where to write the SVG picture.
    #[arg(long, default_value = "demo.svg")]
    svg: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = DemoConfig {
        seed: args.seed,
        q: args.q.clone(),
        frac_bits: args.frac_bits,
    };
    let d = demo(&config)?;
    write_file(&args.svg, demo_svg(&d).as_bytes())?;
    super::print(&format!(
        "{}picture written to {}\n",
        report(&d),
        args.svg.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Iterates printed before a long walk is cut short.
const SHOWN_FIRST: usize = 12;
/// Iterates printed at the end of a long walk.
const SHOWN_LAST: usize = 3;

/// Text built a line at a time, each line ended by a newline.
#[derive(Default)]
struct Lines(String);

impl Lines {
    /// Appends `s` and a newline.
    fn line(&mut self, s: impl AsRef<str>) {
        self.0.push_str(s.as_ref());
        self.0.push('\n');
    }
}

/// The terminal report: model and grid, the step, the iterates, the verdict.
fn report(d: &Demo) -> String {
    [
        setting(d),
        the_step(d),
        inversion(d),
        certificate_and_verdict(d),
    ]
    .join("\n")
}

/// A point of the grid as real numbers, e.g. `(0.25, -1.5)`.
fn real(d: &Demo, v: &[i64]) -> String {
    let parts: Vec<String> = v.iter().map(|&k| format!("{}", d.real(k))).collect();
    format!("({})", parts.join(", "))
}

/// The report's opening lines: the model, the grid and the step size.
fn setting(d: &Demo) -> String {
    let p = d.config.frac_bits;
    let mut out = Lines::default();
    out.line("rewind demo: one SGD step inverted on a coarse grid (Lemma 2.1 / Theorem 2.2)");
    out.line(format!(
        "model:   least squares, 2 features, no bias, exact gradients; {EXAMPLES} synthetic examples (seed {}), b = {BATCH}, {EPOCHS} epochs",
        d.config.seed
    ));
    out.line(format!(
        "grid:    p = {p}, 1 ulp = 2^-{p} = {}; points are raw integers k meaning k·2^-{p}",
        d.ulp()
    ));
    out.line(format!(
        "α:       {} ≈ {:.6}, q = α·L_B = {:.4}{}",
        d.alpha,
        d.alpha.to_f64(),
        d.q,
        d.q_inf
            .map_or(String::new(), |q| format!(", q_∞ = α·L_∞ = {q:.4}"))
    ));
    out.0
}

/// The step shown: where it is in the run, W, the batch, the increment and W'.
fn the_step(d: &Demo) -> String {
    let real = |v: &[i64]| real(d, v);
    let mut out = Lines::default();
    out.line(format!(
        "the step: step {} of epoch {} (number {} of {} in the run, picked by --seed {}{})",
        d.step,
        d.epoch,
        d.step_index + 1,
        d.steps,
        d.config.seed,
        match d.failing_steps {
            Some(1) => ", the only step whose iteration fails".to_string(),
            Some(n) if n > 1 => format!(" among the {n} steps whose iteration fails"),
            _ => String::new(),
        }
    ));
    out.line(format!(
        "  W       = {:<12} = {:<22} the logged model before the step",
        raw(&d.w),
        real(&d.w)
    ));
    for (i, e) in d.batch.iter().enumerate() {
        out.line(format!(
            "  {:<9} example #{:<3} x = {:<22} y = {:+}",
            if i == 0 { "batch B =" } else { "" },
            e.index,
            real(&e.x),
            e.y
        ));
    }
    out.line(format!(
        "  s_B(W)  = {:<12} = {:<22} round(α·ĝ_B(W)·2^p), the increment",
        raw(&d.increment),
        real(&d.increment)
    ));
    out.line(format!(
        "  W'      = {:<12} = {:<22} W − s_B(W), the model after the step",
        raw(&d.w_next),
        real(&d.w_next)
    ));
    out.0
}

/// The inversion's iterates (a long walk cut short in the middle) and how it ended.
fn inversion(d: &Demo) -> String {
    let mut out = Lines::default();
    out.line("inversion: V0 = W', V(t+1) = W' + s_B(V(t)); distance = ‖V − W‖∞ in ulps");
    let last = d.iterates.len().saturating_sub(1);
    for (t, v) in d.iterates.iter().enumerate() {
        // A long walk shows its start and its end; the picture and the verdict say the rest.
        if t == SHOWN_FIRST && last >= SHOWN_FIRST + SHOWN_LAST {
            out.line(format!(
                "  … {} more iterates …",
                last + 1 - SHOWN_FIRST - SHOWN_LAST
            ));
        }
        if t >= SHOWN_FIRST && t + SHOWN_LAST <= last {
            continue;
        }
        let note = if t == last {
            match d.ending {
                Ending::FixedPoint => "  fixed point: V − s_B(V) = W'",
                Ending::Cycle { .. } => "  repeats an earlier iterate: a cycle",
                Ending::Diverges { .. } => "  beyond 2^20 ulps: the iteration runs away",
                Ending::Cap => "  the iteration cap",
            }
        } else {
            ""
        };
        out.line(format!(
            "  V{t:<3} = {:<12} s_B(V{t}) = {:<12} distance to W: {} ulp{}{note}",
            raw(&v.point),
            raw(&v.increment),
            v.distance,
            if v.distance == 1 { "" } else { "s" }
        ));
    }
    out.line(format!(
        "  → {}",
        match d.ending {
            Ending::FixedPoint if d.recovered =>
                "the fixed point is W: the step was inverted bit for bit".to_string(),
            Ending::FixedPoint =>
                "the fixed point is a preimage of W', but not W: the logged model needs a hint"
                    .to_string(),
            Ending::Cycle { period } =>
                format!("no fixed point: the iterates cycle with length {period}"),
            Ending::Diverges { iterations, .. } => format!(
                "no fixed point: the iterates run away (V{iterations} is over 2^20 ulps from W)"
            ),
            Ending::Cap => "no fixed point within the iteration cap".to_string(),
        }
    ));
    if let Some(note) = d.contraction() {
        out.line(format!("  → {note}"));
    }
    out.0
}

/// The certificate of W's preimages and the verdict.
fn certificate_and_verdict(d: &Demo) -> String {
    let mut out = Lines::default();
    let certificate = match &d.certificate {
        Certificate::Unique => "certificate: Unique (all grid preimages enumerated)".to_string(),
        Certificate::Ambiguous {
            preimages,
            index_of_logged,
        } => format!(
            "certificate: Ambiguous, {preimages} preimages; W is number {} of {preimages} in lexicographic order, so naming it costs a hint of {} bit(s)",
            index_of_logged + 1,
            d.certificate.optimal_hint_bits()
        ),
        Certificate::Unknown(_) => "certificate: Unknown".to_string(),
    };
    out.line(certificate);
    out.line(format!("verdict: {}", d.verdict()));
    out.0
}
