//! `rewind encode`: run SGD, then write the run's randomness as a code file beside its final
//! model.

use super::run_args::{verify_defaults, CertifyArgs, RunArgs};
use rewind::config::Setup;
use rewind::output::{check_paths, commit_together, Output};
use rewind::pipeline::encode::EncodedRun;
use rewind::pipeline::run::{Algorithm, Run};
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `rewind encode` (the run flags have `verify`'s defaults).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    certify: CertifyArgs,
    #[command(flatten)]
    section4: super::section4::Section4Args,
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
    let mut config = args.run.config(verify_defaults())?;
    config.certify = args.certify.budget();
    let sgd_prime = args.section4.config()?;
    let given = [
        args.run.given(),
        args.certify.given(),
        args.section4.given(),
    ]
    .concat();
    rewind::config::check_applicable(&config, sgd_prime.is_some(), &given)?;
    let data: Vec<_> = config
        .data
        .path()
        .map(|p| ("the data set (--data)", p))
        .into_iter()
        .collect();
    check_paths(
        &data,
        &[
            ("--code", args.code.as_path()),
            ("--final", args.final_model.as_path()),
        ],
    )?;
    let (mut code_out, mut model_out) = (
        Output::create(&args.code)?,
        Output::create(&args.final_model)?,
    );
    let setup = Setup::new(&config)?;
    for w in &setup.warnings {
        super::warn(w);
    }
    let bar = super::progress::PhaseBar::new(args.progress.quiet);
    let algorithm = match &sgd_prime {
        Some(p) => Algorithm::SgdPrime(p.clone()),
        None => Algorithm::Sgd,
    };
    let enc = Run::new(&setup)
        .algorithm(algorithm)
        .progress(&bar)
        .encode()?;
    bar.finish();
    let model = FinalModel {
        format: 1,
        frac_bits: setup.data.grid.frac_bits(),
        weights: enc.trajectory.final_model.clone(),
    };
    code_out.put(&enc.bytes)?;
    model_out.put(&serde_json::to_vec(&model)?)?;
    // The code is useless without its final model: both files appear, or neither.
    commit_together(vec![code_out, model_out])?;
    super::print(&summary(&enc, &setup.data.source, &args))?;
    Ok(ExitCode::SUCCESS)
}

/// What `rewind encode` prints: the code's length against the baseline, epoch by epoch, and
/// the files written.
fn summary(enc: &EncodedRun, source: &str, args: &Args) -> String {
    let e = &enc.encoded;
    let baseline: u64 = e.epochs.iter().map(|x| x.baseline_bits).sum();
    let what = match &enc.header.sgd_prime {
        Some(s) => format!(
            "SGD′ with {} GD calls ({} inner steps)",
            enc.header.steps, s.inner_steps
        ),
        None => format!("{} steps", enc.header.steps),
    };
    let mut text = format!(
        "rewind encode: {} on {}, {what} over {} epochs\n\
         code:          {} bits against {} (epochs × ⌈log₂ n!⌉); run header {} bits\n",
        enc.header.model, source, enc.header.epochs, e.code.bits, baseline, e.run_header_bits
    );
    for x in &e.epochs {
        let gd = if enc.header.sgd_prime.is_some() {
            format!(
                ", T_ij {} bits, perturbations {} bits",
                x.gd_steps_bits, x.perturbation_bits
            )
        } else {
            String::new()
        };
        text += &format!(
            "  epoch {:>3}:   {} bits vs {} (hints {} bits{gd}, tilt {}/{})\n",
            x.epoch, x.bits, x.baseline_bits, x.hint_bits, x.tilt.0, x.tilt.1
        );
    }
    text += &format!(
        "wrote {} ({} bytes) and {}\n",
        args.code.display(),
        enc.bytes.len(),
        args.final_model.display()
    );
    text
}
