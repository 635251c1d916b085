//! The library's errors as Python exceptions, each with the CLI's one-line message: files are
//! `OSError`, an interrupted run `KeyboardInterrupt`, a bug in rewind `RuntimeError`, and every
//! other refusal (data, options, codes) `ValueError`.

use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::PyErr;
use rewind::data::DataError;
use rewind::log::LogError;
use rewind::options::OptionsError;
use rewind::Error;

/// The exception for a library error.
pub fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::Io { .. } => PyOSError::new_err(msg),
        Error::Data(DataError::NotFound { .. } | DataError::Io { .. }) => PyOSError::new_err(msg),
        Error::Log(LogError::Read { .. }) => PyOSError::new_err(msg),
        Error::Interrupted => PyKeyboardInterrupt::new_err(msg),
        Error::Internal(_) => PyRuntimeError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

/// Unknown options and values of the wrong kind are `TypeError`s, as for any Python function.
pub fn options_to_py(e: OptionsError) -> PyErr {
    match e {
        OptionsError::Invalid(e) => to_py(e),
        other => PyTypeError::new_err(other.to_string()),
    }
}

/// Any displayable error as a `ValueError`.
pub trait OrPy<T> {
    fn or_py(self) -> Result<T, PyErr>;
}

impl<T, E: std::fmt::Display> OrPy<T> for Result<T, E> {
    fn or_py(self) -> Result<T, PyErr> {
        self.map_err(|e| PyValueError::new_err(e.to_string()))
    }
}
