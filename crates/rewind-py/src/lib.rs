//! The Python module `rewind._native`: the library's runs on numpy arrays, with the options of
//! `rewind verify` by name ([`rewind::options`]), reports as the CLI's JSON, trajectories as
//! numpy arrays and models written in numpy (`pymodel.rs`). The pure-Python package `rewind`
//! (python/rewind/__init__.py) wraps these functions with docstrings, Ctrl-C and progress.
//!
//! Every function releases the GIL while the library works, so Python threads run in
//! parallel; a numpy model takes the GIL back for each of its own calls.

mod arrays;
mod errors;
mod progress;
mod pymodel;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use rewind::config::{DataSource, Setup, VerifyConfig};
use rewind::options::{from_options, RunOptions, OPTIONS};
use rewind::pipeline::run::Run;
use rewind::sgd::Trajectory;
use std::sync::Arc;

use errors::{to_py, OrPy};
use progress::{CancelToken, Sink};
use pymodel::PyModel;

/// The run the options and arrays describe; `x` and `y` are `None` for a named data set.
fn run_options(
    py: Python<'_>,
    x: Option<&Bound<'_, PyAny>>,
    y: Option<&Bound<'_, PyAny>>,
    options: &str,
) -> PyResult<RunOptions> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(options).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let data = match (x, y) {
        (Some(x), Some(y)) => Some(DataSource::Arrays(Arc::new(arrays::raw_data(py, x, y)?))),
        (None, None) => None,
        _ => {
            return Err(PyValueError::new_err(
                "give both X and y, or neither (then the option data names the data set)",
            ))
        }
    };
    from_options(&map, data).map_err(errors::options_to_py)
}

/// The setup of a run, for a built-in model or a numpy one.
fn setup(config: &VerifyConfig, model: Option<&PyModel>) -> Result<Setup, rewind::Error> {
    match model {
        None => Setup::new(config),
        Some(m) => Setup::with_dyn_model(config, |data| m.bind_data(data)),
    }
}

/// Runs `work` without the GIL, then turns its error into the right exception (the numpy
/// model's own exception when it raised one).
fn detached<T: Send>(
    py: Python<'_>,
    model: Option<&PyModel>,
    work: impl FnOnce() -> Result<T, rewind::Error> + Send,
) -> PyResult<T> {
    let result = py.allow_threads(work);
    result.map_err(|e| {
        model
            .and_then(PyModel::take_error)
            .unwrap_or_else(|| to_py(e))
    })
}

fn py_model(model: Option<Bound<'_, PyAny>>) -> PyResult<Option<PyModel>> {
    model.map(|m| PyModel::new(&m)).transpose()
}

/// `rewind verify --json` on arrays: the report as a JSON string.
#[pyfunction]
#[pyo3(signature = (x, y, options, model=None, token=None))]
fn verify(
    py: Python<'_>,
    x: Option<Bound<'_, PyAny>>,
    y: Option<Bound<'_, PyAny>>,
    options: &str,
    model: Option<Bound<'_, PyAny>>,
    token: Option<PyRef<'_, CancelToken>>,
) -> PyResult<String> {
    let run = run_options(py, x.as_ref(), y.as_ref(), options)?;
    let model = py_model(model)?;
    let sink = Sink::new(token.as_deref());
    let report = detached(py, model.as_ref(), || {
        let s = setup(&run.config, model.as_ref())?;
        Run::new(&s)
            .algorithm(run.algorithm())
            .progress(&sink)
            .report()
    })?;
    serde_json::to_string_pretty(&report).or_py()
}

