//! `rewind sweep PLAN.toml`: many runs in parallel; `rewind sweep merge`: join shard outputs.

use anyhow::Context;
use rayon::prelude::*;
use rewind::sweep::{merge, read_results, run_one, shard, summary_csv, to_jsonl, Plan, ResultLine};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

/// Flags of `rewind sweep`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    merge: Option<SweepCommand>,
    /// The plan (TOML): axes, phases and fixed settings; see plans/smoke.toml.
    plan: Option<PathBuf>,
    /// Results file: one JSON line per run; a summary CSV is written beside it.
    #[arg(long, default_value = "results.jsonl")]
    out: PathBuf,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Skip runs already present in the results file.
    #[arg(long)]
    resume: bool,
    /// Run only the K-th of N slices of the plan (K from 1), e.g. for an array job.
    #[arg(long, value_name = "K/N")]
    shard: Option<String>,
    #[command(flatten)]
    progress: super::progress::QuietArg,
}

#[derive(Debug, clap::Subcommand)]
enum SweepCommand {
    /// Join results files (e.g. the shards of one plan) into one.
    Merge {
        /// Results files to join.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// The joined results file.
        #[arg(long, default_value = "results.jsonl")]
        out: PathBuf,
        /// Order the runs as in this plan (default: by run id).
        #[arg(long)]
        plan: Option<PathBuf>,
    },
}

fn read(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {}; pass an existing {what}", path.display()))
}

fn load_plan(path: &Path) -> anyhow::Result<Plan> {
    Ok(Plan::parse(
        &read(path, "plan file")?,
        &path.display().to_string(),
    )?)
}

fn write_outputs(out: &Path, lines: &[ResultLine]) -> anyhow::Result<()> {
    let fix = "check that its directory exists and is writable";
    std::fs::write(out, to_jsonl(lines))
        .with_context(|| format!("cannot write {}; {fix}", out.display()))?;
    let csv = out.with_extension("csv");
    std::fs::write(&csv, summary_csv(lines))
        .with_context(|| format!("cannot write {}; {fix}", csv.display()))?;
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(SweepCommand::Merge { inputs, out, plan }) = args.merge {
        let mut all = Vec::new();
        for p in &inputs {
            all.extend(read_results(
                &read(p, "results file")?,
                &p.display().to_string(),
            )?);
        }
        let order = plan
            .as_deref()
            .map(load_plan)
            .transpose()?
            .map(|p| p.runs());
        let merged = merge(all, order.as_deref())?;
        write_outputs(&out, &merged)?;
        println!(
            "merged {} runs from {} files into {}",
            merged.len(),
            inputs.len(),
            out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let Some(plan_path) = args.plan else {
        anyhow::bail!("rewind sweep needs a plan file, e.g. `rewind sweep plans/smoke.toml`");
    };
    let plan = load_plan(&plan_path)?;
    let mut runs = plan.runs();
    if let Some(s) = &args.shard {
        let (k, n) = s
            .split_once('/')
            .and_then(|(k, n)| Some((k.trim().parse().ok()?, n.trim().parse().ok()?)))
            .ok_or_else(|| anyhow::anyhow!("--shard {s} is not K/N; write e.g. --shard 2/8"))?;
        runs = shard(runs, k, n)?;
    }
    let previous = if args.resume && args.out.exists() {
        read_results(
            &read(&args.out, "results file")?,
            &args.out.display().to_string(),
        )?
    } else {
        Vec::new()
    };
    let done: HashSet<String> = previous.iter().map(|l| l.id.clone()).collect();
    let todo: Vec<_> = runs
        .iter()
        .filter(|r| !done.contains(&r.id()))
        .cloned()
        .collect();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        anyhow::bail!("--threads must be at least 1");
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    // Finished runs are appended as they come, so that an interrupted sweep can resume.
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(args.resume)
        .write(true)
        .truncate(!args.resume)
        .open(&args.out)
        .with_context(|| {
            format!(
                "cannot write {}; check that its directory exists and is writable",
                args.out.display()
            )
        })?;
    let sink = Mutex::new(file);
    let bar = super::progress::bar(
        args.progress.quiet,
        todo.len() as u64,
        "{bar:40} {pos}/{len} runs, {elapsed} elapsed, ETA {eta}",
    );
    let started = std::time::Instant::now();
    let fresh: Vec<ResultLine> = pool.install(|| {
        todo.par_iter()
            .map(|spec| {
                let line = run_one(&plan, spec);
                if let Ok(mut f) = sink.lock() {
                    let _ = f.write_all(to_jsonl(std::slice::from_ref(&line)).as_bytes());
                    let _ = f.flush();
                }
                bar.inc(1);
                line
            })
            .collect()
    });
    bar.finish_and_clear();
    let lines = merge(previous.into_iter().chain(fresh).collect(), Some(&runs))?;
    let lines: Vec<ResultLine> = lines
        .into_iter()
        .filter(|l| runs.iter().any(|r| r.id() == l.id))
        .collect();
    write_outputs(&args.out, &lines)?;
    let errors = lines.iter().filter(|l| l.error.is_some()).count();
    println!(
        "sweep {}: {} runs ({} new, {} resumed, {} errors) in {:.1} s on {} threads; wrote {} and {}",
        plan.name,
        lines.len(),
        todo.len(),
        lines.len() - todo.len(),
        errors,
        started.elapsed().as_secs_f64(),
        threads,
        args.out.display(),
        args.out.with_extension("csv").display()
    );
    Ok(ExitCode::SUCCESS)
}
