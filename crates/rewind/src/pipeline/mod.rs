//! The pipeline layer: one run end to end. The configuration and its resolution into a setup
//! ([`config`]), `rewind verify` for SGD ([`verify`]), SGD′ ([`sgd_prime`]) and
//! momentum ([`momentum_verify`]), code files
//! ([`encode`]), the versioned report ([`report`]) and snapshots of a run ([`snapshot`]). Uses the
//! steps layer and everything below it (docs/design.md §7.1).

pub mod config;
pub mod encode;
pub mod momentum_verify;
pub mod report;
pub mod sgd_prime;
pub mod snapshot;
pub mod verify;
