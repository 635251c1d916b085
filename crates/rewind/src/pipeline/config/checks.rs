//! The checks of a configuration that need no data: the limits on b, t, the certification
//! budget, the inverter's iterations, the backend and the built-in models' own settings.

use super::{ModelKind, VerifyConfig};
use crate::sgd::BackendChoice;
use crate::Error;

/// The checks of a configuration that need no data: a code file's header must pass them before
/// its data set is loaded, so that a forged field is blamed, not the data.
pub fn check_without_data(c: &VerifyConfig) -> Result<(), Error> {
    check_builtin(c)?;
    check_shape(c)
}

/// Checks that hold for every model.
pub(super) fn check_shape(c: &VerifyConfig) -> Result<(), Error> {
    if let Some(budget) = c.certify.filter(|&b| b > crate::steps::certify::MAX_BUDGET) {
        return Err(Error::Config(format!(
            "--certify-budget {budget} is above the {} gradient evaluations per step this rewind allows (decoding repeats every certification); use at most {}",
            crate::steps::certify::MAX_BUDGET,
            crate::steps::certify::MAX_BUDGET
        )));
    }
    if c.max_iterations > crate::steps::invert::MAX_ITERATIONS {
        return Err(Error::Config(format!(
            "--max-iterations {} is above the {} iterations per step this rewind allows (each inversion may cost twice that many gradient evaluations); use at most {}",
            c.max_iterations,
            crate::steps::invert::MAX_ITERATIONS,
            crate::steps::invert::MAX_ITERATIONS
        )));
    }
    if c.batch == 0 {
        return Err(Error::Config("--batch must be at least 1".into()));
    }
    if c.epochs == 0 {
        return Err(Error::Config("--epochs must be at least 1".into()));
    }
    if !c.backend.is_available() {
        return Err(crate::model::backend::BackendError::MpfrNotBuilt.into());
    }
    if let BackendChoice::Mpfr { precision } = c.backend {
        if !(64..=4096).contains(&precision) {
            return Err(Error::Config(format!(
                "--mpfr-precision {precision} is out of range; use 64 to 4096 bits"
            )));
        }
    }
    Ok(())
}

/// Checks that concern the built-in models.
pub(super) fn check_builtin(c: &VerifyConfig) -> Result<(), Error> {
    if c.model == ModelKind::Mlp && c.hidden == 0 {
        return Err(Error::Config("--hidden must be at least 1".into()));
    }
    if c.backend == BackendChoice::Exact && c.model != ModelKind::LeastSquares {
        return Err(Error::Config(format!(
            "--backend exact evaluates only polynomial gradients (least squares), not {}; use --backend mpfr or f64",
            c.model.name()
        )));
    }
    Ok(())
}
