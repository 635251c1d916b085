//! `rewind verify`: run, invert, reconstruct and report.

use super::run_args::{verify_defaults, CertifyArgs, RunArgs};
use rewind::config::{Setup, VerifyConfig};
use rewind::log::TrajectoryWriter;
use rewind::momentum::MomentumConfig;
use rewind::output::{check_paths, commit_together, Output};
use rewind::pipeline::run::{Algorithm, Run};
use rewind::report::{DataDump, VerifyReport};
use rewind::verify::steps_csv;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Flags of `rewind verify`. Defaults: logistic regression on the bundled digits (3 vs 8),
/// b = 20, q = 0.1, p = 32, 3 epochs, the f64 backend.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    certify: CertifyArgs,
    #[command(flatten)]
    section4: super::section4::Section4Args,
    #[command(flatten)]
    momentum: super::momentum::MomentumArgs,
    /// Skip the entropy-compression code (encode and decode).
    #[arg(long)]
    no_code: bool,
    /// Print the JSON report instead of the summary.
    #[arg(long)]
    json: bool,
    /// Also write the JSON report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Stream the run as a training log (docs/log-format.md) to this file.
    #[arg(long)]
    dump_trajectory: Option<PathBuf>,
    /// Keep every K-th model: the walk back runs the segments between them in parallel. In the
    /// --dump-trajectory log, give the model on every K-th step only (and its SHA-256 on the
    /// others).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    checkpoint_every: Option<u64>,
    /// Write the quantised data set as the model sees it to this file (JSON).
    #[arg(long)]
    dump_data: Option<PathBuf>,
    /// Write one CSV row per step to this file: outcome, hint, certificate, predicted
    /// 1 − det(I − αH_B); empty cells where a value was not computed.
    #[arg(long)]
    steps_csv: Option<PathBuf>,
    #[command(flatten)]
    progress: super::progress::QuietArg,
}