/// A run's trajectory as numpy arrays, with its inversion outcomes and hints, and its report.
#[pyfunction]
#[pyo3(signature = (x, y, options, model=None, token=None))]
fn trajectory<'py>(
    py: Python<'py>,
    x: Option<Bound<'py, PyAny>>,
    y: Option<Bound<'py, PyAny>>,
    options: &str,
    model: Option<Bound<'py, PyAny>>,
    token: Option<PyRef<'py, CancelToken>>,
) -> PyResult<Bound<'py, PyDict>> {
    let run = run_options(py, x.as_ref(), y.as_ref(), options)?;
    if run.sgd_prime.is_some() {
        return Err(PyValueError::new_err("trajectory is not available with algorithm='sgd-prime' (as --dump-trajectory is not); leave it out, the report's gd_steps section summarises the inner steps"));
    }
    if run.momentum.is_some() {
        return Err(PyValueError::new_err("trajectory is not available with optimizer='momentum' (as --dump-trajectory is not); leave it out, the report's momentum section gives the buffer's cost"));
    }
    let model = py_model(model)?;
    let sink = Sink::new(token.as_deref());
    let (s, v) = detached(py, model.as_ref(), || {
        let s = setup(&run.config, model.as_ref())?;
        let v = Run::new(&s).progress(&sink).verify()?;
        Ok((s, v))
    })?;
    let out = trajectory_dict(py, &v.trajectory, s.model.dim(), s.data.grid.frac_bits())?;
    out.set_item("alpha", s.alpha.to_string())?;
    let records = v.records.unwrap_or_default();
    let outcomes: Vec<&str> = records.iter().map(|r| outcome_name(r.outcome)).collect();
    out.set_item("outcomes", outcomes)?;
    let hints = pyo3::types::PyList::empty(py);
    for r in &records {
        match &r.hint {
            None => hints.append(py.None())?,
            Some(h) => {
                let (i, v): (Vec<i64>, Vec<i64>) =
                    h.entries().iter().map(|&(i, v)| (i as i64, v)).unzip();
                hints.append((PyArray1::from_vec(py, i), PyArray1::from_vec(py, v)))?;
            }
        }
    }
    out.set_item("hints", hints)?;
    out.set_item("report", serde_json::to_string(&v.report).or_py()?)?;
    Ok(out)
}

fn outcome_name(o: rewind::invert::Outcome) -> &'static str {
    match o {
        rewind::invert::Outcome::Recovered => "recovered",
        rewind::invert::Outcome::OtherPreimage => "other-preimage",
        rewind::invert::Outcome::NoPreimage => "no-preimage",
    }
}

/// The models (steps + 1, d), batches (steps, b), epochs and steps of each step, and the
/// permutations of a trajectory.
fn trajectory_dict<'py>(
    py: Python<'py>,
    t: &Trajectory,
    d: usize,
    frac_bits: u32,
) -> PyResult<Bound<'py, PyDict>> {
    let mut models: Vec<Vec<i64>> = t.steps.iter().map(|s| s.w.clone()).collect();
    models.push(t.final_model.clone());
    let batches: Vec<Vec<usize>> = t.steps.iter().map(|s| s.batch.clone()).collect();
    let out = PyDict::new(py);
    out.set_item("frac_bits", frac_bits)?;
    out.set_item("models", arrays::matrix_i64(py, &models, d)?)?;
    out.set_item("batches", arrays::matrix_usize(py, &batches)?)?;
    out.set_item("permutations", arrays::matrix_usize(py, &t.permutations)?)?;
    let epochs: Vec<i64> = t.steps.iter().map(|s| s.epoch as i64).collect();
    let steps: Vec<i64> = t.steps.iter().map(|s| s.step as i64).collect();
    out.set_item("epoch", PyArray1::from_vec(py, epochs))?;
    out.set_item("step", PyArray1::from_vec(py, steps))?;
    out.set_item("final", PyArray1::from_vec(py, t.final_model.clone()))?;
    Ok(out)
}

