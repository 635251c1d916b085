//! A user's own model, run by the same pipeline as the built-in ones.
//!
//! [`Model`] is generic over the backend (its gradient is written once for every number type),
//! so it cannot be a trait object. [`DynModel`] is its object-safe twin, with one gradient
//! method for every backend, which hands it the backend with its numbers erased
//! ([`ErasedReals`]); every `Model` gets it for free through a blanket implementation, and
//! [`CustomModel`] wraps any of them behind an `Arc`. The pipeline calls every model, built-in
//! or not, through `DynModel` ([`super::AnyModel::as_dyn`]), erasing the backend's numbers on the
//! way in and restoring them on the way out ([`Backend::erase`], [`Backend::unerase`]). So a
//! user writes
//!
//! ```text
//! let setup = Setup::with_model(&config, |data| MyLoss::new(data))?;
//! ```
//!
//! and gets verification, certification (where the model supplies the optional bounds), the
//! Lemma 3.1 code and sweeps ([`crate::experiments::sweep::run_one_with`]) without any change to rewind.

use super::backend::{Backend, BackendError, ErasedBackend, ErasedReals, OwnedReals};
use super::{CertifiedBounds, Model, Smoothness};
use crate::data::Dataset;
use rand_core::RngCore;
use std::sync::Arc;

/// The object-safe form of [`Model`]: the gradient and acc(W, x) take a backend whose number
/// type is erased ([`ErasedReals`]), so one method serves every backend. Implemented for every
/// `Model + Debug` by a blanket implementation; users implement `Model`.
pub trait DynModel: Send + Sync + std::fmt::Debug {
    /// [`Model::name`].
    fn dyn_name(&self) -> &'static str;
    /// [`Model::dim`].
    fn dyn_dim(&self) -> usize;
    /// [`Model::batch_gradient`] on the backend that `w` comes with, in its numbers.
    fn dyn_gradient(
        &self,
        w: ErasedReals<'_>,
        data: &Dataset,
        batch: &[usize],
    ) -> Result<OwnedReals, BackendError>;
    /// [`Model::correct_many`] on `be`.
    fn dyn_correct_many(
        &self,
        be: ErasedBackend<'_>,
        w: &[i64],
        data: &Dataset,
        indices: &[usize],
    ) -> Result<Vec<bool>, BackendError>;
    /// [`Model::smoothness`].
    fn dyn_smoothness(&self, data: &Dataset, batch: usize, w: &[i64]) -> Smoothness;
    /// [`Model::hessian`].
    fn dyn_hessian(&self, w: &[f64], data: &Dataset, batch: &[usize]) -> Option<Vec<f64>>;
    /// [`Model::loss_label`].
    fn dyn_loss_label(&self, class: u32) -> i64;
    /// [`Model::init`].
    fn dyn_init(&self, rng: &mut dyn RngCore, data: &Dataset) -> Vec<i64>;
    /// [`Model::bounds`].
    fn dyn_bounds(&self) -> Option<&dyn CertifiedBounds>;
}

impl<M: Model + std::fmt::Debug> DynModel for M {
    fn dyn_name(&self) -> &'static str {
        self.name()
    }
    fn dyn_dim(&self) -> usize {
        self.dim()
    }
    fn dyn_gradient(
        &self,
        w: ErasedReals<'_>,
        data: &Dataset,
        batch: &[usize],
    ) -> Result<OwnedReals, BackendError> {
        Ok(match w {
            ErasedReals::Exact(be, w) => {
                OwnedReals::Exact(self.batch_gradient(be, w, data, batch)?)
            }
            ErasedReals::F64(be, w) => OwnedReals::F64(self.batch_gradient(be, w, data, batch)?),
            #[cfg(feature = "mpfr")]
            ErasedReals::Mpfr(be, w) => OwnedReals::Mpfr(self.batch_gradient(be, w, data, batch)?),
        })
    }
    fn dyn_correct_many(
        &self,
        be: ErasedBackend<'_>,
        w: &[i64],
        data: &Dataset,
        indices: &[usize],
    ) -> Result<Vec<bool>, BackendError> {
        match be {
            ErasedBackend::Exact(be) => self.correct_many(be, w, data, indices),
            ErasedBackend::F64(be) => self.correct_many(be, w, data, indices),
            #[cfg(feature = "mpfr")]
            ErasedBackend::Mpfr(be) => self.correct_many(be, w, data, indices),
        }
    }
    fn dyn_smoothness(&self, data: &Dataset, batch: usize, w: &[i64]) -> Smoothness {
        self.smoothness(data, batch, w)
    }
    fn dyn_hessian(&self, w: &[f64], data: &Dataset, batch: &[usize]) -> Option<Vec<f64>> {
        self.hessian(w, data, batch)
    }
    fn dyn_loss_label(&self, class: u32) -> i64 {
        self.loss_label(class)
    }
    fn dyn_init(&self, rng: &mut dyn RngCore, data: &Dataset) -> Vec<i64> {
        self.init(rng, data)
    }
    fn dyn_bounds(&self) -> Option<&dyn CertifiedBounds> {
        self.bounds()
    }
}

/// A user's model behind a shared trait object, which [`super::AnyModel`] holds beside the
/// built-in ones; the pipeline calls all of them through [`DynModel`].
#[derive(Debug, Clone)]
pub struct CustomModel(Arc<dyn DynModel>);

impl CustomModel {
    /// Wraps a model.
    pub fn new<M: Model + std::fmt::Debug + 'static>(model: M) -> Self {
        CustomModel(Arc::new(model))
    }

    /// Wraps a model that implements [`DynModel`] itself rather than [`Model`]: one whose
    /// gradient exists for some backends only (a model written in another language, which
    /// evaluates in f64 and refuses the others with a [`BackendError`]).
    pub fn from_dyn(model: Arc<dyn DynModel>) -> Self {
        CustomModel(model)
    }

    /// The wrapped model.
    pub fn inner(&self) -> &dyn DynModel {
        self.0.as_ref()
    }
}

/// The gradient an erased model returned, back in `be`'s numbers: an error when the model
/// answered in another backend's numbers or with the wrong length, as a user's model may.
pub(crate) fn unerased<B: Backend>(
    model: &dyn DynModel,
    be: &B,
    g: OwnedReals,
) -> Result<Vec<B::R>, BackendError> {
    let g = B::unerase(g).ok_or(BackendError::OtherBackend {
        model: model.dyn_name(),
        backend: be.name(),
    })?;
    check_len(model.dyn_name(), "batch_gradient", g.len(), model.dyn_dim())?;
    Ok(g)
}

/// A user's model is trusted for nothing that could index out of range later.
pub(crate) fn check_len(
    model: &'static str,
    method: &'static str,
    got: usize,
    expected: usize,
) -> Result<(), BackendError> {
    if got == expected {
        Ok(())
    } else {
        Err(BackendError::ModelContract {
            model,
            method,
            got,
            expected,
        })
    }
}