impl Args {
    fn config(&self) -> anyhow::Result<VerifyConfig> {
        let mut c = self.run.config(verify_defaults())?;
        c.certify = self.certify.budget();
        c.code = !self.no_code;
        Ok(c)
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = args.config()?;
    let sgd_prime = args.section4.config()?;
    let given = [
        args.run.given(),
        args.certify.given(),
        args.section4.given(),
    ]
    .concat();
    rewind::config::check_applicable(&config, sgd_prime.is_some(), &given)?;
    let momentum = args.momentum.config()?;
    check_combinations(&args, sgd_prime.is_some(), momentum.as_ref())?;
    check_files(&config, &args)?;
    // Opened before the run, so that a missing directory is reported before the work is done;
    // committed together after it, so that a failed run leaves none of them behind.
    let open = |p: &Option<PathBuf>| p.as_deref().map(Output::create).transpose();
    let (mut data_out, traj_out, mut report_out, mut steps_out) = (
        open(&args.dump_data)?,
        open(&args.dump_trajectory)?,
        open(&args.out)?,
        open(&args.steps_csv)?,
    );
    let setup = Setup::new(&config)?;
    if let Some(o) = &mut data_out {
        write_data(&setup, o)?;
    }
    let bar = super::progress::PhaseBar::new(args.progress.quiet);
    let algorithm = match (&sgd_prime, &momentum) {
        (Some(p), _) => Algorithm::SgdPrime(p.clone()),
        (None, Some(m)) => Algorithm::Momentum(*m),
        (None, None) => Algorithm::Sgd,
    };
    let plain = matches!(algorithm, Algorithm::Sgd);
    let every = args.checkpoint_every.map(|k| k as usize);
    let mut writer = trajectory_writer(traj_out.filter(|_| sgd_prime.is_none()), &setup, every)?;
    let mut run = Run::new(&setup)
        .algorithm(algorithm)
        .progress(&bar)
        .checkpoint_every(every);
    if let Some(w) = writer.as_mut() {
        run = run.observer(w);
    }
    let report = run_report(run, &setup, steps_out.as_mut().filter(|_| plain))?;
    let traj_out = writer.map(TrajectoryWriter::into_inner);
    bar.finish();
    let json = serde_json::to_string_pretty(&report)? + "\n";
    if let Some(o) = &mut report_out {
        o.put(json.as_bytes())?;
    }
    for w in &report.warnings {
        super::warn(w);
    }
    commit_together(
        [data_out, traj_out, report_out, steps_out]
            .into_iter()
            .flatten()
            .collect(),
    )?;
    super::print(&rendered(&report, json, args.json))?;
    Ok(exit_code(&report))
}

/// Refuses the flags that the chosen algorithm or optimizer cannot honour.
fn check_combinations(
    args: &Args,
    sgd_prime: bool,
    momentum: Option<&MomentumConfig>,
) -> anyhow::Result<()> {
    if let Some(m) = momentum {
        if sgd_prime {
            anyhow::bail!("--optimizer momentum runs Algorithm 1; leave out --algorithm sgd-prime");
        }
        if !m.beta.is_zero() && args.dump_trajectory.is_some() {
            anyhow::bail!("--dump-trajectory logs plain SGD steps, and a momentum step with β > 0 is not one; leave it out");
        }
    }
    if sgd_prime && args.dump_trajectory.is_some() {
        anyhow::bail!("--dump-trajectory is not available with --algorithm sgd-prime; leave it out (the report's gd_steps section summarises the inner steps)");
    }
    if momentum.is_some() && args.steps_csv.is_some() {
        anyhow::bail!("--steps-csv is not available with --optimizer momentum; leave it out (the report's momentum section gives the buffer's cost)");
    }
    if sgd_prime && args.steps_csv.is_some() {
        anyhow::bail!("--steps-csv is not available with --algorithm sgd-prime; leave it out (the report's gd_steps section summarises the inner steps)");
    }
    Ok(())
}

/// Checks the output files against the data set and one another (see `check_paths`).
fn check_files(config: &VerifyConfig, args: &Args) -> anyhow::Result<()> {
    let data_path = config.data.path().map(Path::to_path_buf);
    let inputs: Vec<(&str, &Path)> = data_path
        .as_deref()
        .map(|p| ("the data set (--data)", p))
        .into_iter()
        .collect();
    let named = [
        ("--dump-data", &args.dump_data),
        ("--dump-trajectory", &args.dump_trajectory),
        ("--out", &args.out),
        ("--steps-csv", &args.steps_csv),
    ];
    let outputs: Vec<(&str, &Path)> = named
        .iter()
        .filter_map(|(flag, p)| p.as_deref().map(|p| (*flag, p)))
        .collect();
    check_paths(&inputs, &outputs)?;
    Ok(())
}

/// Starts the `--dump-trajectory` log on `out`, if given, by writing its header.
fn trajectory_writer(
    out: Option<Output>,
    setup: &Setup,
    every: Option<usize>,
) -> anyhow::Result<Option<TrajectoryWriter<Output>>> {
    Ok(match out {
        Some(o) => {
            let path = o.path().display().to_string();
            let header = rewind::log::header(setup, every);
            Some(TrajectoryWriter::with_checkpoints(
                o,
                &path,
                &header,
                every.unwrap_or(1),
            )?)
        }
        None => None,
    })
}

/// Runs the job and returns its report; with `steps_out`, also writes the steps table there.
fn run_report(
    run: Run<'_>,
    setup: &Setup,
    steps_out: Option<&mut Output>,
) -> anyhow::Result<VerifyReport> {
    Ok(match steps_out {
        // The steps table reads every step, so this run keeps them.
        Some(o) => {
            let v = run.verify()?;
            let table = steps_csv(
                setup,
                &v.trajectory,
                v.records.as_deref(),
                v.certificates.as_deref(),
            );
            o.put(table.as_bytes())?;
            v.report
        }
        None => run.report()?,
    })
}

/// What `rewind verify` prints: the JSON report with `--json`, else the summary that fits
/// the run.
fn rendered(report: &VerifyReport, json: String, as_json: bool) -> String {
    if as_json {
        json
    } else if report.momentum.is_some() && report.inversion.is_none() {
        super::momentum::run_summary(report)
    } else {
        summary(report) + &super::section4::summary(report) + &super::momentum::summary(report)
    }
}

/// Success when the walk back gave W₁,₁ and every later model bit for bit, else exit code 3.
fn exit_code(report: &VerifyReport) -> ExitCode {
    if report
        .reconstruction
        .as_ref()
        .is_some_and(|r| r.initial_model_bit_exact && r.all_models_bit_exact)
    {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}

fn write_data(s: &Setup, out: &mut Output) -> anyhow::Result<()> {
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
    serde_json::to_writer(&mut *out, &dump).map_err(|e| out.error(e.into()))?;
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
    let predicted = predicted_many_to_one(inv);
    let certification = r
        .certification
        .as_ref()
        .map_or(String::new(), certification_line);
    let code = r.code.as_ref().map_or(String::new(), code_summary);
    let discrepancy = discrepancy_lines(r);
    format!(
        "{answer}\
         rewind verify: {model} on {data}, classes {classes:?}, n = {n} (of {nl}), b = {b}, {ep} epochs, seed {seed}\n\
         grid:            p = {p}, backend {backend}, α = {alpha} (α·L_B = {q:.4}, {cert})\n\
         run:             {steps} steps over {er} epochs, accuracy {a0:.3} → {a1:.3}{stop}\n\
         inversion:       recovered {rec}, other preimage {oth}, no preimage {nop} ({cyc} cycles, {cap} capped); mean {it:.2} iterations per step, {ge} gradient evaluations in all ({own} own backend, {pred} f64 predictor)\n\
         many-to-one:     {obs:.4} of steps needed a hint (observed); 1 − det(I − αH_B) = {predicted} (predicted)\n\
         hints:           {hs} steps, {hb} bits\n\
         {certification}\
         {discrepancy}\
         {code}\
         initial_model_bit_exact: {ie} (the walk back from the final model, the batches and the hints gave W₁,₁ bit for bit)\n\
         all_models_bit_exact:    {ae}\n\
         final model sha256: {sha}\n",
        answer = answer(r, inv.recovered),
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
        stop = stop_line(r),
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

/// The predicted fraction of many-to-one steps, 1 − det(I − αH_B), or why it is missing.
fn predicted_many_to_one(inv: &rewind::report::InversionReport) -> String {
    match (
        inv.predicted_many_to_one,
        &inv.predicted_many_to_one_skipped,
    ) {
        (Some(p), _) => format!("{p:.4}"),
        (None, Some(why)) => why.clone(),
        (None, None) => "not computed (I − αH_B is not positive definite at some step)".into(),
    }
}

/// The summary's `certification:` line (with `--certify`).
fn certification_line(c: &rewind::report::CertificationReport) -> String {
    format!(
        "certification:   unique {}, ambiguous {} (at most {} preimages), unknown {}; optimal hint bits {}; {:.2} free coordinates per step on average; {} gradient evaluations\n",
        c.unique, c.ambiguous, c.max_preimages, c.unknown, c.optimal_hint_bits, c.mean_free_coordinates, c.gradient_evaluations
    )
}

/// The summary's `discrepancy:` and `batch fitting:` lines, from the last epoch's running
/// averages; empty when no epoch was recorded.
fn discrepancy_lines(r: &VerifyReport) -> String {
    let last = r.discrepancy.epochs.last();
    last.map_or(String::new(), |e| {
        format!(
            "discrepancy:     running average ρ_code {:.4} (null {:.4}, z {:+.2}), ρ_paper {:.4} (null {:.4}, z {:+.2}); β(n,b) leading term n·log₂n/b² = {:.3}\n",
            e.running_rho_code,
            e.running_null_rho_code,
            e.running_excess_z_code,
            e.running_rho_paper,
            e.running_null_rho_paper,
            e.running_excess_z_paper,
            r.discrepancy.beta_leading,
        ) + &format!(
            "batch fitting:   Σ(k − E) {:+.2} (null sd {:.2}, z {:+.2}){}\n",
            e.running_fit_score,
            e.running_fit_var.sqrt(),
            e.running_fit_z,
            r.discrepancy.tails.as_ref().map_or(String::new(), |t| format!(
                "; permutation p {} (ρ_code above its null: p {}, below: p {}; {} redraws)",
                rewind::claims::num(t.fit_p),
                rewind::claims::num(t.rho_code_p),
                rewind::claims::num(t.rho_code_p_below),
                t.draws
            )),
        )
    })
}

/// The answer first: how many steps inverted without help, and what the rest cost beside
/// storing W₁,₁ outright.
fn answer(r: &VerifyReport, recovered: usize) -> String {
    let mut out = format!("invertible without help: {recovered} of {} steps", r.steps);
    if let Some(s) = &r.side_information {
        out += &format!(
            "; side information {} bits = {:.1}% of storing W₁,₁ ({} bits)",
            s.hint_bits,
            100.0 * s.ratio,
            s.first_model_bits
        );
        if s.hint_bits > s.first_model_bits {
            out += "\nwarning: the side information exceeds storing W₁,₁ outright";
        }
    }
    out + "\n"
}

/// How the run ended early, if it did: SGD at full accuracy, SGD′ at its own target on X.
fn stop_line(r: &VerifyReport) -> String {
    match (&r.algorithm, r.run.stopped_at_full_accuracy) {
        (_, false) => String::new(),
        (Some(a), true) => format!(
            ", SGD′ stopped at its target: accuracy ≥ 1/(2(1 − ε)) = {:.4} on X",
            a.stop_target
        ),
        (None, true) => ", stopped at full accuracy".into(),
    }
}

fn code_summary(c: &rewind::report::CodeReport) -> String {
    let mut out = format!(
        "code:            roundtrip_bit_exact: {}; {} bits in all against {} (epochs × ⌈log₂ n!⌉); a discrepancy saving ≥ log₂n + 2 = {:.1} bits has null probability ≤ 1/n{}\n",
        c.roundtrip_bit_exact,
        c.total_bits,
        c.baseline_total_bits,
        c.saving_threshold_bits,
        if c.certified_hints { ", hints as certified preimage indices" } else { "" },
    );
    for e in &c.epochs {
        out += &format!(
            "  epoch {:>3}:     {} bits vs {}: saving {} (discrepancy {}, hints {} bits), tilt {}, b·ρ_code {:.2}, b·excess_code {:.2}, b·ρ_paper {:.2}\n",
            e.epoch, e.bits, e.baseline_bits, e.saving_bits, e.discrepancy_saving_bits, e.hint_bits, e.tilt, e.b_rho_code, e.b_excess_code, e.b_rho_paper
        );
    }
    out
}
