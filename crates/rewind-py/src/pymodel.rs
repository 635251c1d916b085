//! A model written in numpy, run by the library's custom-model path
//! ([`rewind::model::custom`]) on the f64 backend: `gradient(w, X, y)` and `correct(w, X, y)`
//! are called with float64 arrays (X as the run sees it: quantised, scaled into [-1, 1], the
//! bias column last; y the class indices 0, 1, …), and their results are checked like a Rust
//! model's. The exact and MPFR backends are refused: a numpy function computes in f64.
//!
//! A Python exception inside the model is kept and raised again once the run has stopped, so
//! the user sees their own traceback rather than a message about it.

use numpy::{PyArray1, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use rand_core::RngCore;
use rewind::data::Dataset;
use rewind::model::backend::{BackendError, ErasedBackend, ErasedReals, OwnedReals};
use rewind::model::custom::DynModel;
use rewind::model::{power_iteration, uniform_init, CertifiedBounds, Smoothness};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// Model names live as long as the process: the library's reports hold `&'static str`, and
/// each distinct class name is leaked once.
fn intern(name: String) -> &'static str {
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let Ok(mut names) = NAMES.lock() else {
        return "numpy-model";
    };
    if let Some(n) = names.get(name.as_str()) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    names.insert(leaked);
    leaked
}

/// A Python object with `dim`, `gradient` and `correct` (and optionally `init`).
#[derive(Debug, Clone)]
pub struct PyModel {
    obj: Arc<Py<PyAny>>,
    name: &'static str,
    dim: usize,
    error: Arc<Mutex<Option<PyErr>>>,
}

impl PyModel {
    pub fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        for method in ["gradient", "correct"] {
            if !obj.hasattr(method)? || !obj.getattr(method)?.is_callable() {
                return Err(PyTypeError::new_err(format!(
                    "the model has no method {method}(w, X, y); subclass rewind.Model and define it"
                )));
            }
        }
        let dim: usize = obj.getattr("dim")?.extract().map_err(|_| {
            PyTypeError::new_err(
                "the model's dim must be a positive integer (the number of weights)",
            )
        })?;
        if dim == 0 {
            return Err(PyValueError::new_err(
                "the model's dim is 0; a model needs at least one weight",
            ));
        }
        let name = obj.get_type().name()?.to_string();
        Ok(PyModel {
            obj: Arc::new(obj.clone().unbind()),
            name: intern(name),
            dim,
            error: Arc::new(Mutex::new(None)),
        })
    }

    /// The model as the library's custom model for this data set.
    pub fn bind_data(&self, _data: &Dataset) -> Result<Arc<dyn DynModel>, rewind::Error> {
        Ok(Arc::new(self.clone()))
    }

    /// The exception the model raised, if it raised one.
    pub fn take_error(&self) -> Option<PyErr> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }

    /// Keeps the first exception and tells the library the model failed.
    fn failed(&self, py: Python<'_>, e: PyErr) -> BackendError {
        let message = e.value(py).to_string();
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(e);
        }
        BackendError::ModelFailed {
            model: self.name.into(),
            message,
        }
    }

    fn unsupported(&self, backend: &'static str) -> BackendError {
        BackendError::Unsupported {
            model: self.name.into(),
            backend,
        }
    }

    /// The rows `indices` of the data as float64 (rows × d) and their class indices.
    fn rows<'py>(
        py: Python<'py>,
        data: &Dataset,
        indices: &[usize],
    ) -> PyResult<crate::arrays::Examples<'py>> {
        let unit = 2f64.powi(-(data.grid.frac_bits() as i32));
        let d = data.d();
        let flat: Vec<f64> = indices
            .iter()
            .flat_map(|&i| data.features[i].iter().map(move |&k| k as f64 * unit))
            .collect();
        let x = PyArray1::from_vec(py, flat).reshape([indices.len(), d])?;
        let y = PyArray1::from_vec(py, indices.iter().map(|&i| data.labels[i] as i64).collect());
        Ok((x, y))
    }

    /// Calls `method(w, X[indices], y[indices])` and returns its result as a 1-D float64 array.
    fn call<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        w: Vec<f64>,
        data: &Dataset,
        indices: &[usize],
    ) -> PyResult<Bound<'py, PyAny>> {
        let (x, y) = Self::rows(py, data, indices)?;
        let w = PyArray1::from_vec(py, w);
        self.obj.bind(py).call_method1(method, (w, x, y))
    }

    fn gradient(&self, w: &[f64], data: &Dataset, batch: &[usize]) -> PyResult<Vec<f64>> {
        Python::with_gil(|py| {
            let g = self.call(py, "gradient", w.to_vec(), data, batch)?;
            let np = py.import("numpy")?;
            let g = np.call_method1("asarray", (g, "float64"))?;
            let g = g.downcast::<PyArray1<f64>>().map_err(|_| {
                PyValueError::new_err(format!(
                    "{}.gradient must return a 1-D array of {} numbers, got shape {}",
                    self.name,
                    self.dim,
                    g.getattr("shape").map_or("?".into(), |s| s.to_string())
                ))
            })?;
            if g.len() != self.dim {
                return Err(PyValueError::new_err(format!(
                    "{}.gradient returned {} values but dim is {}; return one partial derivative per weight",
                    self.name,
                    g.len(),
                    self.dim
                )));
            }
            Ok(g.to_vec()?)
        })
    }

    fn correct(&self, w: &[i64], data: &Dataset, indices: &[usize]) -> PyResult<Vec<bool>> {
        let unit = 2f64.powi(-(data.grid.frac_bits() as i32));
        let wf: Vec<f64> = w.iter().map(|&k| k as f64 * unit).collect();
        Python::with_gil(|py| {
            let c = self.call(py, "correct", wf, data, indices)?;
            let np = py.import("numpy")?;
            let c = np.call_method1("asarray", (c, "bool"))?;
            let c = c.downcast::<PyArray1<bool>>().map_err(|_| {
                PyValueError::new_err(format!(
                    "{}.correct must return a 1-D bool array, one entry per row of X",
                    self.name
                ))
            })?;
            if c.len() != indices.len() {
                return Err(PyValueError::new_err(format!(
                    "{}.correct returned {} values for {} rows; return one bool per row of X",
                    self.name,
                    c.len(),
                    indices.len()
                )));
            }
            Ok(c.to_vec()?)
        })
    }

    /// The model's own `init(X, y)` on the grid, or `None` when it has none.
    fn own_init(&self, data: &Dataset) -> Option<PyResult<Vec<i64>>> {
        Python::with_gil(|py| {
            let obj = self.obj.bind(py);
            let init = obj.getattr("init").ok().filter(|f| f.is_callable())?;
            // rewind.Model's own init is the marker "draw as the built-in models do".
            if init.getattr("__rewind_default__").is_ok() {
                return None;
            }
            let all: Vec<usize> = (0..data.n()).collect();
            Some((|| {
                let (x, y) = Self::rows(py, data, &all)?;
                let w = init.call1((x, y))?;
                let w: Vec<f64> = py
                    .import("numpy")?
                    .call_method1("asarray", (w, "float64"))?
                    .call_method0("ravel")?
                    .extract()?;
                w.iter()
                    .map(|&v| {
                        data.grid
                            .quantize_f64(v)
                            .map_err(|e| PyValueError::new_err(e.to_string()))
                    })
                    .collect()
            })())
        })
    }
}

