//! `rewind sweep PLAN.toml`: many runs in parallel; `rewind sweep merge`: join shard outputs.

use anyhow::Context;
use rayon::prelude::*;
use rewind::output::{check_paths, commit_together, Output};
use rewind::sweep::{
    check_belongs, merge, missing_runs, name_some, read_results_noting, run_one, shard,
    summary_csv, to_jsonl, Plan, PlanIdentity, ResultLine, RunSpec, WHOLE,
};
use std::collections::{BTreeMap, BTreeSet, HashSet};
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
    /// Results file: one JSON line per run; a summary CSV (same name, .csv) is written beside it.
    #[arg(long, default_value = "results.jsonl")]
    out: PathBuf,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Skip runs already present in the results file or in the journal an interrupted sweep
    /// left beside it (`OUT.partial`); lines of another plan or shard are refused.
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

fn load_plan(path: &Path) -> anyhow::Result<Plan> {
    let text = super::read_input_text(
        path,
        rewind::input::MAX_PLAN_BYTES,
        "an existing plan file (TOML, see plans/)",
    )?;
    let plan = Plan::parse(&text, &path.display().to_string())?;
    Ok(plan.located(path.parent().unwrap_or(Path::new(""))))
}

/// The summary CSV beside a results file.
fn csv_path(out: &Path) -> PathBuf {
    out.with_extension("csv")
}

/// Where finished runs are appended while a sweep runs, so that an interrupted sweep can
/// resume; the results file itself is only ever replaced whole.
fn journal_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

/// Refuses a results file whose summary CSV would be the file itself.
fn check_out(out: &Path) -> anyhow::Result<()> {
    if csv_path(out) == out {
        anyhow::bail!(
            "--out {} would be overwritten by the summary CSV written beside it; give the results file another extension, e.g. --out {}",
            out.display(),
            out.with_extension("jsonl").display()
        );
    }
    Ok(())
}

/// Writes the results and their summary CSV, both complete or neither.
fn write_outputs(out: &Path, lines: &[ResultLine]) -> anyhow::Result<()> {
    let mut results = Output::create(out)?;
    let mut csv = Output::create(&csv_path(out))?;
    results.put(to_jsonl(lines).as_bytes())?;
    csv.put(summary_csv(lines).as_bytes())?;
    commit_together(vec![results, csv])?;
    Ok(())
}

/// The plan file and the data files its runs read.
fn plan_inputs<'a>(plan_path: &'a Path, plan: &'a Plan) -> Vec<(&'static str, &'a Path)> {
    let mut inputs = vec![("the plan", plan_path)];
    for d in plan.axes.data.iter().flatten() {
        if d != "digits" && d != "synthetic" {
            inputs.push(("a data set of the plan", Path::new(d.as_str())));
        }
    }
    inputs
}

fn run_merge(inputs: &[PathBuf], out: &Path, plan_path: Option<&Path>) -> anyhow::Result<()> {
    check_out(out)?;
    let plan = plan_path.map(load_plan).transpose()?;
    let csv = csv_path(out);
    let mut ins: Vec<(&str, &Path)> = inputs
        .iter()
        .map(|p| ("one of the inputs", p.as_path()))
        .collect();
    if let (Some(pp), Some(plan)) = (plan_path, &plan) {
        ins.extend(plan_inputs(pp, plan));
    }
    check_paths(&ins, &[("--out", out), ("the summary CSV", &csv)])?;
    let MergeInputs {
        mut all,
        identity,
        shards,
        empty,
    } = read_merge_inputs(inputs)?;
    if let (Some(plan), Some((id, from))) = (&plan, &identity) {
        if plan.identity() != *id {
            anyhow::bail!(
                "{from} holds runs of {id}, not of {} ({}); pass the plan the shards were run with",
                plan.identity(),
                plan_path.map_or(String::new(), |p| p.display().to_string())
            );
        }
    }
    for l in &mut all {
        if l.shard.is_some() {
            l.shard = Some(WHOLE.into());
        }
    }
    let runs = plan.as_ref().map(Plan::runs);
    let merged = merge(all, runs.as_deref())?;
    match &runs {
        Some(runs) => check_every_run(&merged, runs)?,
        None => check_every_shard(&shards, empty)?,
    }
    write_outputs(out, &merged)?;
    let failed = merged.iter().filter(|l| l.error.is_some()).count();
    super::print(&format!(
        "merged {} runs from {} files into {}{}\n",
        merged.len(),
        inputs.len(),
        out.display(),
        if failed == 0 {
            String::new()
        } else {
            format!(
                " ({} of them failed, with their errors; `rewind claims` skips them)",
                failed
            )
        }
    ))?;
    Ok(())
}

