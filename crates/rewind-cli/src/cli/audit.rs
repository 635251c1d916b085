//! `rewind audit LOG`: replay a training log bit for bit, find its first divergence, list the
//! steps the walk back needs side information for and, with `--certify`, which steps could
//! have been forged (docs/log-format.md). Exit codes: 0 verified, 1 a divergence, 2 a usage
//! or format error.

use super::run_args::{CertifyArgs, DataArgs};
use rewind::audit::{audit, check_setup, config_for, AuditOptions, AuditReport, Divergence};
use rewind::config::{Setup, VerifyConfig};
use rewind::log::read_log_file;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `rewind audit`. The data flags are `verify`'s; the model, grid, α, backend and
/// batch size come from the log's header.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The training log (JSON lines, docs/log-format.md).
    log: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    certify: CertifyArgs,
    /// Accept a logged model within this many ulps (∞-norm) of the replay, and replay on from
    /// the logged model (for logs from float frameworks); 0 is bit for bit.
    #[arg(long, default_value_t = 0)]
    tolerance: u64,
    /// Audit only every N-th segment between checkpoints, starting at the K-th (K/N, e.g. 2/8);
    /// the log's first divergence is the earliest over all shards.
    #[arg(long)]
    shard: Option<String>,
    /// Worker threads (default: all cores). The verdicts do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Cap on the fixed-point iterations of one inversion.
    #[arg(long, default_value_t = rewind::invert::DEFAULT_MAX_ITERATIONS)]
    max_iterations: u32,
    /// Skip the backward walk (the inversion of every replayed step): the replay alone.
    #[arg(long)]
    no_backward: bool,
    /// Print the JSON verdict instead of the summary.
    #[arg(long)]
    json: bool,
    /// Also draw one strip per step (verified or diverged; unique or ambiguous) as SVG here.
    #[arg(long)]
    figure: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match audit_log(&args) {
        Ok(code) => Ok(code),
        Err(e) if e.downcast_ref::<super::StdoutError>().is_some() => Err(e),
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "error: {}", crate::one_line(&e));
            Ok(ExitCode::from(2))
        }
    }
}

fn audit_log(args: &Args) -> anyhow::Result<ExitCode> {
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
    let threads = match args.threads {
        Some(0) => anyhow::bail!("--threads 0 starts no worker; use --threads 1 or more"),
        Some(t) => t.min(1024),
        None => 0,
    };
    let log = read_log_file(&args.log)?;
    let data = args.data.config(VerifyConfig::default());
    let setup = Setup::new(&config_for(&log.header, data)?)?;
    check_setup(&log.header, &setup)?;
    let opts = AuditOptions {
        certify: args.certify.budget(),
        tolerance: args.tolerance,
        shard,
        max_iterations: args.max_iterations,
        backward: !args.no_backward,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| {
            anyhow::anyhow!("cannot start {threads} worker threads: {e}; use fewer --threads")
        })?;
    let f = setup.step_function();
    let report = pool.install(|| audit(&f, &log, &opts))?;
    if let Some(path) = &args.figure {
        rewind::output::write_file(path, rewind::audit::strips_svg(&report).as_bytes())?;
    }
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        summary(&args.log.display().to_string(), &report)
    };
    super::print(&text)?;
    Ok(if report.verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn parse_shard(s: &str) -> anyhow::Result<(usize, usize)> {
    let bad = || anyhow::anyhow!("--shard {s} is not K/N with 1 ≤ K ≤ N; write e.g. --shard 2/8");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// The human-readable verdict.
pub fn summary(log: &str, r: &AuditReport) -> String {
    let c = &r.counts;
    let scope = match &r.shard {
        Some(s) => format!(
            "shard {s}: {} of {} segments",
            r.segments_audited, r.segments
        ),
        None => format!("{} segments", r.segments),
    };
    let side: Vec<String> = r
        .side_information_steps
        .iter()
        .take(10)
        .map(|&k| position(r, k))
        .collect();
    let more = r.side_information_steps.len().saturating_sub(side.len());
    let certification = if c.unique + c.ambiguous + c.unknown > 0 {
        format!(
            "certification: unique {}, ambiguous {}, unknown {}\n",
            c.unique, c.ambiguous, c.unknown
        )
    } else {
        String::new()
    };
    format!(
        "rewind audit: {log}, {} steps, {scope}, tolerance {} ulps\n\
         forward:       verified {}, within tolerance {}, unchecked {}, diverged {}, not replayed {}; largest distance to a logged model {} ulps\n\
         backward:      recovered {}, needing side information {}{}{}\n\
         {certification}\
         verdict:       {}\n",
        r.steps_in_log,
        r.tolerance_ulps,
        c.verified,
        c.within_tolerance,
        c.unchecked,
        c.diverged,
        c.not_replayed,
        r.max_distance_ulps,
        c.recovered,
        c.needing_side_information,
        if side.is_empty() { String::new() } else { format!(" ({})", side.join(", ")) },
        if more > 0 { format!(" and {more} more") } else { String::new() },
        r.first_divergence.as_ref().map_or("verified".into(), divergence),
    )
}

fn position(r: &AuditReport, k: usize) -> String {
    r.steps
        .iter()
        .find(|s| s.index == k)
        .map_or(format!("#{k}"), |s| {
            format!("epoch {} step {}", s.epoch, s.step)
        })
}

fn divergence(d: &Divergence) -> String {
    let against = match (d.against_epoch, d.against_step) {
        (Some(e), Some(s)) => format!("the model logged before epoch {e} step {s}"),
        _ => "the final model".into(),
    };
    let by = match (d.coordinates, d.max_distance_ulps) {
        (Some(c), Some(m)) => format!("in {c} coordinates, by up to {m} ulps"),
        _ => "(the log gives its hash only)".into(),
    };
    format!(
        "first divergence at epoch {} step {} (log line {}): its replay differs from {against} {by}",
        d.epoch,
        d.step,
        d.index + 2
    )
}
