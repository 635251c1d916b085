//! `rewind encode`: run SGD, then write the run's randomness as a code file beside its final
//! model.

use super::run_args::{CertifyArgs, RunArgs, VERIFY};
use anyhow::Context;
use rewind::encode::encode_run_with_progress;
use rewind::verify::Setup;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `rewind encode` (the run flags have `verify`'s defaults).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    certify: CertifyArgs,
    /// Where to write the code file.
    #[arg(long, default_value = "run.rwc")]
    code: PathBuf,
    /// Where to write the final model (JSON).
    #[arg(long = "final", default_value = "final.json")]
    final_model: PathBuf,
    #[command(flatten)]
    progress: super::progress::QuietArg,
}

/// The final model file: `{"format": 1, "final": [raw integers]}`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct FinalModel {
    pub format: u32,
    pub frac_bits: u32,
    #[serde(rename = "final")]
    pub weights: Vec<i64>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = args.run.config(&VERIFY)?;
    config.certify = args.certify.budget();
    let setup = Setup::new(&config)?;
    let bar = super::progress::PhaseBar::new(args.progress.quiet);
    let enc = encode_run_with_progress(&setup, &bar)?;
    bar.finish();
    let fix = "check that its directory exists and is writable";
    std::fs::write(&args.code, &enc.bytes)
        .with_context(|| format!("cannot write {}; {fix}", args.code.display()))?;
    let model = FinalModel {
        format: 1,
        frac_bits: setup.data.grid.frac_bits(),
        weights: enc.trajectory.final_model.clone(),
    };
    std::fs::write(&args.final_model, serde_json::to_vec(&model)?)
        .with_context(|| format!("cannot write {}; {fix}", args.final_model.display()))?;
    let e = &enc.encoded;
    let baseline: u64 = e.epochs.iter().map(|x| x.baseline_bits).sum();
    println!(
        "rewind encode: {} on {}, {} steps over {} epochs",
        enc.header.model, setup.data.source, enc.header.steps, enc.header.epochs
    );
    println!(
        "code:          {} bits against {} (epochs × ⌈log₂ n!⌉); run header {} bits",
        e.code.bits, baseline, e.run_header_bits
    );
    for x in &e.epochs {
        println!(
            "  epoch {:>3}:   {} bits vs {} (hints {} bits, tilt {}/{})",
            x.epoch, x.bits, x.baseline_bits, x.hint_bits, x.tilt.0, x.tilt.1
        );
    }
    println!(
        "wrote {} ({} bytes) and {}",
        args.code.display(),
        enc.bytes.len(),
        args.final_model.display()
    );
    Ok(ExitCode::SUCCESS)
}