/// A results file's lines, and a note for each torn line skipped.
fn read_results_file(p: &Path) -> anyhow::Result<(Vec<ResultLine>, Vec<String>)> {
    let text = super::read_input_text(
        p,
        rewind::input::MAX_RESULTS_BYTES,
        "a results file written by `rewind sweep`",
    )?;
    Ok(read_results_noting(&text, &p.display().to_string())?)
}

/// What `rewind sweep merge` read from its inputs.
struct MergeInputs {
    /// Every input's lines, in input order.
    all: Vec<ResultLine>,
    /// The plan the first line that names one belongs to, and the input it came from.
    identity: Option<(PlanIdentity, String)>,
    /// Per shard count N, the shards K of N that some line comes from.
    shards: BTreeMap<usize, BTreeSet<usize>>,
    /// Inputs without a line.
    empty: usize,
}

/// Reads the results files to merge, warning of torn lines and refusing runs of two plans.
fn read_merge_inputs(inputs: &[PathBuf]) -> anyhow::Result<MergeInputs> {
    let mut all = Vec::new();
    let mut identity: Option<(PlanIdentity, String)> = None;
    let mut shards: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    let mut empty = 0;
    for p in inputs {
        let name = p.display().to_string();
        let (lines, torn) = read_results_file(p)?;
        for w in &torn {
            super::warn(w);
        }
        empty += usize::from(lines.is_empty());
        for l in &lines {
            if let Some(id) = &l.plan {
                match &identity {
                    None => identity = Some((id.clone(), name.clone())),
                    Some((first, from)) if first != id => anyhow::bail!(
                        "{name} holds runs of {id} but {from} holds runs of {first}; merge the shards of one plan at a time"
                    ),
                    Some(_) => {}
                }
            }
            if let Some((k, n)) = l.shard.as_deref().and_then(parse_shard) {
                shards.entry(n).or_default().insert(k);
            }
        }
        all.extend(lines);
    }
    Ok(MergeInputs {
        all,
        identity,
        shards,
        empty,
    })
}

/// Refuses a merge that lacks some of the plan's runs.
fn check_every_run(merged: &[ResultLine], runs: &[RunSpec]) -> anyhow::Result<()> {
    let missing = missing_runs(merged, runs);
    if !missing.is_empty() {
        anyhow::bail!(
            "the inputs hold {} of the plan's {} runs; missing {}: {}; pass every shard's results (nothing was written)",
            runs.len() - missing.len(),
            runs.len(),
            missing.len(),
            name_some(&missing, 3)
        );
    }
    Ok(())
}

/// Without a plan: refuses a merge where more shards hold no line than inputs are empty.
fn check_every_shard(
    shards: &BTreeMap<usize, BTreeSet<usize>>,
    empty: usize,
) -> anyhow::Result<()> {
    for (n, have) in shards {
        let absent: Vec<String> = (1..=*n)
            .filter(|k| !have.contains(k))
            .map(|k| format!("{k}/{n}"))
            .collect();
        // A shard with no runs of its own writes an empty file: each empty input given
        // stands for one shard that holds no runs.
        if absent.len() > empty {
            anyhow::bail!(
                "no input holds a run of shard {}; pass every shard's results, or --plan to check run by run (nothing was written)",
                absent.join(", ")
            );
        }
    }
    Ok(())
}

fn parse_shard(s: &str) -> Option<(usize, usize)> {
    let (k, n) = s.split_once('/')?;
    Some((k.trim().parse().ok()?, n.trim().parse().ok()?))
}