/// `rewind encode`: the code file's bytes and the final model file's JSON.
#[pyfunction]
#[pyo3(signature = (x, y, options, model=None, token=None))]
fn encode<'py>(
    py: Python<'py>,
    x: Option<Bound<'py, PyAny>>,
    y: Option<Bound<'py, PyAny>>,
    options: &str,
    model: Option<Bound<'py, PyAny>>,
    token: Option<PyRef<'py, CancelToken>>,
) -> PyResult<(Bound<'py, PyBytes>, String)> {
    let run = run_options(py, x.as_ref(), y.as_ref(), options)?;
    if run.momentum.is_some() {
        return Err(PyValueError::new_err("encode is not available with optimizer='momentum' (code files hold SGD and SGD′ runs, as rewind encode does); use verify, whose report codes the momentum buffer"));
    }
    let model = py_model(model)?;
    let sink = Sink::new(token.as_deref());
    let (bytes, final_json) = detached(py, model.as_ref(), || {
        let s = setup(&run.config, model.as_ref())?;
        let enc = Run::new(&s)
            .algorithm(run.algorithm())
            .progress(&sink)
            .encode()?;
        let fin = serde_json::json!({
            "format": 1,
            "frac_bits": s.data.grid.frac_bits(),
            "final": enc.trajectory.final_model,
        });
        Ok((enc.bytes, fin.to_string()))
    })?;
    Ok((PyBytes::new(py, &bytes), final_json))
}

/// `rewind decode`: the run a code and its final model stand for, on the data given.
#[pyfunction]
#[pyo3(signature = (code, final_model, x, y, options, token=None))]
fn decode<'py>(
    py: Python<'py>,
    code: &[u8],
    final_model: PyReadonlyArray1<'py, i64>,
    x: Option<Bound<'py, PyAny>>,
    y: Option<Bound<'py, PyAny>>,
    options: &str,
    token: Option<PyRef<'py, CancelToken>>,
) -> PyResult<Bound<'py, PyDict>> {
    let run = run_options(py, x.as_ref(), y.as_ref(), options)?;
    let fin = final_model.as_slice().or_py()?.to_vec();
    let code = code.to_vec();
    let sink = Sink::new(token.as_deref());
    let d = detached(py, None, || {
        rewind::pipeline::run::decode(&code, &fin, &run.config, &sink)
    })?;
    let per_epoch = (d.setup.data.n() / d.setup.config.batch).max(1);
    let t = Trajectory {
        steps: d
            .decoded
            .batches
            .iter()
            .zip(&d.decoded.models)
            .enumerate()
            .map(|(k, (b, w))| rewind::sgd::LoggedStep {
                epoch: 1 + k / per_epoch,
                step: 1 + k % per_epoch,
                batch: b.clone(),
                w: w.clone(),
            })
            .collect(),
        final_model: fin,
        permutations: d.decoded.permutations.clone(),
        stopped_at: None,
        correct: Vec::new(),
    };
    let out = trajectory_dict(py, &t, d.header.d, d.setup.data.grid.frac_bits())?;
    out.set_item("alpha", d.setup.alpha.to_string())?;
    Ok(out)
}

/// `rewind sweep`: every run of a plan (TOML text, or JSON of the same shape), as JSON lines.
#[pyfunction]
#[pyo3(signature = (plan, name, is_json, threads=None, token=None))]
fn sweep(
    py: Python<'_>,
    plan: &str,
    name: &str,
    is_json: bool,
    threads: Option<usize>,
    token: Option<PyRef<'_, CancelToken>>,
) -> PyResult<String> {
    use rayon::prelude::*;
    use rewind::sweep::{run_one, to_jsonl, Plan};
    let plan = if is_json {
        let p: Plan = serde_json::from_str(plan).map_err(|e| {
            PyValueError::new_err(format!(
                "{name} is not a valid plan: {e}; see plans/smoke.toml for the format"
            ))
        })?;
        p.check(name).map_err(to_py)?;
        p
    } else {
        // `name` is the plan file's path: its relative data paths are read from its folder.
        let folder = std::path::Path::new(name)
            .parent()
            .unwrap_or(std::path::Path::new(""));
        Plan::parse(plan, name).map_err(to_py)?.located(folder)
    };
    let cancel = token.map(|t| t.flag());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .build()
        .map_err(|e| PyValueError::new_err(format!("cannot start {threads:?} threads: {e}")))?;
    let lines = detached(py, None, || {
        pool.install(|| {
            plan.runs()
                .par_iter()
                .map(|spec| match &cancel {
                    Some(c) if c.load(std::sync::atomic::Ordering::Relaxed) => {
                        Err(rewind::Error::Interrupted)
                    }
                    _ => Ok(run_one(&plan, spec)),
                })
                .collect::<Result<Vec<_>, _>>()
        })
    })?;
    Ok(to_jsonl(&lines))
}

