//! Ctrl-C and progress bars for runs that hold no GIL: a [`CancelToken`] that the Python side
//! sets when the user interrupts, and a [`Sink`] that the library's phases report to. The
//! library asks the sink before every gradient evaluation whether to stop
//! ([`rewind::progress::Progress::cancelled`]), so a run of any phase ends within one step.

use pyo3::prelude::*;
use rewind::progress::{Phase, Progress};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Set by Python (on KeyboardInterrupt) to stop the run it was given to; optionally carries a
/// callable `progress(phase, done, total)`.
#[pyclass(module = "rewind._native")]
pub struct CancelToken {
    flag: Arc<AtomicBool>,
    progress: Option<Py<PyAny>>,
}

#[pymethods]
impl CancelToken {
    #[new]
    #[pyo3(signature = (progress=None))]
    fn new(progress: Option<Py<PyAny>>) -> Self {
        CancelToken {
            flag: Arc::new(AtomicBool::new(false)),
            progress,
        }
    }

    /// Asks the run to stop; it raises KeyboardInterrupt within one gradient evaluation.
    fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    /// Whether `cancel` was called.
    #[getter]
    fn cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

impl CancelToken {
    /// The shared flag.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.flag.clone()
    }
}

/// How often the Python callback is called at most: drawing is not free.
const REFRESH: Duration = Duration::from_millis(100);

/// The library's progress sink for one call.
#[derive(Debug)]
pub struct Sink {
    flag: Option<Arc<AtomicBool>>,
    callback: Option<Py<PyAny>>,
    phase: Mutex<(Phase, u64, Instant)>,
    done: AtomicU64,
}

impl Sink {
    pub fn new(token: Option<&CancelToken>) -> Self {
        Sink {
            flag: token.map(|t| t.flag.clone()),
            callback: token.and_then(|t| {
                t.progress
                    .as_ref()
                    .map(|p| Python::with_gil(|py| p.clone_ref(py)))
            }),
            phase: Mutex::new((Phase::Run, 0, Instant::now())),
            done: AtomicU64::new(0),
        }
    }

    fn call(&self, force: bool) {
        let Some(cb) = &self.callback else { return };
        let Ok(mut g) = self.phase.lock() else { return };
        let now = Instant::now();
        if !force && now.duration_since(g.2) < REFRESH {
            return;
        }
        g.2 = now;
        let (phase, total) = (g.0, g.1);
        let done = self.done.load(Ordering::Relaxed).min(total);
        // A failing progress callback must not fail the run: its exception is dropped.
        Python::with_gil(|py| {
            let _ = cb.call1(py, (phase.name(), done, total));
        });
    }
}

impl Progress for Sink {
    fn begin(&self, phase: Phase, total: u64) {
        if let Ok(mut g) = self.phase.lock() {
            *g = (phase, total, Instant::now());
        }
        self.done.store(0, Ordering::Relaxed);
        self.call(true);
    }

    fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
        self.call(false);
    }

    fn cancelled(&self) -> bool {
        self.flag
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }
}
