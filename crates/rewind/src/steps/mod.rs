//! The steps layer: one step back and what it costs. Inverting a step ([`invert`]), proving its
//! preimages ([`certify`]), the walk back with hints ([`reconstruct`]), the code of the run's
//! randomness ([`codec`]), ρ and β ([`discrepancy`], from the divergences of [`divergence`])
//! against their null ([`null`]), and the grid's
//! many-to-one steps ([`collisions`], [`many_to_one`]). Uses sgd, model, data, grid and rng
//! (docs/design.md §7.1).

pub mod certify;
pub mod codec;
pub mod collisions;
pub mod discrepancy;
pub mod divergence;
pub mod invert;
pub mod many_to_one;
pub mod null;
pub mod reconstruct;
pub mod tails;
