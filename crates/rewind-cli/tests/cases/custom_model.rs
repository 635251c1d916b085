//! A model defined outside the crate runs through the same pipeline: wrapping a built-in model
//! in a user's type must change nothing, and a user's model that breaks the trait's contract is
//! an error, never a panic.

use rewind::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use rewind::data::Dataset;
use rewind::model::backend::{Backend, BackendError};
use rewind::model::{CertifiedBounds, Linear, Model, Smoothness};
use rewind::sgd::BackendChoice;
use rewind::verify::verify_quiet;

/// A user's type that delegates everything to a built-in model, bounds included.
#[derive(Debug)]
struct Wrapped<M>(M);

impl<M: Model> Model for Wrapped<M> {
    fn name(&self) -> &'static str {
        "wrapped"
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn batch_gradient<B: Backend>(
        &self,
        be: &B,
        w: &[B::R],
        data: &Dataset,
        batch: &[usize],
    ) -> Result<Vec<B::R>, BackendError> {
        self.0.batch_gradient(be, w, data, batch)
    }
    fn correct<B: Backend>(
        &self,
        be: &B,
        w: &[i64],
        data: &Dataset,
        i: usize,
    ) -> Result<bool, BackendError> {
        self.0.correct(be, w, data, i)
    }
    fn smoothness(&self, data: &Dataset, batch: usize, w: &[i64]) -> Smoothness {
        self.0.smoothness(data, batch, w)
    }
    fn hessian(&self, w: &[f64], data: &Dataset, batch: &[usize]) -> Option<Vec<f64>> {
        self.0.hessian(w, data, batch)
    }
    fn loss_label(&self, class: u32) -> i64 {
        self.0.loss_label(class)
    }
    fn init(&self, rng: &mut dyn rand_core::RngCore, data: &Dataset) -> Vec<i64> {
        self.0.init(rng, data)
    }
    fn bounds(&self) -> Option<&dyn CertifiedBounds> {
        self.0.bounds()
    }
}

fn config(model: ModelKind, backend: BackendChoice) -> VerifyConfig {
    VerifyConfig {
        data: DataSource::Synthetic {
            n: 120,
            features: 6,
            classes: 2,
        },
        model,
        backend,
        frac_bits: 16,
        batch: 4,
        step_size: StepSize::Q("0.6".into()),
        epochs: 2,
        stop_at_full_accuracy: false,
        certify: Some(256),
        ..VerifyConfig::default()
    }
}

/// The built-in run and the wrapped run give the same report but for the model's name.
fn same_run_as_builtin<M: Model + std::fmt::Debug + 'static>(
    kind: ModelKind,
    backend: BackendChoice,
    wrap: impl FnOnce(&Dataset) -> M,
) {
    let c = config(kind, backend);
    let (builtin, _) = verify_quiet(&Setup::new(&c).unwrap()).unwrap();
    let (custom, _) = verify_quiet(&Setup::with_model(&c, wrap).unwrap()).unwrap();
    assert_eq!(custom.config.model, "wrapped");
    let mut renamed = serde_json::to_value(&custom).unwrap();
    renamed["config"]["model"] = serde_json::to_value(&builtin.config.model).unwrap();
    // The built-in linear models predict 1 − det(I − αH_B) through the b×b determinant, a
    // wrapped model through the dense d×d one: the same number up to rounding.
    let mut builtin_json = serde_json::to_value(&builtin).unwrap();
    let shares = [&mut renamed, &mut builtin_json].map(|v| {
        v["inversion"]["predicted_many_to_one"]
            .take()
            .as_f64()
            .unwrap()
    });
    assert!(
        (shares[0] - shares[1]).abs() <= 1e-9 * shares[1].abs().max(1e-6),
        "{shares:?}"
    );
    assert_eq!(renamed, builtin_json, "{backend:?}");
    assert!(builtin.steps > 0 && builtin.hints.unwrap().steps > 0);
}

#[test]
fn a_wrapped_least_squares_runs_exactly_like_the_builtin_one() {
    for backend in [BackendChoice::Exact, BackendChoice::F64] {
        same_run_as_builtin(ModelKind::LeastSquares, backend, |d| {
            Wrapped(Linear::least_squares(d))
        });
    }
}

#[test]
fn a_wrapped_logistic_model_runs_exactly_like_the_builtin_one() {
    same_run_as_builtin(ModelKind::Logistic, BackendChoice::F64, |d| {
        Wrapped(Linear::logistic(d))
    });
    #[cfg(feature = "mpfr")]
    same_run_as_builtin(
        ModelKind::Logistic,
        BackendChoice::Mpfr { precision: 96 },
        |d| Wrapped(Linear::logistic(d)),
    );
}

/// A model whose gradient has one coordinate too few.
#[derive(Debug)]
struct Short(Linear);

impl Model for Short {
    fn name(&self) -> &'static str {
        "short"
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn batch_gradient<B: Backend>(
        &self,
        be: &B,
        w: &[B::R],
        data: &Dataset,
        batch: &[usize],
    ) -> Result<Vec<B::R>, BackendError> {
        let mut g = self.0.batch_gradient(be, w, data, batch)?;
        g.pop();
        Ok(g)
    }
    fn correct<B: Backend>(
        &self,
        be: &B,
        w: &[i64],
        data: &Dataset,
        i: usize,
    ) -> Result<bool, BackendError> {
        self.0.correct(be, w, data, i)
    }
    fn smoothness(&self, data: &Dataset, batch: usize, w: &[i64]) -> Smoothness {
        self.0.smoothness(data, batch, w)
    }
    fn hessian(&self, _w: &[f64], _data: &Dataset, _batch: &[usize]) -> Option<Vec<f64>> {
        None
    }
    fn init(&self, rng: &mut dyn rand_core::RngCore, data: &Dataset) -> Vec<i64> {
        self.0.init(rng, data)
    }
}

#[test]
fn a_model_that_breaks_its_contract_is_an_error_not_a_panic() {
    let c = config(ModelKind::LeastSquares, BackendChoice::Exact);
    let setup = Setup::with_model(&c, |d| Short(Linear::least_squares(d))).unwrap();
    let err = verify_quiet(&setup).unwrap_err().to_string();
    assert!(
        err.contains("short") && err.contains("batch_gradient") && !err.contains('\n'),
        "{err}"
    );
}
