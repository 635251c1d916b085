//! `rewind collisions`: the teaching picture of why finite-precision SGD is not one-to-one.

use super::run_args::RunArgs;
use rewind::collisions::scan;
use rewind::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use rewind::output::{check_paths, write_file};
use rewind::plot::collision_svg;
use rewind::sgd::BackendChoice;
use rewind::sgd::{run as run_sgd, NoObserver};
use std::path::PathBuf;
use std::process::ExitCode;

/// Defaults: least squares on 200 synthetic examples with two features and no bias, exact
/// backend, p = 8, q = 0.45, b = 20, 2 epochs.
fn collisions_defaults() -> VerifyConfig {
    VerifyConfig {
        data: DataSource::Synthetic {
            n: 200,
            features: 2,
            classes: 2,
        },
        model: ModelKind::LeastSquares,
        backend: BackendChoice::Exact,
        frac_bits: 8,
        step_size: StepSize::Q("0.45".into()),
        batch: 20,
        epochs: 2,
        bias: false,
        ..VerifyConfig::default()
    }
}

/// Flags of `rewind collisions`. Defaults: least squares on 200 synthetic examples with two
/// features and no bias, exact backend, p = 8, q = 0.45, b = 20, 2 epochs.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    run: RunArgs,
    /// Half-width of the scanned window in ulps (default: fit the trajectory, 30 to 150).
    #[arg(long)]
    half_width: Option<i64>,
    /// Where to write the SVG map.
    #[arg(long, default_value = "collisions.svg")]
    svg: PathBuf,
    #[command(flatten)]
    progress: super::progress::QuietArg,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = args.run.config(collisions_defaults())?;
    if let Some(p) = config.data.path() {
        check_paths(&[("the data set (--data)", p)], &[("--svg", &args.svg)])?;
    }
    // The picture wants the whole trajectory, not a run cut short at full accuracy.
    config.stop_at_full_accuracy = false;
    let setup = Setup::new(&config)?;
    let bar = super::progress::PhaseBar::new(args.progress.quiet);
    let f = setup.step_function().with_progress(&bar);
    let traj = run_sgd(&f, &setup.sgd_config(), setup.init.clone(), &mut NoObserver)?;
    let points: Vec<[i64; 2]> = traj
        .steps
        .iter()
        .map(|s| s.w.as_slice())
        .chain(std::iter::once(traj.final_model.as_slice()))
        .filter(|w| w.len() == 2)
        .map(|w| [w[0], w[1]])
        .collect();
    let Some(first) = traj.steps.first() else {
        anyhow::bail!(
            "the run made no step (it started at full accuracy); pick another --seed or data"
        );
    };
    let (center, auto_half) = fit(&points);
    let half = args.half_width.unwrap_or(auto_half);
    let map = scan(&f, &first.batch, center, half)?;
    bar.finish();
    let c = &setup.config;
    let title = format!(
        "{} on {}, p = {}, α = {}, b = {}",
        setup.model.name(),
        setup.data.source,
        c.frac_bits,
        setup.alpha,
        c.batch
    );
    write_file(
        &args.svg,
        collision_svg(
            &map.window(),
            map.merged_share,
            map.predicted,
            &points,
            &title,
        )
        .as_bytes(),
    )?;
    let predicted = map
        .predicted
        .map_or("not computed for this model".into(), |p| format!("{p:.4}"));
    let q_inf = map
        .q_inf
        .map_or("no certified bound".into(), |q| format!("{q:.4}"));
    let max_k = map.multiplicity.iter().copied().max().unwrap_or(0);
    super::print(&format!(
        "rewind collisions: {title}\n\
         window:          {side} × {side} points around ({cx}, {cy}), the step of batch 1 of epoch 1; q = α·L_B = {q:.4}, q_∞ = {q_inf}\n\
         many-to-one:     measured {m:.4} (points that are not the first preimage of their image, {n} inner points); predicted 1 − det(I − αH_B) = {predicted}\n\
         shared images:   {sh:.4} of points share their image with another point; at most {max_k} preimages per image\n\
         map written to {svg}\n",
        side = map.side(),
        cx = center[0],
        cy = center[1],
        q = setup.q(),
        m = map.merged_share,
        n = map.inner_points,
        sh = map.shared_share,
        svg = args.svg.display(),
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// The centre of the trajectory's bounding box and a half-width that shows it all.
fn fit(points: &[[i64; 2]]) -> ([i64; 2], i64) {
    let lo = |k: usize| points.iter().map(|p| p[k]).min().unwrap_or(0);
    let hi = |k: usize| points.iter().map(|p| p[k]).max().unwrap_or(0);
    let center = [(lo(0) + hi(0)) / 2, (lo(1) + hi(1)) / 2];
    let extent = (hi(0) - lo(0)).max(hi(1) - lo(1));
    (center, (extent / 2 + 5).clamp(30, 150))
}