/// `rewind claims --json` on results given as JSON lines.
#[pyfunction]
fn claims(py: Python<'_>, results: &str, name: &str) -> PyResult<String> {
    let c = detached(py, None, || {
        let lines = rewind::sweep::read_results(results, name)?;
        rewind::claims::check(&lines, name)
    })?;
    serde_json::to_string_pretty(&c).or_py()
}

/// `rewind audit --json` on a training log (docs/log-format.md): the data from arrays or from
/// the option `data`, the run's parameters from the log's header.
#[pyfunction]
#[pyo3(signature = (log, x, y, options, tolerance=0, shard=None, backward=true, threads=None, token=None))]
#[allow(clippy::too_many_arguments)]
fn audit(
    py: Python<'_>,
    log: std::path::PathBuf,
    x: Option<Bound<'_, PyAny>>,
    y: Option<Bound<'_, PyAny>>,
    options: &str,
    tolerance: u64,
    shard: Option<(usize, usize)>,
    backward: bool,
    threads: Option<usize>,
    token: Option<PyRef<'_, CancelToken>>,
) -> PyResult<String> {
    use rewind::audit::{audit, check_setup, config_for, AuditOptions};
    if let Some((k, n)) = shard {
        if k == 0 || k > n {
            return Err(PyValueError::new_err(format!(
                "shard ({k}, {n}) is not (K, N) with 1 ≤ K ≤ N; give e.g. shard=(2, 8)"
            )));
        }
    }
    let run = run_options(py, x.as_ref(), y.as_ref(), options)?;
    let sink = Sink::new(token.as_deref());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .build()
        .map_err(|e| PyValueError::new_err(format!("cannot start {threads:?} threads: {e}")))?;
    let report = detached(py, None, || {
        let log = rewind::log::read_log_file(&log)?;
        let setup = Setup::new(&config_for(&log.header, run.config.clone())?)?;
        check_setup(&log.header, &setup)?;
        let opts = AuditOptions {
            certify: run.config.certify,
            tolerance,
            shard,
            max_iterations: run.config.max_iterations,
            backward,
        };
        let f = setup.step_function().with_progress(&sink);
        pool.install(|| audit(&f, &log, &opts))
    })?;
    serde_json::to_string_pretty(&report).or_py()
}

/// A bundled or generated data set, or a file, as (X float64, y int64).
#[pyfunction]
#[pyo3(signature = (name, seed=0))]
fn load_dataset<'py>(
    py: Python<'py>,
    name: &str,
    seed: u64,
) -> PyResult<crate::arrays::Examples<'py>> {
    let raw = py
        .allow_threads(|| {
            rewind::config::load_source(&DataSource::from_arg(name, Default::default()), seed)
        })
        .map_err(to_py)?;
    arrays::from_raw(py, &raw)
}

/// The options, their defaults and their help, in `rewind verify --help` order.
#[pyfunction]
fn options() -> Vec<(&'static str, &'static str, &'static str)> {
    OPTIONS
        .iter()
        .map(|o| (o.name, o.default, o.help))
        .collect()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CancelToken>()?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(trajectory, m)?)?;
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(claims, m)?)?;
    m.add_function(wrap_pyfunction!(audit, m)?)?;
    m.add_function(wrap_pyfunction!(load_dataset, m)?)?;
    m.add_function(wrap_pyfunction!(options, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
