//! numpy arrays in and out. Features arrive as any real 2-D array (float or integer, C or
//! Fortran order) and become the library's [`RawData`], which quantises them exactly as it
//! quantises a CSV file's values ([`rewind::data::prepare`]); labels must be non-negative
//! integers, as a CSV file's last column must.

use numpy::{
    PyArray1, PyArray2, PyArrayDescrMethods, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use rewind::data::RawData;

fn array<'py>(a: &Bound<'py, PyAny>, name: &str) -> PyResult<Bound<'py, PyUntypedArray>> {
    a.downcast::<PyUntypedArray>().cloned().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name} must be a numpy array, got {}; convert it with numpy.asarray",
            a.get_type()
                .name()
                .map_or("an object".into(), |n| n.to_string())
        ))
    })
}

/// The dtype's kind character: 'f' float, 'i' signed, 'u' unsigned, 'b' bool, …
fn kind(a: &Bound<'_, PyUntypedArray>) -> char {
    a.dtype().kind() as char
}

/// The examples of `x` (n × features) and their labels `y` (n), as the library reads them.
pub fn raw_data(py: Python<'_>, x: &Bound<'_, PyAny>, y: &Bound<'_, PyAny>) -> PyResult<RawData> {
    let (xa, ya) = (array(x, "X")?, array(y, "y")?);
    if xa.ndim() != 2 {
        return Err(PyValueError::new_err(format!(
            "X must be 2-D (examples × features), got {} dimension(s) of shape {:?}; reshape it, e.g. X.reshape(len(X), -1)",
            xa.ndim(),
            xa.shape()
        )));
    }
    if !matches!(kind(&xa), 'f' | 'i' | 'u' | 'b') {
        return Err(PyTypeError::new_err(format!(
            "X must hold real numbers (float or integer dtype), got dtype {}; convert it with X.astype(float)",
            xa.dtype()
        )));
    }
    if ya.ndim() != 1 {
        return Err(PyValueError::new_err(format!(
            "y must be 1-D (one label per example), got shape {:?}; flatten it with y.ravel()",
            ya.shape()
        )));
    }
    if !matches!(kind(&ya), 'i' | 'u') {
        return Err(PyTypeError::new_err(format!(
            "y must hold integer class labels 0, 1, 2, …, got dtype {}; convert whole-number labels with y.astype(int)",
            ya.dtype()
        )));
    }
    let (n, d) = (xa.shape()[0], xa.shape()[1]);
    if ya.shape()[0] != n {
        return Err(PyValueError::new_err(format!(
            "X has {n} rows but y has {} labels; give one label per row",
            ya.shape()[0]
        )));
    }
    let np = py.import("numpy")?;
    let xf = np.call_method1("ascontiguousarray", (xa, "float64"))?;
    let xf = xf.downcast::<PyArray2<f64>>()?.readonly();
    let yi = np.call_method1("ascontiguousarray", (ya, "int64"))?;
    // Unsigned labels above 2^63 wrap in the cast; they are above u32::MAX either way.
    let yi = yi.downcast::<PyArray1<i64>>()?.readonly();
    let flat = xf.as_slice()?;
    let features: Vec<Vec<f64>> = if d == 0 {
        vec![Vec::new(); n]
    } else {
        flat.chunks(d).map(<[f64]>::to_vec).collect()
    };
    let labels = yi
        .as_slice()?
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            u32::try_from(l).map_err(|_| {
                PyValueError::new_err(format!(
                    "y[{i}] = {l} is not a class label; labels are integers from 0 to {}",
                    u32::MAX
                ))
            })
        })
        .collect::<PyResult<Vec<u32>>>()?;
    Ok(RawData {
        features,
        labels,
        source: format!("numpy arrays ({n} × {d})"),
    })
}

/// Examples as numpy arrays: X float64 (rows × features) and y int64.
pub type Examples<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray1<i64>>);

/// A loaded data set as (X float64 n × features, y int64).
pub fn from_raw<'py>(py: Python<'py>, raw: &RawData) -> PyResult<crate::arrays::Examples<'py>> {
    let d = raw.features.first().map_or(0, Vec::len);
    let flat: Vec<f64> = raw.features.iter().flatten().copied().collect();
    let x = PyArray1::from_vec(py, flat).reshape([raw.features.len(), d])?;
    let y = PyArray1::from_vec(py, raw.labels.iter().map(|&l| l as i64).collect());
    Ok((x, y))
}

/// Rows of `d` integers as an (rows × d) int64 array.
pub fn matrix_i64<'py>(
    py: Python<'py>,
    rows: &[Vec<i64>],
    d: usize,
) -> PyResult<Bound<'py, PyArray2<i64>>> {
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    PyArray1::from_vec(py, flat).reshape([rows.len(), d])
}

/// Rows of indices of one length as an int64 array.
pub fn matrix_usize<'py>(
    py: Python<'py>,
    rows: &[Vec<usize>],
) -> PyResult<Bound<'py, PyArray2<i64>>> {
    let d = rows.first().map_or(0, Vec::len);
    let as_i64: Vec<Vec<i64>> = rows
        .iter()
        .map(|r| r.iter().map(|&i| i as i64).collect())
        .collect();
    matrix_i64(py, &as_i64, d)
}