/// Cuts a torn last line (an interrupted append) so that new lines start on a line of their
/// own; returns the bytes cut.
fn cut_torn_tail(path: &Path) -> anyhow::Result<u64> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read {}; check its permissions", path.display()))?;
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let cut = (bytes.len() - keep) as u64;
    if cut > 0 {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(keep as u64).map(|()| f))
            .map_err(|source| rewind::Error::Io {
                path: path.display().to_string(),
                source,
            })?;
        f.sync_all().map_err(|source| rewind::Error::Io {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(cut)
}

/// The worker threads to start: `--threads` within what the system can start.
fn thread_count(asked: Option<usize>) -> anyhow::Result<(usize, rayon::ThreadPool)> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = asked.unwrap_or(cores);
    if threads == 0 {
        anyhow::bail!("--threads 0 starts no worker; use --threads 1 or more (this machine has {cores} cores)");
    }
    if threads > MAX_THREADS {
        anyhow::bail!(
            "--threads {threads} is more threads than a process can reasonably start (at most {MAX_THREADS}; this machine has {cores} cores, and the results do not depend on the count); use --threads {cores}"
        );
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot start {threads} worker threads ({e}): the system limits threads per process (see ulimit -u); use fewer, e.g. --threads {cores}"
            )
        })?;
    Ok((threads, pool))
}

