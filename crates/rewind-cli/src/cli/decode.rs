//! `rewind decode`: every permutation, batch and model of a run, W₁,₁ included, from the code
//! file, the final model and the data set alone.

use super::encode::FinalModel;
use super::run_args::{verify_defaults, DataArgs};
use rewind::log::TrajectoryWriter;
use rewind::output::{check_paths, Output};
use rewind::pipeline::run::decode;
use rewind::report::model_sha256;
use rewind::sgd::{LoggedStep, Observer};
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `rewind decode`: the data flags must match those used when encoding.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The code file written by `rewind encode`.
    code: PathBuf,
    /// The final model written by `rewind encode`.
    #[arg(long = "final", default_value = "final.json")]
    final_model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Write the decoded trajectory as JSON lines (the `--dump-trajectory` format).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    progress: super::progress::QuietArg,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = args.data.config(verify_defaults());
    let mut inputs = vec![
        ("the code file", args.code.as_path()),
        ("the final model (--final)", args.final_model.as_path()),
    ];
    if let Some(p) = config.data.path() {
        inputs.push(("the data set (--data)", p));
    }
    if let Some(out) = &args.out {
        check_paths(&inputs, &[("--out", out.as_path())])?;
    }
    let out = args.out.as_deref().map(Output::create).transpose()?;
    let bytes = super::read_input(
        &args.code,
        rewind::input::MAX_CODE_BYTES,
        "the code file written by `rewind encode`",
    )?;
    let text = super::read_input(
        &args.final_model,
        rewind::input::MAX_CODE_BYTES,
        "the final model written by `rewind encode`",
    )?;
    let model: FinalModel = serde_json::from_slice(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a final model file ({e}); pass the final model written by `rewind encode`",
            args.final_model.display()
        )
    })?;
    if model.format != 1 {
        anyhow::bail!(
            "final model format {} is not supported (this rewind reads format 1); re-encode with this version",
            model.format
        );
    }
    let bar = super::progress::PhaseBar::new(args.progress.quiet);
    let run = decode(&bytes, &model.weights, &config, &bar)?;
    bar.finish();
    if let Some(out) = out {
        write_trajectory(&run, &model.weights, out)?;
    }
    let h = &run.header;
    let what = match &h.sgd_prime {
        Some(s) => format!(
            "SGD′ GD calls (with their z and {} inner steps)",
            s.inner_steps
        ),
        None => "steps".into(),
    };
    super::print(&format!(
        "rewind decode: {} epochs, {} {what} decoded from {} ({} bytes) and {}\n\
         initial model sha256: {}\n\
         every decoded step replays forward to the final model bit for bit\n",
        h.epochs,
        h.steps,
        args.code.display(),
        bytes.len(),
        args.final_model.display(),
        model_sha256(run.initial_model())
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn write_trajectory(
    run: &rewind::encode::DecodedRun,
    final_model: &[i64],
    out: Output,
) -> anyhow::Result<()> {
    let h = &run.header;
    let path = out.path().display().to_string();
    let header = rewind::log::header(&run.setup, None);
    let mut w = TrajectoryWriter::new(out, &path, &header)?;
    let per_epoch = h.n / h.batch;
    for (k, (model, batch)) in run
        .decoded
        .models
        .iter()
        .zip(&run.decoded.batches)
        .enumerate()
    {
        w.on_step(&LoggedStep {
            epoch: k / per_epoch + 1,
            step: k % per_epoch + 1,
            batch: batch.clone(),
            w: model.clone(),
        })?;
    }
    w.on_final(final_model)?;
    w.into_inner().commit()?;
    Ok(())
}
