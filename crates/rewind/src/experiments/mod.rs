//! The experiments layer: many runs and what they show. Plans and their parallel runs
//! ([`sweep`]), the verdicts on the paper's claims against their nulls ([`claims`]), which runs a
//! claim or a figure reads ([`selection`]), the figures ([`figures`], [`plot`]) and the teaching
//! demo ([`demo`]). Uses the pipeline and everything below it (docs/design.md §7.1).

pub mod claims;
pub mod demo;
pub mod figures;
pub mod plot;
pub mod selection;
pub mod sweep;