/// More worker threads than any machine this runs on has cores.
const MAX_THREADS: usize = 4096;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(SweepCommand::Merge { inputs, out, plan }) = args.merge {
        run_merge(&inputs, &out, plan.as_deref())?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(plan_path) = args.plan else {
        anyhow::bail!("rewind sweep needs a plan file, e.g. `rewind sweep plans/smoke.toml`");
    };
    let plan = load_plan(&plan_path)?;
    let (runs, shard_name) = planned_runs(&plan, args.shard.as_deref())?;
    let out = &args.out;
    check_out(out)?;
    let csv = csv_path(out);
    let journal = journal_path(out);
    check_paths(
        &plan_inputs(&plan_path, &plan),
        &[
            ("--out", out),
            ("the summary CSV", &csv),
            ("the journal of finished runs", &journal),
        ],
    )?;
    // The outputs are checked before any run (a directory, a missing or read-only folder), and
    // the results file is locked for the whole sweep: a second sweep on it says so at once.
    drop(Output::create(out)?);
    drop(Output::create(&csv)?);
    let _lock = rewind::output::Lock::try_acquire(&journal, "another `rewind sweep`")?;
    let (threads, pool) = thread_count(args.threads)?;
    let previous = if args.resume {
        read_previous(out, &journal, &plan.identity(), &shard_name)?
    } else if journal.exists() {
        anyhow::bail!(
            "{} holds the runs of an interrupted sweep; continue it with --resume, or delete it to start again",
            journal.display()
        );
    } else {
        Vec::new()
    };
    let previous = merge(previous, Some(&runs))?;
    let todo = not_done(&runs, &previous);
    let started = std::time::Instant::now();
    let sweep = Sweep {
        plan: &plan,
        shard_name: &shard_name,
        journal: &journal,
        quiet: args.progress.quiet,
    };
    let fresh = sweep.run_journaled(&pool, &todo)?;
    let resumed = previous.len();
    let lines = merge(previous.into_iter().chain(fresh).collect(), Some(&runs))?;
    commit_results(out, &journal, &lines)?;
    let failed: Vec<String> = lines
        .iter()
        .filter_map(|l| l.error.as_ref().map(|e| format!("{} ({e})", l.id)))
        .collect();
    super::print(&format!(
        "sweep {}: {} runs ({} new, {} resumed, {} errors) in {:.1} s on {} thread{}; wrote {} and {}\n",
        plan.name,
        lines.len(),
        todo.len(),
        resumed,
        failed.len(),
        started.elapsed().as_secs_f64(),
        threads,
        if threads == 1 { "" } else { "s" },
        out.display(),
        csv.display()
    ))?;
    if !failed.is_empty() {
        anyhow::bail!(
            "{} of {} runs failed: {}; their lines in {} hold the errors",
            failed.len(),
            lines.len(),
            name_some(&failed, 3),
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The runs without a line among `previous`, in plan order.
fn not_done(runs: &[RunSpec], previous: &[ResultLine]) -> Vec<RunSpec> {
    let done: HashSet<&str> = previous.iter().map(|l| l.id.as_str()).collect();
    runs.iter()
        .filter(|r| !done.contains(r.id().as_str()))
        .cloned()
        .collect()
}

/// Writes the results and their summary CSV, then deletes the journal, which they now hold.
fn commit_results(out: &Path, journal: &Path, lines: &[ResultLine]) -> anyhow::Result<()> {
    write_outputs(out, lines).map_err(|e| {
        anyhow::anyhow!(
            "{e}; the finished runs are kept in {} for --resume",
            journal.display()
        )
    })?;
    std::fs::remove_file(journal).map_err(|source| rewind::Error::Io {
        path: journal.display().to_string(),
        source,
    })?;
    Ok(())
}

/// The plan's runs, or those of the `--shard` K/N slice, with the shard's name.
fn planned_runs(plan: &Plan, shard_arg: Option<&str>) -> anyhow::Result<(Vec<RunSpec>, String)> {
    let all_runs = plan.runs();
    Ok(match shard_arg {
        Some(s) => {
            let (k, n) = parse_shard(s)
                .ok_or_else(|| anyhow::anyhow!("--shard {s} is not K/N; write e.g. --shard 2/8"))?;
            (shard(all_runs, k, n)?, format!("{k}/{n}"))
        }
        None => (all_runs, WHOLE.to_string()),
    })
}

/// For `--resume`: the lines already in the results file and the journal, each checked to
/// belong to this plan and shard; a torn last line of the journal is cut first.
fn read_previous(
    out: &Path,
    journal: &Path,
    identity: &PlanIdentity,
    shard_name: &str,
) -> anyhow::Result<Vec<ResultLine>> {
    let mut previous = Vec::new();
    for p in [out, journal] {
        if !p.exists() {
            continue;
        }
        if p == journal {
            let cut = cut_torn_tail(p)?;
            if cut > 0 {
                super::warn(&format!(
                    "cut {cut} bytes of an interrupted line at the end of {}",
                    p.display()
                ));
            }
        }
        let name = p.display().to_string();
        let (lines, torn) = read_results_file(p)?;
        // The results file is only ever replaced whole: a line that does not parse means it
        // is not one, and --resume would overwrite it.
        if let Some(w) = torn.first().filter(|_| p == out) {
            anyhow::bail!(
                "{w}; but {} is written whole, never torn, so it is not a results file of `rewind sweep`: pass another --out, or move it away to start again",
                p.display()
            );
        }
        check_belongs(&lines, identity, Some(shard_name), &name)?;
        previous.extend(lines);
    }
    Ok(previous)
}

/// What the runs of one sweep share.
struct Sweep<'a> {
    plan: &'a Plan,
    /// The shard each result line is marked with.
    shard_name: &'a str,
    /// Where finished runs are appended.
    journal: &'a Path,
    /// No progress bar.
    quiet: bool,
}

impl Sweep<'_> {
    /// Runs `todo` on `pool`, appending each finished run to the journal as it comes.
    fn run_journaled(
        &self,
        pool: &rayon::ThreadPool,
        todo: &[RunSpec],
    ) -> anyhow::Result<Vec<ResultLine>> {
        let journal = self.journal;
        // Finished runs are appended as they come, so that an interrupted sweep can resume.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(journal)
            .map_err(|source| rewind::Error::Io {
                path: journal.display().to_string(),
                source,
            })?;
        let sink = Mutex::new((file, None::<std::io::Error>));
        let bar = super::progress::bar(
            self.quiet,
            todo.len() as u64,
            "{bar:40} {pos}/{len} runs, {elapsed} elapsed, ETA {eta}",
        );
        let fresh: Vec<ResultLine> = pool.install(|| {
            todo.par_iter()
                .map(|spec| {
                    let mut line = run_one(self.plan, spec);
                    line.shard = Some(self.shard_name.to_string());
                    if let Ok(mut guard) = sink.lock() {
                        let (f, failed) = &mut *guard;
                        if failed.is_none() {
                            let text = to_jsonl(std::slice::from_ref(&line));
                            if let Err(e) = f.write_all(text.as_bytes()).and_then(|()| f.flush()) {
                                *failed = Some(e);
                            }
                        }
                    }
                    bar.inc(1);
                    line
                })
                .collect()
        });
        bar.finish_and_clear();
        if let Ok((_, Some(e))) = sink.into_inner() {
            return Err(rewind::Error::Io {
                path: journal.display().to_string(),
                source: e,
            }
            .into());
        }
        Ok(fresh)
    }
}
