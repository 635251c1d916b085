//! The pipeline layer: one run end to end. The entry point of every job ([`run`]), the
//! configuration and its resolution into a setup ([`config`]), runs from named options
//! ([`options`]), `rewind verify` for SGD ([`verify`]), SGD′ ([`sgd_prime`]) and momentum
//! ([`momentum_verify`]), code files ([`encode`]), training logs ([`log`]) and their audit
//! ([`audit`]), the versioned report ([`report`]) and snapshots of a run ([`snapshot`]). Uses the
//! steps layer and everything below it (docs/design.md §7.1).

pub mod audit;
pub mod config;
pub mod encode;
pub mod log;
pub mod momentum_verify;
pub mod options;
pub mod report;
pub mod run;
pub mod sgd_prime;
pub mod snapshot;
pub(crate) mod stepwise;
pub mod verify;
