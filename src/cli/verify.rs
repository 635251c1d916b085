//! `rewind verify`: run, invert, reconstruct and report.

use super::run_args::{CertifyArgs, RunArgs, VERIFY};
use anyhow::Context;
use rewind::model::Model;
use rewind::report::{DataDump, TrajectoryHeader, TrajectoryWriter, VerifyReport};
use rewind::sgd::{NoObserver, Observer};
use rewind::verify::{verify, Setup, VerifyConfig};
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `rewind verify`. Defaults: logistic regression on the bundled digits (3 vs 8),
/// b = 20, q = 0.1, p = 32, 3 epochs, MPFR at 128 bits.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    certify: CertifyArgs,
    /// Skip the entropy-compression code (encode and decode).
    #[arg(long)]
    no_code: bool,
    /// Print the JSON report instead of the summary.
    #[arg(long)]
    json: bool,
    /// Also write the JSON report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Stream the trajectory as JSON lines to this file.
    #[arg(long)]
    dump_trajectory: Option<PathBuf>,
    /// Write the quantised data set as the model sees it to this file (JSON).
    #[arg(long)]
    dump_data: Option<PathBuf>,
}

impl Args {
    fn config(&self) -> anyhow::Result<VerifyConfig> {
        let mut c = self.run.config(&VERIFY)?;
        c.certify = self.certify.budget();
        c.code = !self.no_code;
        Ok(c)
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let setup = Setup::new(&args.config()?)?;
    if let Some(path) = &args.dump_data {
        write_data(&setup, path)?;
    }
    let (report, _) = match &args.dump_trajectory {
        Some(path) => {
            let file = File::create(path).with_context(|| {
                format!(
                    "cannot create {}; check that its directory exists and is writable",
                    path.display()
                )
            })?;
            let mut w = TrajectoryWriter::new(
                BufWriter::new(file),
                &path.display().to_string(),
                &header(&setup),
            )?;
            verify(&setup, &mut w as &mut dyn Observer)?
        }
        None => verify(&setup, &mut NoObserver)?,
    };
    let json = serde_json::to_string_pretty(&report)? + "\n";
    if let Some(path) = &args.out {
        std::fs::write(path, &json).with_context(|| {
            format!(
                "cannot write {}; check that its directory exists and is writable",
                path.display()
            )
        })?;
    }
    if args.json {
        print!("{json}");
    } else {
        print!("{}", summary(&report));
    }
    Ok(
        if report
            .reconstruction
            .as_ref()
            .is_some_and(|r| r.initial_model_bit_exact && r.all_models_bit_exact)
        {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(3)
        },
    )
}

fn header(s: &Setup) -> TrajectoryHeader {
    TrajectoryHeader {
        format: 1,
        p: s.data.grid.frac_bits(),
        alpha_num: s.alpha.num(),
        alpha_den: 1u64 << s.alpha.shift(),
        model: s.model.name().into(),
        backend: s.config.backend.name().into(),
        n: s.data.n(),
        d: s.model.dim(),
        features: s.data.d(),
        batch: s.config.batch,
    }
}

fn write_data(s: &Setup, path: &PathBuf) -> anyhow::Result<()> {
    let dump = DataDump {
        format: 1,
        frac_bits: s.data.grid.frac_bits(),
        n: s.data.n(),
        d: s.data.d(),
        features: s.data.features.clone(),
        labels: s
            .data
            .labels
            .iter()
            .map(|&c| s.model.loss_label(c))
            .collect(),
    };
    let file = File::create(path).with_context(|| {
        format!(
            "cannot create {}; check that its directory exists and is writable",
            path.display()
        )
    })?;
    serde_json::to_writer(BufWriter::new(file), &dump)?;
    Ok(())
}

/// The human-readable summary.
pub fn summary(r: &VerifyReport) -> String {
    let c = &r.config;
    // `rewind verify` always runs the inversion phase; only sweeps switch it off.
    let (Some(inv), Some(hints), Some(rec)) = (&r.inversion, &r.hints, &r.reconstruction) else {
        return format!(
            "rewind verify: {} steps; the inversion phase was off\n",
            r.steps
        );
    };
    let backend = match c.mpfr_precision {
        Some(p) => format!("mpfr-{p}"),
        None => c.backend.clone(),
    };
    let predicted = inv.predicted_many_to_one.map_or(
        "not computed (no closed-form Hessian, or d > 1024)".to_string(),
        |p| format!("{p:.4}"),
    );
    let certification = r.certification.as_ref().map_or(String::new(), |c| {
        format!(
            "certification:   unique {}, ambiguous {} (at most {} preimages), unknown {}; optimal hint bits {}; {:.2} free coordinates per step on average; {} gradient evaluations\n",
            c.unique, c.ambiguous, c.max_preimages, c.unknown, c.optimal_hint_bits, c.mean_free_coordinates, c.gradient_evaluations
        )
    });
    let code = r.code.as_ref().map_or(String::new(), code_summary);
    let last = r.discrepancy.epochs.last();
    let discrepancy = format!(
        "discrepancy:     running average ρ (code direction) {:.4}, (paper) {:.4}; β(n,b) leading term n·log₂n/b² = {:.3}, this code's threshold (3 + log₂n)/b = {:.3}\n",
        last.map_or(0.0, |e| e.running_rho_code),
        last.map_or(0.0, |e| e.running_rho_paper),
        r.discrepancy.beta_leading,
        r.discrepancy.beta_code,
    );
    format!(
        "rewind verify: {model} on {data}, classes {classes:?}, n = {n} (of {nl}), b = {b}, {ep} epochs, seed {seed}\n\
         grid:            p = {p}, backend {backend}, α = {alpha} (α·L_B = {q:.4}, {cert})\n\
         run:             {steps} steps over {er} epochs, accuracy {a0:.3} → {a1:.3}{stop}\n\
         inversion:       recovered {rec}, other preimage {oth}, no preimage {nop} ({cyc} cycles, {cap} capped); mean {it:.2} iterations per step, {ge} gradient evaluations in all ({own} own backend, {pred} f64 predictor)\n\
         many-to-one:     {obs:.4} of steps needed a hint (observed); 1 − det(I − αH_B) = {predicted} (predicted)\n\
         hints:           {hs} steps, {hb} bits\n\
         {certification}\
         {discrepancy}\
         {code}\
         initial_model_bit_exact: {ie}\n\
         all_models_bit_exact:    {ae}\n\
         final model sha256: {sha}\n",
        model = c.model,
        data = c.data,
        classes = c.classes,
        n = c.n,
        nl = c.n_loaded,
        b = c.batch,
        ep = c.epochs,
        seed = c.seed,
        p = c.frac_bits,
        alpha = c.alpha,
        q = c.q,
        cert = if c.smoothness.certified { "certified bound" } else { "estimated L, not a certificate" },
        steps = r.steps,
        er = r.run.epochs_run,
        a0 = r.run.initial_accuracy,
        a1 = r.run.final_accuracy,
        stop = if r.run.stopped_at_full_accuracy { ", stopped at full accuracy" } else { "" },
        rec = inv.recovered,
        oth = inv.other_preimage,
        nop = inv.no_preimage,
        cyc = inv.cycles,
        cap = inv.caps,
        it = inv.mean_iterations,
        ge = inv.gradient_evaluations,
        own = inv.own_backend_evaluations,
        pred = inv.predictor_evaluations,
        obs = inv.observed_many_to_one,
        hs = hints.steps,
        hb = hints.bits,
        ie = rec.initial_model_bit_exact,
        ae = rec.all_models_bit_exact,
        sha = rec.final_model_sha256,
    )
}

fn code_summary(c: &rewind::report::CodeReport) -> String {
    let mut out = format!(
        "code:            roundtrip_bit_exact: {}; {} bits in all against {} (epochs × ⌈log₂ n!⌉){}\n",
        c.roundtrip_bit_exact,
        c.total_bits,
        c.baseline_total_bits,
        if c.certified_hints { ", hints as certified preimage indices" } else { "" },
    );
    for e in &c.epochs {
        out += &format!(
            "  epoch {:>3}:     {} bits vs {}: saving {} (discrepancy {}, hints {} bits), tilt {}, b·ρ_code {:.2}, b·ρ_paper {:.2}\n",
            e.epoch, e.bits, e.baseline_bits, e.saving_bits, e.discrepancy_saving_bits, e.hint_bits, e.tilt, e.b_rho_code, e.b_rho_paper
        );
    }
    out
}
