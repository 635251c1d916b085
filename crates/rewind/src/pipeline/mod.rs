//! The pipeline layer: one run end to end. The configuration and its resolution into a setup
//! ([`config`]), `rewind verify` for SGD ([`verify`]) and SGD′ ([`sgd_prime`]), code files
//! ([`encode`]), runs from named options ([`options`]), the versioned report ([`report`]) and snapshots of a run ([`snapshot`]). Uses the
//! steps layer and everything below it (docs/design.md §7.1).

pub mod config;
pub mod encode;
pub mod options;
pub mod report;
pub mod sgd_prime;
pub mod snapshot;
pub mod verify;