impl DynModel for PyModel {
    fn dyn_name(&self) -> &'static str {
        self.name
    }
    fn dyn_dim(&self) -> usize {
        self.dim
    }
    fn dyn_gradient(
        &self,
        w: ErasedReals<'_>,
        data: &Dataset,
        batch: &[usize],
    ) -> Result<OwnedReals, BackendError> {
        match w {
            ErasedReals::F64(_, w) => self
                .gradient(w, data, batch)
                .map(OwnedReals::F64)
                .map_err(|e| Python::with_gil(|py| self.failed(py, e))),
            other => Err(self.unsupported(backend_name(&other))),
        }
    }
    fn dyn_correct_many(
        &self,
        be: ErasedBackend<'_>,
        w: &[i64],
        data: &Dataset,
        indices: &[usize],
    ) -> Result<Vec<bool>, BackendError> {
        match be {
            ErasedBackend::F64(_) => self
                .correct(w, data, indices)
                .map_err(|e| Python::with_gil(|py| self.failed(py, e))),
            ErasedBackend::Exact(_) => Err(self.unsupported("exact")),
            #[cfg(feature = "mpfr")]
            ErasedBackend::Mpfr(_) => Err(self.unsupported("mpfr")),
        }
    }
    fn dyn_smoothness(&self, data: &Dataset, _batch: usize, w: &[i64]) -> Smoothness {
        let all: Vec<usize> = (0..data.n()).collect();
        let unit = 2f64.powi(-(data.grid.frac_bits() as i32));
        let w0: Vec<f64> = w.iter().map(|&k| k as f64 * unit).collect();
        let grad = |v: &[f64]| match self.gradient(v, data, &all) {
            Ok(g) => g,
            Err(e) => {
                Python::with_gil(|py| self.failed(py, e));
                Vec::new()
            }
        };
        Smoothness::Estimate {
            value: power_iteration(&grad, &w0),
            how: "power iteration (30 rounds, central-difference Hessian-vector products of the numpy gradient) on the full data set at the initial model; an estimate, not a certificate".into(),
        }
    }
    fn dyn_hessian(&self, _w: &[f64], _data: &Dataset, _batch: &[usize]) -> Option<Vec<f64>> {
        None
    }
    fn dyn_loss_label(&self, class: u32) -> i64 {
        class as i64
    }
    fn dyn_init(&self, rng: &mut dyn RngCore, data: &Dataset) -> Vec<i64> {
        match self.own_init(data) {
            None => uniform_init(rng, data, data.d(), self.dim),
            Some(Ok(w)) => w,
            Some(Err(e)) => {
                Python::with_gil(|py| self.failed(py, e));
                Vec::new()
            }
        }
    }
    fn dyn_bounds(&self) -> Option<&dyn CertifiedBounds> {
        None
    }
}

/// The name of the backend a gradient was asked of.
fn backend_name(w: &ErasedReals<'_>) -> &'static str {
    match w {
        ErasedReals::Exact(..) => "exact",
        ErasedReals::F64(..) => "f64",
        #[cfg(feature = "mpfr")]
        ErasedReals::Mpfr(..) => "mpfr",
    }
}
